#include "cpus.h"

#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Two numbers from the start of file `name` in folder `dir` (the second left alone where the
 * file has one); how many were read. "max" reads as no number. */
static int read_numbers(const char *dir, const char *name, long long *first, long long *second)
{
    char path[4200];
    if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, name) >= sizeof path)
        return 0;
    FILE *f = fopen(path, "re");
    if (!f)
        return 0;
    int n = fscanf(f, "%lld %lld", first, second);
    fclose(f);
    return n < 0 ? 0 : n;
}

/* Whole CPUs for a quota of `quota` per `period` (rounded up), or 0 for none. */
static long cpus_of(long long quota, long long period)
{
    if (quota <= 0 || period <= 0)
        return 0;
    long long cpus = quota / period + (quota % period != 0);
    return cpus > LONG_MAX ? LONG_MAX : (long)cpus;
}

/* The lesser of two limits, where 0 is none. */
static long lesser_limit(long a, long b)
{
    return a > 0 && (b == 0 || a < b) ? a : b;
}

/* The least limit `limit_in` finds in `dir` and in each folder above it, down to `top` (the
 * hierarchy's root, whose length is `top_length`): a parent's limit binds its children too. */
static long least_limit(char *dir, size_t top_length, long (*limit_in)(const char *dir))
{
    long least = 0;
    for (;;) {
        least = lesser_limit(limit_in(dir), least);
        char *slash = strrchr(dir, '/');
        if (!slash || (size_t)(slash - dir) < top_length)
            return least;
        *slash = 0;
    }
}

static long v2_limit(const char *dir)
{
    long long quota = 0, period = 0;
    return read_numbers(dir, "cpu.max", &quota, &period) == 2 ? cpus_of(quota, period) : 0;
}

static long v1_limit(const char *dir)
{
    long long quota = 0, period = 0, unused;
    if (read_numbers(dir, "cpu.cfs_quota_us", &quota, &unused) < 1 ||
        read_numbers(dir, "cpu.cfs_period_us", &period, &unused) < 1)
        return 0;
    return cpus_of(quota, period);
}

/* Whether a v1 hierarchy's controller list ("cpu,cpuacct") names the cpu controller. */
static int names_cpu(const char *controllers)
{
    size_t n = strlen(controllers);
    for (const char *c = controllers; c < controllers + n;) {
        size_t length = strcspn(c, ",");
        if (length == 3 && strncmp(c, "cpu", 3) == 0)
            return 1;
        c += length + 1;
    }
    return 0;
}

long gpumem_cgroup_cpu_limit(const char *proc_cgroup, const char *root)
{
    FILE *f = fopen(proc_cgroup, "re");
    if (!f)
        return 0;
    long least = 0;
    char line[4096];
    while (fgets(line, sizeof line, f)) {
        if (!strchr(line, '\n') && !feof(f)) { /* longer than any path read here: skipped */
            int c;
            while ((c = fgetc(f)) != EOF && c != '\n')
                ;
            continue;
        }
        line[strcspn(line, "\n")] = 0;
        /* hierarchy-id:controllers:path */
        char *controllers = strchr(line, ':');
        char *group = controllers ? strchr(controllers + 1, ':') : NULL;
        if (!group || group[1] != '/')
            continue;
        *controllers++ = 0;
        *group++ = 0;
        int v2 = strcmp(line, "0") == 0 && controllers[0] == 0; /* v2's one hierarchy */
        if (!v2 && !names_cpu(controllers)) /* v1: only the cpu controller's hierarchy */
            continue;
        /* The hierarchy's top (v2's is the root, v1's the folder named by its controllers),
         * then the group's path below it. */
        char dir[4096];
        int top = snprintf(dir, sizeof dir, "%s%s%s", root, v2 ? "" : "/", v2 ? "" : controllers);
        if (top < 0 || (size_t)top >= sizeof dir ||
            (size_t)snprintf(dir + top, sizeof dir - (size_t)top, "%s", group) >=
                sizeof dir - (size_t)top)
            continue;
        least = lesser_limit(least_limit(dir, (size_t)top, v2 ? v2_limit : v1_limit), least);
    }
    fclose(f);
    return least;
}

long gpumem_usable_cpus(void)
{
    long cpus = 0;
#if defined(__linux__)
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0)
        cpus = CPU_COUNT(&set);
#endif
    if (cpus <= 0)
        cpus = sysconf(_SC_NPROCESSORS_ONLN);
    if (cpus <= 0)
        return 0;
#if defined(__linux__)
    /* A container without a cgroup namespace shows the host's path for its group, which its
     * own mount does not have: the walk up from it reaches the container's own limit at the
     * mount's top. */
    long limit = gpumem_cgroup_cpu_limit("/proc/self/cgroup", "/sys/fs/cgroup");
    if (limit > 0 && limit < cpus)
        cpus = limit;
#endif
    return cpus;
}
