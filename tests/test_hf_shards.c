/* Sharded folders and hostile folders. A fixture's model.safetensors is split into 3 shards +
 * model.safetensors.index.json in SLM_TMP (with src/hf/safetensors_write.c) and must read back
 * tensor for tensor identical to the original; then broken indexes (missing shard, tensor in
 * the wrong shard, duplicated across shards, unlisted tensor, listed-but-absent tensor, path
 * in a shard name, no weight_map) and broken folders each fail cleanly with a message. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "base/file.h"
#include "hf/hf_folder.h"
#include "hf/safetensors.h"
#include "hf/safetensors_write.h"
#include "testutil.h"

#define N_SHARDS 3

typedef enum shard_mode {
    SM_OK,
    SM_MISSING_SHARD,   /* index names a shard file that does not exist */
    SM_WRONG_SHARD,     /* index puts a tensor in another shard than the one holding it */
    SM_DUPLICATE,       /* a tensor stored in two shards */
    SM_NOT_LISTED,      /* a stored tensor is absent from weight_map */
    SM_LISTED_ABSENT,   /* weight_map lists a tensor no shard has */
    SM_PATH_NAME,       /* a shard name with a directory part */
    SM_NO_WEIGHT_MAP,   /* index without weight_map */
    SM_BAD_SHARD,       /* a shard that is not a safetensors file */
} shard_mode;

static void write_text(const char *path, const char *text) {
    slm_error err = {0};
    CHECK(slm_file_write_atomic(path, text, strlen(text), &err) == SLM_OK, "write %s: %s", path, err.msg);
}

static void copy_file(const char *from, const char *to) {
    char *t = NULL;
    size_t n = 0;
    slm_error err = {0};
    CHECK(slm_file_read_all(from, 1 << 24, &t, &n, &err) == SLM_OK, "read %s: %s", from, err.msg);
    if (t) CHECK(slm_file_write_atomic(to, t, n, &err) == SLM_OK, "write %s: %s", to, err.msg);
    free(t);
}

/* A fresh folder under SLM_TMP holding the fixture's JSON side files but no weights. */
static const char *make_folder(const char *name, const char *model) {
    /* Own copy: tu_path's rotating buffers are reused by the calls below. */
    static char d[4096];
    snprintf(d, sizeof d, "%s/%s", tu_tmpdir(), name);
    mkdir(d, 0755);
    static const char *const weights[] = {"model.safetensors", "model.safetensors.index.json"};
    for (int i = 0; i < 2; i++) remove(tu_path("%s/%s", d, weights[i]));
    for (int i = 1; i <= N_SHARDS + 1; i++) remove(tu_path("%s/model-%05d-of-%05d.safetensors", d, i, N_SHARDS));
    static const char *const side[] = {"config.json", "generation_config.json", "tokenizer_config.json"};
    for (int i = 0; i < 3; i++)
        copy_file(tu_path("%s/models/%s/%s", tu_fixtures(), model, side[i]), tu_path("%s/%s", d, side[i]));
    return d;
}

static st_write_tensor from_st(const st_tensor *t) {
    st_write_tensor w = {t->name, t->st_type, t->n_dims, {0}, t->data};
    for (int d = 0; d < t->n_dims; d++) w.shape[d] = t->shape[d];
    return w;
}

/* Split model's weights round-robin into N_SHARDS files in dir, with an index, broken per mode. */
static void write_sharded(const char *dir, const char *model, shard_mode mode) {
    st_file *src = NULL;
    slm_error err = {0};
    if (st_open(tu_path("%s/models/%s/model.safetensors", tu_fixtures(), model), &src, &err) != SLM_OK) {
        CHECK(0, "%s", err.msg);
        return;
    }
    size_t n = st_n_tensors(src);
    st_write_tensor *w = calloc(n + 1, sizeof *w);
    cJSON *idx = cJSON_CreateObject();
    cJSON *md = cJSON_AddObjectToObject(idx, "metadata");
    cJSON_AddNumberToObject(md, "total_size", 0);
    cJSON *map = mode == SM_NO_WEIGHT_MAP ? cJSON_CreateObject() : cJSON_AddObjectToObject(idx, "weight_map");
    for (int s = 0; s < N_SHARDS; s++) {
        size_t k = 0;
        char fname[64];
        snprintf(fname, sizeof fname, "model-%05d-of-%05d.safetensors", s + 1, N_SHARDS);
        for (size_t i = (size_t)s; i < n; i += N_SHARDS) {
            const st_tensor *t = st_tensor_at(src, i);
            w[k++] = from_st(t);
            const char *listed = fname;
            char other[64];
            if (i == 0 && mode == SM_MISSING_SHARD) listed = "model-00009-of-00003.safetensors";
            if (i == 0 && mode == SM_PATH_NAME) listed = "../model.safetensors";
            if (i == 0 && mode == SM_WRONG_SHARD) {
                snprintf(other, sizeof other, "model-%05d-of-%05d.safetensors", 2, N_SHARDS);
                listed = other;
            }
            if (i == 1 && mode == SM_NOT_LISTED) continue;
            cJSON_AddStringToObject(map, t->name, listed);
        }
        if (s == 1 && mode == SM_DUPLICATE) w[k++] = from_st(st_tensor_at(src, 0));
        if (s == 0 && mode == SM_LISTED_ABSENT) cJSON_AddStringToObject(map, "model.extra.weight", fname);
        const char *path = tu_path("%s/%s", dir, fname);
        if (s == 2 && mode == SM_BAD_SHARD) {
            write_text(path, "\x10\0\0\0\0\0\0\0{not json");
            continue;
        }
        CHECK(st_write_file(path, w, k, NULL, 0, &err) == SLM_OK, "write shard: %s", err.msg);
    }
    if (mode == SM_NO_WEIGHT_MAP) cJSON_Delete(map);
    char *text = cJSON_Print(idx);
    write_text(tu_path("%s/model.safetensors.index.json", dir), text);
    free(text);
    cJSON_Delete(idx);
    free(w);
    st_close(src);
}

static void check_sharded(const char *model) {
    const char *dir = make_folder("hf_sharded", model);
    write_sharded(dir, model, SM_OK);
    hf_folder *a = NULL, *b = NULL;
    slm_error err = {0};
    slm_status sa = hf_open(tu_path("%s/models/%s", tu_fixtures(), model), &a, &err);
    CHECK(sa == SLM_OK, "%s: %s", model, err.msg);
    slm_status sb = hf_open(dir, &b, &err);
    CHECK(sb == SLM_OK, "sharded %s: %s", model, err.msg);
    if (sa == SLM_OK && sb == SLM_OK) {
        CHECK(hf_n_shards(b) == N_SHARDS, "%zu shards", hf_n_shards(b));
        CHECK(hf_n_tensors(a) == hf_n_tensors(b), "tensor count %zu vs %zu", hf_n_tensors(a), hf_n_tensors(b));
        int shards_seen = 0;
        for (size_t i = 0; i < hf_n_tensors(a); i++) {
            const hf_tensor *x = hf_tensor_at(a, i), *y = hf_find_hf(b, x->hf_name);
            CHECK(y != NULL, "sharded: %s missing", x->hf_name);
            if (!y) continue;
            CHECK(y->gguf_name && x->gguf_name && !strcmp(x->gguf_name, y->gguf_name), "%s: gguf name", x->hf_name);
            CHECK(x->type == y->type && x->n_dims == y->n_dims && !memcmp(x->ne, y->ne, sizeof x->ne) &&
                      x->nbytes == y->nbytes,
                  "%s: geometry", x->hf_name);
            CHECK(x->nbytes == y->nbytes && !memcmp(x->data, y->data, x->nbytes), "%s: bytes", x->hf_name);
            shards_seen |= 1 << y->shard;
        }
        CHECK(shards_seen == (1 << N_SHARDS) - 1, "tensors spread over every shard");
        CHECK(hf_hparams(a)->n_vocab == hf_hparams(b)->n_vocab && hf_hparams(a)->n_layer == hf_hparams(b)->n_layer &&
                  hf_hparams(a)->tied_output == hf_hparams(b)->tied_output,
              "hparams");
    }
    hf_close(a);
    hf_close(b);
}

/* Expect hf_open(dir) to fail with code and a message containing part. */
static void expect_fail(const char *what, const char *dir, slm_status code, const char *part) {
    hf_folder *f = NULL;
    slm_error err = {0};
    slm_status s = hf_open(dir, &f, &err);
    CHECK(s == code && f == NULL, "%s: status %d (want %d): %s", what, s, code, err.msg);
    CHECK(strstr(err.msg, part) != NULL, "%s: message '%s' lacks '%s'", what, err.msg, part);
    hf_close(f);
}

static void check_bad_shards(void) {
    static const struct { shard_mode mode; const char *what; slm_status code; const char *part; } cases[] = {
        {SM_MISSING_SHARD, "missing shard", SLM_E_NOT_FOUND, "model-00009-of-00003.safetensors"},
        {SM_WRONG_SHARD, "wrong shard", SLM_E_FORMAT, "the index says"},
        {SM_DUPLICATE, "duplicate across shards", SLM_E_FORMAT, "duplicated across shards"},
        {SM_NOT_LISTED, "unlisted tensor", SLM_E_FORMAT, "not listed in the index"},
        {SM_LISTED_ABSENT, "listed but absent", SLM_E_FORMAT, "model.extra.weight"},
        {SM_PATH_NAME, "path in shard name", SLM_E_FORMAT, "not a shard file name"},
        {SM_NO_WEIGHT_MAP, "no weight_map", SLM_E_FORMAT, "weight_map"},
        {SM_BAD_SHARD, "bad shard file", SLM_E_FORMAT, "model-00003-of-00003.safetensors"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *dir = make_folder("hf_bad_shards", "qwen2-tiny");
        write_sharded(dir, "qwen2-tiny", cases[i].mode);
        expect_fail(cases[i].what, dir, cases[i].code, cases[i].part);
    }
}

static void check_bad_folders(void) {
    expect_fail("no folder", tu_path("%s/does-not-exist", tu_tmpdir()), SLM_E_NOT_FOUND, "not a folder");

    const char *dir = make_folder("hf_bad_folder", "llama3-tiny");
    expect_fail("no weights", dir, SLM_E_NOT_FOUND, "model.safetensors");

    write_text(tu_path("%s/model.safetensors", dir), "\xff\xff\xff\xff\xff\xff\xff\x7f{}");
    expect_fail("garbage weights", dir, SLM_E_FORMAT, "model.safetensors");

    /* Two HF tensors that llama.cpp would name the same. */
    uint16_t z[4] = {0};
    st_write_tensor two[2] = {{"model.layers.0.mlp.up_proj.weight", ST_BF16, 2, {2, 2}, z},
                              {"model.layers.0.mlp.gate_up_proj.weight", ST_BF16, 2, {2, 2}, z}};
    slm_error err = {0};
    CHECK(st_write_file(tu_path("%s/model.safetensors", dir), two, 2, NULL, 0, &err) == SLM_OK, "%s", err.msg);
    expect_fail("two tensors -> one GGUF name", dir, SLM_E_FORMAT, "both map to 'blk.0.ffn_up.weight'");

    /* A BF16 tensor at an odd offset (after a 1-byte U8 tensor). */
    uint8_t u8[1] = {7};
    st_write_tensor misaligned[2] = {{"model.layers.0.odd", ST_U8, 1, {1}, u8},
                                     {"model.layers.0.mlp.up_proj.weight", ST_BF16, 2, {2, 2}, z}};
    CHECK(st_write_file(tu_path("%s/model.safetensors", dir), misaligned, 2, NULL, 0, &err) == SLM_OK, "%s", err.msg);
    expect_fail("misaligned tensor data", dir, SLM_E_FORMAT, "not aligned");

    /* A valid tiny weight file: now the side files decide. No lm_head -> tied output. */
    CHECK(st_write_file(tu_path("%s/model.safetensors", dir), two, 1, NULL, 0, &err) == SLM_OK, "%s", err.msg);
    hf_folder *f = NULL;
    CHECK(hf_open(dir, &f, &err) == SLM_OK, "tiny folder: %s", err.msg);
    if (f) {
        CHECK(hf_hparams(f)->tied_output, "no lm_head means tied");
        CHECK(hf_tokenizer_json_path(f) == NULL, "no tokenizer.json");
        CHECK(hf_find(f, "blk.0.ffn_up.weight") != NULL, "mapped");
        hf_close(f);
    }
    write_text(tu_path("%s/tokenizer_config.json", dir), "{\"a\": }");
    expect_fail("broken tokenizer_config", dir, SLM_E_FORMAT, "tokenizer_config.json");
    remove(tu_path("%s/tokenizer_config.json", dir));
    write_text(tu_path("%s/generation_config.json", dir), "[]");
    expect_fail("generation_config not an object", dir, SLM_E_FORMAT, "generation_config.json");
    remove(tu_path("%s/generation_config.json", dir));
    write_text(tu_path("%s/config.json", dir), "{\"architectures\": [\"LlamaForCausalLM\"],");
    expect_fail("truncated config", dir, SLM_E_FORMAT, "config.json");
    write_text(tu_path("%s/config.json", dir), "{\"architectures\": [\"MambaForCausalLM\"]}");
    expect_fail("unknown architecture", dir, SLM_E_UNSUPPORTED, "MambaForCausalLM");
    remove(tu_path("%s/config.json", dir));
    expect_fail("no config", dir, SLM_E_NOT_FOUND, "config.json");
}

int main(void) {
    check_sharded("qwen2-tiny");
    check_sharded("phi3-tiny");
    check_bad_shards();
    check_bad_folders();
    return tu_finish("test_hf_shards");
}
