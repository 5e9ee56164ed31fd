/* GGUF -> slm_model: hyper-parameters from llama.cpp's metadata keys ("<arch>.block_count", ...),
 * tensors by their GGUF names. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "gguf/gguf.h"
#include "model/arch.h"
#include "model/bind.h"
#include "model/load_internal.h"

static bool lookup_gguf(void *source, const char *name, slm_weight *out) {
    const gguf_tensor_info *t = gguf_find_tensor((const gguf_file *)source, name);
    if (!t) return false;
    out->name = t->name;
    out->type = t->type;
    out->n_dims = (int)t->n_dims;
    for (int i = 0; i < 4; i++) out->ne[i] = t->ne[i];
    out->data = t->data;
    out->nbytes = t->nbytes;
    return true;
}

/* "<arch>.<suffix>" key getters with a default. */
static bool key_i64(const gguf_file *f, const char *arch, const char *suffix, int64_t *out) {
    char key[160];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    return gguf_get_i64(f, key, out);
}

static bool key_f32(const gguf_file *f, const char *arch, const char *suffix, float *out) {
    char key[160];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    return gguf_get_f32(f, key, out);
}

static bool key_str(const gguf_file *f, const char *arch, const char *suffix, gguf_str *out) {
    char key[160];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    return gguf_get_str(f, key, out);
}

static slm_status require_i64(const gguf_file *f, const char *arch, const char *suffix, int64_t *out,
                              slm_error *err) {
    if (!key_i64(f, arch, suffix, out))
        return slm_fail(err, SLM_E_FORMAT, "metadata key '%s.%s' is missing or not an integer", arch, suffix);
    return SLM_OK;
}

/* Copy a longrope factor tensor (F32, n_rot/2 values) into a malloc'd array. */
static slm_status copy_factors(const gguf_file *f, const char *name, int64_t n, float **out, slm_error *err) {
    const gguf_tensor_info *t = gguf_find_tensor(f, name);
    if (!t) return SLM_OK;
    if (t->type != 0 /* F32 */ || t->n_elements != (uint64_t)n)
        return slm_fail(err, SLM_E_FORMAT, "tensor '%s' must be F32 with %lld values", name, (long long)n);
    *out = malloc((size_t)n * sizeof(float));
    if (!*out) return slm_fail(err, SLM_E_NOMEM, "out of memory");
    memcpy(*out, t->data, (size_t)n * sizeof(float));
    return SLM_OK;
}

static slm_status hparams_from_gguf(const gguf_file *f, slm_hparams *hp, slm_error *err) {
    gguf_str s;
    if (!gguf_get_str(f, "general.architecture", &s))
        return slm_fail(err, SLM_E_FORMAT, "metadata key 'general.architecture' is missing");
    if (s.len >= sizeof hp->arch_name)
        return slm_fail(err, SLM_E_UNSUPPORTED, "architecture name is too long");
    memcpy(hp->arch_name, s.ptr, s.len);
    hp->arch_name[s.len] = '\0';
    const slm_arch_desc *desc = slm_arch_find(hp->arch_name);
    if (!desc) return slm_fail(err, SLM_E_UNSUPPORTED, "architecture '%s' is not supported", hp->arch_name);
    slm_arch_apply_defaults(desc, hp);
    hp->rope_neox = desc->gguf_rope_neox;
    hp->norm_plus_one = false; /* llama.cpp's converter stores Gemma's norms as (1 + w) already */
    const char *a = hp->arch_name;
    if (gguf_get_str(f, "general.name", &s)) {
        size_t n = s.len < sizeof hp->name - 1 ? s.len : sizeof hp->name - 1;
        memcpy(hp->name, s.ptr, n);
        hp->name[n] = '\0';
    }

    slm_status st;
    if ((st = require_i64(f, a, "block_count", &hp->n_layer, err))) return st;
    if ((st = require_i64(f, a, "embedding_length", &hp->n_embd, err))) return st;
    if ((st = require_i64(f, a, "feed_forward_length", &hp->n_ff, err))) return st;
    if ((st = require_i64(f, a, "attention.head_count", &hp->n_head, err))) return st;
    if (!key_i64(f, a, "attention.head_count_kv", &hp->n_head_kv)) hp->n_head_kv = hp->n_head;
    if (!key_i64(f, a, "context_length", &hp->n_ctx_train)) hp->n_ctx_train = 2048;
    if (hp->n_head <= 0) return slm_fail(err, SLM_E_FORMAT, "'%s.attention.head_count' must be positive", a);
    if (!key_i64(f, a, "attention.key_length", &hp->head_dim)) hp->head_dim = hp->n_embd / hp->n_head;
    int64_t vlen;
    if (key_i64(f, a, "attention.value_length", &vlen) && vlen != hp->head_dim)
        return slm_fail(err, SLM_E_UNSUPPORTED, "value head size %lld != key head size %lld", (long long)vlen,
                        (long long)hp->head_dim);
    if (!key_i64(f, a, "rope.dimension_count", &hp->n_rot)) hp->n_rot = hp->head_dim;
    if (!key_f32(f, a, "attention.layer_norm_rms_epsilon", &hp->rms_eps))
        return slm_fail(err, SLM_E_FORMAT, "metadata key '%s.attention.layer_norm_rms_epsilon' is missing", a);
    key_f32(f, a, "rope.freq_base", &hp->rope_theta);
    key_f32(f, a, "rope.freq_base_swa", &hp->rope_theta_local);
    key_i64(f, a, "attention.sliding_window", &hp->sliding_window);
    key_f32(f, a, "attention.scale", &hp->attn_scale);
    /* llama.cpp's converter writes no attention scale for Gemma 3: llama.cpp uses
     * 1/sqrt(head_dim), except for the 62-layer 27B, whose query_pre_attn_scalar is
     * n_embd / n_head (168, head_dim 128). Same here for such files. */
    if (hp->arch == SLM_ARCH_GEMMA3 && hp->attn_scale <= 0 && hp->n_layer == 62 && hp->n_head > 0)
        hp->attn_scale = (float)(1.0 / sqrt((double)hp->n_embd / (double)hp->n_head));
    key_f32(f, a, "attn_logit_softcapping", &hp->attn_logit_softcap);
    key_f32(f, a, "final_logit_softcapping", &hp->final_logit_softcap);

    /* Vocabulary: explicit key, else the token list, else the embedding rows. */
    gguf_arr arr;
    if (!key_i64(f, a, "vocab_size", &hp->n_vocab)) {
        if (gguf_get_arr(f, "tokenizer.ggml.tokens", &arr)) {
            hp->n_vocab = (int64_t)arr.n;
        } else {
            const gguf_tensor_info *t = gguf_find_tensor(f, "token_embd.weight");
            hp->n_vocab = t && t->n_dims == 2 ? t->ne[1] : 0;
        }
    }

    /* RoPE scaling. */
    if (key_str(f, a, "rope.scaling.type", &s)) {
        if (gguf_str_eq(s, "linear")) hp->rope_scaling = SLM_ROPE_SCALING_LINEAR;
        else if (gguf_str_eq(s, "longrope")) hp->rope_scaling = SLM_ROPE_SCALING_LONGROPE;
        else if (!gguf_str_eq(s, "none"))
            return slm_fail(err, SLM_E_UNSUPPORTED, "rope scaling type '%.*s' is not supported", (int)s.len, s.ptr);
    }
    float scale = 0;
    if (key_f32(f, a, "rope.scaling.factor", &hp->rope_factor) && hp->rope_scaling == SLM_ROPE_SCALING_NONE &&
        hp->rope_factor != 1.0f && hp->rope_factor > 0)
        hp->rope_scaling = SLM_ROPE_SCALING_LINEAR;
    if (key_f32(f, a, "rope.scale_linear", &scale) && scale > 0 && scale != 1.0f) {
        hp->rope_scaling = SLM_ROPE_SCALING_LINEAR;
        hp->rope_factor = scale;
    }
    key_i64(f, a, "rope.scaling.original_context_length", &hp->rope_orig_ctx);
    key_f32(f, a, "rope.scaling.attn_factor", &hp->rope_attn_factor);
    int64_t half = hp->n_rot / 2;
    if (half > 0 && half <= 4096) {
        if ((st = copy_factors(f, "rope_factors_short.weight", half, &hp->rope_short_factor, err))) return st;
        if ((st = copy_factors(f, "rope_factors_long.weight", half, &hp->rope_long_factor, err))) return st;
    }
    if (hp->rope_short_factor || hp->rope_long_factor) {
        hp->rope_scaling = SLM_ROPE_SCALING_LONGROPE;
        if (hp->rope_attn_factor == 0 && hp->rope_orig_ctx > 0 && hp->n_ctx_train > hp->rope_orig_ctx) {
            double r = (double)hp->n_ctx_train / (double)hp->rope_orig_ctx;
            hp->rope_attn_factor = (float)sqrt(1.0 + log(r) / log((double)hp->rope_orig_ctx));
        }
    }
    if (hp->rope_attn_factor == 0) hp->rope_attn_factor = 1.0f;

    uint32_t id;
    if (gguf_get_u32(f, "tokenizer.ggml.bos_token_id", &id)) hp->bos_id = id;
    if (gguf_get_u32(f, "tokenizer.ggml.eos_token_id", &id)) hp->eos_id = id;
    return SLM_OK;
}

slm_status slm_load_gguf(const char *path, slm_model *m, slm_error *err) {
    gguf_file *f = NULL;
    slm_status st = gguf_open(path, &f, err);
    if (st) return st;
    m->source_kind = SLM_SOURCE_GGUF;
    m->source = f;
    m->file_bytes = gguf_file_size(f);
    st = hparams_from_gguf(f, &m->hp, err);
    if (st) return st;
    return slm_model_bind(m, lookup_gguf, f, err);
}
