/* libFuzzer target for the tokenizer.json loader: any bytes -> slm_tokenizer_load_json_mem must
 * fail cleanly or give a tokenizer that tokenizes and decodes a few fixed strings without a
 * crash. Seeds: fuzz/seeds/tokenizer_json/ (small hand-made byte-level and '▁'-style files). */
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tokenizer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    slm_tokenizer *tok;
    slm_error err;
    if (slm_tokenizer_load_json_mem((const char *)data, size, NULL, 0, &tok, &err) != SLM_OK) return 0;
    static const char *const texts[] = {"", "hello world", "  a\n\tb  ", "<s>x</s>", "\xc3\xa9\xe2\x96\x81\xf0\x9f\x98\x80 12345"};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        for (int f = 0; f < 4; f++) {
            slm_tokens v = {0};
            if (slm_tokenize(tok, texts[i], strlen(texts[i]), (slm_tokenize_flags){f & 1, f & 2}, &v, &err) == SLM_OK) {
                char *s;
                size_t sl;
                for (size_t k = 0; k < v.n; k++)
                    if (v.ids[k] < 0 || v.ids[k] >= slm_tokenizer_n_vocab(tok)) abort();
                if (slm_detokenize_alloc(tok, v.ids, v.n, &s, &sl, &err) == SLM_OK) free(s);
            }
            slm_tokens_free(&v);
        }
    }
    slm_tokenizer_free(tok);
    return 0;
}
