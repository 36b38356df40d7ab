/* A second thread that made a gpumem call and stays until told to leave. While it lives, gpumem
 * sees another thread with an epoch record, so destroyed buffers are retired (gpumem_pool_retire)
 * instead of being freed at once: the multi-threaded path, taken from a single-threaded test. */
#ifndef GPUMEM_TESTS_BYSTANDER_H
#define GPUMEM_TESTS_BYSTANDER_H

#include <pthread.h>

#include "gpumem/gpumem.h"

typedef struct test_bystander {
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t told;
    int started; /* 1: its call succeeded; -1: it failed */
    int leave;
    gpumem_device device;
} test_bystander;

static inline void *test_bystander_main(void *arg)
{
    test_bystander *b = arg;
    gpumem_device_properties properties;
    gpumem_result r = gpumem_device_properties_get(b->device, &properties);
    pthread_mutex_lock(&b->lock);
    b->started = r == GPUMEM_OK ? 1 : -1;
    pthread_cond_broadcast(&b->told);
    while (!b->leave)
        pthread_cond_wait(&b->told, &b->lock);
    pthread_mutex_unlock(&b->lock);
    return NULL;
}

/* 1 once the thread runs and its call on `device` succeeded; 0 when either failed (nothing is
 * left running then). */
static inline int test_bystander_start(test_bystander *b, gpumem_device device)
{
    *b = (test_bystander){.device = device};
    pthread_mutex_init(&b->lock, NULL);
    pthread_cond_init(&b->told, NULL);
    if (pthread_create(&b->thread, NULL, test_bystander_main, b) != 0)
        return 0;
    pthread_mutex_lock(&b->lock);
    while (!b->started)
        pthread_cond_wait(&b->told, &b->lock);
    b->leave = b->started < 0;
    pthread_cond_broadcast(&b->told);
    pthread_mutex_unlock(&b->lock);
    if (b->started > 0)
        return 1;
    pthread_join(b->thread, NULL);
    return 0;
}

static inline void test_bystander_stop(test_bystander *b)
{
    pthread_mutex_lock(&b->lock);
    b->leave = 1;
    pthread_cond_broadcast(&b->told);
    pthread_mutex_unlock(&b->lock);
    pthread_join(b->thread, NULL);
    pthread_cond_destroy(&b->told);
    pthread_mutex_destroy(&b->lock);
}

#endif
