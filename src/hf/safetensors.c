/* safetensors reader: bounded header parse, per-entry validation, zero-copy tensor views.
 * Format: u64 LE header length N | N bytes JSON object | data section. Offsets in the header are
 * relative to the data section, which starts at byte 8 + N. */
#include "hf/safetensors.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "base/checked.h"
#include "base/dtype.h"
#include "base/error.h"

struct st_file {
    slm_mapped_file map; /* empty when opened from memory */
    const uint8_t *base; /* whole file bytes */
    uint64_t size;
    uint64_t data_start; /* 8 + header length */
    char *path;
    st_tensor *tensors; /* sorted by data offset */
    size_t n_tensors;
    const st_tensor **by_name; /* into tensors, sorted by name */
    st_metadata_kv *meta;
    size_t n_meta;
};

/* ---- dtype table ---- */

static const struct {
    const char *name;
    size_t size;
    int slm;
} st_dtypes[ST_DTYPE_COUNT] = {
    [ST_F32] = {"F32", 4, SLM_DT_F32},
    [ST_F16] = {"F16", 2, SLM_DT_F16},
    [ST_BF16] = {"BF16", 2, SLM_DT_BF16},
    [ST_F64] = {"F64", 8, ST_NO_SLM_DTYPE},
    [ST_I64] = {"I64", 8, ST_NO_SLM_DTYPE},
    [ST_I32] = {"I32", 4, ST_NO_SLM_DTYPE},
    [ST_I16] = {"I16", 2, ST_NO_SLM_DTYPE},
    [ST_I8] = {"I8", 1, ST_NO_SLM_DTYPE},
    [ST_U8] = {"U8", 1, ST_NO_SLM_DTYPE},
    [ST_BOOL] = {"BOOL", 1, ST_NO_SLM_DTYPE},
    [ST_F8_E4M3] = {"F8_E4M3", 1, ST_NO_SLM_DTYPE},
    [ST_F8_E5M2] = {"F8_E5M2", 1, ST_NO_SLM_DTYPE},
};

const char *st_dtype_name(st_dtype t) {
    return (unsigned)t < ST_DTYPE_COUNT ? st_dtypes[t].name : NULL;
}

size_t st_dtype_size(st_dtype t) {
    return (unsigned)t < ST_DTYPE_COUNT ? st_dtypes[t].size : 0;
}

int st_dtype_from_name(const char *s, st_dtype *out) {
    for (int i = 0; i < ST_DTYPE_COUNT; i++) {
        if (!strcmp(s, st_dtypes[i].name)) {
            *out = (st_dtype)i;
            return 1;
        }
    }
    return 0;
}

/* ---- helpers ---- */

/* A JSON number that is a non-negative integer exactly representable in a double (< 2^53). */
static int json_get_u64(const cJSON *v, uint64_t *out) {
    if (!cJSON_IsNumber(v)) return 0;
    double d = v->valuedouble;
    if (!(d >= 0.0) || d > 9007199254740992.0 || floor(d) != d) return 0;
    *out = (uint64_t)d;
    return 1;
}

static int cmp_by_offset(const void *a, const void *b) {
    const st_tensor *x = a, *y = b;
    if (x->offset != y->offset) return x->offset < y->offset ? -1 : 1;
    if (x->nbytes != y->nbytes) return x->nbytes < y->nbytes ? -1 : 1;
    return strcmp(x->name, y->name);
}

static int cmp_by_name(const void *a, const void *b) {
    const st_tensor *const *x = a, *const *y = b;
    return strcmp((*x)->name, (*y)->name);
}

/* Names can be arbitrary bytes from the file: print at most 80 of them. */
#define NAMEFMT "'%.80s'"

/* Parse one tensor entry {"dtype", "shape", "data_offsets"} into t. */
static slm_status parse_entry(const cJSON *e, uint64_t data_size, st_tensor *t, slm_error *err) {
    const char *nm = e->string;
    if (!cJSON_IsObject(e)) return slm_fail(err, SLM_E_FORMAT, "tensor " NAMEFMT ": entry is not an object", nm);
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(e, "dtype");
    const cJSON *sh = cJSON_GetObjectItemCaseSensitive(e, "shape");
    const cJSON *off = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
    if (!cJSON_IsString(dt)) return slm_fail(err, SLM_E_FORMAT, "tensor " NAMEFMT ": missing string \"dtype\"", nm);
    if (!cJSON_IsArray(sh)) return slm_fail(err, SLM_E_FORMAT, "tensor " NAMEFMT ": missing array \"shape\"", nm);
    if (!cJSON_IsArray(off) || cJSON_GetArraySize(off) != 2)
        return slm_fail(err, SLM_E_FORMAT, "tensor " NAMEFMT ": \"data_offsets\" must be [begin, end]", nm);

    if (!st_dtype_from_name(dt->valuestring, &t->st_type))
        return slm_fail(err, SLM_E_FORMAT, "tensor " NAMEFMT ": unknown dtype '%.32s'", nm, dt->valuestring);
    t->slm_type = st_dtypes[t->st_type].slm;

    int rank = cJSON_GetArraySize(sh);
    if (rank > ST_MAX_DIMS)
        return slm_fail(err, SLM_E_UNSUPPORTED, "tensor " NAMEFMT ": rank %d > %d is not supported", nm, rank,
                        ST_MAX_DIMS);
    t->n_dims = rank;
    uint64_t n = 1;
    int i = 0;
    const cJSON *d;
    cJSON_ArrayForEach(d, sh) {
        uint64_t v;
        if (!json_get_u64(d, &v) || v > (uint64_t)INT64_MAX)
            return slm_fail(err, SLM_E_FORMAT, "tensor " NAMEFMT ": shape[%d] is not a non-negative integer", nm, i);
        if (!ck_mul_u64(n, v, &n))
            return slm_fail(err, SLM_E_FORMAT, "tensor " NAMEFMT ": element count overflows", nm);
        t->shape[i++] = (int64_t)v;
    }
    for (; i < ST_MAX_DIMS; i++) t->shape[i] = 1;
    t->n_elements = n;
    uint64_t nbytes;
    if (!ck_mul_u64(n, st_dtypes[t->st_type].size, &nbytes))
        return slm_fail(err, SLM_E_FORMAT, "tensor " NAMEFMT ": byte size overflows", nm);

    uint64_t begin, end;
    if (!json_get_u64(cJSON_GetArrayItem(off, 0), &begin) || !json_get_u64(cJSON_GetArrayItem(off, 1), &end))
        return slm_fail(err, SLM_E_FORMAT, "tensor " NAMEFMT ": data_offsets are not non-negative integers", nm);
    if (end < begin) return slm_fail(err, SLM_E_FORMAT, "tensor " NAMEFMT ": data_offsets end < begin", nm);
    if (end > data_size)
        return slm_fail(err, SLM_E_FORMAT,
                        "tensor " NAMEFMT ": data_offsets end %llu is past the data section (%llu bytes)", nm,
                        (unsigned long long)end, (unsigned long long)data_size);
    if (end - begin != nbytes)
        return slm_fail(err, SLM_E_FORMAT, "tensor " NAMEFMT ": %llu bytes in data_offsets but shape x %s needs %llu",
                        nm, (unsigned long long)(end - begin), st_dtypes[t->st_type].name,
                        (unsigned long long)nbytes);
    t->offset = begin; /* made absolute by the caller */
    t->nbytes = nbytes;
    return SLM_OK;
}

static slm_status parse_metadata(st_file *f, const cJSON *m, slm_error *err) {
    if (!cJSON_IsObject(m)) return slm_fail(err, SLM_E_FORMAT, "__metadata__ is not an object");
    int n = cJSON_GetArraySize(m);
    if (n == 0) return SLM_OK;
    f->meta = calloc((size_t)n, sizeof *f->meta);
    if (!f->meta) return slm_fail(err, SLM_E_NOMEM, "out of memory");
    const cJSON *kv;
    cJSON_ArrayForEach(kv, m) {
        if (!cJSON_IsString(kv))
            return slm_fail(err, SLM_E_FORMAT, "__metadata__ value of " NAMEFMT " is not a string", kv->string);
        st_metadata_kv *o = &f->meta[f->n_meta++];
        o->key = strdup(kv->string);
        o->value = strdup(kv->valuestring);
        if (!o->key || !o->value) return slm_fail(err, SLM_E_NOMEM, "out of memory");
    }
    return SLM_OK;
}

/* Parse the header of f->base[0..f->size). */
static slm_status parse_file(st_file *f, slm_error *err) {
    if (f->size < 8) return slm_fail(err, SLM_E_FORMAT, "file is %llu bytes, too small for a safetensors header",
                                     (unsigned long long)f->size);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | f->base[i];
    if (hlen > ST_MAX_HEADER_BYTES)
        return slm_fail(err, SLM_E_FORMAT, "header length %llu exceeds the %u-byte limit",
                        (unsigned long long)hlen, ST_MAX_HEADER_BYTES);
    if (hlen > f->size - 8)
        return slm_fail(err, SLM_E_FORMAT, "header length %llu runs past the end of the file (%llu bytes)",
                        (unsigned long long)hlen, (unsigned long long)f->size);
    if (hlen < 2) return slm_fail(err, SLM_E_FORMAT, "header is too short to be a JSON object");
    f->data_start = 8 + hlen;
    uint64_t data_size = f->size - f->data_start;

    /* cJSON needs a terminator; an embedded NUL would end the parse early, so refuse it. */
    const char *hdr = (const char *)f->base + 8;
    if (memchr(hdr, 0, hlen)) return slm_fail(err, SLM_E_FORMAT, "header contains a NUL byte");
    char *buf = malloc(hlen + 1);
    if (!buf) return slm_fail(err, SLM_E_NOMEM, "out of memory for a %llu-byte header", (unsigned long long)hlen);
    memcpy(buf, hdr, hlen);
    buf[hlen] = 0;
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(buf, hlen + 1, &end, 1);
    if (!root) {
        size_t at = end && end >= buf ? (size_t)(end - buf) : 0;
        free(buf);
        return slm_fail(err, SLM_E_FORMAT, "header is not valid JSON (near byte %zu)", at);
    }
    free(buf);

    slm_status s = SLM_OK;
    if (!cJSON_IsObject(root)) {
        s = slm_fail(err, SLM_E_FORMAT, "header is not a JSON object");
        goto done;
    }
    int n = cJSON_GetArraySize(root);
    f->tensors = calloc(n > 0 ? (size_t)n : 1, sizeof *f->tensors);
    if (!f->tensors) {
        s = slm_fail(err, SLM_E_NOMEM, "out of memory");
        goto done;
    }
    const cJSON *e;
    int seen_meta = 0;
    cJSON_ArrayForEach(e, root) {
        if (!strcmp(e->string, "__metadata__")) {
            if (seen_meta++) {
                s = slm_fail(err, SLM_E_FORMAT, "duplicate __metadata__");
                goto done;
            }
            if ((s = parse_metadata(f, e, err)) != SLM_OK) goto done;
            continue;
        }
        st_tensor *t = &f->tensors[f->n_tensors];
        if ((s = parse_entry(e, data_size, t, err)) != SLM_OK) goto done;
        t->name = strdup(e->string);
        if (!t->name) {
            s = slm_fail(err, SLM_E_NOMEM, "out of memory");
            goto done;
        }
        t->offset += f->data_start;
        t->data = t->nbytes ? f->base + t->offset : NULL;
        f->n_tensors++;
    }

    /* No two tensors may share bytes (zero-sized ones occupy nothing). */
    qsort(f->tensors, f->n_tensors, sizeof *f->tensors, cmp_by_offset);
    uint64_t prev_end = f->data_start;
    const char *prev = NULL;
    for (size_t i = 0; i < f->n_tensors; i++) {
        const st_tensor *t = &f->tensors[i];
        if (t->nbytes == 0) continue;
        if (t->offset < prev_end) {
            s = slm_fail(err, SLM_E_FORMAT, "tensors " NAMEFMT " and " NAMEFMT " overlap", prev, t->name);
            goto done;
        }
        prev_end = t->offset + t->nbytes;
        prev = t->name;
    }

    /* cJSON keeps duplicate keys as separate items: sort names to find them. */
    f->by_name = malloc((f->n_tensors ? f->n_tensors : 1) * sizeof *f->by_name);
    if (!f->by_name) {
        s = slm_fail(err, SLM_E_NOMEM, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < f->n_tensors; i++) f->by_name[i] = &f->tensors[i];
    qsort(f->by_name, f->n_tensors, sizeof *f->by_name, cmp_by_name);
    for (size_t i = 1; i < f->n_tensors; i++) {
        const char *a = f->by_name[i - 1]->name, *b = f->by_name[i]->name;
        if (!strcmp(a, b)) {
            s = slm_fail(err, SLM_E_FORMAT, "tensor " NAMEFMT " appears twice", a);
            goto done;
        }
    }
done:
    cJSON_Delete(root);
    return s;
}

static slm_status finish_open(st_file *f, st_file **out, slm_error *err) {
    slm_status s = parse_file(f, err);
    if (s != SLM_OK) {
        st_close(f);
        return s;
    }
    *out = f;
    return SLM_OK;
}

slm_status safetensors_open_memory(const void *data, size_t size, st_file **out, slm_error *err) {
    *out = NULL;
    if (!data && size) return slm_fail(err, SLM_E_INVALID_ARG, "NULL buffer");
    st_file *f = calloc(1, sizeof *f);
    if (!f) return slm_fail(err, SLM_E_NOMEM, "out of memory");
    f->base = data;
    f->size = size;
    f->path = strdup("");
    if (!f->path) {
        free(f);
        return slm_fail(err, SLM_E_NOMEM, "out of memory");
    }
    return finish_open(f, out, err);
}

slm_status st_open(const char *path, st_file **out, slm_error *err) {
    *out = NULL;
    st_file *f = calloc(1, sizeof *f);
    if (!f) return slm_fail(err, SLM_E_NOMEM, "out of memory");
    f->path = strdup(path);
    if (!f->path) {
        free(f);
        return slm_fail(err, SLM_E_NOMEM, "out of memory");
    }
    slm_status s = slm_file_map(path, &f->map, err);
    if (s != SLM_OK) {
        st_close(f);
        return s;
    }
    f->base = f->map.data;
    f->size = f->map.size;
    s = finish_open(f, out, err);
    if (s != SLM_OK) slm_error_prefix(err, "%s", path);
    return s;
}

void st_close(st_file *f) {
    if (!f) return;
    for (size_t i = 0; i < f->n_tensors; i++) free(f->tensors[i].name);
    for (size_t i = 0; i < f->n_meta; i++) {
        free(f->meta[i].key);
        free(f->meta[i].value);
    }
    free(f->tensors);
    free(f->by_name);
    free(f->meta);
    free(f->path);
    slm_file_unmap(&f->map);
    free(f);
}

size_t st_n_tensors(const st_file *f) { return f->n_tensors; }

const st_tensor *st_tensor_at(const st_file *f, size_t i) { return i < f->n_tensors ? &f->tensors[i] : NULL; }

const st_tensor *st_find(const st_file *f, const char *name) {
    size_t lo = 0, hi = f->n_tensors;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const st_tensor *t = f->by_name[mid];
        int c = strcmp(t->name, name);
        if (c == 0) return t;
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

size_t st_n_metadata(const st_file *f) { return f->n_meta; }

const st_metadata_kv *st_metadata_at(const st_file *f, size_t i) { return i < f->n_meta ? &f->meta[i] : NULL; }

const char *st_metadata_get(const st_file *f, const char *key) {
    for (size_t i = 0; i < f->n_meta; i++)
        if (!strcmp(f->meta[i].key, key)) return f->meta[i].value;
    return NULL;
}

uint64_t st_file_size(const st_file *f) { return f->size; }
uint64_t st_data_size(const st_file *f) { return f->size - f->data_start; }
const char *st_path(const st_file *f) { return f->path; }
