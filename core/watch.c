/* SPDX-License-Identifier: Apache-2.0 */
#include "watch.h"

#include <stdio.h>

#include "kpb.h"

void kn_watch_decoder_init(kn_watch_decoder *d, size_t max_event, kn_watch_event_cb cb, void *userdata)
{
        *d = (kn_watch_decoder){0};
        d->max_event = max_event ? max_event : KN_WATCH_MAX_EVENT_DEFAULT;
        d->line.max = d->max_event;
        d->cb = cb;
        d->userdata = userdata;
}

void kn_watch_decoder_set_format(kn_watch_decoder *d, enum kn_watch_format format) { d->format = format; }

/* Hand one decoded {"type", "object"} event to the callback. Takes EV. */
static int deliver(kn_watch_decoder *d, cJSON *ev)
{
        static const char *const names[] = {"ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR"};
        cJSON *obj;
        const cJSON *type;
        int t = -1, r;

        type = cJSON_GetObjectItemCaseSensitive(ev, "type");
        for (size_t i = 0; cJSON_IsString(type) && i < KN_ARRAY_SIZE(names); i++)
                if (strcmp(type->valuestring, names[i]) == 0)
                        t = (int)i;
        obj = cJSON_DetachItemFromObjectCaseSensitive(ev, "object");
        cJSON_Delete(ev);
        if (t < 0 || !cJSON_IsObject(obj)) {
                snprintf(d->error, sizeof(d->error), "malformed watch event (%s)",
                         t < 0 ? "unknown or missing type" : "missing object");
                cJSON_Delete(obj);
                return -EBADMSG;
        }
        r = d->cb((enum kn_watch_type)t, obj, d->userdata);
        if (r < 0)
                snprintf(d->error, sizeof(d->error), "event handler failed: %s", strerror(-r));
        return r;
}

static int decode_line(kn_watch_decoder *d, const char *p, size_t n)
{
        cJSON *ev;

        while (n && (p[n - 1] == '\r' || p[n - 1] == ' ' || p[n - 1] == '\t'))
                n--;
        if (n == 0)
                return 0; /* blank lines are keep-alives */
        ev = cJSON_ParseWithLength(p, n);
        if (!cJSON_IsObject(ev)) {
                snprintf(d->error, sizeof(d->error), "malformed watch event (not a JSON object)");
                cJSON_Delete(ev);
                return -EBADMSG;
        }
        return deliver(d, ev);
}

static int decode_frame(kn_watch_decoder *d, const char *p, size_t n)
{
        cJSON *ev = NULL;
        kn_error err;
        int r = kn_kpb_decode_watch_event(p, n, &ev, &err);

        if (r < 0) {
                snprintf(d->error, sizeof(d->error), "malformed watch event (%.200s)", err.msg);
                return r == -E2BIG || r == -ELOOP ? -EBADMSG : r;
        }
        return deliver(d, ev);
}

/* Protobuf: frames of a 4-byte big-endian length and that many bytes of WatchEvent. */
static int feed_frames(kn_watch_decoder *d, const char *data, size_t len)
{
        while (len) {
                size_t want, n;
                int r;

                if (d->hdr_len < 4) {
                        n = 4 - d->hdr_len < len ? 4 - d->hdr_len : len;
                        memcpy(d->hdr + d->hdr_len, data, n);
                        d->hdr_len += (unsigned)n;
                        data += n, len -= n;
                        if (d->hdr_len < 4)
                                return 0;
                }
                want = (size_t)d->hdr[0] << 24 | (size_t)d->hdr[1] << 16 | (size_t)d->hdr[2] << 8 | d->hdr[3];
                if (want > d->max_event) {
                        snprintf(d->error, sizeof(d->error), "watch event larger than %zu bytes", d->max_event);
                        d->hdr_len = 0;
                        d->line.len = 0;
                        return -EFBIG;
                }
                if (d->line.len == 0 && len >= want) {
                        /* Fast path: a whole frame in the input buffer. */
                        r = decode_frame(d, data, want);
                        data += want, len -= want;
                } else {
                        n = want - d->line.len < len ? want - d->line.len : len;
                        if (kn_buf_append(&d->line, data, n) < 0)
                                return -EFBIG; /* cannot happen: want <= max */
                        data += n, len -= n;
                        if (d->line.len < want)
                                return 0;
                        r = decode_frame(d, d->line.data, d->line.len);
                        d->line.len = 0;
                }
                d->hdr_len = 0;
                if (r < 0)
                        return r;
        }
        return 0;
}

int kn_watch_decoder_feed(kn_watch_decoder *d, const char *data, size_t len)
{
        if (d->format == KN_WATCH_PROTOBUF)
                return feed_frames(d, data, len);
        while (len) {
                const char *nl = memchr(data, '\n', len);
                size_t n = nl ? (size_t)(nl - data) : len;
                int r;

                if (nl && d->line.len == 0) {
                        /* Fast path: a whole line in the input buffer. */
                        if (n > d->max_event)
                                goto toobig;
                        r = decode_line(d, data, n);
                } else {
                        if (kn_buf_append(&d->line, data, n) < 0)
                                goto toobig;
                        if (!nl)
                                return 0;
                        r = decode_line(d, d->line.data, d->line.len);
                        d->line.len = 0;
                }
                if (r < 0)
                        return r;
                data += n + 1;
                len -= n + 1;
        }
        return 0;
toobig:
        snprintf(d->error, sizeof(d->error), "watch event larger than %zu bytes", d->max_event);
        d->line.len = 0;
        return -EFBIG;
}

size_t kn_watch_decoder_pending(const kn_watch_decoder *d) { return d->line.len + d->hdr_len; }

void kn_watch_decoder_reset(kn_watch_decoder *d)
{
        d->line.len = 0;
        d->hdr_len = 0;
        d->error[0] = '\0';
}

void kn_watch_decoder_free(kn_watch_decoder *d) { kn_buf_free(&d->line); }

const char *kn_obj_str(const cJSON *obj, const char *path)
{
        obj = kn_json_path(obj, path);
        return cJSON_IsString(obj) ? obj->valuestring : NULL;
}

char *kn_obj_key(const cJSON *obj)
{
        const char *ns = kn_obj_str(obj, "metadata.namespace"), *name = kn_obj_str(obj, "metadata.name");

        if (!name || !*name)
                return NULL;
        return ns && *ns ? kn_asprintf("%s/%s", ns, name) : kn_strdup(name);
}
