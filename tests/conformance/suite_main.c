/* The main of every Criterion program of the tests but gpumem-conformance (which has its own,
 * main.c): tests/meson.build's `criterion` dependency links it in, in place of Criterion's own.
 * A run in which every test skipped (no CUDA device here, say) exits 77, which meson reports as
 * SKIP, and every skip's reason is printed (suite.h). */
#include <stddef.h>

#include "suite.h"

/* Default visibility: Criterion's worker processes find `main` by its symbol, which the
 * project's -fvisibility=hidden would make local. */
__attribute__((visibility("default"))) int main(int argc, char *argv[]);

__attribute__((visibility("default"))) int main(int argc, char *argv[])
{
    return suite_run(NULL, argc, argv, SUITE_SKIP);
}
