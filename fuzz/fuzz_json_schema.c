/* libFuzzer target for the JSON constraint engine (src/sample/json_constrain.h).
 * Input: a JSON Schema text, a 0x00 byte, then token choices (one byte each). With the llama3
 * byte-level BPE vocabulary from the fixtures ($SLM_FIXTURES, default ../shared/fixtures), each
 * step masks zero logits, picks the allowed token chosen by the next input byte, and accepts it;
 * the first choice byte sets the extra token budget above the minimum. Properties: no crash;
 * every masked-in token is accepted; the output is always a complete document that parses and
 * validates against the schema (tests/json_constrain_validate.h). Without the fixture the
 * choices are fed as raw bytes (prefix validator only). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../tests/json_constrain_validate.h"
#include "sample/json_constrain.h"
#include "tokenizer/tokenizer.h"

static slm_tokenizer *g_tok;
static json_vocab *g_vocab;
static float *g_logits;
static int32_t g_n_vocab;

static void load_once(void) {
    static int done;
    if (done) return;
    done = 1;
    const char *fx = getenv("SLM_FIXTURES");
    if (!fx) fx = "../shared/fixtures";
    char p[4096];
    slm_error err;
    snprintf(p, sizeof p, "%s/tokenizers/llama3/tokenizer.json", fx);
    if (slm_tokenizer_load_path(p, &g_tok, &err) != SLM_OK) return;
    if (json_vocab_new(g_tok, &g_vocab, &err) != SLM_OK) return;
    g_n_vocab = slm_tokenizer_n_vocab(g_tok);
    g_logits = malloc((size_t)g_n_vocab * sizeof(float));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    load_once();
    const uint8_t *sep = memchr(data, 0, size);
    size_t schema_len = sep ? (size_t)(sep - data) : size;
    char *schema = malloc(schema_len + 1);
    if (!schema) return 0;
    memcpy(schema, data, schema_len);
    schema[schema_len] = 0;
    const uint8_t *ch = sep ? sep + 1 : data + size;
    size_t n_ch = (size_t)(data + size - ch);

    slm_error err;
    json_constraint *c = NULL;
    if (json_constraint_new_vocab(schema, g_logits ? g_vocab : NULL, &c, &err) != SLM_OK) {
        free(schema);
        return 0;
    }
    if (!g_logits) {
        /* byte-level: whatever prefix is accepted must keep a finite completion */
        for (size_t i = 0; i < n_ch; i++)
            json_constraint_feed(c, (const char *)ch + i, 1);
        if (json_constraint_min_tokens(c) > (1 << 20)) abort();
        json_constraint_free(c);
        free(schema);
        return 0;
    }
    int64_t min = json_constraint_min_tokens(c);
    if (min > 40) { /* keeps one input well under a second (each step masks 128k tokens) */
        json_constraint_free(c);
        free(schema);
        return 0;
    }
    int32_t max_tokens = (int32_t)min + (n_ch ? ch[0] % 24 : 0);
    size_t k = 1;
    for (int32_t used = 0; used < max_tokens; used++) {
        for (int32_t i = 0; i < g_n_vocab; i++)
            g_logits[i] = 0.0f;
        int32_t n = json_constraint_mask(c, g_logits, g_n_vocab, max_tokens - used);
        if (n == 0) break;
        int32_t pick = k < n_ch ? ch[k++] % n : 0, t = -1;
        for (int32_t i = 0; i < g_n_vocab; i++)
            if (isfinite(g_logits[i]) && pick-- == 0) {
                t = i;
                break;
            }
        if (t < 0 || json_constraint_accept(c, t) != SLM_OK) abort();
        if (slm_tokenizer_is_eot(g_tok, t) || t == slm_tokenizer_eos(g_tok)) break;
    }
    if (!json_constraint_done(c)) abort();
    size_t len;
    const char *txt = json_constraint_text(c, &len);
    cJSON *v = cJSON_ParseWithLength(txt, len);
    cJSON *s = cJSON_Parse(schema);
    if (!v || !s || !validate(v, s)) abort();
    cJSON_Delete(v);
    cJSON_Delete(s);
    json_constraint_free(c);
    free(schema);
    return 0;
}
