/* Jinja values: arena, strings/lists/dicts, Python truthiness, equality, str(), repr() and
 * json.dumps() output. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/checked.h"
#include "chat/jinja_internal.h"

/* ---- errors --------------------------------------------------------------------------------- */
_Noreturn void jinja_throw(jctx_err *e, int line, slm_status code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    e->line = line;
    e->code = code;
    longjmp(e->jb, 1);
}

/* ---- arena ---------------------------------------------------------------------------------- */
struct jarena_block {
    jarena_block *next;
    size_t used, cap;
    _Alignas(16) unsigned char data[];
};

#define JARENA_BLOCK_MIN (64u * 1024u)

void jarena_init(jarena *a, size_t limit) {
    a->head = NULL;
    a->used_total = 0;
    a->limit = limit;
}

void jarena_free(jarena *a) {
    jarena_block *b = a->head;
    while (b) {
        jarena_block *n = b->next;
        free(b);
        b = n;
    }
    a->head = NULL;
    a->used_total = 0;
}

void *jarena_try_alloc(jarena *a, size_t n) {
    size_t need;
    if (!ck_add_size(n, 15, &need)) return NULL;
    need &= ~(size_t)15;
    if (need == 0) need = 16;
    if (need > a->limit || a->used_total > a->limit - need) return NULL;
    jarena_block *b = a->head;
    if (!b || b->cap - b->used < need) {
        size_t cap = need > JARENA_BLOCK_MIN ? need : JARENA_BLOCK_MIN;
        b = malloc(sizeof *b + cap);
        if (!b) return NULL;
        b->cap = cap;
        b->used = 0;
        b->next = a->head;
        a->head = b;
    }
    void *p = b->data + b->used;
    b->used += need;
    a->used_total += need;
    return p;
}

void *jarena_alloc(jarena *a, jctx_err *e, int line, size_t n) {
    void *p = jarena_try_alloc(a, n);
    if (!p) jinja_throw(e, line, SLM_E_NOMEM, "template needs too much memory (limit %zu bytes)", a->limit);
    return p;
}

/* ---- constructors --------------------------------------------------------------------------- */
jv jv_str_n(jarena *a, jctx_err *e, int line, const char *s, size_t n) {
    size_t sz;
    if (!ck_add_size(sizeof(jstr), n, &sz) || !ck_add_size(sz, 1, &sz))
        jinja_throw(e, line, SLM_E_NOMEM, "string too long");
    jstr *str = jarena_alloc(a, e, line, sz);
    str->len = n;
    if (n) memcpy(str->s, s, n);
    str->s[n] = 0;
    jv v = {0};
    v.k = JV_STR;
    v.u.s = str;
    return v;
}

jv jv_str(jarena *a, jctx_err *e, int line, const char *s) { return jv_str_n(a, e, line, s, strlen(s)); }

jlist *jlist_new(jarena *a, jctx_err *e, int line, size_t cap) {
    jlist *l = jarena_alloc(a, e, line, sizeof *l);
    memset(l, 0, sizeof *l);
    if (cap) {
        size_t sz;
        if (!ck_mul_size(cap, sizeof(jv), &sz)) jinja_throw(e, line, SLM_E_NOMEM, "list too long");
        l->v = jarena_alloc(a, e, line, sz);
        l->cap = cap;
    }
    return l;
}

void jlist_push(jarena *a, jctx_err *e, int line, jlist *l, jv v) {
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 4, sz;
        if (!ck_mul_size(cap, sizeof(jv), &sz)) jinja_throw(e, line, SLM_E_NOMEM, "list too long");
        jv *nv = jarena_alloc(a, e, line, sz);
        if (l->n) memcpy(nv, l->v, l->n * sizeof(jv));
        l->v = nv;
        l->cap = cap;
    }
    l->v[l->n++] = v;
}

jdict *jdict_new(jarena *a, jctx_err *e, int line) {
    jdict *d = jarena_alloc(a, e, line, sizeof *d);
    memset(d, 0, sizeof *d);
    return d;
}

static bool key_equal(jv a, jv b) {
    if (a.k == JV_STR && b.k == JV_STR) return a.u.s->len == b.u.s->len && !memcmp(a.u.s->s, b.u.s->s, a.u.s->len);
    return jv_equal(a, b);
}

static uint64_t hash_bytes(const char *s, size_t n) { /* FNV-1a */
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

static uint64_t mix64(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    return x;
}

/* Keys equal under key_equal hash alike: numbers (bool, int, float) by their double value (1, 1.0
 * and true are one key, as in Python; ints that differ only past 2^53 share a bucket and are told
 * apart by key_equal), strings by their bytes, tuples by length and scalar items, the rest by kind. */
static uint64_t key_hash_d(jv k, int depth) {
    if (jv_is_num(k)) {
        double x = jv_num(k);
        if (x == 0) x = 0; /* -0.0 == 0.0 */
        uint64_t bits;
        memcpy(&bits, &x, sizeof bits);
        return mix64(bits);
    }
    if (k.k == JV_STR) return hash_bytes(k.u.s->s, k.u.s->len);
    if (k.k == JV_LIST && depth < 2) {
        uint64_t h = mix64(k.u.l->n + 0x9e37);
        for (size_t i = 0; i < k.u.l->n && i < 8; i++) h = mix64(h ^ key_hash_d(k.u.l->v[i], depth + 1));
        return h;
    }
    return mix64(0x100 + k.k);
}

static void index_put(jdict *d, size_t i, uint64_t h) {
    size_t mask = d->n_slots - 1, s = (size_t)h & mask;
    while (d->slots[s]) s = (s + 1) & mask;
    d->slots[s] = (uint32_t)(i + 1);
}

/* The slot of key (hash h) in d's index, or of the empty slot ending its probe run. */
static size_t index_find(const jdict *d, jv key, uint64_t h) {
    size_t mask = d->n_slots - 1, s = (size_t)h & mask;
    while (d->slots[s] && !key_equal(d->keys[d->slots[s] - 1], key)) s = (s + 1) & mask;
    return s;
}

#define JDICT_INDEX_MIN 8 /* below this many keys a scan is as fast as hashing */

static void index_rebuild(jarena *a, jctx_err *e, int line, jdict *d) {
    size_t n_slots = 16, sz;
    while (n_slots < 4 * d->n) n_slots *= 2;
    if (d->n >= UINT32_MAX || !ck_mul_size(n_slots, sizeof(uint32_t), &sz)) jinja_throw(e, line, SLM_E_NOMEM, "dict too large");
    d->slots = jarena_alloc(a, e, line, sz);
    memset(d->slots, 0, sz);
    d->n_slots = n_slots;
    for (size_t i = 0; i < d->n; i++) index_put(d, i, key_hash_d(d->keys[i], 0));
}

/* Index of key in d, or SIZE_MAX; *h: its hash when d has an index (for index_put). */
static size_t find(const jdict *d, jv key, uint64_t *h) {
    if (d->slots) {
        *h = key_hash_d(key, 0);
        const size_t s = index_find(d, key, *h);
        return d->slots[s] ? d->slots[s] - 1 : SIZE_MAX;
    }
    for (size_t i = 0; i < d->n; i++)
        if (key_equal(d->keys[i], key)) return i;
    return SIZE_MAX;
}

void jdict_set(jarena *a, jctx_err *e, int line, jdict *d, jv key, jv val) {
    uint64_t h = 0;
    const size_t i = find(d, key, &h);
    if (i != SIZE_MAX) {
        d->vals[i] = val;
        return;
    }
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 8, sz;
        if (!ck_mul_size(cap, sizeof(jv), &sz)) jinja_throw(e, line, SLM_E_NOMEM, "dict too large");
        jv *nk = jarena_alloc(a, e, line, sz), *nv = jarena_alloc(a, e, line, sz);
        if (d->n) {
            memcpy(nk, d->keys, d->n * sizeof(jv));
            memcpy(nv, d->vals, d->n * sizeof(jv));
        }
        d->keys = nk;
        d->vals = nv;
        d->cap = cap;
    }
    d->keys[d->n] = key;
    d->vals[d->n] = val;
    d->n++;
    if (d->n >= JDICT_INDEX_MIN && (!d->slots || 2 * d->n >= d->n_slots)) index_rebuild(a, e, line, d);
    else if (d->slots) index_put(d, d->n - 1, h);
}

/* Index of the string key (key, n) in d, or SIZE_MAX. */
static size_t find_s(const jdict *d, const char *key, size_t n) {
    if (d->slots) {
        size_t mask = d->n_slots - 1;
        for (size_t s = (size_t)hash_bytes(key, n) & mask; d->slots[s]; s = (s + 1) & mask) {
            jv k = d->keys[d->slots[s] - 1];
            if (k.k == JV_STR && k.u.s->len == n && !memcmp(k.u.s->s, key, n)) return d->slots[s] - 1;
        }
        return SIZE_MAX;
    }
    for (size_t i = 0; i < d->n; i++) {
        jv k = d->keys[i];
        if (k.k == JV_STR && k.u.s->len == n && !memcmp(k.u.s->s, key, n)) return i;
    }
    return SIZE_MAX;
}

void jdict_set_s(jarena *a, jctx_err *e, int line, jdict *d, const char *key, jv val) {
    size_t n = strlen(key), i = find_s(d, key, n);
    if (i != SIZE_MAX) d->vals[i] = val; /* replace without allocating the key */
    else jdict_set(a, e, line, d, jv_str_n(a, e, line, key, n), val);
}

bool jdict_get(const jdict *d, jv key, jv *out) {
    uint64_t h;
    const size_t i = find(d, key, &h);
    if (i == SIZE_MAX) return false;
    *out = d->vals[i];
    return true;
}

bool jdict_get_s(const jdict *d, const char *key, jv *out) {
    size_t i = find_s(d, key, strlen(key));
    if (i == SIZE_MAX) return false;
    *out = d->vals[i];
    return true;
}

jv jv_list(jlist *l) { jv v = {0}; v.k = JV_LIST; v.u.l = l; return v; }
jv jv_dict(jdict *d) { jv v = {0}; v.k = JV_DICT; v.u.d = d; return v; }

/* ---- Python semantics ----------------------------------------------------------------------- */
bool jv_truthy(jv v) {
    switch (v.k) {
    case JV_UNDEF: case JV_NONE: return false;
    case JV_BOOL: return v.u.b;
    case JV_INT: return v.u.i != 0;
    case JV_FLOAT: return v.u.f != 0.0;
    case JV_STR: return v.u.s->len != 0;
    case JV_LIST: return v.u.l->n != 0;
    case JV_DICT: return v.u.d->n != 0;
    default: return true;
    }
}

bool jv_is_num(jv v) { return v.k == JV_INT || v.k == JV_FLOAT || v.k == JV_BOOL; }

double jv_num(jv v) {
    if (v.k == JV_INT) return (double)v.u.i;
    if (v.k == JV_FLOAT) return v.u.f;
    if (v.k == JV_BOOL) return v.u.b ? 1.0 : 0.0;
    return 0.0;
}

/* Values can nest deeply (or, through a namespace holding itself, cyclically): every recursive
 * walk stops at this depth (equality then says "different", printing fails). */
#define JV_MAX_NESTING 200

static bool equal_d(jv a, jv b, int depth, uint64_t *work);

bool jv_equal(jv a, jv b) {
    uint64_t work = 0;
    return equal_d(a, b, 0, &work);
}

bool jv_equal_w(jv a, jv b, uint64_t *work) { return equal_d(a, b, 0, work); }

static bool equal_d(jv a, jv b, int depth, uint64_t *work) {
    if (depth > JV_MAX_NESTING) return false;
    ++*work;
    if (jv_is_num(a) && jv_is_num(b)) {
        if (a.k != JV_FLOAT && b.k != JV_FLOAT) {
            int64_t x = a.k == JV_BOOL ? a.u.b : a.u.i, y = b.k == JV_BOOL ? b.u.b : b.u.i;
            return x == y;
        }
        return jv_num(a) == jv_num(b);
    }
    if (a.k != b.k) return false;
    switch (a.k) {
    case JV_UNDEF: case JV_NONE: return true;
    case JV_STR:
        *work += a.u.s->len / 64;
        return a.u.s->len == b.u.s->len && !memcmp(a.u.s->s, b.u.s->s, a.u.s->len);
    case JV_LIST:
        if (a.u.l->n != b.u.l->n || a.u.l->tuple != b.u.l->tuple) return false; /* (1,) != [1] */
        for (size_t i = 0; i < a.u.l->n; i++)
            if (!equal_d(a.u.l->v[i], b.u.l->v[i], depth + 1, work)) return false;
        return true;
    case JV_DICT:
        if (a.u.d->n != b.u.d->n) return false;
        for (size_t i = 0; i < a.u.d->n; i++) {
            jv o;
            if (!jdict_get(b.u.d, a.u.d->keys[i], &o) || !equal_d(a.u.d->vals[i], o, depth + 1, work)) return false;
        }
        return true;
    case JV_NS: return a.u.d == b.u.d;
    case JV_MACRO: return a.u.mac == b.u.mac;
    case JV_BUILTIN: return a.u.i == b.u.i;
    default: return false;
    }
}

const char *jv_type_name(jv v) {
    switch (v.k) {
    case JV_UNDEF: return "Undefined";
    case JV_NONE: return "NoneType";
    case JV_BOOL: return "bool";
    case JV_INT: return "int";
    case JV_FLOAT: return "float";
    case JV_STR: return "str";
    case JV_LIST: return v.u.l->tuple ? "tuple" : "list";
    case JV_DICT: return "dict";
    case JV_NS: return "Namespace";
    case JV_MACRO: return "Macro";
    case JV_BUILTIN: return "builtin_function_or_method";
    case JV_METHOD: return "builtin_function_or_method";
    }
    return "object";
}

/* ---- output buffer -------------------------------------------------------------------------- */
void jbuf_init(jbuf *b, size_t limit) {
    b->p = NULL;
    b->len = b->cap = 0;
    b->limit = limit;
    b->arena = NULL;
}

void jbuf_init_arena(jbuf *b, jarena *a, size_t limit) {
    jbuf_init(b, limit);
    b->arena = a;
}

void jbuf_free(jbuf *b) {
    if (!b->arena) free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

bool jbuf_put(jbuf *b, const char *s, size_t n) {
    if (n > b->limit || b->len > b->limit - n) return false;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1) cap *= 2;
        char *p;
        if (b->arena) {
            p = jarena_try_alloc(b->arena, cap);
            if (p && b->len) memcpy(p, b->p, b->len);
        } else {
            p = realloc(b->p, cap);
        }
        if (!p) return false;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
    return true;
}

static bool put_s(jbuf *b, const char *s) { return jbuf_put(b, s, strlen(s)); }

/* ---- printing ------------------------------------------------------------------------------- */
/* Python's float repr: the shortest digits that round-trip, in fixed notation for exponents in
 * [-4, 16) with at least one decimal, scientific otherwise ("1e+16", "1.5e-05"). */
void jv_format_float(double f, char *buf, size_t n) {
    if (isnan(f)) { snprintf(buf, n, "nan"); return; }
    if (isinf(f)) { snprintf(buf, n, f < 0 ? "-inf" : "inf"); return; }
    char tmp[40];
    int prec = 1;
    for (; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*e", prec - 1, f);
        if (strtod(tmp, NULL) == f) break;
    }
    /* tmp = [-]d.ddde[+-]XX ; split digits and exponent */
    char digits[24];
    int nd = 0, exp10 = 0;
    bool neg = false;
    const char *p = tmp;
    if (*p == '-') { neg = true; p++; }
    for (; *p && *p != 'e'; p++)
        if (*p >= '0' && *p <= '9' && nd < 23) digits[nd++] = *p;
    if (*p == 'e') exp10 = atoi(p + 1);
    while (nd > 1 && digits[nd - 1] == '0') nd--;
    digits[nd] = 0;
    char out[64];
    size_t o = 0;
    if (neg) out[o++] = '-';
    if (exp10 >= -5 + 1 && exp10 < 16) {
        if (exp10 < 0) {
            out[o++] = '0';
            out[o++] = '.';
            for (int i = 0; i < -exp10 - 1; i++) out[o++] = '0';
            for (int i = 0; i < nd; i++) out[o++] = digits[i];
        } else {
            for (int i = 0; i <= exp10; i++) out[o++] = i < nd ? digits[i] : '0';
            out[o++] = '.';
            if (nd > exp10 + 1)
                for (int i = exp10 + 1; i < nd; i++) out[o++] = digits[i];
            else
                out[o++] = '0';
        }
        out[o] = 0;
    } else {
        out[o++] = digits[0];
        if (nd > 1) {
            out[o++] = '.';
            for (int i = 1; i < nd; i++) out[o++] = digits[i];
        }
        snprintf(out + o, sizeof out - o, "e%c%02d", exp10 < 0 ? '-' : '+', exp10 < 0 ? -exp10 : exp10);
    }
    snprintf(buf, n, "%s", out);
}

static bool write_py_str_repr(jbuf *out, const jstr *s) {
    bool has_sq = memchr(s->s, '\'', s->len) != NULL, has_dq = memchr(s->s, '"', s->len) != NULL;
    char q = (has_sq && !has_dq) ? '"' : '\'';
    if (!jbuf_put(out, &q, 1)) return false;
    size_t start = 0;
    for (size_t i = 0; i < s->len; i++) {
        unsigned char c = (unsigned char)s->s[i];
        const char *esc = NULL;
        char hex[8];
        if (c == '\\') esc = "\\\\";
        else if (c == (unsigned char)q) esc = q == '\'' ? "\\'" : "\\\"";
        else if (c == '\n') esc = "\\n";
        else if (c == '\r') esc = "\\r";
        else if (c == '\t') esc = "\\t";
        else if (c < 0x20 || c == 0x7f) { snprintf(hex, sizeof hex, "\\x%02x", c); esc = hex; }
        if (esc) {
            if (!jbuf_put(out, s->s + start, i - start) || !put_s(out, esc)) return false;
            start = i + 1;
        }
    }
    return jbuf_put(out, s->s + start, s->len - start) && jbuf_put(out, &q, 1);
}

static bool write_repr_d(jbuf *out, jv v, int depth);

bool jv_write_repr(jbuf *out, jv v) { return write_repr_d(out, v, 0); }

static bool write_repr_d(jbuf *out, jv v, int depth) {
    if (depth > JV_MAX_NESTING) return false;
    switch (v.k) {
    case JV_STR: return write_py_str_repr(out, v.u.s);
    case JV_LIST: {
        bool t = v.u.l->tuple;
        if (!put_s(out, t ? "(" : "[")) return false;
        for (size_t i = 0; i < v.u.l->n; i++) {
            if (i && !put_s(out, ", ")) return false;
            if (!write_repr_d(out, v.u.l->v[i], depth + 1)) return false;
        }
        if (t && v.u.l->n == 1 && !put_s(out, ",")) return false;
        return put_s(out, t ? ")" : "]");
    }
    case JV_DICT: case JV_NS: {
        if (!put_s(out, v.k == JV_NS ? "<Namespace {" : "{")) return false;
        for (size_t i = 0; i < v.u.d->n; i++) {
            if (i && !put_s(out, ", ")) return false;
            if (!write_repr_d(out, v.u.d->keys[i], depth + 1) || !put_s(out, ": ") ||
                !write_repr_d(out, v.u.d->vals[i], depth + 1))
                return false;
        }
        return put_s(out, v.k == JV_NS ? "}>" : "}");
    }
    default: return jv_write_str(out, v);
    }
}

bool jv_write_str(jbuf *out, jv v) {
    char tmp[64];
    switch (v.k) {
    case JV_UNDEF: return true;
    case JV_NONE: return put_s(out, "None");
    case JV_BOOL: return put_s(out, v.u.b ? "True" : "False");
    case JV_INT: snprintf(tmp, sizeof tmp, "%lld", (long long)v.u.i); return put_s(out, tmp);
    case JV_FLOAT: jv_format_float(v.u.f, tmp, sizeof tmp); return put_s(out, tmp);
    case JV_STR: return jbuf_put(out, v.u.s->s, v.u.s->len);
    case JV_LIST: case JV_DICT: case JV_NS: return jv_write_repr(out, v);
    case JV_MACRO: return put_s(out, "<Macro>");
    default: return put_s(out, "<built-in function>");
    }
}

static bool write_json_str(jbuf *out, const char *s, size_t n) {
    if (!put_s(out, "\"")) return false;
    size_t start = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        const char *esc = NULL;
        char hex[8];
        if (c == '"') esc = "\\\"";
        else if (c == '\\') esc = "\\\\";
        else if (c == '\n') esc = "\\n";
        else if (c == '\r') esc = "\\r";
        else if (c == '\t') esc = "\\t";
        else if (c == '\b') esc = "\\b";
        else if (c == '\f') esc = "\\f";
        else if (c < 0x20) { snprintf(hex, sizeof hex, "\\u%04x", c); esc = hex; }
        if (esc) {
            if (!jbuf_put(out, s + start, i - start) || !put_s(out, esc)) return false;
            start = i + 1;
        }
    }
    return jbuf_put(out, s + start, n - start) && put_s(out, "\"");
}

static bool json_newline(jbuf *out, int indent, int depth) {
    if (!put_s(out, "\n")) return false;
    for (int i = 0; i < indent * depth; i++)
        if (!put_s(out, " ")) return false;
    return true;
}

#define JSON_MAX_DEPTH 200

static bool key_gt(jv a, jv b) { /* bytewise, as Python compares str */
    size_t m = a.u.s->len < b.u.s->len ? a.u.s->len : b.u.s->len;
    int c = memcmp(a.u.s->s, b.u.s->s, m);
    return c > 0 || (c == 0 && a.u.s->len > b.u.s->len);
}

/* Key order for sort_keys: a stable merge sort of indices by key (O(n log n): a dict of many keys
 * must not cost n^2). Only all-string keys are sorted; with other keys the insertion order stays. */
static size_t *sorted_key_order(const jdict *d) {
    size_t n = d->n, *idx = malloc((n ? n : 1) * sizeof *idx), *tmp = malloc((n ? n : 1) * sizeof *tmp);
    if (!idx || !tmp) {
        free(idx);
        free(tmp);
        return NULL;
    }
    bool all_str = true;
    for (size_t i = 0; i < n; i++) {
        idx[i] = i;
        all_str = all_str && d->keys[i].k == JV_STR;
    }
    for (size_t w = 1; all_str && w < n; w *= 2) {
        for (size_t lo = 0; lo < n; lo += 2 * w) {
            size_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n, i = lo, j = mid, o = lo;
            while (i < mid && j < hi) tmp[o++] = key_gt(d->keys[idx[i]], d->keys[idx[j]]) ? idx[j++] : idx[i++];
            while (i < mid) tmp[o++] = idx[i++];
            while (j < hi) tmp[o++] = idx[j++];
        }
        memcpy(idx, tmp, n * sizeof *idx);
    }
    free(tmp);
    return idx;
}

static bool write_json_key(jbuf *out, jv k, int depth, const char **bad) {
    if (k.k == JV_STR) return write_json_str(out, k.u.s->s, k.u.s->len);
    if (k.k == JV_INT || k.k == JV_FLOAT || k.k == JV_BOOL || k.k == JV_NONE) { /* json.dumps stringifies them */
        jbuf kb;
        jbuf_init(&kb, 64);
        jjson_opts plain = {.indent = -1};
        bool ok = jv_write_json(&kb, k, &plain, depth, bad) && write_json_str(out, kb.p ? kb.p : "", kb.len);
        jbuf_free(&kb);
        return ok;
    }
    *bad = jv_type_name(k);
    return false;
}

bool jv_write_json(jbuf *out, jv v, const jjson_opts *o, int depth, const char **bad) {
    char tmp[64];
    int indent = o->indent;
    const char *isep = o->item_sep ? o->item_sep : indent >= 0 ? "," : ", ";
    const char *ksep = o->key_sep ? o->key_sep : ": ";
    if (depth > JSON_MAX_DEPTH) { *bad = "nesting too deep"; return false; }
    switch (v.k) {
    case JV_NONE: return put_s(out, "null");
    case JV_BOOL: return put_s(out, v.u.b ? "true" : "false");
    case JV_INT: snprintf(tmp, sizeof tmp, "%lld", (long long)v.u.i); return put_s(out, tmp);
    case JV_FLOAT:
        if (isnan(v.u.f)) return put_s(out, "NaN");
        if (isinf(v.u.f)) return put_s(out, v.u.f < 0 ? "-Infinity" : "Infinity");
        jv_format_float(v.u.f, tmp, sizeof tmp);
        return put_s(out, tmp);
    case JV_STR: return write_json_str(out, v.u.s->s, v.u.s->len);
    case JV_LIST: {
        if (v.u.l->n == 0) return put_s(out, "[]");
        if (!put_s(out, "[")) return false;
        for (size_t i = 0; i < v.u.l->n; i++) {
            if (i && !put_s(out, isep)) return false;
            if (indent >= 0 && !json_newline(out, indent, depth + 1)) return false;
            if (!jv_write_json(out, v.u.l->v[i], o, depth + 1, bad)) return false;
        }
        if (indent >= 0 && !json_newline(out, indent, depth)) return false;
        return put_s(out, "]");
    }
    case JV_DICT: {
        if (v.u.d->n == 0) return put_s(out, "{}");
        size_t *order = o->sort_keys ? sorted_key_order(v.u.d) : NULL;
        if (o->sort_keys && !order) return false;
        bool ok = put_s(out, "{");
        for (size_t j = 0; ok && j < v.u.d->n; j++) {
            size_t i = order ? order[j] : j;
            if (j) ok = put_s(out, isep);
            if (ok && indent >= 0) ok = json_newline(out, indent, depth + 1);
            ok = ok && write_json_key(out, v.u.d->keys[i], depth + 1, bad) && put_s(out, ksep) &&
                 jv_write_json(out, v.u.d->vals[i], o, depth + 1, bad);
        }
        free(order);
        if (ok && indent >= 0) ok = json_newline(out, indent, depth);
        return ok && put_s(out, "}");
    }
    default: *bad = jv_type_name(v); return false;
    }
}

jv jv_to_str(jarena *a, jctx_err *e, int line, jv v) {
    if (v.k == JV_STR) return v;
    jbuf b;
    jbuf_init(&b, a->limit);
    if (!jv_write_str(&b, v)) {
        jbuf_free(&b);
        jinja_throw(e, line, SLM_E_NOMEM, "value too large to print");
    }
    /* copy into the arena so the malloc'd buffer is released before any later throw */
    char *tmp = b.p;
    size_t n = b.len;
    jv r;
    void *p = jarena_try_alloc(a, sizeof(jstr) + n + 1);
    if (!p) {
        free(tmp);
        jinja_throw(e, line, SLM_E_NOMEM, "template needs too much memory (limit %zu bytes)", a->limit);
    }
    jstr *s = p;
    s->len = n;
    if (n) memcpy(s->s, tmp, n);
    s->s[n] = 0;
    free(tmp);
    r.k = JV_STR;
    r.u.s = s;
    return r;
}
