/* safetensors writer: JSON header built with cJSON (names escaped properly), padded with spaces
 * to a multiple of 8 so the data section stays aligned, data streamed to a temp file that is
 * renamed over path at the end (no partial file under the final name). */
#include "hf/safetensors_write.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "base/checked.h"
#include "base/error.h"

static slm_status tensor_nbytes(const st_write_tensor *t, uint64_t *out, slm_error *err) {
    size_t es = st_dtype_size(t->type);
    if (!es) return slm_fail(err, SLM_E_INVALID_ARG, "tensor '%s': bad dtype", t->name);
    if (t->n_dims < 0 || t->n_dims > ST_MAX_DIMS)
        return slm_fail(err, SLM_E_INVALID_ARG, "tensor '%s': rank %d", t->name, t->n_dims);
    uint64_t n = es;
    for (int d = 0; d < t->n_dims; d++) {
        if (t->shape[d] < 0 || !ck_mul_u64(n, (uint64_t)t->shape[d], &n))
            return slm_fail(err, SLM_E_INVALID_ARG, "tensor '%s': bad shape", t->name);
    }
    *out = n;
    return SLM_OK;
}

/* Header JSON text (malloc'd, caller frees) for the given tensors packed in order. */
static slm_status build_header(const st_write_tensor *tensors, size_t n, const char *const *meta_kv,
                               size_t n_meta, char **out, slm_error *err) {
    cJSON *root = cJSON_CreateObject();
    if (!root) return slm_fail(err, SLM_E_NOMEM, "out of memory");
    slm_status s = SLM_OK;
    if (n_meta) {
        cJSON *m = cJSON_AddObjectToObject(root, "__metadata__");
        for (size_t i = 0; m && i < n_meta; i++)
            if (!cJSON_AddStringToObject(m, meta_kv[2 * i], meta_kv[2 * i + 1])) m = NULL;
        if (!m) {
            s = slm_fail(err, SLM_E_NOMEM, "out of memory");
            goto done;
        }
    }
    uint64_t off = 0;
    for (size_t i = 0; i < n; i++) {
        const st_write_tensor *t = &tensors[i];
        uint64_t nb;
        if ((s = tensor_nbytes(t, &nb, err)) != SLM_OK) goto done;
        if (!strcmp(t->name, "__metadata__")) {
            s = slm_fail(err, SLM_E_INVALID_ARG, "'__metadata__' is not a valid tensor name");
            goto done;
        }
        cJSON *e = cJSON_AddObjectToObject(root, t->name);
        cJSON *shape = e ? cJSON_AddArrayToObject(e, "shape") : NULL;
        cJSON *offs = e ? cJSON_AddArrayToObject(e, "data_offsets") : NULL;
        if (!e || !shape || !offs || !cJSON_AddStringToObject(e, "dtype", st_dtype_name(t->type))) {
            s = slm_fail(err, SLM_E_NOMEM, "out of memory");
            goto done;
        }
        for (int d = 0; d < t->n_dims; d++) cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)t->shape[d]));
        cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)off));
        if (!ck_add_u64(off, nb, &off)) {
            s = slm_fail(err, SLM_E_INVALID_ARG, "total size overflows");
            goto done;
        }
        cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)off));
    }
    *out = cJSON_PrintUnformatted(root);
    if (!*out) s = slm_fail(err, SLM_E_NOMEM, "out of memory");
done:
    cJSON_Delete(root);
    return s;
}

slm_status st_write_file(const char *path, const st_write_tensor *tensors, size_t n,
                         const char *const *meta_kv, size_t n_meta, slm_error *err) {
    char *hdr = NULL;
    slm_status s = build_header(tensors, n, meta_kv, n_meta, &hdr, err);
    if (s != SLM_OK) return s;
    size_t hlen = strlen(hdr);
    size_t padded = (hlen + 7) & ~(size_t)7;

    size_t plen = strlen(path);
    char *tmp = malloc(plen + 8);
    if (!tmp) {
        free(hdr);
        return slm_fail(err, SLM_E_NOMEM, "out of memory");
    }
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmp", 5);
    FILE *fp = fopen(tmp, "wb");
    if (!fp) {
        s = slm_fail(err, SLM_E_IO, "cannot create '%s': %s", tmp, strerror(errno));
        free(hdr);
        free(tmp);
        return s;
    }
    uint8_t len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (uint8_t)((uint64_t)padded >> (8 * i));
    int ok = fwrite(len8, 1, 8, fp) == 8 && fwrite(hdr, 1, hlen, fp) == hlen;
    for (size_t i = hlen; ok && i < padded; i++) ok = fputc(' ', fp) != EOF;
    for (size_t i = 0; ok && i < n; i++) {
        uint64_t nb = 0;
        tensor_nbytes(&tensors[i], &nb, NULL); /* validated by build_header */
        if (nb) ok = fwrite(tensors[i].data, 1, (size_t)nb, fp) == nb;
    }
    if (fclose(fp) != 0) ok = 0;
    free(hdr);
    if (!ok) {
        s = slm_fail(err, SLM_E_IO, "cannot write '%s': %s", tmp, strerror(errno));
        remove(tmp);
    } else if (rename(tmp, path) != 0) {
        s = slm_fail(err, SLM_E_IO, "cannot rename '%s' to '%s': %s", tmp, path, strerror(errno));
        remove(tmp);
    }
    free(tmp);
    return s;
}
