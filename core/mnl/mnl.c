/* knode's libmnl-compatible netlink helpers; see libmnl/libmnl.h.
 *
 * Written from the netlink protocol (linux/netlink.h, netlink(7)) and the
 * documented libmnl API semantics. Errors follow libmnl: NULL or -1 with
 * errno set.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include <libmnl/libmnl.h>

/* ---- sockets ----------------------------------------------------------- */

struct mnl_socket {
	int fd;
	struct sockaddr_nl local; /* valid after bind/fdopen */
};

struct mnl_socket *mnl_socket_open2(int bus, int flags)
{
	struct mnl_socket *nl = calloc(1, sizeof(*nl));

	if (!nl)
		return NULL;
	nl->fd = socket(AF_NETLINK, SOCK_RAW | flags, bus);
	if (nl->fd < 0) {
		int saved = errno;

		free(nl);
		errno = saved;
		return NULL;
	}
	return nl;
}

/* Unlike libmnl, the descriptor is close-on-exec: no knode child needs it. */
struct mnl_socket *mnl_socket_open(int bus)
{
	return mnl_socket_open2(bus, SOCK_CLOEXEC);
}

static int read_local_addr(int fd, struct sockaddr_nl *ret_addr)
{
	struct sockaddr_nl addr;
	socklen_t len = sizeof(addr);

	memset(&addr, 0, sizeof(addr));
	if (getsockname(fd, (struct sockaddr *)&addr, &len) < 0)
		return -1;
	if (len != sizeof(addr) || addr.nl_family != AF_NETLINK) {
		errno = EINVAL;
		return -1;
	}
	*ret_addr = addr;
	return 0;
}

struct mnl_socket *mnl_socket_fdopen(int fd)
{
	struct sockaddr_nl addr;
	struct mnl_socket *nl;

	if (read_local_addr(fd, &addr) < 0)
		return NULL;
	nl = calloc(1, sizeof(*nl));
	if (!nl)
		return NULL;
	nl->fd = fd;
	nl->local = addr;
	return nl;
}

int mnl_socket_bind(struct mnl_socket *nl, unsigned int groups, pid_t pid)
{
	struct sockaddr_nl addr;

	memset(&addr, 0, sizeof(addr));
	addr.nl_family = AF_NETLINK;
	addr.nl_groups = groups;
	addr.nl_pid = (__u32)pid;
	if (bind(nl->fd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
		return -1;
	/* The kernel picks the port id when pid is MNL_SOCKET_AUTOPID. */
	return read_local_addr(nl->fd, &nl->local);
}

int mnl_socket_close(struct mnl_socket *nl)
{
	int r;

	if (!nl)
		return 0;
	r = close(nl->fd);
	free(nl);
	return r;
}

int mnl_socket_get_fd(const struct mnl_socket *nl)
{
	return nl->fd;
}

unsigned int mnl_socket_get_portid(const struct mnl_socket *nl)
{
	return nl->local.nl_pid;
}

ssize_t mnl_socket_sendto(const struct mnl_socket *nl, const void *req, size_t siz)
{
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };

	return sendto(nl->fd, req, siz, 0, (const struct sockaddr *)&kernel,
		      sizeof(kernel));
}

ssize_t mnl_socket_recvfrom(const struct mnl_socket *nl, void *buf, size_t siz)
{
	struct sockaddr_nl from;
	struct iovec iov = { .iov_base = buf, .iov_len = siz };
	struct msghdr msg = {
		.msg_name = &from,
		.msg_namelen = sizeof(from),
		.msg_iov = &iov,
		.msg_iovlen = 1,
	};
	ssize_t n;

	n = recvmsg(nl->fd, &msg, 0);
	if (n < 0)
		return n;
	if (msg.msg_flags & MSG_TRUNC) {
		errno = ENOSPC; /* buffer too small for the datagram */
		return -1;
	}
	if (msg.msg_namelen != sizeof(from)) {
		errno = EINVAL;
		return -1;
	}
	return n;
}

int mnl_socket_setsockopt(const struct mnl_socket *nl, int type, void *buf,
			  socklen_t len)
{
	return setsockopt(nl->fd, SOL_NETLINK, type, buf, len);
}

int mnl_socket_getsockopt(const struct mnl_socket *nl, int type, void *buf,
			  socklen_t *len)
{
	return getsockopt(nl->fd, SOL_NETLINK, type, buf, len);
}

/* ---- netlink messages ---------------------------------------------------- */

size_t mnl_nlmsg_size(size_t len)
{
	return MNL_NLMSG_HDRLEN + len;
}

size_t mnl_nlmsg_get_payload_len(const struct nlmsghdr *nlh)
{
	return nlh->nlmsg_len - MNL_NLMSG_HDRLEN;
}

struct nlmsghdr *mnl_nlmsg_put_header(void *buf)
{
	struct nlmsghdr *nlh = buf;

	memset(nlh, 0, MNL_NLMSG_HDRLEN);
	nlh->nlmsg_len = MNL_NLMSG_HDRLEN;
	return nlh;
}

void *mnl_nlmsg_put_extra_header(struct nlmsghdr *nlh, size_t size)
{
	char *hdr = (char *)nlh + nlh->nlmsg_len;
	size_t padded = MNL_ALIGN(size);

	memset(hdr, 0, padded);
	nlh->nlmsg_len += padded;
	return hdr;
}

void *mnl_nlmsg_get_payload(const struct nlmsghdr *nlh)
{
	return (char *)nlh + MNL_NLMSG_HDRLEN;
}

void *mnl_nlmsg_get_payload_offset(const struct nlmsghdr *nlh, size_t offset)
{
	return (char *)nlh + MNL_NLMSG_HDRLEN + MNL_ALIGN(offset);
}

void *mnl_nlmsg_get_payload_tail(const struct nlmsghdr *nlh)
{
	return (char *)nlh + MNL_ALIGN(nlh->nlmsg_len);
}

bool mnl_nlmsg_ok(const struct nlmsghdr *nlh, int len)
{
	if (len < (int)sizeof(struct nlmsghdr))
		return false;
	return nlh->nlmsg_len >= sizeof(struct nlmsghdr) &&
	       nlh->nlmsg_len <= (unsigned int)len;
}

struct nlmsghdr *mnl_nlmsg_next(const struct nlmsghdr *nlh, int *len)
{
	unsigned int step = MNL_ALIGN(nlh->nlmsg_len);

	*len -= (int)step;
	return (struct nlmsghdr *)((char *)nlh + step);
}

/* Zero on either side means "don't check" (e.g. kernel notifications). */
bool mnl_nlmsg_seq_ok(const struct nlmsghdr *nlh, unsigned int seq)
{
	return !nlh->nlmsg_seq || !seq || nlh->nlmsg_seq == seq;
}

bool mnl_nlmsg_portid_ok(const struct nlmsghdr *nlh, unsigned int portid)
{
	return !nlh->nlmsg_pid || !portid || nlh->nlmsg_pid == portid;
}

static void dump_words(FILE *f, const unsigned char *p, size_t len)
{
	for (size_t i = 0; i < len; i += 4) {
		fprintf(f, "  %04zx |", i);
		for (size_t j = i; j < i + 4 && j < len; j++)
			fprintf(f, " %02x", p[j]);
		fputc('\n', f);
	}
}

static void dump_attrs(FILE *f, const unsigned char *p, size_t len, int depth)
{
	const struct nlattr *a = (const struct nlattr *)p;

	while (mnl_attr_ok(a, (int)(p + len - (const unsigned char *)a))) {
		fprintf(f, "%*sattr type=%u len=%u%s%s\n", 2 + depth * 2, "",
			mnl_attr_get_type(a), a->nla_len,
			(a->nla_type & NLA_F_NESTED) ? " nested" : "",
			(a->nla_type & NLA_F_NET_BYTEORDER) ? " net-order" : "");
		if (a->nla_type & NLA_F_NESTED)
			dump_attrs(f, mnl_attr_get_payload(a), mnl_attr_get_payload_len(a),
				   depth + 1);
		else
			dump_words(f, mnl_attr_get_payload(a), mnl_attr_get_payload_len(a));
		a = mnl_attr_next(a);
	}
}

/* Debug dump of a buffer of netlink messages: header fields, the extra
 * header as raw words, then the attribute tree. */
void mnl_nlmsg_fprintf(FILE *fd, const void *data, size_t datalen,
		       size_t extra_header_size)
{
	const struct nlmsghdr *nlh = data;
	int len = (int)datalen;

	while (mnl_nlmsg_ok(nlh, len)) {
		size_t payload = mnl_nlmsg_get_payload_len(nlh);
		size_t extra = MNL_ALIGN(extra_header_size);

		fprintf(fd, "nlmsg len=%u type=%u flags=0x%04x seq=%u pid=%u\n",
			nlh->nlmsg_len, nlh->nlmsg_type, nlh->nlmsg_flags,
			nlh->nlmsg_seq, nlh->nlmsg_pid);
		if (nlh->nlmsg_type < NLMSG_MIN_TYPE || extra > payload) {
			dump_words(fd, mnl_nlmsg_get_payload(nlh), payload);
		} else {
			dump_words(fd, mnl_nlmsg_get_payload(nlh), extra);
			dump_attrs(fd, mnl_nlmsg_get_payload_offset(nlh, extra_header_size),
				   payload - extra, 0);
		}
		nlh = mnl_nlmsg_next(nlh, &len);
	}
}

/* ---- batches of messages ------------------------------------------------- */

/* A batch packs consecutive messages into one caller-owned buffer. The
 * buffer must have room beyond `limit` for one more message: the message
 * that crosses the limit is kept and moved to the front by _reset. */
struct mnl_nlmsg_batch {
	char *buf;
	size_t limit;
	size_t used;
	bool overflow;
};

struct mnl_nlmsg_batch *mnl_nlmsg_batch_start(void *buf, size_t limit)
{
	struct mnl_nlmsg_batch *b = calloc(1, sizeof(*b));

	if (!b)
		return NULL;
	b->buf = buf;
	b->limit = limit;
	return b;
}

void mnl_nlmsg_batch_stop(struct mnl_nlmsg_batch *b)
{
	free(b);
}

void *mnl_nlmsg_batch_current(struct mnl_nlmsg_batch *b)
{
	return b->buf + b->used;
}

bool mnl_nlmsg_batch_next(struct mnl_nlmsg_batch *b)
{
	const struct nlmsghdr *cur = mnl_nlmsg_batch_current(b);

	if (b->used + cur->nlmsg_len > b->limit) {
		b->overflow = true;
		return false;
	}
	b->used += cur->nlmsg_len;
	return true;
}

void mnl_nlmsg_batch_reset(struct mnl_nlmsg_batch *b)
{
	if (b->overflow) {
		const struct nlmsghdr *last = mnl_nlmsg_batch_current(b);
		size_t n = last->nlmsg_len;

		memmove(b->buf, last, n);
		b->used = n;
		b->overflow = false;
	} else {
		b->used = 0;
	}
}

size_t mnl_nlmsg_batch_size(struct mnl_nlmsg_batch *b)
{
	return b->used;
}

void *mnl_nlmsg_batch_head(struct mnl_nlmsg_batch *b)
{
	return b->buf;
}

bool mnl_nlmsg_batch_is_empty(struct mnl_nlmsg_batch *b)
{
	return b->used == 0;
}

/* ---- attributes ---------------------------------------------------------- */

uint16_t mnl_attr_get_type(const struct nlattr *attr)
{
	return attr->nla_type & NLA_TYPE_MASK;
}

uint16_t mnl_attr_get_len(const struct nlattr *attr)
{
	return attr->nla_len;
}

uint16_t mnl_attr_get_payload_len(const struct nlattr *attr)
{
	return (uint16_t)(attr->nla_len - MNL_ATTR_HDRLEN);
}

void *mnl_attr_get_payload(const struct nlattr *attr)
{
	return (char *)attr + MNL_ATTR_HDRLEN;
}

bool mnl_attr_ok(const struct nlattr *attr, int len)
{
	if (len < (int)sizeof(struct nlattr))
		return false;
	return attr->nla_len >= sizeof(struct nlattr) && attr->nla_len <= len;
}

struct nlattr *mnl_attr_next(const struct nlattr *attr)
{
	return (struct nlattr *)((char *)attr + MNL_ALIGN(attr->nla_len));
}

int mnl_attr_type_valid(const struct nlattr *attr, uint16_t maxtype)
{
	if (mnl_attr_get_type(attr) > maxtype) {
		errno = EOPNOTSUPP;
		return -1;
	}
	return 1;
}

/* Payload size each fixed-size type must have; 0: variable. */
static size_t fixed_len(enum mnl_attr_data_type type)
{
	switch (type) {
	case MNL_TYPE_U8:
		return sizeof(uint8_t);
	case MNL_TYPE_U16:
		return sizeof(uint16_t);
	case MNL_TYPE_U32:
		return sizeof(uint32_t);
	case MNL_TYPE_U64:
	case MNL_TYPE_MSECS:
		return sizeof(uint64_t);
	default:
		return 0;
	}
}

static int check_payload(const struct nlattr *attr, enum mnl_attr_data_type type,
			 size_t want)
{
	size_t have = mnl_attr_get_payload_len(attr);
	const char *p = mnl_attr_get_payload(attr);
	int err = 0;

	if (want && have != want)
		return -ERANGE; /* shorter or longer than the type's size */

	switch (type) {
	case MNL_TYPE_FLAG:
		if (have != 0)
			err = -ERANGE;
		break;
	case MNL_TYPE_STRING:
		if (have == 0)
			err = -ERANGE;
		break;
	case MNL_TYPE_NUL_STRING:
		if (have == 0)
			err = -ERANGE;
		else if (p[have - 1] != '\0')
			err = -EINVAL;
		break;
	case MNL_TYPE_NESTED:
		/* empty, or room for at least one attribute header */
		if (have != 0 && have < MNL_ATTR_HDRLEN)
			err = -ERANGE;
		break;
	default:
		break;
	}
	return err;
}

int mnl_attr_validate2(const struct nlattr *attr, enum mnl_attr_data_type type,
		       size_t len)
{
	int r;

	if ((unsigned int)type >= MNL_TYPE_MAX) {
		errno = EINVAL;
		return -1;
	}
	r = check_payload(attr, type, len);
	if (r < 0) {
		errno = -r;
		return -1;
	}
	return 0;
}

int mnl_attr_validate(const struct nlattr *attr, enum mnl_attr_data_type type)
{
	if ((unsigned int)type >= MNL_TYPE_MAX) {
		errno = EINVAL;
		return -1;
	}
	return mnl_attr_validate2(attr, type, fixed_len(type));
}

int mnl_attr_parse_payload(const void *payload, size_t payload_len,
			   mnl_attr_cb_t cb, void *data)
{
	const char *end = (const char *)payload + payload_len;
	const struct nlattr *a = payload;

	while (mnl_attr_ok(a, (int)(end - (const char *)a))) {
		int r = cb(a, data);

		if (r <= MNL_CB_STOP)
			return r;
		a = mnl_attr_next(a);
	}
	return MNL_CB_OK;
}

int mnl_attr_parse(const struct nlmsghdr *nlh, unsigned int offset,
		   mnl_attr_cb_t cb, void *data)
{
	const char *start = mnl_nlmsg_get_payload_offset(nlh, offset);
	const char *end = mnl_nlmsg_get_payload_tail(nlh);

	if (start >= end)
		return MNL_CB_OK;
	return mnl_attr_parse_payload(start, (size_t)(end - start), cb, data);
}

int mnl_attr_parse_nested(const struct nlattr *attr, mnl_attr_cb_t cb, void *data)
{
	return mnl_attr_parse_payload(mnl_attr_get_payload(attr),
				      mnl_attr_get_payload_len(attr), cb, data);
}

uint8_t mnl_attr_get_u8(const struct nlattr *attr)
{
	return *(const uint8_t *)mnl_attr_get_payload(attr);
}

uint16_t mnl_attr_get_u16(const struct nlattr *attr)
{
	uint16_t v;

	memcpy(&v, mnl_attr_get_payload(attr), sizeof(v));
	return v;
}

uint32_t mnl_attr_get_u32(const struct nlattr *attr)
{
	uint32_t v;

	memcpy(&v, mnl_attr_get_payload(attr), sizeof(v));
	return v;
}

/* Attribute payloads are only 4-byte aligned. */
uint64_t mnl_attr_get_u64(const struct nlattr *attr)
{
	uint64_t v;

	memcpy(&v, mnl_attr_get_payload(attr), sizeof(v));
	return v;
}

const char *mnl_attr_get_str(const struct nlattr *attr)
{
	return mnl_attr_get_payload(attr);
}

void mnl_attr_put(struct nlmsghdr *nlh, uint16_t type, size_t len, const void *data)
{
	struct nlattr *a = mnl_nlmsg_get_payload_tail(nlh);
	size_t total = MNL_ATTR_HDRLEN + len;
	size_t padded = MNL_ALIGN(total);

	a->nla_type = type;
	a->nla_len = (uint16_t)total;
	if (len)
		memcpy(mnl_attr_get_payload(a), data, len);
	memset((char *)a + total, 0, padded - total);
	nlh->nlmsg_len += (uint32_t)padded;
}

void mnl_attr_put_u8(struct nlmsghdr *nlh, uint16_t type, uint8_t data)
{
	mnl_attr_put(nlh, type, sizeof(data), &data);
}

void mnl_attr_put_u16(struct nlmsghdr *nlh, uint16_t type, uint16_t data)
{
	mnl_attr_put(nlh, type, sizeof(data), &data);
}

void mnl_attr_put_u32(struct nlmsghdr *nlh, uint16_t type, uint32_t data)
{
	mnl_attr_put(nlh, type, sizeof(data), &data);
}

void mnl_attr_put_u64(struct nlmsghdr *nlh, uint16_t type, uint64_t data)
{
	mnl_attr_put(nlh, type, sizeof(data), &data);
}

void mnl_attr_put_str(struct nlmsghdr *nlh, uint16_t type, const char *data)
{
	mnl_attr_put(nlh, type, strlen(data), data);
}

void mnl_attr_put_strz(struct nlmsghdr *nlh, uint16_t type, const char *data)
{
	mnl_attr_put(nlh, type, strlen(data) + 1, data);
}

static bool attr_fits(const struct nlmsghdr *nlh, size_t buflen, size_t len)
{
	return nlh->nlmsg_len + MNL_ATTR_HDRLEN + MNL_ALIGN(len) <= buflen;
}

bool mnl_attr_put_check(struct nlmsghdr *nlh, size_t buflen, uint16_t type,
			size_t len, const void *data)
{
	if (!attr_fits(nlh, buflen, len))
		return false;
	mnl_attr_put(nlh, type, len, data);
	return true;
}

bool mnl_attr_put_u8_check(struct nlmsghdr *nlh, size_t buflen, uint16_t type,
			   uint8_t data)
{
	return mnl_attr_put_check(nlh, buflen, type, sizeof(data), &data);
}

bool mnl_attr_put_u16_check(struct nlmsghdr *nlh, size_t buflen, uint16_t type,
			    uint16_t data)
{
	return mnl_attr_put_check(nlh, buflen, type, sizeof(data), &data);
}

bool mnl_attr_put_u32_check(struct nlmsghdr *nlh, size_t buflen, uint16_t type,
			    uint32_t data)
{
	return mnl_attr_put_check(nlh, buflen, type, sizeof(data), &data);
}

bool mnl_attr_put_u64_check(struct nlmsghdr *nlh, size_t buflen, uint16_t type,
			    uint64_t data)
{
	return mnl_attr_put_check(nlh, buflen, type, sizeof(data), &data);
}

bool mnl_attr_put_str_check(struct nlmsghdr *nlh, size_t buflen, uint16_t type,
			    const char *data)
{
	return mnl_attr_put_check(nlh, buflen, type, strlen(data), data);
}

bool mnl_attr_put_strz_check(struct nlmsghdr *nlh, size_t buflen, uint16_t type,
			     const char *data)
{
	return mnl_attr_put_check(nlh, buflen, type, strlen(data) + 1, data);
}

/* A nest is an attribute header whose length is filled in by _nest_end,
 * once everything inside it has been appended. */
struct nlattr *mnl_attr_nest_start(struct nlmsghdr *nlh, uint16_t type)
{
	struct nlattr *start = mnl_nlmsg_get_payload_tail(nlh);

	start->nla_type = NLA_F_NESTED | type;
	start->nla_len = MNL_ATTR_HDRLEN;
	nlh->nlmsg_len += MNL_ATTR_HDRLEN;
	return start;
}

struct nlattr *mnl_attr_nest_start_check(struct nlmsghdr *nlh, size_t buflen,
					 uint16_t type)
{
	if (!attr_fits(nlh, buflen, 0))
		return NULL;
	return mnl_attr_nest_start(nlh, type);
}

void mnl_attr_nest_end(struct nlmsghdr *nlh, struct nlattr *start)
{
	char *tail = mnl_nlmsg_get_payload_tail(nlh);

	start->nla_len = (uint16_t)(tail - (char *)start);
}

void mnl_attr_nest_cancel(struct nlmsghdr *nlh, struct nlattr *start)
{
	char *tail = mnl_nlmsg_get_payload_tail(nlh);

	nlh->nlmsg_len -= (uint32_t)(tail - (char *)start);
}

/* ---- callbacks ------------------------------------------------------------ */

/* Default handling of control messages (type < NLMSG_MIN_TYPE). */
static int ctl_default(const struct nlmsghdr *nlh)
{
	const struct nlmsgerr *err;

	switch (nlh->nlmsg_type) {
	case NLMSG_ERROR:
		if (mnl_nlmsg_get_payload_len(nlh) < sizeof(*err)) {
			errno = EBADMSG;
			return MNL_CB_ERROR;
		}
		err = mnl_nlmsg_get_payload(nlh);
		if (err->error == 0)
			return MNL_CB_STOP; /* an ack */
		errno = err->error < 0 ? -err->error : err->error;
		return MNL_CB_ERROR;
	case NLMSG_DONE:
		return MNL_CB_STOP;
	case NLMSG_NOOP:
	case NLMSG_OVERRUN:
	default:
		return MNL_CB_OK;
	}
}

int mnl_cb_run2(const void *buf, size_t numbytes, unsigned int seq,
		unsigned int portid, mnl_cb_t cb_data, void *data,
		const mnl_cb_t *cb_ctl_array, unsigned int cb_ctl_array_len)
{
	const struct nlmsghdr *nlh = buf;
	int len = (int)numbytes;
	int r = MNL_CB_OK;

	while (mnl_nlmsg_ok(nlh, len)) {
		if (!mnl_nlmsg_portid_ok(nlh, portid)) {
			errno = ESRCH;
			return MNL_CB_ERROR;
		}
		if (!mnl_nlmsg_seq_ok(nlh, seq)) {
			errno = EPROTO;
			return MNL_CB_ERROR;
		}
		/* The dump changed while being read: the caller must retry. */
		if (nlh->nlmsg_flags & NLM_F_DUMP_INTR) {
			errno = EINTR;
			return MNL_CB_ERROR;
		}

		if (nlh->nlmsg_type >= NLMSG_MIN_TYPE)
			r = cb_data ? cb_data(nlh, data) : MNL_CB_OK;
		else if (cb_ctl_array && nlh->nlmsg_type < cb_ctl_array_len &&
			 cb_ctl_array[nlh->nlmsg_type])
			r = cb_ctl_array[nlh->nlmsg_type](nlh, data);
		else
			r = ctl_default(nlh);
		if (r <= MNL_CB_STOP)
			return r;

		nlh = mnl_nlmsg_next(nlh, &len);
	}
	return r;
}

int mnl_cb_run(const void *buf, size_t numbytes, unsigned int seq,
	       unsigned int portid, mnl_cb_t cb_data, void *data)
{
	return mnl_cb_run2(buf, numbytes, seq, portid, cb_data, data, NULL, 0);
}
