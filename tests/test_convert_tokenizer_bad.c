/* slm_tokenizer_export_gguf on hand-made folders: malformed or lying tokenizer files fail with a
 * message (never a crash, never a huge allocation), and the less common valid shapes come out as
 * gguf-py writes them (merges given as pairs with spaces, named chat templates, id holes,
 * special ids from config.json, add_space_prefix of a Prepend normalizer). */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/file.h"
#include "convert/convert.h"
#include "gguf/gguf.h"
#include "testutil.h"

static const char *make_dir(const char *name, const char *tok, const char *tok_cfg, const char *cfg) {
    const char *dir = tu_path("%s/convtokbad-%s", tu_tmpdir(), name);
    mkdir(dir, 0755);
    const char *files[3][2] = {{"tokenizer.json", tok}, {"tokenizer_config.json", tok_cfg}, {"config.json", cfg}};
    for (int i = 0; i < 3; i++) {
        const char *p = tu_path("%s/%s", dir, files[i][0]);
        remove(p);
        if (files[i][1]) CHECK(!slm_file_write_atomic(p, files[i][1], strlen(files[i][1]), NULL), "cannot write %s", p);
    }
    return dir;
}

/* Export dir's tokenizer into a memory GGUF; *out is the opened file (NULL on failure). */
static slm_status export_dir(const char *dir, gguf_file **out, void **mem, slm_error *err) {
    gguf_writer *w = NULL;
    size_t size = 0;
    *out = NULL;
    *mem = NULL;
    slm_status st = gguf_writer_new(&w, err);
    if (!st) st = slm_tokenizer_export_gguf(dir, w, err);
    if (!st) st = gguf_writer_write_memory(w, mem, &size, err);
    if (!st) st = gguf_open_memory(*mem, size, out, err);
    gguf_writer_free(w);
    return st;
}

static void expect_fail(const char *name, const char *tok, const char *cfg) {
    const char *dir = make_dir(name, tok, NULL, cfg);
    gguf_file *f;
    void *mem;
    slm_error err = {0};
    slm_status st = export_dir(dir, &f, &mem, &err);
    CHECK(st != SLM_OK && err.msg[0], "%s: expected an error, got status %d", name, st);
    gguf_close(f);
    free(mem);
}

#define BL_MODEL(vocab, merges) \
    "{\"model\":{\"type\":\"BPE\",\"byte_fallback\":false,\"vocab\":" vocab ",\"merges\":" merges "},"
#define BL_TAIL "\"decoder\":{\"type\":\"ByteLevel\"},\"pre_tokenizer\":{\"type\":\"ByteLevel\",\"use_regex\":true}}"

static void bad_inputs(void) {
    expect_fail("missing", NULL, NULL);
    expect_fail("not-json", "{\"model\": [", NULL);
    expect_fail("array", "[1,2,3]", NULL);
    expect_fail("no-model", "{\"added_tokens\":[]}", NULL);
    expect_fail("unigram", "{\"model\":{\"type\":\"Unigram\",\"vocab\":[]}}", NULL);
    expect_fail("vocab-list", BL_MODEL("[1,2]", "[]") BL_TAIL, NULL);
    expect_fail("neg-id", BL_MODEL("{\"a\":-1}", "[]") BL_TAIL, NULL);
    expect_fail("huge-id", BL_MODEL("{\"a\":4000000000}", "[]") BL_TAIL, NULL);
    expect_fail("frac-id", BL_MODEL("{\"a\":1.5}", "[]") BL_TAIL, NULL);
    expect_fail("str-id", BL_MODEL("{\"a\":\"1\"}", "[]") BL_TAIL, NULL);
    expect_fail("added-bad", BL_MODEL("{\"a\":0}", "[]") "\"added_tokens\":[{\"id\":1e12,\"content\":\"x\"}]," BL_TAIL,
                NULL);
    expect_fail("merge-bad", BL_MODEL("{\"a\":0,\"b\":1,\"ab\":2}", "[[\"a\"]]") BL_TAIL, NULL);
    /* config.json says fewer ids than the tokenizer has (llama.cpp asserts). */
    expect_fail("vocab-small", BL_MODEL("{\"a\":0,\"b\":1,\"c\":2}", "[]") BL_TAIL, "{\"vocab_size\":2}");
    /* Lying sizes: millions of ids without tokens are refused before they are allocated. */
    expect_fail("sparse-id", BL_MODEL("{\"a\":0,\"b\":16000000}", "[]") BL_TAIL, NULL);
    expect_fail("vocab-huge", BL_MODEL("{\"a\":0}", "[]") BL_TAIL, "{\"vocab_size\":16777215}");
    expect_fail("neither", "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[]},\"decoder\":{\"type\":\"Metaspace\"}}",
                NULL);
}

static bool str_at(const gguf_file *f, const char *key, uint64_t i, const char *want) {
    gguf_arr a;
    gguf_str s;
    return gguf_get_arr(f, key, &a) && gguf_arr_str(f, &a, i, &s) && s.len == strlen(want) && !memcmp(s.ptr, want, s.len);
}

static int64_t i64_at(const gguf_file *f, const char *key, uint64_t i) {
    gguf_arr a;
    int64_t v = -99;
    if (gguf_get_arr(f, key, &a)) gguf_arr_get_i64(&a, i, &v);
    return v;
}

static void valid_shapes(void) {
    /* Byte-level: pair merges with a space, an id hole, a user-defined added token, named templates. */
    const char *dir = make_dir(
        "shapes-gpt2",
        BL_MODEL("{\"a\":0,\"b\":1,\"a b\":2,\"ab\":4}", "[[\"a\",\" b\"],[\"a\",\"b\"]]")
        "\"added_tokens\":[{\"id\":5,\"content\":\"<|end|>\",\"special\":false},"
        "{\"id\":6,\"content\":\"x\xe2\x96\x81y\",\"special\":false}]," BL_TAIL,
        "{\"eos_token\":\"<|end|>\",\"add_bos_token\":false,\"chat_template\":[{\"name\":\"default\",\"template\":\"D\"},"
        "{\"name\":\"tool use\",\"template\":\"T\"}]}",
        "{\"vocab_size\":8,\"bos_token_id\":1,\"architectures\":[\"Qwen2ForCausalLM\"]}");
    gguf_file *f;
    void *mem;
    slm_error err = {0};
    CHECK(!export_dir(dir, &f, &mem, &err), "shapes-gpt2: %s", err.msg);
    if (f) {
        gguf_str s;
        CHECK(gguf_get_str(f, "tokenizer.ggml.model", &s) && gguf_str_eq(s, "gpt2"), "model");
        CHECK(gguf_get_str(f, "tokenizer.ggml.pre", &s) && gguf_str_eq(s, "gpt-2"), "pre from the ByteLevel regex");
        CHECK(str_at(f, "tokenizer.ggml.merges", 0, "a \xc4\xa0" "b"), "space inside a merge part becomes U+0120");
        CHECK(str_at(f, "tokenizer.ggml.merges", 1, "a b"), "second merge");
        CHECK(str_at(f, "tokenizer.ggml.tokens", 3, "[PAD3]") && i64_at(f, "tokenizer.ggml.token_type", 3) == 5, "hole");
        CHECK(i64_at(f, "tokenizer.ggml.token_type", 5) == 3, "<|...|> looks special: CONTROL");
        CHECK(str_at(f, "tokenizer.ggml.tokens", 6, "x y") && i64_at(f, "tokenizer.ggml.token_type", 6) == 4,
              "user-defined token stored with a space");
        CHECK(str_at(f, "tokenizer.ggml.tokens", 7, "[PAD7]"), "padded to config vocab_size");
        uint32_t v = 0;
        CHECK(gguf_get_u32(f, "tokenizer.ggml.eos_token_id", &v) && v == 5, "eos from tokenizer_config");
        CHECK(gguf_get_u32(f, "tokenizer.ggml.bos_token_id", &v) && v == 1, "bos from config.json");
        CHECK(gguf_find_key(f, "tokenizer.ggml.eos_token_id") < gguf_find_key(f, "tokenizer.ggml.bos_token_id"),
              "config.json ids come after tokenizer_config's");
        bool b = true;
        CHECK(gguf_get_bool(f, "tokenizer.ggml.add_bos_token", &b) && !b, "add_bos_token");
        CHECK(gguf_get_str(f, "tokenizer.chat_template", &s) && gguf_str_eq(s, "D"), "default template");
        CHECK(gguf_get_str(f, "tokenizer.chat_template.tool_use", &s) && gguf_str_eq(s, "T"), "named template");
        CHECK(str_at(f, "tokenizer.chat_templates", 0, "tool_use"), "template names");
    }
    gguf_close(f);
    free(mem);

    /* Byte fallback outside the Llama family: scores from merge ranks, add_space_prefix. */
    dir = make_dir("shapes-spm",
                   "{\"model\":{\"type\":\"BPE\",\"byte_fallback\":true,\"unk_token\":\"<unk>\",\"vocab\":{\"<unk>\":0,"
                   "\"<0x41>\":1,\"a\":2,\"b\":3,\"ab\":4,\"abb\":5,\"zz\":6},\"merges\":[\"a b\",\"ab b\"]},"
                   "\"normalizer\":{\"type\":\"Sequence\",\"normalizers\":[{\"type\":\"Prepend\",\"prepend\":\"\xe2\x96\x81\"}]},"
                   "\"decoder\":{\"type\":\"Sequence\"}}",
                   NULL, "{\"architectures\":[\"Gemma3ForCausalLM\"],\"vocab_size\":7}");
    CHECK(!export_dir(dir, &f, &mem, &err), "shapes-spm: %s", err.msg);
    if (f) {
        gguf_arr sc;
        float s4 = 1, s5 = 1, s6 = 1;
        CHECK(gguf_get_arr(f, "tokenizer.ggml.scores", &sc) && gguf_arr_get_f32(&sc, 4, &s4) && gguf_arr_get_f32(&sc, 5, &s5) &&
                  gguf_arr_get_f32(&sc, 6, &s6),
              "scores");
        CHECK(s4 == 0 && s5 == -1 && s6 == -8, "scores: %g %g %g (want 0, -1, -8)", s4, s5, s6);
        CHECK(i64_at(f, "tokenizer.ggml.token_type", 0) == 2 && i64_at(f, "tokenizer.ggml.token_type", 1) == 6,
              "unknown and byte types");
        bool b = false;
        CHECK(gguf_get_bool(f, "tokenizer.ggml.add_space_prefix", &b) && b, "add_space_prefix from Prepend");
    }
    gguf_close(f);
    free(mem);
}

int main(void) {
    bad_inputs();
    valid_shapes();
    return tu_finish("test_convert_tokenizer_bad");
}
