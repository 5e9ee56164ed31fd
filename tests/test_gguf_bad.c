/* GGUF reader robustness: a table of hand-made broken files, each built by an independent
 * serializer in this file (not by src/gguf's writer) from one valid layout with a single defect,
 * must be rejected with the expected status and a message naming the problem. Also: every
 * strict prefix of the valid file is rejected, and single-byte corruptions anywhere never crash
 * (every file that still opens is walked completely). Buffers are malloc'd at their exact size
 * so ASan sees any over-read. */
#include <stdlib.h>
#include <string.h>

#include "base/dtype.h"
#include "base/file.h"
#include "gguf/gguf.h"
#include "testutil.h"

enum {
    C_OK, C_MAGIC, C_EMPTY, C_V1, C_V99, C_BIG_ENDIAN, C_NKV_HUGE, C_NKV_PLUS1, C_NT_HUGE, C_NT_PLUS1,
    C_KEYLEN_HUGE, C_STRLEN_HUGE, C_ARRLEN_HUGE, C_STRARR_HUGE, C_STRARR_ELEM_HUGE, C_VALTYPE, C_ELEMTYPE,
    C_TTYPE_31, C_TTYPE_4, C_TTYPE_HUGE, C_NDIMS5, C_DIM_ZERO, C_DIM_HUGE, C_DIM_NEG, C_DIM_OVERFLOW,
    C_BLOCK, C_MISALIGNED, C_PAST_EOF, C_ALIGN0, C_ALIGN3, C_ALIGN_2_40, C_ALIGN_STR, C_DUP_TENSOR,
    C_DUP_KEY, C_OVERLAP, C_NESTED_DEEP, C_EMPTY_KEY, C_KEY_NUL, C_NAME_LONG, C_NAME_EMPTY, C_OFFSET_HUGE,
    C_NESTED_OK, C_NDIMS0_OK, C_ALIGN64_OK, C_COUNT
};

typedef struct bb {
    uint8_t *p;
    size_t len, cap;
} bb;

static void put(bb *b, const void *s, size_t n) {
    if (b->len + n > b->cap) {
        b->cap = (b->len + n) * 2 + 256;
        b->p = realloc(b->p, b->cap);
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
}
static void u32(bb *b, uint32_t v) { put(b, &v, 4); }
static void u64(bb *b, uint64_t v) { put(b, &v, 8); }
static void str(bb *b, const char *s) {
    u64(b, strlen(s));
    put(b, s, strlen(s));
}
static void pad_to(bb *b, size_t align) {
    static const uint8_t z[64];
    while (b->len % align) put(b, z, 1);
}

static void nested(bb *b, int depth) { /* array of one array of ... of one uint8 */
    u32(b, depth > 1 ? 9 : 0);
    u64(b, 1);
    if (depth > 1) nested(b, depth - 1);
    else put(b, "\x2a", 1);
}

/* The valid file: 6 keys, 3 tensors (F32 [8], Q4_0 [32,2], F16 [4,4]) at offsets 0, 64, 128 in a
 * 160-byte data section (the last tensor ends exactly at the file end: no trailing padding, so
 * every strict prefix is invalid). Case c injects one defect. */
static uint8_t *build(int c, size_t *size) {
    bb b = {0};
    uint64_t align = c == C_ALIGN64_OK ? 64 : 32;
    int extra_kv = (c == C_DUP_KEY || c == C_NESTED_DEEP || c == C_EMPTY_KEY || c == C_KEY_NUL || c == C_NESTED_OK);
    uint64_t n_kv = 6 + extra_kv, n_t = 3;

    put(&b, c == C_MAGIC ? "GGUX" : "GGUF", 4);
    u32(&b, c == C_V1 ? 1 : c == C_V99 ? 99 : c == C_BIG_ENDIAN ? 0x03000000u : 3);
    u64(&b, c == C_NT_HUGE ? (1ull << 40) : c == C_NT_PLUS1 ? n_t + 1 : n_t);
    u64(&b, c == C_NKV_HUGE ? (1ull << 40) : c == C_NKV_PLUS1 ? n_kv + 1 : n_kv);

    if (c == C_KEYLEN_HUGE) {
        u64(&b, 1ull << 50);
        put(&b, "general.architecture", 20);
    } else {
        str(&b, "general.architecture");
    }
    u32(&b, 8);
    if (c == C_STRLEN_HUGE) {
        u64(&b, 1000000);
        put(&b, "test", 4);
    } else {
        str(&b, "test");
    }

    str(&b, "test.count");
    u32(&b, c == C_VALTYPE ? 13 : 4);
    u32(&b, 7);

    str(&b, "test.names");
    u32(&b, 9);
    u32(&b, 8);
    u64(&b, c == C_STRARR_HUGE ? (1ull << 61) : 3);
    str(&b, "a");
    if (c == C_STRARR_ELEM_HUGE) {
        u64(&b, ~0ull);
        put(&b, "bb", 2);
    } else {
        str(&b, "bb");
    }
    str(&b, "ccc");

    str(&b, "test.scores");
    u32(&b, 9);
    u32(&b, c == C_ELEMTYPE ? 99 : 6);
    u64(&b, c == C_ARRLEN_HUGE ? (1ull << 62) : 3);
    float sc[3] = {1.5f, -2.0f, 0.25f};
    put(&b, sc, sizeof sc);

    str(&b, "general.alignment");
    if (c == C_ALIGN_2_40) {
        u32(&b, 10);
        u64(&b, 1ull << 40);
    } else if (c == C_ALIGN_STR) {
        u32(&b, 8);
        str(&b, "32");
    } else {
        u32(&b, 4);
        u32(&b, c == C_ALIGN0 ? 0 : c == C_ALIGN3 ? 3 : (uint32_t)align);
    }

    str(&b, "test.flag");
    u32(&b, 7);
    put(&b, "\x01", 1);

    if (c == C_DUP_KEY) {
        str(&b, "test.count");
        u32(&b, 4);
        u32(&b, 8);
    } else if (c == C_NESTED_DEEP || c == C_NESTED_OK) {
        str(&b, "test.nested");
        u32(&b, 9);
        nested(&b, c == C_NESTED_DEEP ? GGUF_MAX_ARRAY_DEPTH + 1 : 3);
    } else if (c == C_EMPTY_KEY) {
        str(&b, "");
        u32(&b, 0);
        put(&b, "\x01", 1);
    } else if (c == C_KEY_NUL) {
        u64(&b, 3);
        put(&b, "a\0b", 3);
        u32(&b, 0);
        put(&b, "\x01", 1);
    }

    /* tensor a: F32 [8] at 0 */
    if (c == C_NAME_LONG) {
        char longname[GGUF_MAX_NAME + 2];
        memset(longname, 'x', sizeof longname - 1);
        longname[sizeof longname - 1] = 0;
        str(&b, longname);
    } else {
        str(&b, c == C_NAME_EMPTY ? "" : "a");
    }
    u32(&b, c == C_NDIMS5 ? 5 : c == C_NDIMS0_OK ? 0 : 1);
    if (c == C_NDIMS5) for (int i = 0; i < 4; i++) u64(&b, 1);
    if (c != C_NDIMS0_OK) u64(&b, c == C_DIM_HUGE ? (1ull << 62) : c == C_DIM_NEG ? (1ull << 63) : 8);
    u32(&b, c == C_TTYPE_31 ? 31 : c == C_TTYPE_4 ? 4 : c == C_TTYPE_HUGE ? 0xffffffffu : 0);
    u64(&b, c == C_MISALIGNED ? 4 : c == C_OFFSET_HUGE ? ~0ull - 31 : 0);

    /* tensor b: Q4_0 [32, 2] = 36 bytes at 64 (alignment 64: at 64 too) */
    str(&b, c == C_DUP_TENSOR ? "a" : "b");
    u32(&b, c == C_DIM_OVERFLOW ? 4 : 2);
    if (c == C_DIM_OVERFLOW) {
        u64(&b, 1ull << 21);
        u64(&b, 1ull << 21);
        u64(&b, 1ull << 21);
        u64(&b, 1ull << 21);
    } else {
        u64(&b, c == C_BLOCK ? 16 : 32);
        u64(&b, c == C_DIM_ZERO ? 0 : 2);
    }
    u32(&b, 2);
    u64(&b, c == C_OVERLAP ? 0 : 64);

    /* tensor c: F16 [4, 4] = 32 bytes at 128 */
    str(&b, "c");
    u32(&b, 2);
    u64(&b, 4);
    u64(&b, 4);
    u32(&b, 1);
    u64(&b, c == C_PAST_EOF ? 4096 : 128);

    pad_to(&b, align);
    size_t data_len = 160;
    for (size_t i = 0; i < data_len; i++) {
        uint8_t v = (uint8_t)(i * 7 + 1);
        put(&b, &v, 1);
    }
    if (c == C_EMPTY) b.len = 0;
    *size = b.len;
    uint8_t *exact = malloc(b.len ? b.len : 1);
    memcpy(exact, b.p, b.len);
    free(b.p);
    return exact;
}

typedef struct bad_case {
    int c;
    slm_status code;
    const char *needle; /* must appear in the error message */
} bad_case;

static const bad_case k_cases[] = {
    {C_MAGIC, SLM_E_FORMAT, "magic"},
    {C_EMPTY, SLM_E_FORMAT, "too small"},
    {C_V1, SLM_E_UNSUPPORTED, "version 1"},
    {C_V99, SLM_E_UNSUPPORTED, "version 99"},
    {C_BIG_ENDIAN, SLM_E_UNSUPPORTED, "big-endian"},
    {C_NKV_HUGE, SLM_E_FORMAT, "metadata entries"},
    {C_NKV_PLUS1, SLM_E_FORMAT, "gguf: "}, /* the parse runs into the tensor infos: any format error */
    {C_NT_HUGE, SLM_E_FORMAT, "tensors"},
    {C_NT_PLUS1, SLM_E_FORMAT, "tensor 3"},
    {C_KEYLEN_HUGE, SLM_E_FORMAT, "key length"},
    {C_STRLEN_HUGE, SLM_E_FORMAT, "'general.architecture': string value length 1000000"},
    {C_ARRLEN_HUGE, SLM_E_FORMAT, "'test.scores': array of 4611686018427387904 float32"},
    {C_STRARR_HUGE, SLM_E_FORMAT, "'test.names': array claims"},
    {C_STRARR_ELEM_HUGE, SLM_E_FORMAT, "'test.names': array string element length"},
    {C_VALTYPE, SLM_E_FORMAT, "'test.count': invalid value type 13"},
    {C_ELEMTYPE, SLM_E_FORMAT, "'test.scores': invalid array element type 99"},
    {C_TTYPE_31, SLM_E_FORMAT, "'a': unknown type id 31"},
    {C_TTYPE_4, SLM_E_FORMAT, "'a': unknown type id 4"},
    {C_TTYPE_HUGE, SLM_E_FORMAT, "'a': unknown type id 4294967295"},
    {C_NDIMS5, SLM_E_FORMAT, "'a': 5 dimensions"},
    {C_DIM_ZERO, SLM_E_FORMAT, "'b': dimension 1 has invalid size 0"},
    {C_DIM_HUGE, SLM_E_FORMAT, "'a': shape"},
    {C_DIM_NEG, SLM_E_FORMAT, "'a': dimension 0 has invalid size"},
    {C_DIM_OVERFLOW, SLM_E_FORMAT, "'b': shape"},
    {C_BLOCK, SLM_E_FORMAT, "'b': ne[0] = 16 is not a multiple of the Q4_0 block size 32"},
    {C_MISALIGNED, SLM_E_FORMAT, "'a': data offset 4 is not a multiple of the alignment 32"},
    {C_PAST_EOF, SLM_E_FORMAT, "'c': data"},
    {C_ALIGN0, SLM_E_FORMAT, "general.alignment = 0"},
    {C_ALIGN3, SLM_E_FORMAT, "general.alignment = 3"},
    {C_ALIGN_2_40, SLM_E_FORMAT, "general.alignment = 1099511627776"},
    {C_ALIGN_STR, SLM_E_FORMAT, "general.alignment has type string"},
    {C_DUP_TENSOR, SLM_E_FORMAT, "duplicate tensor name 'a'"},
    {C_DUP_KEY, SLM_E_FORMAT, "duplicate key 'test.count'"},
    {C_OVERLAP, SLM_E_FORMAT, "overlap"},
    {C_NESTED_DEEP, SLM_E_FORMAT, "'test.nested': arrays nested deeper"},
    {C_EMPTY_KEY, SLM_E_FORMAT, "empty key"},
    {C_KEY_NUL, SLM_E_FORMAT, "NUL"},
    {C_NAME_LONG, SLM_E_FORMAT, "is 257 bytes long"},
    {C_NAME_EMPTY, SLM_E_FORMAT, "tensor 0: empty name"},
    {C_OFFSET_HUGE, SLM_E_FORMAT, "'a': data"},
};

/* Touch every value and tensor byte of an opened file (what a consumer could do). */
static uint64_t walk_arr(const gguf_file *f, const gguf_arr *a, int depth) {
    uint64_t acc = a->n + (uint64_t)a->type;
    for (uint64_t i = 0; i < a->n; i++) {
        gguf_str s;
        gguf_arr sub;
        double d;
        if (gguf_arr_str(f, a, i, &s)) acc += s.len ? (uint8_t)s.ptr[s.len - 1] : 0;
        else if (gguf_arr_arr(f, a, i, &sub)) acc += walk_arr(f, &sub, depth + 1);
        else if (gguf_arr_get_f64(a, i, &d)) acc += (uint64_t)(d == d);
    }
    return acc;
}

static uint64_t walk(const gguf_file *f) {
    uint64_t acc = 0;
    for (int64_t i = 0; i < gguf_n_kv(f); i++) {
        gguf_value v;
        if (!gguf_kv_value(f, i, &v)) continue;
        acc += strlen(gguf_key_name(f, i));
        if (v.type == GGUF_TYPE_STRING && v.s.len) acc += (uint8_t)v.s.ptr[v.s.len - 1];
        if (v.type == GGUF_TYPE_ARRAY) acc += walk_arr(f, &v.arr, 1);
    }
    for (int64_t i = 0; i < gguf_n_tensors(f); i++) {
        const gguf_tensor_info *t = gguf_tensor(f, i);
        const uint8_t *p = t->data;
        acc += p[0] + p[t->nbytes - 1] + strlen(t->name);
        acc += gguf_find_tensor(f, t->name) == t;
    }
    return acc;
}

static void test_valid_variants(void) {
    int ok_cases[] = {C_OK, C_NESTED_OK, C_NDIMS0_OK, C_ALIGN64_OK};
    for (size_t k = 0; k < sizeof ok_cases / sizeof ok_cases[0]; k++) {
        size_t n;
        uint8_t *buf = build(ok_cases[k], &n);
        gguf_file *f = NULL;
        slm_error e = {0};
        slm_status s = gguf_open_memory(buf, n, &f, &e);
        CHECK(s == SLM_OK, "valid case %d rejected: %s", ok_cases[k], e.msg);
        if (s == SLM_OK) {
            CHECK(gguf_n_tensors(f) == 3 && gguf_version(f) == 3, "counts");
            const gguf_tensor_info *c = gguf_find_tensor(f, "c");
            CHECK(c && c->type == SLM_DT_F16 && c->ne[0] == 4 && c->ne[1] == 4 && c->nbytes == 32, "tensor c");
            CHECK(c && (const uint8_t *)c->data + 32 == buf + n, "tensor c ends at the file end");
            const gguf_tensor_info *a = gguf_tensor(f, 0);
            CHECK(a->n_dims == 1 && a->ne[0] == (ok_cases[k] == C_NDIMS0_OK ? 1 : 8), "tensor a shape");
            CHECK(gguf_alignment(f) == (ok_cases[k] == C_ALIGN64_OK ? 64u : 32u), "alignment");
            if (ok_cases[k] == C_NESTED_OK) {
                gguf_arr a1, a2, a3;
                int64_t v = 0;
                CHECK(gguf_get_arr(f, "test.nested", &a1) && a1.type == GGUF_TYPE_ARRAY && a1.n == 1, "nested 1");
                CHECK(gguf_arr_arr(f, &a1, 0, &a2) && a2.type == GGUF_TYPE_ARRAY && a2.n == 1, "nested 2");
                CHECK(gguf_arr_arr(f, &a2, 0, &a3) && a3.type == GGUF_TYPE_UINT8 && a3.n == 1, "nested 3");
                CHECK(gguf_arr_get_i64(&a3, 0, &v) && v == 42, "nested value %lld", (long long)v);
                CHECK(!gguf_arr_arr(f, &a1, 1, &a2), "nested index out of range");
            }
            walk(f);
        }
        gguf_close(f);
        free(buf);
    }
}

static void test_bad_cases(void) {
    CHECK(sizeof k_cases / sizeof k_cases[0] >= 25, "corpus size");
    for (size_t k = 0; k < sizeof k_cases / sizeof k_cases[0]; k++) {
        size_t n;
        uint8_t *buf = build(k_cases[k].c, &n);
        gguf_file *f = (gguf_file *)buf; /* must be reset to NULL on failure */
        slm_error e = {0};
        slm_status s = gguf_open_memory(buf, n, &f, &e);
        CHECK(s == k_cases[k].code, "case %d: status %d (%s), expected %d", k_cases[k].c, s, e.msg, k_cases[k].code);
        CHECK(f == NULL, "case %d: out not NULL on failure", k_cases[k].c);
        if (getenv("GGUF_VERBOSE")) fprintf(stderr, "case %d: %s\n", k_cases[k].c, e.msg);
        CHECK(strstr(e.msg, k_cases[k].needle) != NULL, "case %d: message '%s' lacks '%s'", k_cases[k].c, e.msg,
              k_cases[k].needle);
        if (s == SLM_OK) gguf_close(f);
        free(buf);
    }
}

static void test_truncations(void) {
    size_t n;
    uint8_t *full = build(C_OK, &n);
    int bad = 0;
    for (size_t len = 0; len < n; len++) {
        uint8_t *p = malloc(len ? len : 1);
        memcpy(p, full, len);
        gguf_file *f = NULL;
        slm_error e = {0};
        slm_status s = gguf_open_memory(len ? p : NULL, len, &f, &e);
        if (s != SLM_OK && s != SLM_E_FORMAT) bad++;
        if (s == SLM_OK) {
            bad++;
            gguf_close(f);
        }
        if (s == SLM_E_FORMAT && !e.msg[0]) bad++;
        if (len == 20 || len == 29 || len == n - 1)
            CHECK(strstr(e.msg, "truncated") || strstr(e.msg, "past the end") || strstr(e.msg, "exceeds") || strstr(e.msg, "follow"),
                  "prefix %zu: message '%s'", len, e.msg);
        free(p);
    }
    CHECK(bad == 0, "%d of %zu strict prefixes were not rejected as format errors", bad, n);
    free(full);
}

/* Every byte replaced by a few values: no crash, every result either an error with a message
 * or a file whose every value and tensor can be walked. */
static void test_byte_corruptions(void) {
    size_t n;
    uint8_t *full = build(C_OK, &n);
    static const uint8_t vals[] = {0x00, 0x01, 0x7f, 0x80, 0xff};
    int opened = 0, silent = 0;
    for (size_t pos = 0; pos < n; pos++) {
        for (size_t v = 0; v < sizeof vals; v++) {
            uint8_t *p = malloc(n);
            memcpy(p, full, n);
            p[pos] = vals[v];
            gguf_file *f = NULL;
            slm_error e = {0};
            if (gguf_open_memory(p, n, &f, &e) == SLM_OK) {
                opened++;
                walk(f);
                gguf_close(f);
            } else if (!e.msg[0]) {
                silent++;
            }
            free(p);
        }
    }
    CHECK(silent == 0, "%d corruptions failed without a message", silent);
    CHECK(opened > 0, "no corruption left a valid file (data bytes should be free to change)");
    free(full);
}

/* The file-based entry point: I/O errors, and format errors prefixed with the path. */
static void test_open_paths(void) {
    gguf_file *f = NULL;
    slm_error e = {0};
    CHECK(gguf_open(tu_path("%s/no-such-file.gguf", tu_tmpdir()), &f, &e) == SLM_E_IO && !f, "missing file: %s", e.msg);
    CHECK(gguf_open(tu_tmpdir(), &f, &e) == SLM_E_IO && !f, "directory: %s", e.msg);
    size_t n;
    uint8_t *buf = build(C_DUP_KEY, &n);
    const char *path = tu_path("%s/gguf_bad_dup_key.gguf", tu_tmpdir());
    CHECK(slm_file_write_atomic(path, buf, n, &e) == SLM_OK, "write %s", path);
    CHECK(gguf_open(path, &f, &e) == SLM_E_FORMAT && !f && strstr(e.msg, path) && strstr(e.msg, "duplicate key"),
          "bad file on disk: %s", e.msg);
    remove(path);
    free(buf);
    buf = build(C_OK, &n);
    path = tu_path("%s/gguf_ok.gguf", tu_tmpdir());
    CHECK(slm_file_write_atomic(path, buf, n, &e) == SLM_OK, "write %s", path);
    CHECK(gguf_open(path, &f, &e) == SLM_OK && f && gguf_file_size(f) == n, "good file on disk: %s", e.msg);
    gguf_close(f);
    gguf_close(NULL);
    remove(path);
    free(buf);
}

int main(void) {
    test_open_paths();
    test_valid_variants();
    test_bad_cases();
    test_truncations();
    test_byte_corruptions();
    return tu_finish("test_gguf_bad");
}
