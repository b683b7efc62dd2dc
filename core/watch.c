/* SPDX-License-Identifier: Apache-2.0 */
#include "watch.h"

#include <stdio.h>

void kn_watch_decoder_init(kn_watch_decoder *d, size_t max_event, kn_watch_event_cb cb, void *userdata)
{
        *d = (kn_watch_decoder){0};
        d->max_event = max_event ? max_event : KN_WATCH_MAX_EVENT_DEFAULT;
        d->line.max = d->max_event;
        d->cb = cb;
        d->userdata = userdata;
}

static int decode_line(kn_watch_decoder *d, const char *p, size_t n)
{
        static const char *const names[] = {"ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR"};
        cJSON *ev, *obj;
        const cJSON *type;
        int t = -1, r;

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

int kn_watch_decoder_feed(kn_watch_decoder *d, const char *data, size_t len)
{
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

size_t kn_watch_decoder_pending(const kn_watch_decoder *d) { return d->line.len; }

void kn_watch_decoder_reset(kn_watch_decoder *d)
{
        d->line.len = 0;
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
