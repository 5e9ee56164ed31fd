/* GGUF v3 writer. Produces the layout llama.cpp's writers (gguf-py GGUFWriter and ggml's
 * gguf_write_to_file) produce, so re-writing a llama.cpp file entry by entry gives the same bytes:
 *   header, key/values in insertion order, tensor infos in insertion order, zero padding to the
 *   alignment, then each tensor's data followed by zero padding to the alignment; tensor offsets
 *   are the running sum of padded sizes. A file without tensors ends right after the metadata
 *   (that is what `convert_hf_to_gguf.py --vocab-only` writes). */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/checked.h"
#include "base/dtype.h"
#include "base/error.h"
#include "gguf/gguf_internal.h"

typedef struct wkv {
    char *key;
    size_t key_len;
    uint32_t type;
    uint8_t *val; /* serialized value exactly as it goes after the type field */
    size_t val_len;
} wkv;

typedef struct wtensor {
    char *name;
    size_t name_len;
    uint32_t type, n_dims;
    int64_t ne[GGUF_MAX_DIMS];
    uint64_t nbytes;
    const void *data;
    gguf_tensor_fill_fn fill;
    void *user;
} wtensor;

struct gguf_writer {
    wkv *kv;
    size_t n_kv, cap_kv;
    wtensor *t;
    size_t n_t, cap_t;
};

/* Growable byte buffer for the header part. */
typedef struct wbuf {
    uint8_t *p;
    size_t len, cap;
    bool oom;
} wbuf;

static void wb_put(wbuf *b, const void *src, size_t n) {
    if (b->oom) return;
    if (b->len + n > b->cap || !b->p) {
        size_t nc = b->cap ? b->cap : 4096;
        while (nc < b->len + n) nc *= 2;
        uint8_t *q = realloc(b->p, nc);
        if (!q) {
            b->oom = true;
            return;
        }
        b->p = q;
        b->cap = nc;
    }
    if (n) memcpy(b->p + b->len, src, n);
    b->len += n;
}
static void wb_u32(wbuf *b, uint32_t v) { wb_put(b, &v, 4); }
static void wb_u64(wbuf *b, uint64_t v) { wb_put(b, &v, 8); }
static void wb_str(wbuf *b, const void *s, uint64_t n) {
    wb_u64(b, n);
    wb_put(b, s, (size_t)n);
}

slm_status gguf_writer_new(gguf_writer **out, slm_error *err) {
    *out = calloc(1, sizeof **out);
    if (!*out) return slm_fail(err, SLM_E_NOMEM, "gguf writer: out of memory");
    return SLM_OK;
}

void gguf_writer_free(gguf_writer *w) {
    if (!w) return;
    for (size_t i = 0; i < w->n_kv; i++) {
        free(w->kv[i].key);
        free(w->kv[i].val);
    }
    for (size_t i = 0; i < w->n_t; i++) free(w->t[i].name);
    free(w->kv);
    free(w->t);
    free(w);
}

/* --- Metadata ----------------------------------------------------------------------------- */

/* Append key with an already serialized value (val_len bytes, copied). */
static slm_status add_raw(gguf_writer *w, const char *key, uint32_t type, const void *val, size_t val_len,
                          slm_error *err) {
    if (!w || !key) return slm_fail(err, SLM_E_INVALID_ARG, "gguf writer: NULL argument");
    size_t klen = strlen(key);
    if (klen == 0 || klen > GGUF_MAX_KEY)
        return slm_fail(err, SLM_E_INVALID_ARG, "gguf writer: key length %zu not in 1..%d", klen, GGUF_MAX_KEY);
    for (size_t i = 0; i < w->n_kv; i++)
        if (w->kv[i].key_len == klen && memcmp(w->kv[i].key, key, klen) == 0)
            return slm_fail(err, SLM_E_INVALID_ARG, "gguf writer: duplicate key '%s'", key);
    if (w->n_kv == w->cap_kv) {
        size_t nc = w->cap_kv ? w->cap_kv * 2 : 32;
        wkv *q = realloc(w->kv, nc * sizeof *q);
        if (!q) return slm_fail(err, SLM_E_NOMEM, "gguf writer: out of memory");
        w->kv = q;
        w->cap_kv = nc;
    }
    wkv kv = {.key = strdup(key), .key_len = klen, .type = type, .val = malloc(val_len ? val_len : 1), .val_len = val_len};
    if (!kv.key || !kv.val) {
        free(kv.key);
        free(kv.val);
        return slm_fail(err, SLM_E_NOMEM, "gguf writer: out of memory for key '%s'", key);
    }
    if (val_len) memcpy(kv.val, val, val_len);
    w->kv[w->n_kv++] = kv;
    return SLM_OK;
}

#define DEFINE_SCALAR_ADD(fn, T, TYPE) \
    slm_status fn(gguf_writer *w, const char *key, T v, slm_error *err) { return add_raw(w, key, TYPE, &v, sizeof v, err); }

DEFINE_SCALAR_ADD(gguf_writer_add_u8, uint8_t, GGUF_TYPE_UINT8)
DEFINE_SCALAR_ADD(gguf_writer_add_i8, int8_t, GGUF_TYPE_INT8)
DEFINE_SCALAR_ADD(gguf_writer_add_u16, uint16_t, GGUF_TYPE_UINT16)
DEFINE_SCALAR_ADD(gguf_writer_add_i16, int16_t, GGUF_TYPE_INT16)
DEFINE_SCALAR_ADD(gguf_writer_add_u32, uint32_t, GGUF_TYPE_UINT32)
DEFINE_SCALAR_ADD(gguf_writer_add_i32, int32_t, GGUF_TYPE_INT32)
DEFINE_SCALAR_ADD(gguf_writer_add_u64, uint64_t, GGUF_TYPE_UINT64)
DEFINE_SCALAR_ADD(gguf_writer_add_i64, int64_t, GGUF_TYPE_INT64)
DEFINE_SCALAR_ADD(gguf_writer_add_f32, float, GGUF_TYPE_FLOAT32)
DEFINE_SCALAR_ADD(gguf_writer_add_f64, double, GGUF_TYPE_FLOAT64)

slm_status gguf_writer_add_bool(gguf_writer *w, const char *key, bool v, slm_error *err) {
    uint8_t b = v ? 1 : 0;
    return add_raw(w, key, GGUF_TYPE_BOOL, &b, 1, err);
}

slm_status gguf_writer_add_strn(gguf_writer *w, const char *key, const char *s, uint64_t len, slm_error *err) {
    if (!s && len) return slm_fail(err, SLM_E_INVALID_ARG, "gguf writer: key '%s': NULL string", key ? key : "?");
    wbuf b = {0};
    wb_str(&b, s, len);
    slm_status st = b.oom ? slm_fail(err, SLM_E_NOMEM, "gguf writer: out of memory")
                          : add_raw(w, key, GGUF_TYPE_STRING, b.p, b.len, err);
    free(b.p);
    return st;
}

slm_status gguf_writer_add_str(gguf_writer *w, const char *key, const char *s, slm_error *err) {
    if (!s) return slm_fail(err, SLM_E_INVALID_ARG, "gguf writer: key '%s': NULL string", key ? key : "?");
    return gguf_writer_add_strn(w, key, s, strlen(s), err);
}

slm_status gguf_writer_add_arr(gguf_writer *w, const char *key, gguf_type elem_type, const void *data, uint64_t n,
                               slm_error *err) {
    size_t esz = gguf_type_size(elem_type);
    uint64_t bytes;
    if (!esz) return slm_fail(err, SLM_E_INVALID_ARG, "gguf writer: key '%s': array element type %s is not fixed-size",
                              key ? key : "?", gguf_type_name(elem_type));
    if (!ck_mul_u64(n, esz, &bytes) || bytes > SIZE_MAX - 12 || (!data && n))
        return slm_fail(err, SLM_E_INVALID_ARG, "gguf writer: key '%s': bad array (n = %llu)", key ? key : "?",
                        (unsigned long long)n);
    wbuf b = {0};
    wb_u32(&b, (uint32_t)elem_type);
    wb_u64(&b, n);
    wb_put(&b, data, (size_t)bytes);
    slm_status st = b.oom ? slm_fail(err, SLM_E_NOMEM, "gguf writer: out of memory")
                          : add_raw(w, key, GGUF_TYPE_ARRAY, b.p, b.len, err);
    free(b.p);
    return st;
}

/* Strings given either NUL-terminated (cs) or counted (gs). */
static slm_status add_str_array(gguf_writer *w, const char *key, const char *const *cs, const gguf_str *gs, uint64_t n,
                                slm_error *err) {
    if (n && !cs && !gs) return slm_fail(err, SLM_E_INVALID_ARG, "gguf writer: key '%s': NULL array", key ? key : "?");
    wbuf b = {0};
    wb_u32(&b, GGUF_TYPE_STRING);
    wb_u64(&b, n);
    for (uint64_t i = 0; i < n && !b.oom; i++) {
        const char *p = cs ? cs[i] : gs[i].ptr;
        uint64_t len = cs ? (p ? strlen(p) : 0) : gs[i].len;
        if (!p && len) {
            free(b.p);
            return slm_fail(err, SLM_E_INVALID_ARG, "gguf writer: key '%s': element %llu is NULL", key ? key : "?",
                            (unsigned long long)i);
        }
        wb_str(&b, p, len);
    }
    slm_status st = b.oom ? slm_fail(err, SLM_E_NOMEM, "gguf writer: out of memory for key '%s'", key ? key : "?")
                          : add_raw(w, key, GGUF_TYPE_ARRAY, b.p, b.len, err);
    free(b.p);
    return st;
}

slm_status gguf_writer_add_arr_str(gguf_writer *w, const char *key, const char *const *strs, uint64_t n,
                                   slm_error *err) {
    return add_str_array(w, key, strs, NULL, n, err);
}

slm_status gguf_writer_add_arr_gstr(gguf_writer *w, const char *key, const gguf_str *strs, uint64_t n,
                                    slm_error *err) {
    return add_str_array(w, key, NULL, strs, n, err);
}

slm_status gguf_writer_copy_kv(gguf_writer *w, const gguf_file *f, int64_t i, slm_error *err) {
    if (!f || i < 0 || i >= f->n_kv) return slm_fail(err, SLM_E_INVALID_ARG, "gguf writer: no metadata entry %lld",
                                                     (long long)i);
    const gguf_kv *kv = &f->kv[i];
    if (kv->val_size > SIZE_MAX) return slm_fail(err, SLM_E_NOMEM, "gguf writer: value too large");
    return add_raw(w, kv->key, kv->type, f->base + kv->val_off, (size_t)kv->val_size, err);
}

/* --- Tensors ------------------------------------------------------------------------------ */

static slm_status add_tensor(gguf_writer *w, const char *name, uint32_t type, uint32_t n_dims, const int64_t *ne,
                             const void *data, gguf_tensor_fill_fn fill, void *user, slm_error *err) {
    if (!w || !name || !ne) return slm_fail(err, SLM_E_INVALID_ARG, "gguf writer: NULL argument");
    size_t nlen = strlen(name);
    if (nlen == 0 || nlen > GGUF_MAX_NAME)
        return slm_fail(err, SLM_E_INVALID_ARG, "gguf writer: tensor name length %zu not in 1..%d", nlen, GGUF_MAX_NAME);
    if (n_dims < 1 || n_dims > GGUF_MAX_DIMS)
        return slm_fail(err, SLM_E_INVALID_ARG, "gguf writer: tensor '%s': n_dims %u not in 1..%d", name, n_dims,
                        GGUF_MAX_DIMS);
    const slm_dtype_info *dt = slm_dtype_get(type);
    if (!dt) return slm_fail(err, SLM_E_INVALID_ARG, "gguf writer: tensor '%s': unknown type id %u", name, type);
    wtensor t = {.type = type, .n_dims = n_dims, .data = data, .fill = fill, .user = user};
    for (int d = 0; d < GGUF_MAX_DIMS; d++) t.ne[d] = 1;
    for (uint32_t d = 0; d < n_dims; d++) {
        if (ne[d] < 1)
            return slm_fail(err, SLM_E_INVALID_ARG, "gguf writer: tensor '%s': ne[%u] = %lld < 1", name, d,
                            (long long)ne[d]);
        t.ne[d] = ne[d];
    }
    bool ok = slm_dtype_row_size(type, (uint64_t)t.ne[0], &t.nbytes);
    for (int d = 1; d < GGUF_MAX_DIMS; d++) ok = ok && ck_mul_u64(t.nbytes, (uint64_t)t.ne[d], &t.nbytes);
    if (!ok || t.nbytes > (uint64_t)INT64_MAX)
        return slm_fail(err, SLM_E_INVALID_ARG,
                        "gguf writer: tensor '%s': shape invalid for %s (ne[0] %% %u != 0 or size overflow)", name,
                        dt->name, dt->blck_size);
    if (!data && !fill) return slm_fail(err, SLM_E_INVALID_ARG, "gguf writer: tensor '%s': no data", name);
    for (size_t i = 0; i < w->n_t; i++)
        if (w->t[i].name_len == nlen && memcmp(w->t[i].name, name, nlen) == 0)
            return slm_fail(err, SLM_E_INVALID_ARG, "gguf writer: duplicate tensor name '%s'", name);
    if (w->n_t == w->cap_t) {
        size_t nc = w->cap_t ? w->cap_t * 2 : 64;
        wtensor *q = realloc(w->t, nc * sizeof *q);
        if (!q) return slm_fail(err, SLM_E_NOMEM, "gguf writer: out of memory");
        w->t = q;
        w->cap_t = nc;
    }
    t.name = strdup(name);
    t.name_len = nlen;
    if (!t.name) return slm_fail(err, SLM_E_NOMEM, "gguf writer: out of memory");
    w->t[w->n_t++] = t;
    return SLM_OK;
}

slm_status gguf_writer_add_tensor(gguf_writer *w, const char *name, uint32_t type, uint32_t n_dims,
                                  const int64_t *ne, const void *data, slm_error *err) {
    if (!data) return slm_fail(err, SLM_E_INVALID_ARG, "gguf writer: tensor '%s': NULL data", name ? name : "?");
    return add_tensor(w, name, type, n_dims, ne, data, NULL, NULL, err);
}

slm_status gguf_writer_add_tensor_fn(gguf_writer *w, const char *name, uint32_t type, uint32_t n_dims,
                                     const int64_t *ne, gguf_tensor_fill_fn fill, void *user, slm_error *err) {
    if (!fill) return slm_fail(err, SLM_E_INVALID_ARG, "gguf writer: tensor '%s': NULL fill", name ? name : "?");
    return add_tensor(w, name, type, n_dims, ne, NULL, fill, user, err);
}

/* --- Output ------------------------------------------------------------------------------- */

/* The alignment in effect: general.alignment if the caller added one, else 32. */
static slm_status writer_alignment(const gguf_writer *w, uint64_t *out, slm_error *err) {
    *out = GGUF_DEFAULT_ALIGNMENT;
    for (size_t i = 0; i < w->n_kv; i++) {
        if (strcmp(w->kv[i].key, "general.alignment") != 0) continue;
        /* any integer type, as the reader accepts (llama.cpp writes uint32) */
        uint32_t t = w->kv[i].type;
        size_t sz = gguf_type_size((gguf_type)t);
        bool is_int = t <= GGUF_TYPE_INT32 || t == GGUF_TYPE_UINT64 || t == GGUF_TYPE_INT64;
        if (!is_int)
            return slm_fail(err, SLM_E_INVALID_ARG, "gguf writer: general.alignment must be an integer (uint32)");
        uint64_t a = 0; /* little-endian: the low bytes of a hold the value; a negative value is huge */
        memcpy(&a, w->kv[i].val, sz);
        bool neg = (t == GGUF_TYPE_INT8 || t == GGUF_TYPE_INT16 || t == GGUF_TYPE_INT32 || t == GGUF_TYPE_INT64) &&
                   (w->kv[i].val[sz - 1] & 0x80);
        if (neg || a == 0 || (a & (a - 1)) != 0 || a > (1u << 20))
            return slm_fail(err, SLM_E_INVALID_ARG, "gguf writer: general.alignment is not a power of two in 1..2^20");
        *out = a;
    }
    return SLM_OK;
}

/* Header + metadata + tensor infos + padding into *b; *data_size = bytes of the data section. */
static slm_status build_head(const gguf_writer *w, wbuf *b, uint64_t *align_out, uint64_t *data_size, slm_error *err) {
    uint64_t align;
    slm_status s = writer_alignment(w, &align, err);
    if (s) return s;
    wb_put(b, GGUF_MAGIC, 4);
    wb_u32(b, 3);
    wb_u64(b, w->n_t);
    wb_u64(b, w->n_kv);
    for (size_t i = 0; i < w->n_kv; i++) {
        wb_str(b, w->kv[i].key, w->kv[i].key_len);
        wb_u32(b, w->kv[i].type);
        wb_put(b, w->kv[i].val, w->kv[i].val_len);
    }
    uint64_t off = 0;
    for (size_t i = 0; i < w->n_t; i++) {
        const wtensor *t = &w->t[i];
        wb_str(b, t->name, t->name_len);
        wb_u32(b, t->n_dims);
        for (uint32_t d = 0; d < t->n_dims; d++) wb_u64(b, (uint64_t)t->ne[d]);
        wb_u32(b, t->type);
        wb_u64(b, off);
        uint64_t padded;
        if (!ck_align_u64(t->nbytes, align, &padded) || !ck_add_u64(off, padded, &off))
            return slm_fail(err, SLM_E_INVALID_ARG, "gguf writer: total tensor data size overflows");
    }
    if (w->n_t > 0) {
        static const uint8_t zeros[64];
        while (!b->oom && b->len % align) {
            size_t k = (size_t)(align - b->len % align);
            wb_put(b, zeros, k < sizeof zeros ? k : sizeof zeros);
        }
    }
    if (b->oom) return slm_fail(err, SLM_E_NOMEM, "gguf writer: out of memory for the header");
    *align_out = align;
    *data_size = off;
    return SLM_OK;
}

/* Calls sink(ctx, bytes, n) for the data section: each tensor then its zero padding. */
typedef slm_status (*sink_fn)(void *ctx, const void *p, size_t n, slm_error *err);

static slm_status emit_data(const gguf_writer *w, uint64_t align, sink_fn sink, void *ctx, slm_error *err) {
    static const uint8_t zeros[256];
    slm_status s = SLM_OK;
    void *scratch = NULL;
    for (size_t i = 0; i < w->n_t && !s; i++) {
        const wtensor *t = &w->t[i];
        if (t->nbytes > SIZE_MAX) return slm_fail(err, SLM_E_NOMEM, "gguf writer: tensor '%s' too large", t->name);
        const void *src = t->data;
        if (!src) {
            scratch = malloc((size_t)t->nbytes);
            if (!scratch) return slm_fail(err, SLM_E_NOMEM, "gguf writer: out of memory for tensor '%s' (%llu bytes)",
                                          t->name, (unsigned long long)t->nbytes);
            s = t->fill(t->user, (int64_t)i, scratch, t->nbytes, err);
            if (s) {
                slm_error_prefix(err, "gguf writer: tensor '%s'", t->name);
                break;
            }
            src = scratch;
        }
        s = sink(ctx, src, (size_t)t->nbytes, err);
        for (uint64_t pad = (align - t->nbytes % align) % align; !s && pad;) {
            size_t k = pad < sizeof zeros ? (size_t)pad : sizeof zeros;
            s = sink(ctx, zeros, k, err);
            pad -= k;
        }
        free(scratch);
        scratch = NULL;
    }
    free(scratch);
    return s;
}

typedef struct mem_sink {
    uint8_t *p;
    size_t len;
} mem_sink;

static slm_status mem_put(void *ctx, const void *p, size_t n, slm_error *err) {
    mem_sink *m = ctx;
    memcpy(m->p + m->len, p, n);
    m->len += n;
    return SLM_OK;
}

slm_status gguf_writer_write_memory(gguf_writer *w, void **out, size_t *out_size, slm_error *err) {
    *out = NULL;
    *out_size = 0;
    wbuf b = {0};
    uint64_t align, data_size, total;
    slm_status s = build_head(w, &b, &align, &data_size, err);
    if (s) {
        free(b.p);
        return s;
    }
    if (!ck_add_u64(b.len, data_size, &total) || total > SIZE_MAX) {
        free(b.p);
        return slm_fail(err, SLM_E_NOMEM, "gguf writer: file too large for memory");
    }
    mem_sink m = {.p = malloc(total ? (size_t)total : 1), .len = 0};
    if (!m.p) {
        free(b.p);
        return slm_fail(err, SLM_E_NOMEM, "gguf writer: out of memory for %llu bytes", (unsigned long long)total);
    }
    memcpy(m.p, b.p, b.len);
    m.len = b.len;
    free(b.p);
    s = emit_data(w, align, mem_put, &m, err);
    if (s) {
        free(m.p);
        return s;
    }
    *out = m.p;
    *out_size = m.len;
    return SLM_OK;
}

typedef struct file_sink {
    FILE *fp;
    const char *path;
} file_sink;

static slm_status file_put(void *ctx, const void *p, size_t n, slm_error *err) {
    file_sink *fs = ctx;
    if (n && fwrite(p, 1, n, fs->fp) != n)
        return slm_fail(err, SLM_E_IO, "cannot write '%s': %s", fs->path, strerror(errno));
    return SLM_OK;
}

slm_status gguf_writer_write(gguf_writer *w, const char *path, slm_error *err) {
    if (!w || !path) return slm_fail(err, SLM_E_INVALID_ARG, "gguf writer: NULL argument");
    wbuf b = {0};
    uint64_t align, data_size;
    slm_status s = build_head(w, &b, &align, &data_size, err);
    if (s) {
        free(b.p);
        return s;
    }
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 16);
    if (!tmp) {
        free(b.p);
        return slm_fail(err, SLM_E_NOMEM, "gguf writer: out of memory");
    }
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmp.XXXXXX", 12);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        s = slm_fail(err, SLM_E_IO, "cannot create a temporary file next to '%s': %s", path, strerror(errno));
        free(tmp);
        free(b.p);
        return s;
    }
    (void)fchmod(fd, 0644); /* mkstemp makes 0600; a model file is not secret */
    file_sink fs = {.fp = fdopen(fd, "wb"), .path = tmp};
    if (!fs.fp) {
        s = slm_fail(err, SLM_E_IO, "cannot open '%s': %s", tmp, strerror(errno));
        close(fd);
    } else {
        s = file_put(&fs, b.p, b.len, err);
        if (!s) s = emit_data(w, align, file_put, &fs, err);
        if (!s && (fflush(fs.fp) != 0 || fsync(fileno(fs.fp)) != 0))
            s = slm_fail(err, SLM_E_IO, "cannot write '%s': %s", tmp, strerror(errno));
        if (fclose(fs.fp) != 0 && !s) s = slm_fail(err, SLM_E_IO, "cannot close '%s': %s", tmp, strerror(errno));
    }
    if (!s && rename(tmp, path) != 0)
        s = slm_fail(err, SLM_E_IO, "cannot rename '%s' to '%s': %s", tmp, path, strerror(errno));
    if (s) unlink(tmp);
    free(tmp);
    free(b.p);
    return s;
}
