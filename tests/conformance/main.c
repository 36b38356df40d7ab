/* gpumem-conformance: the conformance suite as a program, for any backend, built in or a module
 * (docs/backends.md, "Running the conformance suite"). Before any test runs it settles which
 * backend is tested and says so; a backend that is unknown, refused, or here without a device
 * ends the run with the reason on stderr and a non-zero status, so that no run passes by testing
 * nothing. With --skip-unavailable (what meson's in-tree runs for GPU backends pass), a backend
 * that is present but has no device is a skip (exit 77) instead of a failure. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conformance.h"
#include "suite.h"

static const char program[] = "gpumem-conformance";

static void usage(FILE *out)
{
    fprintf(out,
            "usage: %s [--backend NAME] [--skip-unavailable] [Criterion options]\n"
            "\n"
            "Runs gpumem's backend conformance suite on one backend: NAME, else GPUMEM_BACKEND,\n"
            "else the backend gpumem chooses. Modules are found in GPUMEM_PLUGIN_PATH (absolute\n"
            "folders) and then in the module folder of the libgpumem it runs with.\n"
            "\n"
            "  --backend NAME      the backend to test (sets GPUMEM_BACKEND for the tests)\n"
            "  --skip-unavailable  a backend that is here but has no device (its probe says\n"
            "                      unavailable) is a skip, exit status 77, instead of a failure;\n"
            "                      an unknown backend or a refused module is still a failure\n"
            "\n"
            "Exit status: 0 every selected test ran and passed (some may have skipped, each with\n"
            "its reason on stderr); 1 a test failed, the backend could not be tested, or no test\n"
            "ran; 2 a bad option; 77 (only with --skip-unavailable) no device for the backend.\n"
            "\n"
            "Criterion's options follow.\n",
            program);
}

/* --- the log --- */

/* Prints what gpumem's own log would (GPUMEM_LOG). */
static void choice_log(void *user, int32_t level, const char *message)
{
    (void)user;
    static const char *const names[] = {"debug", "info", "warning", "error"};
    if (level >= conf_log_threshold())
        fprintf(stderr, "gpumem %s: %s\n", names[level < 0 ? 0 : level > 3 ? 3 : level], message);
}

/* Where a module's folder comes in gpumem's search: the folders of GPUMEM_PLUGIN_PATH in order,
 * then the module folder of libgpumem (any folder not in the path). */
static int search_rank(const char *path)
{
    const char *slash = strrchr(path, '/');
    size_t length = slash ? (size_t)(slash - path) : 0;
    while (length > 1 && path[length - 1] == '/')
        length--;
    const char *list = getenv("GPUMEM_PLUGIN_PATH");
    int rank = 0;
    while (list && *list) {
        size_t n = strcspn(list, ":");
        size_t m = n;
        while (m > 1 && list[m - 1] == '/')
            m--;
        if (n > 0) {
            if (m == length && strncmp(list, path, m) == 0)
                return rank;
            rank++;
        }
        list += n + (list[n] == ':');
    }
    return rank;
}

/* A refused module of this backend's name fails the run when it is the one gpumem would have
 * used: the backend itself (which then looks merely unavailable), or one found before the
 * module or built-in now standing in for it. A module refused because one of its name was found
 * earlier in the search (it is shadowed) only has gpumem's warning. */
static bool refused_module(const gpumem_backend_info *info)
{
    uint32_t count = 0;
    gpumem_backend_count(&count);
    for (uint32_t i = 0; i < count; i++) {
        gpumem_backend_info r;
        if (gpumem_backend_info_get(i, &r) != GPUMEM_OK || !r.refused ||
            strcmp(r.name, info->name) != 0)
            continue;
        if (info->refused) {
            fprintf(stderr, "%s: FAIL: the module %s of backend '%s' was refused: %s\n", program,
                    r.module_path, info->name, r.reason);
            return true;
        }
        if (!info->is_module || search_rank(r.module_path) < search_rank(info->module_path)) {
            fprintf(stderr,
                    "%s: FAIL: the module %s was refused (%s), and backend '%s' %s%s would be "
                    "tested in its place\n",
                    program, r.module_path, r.reason, info->name,
                    info->is_module ? "from " : "built into libgpumem",
                    info->is_module ? info->module_path : "");
            return true;
        }
    }
    return false;
}

/* --- the backend under test --- */

static bool names_one_backend(const char *spec)
{
    return spec && spec[0] && !strpbrk(spec, ", ");
}

/* Settles the backend and sets GPUMEM_BACKEND to its one name, so that every test opens the
 * same one. Returns -1 to go on, or the exit status. */
static int choose_backend(bool skip_unavailable)
{
    const char *spec = getenv("GPUMEM_BACKEND");
    char name[GPUMEM_NAME_SIZE];
    gpumem_log_set_callback(choice_log, NULL);
    if (names_one_backend(spec)) {
        snprintf(name, sizeof name, "%s", spec);
    } else {
        /* No backend or a preference list: the one gpumem opens. */
        gpumem_device device;
        gpumem_result r = gpumem_device_open(NULL, &device);
        if (r != GPUMEM_OK) {
            bool skip = r == GPUMEM_ERROR_UNAVAILABLE && skip_unavailable;
            fprintf(stderr, "%s: %s: no backend to test: %s\n", program, skip ? "SKIP" : "FAIL",
                    gpumem_last_error());
            gpumem_log_set_callback(NULL, NULL);
            return skip ? SUITE_SKIP : SUITE_FAIL;
        }
        gpumem_device_properties props;
        r = gpumem_device_properties_get(device, &props);
        if (r == GPUMEM_OK)
            snprintf(name, sizeof name, "%s", props.backend);
        else
            fprintf(stderr, "%s: FAIL: gpumem_device_properties_get: %s\n", program,
                    gpumem_last_error());
        gpumem_device_close(device);
        if (r != GPUMEM_OK) {
            gpumem_log_set_callback(NULL, NULL);
            return SUITE_FAIL;
        }
    }
    gpumem_backend_info info;
    gpumem_result r = gpumem_backend_find(name, &info);
    if (r != GPUMEM_OK) {
        /* Never a skip: a typo, or a module that is not where GPUMEM_PLUGIN_PATH says. */
        fprintf(stderr, "%s: FAIL: %s\n", program, gpumem_last_error());
        gpumem_log_set_callback(NULL, NULL);
        return SUITE_FAIL;
    }
    gpumem_log_set_callback(NULL, NULL); /* (which clears the last error) */
    if (refused_module(&info))
        return SUITE_FAIL;
    const char *from = info.is_module ? info.module_path : "built into libgpumem";
    if (!info.available) {
        /* Only a backend whose runtime or device is not here skips; a probe that failed
         * (a runtime error, no memory) fails the run even with --skip-unavailable. */
        gpumem_device_desc desc = {.backend = info.name};
        gpumem_device device;
        gpumem_result opened = gpumem_device_open(&desc, &device);
        if (opened == GPUMEM_OK)
            gpumem_device_close(device);
        if (skip_unavailable && opened == GPUMEM_ERROR_UNAVAILABLE) {
            fprintf(stderr, "%s: SKIP: backend '%s' (%s) is unavailable: %s\n", program,
                    info.name, from, info.reason);
            return SUITE_SKIP;
        }
        fprintf(stderr,
                "%s: FAIL: backend '%s' (%s) is unavailable: %s (with --skip-unavailable that "
                "is a skip)\n",
                program, info.name, from, info.reason);
        return SUITE_FAIL;
    }
    fprintf(stderr, "%s: backend '%s' (%s), %u device%s%s%s\n", program, info.name, from,
            info.device_count, info.device_count == 1 ? "" : "s",
            spec && strcmp(spec, info.name) != 0 ? ", chosen from GPUMEM_BACKEND=" : "",
            spec && strcmp(spec, info.name) != 0 ? spec : "");
    if (setenv("GPUMEM_BACKEND", info.name, 1) != 0) {
        perror("setenv");
        return SUITE_FAIL;
    }
    return -1;
}

/* --- main --- */

/* Default visibility: Criterion's worker processes find `main` by its symbol, which the
 * project's -fvisibility=hidden would make local. */
__attribute__((visibility("default"))) int main(int argc, char *argv[]);

__attribute__((visibility("default"))) int main(int argc, char *argv[])
{
    bool skip_unavailable = false, help = false;
    const char *backend = NULL;
    /* Takes this program's options out of argv; Criterion gets the rest. */
    int kept = 1;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--skip-unavailable") == 0) {
            skip_unavailable = true;
        } else if (strcmp(arg, "--backend") == 0) {
            if (i + 1 == argc || !argv[i + 1][0]) {
                fprintf(stderr, "%s: --backend needs a backend's name\n", program);
                return SUITE_USAGE;
            }
            backend = argv[++i];
        } else if (strncmp(arg, "--backend=", 10) == 0) {
            backend = arg + 10;
            if (!backend[0]) {
                fprintf(stderr, "%s: --backend needs a backend's name\n", program);
                return SUITE_USAGE;
            }
        } else {
            help = help || strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0;
            argv[kept++] = argv[i];
        }
    }
    argv[kept] = NULL;
    argc = kept;
    if (help) {
        usage(stdout);
        fflush(stdout);
    }
    /* Criterion's options first: --help, --list or a bad option end here, testing nothing. */
    int status;
    struct criterion_test_set *tests = suite_prepare(program, argc, argv, &status);
    if (!tests)
        return status;
    /* Each test's process opens its device as the fixture (conf_setup): one that cannot be
     * opened there fails the test, whatever the option. */
    if (backend && setenv("GPUMEM_BACKEND", backend, 1) != 0) {
        perror("setenv");
        status = SUITE_FAIL;
    } else {
        status = choose_backend(skip_unavailable);
    }
    if (status >= 0) {
        criterion_finalize(tests);
        return status;
    }
    return suite_execute(tests, skip_unavailable ? SUITE_SKIP : SUITE_FAIL);
}
