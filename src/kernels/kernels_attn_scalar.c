/* Attention kernels and the FFN's glu, portable reference (see kernels.h: attn_scores_f16,
 * attn_accum_f16, exp_shift_sum, glu). The SIMD versions must match these up to float rounding
 * (and their exp polynomial's few ulps). */
#include <math.h>

#include "kernels/kernels_internal.h"

static void attn_scores_f16(const float *q, int64_t n_heads, int64_t hd, const slm_f16 *const *k, int n, float *s,
                            int64_t ld_s) {
    for (int i = 0; i < n; i++)
        for (int64_t h = 0; h < n_heads; h++) {
            double acc = 0.0;
            for (int64_t d = 0; d < hd; d++) acc += (double)q[h * hd + d] * slm_f16_to_f32(k[i][d]);
            s[h * ld_s + i] = (float)acc;
        }
}

static void attn_accum_f16(float *acc, int64_t n_heads, int64_t hd, const slm_f16 *const *v, int n, const float *p,
                           int64_t ld_p) {
    for (int64_t h = 0; h < n_heads; h++)
        for (int i = 0; i < n; i++) {
            const float w = p[h * ld_p + i];
            for (int64_t d = 0; d < hd; d++) acc[h * hd + d] += w * slm_f16_to_f32(v[i][d]);
        }
}

/* Element d of a Q8_0 row. */
static float q8_elem(const block_q8_0 *row, int64_t d) { return slm_f16_to_f32(row[d / 32].d) * row[d / 32].qs[d % 32]; }

static void attn_scores_q8(const float *q, int64_t n_heads, int64_t hd, const block_q8_0 *const *k, int n, float *s,
                           int64_t ld_s) {
    for (int i = 0; i < n; i++)
        for (int64_t h = 0; h < n_heads; h++) {
            double acc = 0.0;
            for (int64_t d = 0; d < hd; d++) acc += (double)q[h * hd + d] * q8_elem(k[i], d);
            s[h * ld_s + i] = (float)acc;
        }
}

static void attn_accum_q8(float *acc, int64_t n_heads, int64_t hd, const block_q8_0 *const *v, int n, const float *p,
                          int64_t ld_p) {
    for (int64_t h = 0; h < n_heads; h++)
        for (int i = 0; i < n; i++) {
            const float w = p[h * ld_p + i];
            for (int64_t d = 0; d < hd; d++) acc[h * hd + d] += w * q8_elem(v[i], d);
        }
}

static float exp_shift_sum(float *x, int64_t n, float m) {
    float sum = 0.0f;
    for (int64_t i = 0; i < n; i++) {
        x[i] = expf(x[i] - m);
        sum += x[i];
    }
    return sum;
}

static void glu(float *g, const float *u, int64_t n, bool gelu_tanh) {
    if (gelu_tanh)
        for (int64_t i = 0; i < n; i++) g[i] = kernels_gelu_tanh(g[i]) * u[i];
    else
        for (int64_t i = 0; i < n; i++) g[i] = kernels_silu(g[i]) * u[i];
}

void kernels_fill_attn_scalar(slm_kernels *kt) {
    kt->glu = glu;
    kt->attn_scores_f16 = attn_scores_f16;
    kt->attn_accum_f16 = attn_accum_f16;
    kt->exp_shift_sum = exp_shift_sum;
    kt->attn_scores_q8 = attn_scores_q8;
    kt->attn_accum_q8 = attn_accum_q8;
}
