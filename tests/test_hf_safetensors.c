/* safetensors reader/writer: hand-made valid and hostile files (each hostile one must fail with
 * a message, never crash), writer round trip, and the real fixture files checked against an
 * independent reading of their JSON headers. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "base/dtype.h"
#include "base/file.h"
#include "hf/safetensors.h"
#include "hf/safetensors_write.h"
#include "testutil.h"

/* Build "u64 len | header | data_bytes zero bytes" in a malloc'd buffer. */
static uint8_t *make_file(const char *header, uint64_t declared_len, size_t data_bytes, size_t *size) {
    size_t h = strlen(header);
    *size = 8 + h + data_bytes;
    uint8_t *b = calloc(1, *size ? *size : 1);
    for (int i = 0; i < 8; i++) b[i] = (uint8_t)(declared_len >> (8 * i));
    memcpy(b + 8, header, h);
    for (size_t i = 0; i < data_bytes; i++) b[8 + h + i] = (uint8_t)i;
    return b;
}

static void test_valid(void) {
    const char *hdr = "{\"__metadata__\":{\"format\":\"pt\",\"k\":\"v\"},"
                      "\"b\":{\"dtype\":\"F16\",\"shape\":[2,3],\"data_offsets\":[16,28]},"
                      "\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
                      "\"s\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[28,36]},"
                      "\"e\":{\"dtype\":\"BF16\",\"shape\":[0,5],\"data_offsets\":[36,36]}}";
    size_t size;
    uint8_t *b = make_file(hdr, strlen(hdr), 36, &size);
    st_file *f = NULL;
    slm_error err = {0};
    slm_status s = safetensors_open_memory(b, size, &f, &err);
    CHECK(s == SLM_OK, "valid file rejected: %s", err.msg);
    if (s == SLM_OK) {
        CHECK(st_n_tensors(f) == 4, "n=%zu", st_n_tensors(f));
        const st_tensor *a = st_find(f, "a"), *bt = st_find(f, "b"), *sc = st_find(f, "s"), *e = st_find(f, "e");
        CHECK(a && bt && sc && e, "find");
        if (a && bt && sc && e) {
            CHECK(a->slm_type == SLM_DT_F32 && a->n_dims == 1 && a->shape[0] == 4 && a->nbytes == 16, "a");
            CHECK(a->data == b + 8 + strlen(hdr), "a data pointer is zero-copy");
            CHECK(bt->slm_type == SLM_DT_F16 && bt->n_dims == 2 && bt->shape[0] == 2 && bt->shape[1] == 3, "b");
            CHECK(bt->data == b + 8 + strlen(hdr) + 16, "b data");
            CHECK(sc->n_dims == 0 && sc->n_elements == 1 && sc->slm_type == ST_NO_SLM_DTYPE && sc->st_type == ST_I64,
                  "scalar");
            CHECK(e->n_elements == 0 && e->nbytes == 0 && e->slm_type == SLM_DT_BF16, "empty");
        }
        CHECK(st_find(f, "zz") == NULL, "absent");
        CHECK(st_tensor_at(f, 0) == a, "sorted by offset");
        CHECK(st_n_metadata(f) == 2 && st_metadata_get(f, "format") && !strcmp(st_metadata_get(f, "format"), "pt"),
              "metadata");
        st_close(f);
    }
    free(b);
}

typedef struct bad_case {
    const char *what;
    const char *header;     /* NULL: use raw */
    size_t data_bytes;
    int64_t declared_delta; /* added to strlen(header) for the length field */
    const char *msg_part;   /* expected substring of the error message */
} bad_case;

static const bad_case bad_cases[] = {
    {"header length past EOF", "{}", 0, 100, "past the end"},
    {"huge header length", "{}", 0, (int64_t)1 << 40, "limit"},
    {"bad JSON", "{\"a\":", 0, 0, "JSON"},
    {"trailing garbage", "{} x", 0, 0, "JSON"},
    {"non-object header", "[1,2]", 0, 0, "not a JSON object"},
    {"entry not object", "{\"a\":3}", 0, 0, "not an object"},
    {"unknown dtype", "{\"a\":{\"dtype\":\"Q4\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1, 0, "unknown dtype"},
    {"dtype not string", "{\"a\":{\"dtype\":5,\"shape\":[1],\"data_offsets\":[0,4]}}", 4, 0, "dtype"},
    {"missing shape", "{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4, 0, "shape"},
    {"offsets past end", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 4, 0, "past the data"},
    {"offsets reversed", "{\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[4,0]}}", 4, 0, "end < begin"},
    {"size mismatch", "{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 16, 0, "needs 12"},
    {"overlap",
     "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
     "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
     16, 0, "overlap"},
    {"negative dim", "{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4, 0, "shape[0]"},
    {"fractional dim", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", 4, 0, "shape[0]"},
    {"huge dims overflow",
     "{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,16],\"data_offsets\":[0,4]}}", 4, 0, "overflow"},
    {"huge dims byte overflow", "{\"a\":{\"dtype\":\"F64\",\"shape\":[4611686018427387904],\"data_offsets\":[0,4]}}",
     4, 0, "shape[0]"},
    {"rank 5", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1],\"data_offsets\":[0,4]}}", 4, 0, "rank 5"},
    {"duplicate names",
     "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
     "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
     8, 0, "twice"},
    {"offsets wrong arity", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", 4, 0, "data_offsets"},
    {"offsets negative", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-4,0]}}", 4, 0, "data_offsets"},
    {"metadata not object", "{\"__metadata__\":[1]}", 0, 0, "__metadata__"},
    {"metadata non-string value", "{\"__metadata__\":{\"a\":1}}", 0, 0, "not a string"},
    {"header shorter than declared", "{}", 0, 1, "past the end"},
    {"empty header", "", 0, 0, "too short"},
};

static void test_bad(void) {
    for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
        const bad_case *c = &bad_cases[i];
        size_t size;
        uint8_t *b = make_file(c->header, (uint64_t)((int64_t)strlen(c->header) + c->declared_delta), c->data_bytes,
                               &size);
        st_file *f = NULL;
        slm_error err = {0};
        slm_status s = safetensors_open_memory(b, size, &f, &err);
        CHECK(s != SLM_OK && f == NULL, "%s: accepted", c->what);
        CHECK(err.msg[0] && strstr(err.msg, c->msg_part), "%s: message '%s' lacks '%s'", c->what, err.msg,
              c->msg_part);
        st_close(f);
        free(b);
    }
    /* Shorter than the length field, and an embedded NUL in the header. */
    st_file *f = NULL;
    slm_error err = {0};
    CHECK(safetensors_open_memory("\x02\0\0", 3, &f, &err) == SLM_E_FORMAT && strstr(err.msg, "too small"), "%s",
          err.msg);
    static const uint8_t nul[] = {4, 0, 0, 0, 0, 0, 0, 0, '{', 0, '}', ' '};
    CHECK(safetensors_open_memory(nul, sizeof nul, &f, &err) == SLM_E_FORMAT && strstr(err.msg, "NUL"), "%s",
          err.msg);
    CHECK(st_open("/nonexistent/x.safetensors", &f, &err) == SLM_E_IO, "missing file");
}

static void test_write_roundtrip(void) {
    float a[6] = {1, 2, 3, 4, 5, 6};
    uint16_t h[4] = {0x3c00, 0x4000, 0x4200, 0x4400};
    st_write_tensor ts[3] = {
        {"w\"eird/name", ST_F32, 2, {2, 3}, a},
        {"h", ST_BF16, 1, {4}, h},
        {"none", ST_F16, 2, {0, 7}, NULL},
    };
    const char *meta[] = {"format", "pt"};
    const char *path = tu_path("%s/hf_st_roundtrip.safetensors", tu_tmpdir());
    slm_error err = {0};
    slm_status s = st_write_file(path, ts, 3, meta, 1, &err);
    CHECK(s == SLM_OK, "write: %s", err.msg);
    st_file *f = NULL;
    s = st_open(path, &f, &err);
    CHECK(s == SLM_OK, "reopen: %s", err.msg);
    if (s != SLM_OK) return;
    const st_tensor *t = st_find(f, "w\"eird/name");
    CHECK(t && t->n_dims == 2 && t->shape[0] == 2 && t->shape[1] == 3 && t->slm_type == SLM_DT_F32 &&
              !memcmp(t->data, a, sizeof a),
          "f32 tensor");
    t = st_find(f, "h");
    CHECK(t && t->slm_type == SLM_DT_BF16 && !memcmp(t->data, h, sizeof h), "bf16 tensor");
    t = st_find(f, "none");
    CHECK(t && t->n_elements == 0, "empty tensor");
    CHECK((st_file_size(f) - st_data_size(f)) % 8 == 0, "header padded to 8");
    const char *fm = st_metadata_get(f, "format");
    CHECK(fm && !strcmp(fm, "pt"), "metadata kept");
    st_close(f);
}

/* Every fixture model.safetensors: our view equals an independent reading of the header. */
static void test_fixture_files(void) {
    static const char *const models[] = {"llama3-tiny", "qwen2-tiny", "qwen3-tiny",
                                         "gemma3-tiny", "phi3-tiny", "llama2-quant"};
    for (size_t m = 0; m < 6; m++) {
        const char *path = tu_path("%s/models/%s/model.safetensors", tu_fixtures(), models[m]);
        slm_mapped_file raw;
        slm_error err = {0};
        if (slm_file_map(path, &raw, &err) != SLM_OK) {
            CHECK(0, "map %s: %s", path, err.msg);
            continue;
        }
        uint64_t hlen = 0;
        memcpy(&hlen, raw.data, 8);
        cJSON *hdr = cJSON_ParseWithLength((const char *)raw.data + 8, hlen);
        st_file *f = NULL;
        slm_status s = st_open(path, &f, &err);
        CHECK(s == SLM_OK && hdr, "%s: %s", models[m], err.msg);
        if (s == SLM_OK && hdr) {
            CHECK((int)st_n_tensors(f) + 1 == cJSON_GetArraySize(hdr), "%s: tensor count", models[m]);
            const char *fm = st_metadata_get(f, "format");
            CHECK(fm && !strcmp(fm, "pt"), "%s: metadata format=pt", models[m]);
            const cJSON *e;
            cJSON_ArrayForEach(e, hdr) {
                if (!strcmp(e->string, "__metadata__")) continue;
                const st_tensor *t = st_find(f, e->string);
                CHECK(t != NULL, "%s: %s missing", models[m], e->string);
                if (!t) continue;
                const cJSON *off = cJSON_GetObjectItem(e, "data_offsets");
                uint64_t begin = (uint64_t)cJSON_GetArrayItem(off, 0)->valuedouble;
                CHECK(t->offset == 8 + hlen + begin, "%s: %s offset", models[m], e->string);
                CHECK(t->offset + t->nbytes <= raw.size && !memcmp(t->data, raw.data + t->offset, t->nbytes),
                      "%s: %s bytes", models[m], e->string);
                CHECK(t->slm_type == SLM_DT_BF16, "%s: %s is BF16", models[m], e->string);
                const cJSON *shape = cJSON_GetObjectItem(e, "shape");
                CHECK(t->n_dims == cJSON_GetArraySize(shape), "%s: %s rank", models[m], e->string);
                for (int d = 0; d < t->n_dims; d++)
                    CHECK(t->shape[d] == (int64_t)cJSON_GetArrayItem(shape, d)->valuedouble, "%s: %s shape", models[m],
                          e->string);
            }
        }
        cJSON_Delete(hdr);
        st_close(f);
        slm_file_unmap(&raw);
    }
}

int main(void) {
    test_valid();
    test_bad();
    test_write_roundtrip();
    test_fixture_files();
    return tu_finish("test_hf_safetensors");
}
