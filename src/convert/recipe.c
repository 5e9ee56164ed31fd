#include "convert/recipe.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/dtype.h"

static const struct {
    const char *name;
    slm_ftype ft;
    uint32_t base; /* the type most tensors get */
} k_ftypes[] = {
    {"F32", SLM_FTYPE_ALL_F32, SLM_DT_F32},   {"F16", SLM_FTYPE_F16, SLM_DT_F16},
    {"BF16", SLM_FTYPE_BF16, SLM_DT_BF16},    {"Q8_0", SLM_FTYPE_Q8_0, SLM_DT_Q8_0},
    {"Q4_0", SLM_FTYPE_Q4_0, SLM_DT_Q4_0},    {"Q4_1", SLM_FTYPE_Q4_1, SLM_DT_Q4_1},
    {"Q5_0", SLM_FTYPE_Q5_0, SLM_DT_Q5_0},    {"Q5_1", SLM_FTYPE_Q5_1, SLM_DT_Q5_1},
    {"Q2_K", SLM_FTYPE_Q2_K, SLM_DT_Q2_K},    {"Q3_K_S", SLM_FTYPE_Q3_K_S, SLM_DT_Q3_K},
    {"Q3_K_M", SLM_FTYPE_Q3_K_M, SLM_DT_Q3_K}, {"Q3_K_L", SLM_FTYPE_Q3_K_L, SLM_DT_Q3_K},
    {"Q4_K_S", SLM_FTYPE_Q4_K_S, SLM_DT_Q4_K}, {"Q4_K_M", SLM_FTYPE_Q4_K_M, SLM_DT_Q4_K},
    {"Q5_K_S", SLM_FTYPE_Q5_K_S, SLM_DT_Q5_K}, {"Q5_K_M", SLM_FTYPE_Q5_K_M, SLM_DT_Q5_K},
    {"Q6_K", SLM_FTYPE_Q6_K, SLM_DT_Q6_K},    {"IQ4_NL", SLM_FTYPE_IQ4_NL, SLM_DT_IQ4_NL},
    {"IQ4_XS", SLM_FTYPE_IQ4_XS, SLM_DT_IQ4_XS},
};
#define N_FTYPES (sizeof k_ftypes / sizeof k_ftypes[0])

bool slm_ftype_from_name(const char *name, slm_ftype *out) {
    for (size_t i = 0; i < N_FTYPES; i++) {
        if (!strcasecmp(name, k_ftypes[i].name)) {
            *out = k_ftypes[i].ft;
            return true;
        }
    }
    /* Common aliases: "q4_k" means the M mix, "q3_k" too (as llama-quantize's help shows). */
    if (!strcasecmp(name, "q4_k")) { *out = SLM_FTYPE_Q4_K_M; return true; }
    if (!strcasecmp(name, "q5_k")) { *out = SLM_FTYPE_Q5_K_M; return true; }
    if (!strcasecmp(name, "q3_k")) { *out = SLM_FTYPE_Q3_K_M; return true; }
    return false;
}

const char *slm_ftype_name(slm_ftype ft) {
    for (size_t i = 0; i < N_FTYPES; i++)
        if (k_ftypes[i].ft == ft) return k_ftypes[i].name;
    return "?";
}

const char *slm_ftype_list(void) {
    return "f32, f16, bf16, q8_0, q4_0, q4_1, q5_0, q5_1, q2_k, q3_k_s, q3_k_m, q3_k_l, q4_k_s, q4_k_m, "
           "q5_k_s, q5_k_m, q6_k, iq4_nl, iq4_xs";
}

static uint32_t base_type(slm_ftype ft) {
    for (size_t i = 0; i < N_FTYPES; i++)
        if (k_ftypes[i].ft == ft) return k_ftypes[i].base;
    return SLM_DT_F16;
}

static bool ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcmp(s + n - m, suffix);
}

/* llama.cpp's heuristic for which layers get more bits: the first and last eighth, and every
 * third layer in between. */
static bool use_more_bits(int64_t i, int64_t n) {
    return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2;
}

/* Layer index from "blk.N.", or -1. */
static int64_t layer_of(const char *name) {
    if (strncmp(name, "blk.", 4)) return -1;
    char *end;
    long long v = strtoll(name + 4, &end, 10);
    return *end == '.' ? v : -1;
}

static bool should_quantize(const char *name, int n_dims) {
    if (n_dims < 2 || !ends_with(name, "weight")) return false;
    /* Never quantized by llama.cpp either: norms (1-D anyway), rope factors, MoE routers,
     * position embeddings. */
    const char *keep[] = {"_norm.weight", "rope_freqs", "rope_factors", "ffn_gate_inp", "position_embd", "token_types"};
    for (size_t i = 0; i < sizeof keep / sizeof keep[0]; i++)
        if (strstr(name, keep[i])) return false;
    return true;
}

/* A block type that cannot hold rows of ne0 elements falls back to one that can. */
static uint32_t fit_row(uint32_t type, int64_t ne0) {
    const slm_dtype_info *d = slm_dtype_get(type);
    if (d && ne0 % d->blck_size == 0) return type;
    uint32_t fb;
    switch (type) {
    case SLM_DT_Q2_K: case SLM_DT_Q3_K: case SLM_DT_IQ4_XS: fb = SLM_DT_IQ4_NL; break;
    case SLM_DT_Q4_K: fb = SLM_DT_Q5_0; break;
    case SLM_DT_Q5_K: fb = SLM_DT_Q5_1; break;
    case SLM_DT_Q6_K: fb = SLM_DT_Q8_0; break;
    default: fb = SLM_DT_F16; break;
    }
    d = slm_dtype_get(fb);
    return d && ne0 % d->blck_size == 0 ? fb : SLM_DT_F16;
}

uint32_t slm_recipe_tensor_type(const slm_recipe_ctx *c, const char *name, int n_dims, const int64_t *ne,
                                uint32_t src_type) {
    if (!should_quantize(name, n_dims)) return src_type;
    slm_ftype ft = c->ftype;
    uint32_t t = base_type(ft);
    if (ft == SLM_FTYPE_ALL_F32 || ft == SLM_FTYPE_F16 || ft == SLM_FTYPE_BF16) return t;
    int64_t il = layer_of(name), n = c->n_layer;

    bool is_output = !strcmp(name, "output.weight") || (!c->has_output && !strcmp(name, "token_embd.weight"));
    if (is_output) {
        /* The output projection is the most sensitive matrix: Q6_K unless already Q8_0. */
        if (ne[0] % 256 != 0) t = SLM_DT_Q8_0;
        else if (t != SLM_DT_Q8_0) t = SLM_DT_Q6_K;
        return fit_row(t, ne[0]);
    }
    if (ends_with(name, "attn_v.weight")) {
        if (ft == SLM_FTYPE_Q2_K) t = c->n_gqa >= 4 ? SLM_DT_Q4_K : SLM_DT_Q3_K;
        else if (ft == SLM_FTYPE_Q3_K_M) t = il < 2 ? SLM_DT_Q5_K : SLM_DT_Q4_K;
        else if (ft == SLM_FTYPE_Q3_K_L) t = SLM_DT_Q5_K;
        else if ((ft == SLM_FTYPE_IQ4_NL || ft == SLM_FTYPE_IQ4_XS) && c->n_gqa >= 4) t = SLM_DT_Q5_K;
        else if ((ft == SLM_FTYPE_Q4_K_M || ft == SLM_FTYPE_Q5_K_M) && use_more_bits(il, n)) t = SLM_DT_Q6_K;
        else if (ft == SLM_FTYPE_Q4_K_S && il < 4) t = SLM_DT_Q5_K;
    } else if (ends_with(name, "ffn_down.weight")) {
        if (ft == SLM_FTYPE_Q2_K) t = SLM_DT_Q3_K;
        else if (ft == SLM_FTYPE_Q3_K_M) t = il < n / 16 ? SLM_DT_Q5_K : SLM_DT_Q4_K;
        else if (ft == SLM_FTYPE_Q3_K_L) t = SLM_DT_Q5_K;
        else if ((ft == SLM_FTYPE_Q4_K_M || ft == SLM_FTYPE_Q5_K_M) && use_more_bits(il, n)) t = SLM_DT_Q6_K;
        else if (ft == SLM_FTYPE_Q4_K_S && il < n / 8) t = SLM_DT_Q5_K;
    } else if (ends_with(name, "attn_output.weight")) {
        if (ft == SLM_FTYPE_Q2_K) t = SLM_DT_Q3_K;
        else if (ft == SLM_FTYPE_Q3_K_M) t = SLM_DT_Q4_K;
        else if (ft == SLM_FTYPE_Q3_K_L) t = SLM_DT_Q5_K;
    } else if (ends_with(name, "attn_qkv.weight")) {
        if (ft == SLM_FTYPE_Q3_K_M || ft == SLM_FTYPE_Q3_K_L) t = SLM_DT_Q4_K;
        else if (ft == SLM_FTYPE_Q4_K_M) t = SLM_DT_Q5_K;
        else if (ft == SLM_FTYPE_Q5_K_M) t = SLM_DT_Q6_K;
    }
    return fit_row(t, ne[0]);
}
