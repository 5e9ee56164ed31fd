/* GGUF accessors over a validated gguf_file (see gguf_read.c): everything here trusts the
 * offsets the reader checked, and checks only the caller's arguments. */
#include <string.h>

#include "gguf/gguf_internal.h"

static const char *const k_type_names[GGUF_TYPE_COUNT] = {
    "uint8", "int8", "uint16", "int16", "uint32", "int32", "float32",
    "bool",  "string", "array", "uint64", "int64", "float64",
};
static const uint8_t k_type_sizes[GGUF_TYPE_COUNT] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};

const char *gguf_type_name(gguf_type t) {
    return (unsigned)t < GGUF_TYPE_COUNT ? k_type_names[t] : "unknown";
}

size_t gguf_type_size(gguf_type t) { return (unsigned)t < GGUF_TYPE_COUNT ? k_type_sizes[t] : 0; }

uint32_t gguf_version(const gguf_file *f) { return f->version; }
uint64_t gguf_alignment(const gguf_file *f) { return f->alignment; }
uint64_t gguf_data_offset(const gguf_file *f) { return f->data_offset; }
uint64_t gguf_file_size(const gguf_file *f) { return f->size; }
const uint8_t *gguf_file_data(const gguf_file *f) { return f->base; }

/* --- Numbers: one decoded form for every numeric type, so conversions are written once ----- */

typedef struct num {
    int kind; /* 0 integer (in i), 1 floating (in d), -1 not a number */
    __int128 i;
    double d;
} num;

static num load_num(uint32_t t, const uint8_t *p) {
    num n = {.kind = 0};
    switch (t) {
    case GGUF_TYPE_UINT8: n.i = p[0]; break;
    case GGUF_TYPE_INT8: n.i = (int8_t)p[0]; break;
    case GGUF_TYPE_BOOL: n.i = p[0] != 0; break;
    case GGUF_TYPE_UINT16: { uint16_t v; memcpy(&v, p, 2); n.i = v; break; }
    case GGUF_TYPE_INT16: { int16_t v; memcpy(&v, p, 2); n.i = v; break; }
    case GGUF_TYPE_UINT32: { uint32_t v; memcpy(&v, p, 4); n.i = v; break; }
    case GGUF_TYPE_INT32: { int32_t v; memcpy(&v, p, 4); n.i = v; break; }
    case GGUF_TYPE_UINT64: { uint64_t v; memcpy(&v, p, 8); n.i = v; break; }
    case GGUF_TYPE_INT64: { int64_t v; memcpy(&v, p, 8); n.i = v; break; }
    case GGUF_TYPE_FLOAT32: { float v; memcpy(&v, p, 4); n.kind = 1; n.d = v; break; }
    case GGUF_TYPE_FLOAT64: { double v; memcpy(&v, p, 8); n.kind = 1; n.d = v; break; }
    default: n.kind = -1; break;
    }
    return n;
}

static bool num_to_int(num n, __int128 lo, __int128 hi, __int128 *out) {
    if (n.kind != 0 || n.i < lo || n.i > hi) return false;
    *out = n.i;
    return true;
}

static bool num_to_f64(num n, double *out) {
    if (n.kind == 1) *out = n.d;
    else if (n.kind == 0) *out = (double)n.i;
    else return false;
    return true;
}

/* --- Metadata ----------------------------------------------------------------------------- */

int64_t gguf_n_kv(const gguf_file *f) { return f->n_kv; }

int64_t gguf_find_key(const gguf_file *f, const char *key) {
    if (!f || !key || !f->kv_hash) return -1;
    uint64_t mask = f->kv_hash_cap - 1, h = gguf_hash_bytes(key, strlen(key)) & mask;
    for (int64_t i; (i = f->kv_hash[h]) >= 0; h = (h + 1) & mask)
        if (strcmp(f->kv[i].key, key) == 0) return i;
    return -1;
}

const char *gguf_key_name(const gguf_file *f, int64_t i) {
    return (i >= 0 && i < f->n_kv) ? f->kv[i].key : NULL;
}

gguf_type gguf_key_type(const gguf_file *f, int64_t i) {
    return (i >= 0 && i < f->n_kv) ? (gguf_type)f->kv[i].type : GGUF_TYPE_COUNT;
}

static gguf_arr arr_from_node(const gguf_file *f, const gguf_node *nd) {
    gguf_arr a = {.type = (gguf_type)nd->type, .n = nd->n, .data = NULL, .priv = nd};
    if (gguf_type_size((gguf_type)nd->type)) a.data = f->base + nd->data_off;
    return a;
}

bool gguf_kv_value(const gguf_file *f, int64_t i, gguf_value *out) {
    if (i < 0 || i >= f->n_kv) return false;
    const gguf_kv *kv = &f->kv[i];
    const uint8_t *p = f->base + kv->val_off;
    memset(out, 0, sizeof *out);
    out->type = (gguf_type)kv->type;
    switch (kv->type) {
    case GGUF_TYPE_UINT8: case GGUF_TYPE_UINT16: case GGUF_TYPE_UINT32: case GGUF_TYPE_UINT64:
        out->u = (uint64_t)load_num(kv->type, p).i;
        break;
    case GGUF_TYPE_INT8: case GGUF_TYPE_INT16: case GGUF_TYPE_INT32: case GGUF_TYPE_INT64:
        out->i = (int64_t)load_num(kv->type, p).i;
        break;
    case GGUF_TYPE_FLOAT32: case GGUF_TYPE_FLOAT64:
        out->f = load_num(kv->type, p).d;
        break;
    case GGUF_TYPE_BOOL:
        out->b = p[0] != 0;
        break;
    case GGUF_TYPE_STRING:
        memcpy(&out->s.len, p, 8);
        out->s.ptr = (const char *)p + 8;
        break;
    default:
        out->arr = arr_from_node(f, &f->nodes[kv->node]);
        break;
    }
    return true;
}

/* Scalar numeric value of key (including BOOL as 0/1). */
static bool key_num(const gguf_file *f, const char *key, num *out) {
    int64_t i = gguf_find_key(f, key);
    if (i < 0) return false;
    *out = load_num(f->kv[i].type, f->base + f->kv[i].val_off);
    return out->kind >= 0;
}

#define DEFINE_INT_GETTER(fn, T, LO, HI)                                     \
    bool fn(const gguf_file *f, const char *key, T *out) {                   \
        num n;                                                               \
        __int128 v;                                                          \
        if (!key_num(f, key, &n) || !num_to_int(n, LO, HI, &v)) return false; \
        *out = (T)v;                                                         \
        return true;                                                         \
    }

DEFINE_INT_GETTER(gguf_get_u32, uint32_t, 0, UINT32_MAX)
DEFINE_INT_GETTER(gguf_get_i32, int32_t, INT32_MIN, INT32_MAX)
DEFINE_INT_GETTER(gguf_get_u64, uint64_t, 0, UINT64_MAX)
DEFINE_INT_GETTER(gguf_get_i64, int64_t, INT64_MIN, INT64_MAX)

bool gguf_get_f64(const gguf_file *f, const char *key, double *out) {
    num n;
    return key_num(f, key, &n) && num_to_f64(n, out);
}

bool gguf_get_f32(const gguf_file *f, const char *key, float *out) {
    double d;
    if (!gguf_get_f64(f, key, &d)) return false;
    *out = (float)d;
    return true;
}

bool gguf_get_bool(const gguf_file *f, const char *key, bool *out) {
    num n;
    __int128 v;
    if (!key_num(f, key, &n) || !num_to_int(n, 0, 1, &v)) return false;
    *out = v != 0;
    return true;
}

bool gguf_get_str(const gguf_file *f, const char *key, gguf_str *out) {
    int64_t i = gguf_find_key(f, key);
    if (i < 0 || f->kv[i].type != GGUF_TYPE_STRING) return false;
    gguf_value v;
    gguf_kv_value(f, i, &v);
    *out = v.s;
    return true;
}

bool gguf_get_arr(const gguf_file *f, const char *key, gguf_arr *out) {
    int64_t i = gguf_find_key(f, key);
    if (i < 0 || f->kv[i].type != GGUF_TYPE_ARRAY) return false;
    *out = arr_from_node(f, &f->nodes[f->kv[i].node]);
    return true;
}

/* --- Arrays ------------------------------------------------------------------------------- */

bool gguf_arr_str(const gguf_file *f, const gguf_arr *arr, uint64_t i, gguf_str *out) {
    const gguf_node *nd = arr ? arr->priv : NULL;
    if (!nd || nd->type != GGUF_TYPE_STRING || i >= nd->n) return false;
    const uint8_t *p = f->base + f->offs_pool[nd->offs + i];
    memcpy(&out->len, p, 8);
    out->ptr = (const char *)p + 8;
    return true;
}

bool gguf_arr_arr(const gguf_file *f, const gguf_arr *arr, uint64_t i, gguf_arr *out) {
    const gguf_node *nd = arr ? arr->priv : NULL;
    if (!nd || nd->type != GGUF_TYPE_ARRAY || i >= nd->n) return false;
    *out = arr_from_node(f, &f->nodes[nd->child + i]);
    return true;
}

static bool arr_num(const gguf_arr *arr, uint64_t i, num *out) {
    size_t esz = arr ? gguf_type_size(arr->type) : 0;
    if (!esz || !arr->data || i >= arr->n) return false;
    *out = load_num(arr->type, (const uint8_t *)arr->data + i * esz);
    return out->kind >= 0;
}

bool gguf_arr_get_i64(const gguf_arr *arr, uint64_t i, int64_t *out) {
    num n;
    __int128 v;
    if (!arr_num(arr, i, &n) || !num_to_int(n, INT64_MIN, INT64_MAX, &v)) return false;
    *out = (int64_t)v;
    return true;
}

bool gguf_arr_get_u64(const gguf_arr *arr, uint64_t i, uint64_t *out) {
    num n;
    __int128 v;
    if (!arr_num(arr, i, &n) || !num_to_int(n, 0, UINT64_MAX, &v)) return false;
    *out = (uint64_t)v;
    return true;
}

bool gguf_arr_get_f64(const gguf_arr *arr, uint64_t i, double *out) {
    num n;
    return arr_num(arr, i, &n) && num_to_f64(n, out);
}

bool gguf_arr_get_f32(const gguf_arr *arr, uint64_t i, float *out) {
    double d;
    if (!gguf_arr_get_f64(arr, i, &d)) return false;
    *out = (float)d;
    return true;
}

bool gguf_arr_get_bool(const gguf_arr *arr, uint64_t i, bool *out) {
    num n;
    __int128 v;
    if (!arr_num(arr, i, &n) || !num_to_int(n, 0, 1, &v)) return false;
    *out = v != 0;
    return true;
}

bool gguf_str_eq(gguf_str s, const char *c) {
    size_t n = strlen(c);
    return s.len == n && (n == 0 || memcmp(s.ptr, c, n) == 0);
}

/* --- Tensors ------------------------------------------------------------------------------ */

int64_t gguf_n_tensors(const gguf_file *f) { return f->n_tensors; }

const gguf_tensor_info *gguf_tensor(const gguf_file *f, int64_t i) {
    return (i >= 0 && i < f->n_tensors) ? &f->tensors[i] : NULL;
}

int64_t gguf_find_tensor_index(const gguf_file *f, const char *name) {
    if (!f || !name || !f->t_hash) return -1;
    uint64_t mask = f->t_hash_cap - 1, h = gguf_hash_bytes(name, strlen(name)) & mask;
    for (int64_t i; (i = f->t_hash[h]) >= 0; h = (h + 1) & mask)
        if (strcmp(f->tensors[i].name, name) == 0) return i;
    return -1;
}

const gguf_tensor_info *gguf_find_tensor(const gguf_file *f, const char *name) {
    int64_t i = gguf_find_tensor_index(f, name);
    return i >= 0 ? &f->tensors[i] : NULL;
}
