/* SPDX-License-Identifier: Apache-2.0 */
/* Stale conntrack flow cleanup over raw ctnetlink (no libnetfilter_conntrack).
 * kube-proxy deletes UDP flows whose endpoint went away, so that clients are not
 * pinned to a dead backend until the flow times out. */
#ifndef PROXY_CONNTRACK_H
#define PROXY_CONNTRACK_H

#include <stdint.h>

#include "nft.h"

/* The most conntrack entries one call examines; beyond it the call fails with -E2BIG
 * (after deleting what matched among the first ones). */
#define KN_CONNTRACK_MAX_ENTRIES (1u << 20)

/* Delete conntrack entries of FAMILY (AF_INET/AF_INET6) for protocol PROTO (IPPROTO_UDP,
 * IPPROTO_TCP, IPPROTO_SCTP, IPPROTO_UDPLITE) whose ORIGINAL destination is
 * ORIG_DST:ORIG_DPORT and, when REPLY_SRC is non-NULL, whose REPLY source (the real
 * endpoint after DNAT) is REPLY_SRC. ORIG_DST NULL = any destination, ORIG_DPORT 0 = any
 * port (host order).
 * Upstream usage: ClusterIP/external IP/LB IP: orig dst = service IP, reply src = the
 * removed endpoint; NodePort: orig_dst NULL, orig dport = nodePort, reply src = endpoint.
 * Works in the network namespace of the calling thread. Entries that vanish between the
 * dump and the delete are not errors. *RET_DELETED (may be NULL) gets the number deleted. */
int kn_conntrack_delete(int family, int proto, const kn_addr *orig_dst, uint16_t orig_dport,
                        const kn_addr *reply_src, unsigned *ret_deleted, kn_error *err);

/* One flow pattern of kn_conntrack_delete_many. FAMILY is AF_INET or AF_INET6;
 * orig_dst / reply_src with family 0 match any address, orig_dport 0 any port. */
typedef struct kn_conntrack_filter {
        int family;
        kn_addr orig_dst;
        uint16_t orig_dport; /* host order */
        kn_addr reply_src;
        /* only entries never translated: the reply comes from the original destination
         * (a Service IP that had no endpoint), so flows already DNATed to an endpoint stay */
        bool untranslated;
} kn_conntrack_filter;

/* Delete the PROTO entries that match any of the N filters, with ONE dump of the
 * conntrack table (both families at once when the filters have both). Sorts and
 * deduplicates F in place. RET_DELETED[0] / [1] (may be NULL) get the number deleted
 * for IPv4 / IPv6. Same errors as kn_conntrack_delete. */
int kn_conntrack_delete_many(int proto, kn_conntrack_filter *f, size_t n, unsigned ret_deleted[2], kn_error *err);

/* ---- conntrack limits and timeouts (sysctls), as upstream's kube-proxy sets them ---- */

typedef struct kn_conntrack_settings {
        int64_t max;            /* nf_conntrack_max, and hashsize >= max/4; 0 = leave */
        int64_t tcp_established_s, tcp_close_wait_s, udp_s, udp_stream_s; /* 0 = leave */
        bool tcp_be_liberal;    /* set nf_conntrack_tcp_be_liberal to 1 */
        /* Where the files are: NULL = /proc/sys/net/netfilter and
         * /sys/module/nf_conntrack/parameters (tests point them elsewhere). */
        const char *proc_dir, *sys_dir;
} kn_conntrack_settings;

/* Upstream's nf_conntrack_max: maxPerCore x CPUs (those this process may run on), at
 * least MIN; 0 (leave the limit) when maxPerCore is 0. */
int64_t kn_conntrack_max(int64_t max_per_core, int64_t min, int n_cpus);

/* Write the settings that differ from the kernel's. A value the host refuses (a
 * read-only /sys, nf_conntrack_max and hashsize outside the initial network namespace)
 * is logged as a warning and skipped; the hashsize is written only when below max/4
 * and nf_conntrack_max holds MAX. Returns the number of settings refused (0 = all set). */
int kn_conntrack_apply(const kn_conntrack_settings *s);

#endif
