/* Parsing the Hub's repo file listing. Kept apart from the HTTP code so it can be fuzzed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "store/store_internal.h"

/* Remote paths end up in URLs (never in local paths: blobs are named by digest), but keep them
 * boring anyway: no absolute paths, no "..", no characters that would need URL escaping. */
static bool remote_path_ok(const char *p) {
    if (!*p || strlen(p) >= 512 || p[0] == '/' || strstr(p, "..")) return false;
    for (const char *q = p; *q; q++) {
        char ch = *q;
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '.' ||
              ch == '_' || ch == '-' || ch == '/' || ch == '+'))
            return false;
    }
    return true;
}

void store_copy_sha(char out[65], const char *v) {
    out[0] = 0;
    if (!strncmp(v, "sha256:", 7)) v += 7;
    if (store_hex_ok(v)) memcpy(out, v, 65);
}

/* JSON numbers are doubles: accept exact non-negative integers below 2^53. */
static bool size_of(const cJSON *n, uint64_t *out) {
    if (!cJSON_IsNumber(n) || !(n->valuedouble >= 0) || n->valuedouble >= 9007199254740992.0) return false;
    *out = (uint64_t)n->valuedouble;
    return (double)*out == n->valuedouble;
}

slm_status store_parse_listing(const char *json, size_t len, hub_file **out, size_t *n_out, slm_error *err) {
    *out = NULL;
    *n_out = 0;
    cJSON *j = cJSON_ParseWithLength(json, len);
    if (!cJSON_IsArray(j)) {
        cJSON_Delete(j);
        return slm_fail(err, SLM_E_FORMAT, "the file listing is not a JSON array");
    }
    size_t n = (size_t)cJSON_GetArraySize(j), k = 0;
    hub_file *v = calloc(n ? n : 1, sizeof *v);
    if (!v) {
        cJSON_Delete(j);
        return slm_fail(err, SLM_E_NOMEM, "out of memory for a listing of %zu files", n);
    }
    const cJSON *it;
    cJSON_ArrayForEach(it, j) {
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(it, "type");
        const cJSON *path = cJSON_GetObjectItemCaseSensitive(it, "path");
        const cJSON *lfs = cJSON_GetObjectItemCaseSensitive(it, "lfs");
        if (!cJSON_IsString(type) || strcmp(type->valuestring, "file") || !cJSON_IsString(path) ||
            !remote_path_ok(path->valuestring))
            continue;
        hub_file *f = &v[k];
        snprintf(f->path, sizeof f->path, "%s", path->valuestring);
        size_of(cJSON_GetObjectItemCaseSensitive(it, "size"), &f->size);
        if (cJSON_IsObject(lfs)) {
            const cJSON *oid = cJSON_GetObjectItemCaseSensitive(lfs, "oid");
            const cJSON *sha = cJSON_GetObjectItemCaseSensitive(lfs, "sha256");
            if (cJSON_IsString(oid)) store_copy_sha(f->sha, oid->valuestring);
            if (!f->sha[0] && cJSON_IsString(sha)) store_copy_sha(f->sha, sha->valuestring);
            size_of(cJSON_GetObjectItemCaseSensitive(lfs, "size"), &f->size);
        }
        k++;
    }
    cJSON_Delete(j);
    *out = v;
    *n_out = k;
    return SLM_OK;
}
