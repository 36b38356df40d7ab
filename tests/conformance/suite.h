/* Running Criterion's tests with results that meson, CI and a backend's author can trust. Used by
 * gpumem-conformance's own main (main.c) and, through tests/meson.build's `criterion`
 * dependency, by every other Criterion program of the tests (suite_main.c).
 *
 * Criterion alone exits 0 after "Tested: 0": when every test skipped, when --filter matched
 * nothing, and after an option it does not know; and it prints a skipped test's reason only
 * with --verbose. suite_run reports each of those for what it is. */
#ifndef GPUMEM_TESTS_SUITE_H
#define GPUMEM_TESTS_SUITE_H

/* Exit statuses, as meson reads them. */
enum {
    SUITE_PASS = 0,
    SUITE_FAIL = 1,
    SUITE_USAGE = 2,
    SUITE_SKIP = 77, /* meson's SKIP */
};

/* Runs the tests Criterion registered, with Criterion's options in argv (argv[0] the program),
 * and returns the exit status:
 * - SUITE_PASS when at least one test ran and none failed or crashed;
 * - SUITE_FAIL when one failed or crashed, or when no test was selected (a --filter that
 *   matches nothing);
 * - all_skipped (SUITE_SKIP or SUITE_FAIL) when tests were selected and every one skipped;
 * - SUITE_PASS after --help, --list or --version, SUITE_USAGE for an option Criterion refused.
 * Whatever the result, every skipped test's reason goes to stderr, one line per reason, and a
 * run that ran no test says why on stderr. `program` names the program in those lines. */
int suite_run(const char *program, int argc, char *argv[], int all_skipped);

/* suite_run in two steps, for a main with work of its own between reading the options and
 * running the tests. suite_prepare returns the tests to run, or NULL with *status set when
 * nothing is to run (--help, --list, --version, a refused option); suite_execute runs them,
 * releases them and returns the status. */
struct criterion_test_set;
struct criterion_test_set *suite_prepare(const char *program, int argc, char *argv[],
                                         int *status);
int suite_execute(struct criterion_test_set *tests, int all_skipped);

#endif
