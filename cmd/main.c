/* SPDX-License-Identifier: Apache-2.0 */
/* knode: one binary, busybox-style. Dispatch on the name we were invoked under, then
 * on the first argument. */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <malloc.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../core/applet.h"
#include "../kubelet/kubelet.h"
#include "../proxy/proxy.h"
#include "applets.h"

struct applet {
        const char *name;
        int (*main)(int argc, char **argv);
        const char *help;
        bool lean; /* many threads that mostly wait: see lean_reexec() */
};

static int version_main(int argc, char **argv)
{
        (void)argc, (void)argv;
        printf("knode %s\nKubernetes %s\n", kn_version_string, KN_KUBE_VERSION);
        return 0;
}

static const struct applet applets[] = {
        {"kubelet", kubelet_main, "the node agent: registers the node and runs its pods over CRI", true},
        {"kube-proxy", proxy_main, "programs nftables so that Services reach their endpoints", false},
        {"all", all_main, "kubelet and kube-proxy in one process, sharing one API client", true},
        {"debug", debug_main, "API client diagnostics: get, list and watch resources", false},
        {"version", version_main, "print versions", false},
};

static const struct applet *find(const char *name)
{
        for (size_t i = 0; i < sizeof(applets) / sizeof(applets[0]); i++)
                if (strcmp(applets[i].name, name) == 0)
                        return &applets[i];
        return NULL;
}

static void usage(FILE *f)
{
        fprintf(f, "knode %s (Kubernetes %s): kubelet and kube-proxy in one small binary.\n\n"
                   "Usage: knode APPLET [flags...]    or run it as 'kubelet' / 'kube-proxy' (symlinks)\n"
                   "       knode --install DIR        create the kubelet and kube-proxy symlinks in DIR\n"
                   "       knode --version\n\nApplets:\n",
                kn_version_string, KN_KUBE_VERSION);
        for (size_t i = 0; i < sizeof(applets) / sizeof(applets[0]); i++)
                fprintf(f, "  %-12s %s\n", applets[i].name, applets[i].help);
}

static int install(const char *dir)
{
        char self[PATH_MAX];
        ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
        static const char *const names[] = {"kubelet", "kube-proxy"};

        if (n < 0) {
                fprintf(stderr, "knode: cannot find my own path: %s\n", strerror(errno));
                return 1;
        }
        self[n] = '\0';
        for (size_t i = 0; i < 2; i++) {
                char link[PATH_MAX];
                snprintf(link, sizeof(link), "%s/%s", dir, names[i]);
                if (symlink(self, link) < 0 && errno != EEXIST) {
                        fprintf(stderr, "knode: failed to create %s: %s\n", link, strerror(errno));
                        return 1;
                }
                printf("%s -> %s\n", link, self);
        }
        return 0;
}

/* The kubelet runs a dozen threads that mostly wait, and pod workers that come and go.
 * glibc gives each thread a cache of freed chunks (tcache) and keeps the stacks of exited
 * threads for reuse; with this workload both pin pages nobody uses (measured with 30
 * idle pods: 6.4 -> 3.9 MiB of anonymous memory). glibc offers no mallopt() for either,
 * only GLIBC_TUNABLES, read when a process starts; so set it and execute ourselves once
 * more. Tunables an operator set are kept, and theirs for these two win. */
#define LEAN_TUNABLES "glibc.malloc.tcache_count=0:glibc.pthread.stack_cache_size=0"

static void lean_reexec(char **argv)
{
        const char *cur = getenv("GLIBC_TUNABLES");
        char *val;

        if (cur && (strstr(cur, "glibc.malloc.tcache_count=") || strstr(cur, "glibc.pthread.stack_cache_size=")))
                return; /* the operator's choice, or ours before the exec */
        if (asprintf(&val, "%s%s" LEAN_TUNABLES, cur ? cur : "", cur && *cur ? ":" : "") < 0)
                return;
        if (setenv("GLIBC_TUNABLES", val, 1) == 0)
                execv("/proc/self/exe", argv);
        /* no /proc, or no exec: run on with glibc's defaults */
        if (cur)
                setenv("GLIBC_TUNABLES", cur, 1);
        else
                unsetenv("GLIBC_TUNABLES");
        free(val);
}

int main(int argc, char **argv)
{
        char *base = basename(argv[0]);
        const struct applet *a = find(base);

        /* Memory: few arenas (our threads mostly wait), and big buffers (list pages,
         * nftables batches) in their own mappings, so they go back to the kernel when
         * freed instead of staying in the heap. */
        mallopt(M_ARENA_MAX, 1);
        mallopt(M_MMAP_THRESHOLD, 256 * 1024);

        if (a) {
                if (a->lean)
                        lean_reexec(argv);
                return a->main(argc, argv);
        }
        if (strcmp(base, "knode") != 0 && strncmp(base, "knode", 5) != 0) {
                fprintf(stderr, "knode: unknown applet name \"%s\" (invoked as %s)\n", base, argv[0]);
                return 127;
        }
        if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
            strcmp(argv[1], "help") == 0) {
                usage(argc < 2 ? stderr : stdout);
                return argc < 2 ? 2 : 0;
        }
        if (strcmp(argv[1], "--version") == 0)
                return version_main(argc - 1, argv + 1);
        if (strcmp(argv[1], "--install") == 0) {
                if (argc != 3) {
                        fprintf(stderr, "knode: --install needs a directory\n");
                        return 2;
                }
                return install(argv[2]);
        }
        a = find(argv[1]);
        if (!a) {
                fprintf(stderr, "knode: unknown applet \"%s\"; run 'knode --help' for the list\n", argv[1]);
                return 127;
        }
        if (a->lean)
                lean_reexec(argv);
        return a->main(argc - 1, argv + 1);
}
