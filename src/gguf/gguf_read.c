/* GGUF reader: one bounded pass over the mapping that validates everything, then the lookup
 * tables. Layout (all little-endian):
 *   header:  "GGUF" u32 version, u64 n_tensors, u64 n_kv
 *   n_kv x:  string key, u32 type, value      (string = u64 len + bytes; array = u32 type, u64 n, elems)
 *   n_t x:   string name, u32 n_dims, u64 ne[n_dims], u32 ggml type, u64 offset
 *   padding to `alignment` (from the file start), then the data section; tensor offsets are
 *   relative to its start and multiples of `alignment`.
 * Every allocation is bounded by the bytes actually present: tables grow with the entries
 * actually parsed, and an array's count is checked against the minimum bytes its elements need
 * before its offset table is reserved. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/checked.h"
#include "base/dtype.h"
#include "base/error.h"
#include "gguf/gguf_internal.h"

/* Values are copied out of the mapping with memcpy, which is only right on a little-endian host. */
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "GGUF reading assumes a little-endian host");

/* Smallest possible serialized sizes, used to bound counts before allocating. */
#define MIN_KV_BYTES 14     /* u64 key len + 1 key byte + u32 type + 1 value byte */
#define MIN_TENSOR_BYTES 25 /* u64 name len + 1 name byte + u32 n_dims + u32 type + u64 offset */
#define MIN_STRING_BYTES 8
#define MIN_ARRAY_BYTES 12  /* u32 type + u64 n */
#define MAX_ALIGNMENT (1u << 20)

typedef struct reader {
    const uint8_t *base;
    uint64_t size;
    uint64_t pos;
    slm_error *err;
    char ctx[160]; /* what is being parsed, for messages: "key 'general.name'" */
} reader;

static uint64_t rd_left(const reader *r) { return r->size - r->pos; }

/* Printable, truncated copy of untrusted name bytes for error messages. */
static void printable_name(char *dst, size_t cap, const uint8_t *p, uint64_t n) {
    size_t k = 0;
    for (uint64_t i = 0; i < n && k + 4 < cap; i++) {
        uint8_t c = p[i];
        dst[k++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
        if (i == 63 && n > 64) {
            memcpy(dst + k, "...", 3);
            k += 3;
            break;
        }
    }
    dst[k] = 0;
}

static slm_status rd_need(reader *r, uint64_t n, const char *what) {
    if (n > rd_left(r))
        return slm_fail(r->err, SLM_E_FORMAT, "%s: truncated: %s needs %llu bytes at offset %llu, only %llu left",
                        r->ctx, what, (unsigned long long)n, (unsigned long long)r->pos,
                        (unsigned long long)rd_left(r));
    return SLM_OK;
}

static slm_status rd_u32(reader *r, uint32_t *v, const char *what) {
    slm_status s = rd_need(r, 4, what);
    if (s) return s;
    memcpy(v, r->base + r->pos, 4);
    r->pos += 4;
    return SLM_OK;
}

static slm_status rd_u64(reader *r, uint64_t *v, const char *what) {
    slm_status s = rd_need(r, 8, what);
    if (s) return s;
    memcpy(v, r->base + r->pos, 8);
    r->pos += 8;
    return SLM_OK;
}

/* A string: u64 length then bytes. Returns the file offset of the bytes and the length. */
static slm_status rd_string(reader *r, uint64_t *off, uint64_t *len, const char *what) {
    slm_status s = rd_u64(r, len, what);
    if (s) return s;
    if (*len > rd_left(r))
        return slm_fail(r->err, SLM_E_FORMAT, "%s: %s length %llu exceeds the %llu bytes left in the file", r->ctx,
                        what, (unsigned long long)*len, (unsigned long long)rd_left(r));
    *off = r->pos;
    r->pos += *len;
    return SLM_OK;
}

/* --- Growable tables (sizes bounded by the caller against bytes present) ------------------ */

static slm_status grow(void **p, uint64_t *cap, uint64_t need, size_t elem, slm_error *err) {
    if (need <= *cap) return SLM_OK;
    uint64_t nc = *cap ? *cap : 16;
    while (nc < need) {
        if (!ck_mul_u64(nc, 2, &nc)) return slm_fail(err, SLM_E_NOMEM, "gguf: table size overflow");
    }
    uint64_t bytes;
    if (!ck_mul_u64(nc, elem, &bytes) || bytes > SIZE_MAX) return slm_fail(err, SLM_E_NOMEM, "gguf: table too large");
    void *q = realloc(*p, (size_t)bytes);
    if (!q) return slm_fail(err, SLM_E_NOMEM, "gguf: out of memory for %llu table entries", (unsigned long long)nc);
    *p = q;
    *cap = nc;
    return SLM_OK;
}

static slm_status nodes_reserve(gguf_file *f, uint64_t n, uint64_t *first, slm_error *err) {
    uint64_t need;
    if (!ck_add_u64(f->n_nodes, n, &need)) return slm_fail(err, SLM_E_NOMEM, "gguf: too many arrays");
    slm_status s = grow((void **)&f->nodes, &f->cap_nodes, need, sizeof(gguf_node), err);
    if (s) return s;
    *first = f->n_nodes;
    f->n_nodes = need;
    return SLM_OK;
}

static slm_status offs_reserve(gguf_file *f, uint64_t n, uint64_t *first, slm_error *err) {
    uint64_t need;
    if (!ck_add_u64(f->n_offs, n, &need)) return slm_fail(err, SLM_E_NOMEM, "gguf: too many array elements");
    slm_status s = grow((void **)&f->offs_pool, &f->cap_offs, need, sizeof(uint64_t), err);
    if (s) return s;
    *first = f->n_offs;
    f->n_offs = need;
    return SLM_OK;
}

/* --- Values ------------------------------------------------------------------------------- */

static slm_status parse_array(gguf_file *f, reader *r, uint64_t node, int depth);

static slm_status check_type(reader *r, uint32_t t, const char *what) {
    if (t >= GGUF_TYPE_COUNT)
        return slm_fail(r->err, SLM_E_FORMAT, "%s: invalid %s %u (valid: 0..%d)", r->ctx, what, t, GGUF_TYPE_COUNT - 1);
    return SLM_OK;
}

/* Parse the body of an array whose header (type, n) starts at r->pos into nodes[node]. */
static slm_status parse_array(gguf_file *f, reader *r, uint64_t node, int depth) {
    if (depth > GGUF_MAX_ARRAY_DEPTH)
        return slm_fail(r->err, SLM_E_FORMAT, "%s: arrays nested deeper than %d levels", r->ctx, GGUF_MAX_ARRAY_DEPTH);
    uint32_t t;
    uint64_t n;
    slm_status s = rd_u32(r, &t, "array element type");
    if (s) return s;
    if ((s = check_type(r, t, "array element type"))) return s;
    if ((s = rd_u64(r, &n, "array length"))) return s;
    f->nodes[node] = (gguf_node){.type = t, .n = n, .data_off = r->pos, .offs = GGUF_NONE, .child = GGUF_NONE};

    size_t esz = gguf_type_size((gguf_type)t);
    if (esz) {
        uint64_t bytes;
        if (!ck_mul_u64(n, esz, &bytes) || bytes > rd_left(r))
            return slm_fail(r->err, SLM_E_FORMAT,
                            "%s: array of %llu %s elements does not fit in the %llu bytes left in the file", r->ctx,
                            (unsigned long long)n, gguf_type_name((gguf_type)t), (unsigned long long)rd_left(r));
        r->pos += bytes;
        return SLM_OK;
    }
    uint64_t min = t == GGUF_TYPE_STRING ? MIN_STRING_BYTES : MIN_ARRAY_BYTES;
    if (n > rd_left(r) / min)
        return slm_fail(r->err, SLM_E_FORMAT,
                        "%s: array claims %llu %s elements but only %llu bytes are left in the file", r->ctx,
                        (unsigned long long)n, gguf_type_name((gguf_type)t), (unsigned long long)rd_left(r));
    if (t == GGUF_TYPE_STRING) {
        uint64_t offs = 0;
        if ((s = offs_reserve(f, n, &offs, r->err))) return s;
        f->nodes[node].offs = offs;
        for (uint64_t i = 0; i < n; i++) {
            uint64_t soff, slen;
            f->offs_pool[offs + i] = r->pos;
            if ((s = rd_string(r, &soff, &slen, "array string element"))) return s;
        }
        return SLM_OK;
    }
    /* Nested arrays: the children get consecutive node slots so that child i is child + i. */
    uint64_t child = 0;
    if ((s = nodes_reserve(f, n, &child, r->err))) return s;
    f->nodes[node].child = child; /* by index: the node table may have moved */
    for (uint64_t i = 0; i < n; i++)
        if ((s = parse_array(f, r, child + i, depth + 1))) return s;
    return SLM_OK;
}

static slm_status parse_kv(gguf_file *f, reader *r, int64_t i) {
    gguf_kv *kv = &f->kv[i];
    memset(kv, 0, sizeof *kv);
    snprintf(r->ctx, sizeof r->ctx, "gguf: metadata entry %lld", (long long)i);
    slm_status s = rd_string(r, &kv->key_off, &kv->key_len, "key");
    if (s) return s;
    if (kv->key_len == 0) return slm_fail(r->err, SLM_E_FORMAT, "%s: empty key", r->ctx);
    char name[80];
    printable_name(name, sizeof name, r->base + kv->key_off, kv->key_len);
    if (kv->key_len > GGUF_MAX_KEY)
        return slm_fail(r->err, SLM_E_FORMAT, "%s: key '%s' is %llu bytes long (max %d)", r->ctx, name,
                        (unsigned long long)kv->key_len, GGUF_MAX_KEY);
    if (memchr(r->base + kv->key_off, 0, kv->key_len))
        return slm_fail(r->err, SLM_E_FORMAT, "%s: key '%s' contains a NUL byte", r->ctx, name);
    snprintf(r->ctx, sizeof r->ctx, "gguf: key '%s'", name);

    if ((s = rd_u32(r, &kv->type, "value type"))) return s;
    if ((s = check_type(r, kv->type, "value type"))) return s;
    kv->val_off = r->pos;
    kv->node = GGUF_NONE;
    size_t esz = gguf_type_size((gguf_type)kv->type);
    if (esz) {
        if ((s = rd_need(r, esz, gguf_type_name((gguf_type)kv->type)))) return s;
        r->pos += esz;
    } else if (kv->type == GGUF_TYPE_STRING) {
        uint64_t off, len;
        if ((s = rd_string(r, &off, &len, "string value"))) return s;
    } else {
        if ((s = nodes_reserve(f, 1, &kv->node, r->err))) return s;
        if ((s = parse_array(f, r, kv->node, 1))) return s;
    }
    kv->val_size = r->pos - kv->val_off;
    return SLM_OK;
}

/* --- Tensors ------------------------------------------------------------------------------ */

static slm_status parse_tensor_info(gguf_file *f, reader *r, int64_t i) {
    gguf_tensor_info *t = &f->tensors[i];
    snprintf(r->ctx, sizeof r->ctx, "gguf: tensor %lld", (long long)i);
    uint64_t off, len;
    slm_status s = rd_string(r, &off, &len, "name");
    if (s) return s;
    if (len == 0) return slm_fail(r->err, SLM_E_FORMAT, "%s: empty name", r->ctx);
    char name[80];
    printable_name(name, sizeof name, r->base + off, len);
    if (len > GGUF_MAX_NAME)
        return slm_fail(r->err, SLM_E_FORMAT, "%s: name '%s' is %llu bytes long (max %d)", r->ctx, name,
                        (unsigned long long)len, GGUF_MAX_NAME);
    if (memchr(r->base + off, 0, len))
        return slm_fail(r->err, SLM_E_FORMAT, "%s: name '%s' contains a NUL byte", r->ctx, name);
    f->tensor_name_off[i] = off;
    t->name_len = len;
    snprintf(r->ctx, sizeof r->ctx, "gguf: tensor '%s'", name);

    uint32_t n_dims;
    if ((s = rd_u32(r, &n_dims, "n_dims"))) return s;
    if (n_dims > GGUF_MAX_DIMS)
        return slm_fail(r->err, SLM_E_FORMAT, "%s: %u dimensions (max %d)", r->ctx, n_dims, GGUF_MAX_DIMS);
    t->n_dims = n_dims ? n_dims : 1;
    for (int d = 0; d < GGUF_MAX_DIMS; d++) t->ne[d] = 1;
    for (uint32_t d = 0; d < n_dims; d++) {
        uint64_t ne;
        if ((s = rd_u64(r, &ne, "dimension"))) return s;
        if (ne == 0 || ne > (uint64_t)INT64_MAX)
            return slm_fail(r->err, SLM_E_FORMAT, "%s: dimension %u has invalid size %llu", r->ctx, d,
                            (unsigned long long)ne);
        t->ne[d] = (int64_t)ne;
    }
    if ((s = rd_u32(r, &t->type, "type"))) return s;
    if ((s = rd_u64(r, &t->offset, "data offset"))) return s;
    return SLM_OK;
}

/* Shape, size and placement of tensor i, once the data section start is known. */
static slm_status check_tensor(gguf_file *f, int64_t i, slm_error *err) {
    gguf_tensor_info *t = &f->tensors[i];
    const slm_dtype_info *dt = slm_dtype_get(t->type);
    if (!dt) return slm_fail(err, SLM_E_FORMAT, "gguf: tensor '%s': unknown type id %u", t->name, t->type);
    if ((uint64_t)t->ne[0] % dt->blck_size != 0)
        return slm_fail(err, SLM_E_FORMAT, "gguf: tensor '%s': ne[0] = %lld is not a multiple of the %s block size %u",
                        t->name, (long long)t->ne[0], dt->name, dt->blck_size);
    uint64_t nel = 1, nbytes;
    bool ok = slm_dtype_row_size(t->type, (uint64_t)t->ne[0], &nbytes);
    for (int d = 0; d < GGUF_MAX_DIMS; d++) ok = ok && ck_mul_u64(nel, (uint64_t)t->ne[d], &nel);
    for (int d = 1; d < GGUF_MAX_DIMS; d++) ok = ok && ck_mul_u64(nbytes, (uint64_t)t->ne[d], &nbytes);
    if (!ok || nel > (uint64_t)INT64_MAX)
        return slm_fail(err, SLM_E_FORMAT, "gguf: tensor '%s': shape [%lld, %lld, %lld, %lld] overflows", t->name,
                        (long long)t->ne[0], (long long)t->ne[1], (long long)t->ne[2], (long long)t->ne[3]);
    t->n_elements = nel;
    t->nbytes = nbytes;
    if (t->offset % f->alignment != 0)
        return slm_fail(err, SLM_E_FORMAT, "gguf: tensor '%s': data offset %llu is not a multiple of the alignment %llu",
                        t->name, (unsigned long long)t->offset, (unsigned long long)f->alignment);
    uint64_t start, end;
    if (!ck_add_u64(f->data_offset, t->offset, &start) || !ck_add_u64(start, nbytes, &end) || end > f->size)
        return slm_fail(err, SLM_E_FORMAT,
                        "gguf: tensor '%s': data (%llu bytes at offset %llu of the data section starting at %llu) "
                        "lies past the end of the file (%llu bytes)",
                        t->name, (unsigned long long)nbytes, (unsigned long long)t->offset,
                        (unsigned long long)f->data_offset, (unsigned long long)f->size);
    t->data = f->base + start;
    return SLM_OK;
}

static int cmp_by_offset(const void *a, const void *b) {
    const gguf_tensor_info *x = *(const gguf_tensor_info *const *)a, *y = *(const gguf_tensor_info *const *)b;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

static slm_status check_overlaps(gguf_file *f, slm_error *err) {
    if (f->n_tensors < 2) return SLM_OK;
    const gguf_tensor_info **v = malloc((size_t)f->n_tensors * sizeof *v);
    if (!v) return slm_fail(err, SLM_E_NOMEM, "gguf: out of memory");
    for (int64_t i = 0; i < f->n_tensors; i++) v[i] = &f->tensors[i];
    qsort(v, (size_t)f->n_tensors, sizeof *v, cmp_by_offset);
    slm_status s = SLM_OK;
    for (int64_t i = 1; i < f->n_tensors; i++) {
        /* offsets and sizes were range-checked against the file size, so this cannot overflow */
        if (v[i - 1]->offset + v[i - 1]->nbytes > v[i]->offset) {
            s = slm_fail(err, SLM_E_FORMAT, "gguf: tensors '%s' and '%s' overlap (data offsets %llu+%llu and %llu)",
                         v[i - 1]->name, v[i]->name, (unsigned long long)v[i - 1]->offset,
                         (unsigned long long)v[i - 1]->nbytes, (unsigned long long)v[i]->offset);
            break;
        }
    }
    free(v);
    return s;
}

/* --- Names and hash tables ---------------------------------------------------------------- */

uint64_t gguf_hash_bytes(const void *p, size_t n) {
    const uint8_t *b = p;
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 1099511628211ull;
    return h;
}

static slm_status build_names(gguf_file *f, slm_error *err) {
    uint64_t total = 0;
    bool ok = true;
    for (int64_t i = 0; i < f->n_kv; i++) ok = ok && ck_add_u64(total, f->kv[i].key_len + 1, &total);
    for (int64_t i = 0; i < f->n_tensors; i++) ok = ok && ck_add_u64(total, f->tensors[i].name_len + 1, &total);
    /* names are bytes of the file, so total <= 2 * size; checked anyway */
    if (!ok || total > SIZE_MAX) return slm_fail(err, SLM_E_NOMEM, "gguf: names too large");
    f->names = malloc(total ? (size_t)total : 1);
    if (!f->names) return slm_fail(err, SLM_E_NOMEM, "gguf: out of memory for %llu bytes of names",
                                   (unsigned long long)total);
    char *p = f->names;
    for (int64_t i = 0; i < f->n_kv; i++) {
        memcpy(p, f->base + f->kv[i].key_off, f->kv[i].key_len);
        p[f->kv[i].key_len] = 0;
        f->kv[i].key = p;
        p += f->kv[i].key_len + 1;
    }
    for (int64_t i = 0; i < f->n_tensors; i++) {
        memcpy(p, f->base + f->tensor_name_off[i], f->tensors[i].name_len);
        p[f->tensors[i].name_len] = 0;
        f->tensors[i].name = p;
        p += f->tensors[i].name_len + 1;
    }
    return SLM_OK;
}

/* Insert all n names into a fresh table; fails naming the first duplicate. get_name(i) gives
 * name i. */
static slm_status build_hash(int64_t n, int64_t **table, uint64_t *cap_out, const char *(*get_name)(gguf_file *, int64_t),
                             gguf_file *f, const char *what, slm_error *err) {
    uint64_t cap = 16;
    while (cap < (uint64_t)n * 2) cap *= 2; /* n is bounded by the file size, no overflow */
    int64_t *t = malloc(cap * sizeof *t);
    if (!t) return slm_fail(err, SLM_E_NOMEM, "gguf: out of memory for the %s table", what);
    memset(t, 0xff, cap * sizeof *t); /* all -1 */
    for (int64_t i = 0; i < n; i++) {
        const char *name = get_name(f, i);
        size_t len = strlen(name);
        uint64_t h = gguf_hash_bytes(name, len) & (cap - 1);
        while (t[h] >= 0) {
            if (strcmp(get_name(f, t[h]), name) == 0) {
                int64_t first = t[h];
                free(t);
                return slm_fail(err, SLM_E_FORMAT, "gguf: duplicate %s '%s' (entries %lld and %lld)", what, name,
                                (long long)first, (long long)i);
            }
            h = (h + 1) & (cap - 1);
        }
        t[h] = i;
    }
    *table = t;
    *cap_out = cap;
    return SLM_OK;
}

static const char *kv_name(gguf_file *f, int64_t i) { return f->kv[i].key; }
static const char *tensor_name(gguf_file *f, int64_t i) { return f->tensors[i].name; }

/* --- Top level ---------------------------------------------------------------------------- */

static slm_status read_alignment(gguf_file *f, slm_error *err) {
    f->alignment = GGUF_DEFAULT_ALIGNMENT;
    int64_t k = gguf_find_key(f, "general.alignment");
    if (k < 0) return SLM_OK;
    gguf_value v;
    gguf_kv_value(f, k, &v);
    uint64_t a;
    if (v.type == GGUF_TYPE_UINT8 || v.type == GGUF_TYPE_UINT16 || v.type == GGUF_TYPE_UINT32 ||
        v.type == GGUF_TYPE_UINT64) {
        a = v.u;
    } else if (v.type == GGUF_TYPE_INT8 || v.type == GGUF_TYPE_INT16 || v.type == GGUF_TYPE_INT32 ||
               v.type == GGUF_TYPE_INT64) {
        if (v.i <= 0) return slm_fail(err, SLM_E_FORMAT, "gguf: general.alignment = %lld is not positive", (long long)v.i);
        a = (uint64_t)v.i;
    } else {
        return slm_fail(err, SLM_E_FORMAT, "gguf: general.alignment has type %s, expected uint32",
                        gguf_type_name(v.type));
    }
    if (a == 0 || (a & (a - 1)) != 0 || a > MAX_ALIGNMENT)
        return slm_fail(err, SLM_E_FORMAT, "gguf: general.alignment = %llu is not a power of two in 1..%u",
                        (unsigned long long)a, MAX_ALIGNMENT);
    f->alignment = a;
    return SLM_OK;
}

static slm_status parse_header(gguf_file *f, reader *r, uint64_t *n_tensors, uint64_t *n_kv) {
    snprintf(r->ctx, sizeof r->ctx, "gguf: header");
    if (f->size < 4)
        return slm_fail(r->err, SLM_E_FORMAT, "gguf: file of %llu bytes is too small for the GGUF magic",
                        (unsigned long long)f->size);
    if (memcmp(f->base, GGUF_MAGIC, 4) != 0) {
        char got[16];
        printable_name(got, sizeof got, f->base, 4);
        return slm_fail(r->err, SLM_E_FORMAT, "gguf: bad magic '%s' (expected 'GGUF'): not a GGUF file", got);
    }
    r->pos = 4;
    slm_status s = rd_u32(r, &f->version, "version");
    if (s) return s;
    if (f->version == 1)
        return slm_fail(r->err, SLM_E_UNSUPPORTED, "gguf: GGUF version 1 is not supported (re-convert the model)");
    if (f->version != 2 && f->version != 3) {
        if ((f->version & 0xffff) == 0)
            return slm_fail(r->err, SLM_E_UNSUPPORTED,
                            "gguf: version field 0x%08x looks big-endian; big-endian GGUF is not supported", f->version);
        return slm_fail(r->err, SLM_E_UNSUPPORTED, "gguf: unknown GGUF version %u (supported: 2, 3)", f->version);
    }
    if ((s = rd_u64(r, n_tensors, "tensor count"))) return s;
    if ((s = rd_u64(r, n_kv, "metadata count"))) return s;
    if (*n_kv > rd_left(r) / MIN_KV_BYTES)
        return slm_fail(r->err, SLM_E_FORMAT, "gguf: header claims %llu metadata entries but only %llu bytes follow",
                        (unsigned long long)*n_kv, (unsigned long long)rd_left(r));
    if (*n_tensors > rd_left(r) / MIN_TENSOR_BYTES)
        return slm_fail(r->err, SLM_E_FORMAT, "gguf: header claims %llu tensors but only %llu bytes follow",
                        (unsigned long long)*n_tensors, (unsigned long long)rd_left(r));
    return SLM_OK;
}

static slm_status parse_all(gguf_file *f, slm_error *err) {
    reader r = {.base = f->base, .size = f->size, .pos = 0, .err = err};
    uint64_t n_tensors, n_kv;
    slm_status s = parse_header(f, &r, &n_tensors, &n_kv);
    if (s) return s;

    /* Tables grow with the entries actually parsed (not with the header's counts), so a lying
     * count in a multi-gigabyte file costs no more memory than the entries really present. */
    uint64_t cap = 0;
    for (uint64_t i = 0; i < n_kv; i++) {
        if ((s = grow((void **)&f->kv, &cap, i + 1, sizeof *f->kv, err))) return s;
        if ((s = parse_kv(f, &r, (int64_t)i))) return s;
        f->n_kv = (int64_t)i + 1;
    }
    if (n_tensors > rd_left(&r) / MIN_TENSOR_BYTES)
        return slm_fail(err, SLM_E_FORMAT, "gguf: header claims %llu tensors but only %llu bytes follow the metadata",
                        (unsigned long long)n_tensors, (unsigned long long)rd_left(&r));
    uint64_t cap_t = 0, cap_o = 0;
    for (uint64_t i = 0; i < n_tensors; i++) {
        if ((s = grow((void **)&f->tensors, &cap_t, i + 1, sizeof *f->tensors, err))) return s;
        if ((s = grow((void **)&f->tensor_name_off, &cap_o, i + 1, sizeof *f->tensor_name_off, err))) return s;
        memset(&f->tensors[i], 0, sizeof f->tensors[i]);
        if ((s = parse_tensor_info(f, &r, (int64_t)i))) return s;
        f->n_tensors = (int64_t)i + 1;
    }

    if ((s = build_names(f, err))) return s;
    if ((s = build_hash(f->n_kv, &f->kv_hash, &f->kv_hash_cap, kv_name, f, "key", err))) return s;
    if ((s = build_hash(f->n_tensors, &f->t_hash, &f->t_hash_cap, tensor_name, f, "tensor name", err))) return s;
    if ((s = read_alignment(f, err))) return s;

    if (!ck_align_u64(r.pos, f->alignment, &f->data_offset))
        return slm_fail(err, SLM_E_FORMAT, "gguf: data section offset overflows");
    /* A metadata-only file (vocab) may end right after the metadata without padding. */
    if (f->n_tensors > 0 && f->data_offset > f->size)
        return slm_fail(err, SLM_E_FORMAT, "gguf: truncated: data section starts at %llu, past the end of the file (%llu bytes)",
                        (unsigned long long)f->data_offset, (unsigned long long)f->size);
    for (int64_t i = 0; i < f->n_tensors; i++)
        if ((s = check_tensor(f, i, err))) return s;
    return check_overlaps(f, err);
}

static slm_status open_common(gguf_file *f, gguf_file **out, slm_error *err) {
    slm_status s = parse_all(f, err);
    free(f->tensor_name_off);
    f->tensor_name_off = NULL;
    if (s) {
        gguf_close(f);
        return s;
    }
    *out = f;
    return SLM_OK;
}

slm_status gguf_open_memory(const void *data, size_t size, gguf_file **out, slm_error *err) {
    if (!out) return slm_fail(err, SLM_E_INVALID_ARG, "gguf_open_memory: out is NULL");
    *out = NULL;
    if (!data && size) return slm_fail(err, SLM_E_INVALID_ARG, "gguf_open_memory: data is NULL");
    gguf_file *f = calloc(1, sizeof *f);
    if (!f) return slm_fail(err, SLM_E_NOMEM, "gguf: out of memory");
    f->base = data;
    f->size = size;
    return open_common(f, out, err);
}

slm_status gguf_open(const char *path, gguf_file **out, slm_error *err) {
    if (!out || !path) return slm_fail(err, SLM_E_INVALID_ARG, "gguf_open: NULL argument");
    *out = NULL;
    gguf_file *f = calloc(1, sizeof *f);
    if (!f) return slm_fail(err, SLM_E_NOMEM, "gguf: out of memory");
    slm_status s = slm_file_map(path, &f->map, err);
    if (s) {
        free(f);
        return s;
    }
    f->base = f->map.data;
    f->size = f->map.size;
    s = open_common(f, out, err);
    if (s) slm_error_prefix(err, "%s", path);
    return s;
}

void gguf_close(gguf_file *f) {
    if (!f) return;
    slm_file_unmap(&f->map);
    free(f->kv);
    free(f->tensors);
    free(f->tensor_name_off);
    free(f->names);
    free(f->nodes);
    free(f->offs_pool);
    free(f->kv_hash);
    free(f->t_hash);
    free(f);
}
