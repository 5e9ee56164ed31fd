/* libFuzzer target for slm_tokenize / slm_detokenize / the streaming decoder on arbitrary text,
 * with a byte-level BPE (llama3 tokenizer.json) and a SentencePiece-style GGUF vocabulary
 * (llama.cpp's ggml-vocab-llama-spm.gguf), both from the fixtures ($SLM_FIXTURES, default
 * ../shared/fixtures as seen from the repository root). Input: byte 0 = flags, the rest = text.
 * Properties: no crash; invalid UTF-8 is refused; decode(encode(text)) == text wherever the
 * tokenizer is lossless; the stream emits only valid UTF-8 and adds up to decode(). */
#define _GNU_SOURCE /* memmem */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tokenizer.h"

static slm_tokenizer *g_tok[2];

static void load_once(void) {
    static int done;
    if (done) return;
    done = 1;
    const char *fx = getenv("SLM_FIXTURES");
    if (!fx) fx = "../shared/fixtures";
    char p[4096];
    slm_error err;
    snprintf(p, sizeof p, "%s/tokenizers/llama3/tokenizer.json", fx);
    if (slm_tokenizer_load_path(p, &g_tok[0], &err)) g_tok[0] = NULL;
    snprintf(p, sizeof p, "%s/llamacpp-vocab/ggml-vocab-llama-spm.gguf", fx);
    if (slm_tokenizer_load_path(p, &g_tok[1], &err)) g_tok[1] = NULL;
}

static bool utf8_ok(const char *s, size_t n) {
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        size_t l = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        if (!l || i + l > n) return false;
        for (size_t k = 1; k < l; k++)
            if (((unsigned char)s[i + k] & 0xC0) != 0x80) return false;
        i += l;
    }
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    load_once();
    if (size == 0) return 0;
    slm_tokenize_flags fl = {(data[0] & 1) != 0, (data[0] & 2) != 0};
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    for (int k = 0; k < 2; k++) {
        const slm_tokenizer *tok = g_tok[k];
        if (!tok) continue;
        slm_tokens v = {0};
        slm_error err;
        slm_status st = slm_tokenize(tok, text, len, fl, &v, &err);
        if (st != SLM_OK) {
            if (st != SLM_E_FORMAT || v.n) abort();
            slm_tokens_free(&v);
            continue;
        }
        char *dec;
        size_t dl;
        if (slm_detokenize_alloc(tok, v.ids, v.n, &dec, &dl, &err)) abort();
        /* Byte-level without added BOS: lossless. SPM: lossless without specials and U+2581. */
        bool lossless = k == 0 ? !fl.add_special : (!fl.add_special && !fl.parse_special && !memmem(text, len, "\xe2\x96\x81", 3));
        if (lossless && (dl != len || memcmp(dec, text, len))) abort();
        slm_detok_stream ds;
        slm_detok_stream_init(&ds, tok);
        size_t off = 0;
        for (size_t i = 0; i <= v.n; i++) {
            const char *c;
            size_t cl;
            if (i < v.n) {
                if (slm_detok_stream_push(&ds, v.ids[i], &c, &cl, &err)) abort();
            } else {
                slm_detok_stream_flush(&ds, &c, &cl);
            }
            if (!utf8_ok(c, cl) || off + cl > dl || memcmp(dec + off, c, cl)) abort();
            off += cl;
        }
        if (off != dl) abort();
        slm_detok_stream_free(&ds);
        free(dec);
        slm_tokens_free(&v);
    }
    return 0;
}
