/* Backend modules for the registry's tests, all from this one source (tests/unit/meson.build
 * builds each kind as libfixture-<kind>.so; the tests link them into folders of their own under
 * the names the registry looks for). Each is the host backend's table under another name, with
 * one thing that differs:
 *   FIXTURE_GOOD       nothing: a working backend
 *   FIXTURE_FLAKY      the probe fails with GPUMEM_ERROR_OUT_OF_HOST_MEMORY for its first
 *                      FIXTURE_PROBE_FAILURES (environment; default 1) calls, then succeeds
 *   FIXTURE_NODEVICE   the probe succeeds with no device
 *   FIXTURE_NULL_ENTRY the entry function returns NULL
 *   FIXTURE_NO_ENTRY   no entry function at all
 *   FIXTURE_CALLS      the entry function calls gpumem (gpumem_backend_count), as a module
 *                      offering a second backend might, and leaves what it answered in the
 *                      environment variable FIXTURE_ENTRY_CALL
 * fixture_probe_count() says how often the probe ran. */
#include <stdio.h>
#include <stdlib.h>

#include "gpumem/backend.h"

GPUMEM_API unsigned fixture_probe_count(void);

static unsigned probes;

unsigned fixture_probe_count(void)
{
    return probes;
}

#if !defined(FIXTURE_NULL_ENTRY) && !defined(FIXTURE_NO_ENTRY)
const gpumem_backend_vtable *gpumem_host_backend(void); /* the host backend's static library */

static gpumem_result probe(uint32_t *count, char *reason, size_t size)
{
    probes++;
#if defined(FIXTURE_FLAKY)
    const char *env = getenv("FIXTURE_PROBE_FAILURES");
    unsigned failures = env ? (unsigned)atoi(env) : 1;
    if (probes <= failures) {
        snprintf(reason, size, "fixture: no memory for probe %u", probes);
        return GPUMEM_ERROR_OUT_OF_HOST_MEMORY;
    }
#endif
#if defined(FIXTURE_NODEVICE)
    *count = 0;
#else
    *count = 1;
#endif
    return GPUMEM_OK;
}

static gpumem_backend_vtable table;
#endif

#if defined(FIXTURE_NO_ENTRY)
GPUMEM_API const gpumem_backend_vtable *gpumem_backend_entry_point(void);

const gpumem_backend_vtable *gpumem_backend_entry_point(void) /* the wrong name */
{
    return NULL;
}
#else
GPUMEM_API const gpumem_backend_vtable *gpumem_backend_entry(void);

const gpumem_backend_vtable *gpumem_backend_entry(void)
{
#if defined(FIXTURE_NULL_ENTRY)
    return NULL;
#else
#if defined(FIXTURE_CALLS)
    uint32_t count;
    char said[16];
    snprintf(said, sizeof said, "%d", (int)gpumem_backend_count(&count));
    setenv("FIXTURE_ENTRY_CALL", said, 1);
#endif
    table = *gpumem_host_backend();
    table.name = FIXTURE_NAME;
    table.priority = FIXTURE_PRIORITY;
    table.probe = probe;
    return &table;
#endif
}
#endif
