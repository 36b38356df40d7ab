/* Races around transfers that register their pages for themselves
 * (core/transfer_registration.c): on a device opened on one usable CPU, two threads make
 * synchronous 9 MiB writes (or as many MiB as the argument says: 40 registers each in pieces)
 * from one source, a third synchronous reads of the same size into memory of its own, while a
 * fourth reads on a stream of its own and creates and destroys pools. Some transfers register,
 * the others find a transfer in flight and go unregistered; none may deadlock, and
 * ThreadSanitizer must find no race. Not built by meson; on the simulated GPU, from the
 * repository root, after `meson setup build-tsan -Db_sanitize=thread` and a simgpu module built
 * against it (examples/simulated-gpu/run-conformance.sh with GPUMEM_BUILD_DIR=build-tsan):
 *
 *   gcc -fsanitize=thread -O1 -g -Iinclude -Ibuild-tsan/include \
 *       tools/probes/write_registration_race.c -Lbuild-tsan/lib -lgpumem -lpthread \
 *       -Wl,-rpath,$PWD/build-tsan/lib -o /tmp/write_registration_race
 *   TSAN_OPTIONS=halt_on_error=1 GPUMEM_LOG=debug GPUMEM_PLUGIN_PATH=<simgpu module folder> \
 *       GPUMEM_BACKEND=simgpu /tmp/write_registration_race 2>&1 | grep -c "registered for this"
 *
 * It prints "ok" at the end. */
#define _GNU_SOURCE
#include <gpumem/gpumem.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
static gpumem_device dev; static gpumem_pool pool; static gpumem_buffer big, little;
static void *reader(void *a) { (void)a; gpumem_stream s; if (gpumem_stream_create(dev, &s)) return "stream";
  char buf[4096];
  for (int i = 0; i < 300; i++) { if (gpumem_stream_read(s, little, 0, buf, sizeof buf) || gpumem_stream_synchronize(s)) return "read";
    gpumem_pool p; gpumem_pool_desc pd = {.preferred_flags = GPUMEM_MEMORY_DEVICE_LOCAL}; if (gpumem_pool_create(dev, &pd, &p) || gpumem_pool_destroy(p)) return "pool"; }
  gpumem_stream_destroy(s); return NULL; }
static size_t size = 9u << 20;
static void *writer(void *a) { uint8_t *h = a; for (int i = 0; i < 30; i++) if (gpumem_buffer_write(big, 0, h, size)) return "write"; return NULL; }
static void *sync_reader(void *a) { (void)a; uint8_t *d = malloc(size); if (!d) return "malloc";
  for (int i = 0; i < 60; i++) if (gpumem_buffer_read(big, 0, d, size)) { free(d); return "sync read"; }
  free(d); return NULL; }
int main(int argc, char **argv) {
  if (argc > 1) size = strtoul(argv[1], NULL, 10) << 20; /* MiB: 40 cuts writes into pieces */
  cpu_set_t all, one; sched_getaffinity(0, sizeof all, &all); CPU_ZERO(&one); CPU_SET(0, &one); sched_setaffinity(0, sizeof one, &one);
  gpumem_device_desc dd = {0}; if (gpumem_device_open(&dd, &dev)) { printf("open %s\n", gpumem_last_error()); return 1; }
  sched_setaffinity(0, sizeof all, &all);
  gpumem_pool_desc pd = {.preferred_flags = GPUMEM_MEMORY_DEVICE_LOCAL, .page_size = 16u << 20}; if (gpumem_pool_create(dev, &pd, &pool)) return 2;
  if (gpumem_buffer_create(pool, &(gpumem_buffer_desc){.size = size}, &big) || gpumem_buffer_create(pool, &(gpumem_buffer_desc){.size = 4096}, &little)) return 3;
  uint8_t *h = malloc(size); memset(h, 7, size);
  pthread_t t[4]; pthread_create(&t[0], NULL, writer, h); pthread_create(&t[1], NULL, writer, h); pthread_create(&t[2], NULL, reader, NULL);
  pthread_create(&t[3], NULL, sync_reader, NULL);
  for (int i = 0; i < 4; i++) { void *r; pthread_join(t[i], &r); if (r) { printf("fail %s: %s\n", (char *)r, gpumem_last_error()); return 4; } }
  gpumem_pool_destroy(pool); gpumem_device_close(dev); printf("ok\n"); return 0; }
