/* The CPUs gpumem counts on (core/cpus.c): the calling thread's affinity mask, bounded by its
 * control groups' CPU limits. The limits are read from a /proc/self/cgroup file and a cgroup
 * tree, here laid out in a temporary folder for each case (cgroup v2's cpu.max, v1's
 * cpu.cfs_quota_us and cpu.cfs_period_us, nested groups, no limit, unreadable files). */
#include <criterion/criterion.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cpus.h"

static char root[] = "/tmp/gpumem-cpus-XXXXXX";
static char proc_cgroup[sizeof root + 16];

static void make_root(void)
{
    cr_assert_not_null(mkdtemp(root));
    snprintf(proc_cgroup, sizeof proc_cgroup, "%s/cgroup", root);
}

static void remove_root(void)
{
    char command[sizeof root + 16];
    snprintf(command, sizeof command, "rm -rf %s", root);
    cr_expect_eq(system(command), 0);
}

TestSuite(cpus, .init = make_root, .fini = remove_root);

/* Writes `text` to `path` under the root, making its folders. */
static void put(const char *path, const char *text)
{
    char full[512];
    snprintf(full, sizeof full, "%s/%s", root, path);
    char *slash = strchr(full + strlen(root) + 1, '/');
    for (; slash; slash = strchr(slash + 1, '/')) {
        *slash = 0;
        mkdir(full, 0755);
        *slash = '/';
    }
    FILE *f = fopen(full, "w");
    cr_assert_not_null(f, "%s", full);
    fputs(text, f);
    fclose(f);
}

static long limit(void)
{
    return gpumem_cgroup_cpu_limit(proc_cgroup, root);
}

Test(cpus, cgroup_v2_quotas_round_up_to_whole_cpus)
{
    put("cgroup", "0::/app\n");
    const struct {
        const char *max;
        long cpus;
    } cases[] = {
        {"200000 100000\n", 2}, {"150000 100000\n", 2}, {"100000 100000\n", 1},
        {"50000 100000\n", 1},  {"1000 100000\n", 1},   {"800000 100000\n", 8},
        {"9223372036854775807 100000\n", 92233720368548}, /* no overflow on the way */
        {"max 100000\n", 0},    {"\n", 0},              {"0 100000\n", 0},
        {"100000 0\n", 0},      {"-1 100000\n", 0},     {"junk\n", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        put("app/cpu.max", cases[i].max);
        cr_expect_eq(limit(), cases[i].cpus, "cpu.max '%.*s'", (int)strcspn(cases[i].max, "\n"),
                     cases[i].max);
    }
}

Test(cpus, the_least_limit_of_a_group_and_its_parents_binds)
{
    put("cgroup", "0::/pod/container\n");
    cr_expect_eq(limit(), 0, "no cpu.max anywhere: no limit");
    put("pod/container/cpu.max", "max 100000\n");
    put("pod/cpu.max", "300000 100000\n");
    cr_expect_eq(limit(), 3, "the parent's limit binds the child");
    put("pod/container/cpu.max", "100000 100000\n");
    cr_expect_eq(limit(), 1, "the child's smaller limit");
    put("cpu.max", "50000 100000\n");
    cr_expect_eq(limit(), 1, "the root's limit is read too (a container's own root)");
    put("cgroup", "0::/\n");
    cr_expect_eq(limit(), 1, "a process at the root");
}

Test(cpus, cgroup_v1_quota_and_period)
{
    put("cgroup", "12:memory:/x\n4:cpu,cpuacct:/docker/abc\n1:name=systemd:/docker/abc\n");
    cr_expect_eq(limit(), 0, "no files: no limit");
    put("cpu,cpuacct/docker/abc/cpu.cfs_quota_us", "-1\n");
    put("cpu,cpuacct/docker/abc/cpu.cfs_period_us", "100000\n");
    cr_expect_eq(limit(), 0, "a quota of -1 is none");
    put("cpu,cpuacct/docker/abc/cpu.cfs_quota_us", "250000\n");
    cr_expect_eq(limit(), 3);
    put("cpu,cpuacct/docker/cpu.cfs_quota_us", "100000\n");
    put("cpu,cpuacct/docker/cpu.cfs_period_us", "100000\n");
    cr_expect_eq(limit(), 1, "the parent's limit binds");
    put("cgroup", "4:cpuacct,cpuset:/docker/abc\n");
    cr_expect_eq(limit(), 0, "cpuacct is not the cpu controller");
}

Test(cpus, both_hierarchies_and_the_least_wins)
{
    put("cgroup", "0::/a\n3:cpu:/b\n");
    put("a/cpu.max", "400000 100000\n");
    put("cpu/b/cpu.cfs_quota_us", "200000\n");
    put("cpu/b/cpu.cfs_period_us", "100000\n");
    cr_expect_eq(limit(), 2);
}

Test(cpus, nothing_readable_is_no_limit)
{
    cr_expect_eq(gpumem_cgroup_cpu_limit("/nonexistent/cgroup", root), 0);
    put("cgroup", "garbage\n::\n0:\n0::relative\n");
    cr_expect_eq(limit(), 0);
    /* A line longer than the parser's line, whose tail past it would read as a v2 group of
     * its own: the whole line is skipped. */
    const size_t first = 4095; /* what one read of the line takes */
    char *line = malloc(first + 16);
    memset(line, 'a', first);
    strcpy(line + first, "0::/b\n");
    put("cgroup", line);
    free(line);
    put("b/cpu.max", "100000 100000\n");
    cr_expect_eq(limit(), 0, "the tail of a long line read as a line");
}

/* Narrowed to each prefix of its allowed CPUs in turn (as taskset, an MPI launcher or OpenMP's
 * binding would), the count follows the narrowing, unless a control group's limit is lower.
 * (Its own process: the narrowing ends with it.) */
Test(cpus, usable_cpus_follow_the_affinity_mask)
{
    cpu_set_t allowed, narrowed;
    cr_assert_eq(sched_getaffinity(0, sizeof allowed, &allowed), 0);
    long cap = gpumem_cgroup_cpu_limit("/proc/self/cgroup", "/sys/fs/cgroup");
    int count = CPU_COUNT(&allowed);
    cr_assert_eq(gpumem_usable_cpus(), cap > 0 && cap < count ? cap : count);
    CPU_ZERO(&narrowed);
    int added = 0;
    for (int cpu = 0; cpu < CPU_SETSIZE && added < count; cpu++) {
        if (!CPU_ISSET(cpu, &allowed))
            continue;
        CPU_SET(cpu, &narrowed);
        added++;
        cr_assert_eq(sched_setaffinity(0, sizeof narrowed, &narrowed), 0);
        cr_assert_eq(gpumem_usable_cpus(), cap > 0 && cap < added ? cap : added,
                     "bound to %d CPUs", added);
    }
}
