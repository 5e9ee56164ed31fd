#include "model/bind.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/dtype.h"
#include "base/error.h"
#include "quant/quant.h"

/* Dimension symbols a tensor spec is written in; resolved from the hyper-parameters. */
typedef enum dim_sym { D_1, D_EMBD, D_VOCAB, D_FF, D_FF2, D_Q, D_KV, D_QKV, D_HEAD, D_ROT2 } dim_sym;

/* When a per-layer tensor is needed. */
typedef enum need {
    NEED_ALWAYS,
    NEED_OPTIONAL,     /* used when present (e.g. biases), shape-checked */
    NEED_SPLIT_QKV,    /* separate q/k/v projections */
    NEED_FUSED_QKV,    /* phi3 fused [q; k; v] */
    NEED_SPLIT_FFN,    /* separate gate and up */
    NEED_FUSED_FFN,    /* phi3 fused [gate; up], stored as ffn_up */
    NEED_QK_NORM,
    NEED_POST_NORMS,
} need;

typedef struct tensor_spec {
    const char *suffix; /* after "blk.N." */
    size_t offset;      /* of the slm_weight inside slm_layer */
    int n_dims;
    dim_sym d0, d1;
    need when;
    bool matrix;        /* used in a matmul: type must have a kernel */
} tensor_spec;

#define L(field) offsetof(slm_layer, field)
static const tensor_spec k_layer_specs[] = {
    {"attn_norm.weight", L(attn_norm), 1, D_EMBD, D_1, NEED_ALWAYS, false},
    {"attn_q.weight", L(wq), 2, D_EMBD, D_Q, NEED_SPLIT_QKV, true},
    {"attn_k.weight", L(wk), 2, D_EMBD, D_KV, NEED_SPLIT_QKV, true},
    {"attn_v.weight", L(wv), 2, D_EMBD, D_KV, NEED_SPLIT_QKV, true},
    {"attn_qkv.weight", L(wqkv), 2, D_EMBD, D_QKV, NEED_FUSED_QKV, true},
    {"attn_q.bias", L(bq), 1, D_Q, D_1, NEED_OPTIONAL, false},
    {"attn_k.bias", L(bk), 1, D_KV, D_1, NEED_OPTIONAL, false},
    {"attn_v.bias", L(bv), 1, D_KV, D_1, NEED_OPTIONAL, false},
    {"attn_q_norm.weight", L(q_norm), 1, D_HEAD, D_1, NEED_QK_NORM, false},
    {"attn_k_norm.weight", L(k_norm), 1, D_HEAD, D_1, NEED_QK_NORM, false},
    {"attn_output.weight", L(wo), 2, D_Q, D_EMBD, NEED_ALWAYS, true},
    {"post_attention_norm.weight", L(post_attn_norm), 1, D_EMBD, D_1, NEED_POST_NORMS, false},
    {"ffn_norm.weight", L(ffn_norm), 1, D_EMBD, D_1, NEED_ALWAYS, false},
    {"ffn_gate.weight", L(w_gate), 2, D_EMBD, D_FF, NEED_SPLIT_FFN, true},
    {"ffn_up.weight", L(w_up), 2, D_EMBD, D_FF, NEED_SPLIT_FFN, true},
    {"ffn_up.weight", L(w_gate_up), 2, D_EMBD, D_FF2, NEED_FUSED_FFN, true},
    {"ffn_down.weight", L(w_down), 2, D_FF, D_EMBD, NEED_ALWAYS, true},
    {"post_ffw_norm.weight", L(post_ffn_norm), 1, D_EMBD, D_1, NEED_POST_NORMS, false},
};
#undef L

static int64_t dim_value(const slm_hparams *hp, dim_sym d) {
    switch (d) {
    case D_1: return 1;
    case D_EMBD: return hp->n_embd;
    case D_VOCAB: return hp->n_vocab;
    case D_FF: return hp->n_ff;
    case D_FF2: return 2 * hp->n_ff;
    case D_Q: return hp->n_head * hp->head_dim;
    case D_KV: return hp->n_head_kv * hp->head_dim;
    case D_QKV: return (hp->n_head + 2 * hp->n_head_kv) * hp->head_dim;
    case D_HEAD: return hp->head_dim;
    case D_ROT2: return hp->n_rot / 2;
    }
    return -1;
}

slm_status slm_hparams_validate(const slm_hparams *hp, slm_error *err) {
    /* Limits far above any real model, low enough that products below cannot overflow. */
    const struct { const char *name; int64_t v, lo, hi; } checks[] = {
        {"vocabulary size", hp->n_vocab, 1, 1 << 22},      {"embedding length", hp->n_embd, 1, 1 << 17},
        {"layer count", hp->n_layer, 1, 1024},             {"head count", hp->n_head, 1, 1024},
        {"kv head count", hp->n_head_kv, 1, 1024},         {"head dimension", hp->head_dim, 1, 4096},
        {"feed-forward length", hp->n_ff, 1, 1 << 20},     {"rotary dimension", hp->n_rot, 0, 4096},
    };
    for (size_t i = 0; i < sizeof checks / sizeof checks[0]; i++) {
        if (checks[i].v < checks[i].lo || checks[i].v > checks[i].hi)
            return slm_fail(err, SLM_E_FORMAT, "%s %lld is out of range [%lld, %lld]", checks[i].name,
                            (long long)checks[i].v, (long long)checks[i].lo, (long long)checks[i].hi);
    }
    if (hp->n_head % hp->n_head_kv != 0)
        return slm_fail(err, SLM_E_FORMAT, "head count %lld is not a multiple of kv head count %lld",
                        (long long)hp->n_head, (long long)hp->n_head_kv);
    if (hp->n_rot > hp->head_dim || hp->n_rot % 2 != 0)
        return slm_fail(err, SLM_E_FORMAT, "rotary dimension %lld must be even and <= head dimension %lld",
                        (long long)hp->n_rot, (long long)hp->head_dim);
    if (!(hp->rms_eps > 0 && hp->rms_eps < 1))
        return slm_fail(err, SLM_E_FORMAT, "RMSNorm epsilon %g is out of range (0, 1)", (double)hp->rms_eps);
    if (!(hp->rope_theta > 0))
        return slm_fail(err, SLM_E_FORMAT, "rope base frequency %g must be positive", (double)hp->rope_theta);
    if (hp->sliding_window < 0 || hp->swa_pattern < 0)
        return slm_fail(err, SLM_E_FORMAT, "negative sliding window settings");
    return SLM_OK;
}

/* Check one found tensor against its expected shape and usability. */
static slm_status check_tensor(const slm_weight *w, const char *name, int n_dims, int64_t d0, int64_t d1,
                               bool matrix, slm_error *err) {
    int64_t want[4] = {d0, d1, 1, 1};
    int nd = w->n_dims < 1 ? 1 : w->n_dims;
    bool ok = true;
    for (int i = 0; i < 4; i++) {
        int64_t have = i < nd ? w->ne[i] : 1;
        if (have != want[i]) ok = false;
    }
    (void)n_dims; /* a [n, 1] tensor equals [n]: compare padded shapes */
    if (!ok)
        return slm_fail(err, SLM_E_FORMAT, "tensor '%s' has shape [%lld, %lld, %lld, %lld], expected [%lld, %lld]",
                        name, (long long)w->ne[0], (long long)(nd > 1 ? w->ne[1] : 1),
                        (long long)(nd > 2 ? w->ne[2] : 1), (long long)(nd > 3 ? w->ne[3] : 1), (long long)d0,
                        (long long)d1);
    const char *tname = slm_dtype_name(w->type);
    if (!slm_quant_to_float(w->type))
        return slm_fail(err, SLM_E_UNSUPPORTED, "tensor '%s' has type %s, which slm cannot compute with", name,
                        tname ? tname : "unknown");
    if (!matrix && w->type != SLM_DT_F32 && w->type != SLM_DT_F16 && w->type != SLM_DT_BF16)
        return slm_fail(err, SLM_E_UNSUPPORTED, "tensor '%s' (a vector) has type %s; expected F32, F16 or BF16",
                        name, tname ? tname : "unknown");
    return SLM_OK;
}

static slm_status bind_one(slm_model *m, slm_tensor_lookup_fn lookup, void *src, const char *name, slm_weight *dst,
                           int n_dims, dim_sym d0, dim_sym d1, bool required, bool matrix, slm_error *err) {
    memset(dst, 0, sizeof *dst);
    if (!lookup(src, name, dst)) {
        memset(dst, 0, sizeof *dst);
        if (required) return slm_fail(err, SLM_E_FORMAT, "required tensor '%s' is missing", name);
        return SLM_OK;
    }
    return check_tensor(dst, name, n_dims, dim_value(&m->hp, d0), dim_value(&m->hp, d1), matrix, err);
}

static bool has_tensor(slm_tensor_lookup_fn lookup, void *src, const char *name) {
    slm_weight w;
    return lookup(src, name, &w);
}

static bool spec_required(const tensor_spec *s, const slm_hparams *hp, bool fused_qkv, bool fused_ffn) {
    switch (s->when) {
    case NEED_ALWAYS: return true;
    case NEED_OPTIONAL: return false;
    case NEED_SPLIT_QKV: return !fused_qkv;
    case NEED_FUSED_QKV: return fused_qkv;
    case NEED_SPLIT_FFN: return !fused_ffn;
    case NEED_FUSED_FFN: return fused_ffn;
    case NEED_QK_NORM: return hp->has_qk_norm;
    case NEED_POST_NORMS: return hp->post_norms;
    }
    return false;
}

static bool spec_applies(const tensor_spec *s, bool fused_qkv, bool fused_ffn) {
    if (s->when == NEED_SPLIT_QKV && fused_qkv) return false;
    if (s->when == NEED_FUSED_QKV && !fused_qkv) return false;
    if (s->when == NEED_SPLIT_FFN && fused_ffn) return false;
    if (s->when == NEED_FUSED_FFN && !fused_ffn) return false;
    return true;
}

slm_status slm_model_bind(slm_model *m, slm_tensor_lookup_fn lookup, void *src, slm_error *err) {
    slm_hparams *hp = &m->hp;
    slm_status st = slm_hparams_validate(hp, err);
    if (st) return st;

    st = bind_one(m, lookup, src, "token_embd.weight", &m->tok_embd, 2, D_EMBD, D_VOCAB, true, true, err);
    if (st) return st;
    st = bind_one(m, lookup, src, "output_norm.weight", &m->output_norm, 1, D_EMBD, D_1, true, false, err);
    if (st) return st;
    st = bind_one(m, lookup, src, "output.weight", &m->output, 2, D_EMBD, D_VOCAB, false, true, err);
    if (st) return st;
    hp->tied_output = m->output.data == NULL;
    if (hp->tied_output) m->output = m->tok_embd;
    st = bind_one(m, lookup, src, "rope_freqs.weight", &m->rope_freqs, 1, D_ROT2, D_1, false, false, err);
    if (st) return st;
    if (m->rope_freqs.data && m->rope_freqs.type != SLM_DT_F32)
        return slm_fail(err, SLM_E_UNSUPPORTED, "tensor 'rope_freqs.weight' must be F32");
    if (m->rope_freqs.data) hp->rope_scaling = SLM_ROPE_SCALING_LLAMA3;

    /* Structure the tensors themselves decide (same for every layer; checked per layer below). */
    bool fused_qkv = has_tensor(lookup, src, "blk.0.attn_qkv.weight");
    bool fused_ffn = !has_tensor(lookup, src, "blk.0.ffn_gate.weight") && has_tensor(lookup, src, "blk.0.ffn_up.weight");
    hp->has_qkv_bias = has_tensor(lookup, src, "blk.0.attn_q.bias");

    m->layers = calloc((size_t)hp->n_layer, sizeof *m->layers);
    if (!m->layers) return slm_fail(err, SLM_E_NOMEM, "out of memory for %lld layers", (long long)hp->n_layer);
    char name[96];
    for (int64_t il = 0; il < hp->n_layer; il++) {
        slm_layer *layer = &m->layers[il];
        for (size_t k = 0; k < sizeof k_layer_specs / sizeof k_layer_specs[0]; k++) {
            const tensor_spec *s = &k_layer_specs[k];
            if (!spec_applies(s, fused_qkv, fused_ffn)) continue;
            snprintf(name, sizeof name, "blk.%lld.%s", (long long)il, s->suffix);
            slm_weight *dst = (slm_weight *)((char *)layer + s->offset);
            st = bind_one(m, lookup, src, name, dst, s->n_dims, s->d0, s->d1,
                          spec_required(s, hp, fused_qkv, fused_ffn), s->matrix, err);
            if (st) return st;
        }
        /* Biases come as a set: all three or none, the same in every layer. */
        bool any_bias = layer->bq.data || layer->bk.data || layer->bv.data;
        bool all_bias = layer->bq.data && layer->bk.data && layer->bv.data;
        if (any_bias != hp->has_qkv_bias || (any_bias && !all_bias))
            return slm_fail(err, SLM_E_FORMAT, "layer %lld: q/k/v biases must be present for all three or none, "
                            "in every layer", (long long)il);
    }
    /* Tensors for layers beyond n_layer would mean the metadata lies about the depth. */
    snprintf(name, sizeof name, "blk.%lld.attn_norm.weight", (long long)hp->n_layer);
    if (has_tensor(lookup, src, name))
        return slm_fail(err, SLM_E_FORMAT, "tensor '%s' exists but the model declares %lld layers", name,
                        (long long)hp->n_layer);
    return SLM_OK;
}
