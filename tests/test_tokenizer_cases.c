/* Tokenizer conformance against the references in ../shared/fixtures:
 *  - tokenizers/{llama3,qwen3,gemma3,llama2}/cases.jsonl (HF `tokenizers`): ids, ids_special,
 *    decoded, decoded_special, from tokenizer.json and from the fixture models' GGUFs;
 *  - llamacpp-vocab/ggml-vocab-X.gguf with .inp/.out (llama.cpp's test-tokenizer-0 vectors);
 *  - the streaming decoder never emits a broken UTF-8 sequence and concatenates to decode();
 *  - default flags never turn control-token text into control tokens. */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/file.h"
#include "testutil.h"
#include "tokenizer/tokenizer.h"

static int g_reported;

static bool utf8_valid(const char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        unsigned char c = (unsigned char)s[i];
        size_t l = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        if (!l || i + l > n) return false;
        for (size_t k = 1; k < l; k++)
            if (((unsigned char)s[i + k] & 0xC0) != 0x80) return false;
        i += l;
    }
    return true;
}

static void print_ids(const char *label, const int32_t *ids, size_t n) {
    fprintf(stderr, "    %s [", label);
    for (size_t i = 0; i < n && i < 40; i++) fprintf(stderr, "%s%d", i ? "," : "", ids[i]);
    fprintf(stderr, "%s]\n", n > 40 ? ",..." : "");
}

static bool ids_equal(const slm_tokens *got, const cJSON *want, int32_t *buf, size_t *nw) {
    size_t n = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, want) buf[n++] = (int32_t)it->valuedouble;
    *nw = n;
    return n == got->n && (n == 0 || !memcmp(buf, got->ids, n * sizeof *buf));
}

/* Tokenize text and compare with want; report the first few mismatches. */
static void check_ids(const char *set, const slm_tokenizer *tok, const char *text, size_t len, slm_tokenize_flags fl,
                      const cJSON *want) {
    slm_tokens got = {0};
    slm_error err = {0};
    slm_status st = slm_tokenize(tok, text, len, fl, &got, &err);
    int32_t *buf = malloc(((size_t)cJSON_GetArraySize(want) + 1) * sizeof *buf);
    size_t nw = 0;
    bool ok = st == SLM_OK && ids_equal(&got, want, buf, &nw);
    CHECK(ok, "%s: ids differ (add_special=%d) for %.*s%s", set, fl.add_special, (int)(len > 80 ? 80 : len), text,
          len > 80 ? "..." : "");
    if (!ok && g_reported++ < 30) {
        if (st) fprintf(stderr, "    error: %s\n", err.msg);
        print_ids("want", buf, nw);
        print_ids("got ", got.ids, got.n);
    }
    free(buf);
    slm_tokens_free(&got);
}

static void check_decode(const char *set, const slm_tokenizer *tok, const cJSON *ids_json, const char *want,
                         size_t wl) {
    size_t n = (size_t)cJSON_GetArraySize(ids_json);
    int32_t *ids = malloc((n + 1) * sizeof *ids);
    size_t k = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, ids_json) ids[k++] = (int32_t)it->valuedouble;
    char *s = NULL;
    size_t sl = 0;
    slm_error err = {0};
    slm_status st = slm_detokenize_alloc(tok, ids, n, &s, &sl, &err);
    bool ok = st == SLM_OK && sl == wl && !memcmp(s, want, sl);
    CHECK(ok, "%s: decode differs: want \"%.60s\" got \"%.60s\" (%s)", set, want, s ? s : "", err.msg);
    /* Streaming: every chunk valid UTF-8, all chunks together == decode(). */
    slm_detok_stream ds;
    slm_detok_stream_init(&ds, tok);
    char *cat = malloc(sl * 2 + 16);
    size_t cn = 0;
    bool chunks_ok = true;
    for (size_t i = 0; i < n; i++) {
        const char *c;
        size_t cl;
        if (slm_detok_stream_push(&ds, ids[i], &c, &cl, &err)) { chunks_ok = false; break; }
        chunks_ok &= utf8_valid(c, cl);
        if (cn + cl <= sl * 2 + 8) memcpy(cat + cn, c, cl);
        cn += cl;
    }
    const char *c;
    size_t cl;
    slm_detok_stream_flush(&ds, &c, &cl);
    if (cn + cl <= sl * 2 + 8) memcpy(cat + cn, c, cl);
    cn += cl;
    slm_detok_stream_free(&ds);
    CHECK(chunks_ok, "%s: stream produced invalid UTF-8 for \"%.60s\"", set, want);
    CHECK(st || (cn == sl && !memcmp(cat, s, sl)), "%s: stream != decode for \"%.60s\"", set, want);
    free(cat);
    free(s);
    free(ids);
}

/* Decode the JSON string literal starting at the quote *p (cJSON stops at \u0000, which the
 * corpus contains). Returns a malloc'd buffer; *len its length; *end the char after the quote. */
static char *json_string_at(const char *p, size_t *len, const char **end) {
    size_t cap = strlen(p) + 1, o = 0;
    char *out = malloc(cap);
    p++;
    while (*p && *p != '"') {
        if (*p != '\\') { out[o++] = *p++; continue; }
        p++;
        char c = *p++;
        if (c == 'u') {
            unsigned cp = (unsigned)strtoul((char[]){p[0], p[1], p[2], p[3], 0}, NULL, 16);
            p += 4;
            if (cp >= 0xD800 && cp < 0xDC00 && p[0] == '\\' && p[1] == 'u') {
                unsigned lo = (unsigned)strtoul((char[]){p[2], p[3], p[4], p[5], 0}, NULL, 16);
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                p += 6;
            }
            if (cp < 0x80) out[o++] = (char)cp;
            else if (cp < 0x800) { out[o++] = (char)(0xC0 | (cp >> 6)); out[o++] = (char)(0x80 | (cp & 63)); }
            else if (cp < 0x10000) { out[o++] = (char)(0xE0 | (cp >> 12)); out[o++] = (char)(0x80 | ((cp >> 6) & 63)); out[o++] = (char)(0x80 | (cp & 63)); }
            else { out[o++] = (char)(0xF0 | (cp >> 18)); out[o++] = (char)(0x80 | ((cp >> 12) & 63)); out[o++] = (char)(0x80 | ((cp >> 6) & 63)); out[o++] = (char)(0x80 | (cp & 63)); }
        } else {
            out[o++] = c == 'n' ? '\n' : c == 't' ? '\t' : c == 'r' ? '\r' : c == 'b' ? '\b' : c == 'f' ? '\f' : c;
        }
    }
    *end = *p ? p + 1 : p;
    *len = o;
    out[o] = 0;
    return out;
}

static void run_cases(const char *set, const slm_tokenizer *tok, const char *cases_path, bool with_special) {
    char *data;
    size_t len;
    slm_error err = {0};
    if (slm_file_read_all(cases_path, 64 << 20, &data, &len, &err)) {
        CHECK(0, "cannot read %s: %s", cases_path, err.msg);
        return;
    }
    int n = 0, before = tu_failures;
    for (char *line = data; *line;) {
        char *nl = strchr(line, '\n');
        if (nl) *nl = 0;
        cJSON *c = cJSON_Parse(line);
        if (c) {
            /* Layout: {"text": "...", "ids": [...], "ids_special": [...], "decoded": "...",
             * "decoded_special": "..."}; the strings are decoded by hand to keep \u0000. */
            const char *e, *e2, *e3;
            size_t tl, dl, dsl;
            char *text = json_string_at(strchr(line, ':') + 2, &tl, &e);
            const char *dpos = strstr(strstr(e, "\"ids_special\""), "\"decoded\": ") + 11;
            char *dec = json_string_at(dpos, &dl, &e2);
            char *decs = json_string_at(strstr(e2, "\"decoded_special\": ") + 19, &dsl, &e3);
            check_ids(set, tok, text, tl, (slm_tokenize_flags){false, true}, cJSON_GetObjectItem(c, "ids"));
            if (with_special)
                check_ids(set, tok, text, tl, (slm_tokenize_flags){true, true}, cJSON_GetObjectItem(c, "ids_special"));
            check_decode(set, tok, cJSON_GetObjectItem(c, "ids"), dec, dl);
            if (with_special) check_decode(set, tok, cJSON_GetObjectItem(c, "ids_special"), decs, dsl);
            free(text);
            free(dec);
            free(decs);
            n++;
            cJSON_Delete(c);
        }
        if (!nl) break;
        line = nl + 1;
    }
    printf("%-28s %d cases, %d failed checks\n", set, n, tu_failures - before);
    CHECK(n > 100, "%s: only %d cases read", set, n);
    free(data);
}

static void run_json_set(const char *name) {
    slm_tokenizer *tok = NULL;
    slm_error err = {0};
    clock_t t0 = clock();
    slm_status st = slm_tokenizer_load_json(tu_path("%s/tokenizers/%s/tokenizer.json", tu_fixtures(), name),
                                            tu_path("%s/tokenizers/%s/tokenizer_config.json", tu_fixtures(), name), &tok,
                                            &err);
    CHECK(st == SLM_OK, "load %s: %s", name, err.msg);
    if (st) return;
    printf("loaded %s tokenizer.json in %.2f s (vocab %d)\n", name, (double)(clock() - t0) / CLOCKS_PER_SEC,
           slm_tokenizer_n_vocab(tok));
    run_cases(tu_path("json:%s", name), tok, tu_path("%s/tokenizers/%s/cases.jsonl", tu_fixtures(), name), true);

    /* Export to GGUF metadata (as the HF -> GGUF converter does), read back, same answers. */
    gguf_writer *w = NULL;
    void *mem = NULL;
    size_t size = 0;
    gguf_file *gf = NULL;
    slm_tokenizer *back = NULL;
    st = gguf_writer_new(&w, &err);
    if (!st) st = slm_tokenizer_write_gguf(tok, w, &err);
    if (!st) st = gguf_writer_write_memory(w, &mem, &size, &err);
    if (!st) st = gguf_open_memory(mem, size, &gf, &err);
    if (!st) st = slm_tokenizer_load_gguf(gf, &back, &err);
    CHECK(st == SLM_OK, "%s: export to GGUF and back: %s", name, err.msg);
    if (!st) run_cases(tu_path("json->gguf:%s", name), back, tu_path("%s/tokenizers/%s/cases.jsonl", tu_fixtures(), name), true);
    slm_tokenizer_free(back);
    gguf_close(gf);
    gguf_writer_free(w);
    free(mem);

    /* Safety default: control-token text stays text. */
    const char *inj = "<|im_start|>system<start_of_turn><s><|begin_of_text|>";
    slm_tokens v = {0};
    st = slm_tokenize(tok, inj, strlen(inj), SLM_TOKENIZE_DEFAULT, &v, &err);
    CHECK(st == SLM_OK, "%s: tokenize default: %s", name, err.msg);
    for (size_t i = 0; i < v.n; i++) CHECK(!slm_tokenizer_is_special(tok, v.ids[i]), "%s: default flags produced special id %d", name, v.ids[i]);
    slm_tokens_free(&v);
    /* Invalid UTF-8 is an error, not a crash. */
    st = slm_tokenize(tok, "ab\xff", 3, SLM_TOKENIZE_DEFAULT, &v, &err);
    CHECK(st == SLM_E_FORMAT && v.n == 0, "%s: invalid UTF-8 accepted", name);
    slm_tokens_free(&v);
    slm_tokenizer_free(tok);
}

static void run_gguf_set(const char *gguf_rel, const char *cases_name, bool with_special) {
    slm_tokenizer *tok = NULL;
    slm_error err = {0};
    slm_status st = slm_tokenizer_load_path(tu_path("%s/%s", tu_fixtures(), gguf_rel), &tok, &err);
    CHECK(st == SLM_OK, "load %s: %s", gguf_rel, err.msg);
    if (st) return;
    run_cases(tu_path("gguf:%s", cases_name), tok, tu_path("%s/tokenizers/%s/cases.jsonl", tu_fixtures(), cases_name),
              with_special);
    slm_tokenizer_free(tok);
}

static void run_llamacpp_vocab(const char *name) {
    slm_tokenizer *tok = NULL;
    slm_error err = {0};
    const char *base = tu_path("%s/llamacpp-vocab/ggml-vocab-%s.gguf", tu_fixtures(), name);
    slm_status st = slm_tokenizer_load_path(base, &tok, &err);
    CHECK(st == SLM_OK, "load %s: %s", base, err.msg);
    if (st) return;
    char *inp, *outp;
    size_t il, ol;
    if (slm_file_read_all(tu_path("%s.inp", base), 1 << 20, &inp, &il, &err) ||
        slm_file_read_all(tu_path("%s.out", base), 1 << 20, &outp, &ol, &err)) {
        CHECK(0, "read vectors of %s: %s", name, err.msg);
        slm_tokenizer_free(tok);
        return;
    }
    const char *sep = "\n__ggml_vocab_test__\n";
    size_t sl = strlen(sep);
    char *p = inp, *q = outp;
    int n = 0, before = tu_failures;
    while (p < inp + il) {
        char *e = strstr(p, sep);
        if (!e) break;
        char *nl = strchr(q, '\n');
        if (!nl) break;
        *nl = 0;
        cJSON *want = cJSON_CreateArray();
        for (char *tokp = strtok(q, " "); tokp; tokp = strtok(NULL, " ")) cJSON_AddItemToArray(want, cJSON_CreateNumber(atoi(tokp)));
        check_ids(tu_path("llamacpp:%s", name), tok, p, (size_t)(e - p), SLM_TOKENIZE_DEFAULT, want);
        cJSON_Delete(want);
        n++;
        p = e + sl;
        q = nl + 1;
    }
    printf("%-28s %d cases, %d failed checks\n", tu_path("llamacpp:%s", name), n, tu_failures - before);
    CHECK(n == 46, "%s: %d vectors read, expected 46", name, n);
    free(inp);
    free(outp);
    slm_tokenizer_free(tok);
}

int main(void) {
    const char *only = getenv("SLM_TOK_ONLY"); /* debugging aid: run one set */
    static const char *const sets[] = {"llama3", "qwen3", "gemma3", "llama2"};
    for (size_t i = 0; i < 4; i++)
        if (!only || !strcmp(only, sets[i])) run_json_set(sets[i]);
    if (!only || !strcmp(only, "gguf")) {
        run_gguf_set("models/llama3-tiny/gguf/llama3-tiny-f16.gguf", "llama3", true);
        run_gguf_set("models/qwen2-tiny/gguf/qwen2-tiny-f16.gguf", "qwen3", true);
        run_gguf_set("models/llama2-quant/gguf/llama2-quant-f16.gguf", "llama2", true);
    }
    if (!only || !strcmp(only, "vocab")) {
        run_llamacpp_vocab("llama-spm");
        run_llamacpp_vocab("phi-3");
        run_llamacpp_vocab("gpt-2");
    }
    return tu_finish("test_tokenizer_cases");
}
