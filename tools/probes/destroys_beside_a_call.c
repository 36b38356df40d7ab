/* Destroys beside another thread's long call: N buffers made before the call are destroyed while
 * it runs (none of them may be freed until it ends, since it may hold any of them), then N
 * create+destroy pairs of buffers made after it began (which it cannot reach). Prints the time
 * each destroy and each pair took. A reclaim that looked again at every buffer held by the call
 * at each batch made both grow with N (quadratic in all); docs/performance.md, "Thirty-fifth
 * session".
 *
 * The long call is gpumem_host_register on the host backend, stopped in the log callback it
 * makes once the memory is registered, until the destroys and pairs are done.
 *
 * With K > 1, K threads each hold such a call, begun one after another at epochs of their own
 * (a trim, which always takes a barrier, between two), and the N buffers are made in K groups,
 * group i just before call i began: so call i is the oldest that reaches group i, and the held
 * buffers wait for K different calls (docs/performance.md, "Thirty-sixth session").
 *
 *   cc -O2 -pthread -Iinclude -Ibuild-rel/include tools/probes/destroys_beside_a_call.c \
 *      -Lbuild-rel/lib -lgpumem -Wl,-rpath,$PWD/build-rel/lib -o destroys_beside_a_call
 *   ./destroys_beside_a_call N [K]        (N buffers of 256 B, e.g. 10000, 100000, 400000;
 *                                          K holding calls, default 1)
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gpumem/gpumem.h"

static gpumem_device device;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t changed = PTHREAD_COND_INITIALIZER;
static int holding, released; /* calls held; whether they may end */
static _Thread_local int is_holder;

static void hold_in_log(void *user, int32_t level, const char *message)
{
    (void)user, (void)level;
    if (!is_holder || !strstr(message, "host memory registered"))
        return;
    pthread_mutex_lock(&lock);
    holding++;
    pthread_cond_broadcast(&changed);
    while (!released)
        pthread_cond_wait(&changed, &lock);
    pthread_mutex_unlock(&lock);
}

static void *long_call(void *host)
{
    is_holder = 1;
    gpumem_host_registration registration;
    if (gpumem_host_register(device, host, 1 << 16, 0, &registration) != GPUMEM_OK) {
        fprintf(stderr, "no call to hold: %s\n", gpumem_last_error());
        exit(1);
    }
    gpumem_host_unregister(registration);
    return NULL;
}

static double seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void check(gpumem_result r, const char *what)
{
    if (r != GPUMEM_OK) {
        fprintf(stderr, "%s: %s\n", what, gpumem_last_error());
        exit(1);
    }
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 100000;
    long k = argc > 2 ? atol(argv[2]) : 1;
    if (n <= 0 || k <= 0 || k > 64 || k > n) {
        fprintf(stderr, "usage: %s N [K] (N buffers, > 0; K holding calls, 1 to 64 and <= N)\n",
                argv[0]);
        return 2;
    }
    gpumem_device_desc device_desc = {.backend = "host"};
    check(gpumem_device_open(&device_desc, &device), "gpumem_device_open");
    gpumem_pool pool;
    check(gpumem_pool_create(device, NULL, &pool), "gpumem_pool_create");
    gpumem_buffer *elders = malloc((size_t)n * sizeof *elders);
    pthread_t *holders = malloc((size_t)k * sizeof *holders);
    void *host = NULL;
    if (!elders || !holders || posix_memalign(&host, 1 << 16, (size_t)k << 16)) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }
    gpumem_log_set_callback(hold_in_log, NULL);
    gpumem_buffer_desc desc = {.size = 256};
    for (long h = 0; h < k; h++) {
        for (long i = n * h / k; i < n * (h + 1) / k; i++)
            check(gpumem_buffer_create(pool, &desc, &elders[i]), "gpumem_buffer_create");
        if (pthread_create(&holders[h], NULL, long_call, (char *)host + (h << 16))) {
            fprintf(stderr, "no thread for call %ld\n", h + 1);
            return 1;
        }
        pthread_mutex_lock(&lock);
        while (holding < h + 1)
            pthread_cond_wait(&changed, &lock);
        pthread_mutex_unlock(&lock);
        check(gpumem_pool_trim(pool), "gpumem_pool_trim"); /* a barrier: a later epoch */
    }

    double start = seconds();
    for (long i = 0; i < n; i++)
        check(gpumem_buffer_destroy(elders[i]), "gpumem_buffer_destroy");
    double destroyed = seconds();
    for (long i = 0; i < n; i++) {
        gpumem_buffer young;
        check(gpumem_buffer_create(pool, &desc, &young), "gpumem_buffer_create");
        check(gpumem_buffer_destroy(young), "gpumem_buffer_destroy");
    }
    double paired = seconds();

    pthread_mutex_lock(&lock);
    released = 1;
    pthread_cond_broadcast(&changed);
    pthread_mutex_unlock(&lock);
    for (long h = 0; h < k; h++)
        pthread_join(holders[h], NULL);
    gpumem_log_set_callback(NULL, NULL);
    printf("%ld buffers made before %ld call%s, destroyed during %s: %.1f ns each; "
           "%ld pairs made during %s: %.1f ns each\n",
           n, k, k > 1 ? "s" : "", k > 1 ? "them" : "it", (destroyed - start) / (double)n * 1e9,
           n, k > 1 ? "them" : "it", (paired - destroyed) / (double)n * 1e9);
    check(gpumem_device_close(device), "gpumem_device_close");
    free(elders);
    free(holders);
    free(host);
    return 0;
}
