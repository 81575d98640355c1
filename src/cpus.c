/* How many CPUs this process may use: its affinity mask, capped by its
 * cgroup's CPU quota (v2 cpu.max, v1 cpu.cfs_quota_us), so that the
 * default thread count on a shared or containerised machine is not the
 * number of CPUs online; and the OpenMP wait policy that suits a machine
 * where other processes take cores. */
#define _GNU_SOURCE
#include <math.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* The cgroup path of this process for a v1 controller list containing
 * `controller`, or for v2 (controller NULL), into path. */
static int cgroup_path(const char *controller, char *path, size_t len)
{
    FILE *f = fopen("/proc/self/cgroup", "r");
    if (!f)
        return -1;
    char line[1024];
    int found = -1;
    while (found < 0 && fgets(line, sizeof line, f)) {
        char *a = strchr(line, ':'), *b = a ? strchr(a + 1, ':') : NULL;
        if (!b)
            continue;
        *b = '\0';
        b[strcspn(b + 1, "\n") + 1] = '\0';
        const char *list = a + 1;
        int match = controller ? strstr(list, controller) != NULL
                               : strncmp(line, "0", 1) == 0 && !*list;
        if (match) {
            snprintf(path, len, "%s", b + 1);
            found = 0;
        }
    }
    fclose(f);
    return found;
}

/* CPUs the quota allows (rounded up), or 0 when there is no quota. */
static int quota_cpus(void)
{
    char cg[512], file[1024];
    double quota = -1, period = 0;
    if (cgroup_path(NULL, cg, sizeof cg) == 0) {
        snprintf(file, sizeof file, "/sys/fs/cgroup%s/cpu.max", cg);
        FILE *f = fopen(file, "r");
        char q[32] = "";
        if (f && fscanf(f, "%31s %lf", q, &period) == 2 && strcmp(q, "max"))
            quota = atof(q);
        if (f)
            fclose(f);
    } else if (cgroup_path("cpu", cg, sizeof cg) == 0) {
        const char *dirs[] = {"cpu", "cpu,cpuacct", "cpuacct,cpu"};
        for (int i = 0; i < 3 && quota < 0; i++) {
            snprintf(file, sizeof file, "/sys/fs/cgroup/%s%s/cpu.cfs_quota_us",
                     dirs[i], cg);
            FILE *f = fopen(file, "r");
            if (!f)
                continue;
            if (fscanf(f, "%lf", &quota) != 1)
                quota = -1;
            fclose(f);
            snprintf(file, sizeof file,
                     "/sys/fs/cgroup/%s%s/cpu.cfs_period_us", dirs[i], cg);
            if ((f = fopen(file, "r"))) {
                if (fscanf(f, "%lf", &period) != 1)
                    period = 0;
                fclose(f);
            }
        }
    }
    if (quota <= 0 || period <= 0)
        return 0;
    return (int)ceil(quota / period);
}

int32_t clnet_default_threads(void)
{
    const char *env = getenv("OMP_NUM_THREADS");
    if (env && atoi(env) > 0)
        return atoi(env);
    int n = 0;
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0)
        n = CPU_COUNT(&set);
    if (n < 1)
        n = 1;
    int q = quota_cpus();
    return q > 0 && q < n ? q : n;
}

void clnet_openmp_defaults(void)
{
    /* gcc's OpenMP spins 300,000 times at every barrier before it sleeps:
     * beside one busy process on two cores, the seed model's training
     * fell to a quarter (BENCHMARKS.md, "Threads on a shared machine").
     * Read when libgomp loads, with the first CPU plugin; a user's own
     * setting wins. */
    if (!getenv("OMP_WAIT_POLICY") && !getenv("GOMP_SPINCOUNT"))
        setenv("OMP_WAIT_POLICY", "PASSIVE", 0);
}
