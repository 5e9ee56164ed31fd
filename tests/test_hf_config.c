/* config.json parsing: the transformers-5.17 layout (reference/config.transformers-5.17.json)
 * gives the same hyper-parameters as the classic layout for every fixture; the Gemma 3
 * multimodal wrapper (text_config) works; and 20+ hostile variants fail with the right status
 * and a message naming the problem. */
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "base/file.h"
#include "hf/hf_config.h"
#include "testutil.h"

static const char *const models[] = {"llama3-tiny", "qwen2-tiny", "qwen3-tiny", "gemma3-tiny", "phi3-tiny",
                                     "llama2-quant"};

static cJSON *load_json(const char *path) {
    char *t = NULL;
    size_t n = 0;
    slm_error err = {0};
    if (slm_file_read_all(path, 1 << 20, &t, &n, &err) != SLM_OK) {
        CHECK(0, "read %s: %s", path, err.msg);
        return NULL;
    }
    cJSON *j = NULL;
    CHECK(hf_json_parse(t, n, path, &j, &err) == SLM_OK, "parse %s: %s", path, err.msg);
    free(t);
    return j;
}

static int same_hparams(const slm_hparams *a, const slm_hparams *b) {
    slm_hparams x = *a, y = *b;
    int64_t half = a->n_rot / 2;
    if (!!x.rope_short_factor != !!y.rope_short_factor || !!x.rope_long_factor != !!y.rope_long_factor) return 0;
    if (x.rope_short_factor && (memcmp(x.rope_short_factor, y.rope_short_factor, (size_t)half * sizeof(float)) ||
                                memcmp(x.rope_long_factor, y.rope_long_factor, (size_t)half * sizeof(float))))
        return 0;
    x.rope_short_factor = y.rope_short_factor = x.rope_long_factor = y.rope_long_factor = NULL;
    return !memcmp(&x, &y, sizeof x);
}

static void check_config_layouts(void) {
    for (size_t i = 0; i < sizeof models / sizeof models[0]; i++) {
        cJSON *c4 = load_json(tu_path("%s/models/%s/config.json", tu_fixtures(), models[i]));
        cJSON *c5 = load_json(tu_path("%s/models/%s/reference/config.transformers-5.17.json", tu_fixtures(), models[i]));
        slm_hparams h4, h5;
        const cJSON *tc;
        int64_t *e4 = NULL, *e5 = NULL;
        size_t n4, n5;
        slm_error err = {0};
        slm_status s4 = hf_config_parse(c4, NULL, &h4, &tc, &e4, &n4, &err);
        CHECK(s4 == SLM_OK, "%s classic: %s", models[i], err.msg);
        slm_status s5 = hf_config_parse(c5, NULL, &h5, &tc, &e5, &n5, &err);
        CHECK(s5 == SLM_OK, "%s 5.x: %s", models[i], err.msg);
        if (s4 == SLM_OK && s5 == SLM_OK) {
            /* Classic configs may omit tie_word_embeddings where the class default applies. */
            CHECK(same_hparams(&h4, &h5), "%s: classic and transformers-5 layouts differ", models[i]);
            CHECK(n4 == n5 && (n4 == 0 || !memcmp(e4, e5, n4 * sizeof *e4)), "%s: eos lists differ", models[i]);
        }
        if (s4 == SLM_OK) hf_hparams_free(&h4);
        if (s5 == SLM_OK) hf_hparams_free(&h5);
        free(e4);
        free(e5);
        cJSON_Delete(c4);
        cJSON_Delete(c5);
    }
}

/* Gemma3ForConditionalGeneration: hyper-parameters from text_config, ids from the top level. */
static void check_gemma3_wrapper(void) {
    cJSON *tc = load_json(tu_path("%s/models/gemma3-tiny/config.json", tu_fixtures()));
    if (!tc) return;
    cJSON *plain = cJSON_Duplicate(tc, 1);
    cJSON *wrap = cJSON_CreateObject();
    cJSON *arch = cJSON_CreateArray();
    cJSON_AddItemToArray(arch, cJSON_CreateString("Gemma3ForConditionalGeneration"));
    cJSON_AddItemToObject(wrap, "architectures", arch);
    cJSON_AddItemToObject(wrap, "bos_token_id", cJSON_DetachItemFromObject(tc, "bos_token_id"));
    cJSON_AddItemToObject(wrap, "eos_token_id", cJSON_DetachItemFromObject(tc, "eos_token_id"));
    cJSON_DeleteItemFromObject(tc, "architectures");
    cJSON_AddItemToObject(wrap, "text_config", tc);
    slm_hparams a, b;
    const cJSON *used;
    int64_t *ea = NULL, *eb = NULL;
    size_t na, nb;
    slm_error err = {0};
    slm_status sa = hf_config_parse(plain, NULL, &a, &used, &ea, &na, &err);
    slm_status sb = hf_config_parse(wrap, NULL, &b, &used, &eb, &nb, &err);
    CHECK(sa == SLM_OK && sb == SLM_OK, "gemma3 wrapper: %s", err.msg);
    if (sa == SLM_OK && sb == SLM_OK) {
        CHECK(same_hparams(&a, &b), "gemma3 wrapper: hparams differ");
        CHECK(used == tc, "text_config is the hyper-parameter source");
        CHECK(nb == 2 && eb[0] == 1 && eb[1] == 106, "gemma3 wrapper: eos list");
    }
    free(ea);
    free(eb);
    cJSON_Delete(plain);
    cJSON_Delete(wrap);
}

/* One hostile variant: apply an edit to a fixture config and expect failure. */
typedef struct bad_config {
    const char *model;
    const char *key;    /* top-level key to replace/delete; "a.b" for one level of nesting */
    const char *value;  /* JSON text, or NULL to delete the key */
    slm_status code;
    const char *msg_part;
} bad_config;

static const bad_config bad_configs[] = {
    {"llama3-tiny", "hidden_size", NULL, SLM_E_FORMAT, "hidden_size"},
    {"llama3-tiny", "hidden_size", "\"32\"", SLM_E_FORMAT, "hidden_size"},
    {"llama3-tiny", "hidden_size", "32.5", SLM_E_FORMAT, "must be an integer"},
    {"llama3-tiny", "hidden_size", "1e30", SLM_E_RANGE, "hidden_size"},
    {"llama3-tiny", "num_hidden_layers", "0", SLM_E_RANGE, "num_hidden_layers"},
    {"llama3-tiny", "num_hidden_layers", "1000000000", SLM_E_RANGE, "num_hidden_layers"},
    {"llama3-tiny", "vocab_size", "-1", SLM_E_RANGE, "vocab_size"},
    {"llama3-tiny", "num_key_value_heads", "3", SLM_E_RANGE, "multiple"},
    {"llama3-tiny", "num_key_value_heads", "8", SLM_E_RANGE, "num_key_value_heads"},
    {"llama2-quant", "num_attention_heads", "12", SLM_E_RANGE, "not divisible"},
    {"llama3-tiny", "head_dim", "7", SLM_E_RANGE, "odd"},
    {"llama3-tiny", "rms_norm_eps", "0", SLM_E_RANGE, "rms_norm_eps"},
    {"llama3-tiny", "rope_theta", "-5", SLM_E_RANGE, "rope_theta"},
    {"llama3-tiny", "architectures", "[\"GPT2LMHeadModel\"]", SLM_E_UNSUPPORTED, "GPT2LMHeadModel"},
    {"llama3-tiny", "architectures", "\"LlamaForCausalLM\"", SLM_E_FORMAT, "architectures"},
    {"llama3-tiny", "architectures", "[]", SLM_E_FORMAT, "architectures"},
    {"llama3-tiny", "rope_scaling", "{\"rope_type\":\"yarn\",\"factor\":4}", SLM_E_UNSUPPORTED, "yarn"},
    {"llama3-tiny", "rope_scaling", "[1]", SLM_E_FORMAT, "rope_scaling"},
    {"llama3-tiny", "rope_scaling.factor", NULL, SLM_E_FORMAT, "factor"},
    {"llama3-tiny", "rope_scaling.high_freq_factor", "0.5", SLM_E_RANGE, "high_freq_factor"},
    {"llama3-tiny", "eos_token_id", "999999999", SLM_E_RANGE, "outside the vocabulary"},
    {"llama3-tiny", "bos_token_id", "\"<s>\"", SLM_E_FORMAT, "bos_token_id"},
    {"llama3-tiny", "tie_word_embeddings", "\"yes\"", SLM_E_FORMAT, "tie_word_embeddings"},
    {"llama3-tiny", "hidden_act", "\"gelu\"", SLM_E_UNSUPPORTED, "hidden_act"},
    {"llama3-tiny", "attention_bias", "true", SLM_E_UNSUPPORTED, "attention_bias"},
    {"phi3-tiny", "rope_scaling.short_factor", "[1,2,3]", SLM_E_FORMAT, "n_rot/2"},
    {"phi3-tiny", "rope_scaling.long_factor", "[1,2,3,4,5,-6]", SLM_E_FORMAT, "long_factor"},
    {"phi3-tiny", "partial_rotary_factor", "0.01", SLM_E_RANGE, "partial_rotary_factor"},
    {"gemma3-tiny", "layer_types", "[\"sliding_attention\"]", SLM_E_FORMAT, "layer_types"},
    {"gemma3-tiny", "layer_types",
     "[\"full_attention\",\"sliding_attention\",\"sliding_attention\",\"sliding_attention\",\"sliding_attention\","
     "\"sliding_attention\"]",
     SLM_E_UNSUPPORTED, "periodic"},
    {"gemma3-tiny", "query_pre_attn_scalar", "0", SLM_E_RANGE, "query_pre_attn_scalar"},
    {"gemma3-tiny", "sliding_window", "\"8\"", SLM_E_FORMAT, "sliding_window"},
    {"qwen2-tiny", "use_sliding_window", "true", SLM_E_UNSUPPORTED, "use_sliding_window"},
};

static void check_bad_configs(void) {
    for (size_t i = 0; i < sizeof bad_configs / sizeof bad_configs[0]; i++) {
        const bad_config *b = &bad_configs[i];
        cJSON *c = load_json(tu_path("%s/models/%s/config.json", tu_fixtures(), b->model));
        if (!c) continue;
        cJSON *obj = c;
        char key[64];
        snprintf(key, sizeof key, "%s", b->key);
        char *dot = strchr(key, '.');
        if (dot) {
            *dot = 0;
            obj = cJSON_GetObjectItem(c, key);
            memmove(key, dot + 1, strlen(dot + 1) + 1);
        }
        cJSON_DeleteItemFromObject(obj, key);
        if (b->value) cJSON_AddItemToObject(obj, key, cJSON_Parse(b->value));
        slm_hparams hp;
        const cJSON *tc;
        int64_t *eos = NULL;
        size_t n_eos = 0;
        slm_error err = {0};
        slm_status s = hf_config_parse(c, NULL, &hp, &tc, &eos, &n_eos, &err);
        CHECK(s == b->code, "%s %s=%s: status %d (want %d): %s", b->model, b->key, b->value ? b->value : "(deleted)", s,
              b->code, err.msg);
        CHECK(strstr(err.msg, b->msg_part) != NULL, "%s %s: message '%s' lacks '%s'", b->model, b->key, err.msg,
              b->msg_part);
        if (s == SLM_OK) hf_hparams_free(&hp);
        free(eos);
        cJSON_Delete(c);
    }
    /* Not an object; generation_config not an object; JSON with trailing garbage / NUL bytes. */
    slm_hparams hp;
    const cJSON *tc;
    int64_t *eos = NULL;
    size_t n_eos = 0;
    slm_error err = {0};
    cJSON *arr = cJSON_Parse("[1]");
    CHECK(hf_config_parse(arr, NULL, &hp, &tc, &eos, &n_eos, &err) == SLM_E_FORMAT, "array config");
    cJSON *c = load_json(tu_path("%s/models/llama3-tiny/config.json", tu_fixtures()));
    CHECK(hf_config_parse(c, arr, &hp, &tc, &eos, &n_eos, &err) == SLM_E_FORMAT &&
              strstr(err.msg, "generation_config"),
          "array generation_config: %s", err.msg);
    cJSON_Delete(c);
    cJSON_Delete(arr);
    /* No architectures list: model_type decides (as transformers' Auto classes do). */
    c = load_json(tu_path("%s/models/llama3-tiny/config.json", tu_fixtures()));
    cJSON_DeleteItemFromObject(c, "architectures");
    slm_status s = hf_config_parse(c, NULL, &hp, &tc, &eos, &n_eos, &err);
    CHECK(s == SLM_OK && hp.arch == SLM_ARCH_LLAMA, "model_type fallback: %s", err.msg);
    if (s == SLM_OK) hf_hparams_free(&hp);
    free(eos);
    eos = NULL;
    cJSON_ReplaceItemInObject(c, "model_type", cJSON_CreateString("mamba"));
    CHECK(hf_config_parse(c, NULL, &hp, &tc, &eos, &n_eos, &err) == SLM_E_UNSUPPORTED && strstr(err.msg, "mamba"),
          "unknown model_type: %s", err.msg);
    cJSON_DeleteItemFromObject(c, "model_type");
    CHECK(hf_config_parse(c, NULL, &hp, &tc, &eos, &n_eos, &err) == SLM_E_FORMAT && strstr(err.msg, "model_type"),
          "no class at all: %s", err.msg);
    cJSON_Delete(c);
    cJSON *j = NULL;
    CHECK(hf_json_parse("{} {}", 5, "x.json", &j, &err) == SLM_E_FORMAT && !j, "trailing garbage");
    CHECK(hf_json_parse("{\"a\":1", 6, "x.json", &j, &err) == SLM_E_FORMAT && !j, "truncated");
    CHECK(hf_json_parse("{}\0{", 4, "x.json", &j, &err) == SLM_E_FORMAT && strstr(err.msg, "NUL"), "NUL byte");
}

int main(void) {
    check_config_layouts();
    check_gemma3_wrapper();
    check_bad_configs();
    return tu_finish("test_hf_config");
}
