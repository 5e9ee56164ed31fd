/* config.json -> slm_hparams for the supported architectures. Both layouts are accepted:
 *   classic (transformers 4.x, what Hub repos ship): rope_theta, rope_scaling{rope_type|type,...},
 *     torch_dtype, Gemma's rope_local_base_freq / sliding_window_pattern;
 *   transformers 5.x: rope_parameters{rope_theta, rope_type, ...} (Gemma 3: one object per layer
 *     kind, "full_attention" / "sliding_attention"), dtype, layer_types.
 * Missing optional keys take the defaults of the transformers config class, so sparse configs
 * (e.g. Gemma 3 multimodal text_config) load as transformers would load them. Every value read
 * is type- and range-checked: configs are untrusted input. */
#include "hf/hf_config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"

/* Per-architecture facts and config-class defaults (used when a key is absent). */
typedef struct arch_info {
    const char *hf_class;
    slm_arch arch;
    const char *gguf_name;
    int sizes_required; /* 0 for gemma3: its config class has defaults for every size */
    double eps, theta;
    int64_t max_pos;
    int tie;
} arch_info;

static const arch_info arch_table[] = {
    {"LlamaForCausalLM", SLM_ARCH_LLAMA, "llama", 1, 1e-6, 10000.0, 2048, 0},
    {"MistralForCausalLM", SLM_ARCH_LLAMA, "llama", 1, 1e-6, 10000.0, 131072, 0},
    {"Qwen2ForCausalLM", SLM_ARCH_QWEN2, "qwen2", 1, 1e-6, 10000.0, 32768, 0},
    {"Qwen3ForCausalLM", SLM_ARCH_QWEN3, "qwen3", 1, 1e-6, 10000.0, 32768, 0},
    {"Gemma3ForCausalLM", SLM_ARCH_GEMMA3, "gemma3", 0, 1e-6, 1000000.0, 131072, 1},
    {"Gemma3ForConditionalGeneration", SLM_ARCH_GEMMA3, "gemma3", 0, 1e-6, 1000000.0, 131072, 1},
    {"Phi3ForCausalLM", SLM_ARCH_PHI3, "phi3", 1, 1e-5, 10000.0, 4096, 0},
};

/* Gemma3TextConfig defaults (transformers) for sizes a sparse text_config may omit. */
enum { GEMMA3_VOCAB = 262208, GEMMA3_HIDDEN = 2304, GEMMA3_FF = 9216, GEMMA3_LAYERS = 26, GEMMA3_HEADS = 8,
       GEMMA3_KV = 4, GEMMA3_HEAD_DIM = 256, GEMMA3_QPAS = 256, GEMMA3_SWA = 4096, GEMMA3_SWA_PATTERN = 6 };

#define MAX_EOS_IDS 64

/* ---- typed, range-checked getters. JSON null counts as absent. ---- */

static const cJSON *get(const cJSON *o, const char *k) {
    if (!o) return NULL;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNull(v) ? NULL : v;
}

static slm_status get_i64(const cJSON *o, const char *k, int required, int64_t def, int64_t lo, int64_t hi,
                          int64_t *out, slm_error *err) {
    const cJSON *v = get(o, k);
    if (!v) {
        if (required) return slm_fail(err, SLM_E_FORMAT, "config.json: missing required key '%s'", k);
        *out = def;
        return SLM_OK;
    }
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || floor(v->valuedouble) != v->valuedouble)
        return slm_fail(err, SLM_E_FORMAT, "config.json: '%s' must be an integer", k);
    double d = v->valuedouble;
    if (d < (double)lo || d > (double)hi)
        return slm_fail(err, SLM_E_RANGE, "config.json: %s = %.17g is outside [%lld, %lld]", k, d, (long long)lo,
                        (long long)hi);
    *out = (int64_t)d;
    return SLM_OK;
}

/* Real number in [lo, hi] (lo_open: exclusive lower bound). */
static slm_status get_f64(const cJSON *o, const char *k, int required, double def, double lo, int lo_open,
                          double hi, double *out, slm_error *err) {
    const cJSON *v = get(o, k);
    if (!v) {
        if (required) return slm_fail(err, SLM_E_FORMAT, "config.json: missing required key '%s'", k);
        *out = def;
        return SLM_OK;
    }
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
        return slm_fail(err, SLM_E_FORMAT, "config.json: '%s' must be a number", k);
    double d = v->valuedouble;
    if ((lo_open ? d <= lo : d < lo) || d > hi)
        return slm_fail(err, SLM_E_RANGE, "config.json: %s = %.17g is out of range", k, d);
    *out = d;
    return SLM_OK;
}

static slm_status get_bool(const cJSON *o, const char *k, int def, int *out, slm_error *err) {
    const cJSON *v = get(o, k);
    if (!v) {
        *out = def;
        return SLM_OK;
    }
    if (!cJSON_IsBool(v)) return slm_fail(err, SLM_E_FORMAT, "config.json: '%s' must be true or false", k);
    *out = cJSON_IsTrue(v);
    return SLM_OK;
}

/* Optional string; NULL if absent; error if present with another type. */
static slm_status get_str(const cJSON *o, const char *k, const char **out, slm_error *err) {
    const cJSON *v = get(o, k);
    *out = NULL;
    if (!v) return SLM_OK;
    if (!cJSON_IsString(v)) return slm_fail(err, SLM_E_FORMAT, "config.json: '%s' must be a string", k);
    *out = v->valuestring;
    return SLM_OK;
}

static const cJSON *get_obj(const cJSON *o, const char *k) {
    const cJSON *v = get(o, k);
    return cJSON_IsObject(v) ? v : NULL;
}

#define TRY(expr)                          \
    do {                                   \
        slm_status s_ = (expr);            \
        if (s_ != SLM_OK) return s_;       \
    } while (0)

slm_status hf_json_parse(const char *text, size_t len, const char *what, cJSON **out, slm_error *err) {
    *out = NULL;
    if (strlen(text) != len) return slm_fail(err, SLM_E_FORMAT, "%s: contains a NUL byte", what);
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithLengthOpts(text, len + 1, &end, 1);
    if (!j) {
        size_t at = end && end >= text ? (size_t)(end - text) : 0;
        return slm_fail(err, SLM_E_FORMAT, "%s: invalid JSON near byte %zu", what, at);
    }
    *out = j;
    return SLM_OK;
}

void hf_hparams_free(slm_hparams *hp) {
    if (!hp) return;
    free(hp->rope_short_factor);
    free(hp->rope_long_factor);
    hp->rope_short_factor = hp->rope_long_factor = NULL;
}

/* ---- pieces ---- */

static slm_status parse_sizes(const arch_info *ai, const cJSON *tc, slm_hparams *hp, slm_error *err) {
    int req = ai->sizes_required, gemma = ai->arch == SLM_ARCH_GEMMA3;
    TRY(get_i64(tc, "vocab_size", req, GEMMA3_VOCAB, 1, 1 << 24, &hp->n_vocab, err));
    TRY(get_i64(tc, "hidden_size", req, GEMMA3_HIDDEN, 1, 1 << 17, &hp->n_embd, err));
    TRY(get_i64(tc, "intermediate_size", req, GEMMA3_FF, 1, 1 << 20, &hp->n_ff, err));
    TRY(get_i64(tc, "num_hidden_layers", req, GEMMA3_LAYERS, 1, 1024, &hp->n_layer, err));
    TRY(get_i64(tc, "num_attention_heads", req, GEMMA3_HEADS, 1, 1024, &hp->n_head, err));
    TRY(get_i64(tc, "num_key_value_heads", 0, gemma ? GEMMA3_KV : hp->n_head, 1, hp->n_head, &hp->n_head_kv, err));
    if (hp->n_head % hp->n_head_kv != 0)
        return slm_fail(err, SLM_E_RANGE, "config.json: num_attention_heads %lld is not a multiple of "
                        "num_key_value_heads %lld", (long long)hp->n_head, (long long)hp->n_head_kv);
    /* head_dim: explicit, else hidden / heads (Qwen3's and Gemma 3's classes default to fixed values). */
    int64_t def_hd = 0;
    if (gemma) def_hd = GEMMA3_HEAD_DIM;
    else if (ai->arch == SLM_ARCH_QWEN3) def_hd = 128;
    else if (hp->n_embd % hp->n_head == 0) def_hd = hp->n_embd / hp->n_head;
    if (!get(tc, "head_dim") && def_hd == 0)
        return slm_fail(err, SLM_E_RANGE, "config.json: hidden_size %lld is not divisible by num_attention_heads %lld",
                        (long long)hp->n_embd, (long long)hp->n_head);
    TRY(get_i64(tc, "head_dim", 0, def_hd, 2, 4096, &hp->head_dim, err));
    if (hp->head_dim % 2)
        return slm_fail(err, SLM_E_RANGE, "config.json: head_dim %lld is odd", (long long)hp->head_dim);
    TRY(get_i64(tc, "max_position_embeddings", 0, ai->max_pos, 1, (int64_t)1 << 30, &hp->n_ctx_train, err));
    double eps;
    TRY(get_f64(tc, "rms_norm_eps", 0, ai->eps, 0.0, 1, 1.0, &eps, err));
    hp->rms_eps = (float)eps;
    return SLM_OK;
}

/* Read a longrope factor array of exactly n positive numbers into a malloc'd float array. */
static slm_status parse_factor_array(const cJSON *sc, const char *k, int64_t n, float **out, slm_error *err) {
    const cJSON *a = get(sc, k);
    if (!cJSON_IsArray(a)) return slm_fail(err, SLM_E_FORMAT, "config.json: longrope '%s' must be an array", k);
    if (cJSON_GetArraySize(a) != n)
        return slm_fail(err, SLM_E_FORMAT, "config.json: longrope '%s' has %d entries, expected n_rot/2 = %lld", k,
                        cJSON_GetArraySize(a), (long long)n);
    float *v = malloc((size_t)n * sizeof *v);
    if (!v) return slm_fail(err, SLM_E_NOMEM, "out of memory");
    int i = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, a) {
        if (!cJSON_IsNumber(e) || !isfinite(e->valuedouble) || !(e->valuedouble > 0) || e->valuedouble > 1e9) {
            free(v);
            return slm_fail(err, SLM_E_FORMAT, "config.json: longrope '%s'[%d] is not a positive number", k, i);
        }
        v[i++] = (float)e->valuedouble;
    }
    *out = v;
    return SLM_OK;
}

/* RoPE: theta, partial rotary, scaling. rp = rope_parameters (5.x) or NULL. */
static slm_status parse_rope(const arch_info *ai, const cJSON *tc, slm_hparams *hp, slm_error *err) {
    const cJSON *rp = get_obj(tc, "rope_parameters");
    const cJSON *rp_full = rp, *rp_slide = NULL;
    if (rp && get_obj(rp, "full_attention")) { /* Gemma 3 in 5.x: one set per layer kind */
        rp_full = get_obj(rp, "full_attention");
        rp_slide = get_obj(rp, "sliding_attention");
    }
    const cJSON *src = get(tc, "rope_theta") ? tc : (rp_full && get(rp_full, "rope_theta") ? rp_full : tc);
    double theta;
    TRY(get_f64(src, "rope_theta", 0, ai->theta, 0.0, 1, 1e12, &theta, err));
    hp->rope_theta = (float)theta;
    if (ai->arch == SLM_ARCH_GEMMA3) {
        double local;
        if (get(tc, "rope_local_base_freq"))
            TRY(get_f64(tc, "rope_local_base_freq", 1, 0, 0.0, 1, 1e12, &local, err));
        else
            TRY(get_f64(rp_slide, "rope_theta", 0, 10000.0, 0.0, 1, 1e12, &local, err));
        hp->rope_theta_local = (float)local;
    }

    double prf;
    src = get(tc, "partial_rotary_factor") ? tc : (rp_full ? rp_full : tc);
    TRY(get_f64(src, "partial_rotary_factor", 0, 1.0, 0.0, 1, 1.0, &prf, err));
    hp->n_rot = (int64_t)((double)hp->head_dim * prf);
    if (hp->n_rot < 2 || hp->n_rot % 2)
        return slm_fail(err, SLM_E_RANGE, "config.json: partial_rotary_factor %g gives %lld rotary dims (need even, >= 2)",
                        prf, (long long)hp->n_rot);
    hp->rope_neox = true; /* HF weights: rotate_half pairs (i, i + n_rot/2) */
    hp->rope_factor = 1.0f;
    hp->rope_attn_factor = 1.0f;

    /* The scaling object: classic rope_scaling, else the 5.x rope_parameters (global layers). */
    const cJSON *sc = get(tc, "rope_scaling");
    if (sc && !cJSON_IsObject(sc)) return slm_fail(err, SLM_E_FORMAT, "config.json: 'rope_scaling' must be an object");
    if (!sc) sc = rp_full;
    const char *type = NULL;
    TRY(get_str(sc, "rope_type", &type, err));
    if (!type) TRY(get_str(sc, "type", &type, err));
    if (!type || !strcmp(type, "default")) {
        hp->rope_scaling = SLM_ROPE_SCALING_NONE;
    } else if (!strcmp(type, "linear")) {
        double f;
        TRY(get_f64(sc, "factor", 1, 0, 0.0, 1, 1e6, &f, err));
        hp->rope_scaling = SLM_ROPE_SCALING_LINEAR;
        hp->rope_factor = (float)f;
    } else if (!strcmp(type, "llama3")) {
        double f, lo, hi;
        TRY(get_f64(sc, "factor", 1, 0, 0.0, 1, 1e6, &f, err));
        TRY(get_f64(sc, "low_freq_factor", 1, 0, 0.0, 1, 1e6, &lo, err));
        TRY(get_f64(sc, "high_freq_factor", 1, 0, 0.0, 1, 1e6, &hi, err));
        TRY(get_i64(sc, "original_max_position_embeddings", 1, 0, 1, (int64_t)1 << 30, &hp->rope_orig_ctx, err));
        if (!(hi > lo))
            return slm_fail(err, SLM_E_RANGE, "config.json: llama3 rope high_freq_factor must exceed low_freq_factor");
        hp->rope_scaling = SLM_ROPE_SCALING_LLAMA3;
        hp->rope_factor = (float)f;
        hp->rope_low_freq_factor = (float)lo;
        hp->rope_high_freq_factor = (float)hi;
    } else if (!strcmp(type, "longrope") || !strcmp(type, "su")) {
        /* As transformers: with original_max_position_embeddings, factor = max_pos / original;
         * attention factor sqrt(1 + ln(factor) / ln(original)) unless given explicitly. */
        double factor;
        const cJSON *osrc = get(sc, "original_max_position_embeddings") ? sc : tc;
        if (get(osrc, "original_max_position_embeddings")) {
            TRY(get_i64(osrc, "original_max_position_embeddings", 1, 0, 2, (int64_t)1 << 30, &hp->rope_orig_ctx, err));
            factor = (double)hp->n_ctx_train / (double)hp->rope_orig_ctx;
        } else {
            hp->rope_orig_ctx = hp->n_ctx_train;
            TRY(get_f64(sc, "factor", 0, 1.0, 0.0, 1, 1e6, &factor, err));
        }
        double af;
        if (get(sc, "attention_factor")) {
            TRY(get_f64(sc, "attention_factor", 1, 0, 0.0, 1, 1e3, &af, err));
        } else if (factor <= 1.0 || hp->rope_orig_ctx < 2) {
            af = 1.0;
        } else {
            af = sqrt(1.0 + log(factor) / log((double)hp->rope_orig_ctx));
        }
        TRY(parse_factor_array(sc, "short_factor", hp->n_rot / 2, &hp->rope_short_factor, err));
        slm_status s = parse_factor_array(sc, "long_factor", hp->n_rot / 2, &hp->rope_long_factor, err);
        if (s != SLM_OK) {
            hf_hparams_free(hp);
            return s;
        }
        hp->rope_scaling = SLM_ROPE_SCALING_LONGROPE;
        hp->rope_factor = (float)factor;
        hp->rope_attn_factor = (float)af;
    } else {
        return slm_fail(err, SLM_E_UNSUPPORTED, "config.json: rope scaling type '%.40s' is not supported", type);
    }
    return SLM_OK;
}

/* Gemma 3: sliding-window layout, attention scale, soft-caps, norm/MLP flavour. */
static slm_status parse_gemma3(const cJSON *tc, slm_hparams *hp, slm_error *err) {
    TRY(get_i64(tc, "sliding_window", 0, GEMMA3_SWA, 1, (int64_t)1 << 30, &hp->sliding_window, err));
    const cJSON *lt = get(tc, "layer_types");
    if (lt) {
        /* Layer i is global iff i % p == p - 1: p = index of the first full layer + 1. */
        if (!cJSON_IsArray(lt) || cJSON_GetArraySize(lt) != hp->n_layer)
            return slm_fail(err, SLM_E_FORMAT, "config.json: layer_types must be an array of num_hidden_layers strings");
        int64_t p = hp->n_layer + 1, i = 0;
        const cJSON *e;
        cJSON_ArrayForEach(e, lt) {
            if (!cJSON_IsString(e) || (strcmp(e->valuestring, "full_attention") &&
                                       strcmp(e->valuestring, "sliding_attention")))
                return slm_fail(err, SLM_E_FORMAT, "config.json: layer_types[%lld] is not a known layer type",
                                (long long)i);
            if (p == hp->n_layer + 1 && !strcmp(e->valuestring, "full_attention")) p = i + 1;
            i++;
        }
        i = 0;
        cJSON_ArrayForEach(e, lt) {
            int full = !strcmp(e->valuestring, "full_attention");
            if (full != (i % p == p - 1))
                return slm_fail(err, SLM_E_UNSUPPORTED, "config.json: layer_types is not a periodic sliding/full pattern");
            i++;
        }
        hp->swa_pattern = p;
    } else {
        const char *k = get(tc, "sliding_window_pattern") ? "sliding_window_pattern" : "_sliding_window_pattern";
        TRY(get_i64(tc, k, 0, GEMMA3_SWA_PATTERN, 1, 1 << 20, &hp->swa_pattern, err));
    }
    double qpas, cap;
    TRY(get_f64(tc, "query_pre_attn_scalar", 0, GEMMA3_QPAS, 0.0, 1, 1e9, &qpas, err));
    hp->attn_scale = (float)(1.0 / sqrt(qpas));
    TRY(get_f64(tc, "final_logit_softcapping", 0, 0.0, 0.0, 0, 1e9, &cap, err));
    hp->final_logit_softcap = (float)cap;
    TRY(get_f64(tc, "attn_logit_softcapping", 0, 0.0, 0.0, 0, 1e9, &cap, err));
    hp->attn_logit_softcap = (float)cap;
    const char *act = NULL;
    TRY(get_str(tc, "hidden_activation", &act, err));
    if (act && strcmp(act, "gelu_pytorch_tanh") && strcmp(act, "gelu_tanh"))
        return slm_fail(err, SLM_E_UNSUPPORTED, "config.json: hidden_activation '%.40s' is not supported", act);
    hp->has_qk_norm = hp->norm_plus_one = hp->post_norms = hp->gelu_mlp = hp->embd_scale = true;
    return SLM_OK;
}

/* Everything else that would change the math but that slm does not implement: refuse clearly. */
static slm_status check_unsupported(const arch_info *ai, const cJSON *tc, slm_hparams *hp, slm_error *err) {
    const char *act = NULL;
    int b = 0;
    if (ai->arch != SLM_ARCH_GEMMA3) {
        TRY(get_str(tc, "hidden_act", &act, err));
        if (act && strcmp(act, "silu"))
            return slm_fail(err, SLM_E_UNSUPPORTED, "config.json: hidden_act '%.40s' is not supported", act);
    }
    TRY(get_bool(tc, "mlp_bias", 0, &b, err));
    if (b) return slm_fail(err, SLM_E_UNSUPPORTED, "config.json: mlp_bias = true is not supported");
    if (ai->arch == SLM_ARCH_LLAMA || ai->arch == SLM_ARCH_QWEN3 || ai->arch == SLM_ARCH_PHI3) {
        TRY(get_bool(tc, "attention_bias", 0, &b, err));
        if (b) return slm_fail(err, SLM_E_UNSUPPORTED, "config.json: attention_bias = true is not supported for %s",
                               ai->hf_class);
    }
    if (ai->arch == SLM_ARCH_QWEN2 || ai->arch == SLM_ARCH_QWEN3) {
        TRY(get_bool(tc, "use_sliding_window", 0, &b, err));
        if (b) return slm_fail(err, SLM_E_UNSUPPORTED, "config.json: use_sliding_window = true is not supported");
    }
    return SLM_OK;
}

/* Token ids given as a number or a list of numbers, each checked against the vocabulary. */
static slm_status parse_ids(const cJSON *v, const char *what, int64_t n_vocab, int64_t *ids, size_t *n, slm_error *err) {
    *n = 0;
    if (!v) return SLM_OK;
    const cJSON *one = v, *e;
    if (cJSON_IsArray(v)) {
        if (cJSON_GetArraySize(v) > MAX_EOS_IDS)
            return slm_fail(err, SLM_E_RANGE, "%s: more than %d ids", what, MAX_EOS_IDS);
        cJSON_ArrayForEach(e, v) {
            if (!cJSON_IsNumber(e) || floor(e->valuedouble) != e->valuedouble)
                return slm_fail(err, SLM_E_FORMAT, "%s: ids must be integers", what);
            if (!(e->valuedouble >= 0 && e->valuedouble < (double)n_vocab))
                return slm_fail(err, SLM_E_RANGE, "%s: id %.17g is outside the vocabulary (%lld)", what,
                                e->valuedouble, (long long)n_vocab);
            ids[(*n)++] = (int64_t)e->valuedouble;
        }
        return SLM_OK;
    }
    if (!cJSON_IsNumber(one) || floor(one->valuedouble) != one->valuedouble)
        return slm_fail(err, SLM_E_FORMAT, "%s: id must be an integer or a list of integers", what);
    if (!(one->valuedouble >= 0 && one->valuedouble < (double)n_vocab))
        return slm_fail(err, SLM_E_RANGE, "%s: id %.17g is outside the vocabulary (%lld)", what, one->valuedouble,
                        (long long)n_vocab);
    ids[(*n)++] = (int64_t)one->valuedouble;
    return SLM_OK;
}

/* bos/eos: generation_config wins, then the text config, then the top-level config. */
static slm_status parse_special(const cJSON *config, const cJSON *tc, const cJSON *gen, slm_hparams *hp,
                                int64_t **eos_ids, size_t *n_eos, slm_error *err) {
    const cJSON *srcs[3] = {gen, tc, config};
    const char *names[3] = {"generation_config.json bos_token_id", "config.json bos_token_id",
                            "config.json bos_token_id"};
    const char *enames[3] = {"generation_config.json eos_token_id", "config.json eos_token_id",
                             "config.json eos_token_id"};
    int64_t ids[MAX_EOS_IDS];
    size_t n = 0;
    hp->bos_id = hp->eos_id = -1;
    for (int i = 0; i < 3; i++) {
        const cJSON *v = get(srcs[i], "bos_token_id");
        if (!v) continue;
        TRY(parse_ids(v, names[i], hp->n_vocab, ids, &n, err));
        if (n) hp->bos_id = ids[0];
        break;
    }
    n = 0;
    for (int i = 0; i < 3; i++) {
        const cJSON *v = get(srcs[i], "eos_token_id");
        if (!v) continue;
        TRY(parse_ids(v, enames[i], hp->n_vocab, ids, &n, err));
        break;
    }
    *eos_ids = NULL;
    *n_eos = 0;
    if (n) {
        *eos_ids = malloc(n * sizeof **eos_ids);
        if (!*eos_ids) return slm_fail(err, SLM_E_NOMEM, "out of memory");
        memcpy(*eos_ids, ids, n * sizeof *ids);
        *n_eos = n;
        hp->eos_id = ids[0];
    }
    return SLM_OK;
}

/* The model class: "architectures"[0]; configs without that list (some hand-made or older
 * ones) are identified by "model_type", as transformers' Auto classes do. */
static slm_status class_name(const cJSON *config, const char **out, slm_error *err) {
    static const char *const by_type[][2] = {
        {"llama", "LlamaForCausalLM"},          {"mistral", "MistralForCausalLM"},
        {"qwen2", "Qwen2ForCausalLM"},          {"qwen3", "Qwen3ForCausalLM"},
        {"gemma3_text", "Gemma3ForCausalLM"},   {"gemma3", "Gemma3ForConditionalGeneration"},
        {"phi3", "Phi3ForCausalLM"},
    };
    const cJSON *archs = get(config, "architectures");
    if (archs) {
        const cJSON *a0 = cJSON_IsArray(archs) ? cJSON_GetArrayItem(archs, 0) : NULL;
        if (!cJSON_IsString(a0))
            return slm_fail(err, SLM_E_FORMAT, "config.json: 'architectures' must be a non-empty list of strings");
        *out = a0->valuestring;
        return SLM_OK;
    }
    const char *mt = NULL;
    TRY(get_str(config, "model_type", &mt, err));
    if (!mt) return slm_fail(err, SLM_E_FORMAT, "config.json: no 'architectures' list and no 'model_type'");
    for (size_t i = 0; i < sizeof by_type / sizeof by_type[0]; i++)
        if (!strcmp(mt, by_type[i][0])) {
            *out = by_type[i][1];
            return SLM_OK;
        }
    return slm_fail(err, SLM_E_UNSUPPORTED, "unsupported model_type '%.80s'", mt);
}

slm_status hf_config_parse(const cJSON *config, const cJSON *gen, slm_hparams *hp, const cJSON **text_config,
                           int64_t **eos_ids, size_t *n_eos, slm_error *err) {
    memset(hp, 0, sizeof *hp);
    *eos_ids = NULL;
    *n_eos = 0;
    *text_config = NULL;
    if (!cJSON_IsObject(config)) return slm_fail(err, SLM_E_FORMAT, "config.json: not a JSON object");
    if (gen && !cJSON_IsObject(gen)) return slm_fail(err, SLM_E_FORMAT, "generation_config.json: not a JSON object");
    const char *cls = NULL;
    TRY(class_name(config, &cls, err));
    const arch_info *ai = NULL;
    for (size_t i = 0; i < sizeof arch_table / sizeof arch_table[0]; i++)
        if (!strcmp(cls, arch_table[i].hf_class)) ai = &arch_table[i];
    if (!ai) return slm_fail(err, SLM_E_UNSUPPORTED, "unsupported architecture '%.80s'", cls);

    const cJSON *tc = config;
    if (!strcmp(ai->hf_class, "Gemma3ForConditionalGeneration")) {
        tc = get(config, "text_config");
        if (!cJSON_IsObject(tc))
            return slm_fail(err, SLM_E_FORMAT, "config.json: Gemma3ForConditionalGeneration needs a 'text_config' object");
    }
    hp->arch = ai->arch;
    snprintf(hp->arch_name, sizeof hp->arch_name, "%s", ai->gguf_name);

    TRY(check_unsupported(ai, tc, hp, err));
    TRY(parse_sizes(ai, tc, hp, err));
    int tie = 0;
    TRY(get_bool(get(tc, "tie_word_embeddings") ? tc : config, "tie_word_embeddings", ai->tie, &tie, err));
    hp->tied_output = tie;
    hp->has_qkv_bias = ai->arch == SLM_ARCH_QWEN2;
    hp->has_qk_norm = ai->arch == SLM_ARCH_QWEN3;
    if (ai->arch == SLM_ARCH_GEMMA3) TRY(parse_gemma3(tc, hp, err));
    TRY(parse_rope(ai, tc, hp, err));
    slm_status s = parse_special(config, tc, gen, hp, eos_ids, n_eos, err);
    if (s != SLM_OK) {
        hf_hparams_free(hp);
        return s;
    }
    *text_config = tc;
    return SLM_OK;
}
