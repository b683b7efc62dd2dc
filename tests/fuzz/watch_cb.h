/* SPDX-License-Identifier: Apache-2.0 */
/* The watch-event callback the fuzz targets share: it reads what knode reads of an
 * event (key, resourceVersion; an ERROR's Status) and frees it. */
#ifndef KN_FUZZ_WATCH_CB_H
#define KN_FUZZ_WATCH_CB_H

#include "api.h"
#include "watch.h"

static int cb(enum kn_watch_type t, cJSON *obj, void *u)
{
        char *k = kn_obj_key(obj);
        (void)u;
        if (t == KN_WATCH_ERROR) {
                char *s = cJSON_PrintUnformatted(obj);
                kn_api_error e;
                kn_api_decode_status(0, s, s ? strlen(s) : 0, &e);
                free(s);
        }
        kn_obj_str(obj, "metadata.resourceVersion");
        free(k);
        cJSON_Delete(obj);
        return 0;
}

#endif
