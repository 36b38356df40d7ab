#!/usr/bin/env bash
# Core's host copies under a control group's CPU quota (as `docker --cpus` and Kubernetes CPU
# limits set it), with one copier, two, and core's default (which counts the quota:
# core/cpus.c). Needs root and a writable cgroup file system (v2 with the cpu controller, or
# v1's cpu hierarchy); makes a group of its own and removes it at the end.
#
#   tools/cpu-quota-copies.sh [QUOTA_US ...]     default: 100000 150000 max (of a 100 ms period)
#   ROUNDS=N (default 2); GPUMEM_BUILD_DIR (default build: a configured build of gpumem, for its
#   generated gpumem/version.h)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
work=$(mktemp -d)
trap 'rm -rf "$work"; [ -n "${group:-}" ] && rmdir "$group" 2>/dev/null || true' EXIT
build="$root/${GPUMEM_BUILD_DIR:-build}"
cc -O2 -D_GNU_SOURCE -pthread -I"$root/core" -I"$root/include" -I"$build/include" -o "$work/probe" \
    "$root/tools/probes/host_copy_sustained.c" "$root/core/host_copy.c" "$root/core/cpus.c"

if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
    group=/sys/fs/cgroup/gpumem-quota-$$
    mkdir "$group"
    set_quota() { echo "$1 100000" >"$group/cpu.max"; }
elif [ -d /sys/fs/cgroup/cpu ]; then
    group=/sys/fs/cgroup/cpu/gpumem-quota-$$
    mkdir "$group"
    echo 100000 >"$group/cpu.cfs_period_us"
    set_quota() { if [ "$1" = max ]; then echo -1; else echo "$1"; fi >"$group/cpu.cfs_quota_us"; }
else
    echo "cpu-quota-copies: no cgroup cpu controller found under /sys/fs/cgroup" >&2
    exit 2
fi

quotas=("$@")
[ ${#quotas[@]} -gt 0 ] || quotas=(100000 150000 max)
for quota in "${quotas[@]}"; do
    set_quota "$quota"
    for round in $(seq "${ROUNDS:-2}"); do
        for copiers in 1 2 default; do
            printf 'quota %s/100000, round %s: ' "$quota" "$round"
            (
                [ "$copiers" = default ] || export GPUMEM_COPY_THREADS=$copiers
                sh -c 'echo $$ >"$1/cgroup.procs" && exec "$2"' sh "$group" "$work/probe"
            )
        done
    done
done
