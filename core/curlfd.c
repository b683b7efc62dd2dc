/* SPDX-License-Identifier: Apache-2.0 */
#include "curlfd.h"

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#define MAX_INHERITABLE 64

static size_t inheritable_fds(int *fds, size_t max)
{
        DIR *d = opendir("/proc/self/fd");
        struct dirent *e;
        size_t n = 0;

        if (!d)
                return 0;
        while ((e = readdir(d)) && n < max) {
                int fd = atoi(e->d_name), fl;
                if (e->d_name[0] == '.' || fd == dirfd(d))
                        continue;
                fl = fcntl(fd, F_GETFD);
                if (fl >= 0 && !(fl & FD_CLOEXEC))
                        fds[n++] = fd;
        }
        closedir(d);
        return n;
}

CURLM *kn_curl_multi_new_cloexec(void)
{
        static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
        int before[MAX_INHERITABLE], after[MAX_INHERITABLE];
        size_t nb, na;
        CURLM *m;

        pthread_mutex_lock(&mu);
        nb = inheritable_fds(before, MAX_INHERITABLE);
        m = curl_multi_init();
        na = inheritable_fds(after, MAX_INHERITABLE);
        pthread_mutex_unlock(&mu);
        if (!m)
                abort();
        for (size_t i = 0; i < na; i++) {
                bool old = false;
                for (size_t j = 0; j < nb && !old; j++)
                        old = before[j] == after[i];
                if (!old)
                        (void)fcntl(after[i], F_SETFD, FD_CLOEXEC);
        }
        return m;
}
