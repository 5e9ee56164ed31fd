/* Tokenizer robustness: a table of hand-made bad tokenizer.json / GGUF inputs (each must fail
 * with the right status, never crash), tiny hand-built tokenizers with known answers, invalid
 * UTF-8, decode edge cases and the streaming decoder on split characters. */
#include <stdlib.h>
#include <string.h>

#include "gguf/gguf.h"
#include "testutil.h"
#include "tokenizer/tokenizer.h"

/* --- tokenizer.json ------------------------------------------------------------------------ */

typedef struct bad_json {
    const char *name;
    const char *json;
    slm_status want;
} bad_json;

static const bad_json k_bad_json[] = {
    {"empty", "", SLM_E_FORMAT},
    {"not an object", "[1, 2]", SLM_E_FORMAT},
    {"truncated", "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0", SLM_E_FORMAT},
    {"wordpiece", "{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"a\": 0}}}", SLM_E_UNSUPPORTED},
    {"vocab not object", "{\"model\": {\"type\": \"BPE\", \"vocab\": [1], \"merges\": []}}", SLM_E_FORMAT},
    {"negative id", "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": -1}, \"merges\": []}}", SLM_E_FORMAT},
    {"fractional id", "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 1.5}, \"merges\": []}}", SLM_E_FORMAT},
    {"lying id", "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 16000000}, \"merges\": []}}", SLM_E_FORMAT},
    {"huge id", "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 1e300}, \"merges\": []}}", SLM_E_FORMAT},
    {"merge without space", "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [\"aa\"]}}", SLM_E_FORMAT},
    {"merge of numbers", "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [[1, 2]]}}", SLM_E_FORMAT},
    {"added without content",
     "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}, \"added_tokens\": [{\"id\": 1}]}",
     SLM_E_FORMAT},
    {"bad regex",
     "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}, \"pre_tokenizer\": {\"type\": \"Split\", "
     "\"pattern\": {\"Regex\": \"(\"}, \"behavior\": \"Isolated\"}}",
     SLM_E_UNSUPPORTED},
    {"unknown pre_tokenizer",
     "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}, \"pre_tokenizer\": {\"type\": \"Bert\"}}",
     SLM_E_UNSUPPORTED},
    {"unknown normalizer",
     "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}, \"normalizer\": {\"type\": \"Lowercase\"}}",
     SLM_E_UNSUPPORTED},
    {"template id out of range",
     "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}, \"post_processor\": {\"type\": "
     "\"TemplateProcessing\", \"single\": [{\"SpecialToken\": {\"id\": \"x\"}}, {\"Sequence\": {\"id\": \"A\"}}], "
     "\"special_tokens\": {\"x\": {\"ids\": [5]}}}}",
     SLM_E_FORMAT},
};

/* A byte-level BPE over the 256 GPT-2 byte chars (ids in byte-char order as built here) plus
 * "he" and "hel"... built as JSON text at run time. */
static char *make_bytelevel_json(void) {
    size_t cap = 1 << 16, o = 0;
    char *s = malloc(cap);
    o += (size_t)snprintf(s + o, cap - o, "{\"model\": {\"type\": \"BPE\", \"vocab\": {");
    /* ids 0..255: the printable stand-in of byte b; escape quote and backslash */
    int extra = 0;
    for (int b = 0; b < 256; b++) {
        int printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
        unsigned cp = printable ? (unsigned)b : 0x100 + (unsigned)extra++;
        char u[8];
        int l;
        if (cp == '"' || cp == '\\') { u[0] = '\\'; u[1] = (char)cp; l = 2; }
        else if (cp < 0x80) { u[0] = (char)cp; l = 1; }
        else { u[0] = (char)(0xC0 | (cp >> 6)); u[1] = (char)(0x80 | (cp & 63)); l = 2; }
        o += (size_t)snprintf(s + o, cap - o, "%s\"%.*s\": %d", b ? ", " : "", l, u, b);
    }
    /* 256 "he", 257 "ll", 258 "hell", 259 "Ġw" (space+w) */
    o += (size_t)snprintf(s + o, cap - o,
                          ", \"he\": 256, \"ll\": 257, \"hell\": 258, \"\xc4\xa0w\": 259}, \"merges\": [\"h e\", \"l l\", "
                          "\"he ll\", \"\xc4\xa0 w\"]}, \"pre_tokenizer\": {\"type\": \"ByteLevel\", \"add_prefix_space\": "
                          "false, \"use_regex\": true}, \"decoder\": {\"type\": \"ByteLevel\"}, \"added_tokens\": [{\"id\": "
                          "260, \"content\": \"<|end|>\", \"special\": true}]}");
    return s;
}

static void check_ids(const slm_tokenizer *tok, const char *text, slm_tokenize_flags fl, const int32_t *want, size_t n,
                      const char *what) {
    slm_tokens v = {0};
    slm_error err = {0};
    slm_status st = slm_tokenize(tok, text, strlen(text), fl, &v, &err);
    bool ok = st == SLM_OK && v.n == n && (n == 0 || !memcmp(v.ids, want, n * sizeof *want));
    CHECK(ok, "%s: tokenize(\"%s\") gave %zu ids (status %d %s)", what, text, v.n, st, err.msg);
    slm_tokens_free(&v);
}

static void test_json(void) {
    for (size_t i = 0; i < sizeof k_bad_json / sizeof k_bad_json[0]; i++) {
        slm_tokenizer *tok = (slm_tokenizer *)1;
        slm_error err = {0};
        slm_status st = slm_tokenizer_load_json_mem(k_bad_json[i].json, strlen(k_bad_json[i].json), NULL, 0, &tok, &err);
        CHECK(st == k_bad_json[i].want && tok == NULL, "bad json '%s': status %d (want %d), msg '%s'", k_bad_json[i].name,
              st, k_bad_json[i].want, err.msg);
        CHECK(st == SLM_OK || err.msg[0], "bad json '%s': no message", k_bad_json[i].name);
        slm_tokenizer_free(tok == (slm_tokenizer *)1 ? NULL : tok);
    }
    char *js = make_bytelevel_json();
    slm_tokenizer *tok = NULL;
    slm_error err = {0};
    const char *cfg = "{\"eos_token\": \"<|end|>\"}";
    slm_status st = slm_tokenizer_load_json_mem(js, strlen(js), cfg, strlen(cfg), &tok, &err);
    free(js);
    CHECK(st == SLM_OK, "byte-level mini: %s", err.msg);
    if (st) return;
    /* "hell world": words "hell", " world" -> [hell] [Ġw o r l d] */
    const int32_t w1[] = {258, 259, 'o', 'r', 'l', 'd'}; /* printable byte b has id b here */
    check_ids(tok, "hell world", SLM_TOKENIZE_DEFAULT, w1, 6, "byte-level mini");
    const int32_t w2[] = {'<', '|', 'e', 'n', 'd', '|', '>'};
    check_ids(tok, "<|end|>", SLM_TOKENIZE_DEFAULT, w2, 7, "mini special not parsed by default");
    const int32_t w3[] = {260};
    check_ids(tok, "<|end|>", (slm_tokenize_flags){false, true}, w3, 1, "mini special parsed");
    CHECK(slm_tokenizer_eos(tok) == 260 && slm_tokenizer_is_eot(tok, 260), "mini eos from config");
    CHECK(slm_tokenizer_is_special(tok, 260) && !slm_tokenizer_is_special(tok, 258), "mini is_special");

    /* Invalid UTF-8 of every kind is refused with a format error and leaves the output alone. */
    static const char *const bad_utf8[] = {"\xff", "a\xc0\x80", "\xed\xa0\x80", "\xf5\x80\x80\x80", "\xe2\x82", "\x80",
                                           "\xf4\x90\x80\x80", "ok\xe0\x80\xaf"};
    for (size_t i = 0; i < sizeof bad_utf8 / sizeof bad_utf8[0]; i++) {
        slm_tokens v = {0};
        slm_tokens_push(&v, 7, NULL);
        st = slm_tokenize(tok, bad_utf8[i], strlen(bad_utf8[i]), SLM_TOKENIZE_DEFAULT, &v, &err);
        CHECK(st == SLM_E_FORMAT && v.n == 1 && strstr(err.msg, "UTF-8"), "invalid UTF-8 #%zu: status %d", i, st);
        slm_tokens_free(&v);
    }
    slm_tokens v = {0};
    CHECK(slm_tokenize(tok, NULL, 0, SLM_TOKENIZE_DEFAULT, &v, &err) == SLM_OK && v.n == 0, "empty NULL text");
    CHECK(slm_tokenize(tok, "\0a", 2, SLM_TOKENIZE_DEFAULT, &v, &err) == SLM_OK && v.n == 2, "embedded NUL");
    slm_tokens_free(&v);

    /* Decoding: out-of-range ids, buffer sizing, byte-level pieces that split a character. */
    int32_t bad_ids[] = {1, 261};
    size_t len = 0;
    CHECK(slm_detokenize(tok, bad_ids, 2, NULL, &len, &err) == SLM_E_RANGE, "detokenize out-of-range id");
    int32_t ids[] = {258, 259};
    len = 0;
    CHECK(slm_detokenize(tok, ids, 2, NULL, &len, &err) == SLM_E_RANGE && len == 6, "detokenize sizing: %zu", len);
    char buf[16];
    len = sizeof buf;
    CHECK(slm_detokenize(tok, ids, 2, buf, &len, &err) == SLM_OK && len == 6 && !memcmp(buf, "hell w", 6), "detokenize");
    /* "é" = C3 A9: byte tokens 0xC3 and 0xA9 stand for themselves (printable Latin-1). */
    slm_tokens e = {0};
    st = slm_tokenize(tok, "\xc3\xa9!", 3, SLM_TOKENIZE_DEFAULT, &e, &err);
    CHECK(st == SLM_OK && e.n == 3, "é! -> 3 byte tokens (%zu)", e.n);
    slm_detok_stream ds;
    slm_detok_stream_init(&ds, tok);
    const char *c;
    size_t cl;
    if (e.n == 3) {
        CHECK(slm_detok_stream_push(&ds, e.ids[0], &c, &cl, &err) == SLM_OK && cl == 0, "stream holds a lead byte");
        CHECK(slm_detok_stream_push(&ds, e.ids[1], &c, &cl, &err) == SLM_OK && cl == 2 && !memcmp(c, "\xc3\xa9", 2),
              "stream completes é");
        CHECK(slm_detok_stream_push(&ds, e.ids[0], &c, &cl, &err) == SLM_OK && cl == 0, "stream holds again");
        CHECK(slm_detok_stream_push(&ds, e.ids[2], &c, &cl, &err) == SLM_OK && cl == 4 && !memcmp(c, "\xef\xbf\xbd!", 4),
              "stream: broken sequence -> U+FFFD");
        CHECK(slm_detok_stream_push(&ds, e.ids[0], &c, &cl, &err) == SLM_OK && cl == 0, "stream holds at end");
        slm_detok_stream_flush(&ds, &c, &cl);
        CHECK(cl == 3 && !memcmp(c, "\xef\xbf\xbd", 3), "flush: incomplete tail -> U+FFFD");
        CHECK(slm_detok_stream_push(&ds, 99999, &c, &cl, &err) == SLM_E_RANGE, "stream out-of-range id");
        int32_t half[] = {e.ids[0]};
        char *s;
        size_t sl;
        CHECK(slm_detokenize_alloc(tok, half, 1, &s, &sl, &err) == SLM_OK && sl == 3 && !memcmp(s, "\xef\xbf\xbd", 3),
              "decode of half a character -> U+FFFD");
        free(s);
    }
    slm_detok_stream_free(&ds);
    slm_tokens_free(&e);
    slm_tokenizer_free(tok);
}

/* --- GGUF ----------------------------------------------------------------------------------- */

typedef enum { G_NO_MODEL, G_BERT, G_EMPTY_TOKENS, G_TOKENS_U32, G_NO_MERGES, G_BAD_PRE, G_SPM_OK, G_BPE_OK } gcase;

static gguf_file *build_gguf(gcase c, void **mem) {
    gguf_writer *w;
    slm_error err = {0};
    if (gguf_writer_new(&w, &err)) return NULL;
    const char *spm_tokens[] = {"<unk>", "<s>", "</s>", "<0x41>", "\xe2\x96\x81", "a", "b", ("\xe2\x96\x81" "a"), "ab",
                                ("\xe2\x96\x81" "ab")};
    float scores[] = {0, 0, 0, 0, -1, -2, -3, -4, -5, -6};
    int32_t types[] = {2, 3, 3, 6, 1, 1, 1, 1, 1, 1};
    const char *bpe_tokens[] = {"a", "b", "ab", "\xc4\xa0", ("\xc4\xa0" "ab")};
    const char *merges[] = {"a b", "\xc4\xa0 ab"};
    switch (c) {
    case G_NO_MODEL: break;
    case G_BERT: gguf_writer_add_str(w, "tokenizer.ggml.model", "bert", &err); break;
    case G_EMPTY_TOKENS:
        gguf_writer_add_str(w, "tokenizer.ggml.model", "llama", &err);
        gguf_writer_add_arr_str(w, "tokenizer.ggml.tokens", spm_tokens, 0, &err);
        break;
    case G_TOKENS_U32:
        gguf_writer_add_str(w, "tokenizer.ggml.model", "llama", &err);
        gguf_writer_add_arr(w, "tokenizer.ggml.tokens", GGUF_TYPE_INT32, types, 10, &err);
        break;
    case G_NO_MERGES:
        gguf_writer_add_str(w, "tokenizer.ggml.model", "gpt2", &err);
        gguf_writer_add_arr_str(w, "tokenizer.ggml.tokens", bpe_tokens, 5, &err);
        break;
    case G_BAD_PRE:
    case G_BPE_OK:
        gguf_writer_add_str(w, "tokenizer.ggml.model", "gpt2", &err);
        gguf_writer_add_str(w, "tokenizer.ggml.pre", c == G_BAD_PRE ? "no-such-pre" : "gpt-2", &err);
        gguf_writer_add_arr_str(w, "tokenizer.ggml.tokens", bpe_tokens, 5, &err);
        gguf_writer_add_arr_str(w, "tokenizer.ggml.merges", merges, 2, &err);
        gguf_writer_add_u32(w, "tokenizer.ggml.bos_token_id", 1000, &err); /* out of range: ignored */
        break;
    case G_SPM_OK:
        gguf_writer_add_str(w, "tokenizer.ggml.model", "llama", &err);
        gguf_writer_add_arr_str(w, "tokenizer.ggml.tokens", spm_tokens, 10, &err);
        gguf_writer_add_arr(w, "tokenizer.ggml.scores", GGUF_TYPE_FLOAT32, scores, 10, &err);
        gguf_writer_add_arr(w, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, types, 10, &err);
        gguf_writer_add_u32(w, "tokenizer.ggml.bos_token_id", 1, &err);
        gguf_writer_add_u32(w, "tokenizer.ggml.eos_token_id", 2, &err);
        gguf_writer_add_u32(w, "tokenizer.ggml.unknown_token_id", 0, &err);
        break;
    }
    size_t size;
    gguf_file *f = NULL;
    if (gguf_writer_write_memory(w, mem, &size, &err) == SLM_OK) gguf_open_memory(*mem, size, &f, &err);
    gguf_writer_free(w);
    return f;
}

static void test_gguf(void) {
    static const struct { gcase c; slm_status want; const char *name; } bad[] = {
        {G_NO_MODEL, SLM_E_NOT_FOUND, "no model key"}, {G_BERT, SLM_E_UNSUPPORTED, "bert"},
        {G_EMPTY_TOKENS, SLM_E_FORMAT, "empty tokens"}, {G_TOKENS_U32, SLM_E_FORMAT, "tokens not strings"},
        {G_NO_MERGES, SLM_E_FORMAT, "gpt2 without merges"}, {G_BAD_PRE, SLM_E_UNSUPPORTED, "unknown pre"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        void *mem = NULL;
        gguf_file *f = build_gguf(bad[i].c, &mem);
        CHECK(f != NULL, "build gguf '%s'", bad[i].name);
        slm_tokenizer *tok = NULL;
        slm_error err = {0};
        slm_status st = f ? slm_tokenizer_load_gguf(f, &tok, &err) : SLM_E_IO;
        CHECK(st == bad[i].want && !tok, "bad gguf '%s': status %d (want %d) '%s'", bad[i].name, st, bad[i].want, err.msg);
        slm_tokenizer_free(tok);
        gguf_close(f);
        free(mem);
    }
    void *mem = NULL;
    gguf_file *f = build_gguf(G_SPM_OK, &mem);
    slm_tokenizer *tok = NULL;
    slm_error err = {0};
    CHECK(f && slm_tokenizer_load_gguf(f, &tok, &err) == SLM_OK, "spm mini: %s", err.msg);
    gguf_close(f); /* the tokenizer must not depend on the file */
    free(mem);
    if (tok) {
        /* " ab" -> "▁▁ab": (▁,▁) is no token; (▁,a) = ▁a scores -4, better than (a,b) = ab at -5;
         * then (▁a,b) = ▁ab (-6) is the only pair left: ▁ ▁ab. */
        const int32_t w1[] = {4, 9};
        check_ids(tok, " ab", SLM_TOKENIZE_DEFAULT, w1, 2, "spm mini ' ab'");
        const int32_t w2[] = {1, 9};
        check_ids(tok, "ab", (slm_tokenize_flags){true, false}, w2, 2, "spm mini 'ab' + BOS");
        /* "A" has a byte token, "c" has none: unk. */
        const int32_t w3[] = {4, 3, 0};
        check_ids(tok, "Ac", SLM_TOKENIZE_DEFAULT, w3, 3, "spm mini byte fallback / unk");
        const int32_t w4[] = {9, 1, 7};
        check_ids(tok, "ab<s>a", (slm_tokenize_flags){false, true}, w4, 3, "spm mini special + space prefix");
        char *s;
        size_t sl;
        int32_t ids[] = {1, 9, 3};
        CHECK(slm_detokenize_alloc(tok, ids, 3, &s, &sl, &err) == SLM_OK && !strcmp(s, "<s> abA"), "spm decode '%s'", s);
        free(s);
        int32_t ids2[] = {9, 3};
        CHECK(slm_detokenize_alloc(tok, ids2, 2, &s, &sl, &err) == SLM_OK && !strcmp(s, "abA"), "spm decode strip '%s'", s);
        free(s);
        CHECK(slm_tokenizer_bos(tok) == 1 && slm_tokenizer_eos(tok) == 2 && slm_tokenizer_unk(tok) == 0, "spm ids");
        slm_tokenizer_free(tok);
    }
    f = build_gguf(G_BPE_OK, &mem);
    tok = NULL;
    CHECK(f && slm_tokenizer_load_gguf(f, &tok, &err) == SLM_OK, "bpe mini: %s", err.msg);
    gguf_close(f);
    free(mem);
    if (tok) {
        const int32_t w1[] = {2, 4};
        check_ids(tok, "ab ab", SLM_TOKENIZE_DEFAULT, w1, 2, "bpe mini");
        CHECK(slm_tokenizer_bos(tok) == -1, "out-of-range bos ignored");
        slm_tokenizer_free(tok);
    }
}

int main(void) {
    test_json();
    test_gguf();
    return tu_finish("test_tok_bad");
}
