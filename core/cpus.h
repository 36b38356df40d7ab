/* How many CPUs gpumem's own host work can count on: the copiers of large host copies
 * (host_copy.c) and whether staging pays (transfer.c). */
#ifndef GPUMEM_CORE_CPUS_H
#define GPUMEM_CORE_CPUS_H

/* The CPUs the calling thread may use: the CPUs in its affinity mask (which taskset, cpusets,
 * MPI launchers and OpenMP's thread binding narrow; threads it starts inherit the mask), no more
 * than the CPU time its control groups allow (gpumem_cgroup_cpu_limit: container and Kubernetes
 * CPU limits, which leave the mask whole). The machine's online count where the mask cannot be
 * read; 0 where neither can. */
long gpumem_usable_cpus(void);

/* The CPU time that the control groups named in `proc_cgroup` (a file laid out as
 * /proc/self/cgroup) allow, in whole CPUs rounded up, as found under `root` (where the cgroup
 * file systems are mounted, /sys/fs/cgroup): the least quota over period of the group and its
 * parents, from cgroup v2's cpu.max or v1's cpu.cfs_quota_us and cpu.cfs_period_us. 0 where no
 * limit is set or none can be read. */
long gpumem_cgroup_cpu_limit(const char *proc_cgroup, const char *root);

#endif
