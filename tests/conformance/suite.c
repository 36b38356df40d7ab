/* suite_run: Criterion's run, with honest exit statuses and every skip's reason printed (see
 * suite.h). */
#include "suite.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>
#include <criterion/hooks.h>

static const char *suite_program = "tests";
static size_t selected_tests, ran_tests, skipped_tests;
static bool stats_seen;

static const char *skip_reason(const struct criterion_test_stats *test)
{
    return test->message && test->message[0] ? test->message : "(the test gave no reason)";
}

/* A test left out by --filter, or declared .disabled, is reported as skipped without having
 * been selected: it counts as neither run nor skipped here. */
static bool is_selected(const struct criterion_suite_stats *suite,
                        const struct criterion_test_stats *test)
{
    const struct criterion_test_extra_data *s = suite->suite ? suite->suite->data : NULL;
    const struct criterion_test_extra_data *t = test->test ? test->test->data : NULL;
    return !(s && s->disabled) && !(t && t->disabled);
}

static bool is_skipped(const struct criterion_suite_stats *suite,
                       const struct criterion_test_stats *test)
{
    return test->test_status == CR_STATUS_SKIPPED && is_selected(suite, test);
}

/* One line per distinct reason, in the order first seen: a backend without a device skips every
 * test for the same reason, which then reads once ("11 tests skipped: ..."). */
static void print_skip_reasons(const struct criterion_global_stats *stats)
{
    for (const struct criterion_suite_stats *s = stats->suites; s; s = s->next)
        for (const struct criterion_test_stats *t = s->tests; t; t = t->next) {
            if (!is_skipped(s, t))
                continue;
            const char *reason = skip_reason(t);
            bool printed = false;
            size_t count = 0;
            for (const struct criterion_suite_stats *s2 = stats->suites; s2; s2 = s2->next)
                for (const struct criterion_test_stats *t2 = s2->tests; t2; t2 = t2->next) {
                    if (!is_skipped(s2, t2) || strcmp(skip_reason(t2), reason) != 0)
                        continue;
                    if (t2 == t)
                        printed = count > 0; /* an earlier test had this reason */
                    count++;
                }
            if (printed)
                continue;
            if (count == 1)
                fprintf(stderr, "%s: skipped %s::%s: %s\n", suite_program, t->test->category,
                        t->test->name, reason);
            else
                fprintf(stderr, "%s: %zu tests skipped: %s\n", suite_program, count, reason);
        }
}

ReportHook(POST_ALL)(struct criterion_global_stats *stats)
{
    stats_seen = true;
    selected_tests = ran_tests = skipped_tests = 0;
    for (const struct criterion_suite_stats *s = stats->suites; s; s = s->next)
        for (const struct criterion_test_stats *t = s->tests; t; t = t->next) {
            if (!is_selected(s, t))
                continue;
            selected_tests++;
            if (t->test_status == CR_STATUS_SKIPPED)
                skipped_tests++;
            else
                ran_tests++;
        }
    print_skip_reasons(stats);
}

/* Criterion's handle_args answers 0 both after --help, --list or --version and after an option
 * it refused; only the first are a success. */
static bool asks_only_to_print(int argc, char *argv[])
{
    static const char *const printing[] = {"-h", "--help", "-l", "--list", "-v", "--version"};
    for (int i = 1; i < argc; i++)
        for (size_t k = 0; k < sizeof printing / sizeof printing[0]; k++)
            if (strcmp(argv[i], printing[k]) == 0)
                return true;
    return false;
}

struct criterion_test_set *suite_prepare(const char *program, int argc, char *argv[],
                                         int *status)
{
    if (program)
        suite_program = program;
    else if (argc > 0 && argv[0]) {
        const char *slash = strrchr(argv[0], '/');
        suite_program = slash ? slash + 1 : argv[0];
    }
    struct criterion_test_set *tests = criterion_initialize();
    if (!criterion_handle_args(argc, argv, true)) {
        *status = asks_only_to_print(argc, argv) ? SUITE_PASS : SUITE_USAGE;
        criterion_finalize(tests);
        return NULL;
    }
    return tests;
}

int suite_execute(struct criterion_test_set *tests, int all_skipped)
{
    bool passed = criterion_run_all_tests(tests);
    criterion_finalize(tests);
    fflush(stdout);
    if (!passed)
        return SUITE_FAIL;
    if (criterion_options.always_succeed)
        return SUITE_PASS;
    if (!stats_seen || selected_tests == 0) {
        fprintf(stderr, "%s: FAIL: no test ran: none was selected (does --filter match a test? "
                        "--list shows them)\n",
                suite_program);
        return SUITE_FAIL;
    }
    if (ran_tests == 0 && skipped_tests > 0) {
        fprintf(stderr, "%s: %s: every selected test (%zu) skipped, so none ran; the reasons are "
                        "above\n",
                suite_program, all_skipped == SUITE_SKIP ? "SKIP" : "FAIL", skipped_tests);
        return all_skipped;
    }
    return SUITE_PASS;
}

int suite_run(const char *program, int argc, char *argv[], int all_skipped)
{
    int status;
    struct criterion_test_set *tests = suite_prepare(program, argc, argv, &status);
    return tests ? suite_execute(tests, all_skipped) : status;
}
