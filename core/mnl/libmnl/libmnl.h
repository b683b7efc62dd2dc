/* knode's own minimal netlink helper library, source compatible with the
 * public libmnl API (same names, signatures, constants and semantics), so
 * code written for libmnl, and Debian's libnftnl.a, link against it.
 *
 * Used for the static build only (Debian ships no libmnl.a); the dynamic
 * build links the system -lmnl. Build with -I core/mnl so that
 * <libmnl/libmnl.h> resolves here.
 *
 * Error convention is libmnl's, not knode's: functions returning pointers
 * return NULL, those returning int/ssize_t return -1, with errno set.
 */
#ifndef KNODE_LIBMNL_H
#define KNODE_LIBMNL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>
#include <linux/netlink.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- sockets ----------------------------------------------------------- */

#define MNL_SOCKET_AUTOPID 0
/* Receive buffer size that never truncates a kernel message: a page,
 * capped at 8 KiB. */
#define MNL_SOCKET_BUFFER_SIZE \
	(sysconf(_SC_PAGESIZE) < 8192L ? sysconf(_SC_PAGESIZE) : 8192L)
/* Larger buffer recommended for dumps. */
#define MNL_SOCKET_DUMP_SIZE 32768

struct mnl_socket;

struct mnl_socket *mnl_socket_open(int bus);
struct mnl_socket *mnl_socket_open2(int bus, int flags);
struct mnl_socket *mnl_socket_fdopen(int fd);
int mnl_socket_bind(struct mnl_socket *nl, unsigned int groups, pid_t pid);
int mnl_socket_close(struct mnl_socket *nl);
int mnl_socket_get_fd(const struct mnl_socket *nl);
unsigned int mnl_socket_get_portid(const struct mnl_socket *nl);
ssize_t mnl_socket_sendto(const struct mnl_socket *nl, const void *req, size_t siz);
ssize_t mnl_socket_recvfrom(const struct mnl_socket *nl, void *buf, size_t siz);
int mnl_socket_setsockopt(const struct mnl_socket *nl, int type, void *buf,
			  socklen_t len);
int mnl_socket_getsockopt(const struct mnl_socket *nl, int type, void *buf,
			  socklen_t *len);

/* ---- netlink messages ---------------------------------------------------- */

#define MNL_ALIGNTO 4
#define MNL_ALIGN(len) (((len) + MNL_ALIGNTO - 1) & ~(MNL_ALIGNTO - 1))
#define MNL_NLMSG_HDRLEN MNL_ALIGN(sizeof(struct nlmsghdr))

size_t mnl_nlmsg_size(size_t len);
size_t mnl_nlmsg_get_payload_len(const struct nlmsghdr *nlh);

struct nlmsghdr *mnl_nlmsg_put_header(void *buf);
void *mnl_nlmsg_put_extra_header(struct nlmsghdr *nlh, size_t size);

bool mnl_nlmsg_ok(const struct nlmsghdr *nlh, int len);
struct nlmsghdr *mnl_nlmsg_next(const struct nlmsghdr *nlh, int *len);

bool mnl_nlmsg_seq_ok(const struct nlmsghdr *nlh, unsigned int seq);
bool mnl_nlmsg_portid_ok(const struct nlmsghdr *nlh, unsigned int portid);

void *mnl_nlmsg_get_payload(const struct nlmsghdr *nlh);
void *mnl_nlmsg_get_payload_offset(const struct nlmsghdr *nlh, size_t offset);
void *mnl_nlmsg_get_payload_tail(const struct nlmsghdr *nlh);

void mnl_nlmsg_fprintf(FILE *fd, const void *data, size_t datalen,
		       size_t extra_header_size);

/* ---- batches of messages ------------------------------------------------- */

struct mnl_nlmsg_batch;

struct mnl_nlmsg_batch *mnl_nlmsg_batch_start(void *buf, size_t limit);
bool mnl_nlmsg_batch_next(struct mnl_nlmsg_batch *b);
void mnl_nlmsg_batch_stop(struct mnl_nlmsg_batch *b);
size_t mnl_nlmsg_batch_size(struct mnl_nlmsg_batch *b);
void mnl_nlmsg_batch_reset(struct mnl_nlmsg_batch *b);
void *mnl_nlmsg_batch_head(struct mnl_nlmsg_batch *b);
void *mnl_nlmsg_batch_current(struct mnl_nlmsg_batch *b);
bool mnl_nlmsg_batch_is_empty(struct mnl_nlmsg_batch *b);

/* ---- attributes ---------------------------------------------------------- */

#define MNL_ATTR_HDRLEN MNL_ALIGN(sizeof(struct nlattr))

uint16_t mnl_attr_get_type(const struct nlattr *attr);
uint16_t mnl_attr_get_len(const struct nlattr *attr);
uint16_t mnl_attr_get_payload_len(const struct nlattr *attr);
void *mnl_attr_get_payload(const struct nlattr *attr);
uint8_t mnl_attr_get_u8(const struct nlattr *attr);
uint16_t mnl_attr_get_u16(const struct nlattr *attr);
uint32_t mnl_attr_get_u32(const struct nlattr *attr);
uint64_t mnl_attr_get_u64(const struct nlattr *attr);
const char *mnl_attr_get_str(const struct nlattr *attr);

void mnl_attr_put(struct nlmsghdr *nlh, uint16_t type, size_t len, const void *data);
void mnl_attr_put_u8(struct nlmsghdr *nlh, uint16_t type, uint8_t data);
void mnl_attr_put_u16(struct nlmsghdr *nlh, uint16_t type, uint16_t data);
void mnl_attr_put_u32(struct nlmsghdr *nlh, uint16_t type, uint32_t data);
void mnl_attr_put_u64(struct nlmsghdr *nlh, uint16_t type, uint64_t data);
void mnl_attr_put_str(struct nlmsghdr *nlh, uint16_t type, const char *data);
void mnl_attr_put_strz(struct nlmsghdr *nlh, uint16_t type, const char *data);

/* The _check variants add nothing and return false (or NULL) if the
 * attribute would make the message longer than buflen. */
bool mnl_attr_put_check(struct nlmsghdr *nlh, size_t buflen, uint16_t type,
			size_t len, const void *data);
bool mnl_attr_put_u8_check(struct nlmsghdr *nlh, size_t buflen, uint16_t type,
			   uint8_t data);
bool mnl_attr_put_u16_check(struct nlmsghdr *nlh, size_t buflen, uint16_t type,
			    uint16_t data);
bool mnl_attr_put_u32_check(struct nlmsghdr *nlh, size_t buflen, uint16_t type,
			    uint32_t data);
bool mnl_attr_put_u64_check(struct nlmsghdr *nlh, size_t buflen, uint16_t type,
			    uint64_t data);
bool mnl_attr_put_str_check(struct nlmsghdr *nlh, size_t buflen, uint16_t type,
			    const char *data);
bool mnl_attr_put_strz_check(struct nlmsghdr *nlh, size_t buflen, uint16_t type,
			     const char *data);

struct nlattr *mnl_attr_nest_start(struct nlmsghdr *nlh, uint16_t type);
struct nlattr *mnl_attr_nest_start_check(struct nlmsghdr *nlh, size_t buflen,
					 uint16_t type);
void mnl_attr_nest_end(struct nlmsghdr *nlh, struct nlattr *start);
void mnl_attr_nest_cancel(struct nlmsghdr *nlh, struct nlattr *start);

/* Values are part of the ABI: libnftnl.a was compiled against them. */
enum mnl_attr_data_type {
	MNL_TYPE_UNSPEC,
	MNL_TYPE_U8,
	MNL_TYPE_U16,
	MNL_TYPE_U32,
	MNL_TYPE_U64,
	MNL_TYPE_STRING,
	MNL_TYPE_FLAG,
	MNL_TYPE_MSECS,
	MNL_TYPE_NESTED,
	MNL_TYPE_NESTED_COMPAT,
	MNL_TYPE_NUL_STRING,
	MNL_TYPE_BINARY,
	MNL_TYPE_MAX,
};

int mnl_attr_type_valid(const struct nlattr *attr, uint16_t maxtype);
int mnl_attr_validate(const struct nlattr *attr, enum mnl_attr_data_type type);
int mnl_attr_validate2(const struct nlattr *attr, enum mnl_attr_data_type type,
		       size_t len);

bool mnl_attr_ok(const struct nlattr *attr, int len);
struct nlattr *mnl_attr_next(const struct nlattr *attr);

/* Iterate over the attributes of a message (after an extra header of
 * `offset` bytes), of a nested attribute, or of a bare attribute stream. */
#define mnl_attr_for_each(attr, nlh, offset)                                     \
	for ((attr) = (struct nlattr *)mnl_nlmsg_get_payload_offset((nlh), (offset)); \
	     mnl_attr_ok((attr), (int)((const char *)mnl_nlmsg_get_payload_tail(nlh) - \
				       (const char *)(attr)));                   \
	     (attr) = mnl_attr_next(attr))

#define mnl_attr_for_each_nested(attr, nest)                                     \
	for ((attr) = (struct nlattr *)mnl_attr_get_payload(nest);               \
	     mnl_attr_ok((attr), (int)((const char *)mnl_attr_get_payload(nest) + \
				       mnl_attr_get_payload_len(nest) -          \
				       (const char *)(attr)));                   \
	     (attr) = mnl_attr_next(attr))

#define mnl_attr_for_each_payload(payload, payload_size)                         \
	for ((attr) = (struct nlattr *)(payload);                                \
	     mnl_attr_ok((attr), (int)((const char *)(payload) + (payload_size) - \
				       (const char *)(attr)));                   \
	     (attr) = mnl_attr_next(attr))

/* ---- callbacks ------------------------------------------------------------ */

#define MNL_CB_ERROR -1
#define MNL_CB_STOP 0
#define MNL_CB_OK 1

typedef int (*mnl_attr_cb_t)(const struct nlattr *attr, void *data);

int mnl_attr_parse(const struct nlmsghdr *nlh, unsigned int offset,
		   mnl_attr_cb_t cb, void *data);
int mnl_attr_parse_nested(const struct nlattr *attr, mnl_attr_cb_t cb, void *data);
int mnl_attr_parse_payload(const void *payload, size_t payload_len,
			   mnl_attr_cb_t cb, void *data);

typedef int (*mnl_cb_t)(const struct nlmsghdr *nlh, void *data);

int mnl_cb_run(const void *buf, size_t numbytes, unsigned int seq,
	       unsigned int portid, mnl_cb_t cb_data, void *data);
int mnl_cb_run2(const void *buf, size_t numbytes, unsigned int seq,
		unsigned int portid, mnl_cb_t cb_data, void *data,
		const mnl_cb_t *cb_ctl_array, unsigned int cb_ctl_array_len);

/* ---- misc ----------------------------------------------------------------- */

#define MNL_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#ifdef __cplusplus
}
#endif

#endif
