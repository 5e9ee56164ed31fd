/* GGUF writer: every value type and tensor kind round-trips through the reader; file and memory
 * output agree; the atomic write leaves no temp file (also on failure); bad arguments are
 * refused; and re-writing every llama.cpp-made fixture GGUF (all metadata copied, all tensors by
 * pointer) reproduces the original bytes exactly. */
#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/dtype.h"
#include "base/error.h"
#include "base/file.h"
#include "gguf/gguf.h"
#include "testutil.h"

#define OKS(call)                                                        \
    do {                                                                 \
        slm_error e_ = {0};                                              \
        slm_status s_ = (call);                                          \
        CHECK(s_ == SLM_OK, "%s -> %d: %s", #call, s_, e_.msg);          \
    } while (0)

static uint8_t g_q8[3 * 2 * 34], g_f32[3 * 4], g_i32[16 * 4];

static slm_status fill_pattern(void *user, int64_t index, void *dst, uint64_t nbytes, slm_error *err) {
    for (uint64_t i = 0; i < nbytes; i++) ((uint8_t *)dst)[i] = (uint8_t)(i * 31 + (uint64_t)index + *(int *)user);
    return SLM_OK;
}

static slm_status fill_fail(void *user, int64_t index, void *dst, uint64_t nbytes, slm_error *err) {
    (void)user, (void)index, (void)dst, (void)nbytes;
    return slm_fail(err, SLM_E_IO, "source went away");
}

/* A writer with one of everything; alignment 0 = default. */
static gguf_writer *make_writer(uint32_t alignment, int *seed) {
    gguf_writer *w = NULL;
    slm_error e_ = {0};
    CHECK(gguf_writer_new(&w, &e_) == SLM_OK, "new");
    OKS(gguf_writer_add_str(w, "general.architecture", "test", &e_));
    if (alignment) OKS(gguf_writer_add_u32(w, "general.alignment", alignment, &e_));
    OKS(gguf_writer_add_u8(w, "v.u8", 255, &e_));
    OKS(gguf_writer_add_i8(w, "v.i8", -128, &e_));
    OKS(gguf_writer_add_u16(w, "v.u16", 65535, &e_));
    OKS(gguf_writer_add_i16(w, "v.i16", -32768, &e_));
    OKS(gguf_writer_add_u32(w, "v.u32", 4000000000u, &e_));
    OKS(gguf_writer_add_i32(w, "v.i32", -7, &e_));
    OKS(gguf_writer_add_u64(w, "v.u64", UINT64_MAX, &e_));
    OKS(gguf_writer_add_i64(w, "v.i64", INT64_MIN, &e_));
    OKS(gguf_writer_add_f32(w, "v.f32", -0.15625f, &e_));
    OKS(gguf_writer_add_f64(w, "v.f64", 1e300, &e_));
    OKS(gguf_writer_add_bool(w, "v.bool", true, &e_));
    OKS(gguf_writer_add_str(w, "v.empty", "", &e_));
    OKS(gguf_writer_add_strn(w, "v.nul", "a\0b", 3, &e_));
    static char bufs[1000][8];
    const char *strs[1000];
    for (int i = 0; i < 1000; i++) {
        snprintf(bufs[i], sizeof bufs[i], "%.*s", i % 7, "tokenxx");
        strs[i] = bufs[i];
    }
    OKS(gguf_writer_add_arr_str(w, "a.strs", strs, 1000, &e_));
    gguf_str gs[2] = {{"x\0y", 3}, {"", 0}};
    OKS(gguf_writer_add_arr_gstr(w, "a.gstrs", gs, 2, &e_));
    float fl[5] = {0.5f, -1.0f, 3.25f, INFINITY, 1e-30f};
    OKS(gguf_writer_add_arr(w, "a.f32", GGUF_TYPE_FLOAT32, fl, 5, &e_));
    int32_t iv[4] = {1, -2, 3, INT32_MIN};
    OKS(gguf_writer_add_arr(w, "a.i32", GGUF_TYPE_INT32, iv, 4, &e_));
    uint8_t bl[3] = {1, 0, 1};
    OKS(gguf_writer_add_arr(w, "a.bool", GGUF_TYPE_BOOL, bl, 3, &e_));
    uint64_t uv[2] = {0, UINT64_MAX};
    OKS(gguf_writer_add_arr(w, "a.u64", GGUF_TYPE_UINT64, uv, 2, &e_));
    OKS(gguf_writer_add_arr(w, "a.empty", GGUF_TYPE_UINT8, NULL, 0, &e_));

    for (size_t i = 0; i < sizeof g_q8; i++) g_q8[i] = (uint8_t)(i * 13 + 5);
    for (size_t i = 0; i < sizeof g_f32; i++) g_f32[i] = (uint8_t)(i + 100);
    for (size_t i = 0; i < sizeof g_i32; i++) g_i32[i] = (uint8_t)(i ^ 0x5a);
    int64_t ne_f32[1] = {3}, ne_q8[2] = {64, 3}, ne_i32[4] = {2, 2, 2, 2}, ne_f16[3] = {5, 2, 3}, ne_cb[2] = {32, 2};
    OKS(gguf_writer_add_tensor(w, "t.f32", SLM_DT_F32, 1, ne_f32, g_f32, &e_)); /* 12 bytes: padded */
    OKS(gguf_writer_add_tensor(w, "t.q8", SLM_DT_Q8_0, 2, ne_q8, g_q8, &e_));
    OKS(gguf_writer_add_tensor(w, "t.i32", SLM_DT_I32, 4, ne_i32, g_i32, &e_));
    OKS(gguf_writer_add_tensor_fn(w, "t.f16", SLM_DT_F16, 3, ne_f16, fill_pattern, seed, &e_));
    OKS(gguf_writer_add_tensor_fn(w, "t.q4_cb", SLM_DT_Q4_0, 2, ne_cb, fill_pattern, seed, &e_));
    return w;
}

static void check_read_back(const uint8_t *buf, size_t n, uint32_t alignment, int seed) {
    gguf_file *f = NULL;
    slm_error e = {0};
    slm_status s = gguf_open_memory(buf, n, &f, &e);
    CHECK(s == SLM_OK, "read back: %s", e.msg);
    if (s) return;
    uint64_t al = alignment ? alignment : 32;
    CHECK(gguf_version(f) == 3 && gguf_alignment(f) == al, "version/alignment");
    CHECK(gguf_n_kv(f) == (alignment ? 22 : 21), "n_kv %lld", (long long)gguf_n_kv(f));
    CHECK(!strcmp(gguf_key_name(f, 0), "general.architecture") && gguf_key_type(f, 1) != GGUF_TYPE_COUNT, "order");

    uint32_t u32 = 0;
    int32_t i32 = 0;
    uint64_t u64 = 0;
    int64_t i64 = 0;
    float f32 = 0;
    double f64 = 0;
    bool b = false;
    gguf_str str;
    CHECK(gguf_get_u32(f, "v.u8", &u32) && u32 == 255, "u8 as u32");
    CHECK(gguf_get_i32(f, "v.i8", &i32) && i32 == -128, "i8 as i32");
    CHECK(!gguf_get_u32(f, "v.i8", &u32), "negative i8 as u32 must fail");
    CHECK(gguf_get_u32(f, "v.u16", &u32) && u32 == 65535, "u16");
    CHECK(gguf_get_i64(f, "v.i16", &i64) && i64 == -32768, "i16");
    CHECK(gguf_get_u32(f, "v.u32", &u32) && u32 == 4000000000u, "u32");
    CHECK(!gguf_get_i32(f, "v.u32", &i32), "u32 > INT32_MAX as i32 must fail");
    CHECK(gguf_get_i32(f, "v.i32", &i32) && i32 == -7, "i32");
    CHECK(gguf_get_u64(f, "v.u64", &u64) && u64 == UINT64_MAX, "u64");
    CHECK(!gguf_get_i64(f, "v.u64", &i64), "u64 max as i64 must fail");
    CHECK(gguf_get_i64(f, "v.i64", &i64) && i64 == INT64_MIN, "i64");
    CHECK(gguf_get_f32(f, "v.f32", &f32) && f32 == -0.15625f, "f32");
    CHECK(gguf_get_f64(f, "v.f64", &f64) && f64 == 1e300, "f64");
    CHECK(gguf_get_f32(f, "v.i32", &f32) && f32 == -7.0f, "int as f32");
    CHECK(!gguf_get_u32(f, "v.f32", &u32), "float as u32 must fail");
    CHECK(gguf_get_bool(f, "v.bool", &b) && b, "bool");
    CHECK(!gguf_get_bool(f, "v.u8", &b), "255 as bool must fail");
    CHECK(gguf_get_str(f, "v.empty", &str) && str.len == 0 && str.ptr, "empty string");
    CHECK(gguf_get_str(f, "v.nul", &str) && str.len == 3 && !memcmp(str.ptr, "a\0b", 3), "string with NUL");
    CHECK(!gguf_get_str(f, "v.u8", &str) && !gguf_get_u32(f, "nope", &u32) && gguf_find_key(f, "nope") == -1, "misses");

    gguf_arr a;
    gguf_str s0;
    CHECK(gguf_get_arr(f, "a.strs", &a) && a.type == GGUF_TYPE_STRING && a.n == 1000 && !a.data, "a.strs");
    int bad = 0;
    for (uint64_t i = 0; i < 1000; i++)
        if (!gguf_arr_str(f, &a, i, &s0) || s0.len != i % 7 || memcmp(s0.ptr, "tokenxx", s0.len)) bad++;
    CHECK(bad == 0 && !gguf_arr_str(f, &a, 1000, &s0), "a.strs elements (%d bad)", bad);
    CHECK(gguf_get_arr(f, "a.gstrs", &a) && a.n == 2 && gguf_arr_str(f, &a, 0, &s0) && s0.len == 3 &&
              !memcmp(s0.ptr, "x\0y", 3) && gguf_arr_str(f, &a, 1, &s0) && s0.len == 0, "a.gstrs");
    CHECK(gguf_get_arr(f, "a.f32", &a) && a.type == GGUF_TYPE_FLOAT32 && a.n == 5 && a.data, "a.f32");
    CHECK(gguf_arr_get_f32(&a, 2, &f32) && f32 == 3.25f && gguf_arr_get_f32(&a, 3, &f32) && isinf(f32) &&
              gguf_arr_get_f32(&a, 4, &f32) && f32 == 1e-30f && !gguf_arr_get_f32(&a, 5, &f32), "a.f32 values");
    CHECK(!gguf_arr_str(f, &a, 0, &s0) && !gguf_arr_get_i64(&a, 0, &i64), "a.f32 wrong accessors");
    CHECK(gguf_get_arr(f, "a.i32", &a) && gguf_arr_get_i64(&a, 3, &i64) && i64 == INT32_MIN &&
              !gguf_arr_get_u64(&a, 1, &u64), "a.i32");
    CHECK(gguf_get_arr(f, "a.bool", &a) && gguf_arr_get_bool(&a, 0, &b) && b && gguf_arr_get_bool(&a, 1, &b) && !b, "a.bool");
    CHECK(gguf_get_arr(f, "a.u64", &a) && gguf_arr_get_u64(&a, 1, &u64) && u64 == UINT64_MAX &&
              !gguf_arr_get_i64(&a, 1, &i64), "a.u64");
    CHECK(gguf_get_arr(f, "a.empty", &a) && a.n == 0 && a.type == GGUF_TYPE_UINT8, "a.empty");

    CHECK(gguf_n_tensors(f) == 5, "n_tensors");
    static const struct { const char *name; uint32_t type, n_dims; int64_t ne[4]; uint64_t nbytes; const uint8_t *data; } want[] = {
        {"t.f32", SLM_DT_F32, 1, {3, 1, 1, 1}, 12, g_f32},
        {"t.q8", SLM_DT_Q8_0, 2, {64, 3, 1, 1}, 204, g_q8},
        {"t.i32", SLM_DT_I32, 4, {2, 2, 2, 2}, 64, g_i32},
        {"t.f16", SLM_DT_F16, 3, {5, 2, 3, 1}, 60, NULL},
        {"t.q4_cb", SLM_DT_Q4_0, 2, {32, 2, 1, 1}, 36, NULL},
    };
    for (int64_t i = 0; i < 5; i++) {
        const gguf_tensor_info *t = gguf_tensor(f, i);
        CHECK(t && !strcmp(t->name, want[i].name) && t->type == want[i].type && t->n_dims == want[i].n_dims &&
                  !memcmp(t->ne, want[i].ne, sizeof t->ne) && t->nbytes == want[i].nbytes,
              "tensor %lld", (long long)i);
        if (!t) continue;
        CHECK(((const uint8_t *)t->data - buf) % al == 0 && t->offset % al == 0, "tensor %s alignment", t->name);
        uint8_t expect[256];
        if (want[i].data) memcpy(expect, want[i].data, want[i].nbytes);
        else fill_pattern(&seed, i, expect, want[i].nbytes, NULL);
        CHECK(!memcmp(t->data, expect, want[i].nbytes), "tensor %s data", t->name);
    }
    /* zero padding everywhere between tensor data (llama.cpp pads with zeros) */
    const gguf_tensor_info *t0 = gguf_tensor(f, 0);
    uint64_t off1 = (12 + al - 1) / al * al;
    CHECK(t0 && t0->offset == 0 && gguf_tensor(f, 1)->offset == off1, "offsets");
    for (uint64_t i = 12; t0 && i < off1; i++) CHECK(((const uint8_t *)t0->data)[i] == 0, "padding byte %llu", (unsigned long long)i);
    CHECK(gguf_find_tensor(f, "t.i32") == gguf_tensor(f, 2) && !gguf_find_tensor(f, "t.i3"), "find_tensor");
    gguf_close(f);
}

static bool dir_has_tmp(const char *dir) {
    DIR *d = opendir(dir);
    bool found = false;
    for (struct dirent *de; d && (de = readdir(d));)
        if (strstr(de->d_name, "gguf_write_test") && strstr(de->d_name, ".tmp.")) found = true;
    if (d) closedir(d);
    return found;
}

static void test_round_trip(void) {
    static const uint32_t aligns[] = {0, 64, 1};
    for (size_t k = 0; k < 3; k++) {
        int seed = (int)k + 3;
        gguf_writer *w = make_writer(aligns[k], &seed);
        void *mem = NULL;
        size_t n = 0;
        slm_error e = {0};
        CHECK(gguf_writer_write_memory(w, &mem, &n, &e) == SLM_OK, "write_memory: %s", e.msg);
        if (mem) check_read_back(mem, n, aligns[k], seed);

        const char *path = tu_path("%s/gguf_write_test_%zu.gguf", tu_tmpdir(), k);
        CHECK(gguf_writer_write(w, path, &e) == SLM_OK, "write %s: %s", path, e.msg);
        char *disk = NULL;
        size_t dn = 0;
        CHECK(slm_file_read_all(path, 1 << 20, &disk, &dn, &e) == SLM_OK, "read %s", path);
        CHECK(disk && dn == n && !memcmp(disk, mem, n), "file bytes differ from memory bytes");
        gguf_file *f = NULL;
        CHECK(gguf_open(path, &f, &e) == SLM_OK, "gguf_open written file: %s", e.msg);
        gguf_close(f);
        free(disk);
        free(mem);
        gguf_writer_free(w);
        remove(path);
    }
    CHECK(!dir_has_tmp(tu_tmpdir()), "temp file left behind");
}

static void test_writer_errors(void) {
    gguf_writer *w = NULL;
    slm_error e = {0};
    CHECK(gguf_writer_new(&w, &e) == SLM_OK, "new");
    int64_t ne[4] = {32, 2, 1, 1}, bad0[2] = {16, 2}, zero[2] = {32, 0};
    uint8_t data[64] = {0};
    CHECK(gguf_writer_add_u32(w, "k", 1, &e) == SLM_OK, "k");
    CHECK(gguf_writer_add_str(w, "k", "x", &e) == SLM_E_INVALID_ARG && strstr(e.msg, "duplicate key 'k'"), "dup key: %s", e.msg);
    CHECK(gguf_writer_add_u8(w, "", 1, &e) == SLM_E_INVALID_ARG, "empty key");
    CHECK(gguf_writer_add_arr(w, "s", GGUF_TYPE_STRING, data, 1, &e) == SLM_E_INVALID_ARG, "string via add_arr");
    CHECK(gguf_writer_add_tensor(w, "t", SLM_DT_Q4_0, 2, ne, data, &e) == SLM_OK, "t: %s", e.msg);
    CHECK(gguf_writer_add_tensor(w, "t", SLM_DT_F32, 1, ne, data, &e) == SLM_E_INVALID_ARG && strstr(e.msg, "duplicate tensor name 't'"), "dup tensor");
    CHECK(gguf_writer_add_tensor(w, "u", SLM_DT_Q4_0, 2, bad0, data, &e) == SLM_E_INVALID_ARG && strstr(e.msg, "'u'"), "ne0 %% block");
    CHECK(gguf_writer_add_tensor(w, "u", SLM_DT_F32, 2, zero, data, &e) == SLM_E_INVALID_ARG, "ne 0");
    CHECK(gguf_writer_add_tensor(w, "u", SLM_DT_F32, 5, ne, data, &e) == SLM_E_INVALID_ARG, "n_dims 5");
    CHECK(gguf_writer_add_tensor(w, "u", 31, 1, ne, data, &e) == SLM_E_INVALID_ARG, "type 31");
    CHECK(gguf_writer_add_tensor(w, "u", SLM_DT_F32, 1, ne, NULL, &e) == SLM_E_INVALID_ARG, "NULL data");

    /* a failing callback: error propagates with the tensor name, nothing left on disk */
    CHECK(gguf_writer_add_tensor_fn(w, "cb", SLM_DT_F32, 1, ne, fill_fail, NULL, &e) == SLM_OK, "cb");
    const char *path = tu_path("%s/gguf_write_test_fail.gguf", tu_tmpdir());
    remove(path);
    CHECK(gguf_writer_write(w, path, &e) == SLM_E_IO && strstr(e.msg, "'cb'") && strstr(e.msg, "source went away"),
          "failing fill: %s", e.msg);
    CHECK(!slm_path_exists(path) && !dir_has_tmp(tu_tmpdir()), "failed write left a file");
    gguf_writer_free(w);

    CHECK(gguf_writer_new(&w, &e) == SLM_OK, "new");
    CHECK(gguf_writer_add_u32(w, "general.alignment", 48, &e) == SLM_OK, "add");
    void *mem = NULL;
    size_t n = 0;
    CHECK(gguf_writer_write_memory(w, &mem, &n, &e) == SLM_E_INVALID_ARG && strstr(e.msg, "alignment"), "alignment 48");
    free(mem);
    gguf_writer_free(w);
    gguf_writer_free(NULL);
}

/* Copy every key and tensor of a fixture into a writer and compare the output bytes. */
static int rewrite_identical(const char *path) {
    gguf_file *f = NULL;
    slm_error e = {0};
    if (gguf_open(path, &f, &e) != SLM_OK) {
        CHECK(0, "%s: %s", path, e.msg);
        return 0;
    }
    gguf_writer *w = NULL;
    int same = 0;
    CHECK(gguf_writer_new(&w, &e) == SLM_OK, "new");
    for (int64_t i = 0; i < gguf_n_kv(f); i++) CHECK(gguf_writer_copy_kv(w, f, i, &e) == SLM_OK, "copy_kv: %s", e.msg);
    for (int64_t i = 0; i < gguf_n_tensors(f); i++) {
        const gguf_tensor_info *t = gguf_tensor(f, i);
        CHECK(gguf_writer_add_tensor(w, t->name, t->type, t->n_dims, t->ne, t->data, &e) == SLM_OK, "add %s: %s",
              t->name, e.msg);
    }
    void *mem = NULL;
    size_t n = 0;
    CHECK(gguf_writer_write_memory(w, &mem, &n, &e) == SLM_OK, "write: %s", e.msg);
    if (mem && n == gguf_file_size(f) && !memcmp(mem, gguf_file_data(f), n)) same = 1;
    CHECK(same, "%s: re-written file differs (%zu bytes vs %llu)", path, n, (unsigned long long)gguf_file_size(f));
    free(mem);
    gguf_writer_free(w);
    gguf_close(f);
    return same;
}

static void test_rewrite_fixtures(void) {
    static const char *dirs[] = {"models/llama3-tiny/gguf", "models/qwen2-tiny/gguf", "models/llama2-quant/gguf",
                                 "llamacpp-vocab"};
    int files = 0, same = 0;
    for (size_t k = 0; k < sizeof dirs / sizeof dirs[0]; k++) {
        char dir[4096];
        snprintf(dir, sizeof dir, "%s/%s", tu_fixtures(), dirs[k]);
        DIR *d = opendir(dir);
        CHECK(d != NULL, "cannot list %s", dir);
        for (struct dirent *de; d && (de = readdir(d));) {
            size_t len = strlen(de->d_name);
            if (len < 5 || strcmp(de->d_name + len - 5, ".gguf") != 0) continue;
            files++;
            same += rewrite_identical(tu_path("%s/%s", dir, de->d_name));
        }
        if (d) closedir(d);
    }
    CHECK(files == 18, "%d fixture GGUFs found, want 18", files);
    printf("test_gguf_write: %d of %d fixture GGUFs re-written byte-identical\n", same, files);
}

int main(void) {
    test_round_trip();
    test_writer_errors();
    test_rewrite_fixtures();
    return tu_finish("test_gguf_write");
}
