/* SPDX-License-Identifier: Apache-2.0 */
/* Container logs as CRI runtimes write them (one file per container attempt,
 * /var/log/pods/NS_NAME_UID/CONTAINER/RESTARTCOUNT.log, each line
 * "2016-10-06T00:17:09.669794202Z stdout F content"), read for /containerLogs with the
 * PodLogOptions selection (tail, limit, since, timestamps, follow), and rotated with the
 * container log manager's rule. */
#ifndef KUBELET_LOGS_H
#define KUBELET_LOGS_H

#include <sys/types.h>

#include "../core/hashmap.h"
#include "../core/util.h"

typedef struct cri_client cri_client;

#define KUBELET_LOG_STDOUT 1
#define KUBELET_LOG_STDERR 2

typedef struct kubelet_log_msg {
        int64_t ts_ns;       /* since the epoch */
        int tz_offset_s;     /* the timestamp's own UTC offset, kept for output */
        int stream;          /* KUBELET_LOG_STDOUT or KUBELET_LOG_STDERR */
        bool partial;        /* tag P: the runtime split a long line */
        const char *content; /* into the line: a full line keeps its '\n', a partial one not */
        size_t len;
} kubelet_log_msg;

/* One line of a CRI log file (its '\n' included when there is one). -EBADMSG when it is
 * not in the CRI format. */
int kubelet_log_parse_line(const char *line, size_t len, kubelet_log_msg *ret);
/* RFC 3339 with up to nine fraction digits and Z or ±hh:mm. */
int kubelet_log_parse_time(const char *s, size_t len, int64_t *ret_ns, int *ret_tz_offset_s);
/* Fixed-width RFC 3339 with nanoseconds ("2016-10-06T00:17:09.669794202Z"), as upstream
 * prints timestamps; returns the length (35 or 40). BUF needs 41 bytes. */
size_t kubelet_log_format_time(int64_t ts_ns, int tz_offset_s, char *buf);

typedef struct kubelet_log_opts {
        int64_t tail_lines;  /* -1: all */
        int64_t limit_bytes; /* -1: no limit */
        int64_t since_ns;    /* skip lines older than this; 0: none */
        bool follow, timestamps, previous;
        int streams;         /* KUBELET_LOG_STDOUT | KUBELET_LOG_STDERR */
} kubelet_log_opts;

/* The PodLogOptions of a /containerLogs query (follow, previous, timestamps, tailLines or
 * the legacy tail, limitBytes, sinceSeconds, sinceTime, stream). -EINVAL: undecodable
 * (HTTP 400); -EDOM: invalid values (HTTP 422), as upstream. NOW_NS anchors sinceSeconds. */
int kubelet_log_opts_parse(const char *query, int64_t now_ns, kubelet_log_opts *ret, kn_error *err);

/* Where the last TAIL_LINES lines of the file start (upstream's rule: after the
 * (TAIL_LINES+1)-th '\n' from the end). TAIL_LINES < 0: 0. */
int kubelet_log_tail_offset(int fd, int64_t tail_lines, off_t *ret);

typedef struct kubelet_log_sink {
        /* Output; a negative return stops the read with it. */
        int (*write)(void *userdata, const char *p, size_t n);
        /* Follow only. Called before each wait: written output should reach the client. */
        int (*flush)(void *userdata);
        /* Follow only. Is the container still running? 1 yes, 0 no, < 0 error. */
        int (*running)(void *userdata);
        /* Follow only: fds to watch besides the file (the client's socket, a stop
         * eventfd; -1 unused); when one is ready, cancelled() decides whether to stop. */
        int wake_fds[2];
        bool (*cancelled)(void *userdata);
        void *userdata;
} kubelet_log_sink;

/* Copy the log at PATH to the sink with O's selection. With follow, wait for more (inotify
 * on the file's directory, re-opening a rotated file) until the container stops running
 * or the sink is cancelled. Returns 0, or -errno with ERR set. */
int kubelet_logs_read(const char *path, const kubelet_log_opts *o, const kubelet_log_sink *sink, kn_error *err);

/* Upstream's container log manager rule, for one running container's log (a missing
 * LOG_PATH is first reopened through the runtime): when LOG_PATH is at least MAX_SIZE bytes, remove leftover temporaries and the oldest rotated files so
 * that at most MAX_FILES-2 stay, gzip the uncompressed rotated ones, rename LOG_PATH to
 * LOG_PATH.YYYYMMDD-HHMMSS and ask the runtime to ReopenContainerLog (renamed back when it
 * fails). Returns 1 when rotated, 0 when not needed, -errno with ERR set. */
int kubelet_logs_rotate(cri_client *cri, const char *container_id, const char *log_path, int64_t max_size,
                        int max_files, kn_error *err);
/* One pass of upstream's container log manager (it runs every 10 s): every running
 * container's log (its path from ContainerStatus, asked once per container and kept in
 * PATHS, which the caller owns and frees; a missing file is reopened first) is
 * rotated when needed. Failures are logged per container. Returns how many were rotated,
 * or -errno when the containers could not be listed. MAX_SIZE/MAX_FILES come from
 * containerLogMaxSize (kubelet_parse_quantity) and containerLogMaxFiles. */
int kubelet_logs_rotate_all(cri_client *cri, kn_hashmap *paths, int64_t max_size, int max_files);

/* A Kubernetes quantity of bytes ("10Mi", "1G", "512"); -EINVAL otherwise. */
int kubelet_parse_quantity(const char *s, int64_t *ret);

#endif
