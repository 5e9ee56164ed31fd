/* JSON / JSON-Schema constrained generation (src/sample/json_constrain.h).
 *  1. The prefix validator on hand-written byte sequences, per keyword: valid prefixes, refused
 *     bytes, completeness, shortest completion lengths.
 *  2. The bar: random schemas x seeds sampled at temperature 1 from random-weight fixture
 *     models (llama2-quant Q4_0: SentencePiece; llama3-tiny f16: byte-level BPE, 128k vocab) under
 *     various token budgets, tight ones included. Every output must parse (cJSON) and validate
 *     against its schema with the small validator below, written independently of the engine.
 * SLM_JSON_ROUNDS overrides the number of random schemas (default 200). */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "model/loader.h"
#include "sample/json_constrain.h"
#include "sample/sampler.h"
#include "slm.h"
#include "testutil.h"
#include "json_constrain_validate.h"
#include "tokenizer/tokenizer.h"

/* --- 1. prefix validator unit tests -------------------------------------------------------- */

typedef struct byte_case {
    const char *schema; /* NULL: any JSON */
    const char *text;
    int valid;    /* text is a valid prefix */
    int complete; /* and a complete document (only checked when valid) */
} byte_case;

static const byte_case k_cases[] = {
    {NULL, "{\"a\":[1,2.5,-0,true,false,null,\"x\\n\"]}", 1, 1},
    {NULL, "{\"a\":", 1, 0},
    {NULL, "{ \"a\":1}", 0, 0}, /* no free whitespace */
    {NULL, "{\"a\" :1}", 0, 0},
    {NULL, "[1,]", 0, 0},
    {NULL, "[01]", 0, 0}, /* no leading zeros */
    {NULL, "1.", 1, 0},
    {NULL, "1.e", 0, 0},
    {NULL, "-", 1, 0},
    {NULL, "--", 0, 0},
    {NULL, "12", 1, 1},
    {NULL, "tru", 1, 0},
    {NULL, "trux", 0, 0},
    {NULL, "nul", 1, 0},
    {NULL, "\"\\u0041\"", 0, 0}, /* \u escapes are not generated */
    {NULL, "\"\\q\"", 0, 0},
    {NULL, "\"a\x01\"", 0, 0},            /* control byte */
    {NULL, "\"\xc3\xa9\"", 1, 1},         /* é */
    {NULL, "\"\xc0\xaf\"", 0, 0},         /* overlong */
    {NULL, "\"\xed\xa0\x80\"", 0, 0},     /* surrogate */
    {NULL, "\"\xf4\x90\x80\x80\"", 0, 0}, /* above U+10FFFF */
    {NULL, "{}x", 0, 0},
    {NULL, "1234567890123", 0, 0}, /* 13 integer digits */
    {"{\"type\":\"integer\"}", "12", 1, 1},
    {"{\"type\":\"integer\"}", "1.5", 0, 0},
    {"{\"type\":\"number\"}", "1.5", 1, 1},
    {"{\"type\":\"string\"}", "1", 0, 0},
    {"{\"type\":\"boolean\"}", "false", 1, 1},
    {"{\"type\":\"boolean\"}", "null", 0, 0},
    {"{\"type\":\"null\"}", "null", 1, 1},
    {"{\"type\":[\"string\",\"null\"]}", "null", 1, 1},
    {"{\"type\":[\"string\",\"null\"]}", "\"a\"", 1, 1},
    {"{\"type\":[\"string\",\"null\"]}", "1", 0, 0},
    {"{\"type\":\"string\",\"minLength\":2,\"maxLength\":3}", "\"a\"", 0, 0},
    {"{\"type\":\"string\",\"minLength\":2,\"maxLength\":3}", "\"ab\"", 1, 1},
    {"{\"type\":\"string\",\"minLength\":2,\"maxLength\":3}", "\"\xc3\xa9\xc3\xa9\xc3\xa9\"", 1, 1},
    {"{\"type\":\"string\",\"minLength\":2,\"maxLength\":3}", "\"abcd", 0, 0},
    {"{\"enum\":[\"red\",\"green\",1,12]}", "\"gr", 1, 0},
    {"{\"enum\":[\"red\",\"green\",1,12]}", "\"blue\"", 0, 0},
    {"{\"enum\":[\"red\",\"green\",1,12]}", "1", 1, 1},
    {"{\"enum\":[\"red\",\"green\",1,12]}", "12", 1, 1},
    {"{\"enum\":[\"red\",\"green\",1,12]}", "13", 0, 0},
    {"{\"const\":{\"k\":[1]}}", "{\"k\":[1]}", 1, 1},
    {"{\"const\":{\"k\":[1]}}", "{\"k\":[2]}", 0, 0},
    {"{\"type\":\"array\",\"items\":{\"type\":\"integer\"},\"minItems\":1,\"maxItems\":2}", "[]", 0, 0},
    {"{\"type\":\"array\",\"items\":{\"type\":\"integer\"},\"minItems\":1,\"maxItems\":2}", "[1,2]", 1, 1},
    {"{\"type\":\"array\",\"items\":{\"type\":\"integer\"},\"minItems\":1,\"maxItems\":2}", "[1,2,", 0, 0},
    {"{\"type\":\"array\",\"items\":{\"type\":\"integer\"},\"minItems\":1,\"maxItems\":2}", "[\"a\"", 0, 0},
    {"{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"},\"b\":{\"type\":\"string\"}},"
     "\"required\":[\"b\"]}",
     "{}", 0, 0},
    {"{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"},\"b\":{\"type\":\"string\"}},"
     "\"required\":[\"b\"]}",
     "{\"a\":1}", 0, 0},
    {"{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"},\"b\":{\"type\":\"string\"}},"
     "\"required\":[\"b\"]}",
     "{\"b\":\"\"}", 1, 1},
    {"{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"},\"b\":{\"type\":\"string\"}},"
     "\"required\":[\"b\"]}",
     "{\"a\":1,\"b\":\"x\"}", 1, 1},
    {"{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"},\"b\":{\"type\":\"string\"}},"
     "\"required\":[\"b\"]}",
     "{\"c\":", 0, 0},
    {"{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"},\"b\":{\"type\":\"string\"}},"
     "\"required\":[\"b\"]}",
     "{\"a\":\"x\"", 0, 0},
    {"{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"}}}", "{\"a\":1,\"a\":", 0, 0},
    {"{\"type\":\"object\"}", "{}", 1, 1},
    {"{\"anyOf\":[{\"type\":\"integer\"},{\"type\":\"string\",\"maxLength\":1}]}", "\"ab", 0, 0},
    {"{\"anyOf\":[{\"type\":\"integer\"},{\"type\":\"string\",\"maxLength\":1}]}", "7", 1, 1},
    {"{\"oneOf\":[{\"enum\":[\"a\"]},{\"const\":2}]}", "2", 1, 1},
    {"{\"oneOf\":[{\"enum\":[\"a\"]},{\"const\":2}]}", "\"b", 0, 0},
};

static const char *const k_bad_schemas[] = {
    "{\"type\":\"string\",\"pattern\":\"^a$\"}",
    "{\"type\":\"integer\",\"minimum\":3}",
    "{\"$ref\":\"#/x\"}",
    "{\"type\":\"strin\"}",
    "{\"type\":\"array\",\"items\":[{}]}",
    "{\"enum\":[]}",
    "{\"type\":\"string\",\"minLength\":3,\"maxLength\":2}",
    "{\"anyOf\":[{\"type\":\"integer\"},{\"type\":\"number\"}]}",
    "{\"properties\":{},\"required\":[\"x\"]}",
    "[1",
    "false",
    "{\"type\":\"integer\",\"enum\":[\"a\"]}",
};

/* Shortest completions, in bytes. */
typedef struct rest_case {
    const char *schema, *text;
    int64_t rest;
} rest_case;

static const rest_case k_rest[] = {
    {NULL, "", 1},
    {NULL, "{\"a", 4}, /* ":0} */
    {NULL, "[[\"", 3}, /* "]] */
    {"{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"},\"bb\":{\"type\":\"string\",\"minLength\":2}},"
     "\"required\":[\"a\",\"bb\"]}",
     "", 17}, /* {"a":0,"bb":"xx"} */
    {"{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"},\"bb\":{\"type\":\"string\",\"minLength\":2}},"
     "\"required\":[\"a\",\"bb\"]}",
     "{\"a\":-", 12},
    {"{\"type\":\"array\",\"items\":{\"enum\":[\"xyz\",true]},\"minItems\":2}", "[", 10}, /* true,true] */
    {"{\"enum\":[\"abc\",\"abcdef\"]}", "\"abcd", 3},
};

/* The validator itself must be able to say no, or part 2 proves nothing. */
static void test_validator(void) {
    static const char *const bad[][2] = {
        {"{\"type\":\"integer\"}", "1.5"},
        {"{\"type\":\"string\",\"maxLength\":2}", "\"abc\""},
        {"{\"type\":\"string\",\"minLength\":2}", "\"\u00e9\""},
        {"{\"enum\":[1,\"a\"]}", "\"b\""},
        {"{\"const\":null}", "0"},
        {"{\"type\":\"array\",\"items\":{\"type\":\"null\"},\"maxItems\":1}", "[null,null]"},
        {"{\"type\":\"array\",\"items\":{\"type\":\"null\"}}", "[0]"},
        {"{\"type\":\"object\",\"properties\":{\"a\":{}},\"required\":[\"a\"]}", "{}"},
        {"{\"type\":\"object\",\"properties\":{},\"additionalProperties\":false}", "{\"b\":1}"},
        {"{\"oneOf\":[{\"type\":\"integer\"},{\"enum\":[1]}]}", "1"},
        {"{\"type\":[\"null\",\"boolean\"]}", "\"x\""},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cJSON *s = cJSON_Parse(bad[i][0]), *v = cJSON_Parse(bad[i][1]);
        CHECK(s && v && !validate(v, s), "validator accepts %s under %s", bad[i][1], bad[i][0]);
        cJSON_Delete(s);
        cJSON_Delete(v);
    }
}

static void test_bytes(void) {
    for (size_t i = 0; i < sizeof k_cases / sizeof k_cases[0]; i++) {
        const byte_case *bc = &k_cases[i];
        json_constraint *c;
        slm_error err;
        CHECK(json_constraint_new_vocab(bc->schema, NULL, &c, &err) == SLM_OK, "case %zu: %s", i, err.msg);
        if (!c) continue;
        bool ok = json_constraint_feed(c, bc->text, strlen(bc->text));
        CHECK(ok == (bc->valid != 0), "case %zu: '%s' under %s: valid %d", i, bc->text, bc->schema ? bc->schema : "any",
              ok);
        if (ok) {
            CHECK(json_constraint_done(c) == (bc->complete != 0), "case %zu: '%s' complete %d", i, bc->text,
                  json_constraint_done(c));
            /* a valid prefix always has a completion, and it must be a finite number of bytes */
            CHECK(json_constraint_min_tokens(c) < 1000, "case %zu: rest %lld", i,
                  (long long)json_constraint_min_tokens(c));
            if (bc->valid && bc->complete) CHECK(json_constraint_min_tokens(c) == 0, "case %zu", i);
            /* the complete ones must also satisfy the independent validator */
            if (bc->complete) {
                cJSON *v = cJSON_Parse(bc->text);
                cJSON *s = bc->schema ? cJSON_Parse(bc->schema) : cJSON_CreateTrue();
                CHECK(v && validate(v, s), "case %zu: '%s' does not validate", i, bc->text);
                cJSON_Delete(v);
                cJSON_Delete(s);
            }
        }
        json_constraint_free(c);
    }
    for (size_t i = 0; i < sizeof k_bad_schemas / sizeof k_bad_schemas[0]; i++) {
        json_constraint *c = NULL;
        slm_error err = {0};
        slm_status st = json_constraint_new_vocab(k_bad_schemas[i], NULL, &c, &err);
        CHECK(st != SLM_OK && c == NULL && err.msg[0], "bad schema %zu accepted: %s", i, k_bad_schemas[i]);
        json_constraint_free(c);
    }
    for (size_t i = 0; i < sizeof k_rest / sizeof k_rest[0]; i++) {
        json_constraint *c;
        slm_error err;
        CHECK(json_constraint_new_vocab(k_rest[i].schema, NULL, &c, &err) == SLM_OK, "rest %zu: %s", i, err.msg);
        if (!c) continue;
        CHECK(json_constraint_feed(c, k_rest[i].text, strlen(k_rest[i].text)), "rest %zu", i);
        CHECK(json_constraint_min_tokens(c) == k_rest[i].rest, "rest %zu: %lld, want %lld", i,
              (long long)json_constraint_min_tokens(c), (long long)k_rest[i].rest);
        json_constraint_free(c);
    }
}

/* --- 2. random schemas x random-weight models --------------------------------------------- */

static uint64_t g_rng;
static uint32_t rnd(uint32_t n) {
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return (uint32_t)(g_rng % n);
}

static cJSON *rand_literal(void) {
    static const char *const words[] = {"red", "green", "a b", "\xc3\xa9t\xc3\xa9", "", "x\"y", "long value here"};
    switch (rnd(5)) {
    case 0:
        return cJSON_CreateString(words[rnd(7)]);
    case 1:
        return cJSON_CreateNumber((double)((int)rnd(2001) - 1000));
    case 2:
        return cJSON_CreateNumber((double)((int)rnd(2001) - 1000) / 8.0);
    case 3:
        return cJSON_CreateBool(rnd(2));
    default:
        return cJSON_CreateNull();
    }
}

static cJSON *rand_schema(int depth) {
    static const char *const names[] = {"id", "name", "tags", "x y", "\xc3\xa9", "value", "ok", "a", "nested", "n"};
    cJSON *s = cJSON_CreateObject();
    uint32_t k = rnd(depth < 3 ? 12 : 8);
    switch (k) {
    case 0:
        cJSON_AddStringToObject(s, "type", "integer");
        break;
    case 1:
        cJSON_AddStringToObject(s, "type", "number");
        break;
    case 2:
        cJSON_AddStringToObject(s, "type", "boolean");
        break;
    case 3:
        cJSON_AddStringToObject(s, "type", "null");
        break;
    case 4: {
        cJSON_AddStringToObject(s, "type", "string");
        uint32_t mn = rnd(4);
        if (rnd(2)) cJSON_AddNumberToObject(s, "minLength", mn);
        if (rnd(2)) cJSON_AddNumberToObject(s, "maxLength", mn + rnd(10));
        break;
    }
    case 5: {
        cJSON *e = cJSON_AddArrayToObject(s, "enum");
        uint32_t n = 1 + rnd(5);
        for (uint32_t i = 0; i < n; i++)
            cJSON_AddItemToArray(e, rand_literal());
        break;
    }
    case 6: {
        if (rnd(2)) {
            cJSON_AddItemToObject(s, "const", rand_literal());
        } else {
            const char *t[] = {"string", "null", "integer", "boolean"};
            cJSON *ty = cJSON_AddArrayToObject(s, "type");
            uint32_t a = rnd(4), b = (a + 1 + rnd(3)) % 4;
            cJSON_AddItemToArray(ty, cJSON_CreateString(t[a]));
            cJSON_AddItemToArray(ty, cJSON_CreateString(t[b]));
        }
        break;
    }
    case 7: {
        cJSON *a = cJSON_AddArrayToObject(s, rnd(2) ? "anyOf" : "oneOf");
        cJSON *b1 = cJSON_CreateObject(), *b2 = cJSON_CreateObject();
        cJSON_AddStringToObject(b1, "type", "integer");
        cJSON_AddStringToObject(b2, "type", "string");
        cJSON_AddNumberToObject(b2, "maxLength", rnd(6));
        cJSON_AddItemToArray(a, b1);
        cJSON_AddItemToArray(a, b2);
        break;
    }
    case 8:
    case 9: {
        cJSON_AddStringToObject(s, "type", "object");
        cJSON *p = cJSON_AddObjectToObject(s, "properties");
        cJSON *r = cJSON_CreateArray();
        uint32_t n = rnd(5), used = 0;
        for (uint32_t i = 0; i < n; i++) {
            uint32_t w = rnd(10);
            if (used & (1u << w)) continue;
            used |= 1u << w;
            cJSON_AddItemToObject(p, names[w], rand_schema(depth + 1));
            if (rnd(2)) cJSON_AddItemToArray(r, cJSON_CreateString(names[w]));
        }
        cJSON_AddItemToObject(s, "required", r);
        cJSON_AddBoolToObject(s, "additionalProperties", false);
        break;
    }
    default: {
        cJSON_AddStringToObject(s, "type", "array");
        cJSON_AddItemToObject(s, "items", rand_schema(depth + 1));
        uint32_t mn = rnd(3);
        if (rnd(2)) cJSON_AddNumberToObject(s, "minItems", mn);
        if (rnd(2)) cJSON_AddNumberToObject(s, "maxItems", mn + rnd(4));
        break;
    }
    }
    return s;
}

typedef struct gen_model {
    const char *path;
    slm_model *m;
    slm_tokenizer *tok;
    slm_context *ctx;
    json_vocab *v;
    float *logits;
    int32_t n_vocab;
} gen_model;

static bool gen_open(gen_model *g) {
    slm_error err;
    if (slm_model_load(g->path, &g->m, &err) != SLM_OK) {
        CHECK(0, "load %s: %s", g->path, err.msg);
        return false;
    }
    CHECK(slm_tokenizer_load_gguf(slm_model_gguf(g->m), &g->tok, &err) == SLM_OK, "tokenizer: %s", err.msg);
    slm_context_params cp = slm_context_default_params();
    cp.n_ctx = 256;
    cp.n_threads = 1;
    CHECK(slm_context_new(g->m, &cp, &g->ctx, &err) == SLM_OK, "context: %s", err.msg);
    if (!g->tok || !g->ctx) return false;
    CHECK(json_vocab_new(g->tok, &g->v, &err) == SLM_OK, "vocab: %s", err.msg);
    g->n_vocab = (int32_t)slm_context_n_vocab(g->ctx);
    g->logits = malloc((size_t)g->n_vocab * sizeof(float));
    return g->v && g->logits;
}

static void gen_close(gen_model *g) {
    free(g->logits);
    json_vocab_free(g->v);
    slm_context_free(g->ctx);
    slm_tokenizer_free(g->tok);
    slm_model_free(g->m);
}

static int g_runs, g_tight, g_cut;

/* Generate one document under schema text with the given seed and token budget; check it. */
static void gen_one(gen_model *g, const char *schema_text, const cJSON *schema, uint64_t seed, int32_t budget_extra) {
    slm_error err;
    json_constraint *c;
    if (json_constraint_new_vocab(schema_text, g->v, &c, &err) != SLM_OK) {
        CHECK(0, "schema refused: %s: %s", err.msg, schema_text);
        return;
    }
    int32_t max_tokens = (int32_t)json_constraint_min_tokens(c) + budget_extra;
    if (budget_extra <= 2) g_tight++;
    slm_sampler_params sp = slm_sampler_default_params();
    sp.temperature = 1.0f;
    sp.top_k = 0;
    sp.top_p = 1.0f;
    sp.min_p = 0.0f;
    sp.seed = seed;
    slm_sampler *smp;
    CHECK(slm_sampler_new(&sp, g->n_vocab, &smp, &err) == SLM_OK, "sampler: %s", err.msg);
    slm_seq_remove(g->ctx, 0, 0, -1);
    int32_t bos = slm_tokenizer_bos(g->tok);
    slm_batch_entry e = {bos >= 0 ? bos : 0, 0, 0, true};
    int32_t used = 0;
    bool eog = false;
    while (used < max_tokens && max_tokens < 200) {
        if (slm_decode(g->ctx, &e, 1, &err) != SLM_OK) {
            CHECK(0, "decode: %s", err.msg);
            break;
        }
        memcpy(g->logits, slm_context_logits(g->ctx, 0), (size_t)g->n_vocab * sizeof(float));
        int32_t n = json_constraint_mask(c, g->logits, g->n_vocab, max_tokens - used);
        if (n == 0) break;
        int32_t t = slm_sampler_sample(smp, g->logits);
        CHECK(isfinite(g->logits[t]), "sampled a masked token %d", t);
        CHECK(json_constraint_accept(c, t) == SLM_OK, "token %d refused after mask", t);
        slm_sampler_accept(smp, t);
        if (slm_tokenizer_is_eot(g->tok, t) || t == slm_tokenizer_eos(g->tok)) {
            eog = true;
            break;
        }
        used++;
        e = (slm_batch_entry){t, e.pos + 1, 0, true};
    }
    if (!eog) g_cut++;
    size_t len;
    const char *txt = json_constraint_text(c, &len);
    char *doc = malloc(len + 1);
    memcpy(doc, txt, len);
    doc[len] = 0;
    CHECK(json_constraint_done(c), "incomplete after %d/%d tokens: '%s' schema %s", used, max_tokens, doc,
          schema_text ? schema_text : "any");
    cJSON *v = cJSON_ParseWithLength(doc, len);
    CHECK(v != NULL, "does not parse: '%s' (schema %s)", doc, schema_text ? schema_text : "any");
    CHECK(v && validate(v, schema), "does not validate: '%s' against %s", doc, schema_text ? schema_text : "any");
    CHECK(used <= max_tokens, "budget exceeded");
    if (getenv("SLM_JSON_VERBOSE"))
        fprintf(stderr, "%d/%d %s\n  -> %s\n", used, max_tokens, schema_text ? schema_text : "any", doc);
    cJSON_Delete(v);
    free(doc);
    slm_sampler_free(smp);
    json_constraint_free(c);
    g_runs++;
}

/* Token-level API on a real vocabulary: refusals leave the state alone, end-of-generation only
 * once complete (and then alone), a budget at the minimum forces the shortest document. */
static void test_tokens(gen_model *g) {
    slm_error err;
    json_constraint *c;
    const char *schema = "{\"type\":\"object\",\"properties\":{\"ok\":{\"type\":\"boolean\"}},\"required\":[\"ok\"]}";
    if (json_constraint_new_vocab(schema, g->v, &c, &err) != SLM_OK) {
        CHECK(0, "%s", err.msg);
        return;
    }
    int32_t eos = slm_tokenizer_eos(g->tok);
    slm_tokens tk = {0};
    CHECK(slm_tokenize(g->tok, "x", 1, SLM_TOKENIZE_DEFAULT, &tk, &err) == SLM_OK && tk.n >= 1, "tokenize");
    CHECK(json_constraint_accept(c, tk.ids[tk.n - 1]) == SLM_E_INVALID_ARG, "'x' accepted at the start");
    CHECK(json_constraint_accept(c, eos) == SLM_E_INVALID_ARG, "EOS accepted before the document is complete");
    CHECK(json_constraint_accept(c, -1) == SLM_E_INVALID_ARG && json_constraint_accept(c, 1 << 30) == SLM_E_INVALID_ARG,
          "bad ids");
    size_t len;
    json_constraint_text(c, &len);
    CHECK(len == 0, "refused tokens changed the text");
    int64_t min = json_constraint_min_tokens(c);
    CHECK(min == 11, "min tokens %lld, want 11 ({\"ok\":true})", (long long)min);
    /* budget == minimum at every step: greedy over zero logits must produce exactly the minimum */
    for (int32_t used = 0; used < min; used++) {
        for (int32_t i = 0; i < g->n_vocab; i++)
            g->logits[i] = 0.0f;
        int32_t n = json_constraint_mask(c, g->logits, g->n_vocab, (int32_t)(min - used));
        CHECK(n > 0, "nothing allowed at step %d", used);
        int32_t t = 0;
        while (t < g->n_vocab && !isfinite(g->logits[t]))
            t++;
        CHECK(eos < 0 || !isfinite(g->logits[eos]) || json_constraint_done(c), "EOS allowed early");
        CHECK(t < g->n_vocab && json_constraint_accept(c, t) == SLM_OK, "step %d", used);
    }
    const char *txt = json_constraint_text(c, &len);
    CHECK(json_constraint_done(c) && len == 11, "forced completion '%.*s'", (int)len, txt);
    for (int32_t i = 0; i < g->n_vocab; i++)
        g->logits[i] = 0.0f;
    int32_t n = json_constraint_mask(c, g->logits, g->n_vocab, 5);
    CHECK(eos >= 0 && n >= 1 && isfinite(g->logits[eos]), "EOS not allowed once complete");
    int32_t finite = 0;
    for (int32_t i = 0; i < g->n_vocab; i++)
        finite += isfinite(g->logits[i]) != 0;
    CHECK(finite == n && slm_tokenizer_is_eot(g->tok, eos), "only end-of-generation tokens once complete (%d)", finite);
    CHECK(json_constraint_accept(c, eos) == SLM_OK, "EOS refused once complete");
    slm_tokens_free(&tk);
    json_constraint_free(c);
}

static void test_models(void) {
    gen_model models[2] = {
        {.path = tu_path("%s/models/llama2-quant/gguf/llama2-quant-Q4_0.gguf", tu_fixtures())},
        {.path = tu_path("%s/models/llama3-tiny/gguf/llama3-tiny-f16.gguf", tu_fixtures())},
    };
    bool ok = true;
    for (int i = 0; i < 2; i++)
        ok &= gen_open(&models[i]);
    for (int i = 0; ok && i < 2; i++)
        test_tokens(&models[i]);
    const char *r = getenv("SLM_JSON_ROUNDS");
    int rounds = r ? atoi(r) : 200;
    g_rng = 0x9E3779B97F4A7C15ull;
    static const int32_t extras[] = {0, 1, 2, 8, 24, 40};
    for (int i = 0; ok && i < rounds; i++) {
        cJSON *s = i % 20 == 0 ? cJSON_CreateTrue() : rand_schema(0); /* every 20th: any JSON */
        char *txt = i % 20 == 0 ? NULL : cJSON_PrintUnformatted(s);
        for (int m = 0; m < 2; m++)
            for (int k = 0; k < 2; k++)
                gen_one(&models[m], txt, s, 1000u + (uint64_t)i * 4 + (uint64_t)m * 2 + (uint64_t)k, extras[rnd(6)]);
        free(txt);
        cJSON_Delete(s);
    }
    for (int i = 0; i < 2; i++)
        gen_close(&models[i]);
    fprintf(stderr, "json: %d generations (%d tight budgets, %d cut by the budget)\n", g_runs, g_tight, g_cut);
}

int main(void) {
    test_validator();
    test_bytes();
    test_models();
    return tu_finish("test_json_constrain");
}
