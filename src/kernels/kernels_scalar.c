/* Portable reference kernels: the truth every SIMD path is tested against.
 *
 * Quantized dot products follow ggml's structure: exact integer sums inside each (sub-)block,
 * then one float multiply-add per block with the fp16/f32 scales. Float weights (F32/F16/BF16)
 * accumulate in double, so the reference is as exact as the inputs allow and SIMD paths are
 * measured against a near-exact value. */
#include <string.h>

#include "kernels/kernels_internal.h"
#include "quant/quant.h"

typedef float (*dot_fn)(int64_t k, const void *w, const void *a);

/* ---- 32-element blocks against Q8_0 activations ------------------------------------------- */

/* Sum of a block's activation codes: the Q4_1 / Q5_1 min term multiplies it. */
static int32_t q8_block_sum(const block_q8_0 *a) {
    int32_t s = 0;
    for (int j = 0; j < QK8_0; j++)
        s += a->qs[j];
    return s;
}

static float dot_q4_0(int64_t k, const void *vw, const void *va) {
    const block_q4_0 *w = vw;
    const block_q8_0 *a = va;
    float sum = 0.0f;
    for (int64_t b = 0; b < k / QK8_0; b++) {
        int32_t si = 0;
        for (int j = 0; j < 16; j++) {
            si += ((w[b].qs[j] & 0xF) - 8) * a[b].qs[j];
            si += ((w[b].qs[j] >> 4) - 8) * a[b].qs[j + 16];
        }
        sum += (float)si * (slm_f16_to_f32(w[b].d) * slm_f16_to_f32(a[b].d));
    }
    return sum;
}

static float dot_q4_1(int64_t k, const void *vw, const void *va) {
    const block_q4_1 *w = vw;
    const block_q8_0 *a = va;
    float sum = 0.0f;
    for (int64_t b = 0; b < k / QK8_0; b++) {
        int32_t si = 0;
        for (int j = 0; j < 16; j++) {
            si += (w[b].qs[j] & 0xF) * a[b].qs[j];
            si += (w[b].qs[j] >> 4) * a[b].qs[j + 16];
        }
        const float da = slm_f16_to_f32(a[b].d);
        sum += (float)si * (slm_f16_to_f32(w[b].d) * da) + (float)q8_block_sum(&a[b]) * (slm_f16_to_f32(w[b].m) * da);
    }
    return sum;
}

/* 5-bit code j of a Q5_0 / Q5_1 block: low nibble from qs, bit j of the little-endian qh word. */
static int q5_code(const uint8_t *qs, const uint8_t qh[4], int j) {
    uint32_t h = (uint32_t)qh[0] | (uint32_t)qh[1] << 8 | (uint32_t)qh[2] << 16 | (uint32_t)qh[3] << 24;
    int lo = j < 16 ? (qs[j] & 0xF) : (qs[j - 16] >> 4);
    return lo | (int)((h >> j) & 1) << 4;
}

static float dot_q5_0(int64_t k, const void *vw, const void *va) {
    const block_q5_0 *w = vw;
    const block_q8_0 *a = va;
    float sum = 0.0f;
    for (int64_t b = 0; b < k / QK8_0; b++) {
        int32_t si = 0;
        for (int j = 0; j < 32; j++)
            si += (q5_code(w[b].qs, w[b].qh, j) - 16) * a[b].qs[j];
        sum += (float)si * (slm_f16_to_f32(w[b].d) * slm_f16_to_f32(a[b].d));
    }
    return sum;
}

static float dot_q5_1(int64_t k, const void *vw, const void *va) {
    const block_q5_1 *w = vw;
    const block_q8_0 *a = va;
    float sum = 0.0f;
    for (int64_t b = 0; b < k / QK8_0; b++) {
        int32_t si = 0;
        for (int j = 0; j < 32; j++)
            si += q5_code(w[b].qs, w[b].qh, j) * a[b].qs[j];
        const float da = slm_f16_to_f32(a[b].d);
        sum += (float)si * (slm_f16_to_f32(w[b].d) * da) + (float)q8_block_sum(&a[b]) * (slm_f16_to_f32(w[b].m) * da);
    }
    return sum;
}

static float dot_q8_0(int64_t k, const void *vw, const void *va) {
    const block_q8_0 *w = vw;
    const block_q8_0 *a = va;
    float sum = 0.0f;
    for (int64_t b = 0; b < k / QK8_0; b++) {
        int32_t si = 0;
        for (int j = 0; j < 32; j++)
            si += w[b].qs[j] * a[b].qs[j];
        sum += (float)si * (slm_f16_to_f32(w[b].d) * slm_f16_to_f32(a[b].d));
    }
    return sum;
}

static float dot_iq4_nl(int64_t k, const void *vw, const void *va) {
    const block_iq4_nl *w = vw;
    const block_q8_0 *a = va;
    float sum = 0.0f;
    for (int64_t b = 0; b < k / QK8_0; b++) {
        int32_t si = 0;
        for (int j = 0; j < 16; j++) {
            si += kvalues_iq4nl[w[b].qs[j] & 0xF] * a[b].qs[j];
            si += kvalues_iq4nl[w[b].qs[j] >> 4] * a[b].qs[j + 16];
        }
        sum += (float)si * (slm_f16_to_f32(w[b].d) * slm_f16_to_f32(a[b].d));
    }
    return sum;
}

/* ---- K-quants and IQ4_XS against Q8_K activations ------------------------------------------ */

static float dot_q2_K(int64_t k, const void *vw, const void *va) {
    const block_q2_K *w = vw;
    const block_q8_K *a = va;
    float sum = 0.0f;
    for (int64_t b = 0; b < k / QK_K; b++) {
        int32_t isum = 0, msum = 0;
        for (int s = 0; s < 16; s++)
            msum += (w[b].scales[s] >> 4) * a[b].bsums[s];
        for (int e = 0; e < QK_K; e++) {
            int h = e / 128, j = (e % 128) / 32, l = e % 32;
            int q = (w[b].qs[32 * h + l] >> (2 * j)) & 3;
            isum += (w[b].scales[e / 16] & 0xF) * q * a[b].qs[e];
        }
        sum += a[b].d * (slm_f16_to_f32(w[b].d) * (float)isum - slm_f16_to_f32(w[b].dmin) * (float)msum);
    }
    return sum;
}

/* Signed 6-bit scale s (0..15) of a Q3_K block, minus its +32 offset. */
static int q3_K_scale(const uint8_t sc[12], int s) {
    int lo = s < 8 ? (sc[s] & 0xF) : (sc[s - 8] >> 4);
    int hi = (sc[8 + s % 4] >> (2 * (s / 4))) & 3;
    return (lo | hi << 4) - 32;
}

static float dot_q3_K(int64_t k, const void *vw, const void *va) {
    const block_q3_K *w = vw;
    const block_q8_K *a = va;
    float sum = 0.0f;
    for (int64_t b = 0; b < k / QK_K; b++) {
        int32_t isum = 0;
        for (int s = 0; s < 16; s++) {
            int32_t si = 0;
            for (int e = 16 * s; e < 16 * s + 16; e++) {
                int h = e / 128, j = (e % 128) / 32, l = e % 32;
                int q = (w[b].qs[32 * h + l] >> (2 * j)) & 3;
                q |= ((w[b].hmask[l] >> (4 * h + j)) & 1) << 2;
                si += (q - 4) * a[b].qs[e];
            }
            isum += q3_K_scale(w[b].scales, s) * si;
        }
        sum += a[b].d * slm_f16_to_f32(w[b].d) * (float)isum;
    }
    return sum;
}

/* 6-bit scale and min of sub-block j (0..7) of Q4_K / Q5_K. */
static void k4_scale_min(const uint8_t q[12], int j, int *sc, int *mn) {
    if (j < 4) {
        *sc = q[j] & 63;
        *mn = q[j + 4] & 63;
    } else {
        *sc = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
        *mn = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
    }
}

static float dot_q4_K(int64_t k, const void *vw, const void *va) {
    const block_q4_K *w = vw;
    const block_q8_K *a = va;
    float sum = 0.0f;
    for (int64_t b = 0; b < k / QK_K; b++) {
        int32_t isum = 0, msum = 0;
        for (int j = 0; j < 8; j++) {
            int sc, mn;
            k4_scale_min(w[b].scales, j, &sc, &mn);
            const uint8_t *qs = w[b].qs + 32 * (j / 2);
            int shift = 4 * (j % 2);
            int32_t si = 0;
            for (int l = 0; l < 32; l++)
                si += ((qs[l] >> shift) & 0xF) * a[b].qs[32 * j + l];
            isum += sc * si;
            msum += mn * (a[b].bsums[2 * j] + a[b].bsums[2 * j + 1]);
        }
        sum += a[b].d * (slm_f16_to_f32(w[b].d) * (float)isum - slm_f16_to_f32(w[b].dmin) * (float)msum);
    }
    return sum;
}

static float dot_q5_K(int64_t k, const void *vw, const void *va) {
    const block_q5_K *w = vw;
    const block_q8_K *a = va;
    float sum = 0.0f;
    for (int64_t b = 0; b < k / QK_K; b++) {
        int32_t isum = 0, msum = 0;
        for (int j = 0; j < 8; j++) {
            int sc, mn;
            k4_scale_min(w[b].scales, j, &sc, &mn);
            const uint8_t *qs = w[b].qs + 32 * (j / 2);
            int shift = 4 * (j % 2);
            int32_t si = 0;
            for (int l = 0; l < 32; l++) {
                int q = ((qs[l] >> shift) & 0xF) | ((w[b].qh[l] >> j) & 1) << 4;
                si += q * a[b].qs[32 * j + l];
            }
            isum += sc * si;
            msum += mn * (a[b].bsums[2 * j] + a[b].bsums[2 * j + 1]);
        }
        sum += a[b].d * (slm_f16_to_f32(w[b].d) * (float)isum - slm_f16_to_f32(w[b].dmin) * (float)msum);
    }
    return sum;
}

static float dot_q6_K(int64_t k, const void *vw, const void *va) {
    const block_q6_K *w = vw;
    const block_q8_K *a = va;
    float sum = 0.0f;
    for (int64_t b = 0; b < k / QK_K; b++) {
        int32_t isum = 0;
        for (int s = 0; s < 16; s++) {
            int32_t si = 0;
            for (int e = 16 * s; e < 16 * s + 16; e++) {
                /* e = 128 h + 32 c + l: c selects low/high nibble of ql[64h + l (+32)] and a bit
                 * pair of qh[32h + l]. */
                int h = e / 128, c = (e % 128) / 32, l = e % 32;
                int ql = w[b].ql[64 * h + l + 32 * (c & 1)];
                int lo = (c < 2) ? (ql & 0xF) : (ql >> 4);
                int hi = (w[b].qh[32 * h + l] >> (2 * c)) & 3;
                si += ((lo | hi << 4) - 32) * a[b].qs[e];
            }
            isum += w[b].scales[s] * si;
        }
        sum += a[b].d * slm_f16_to_f32(w[b].d) * (float)isum;
    }
    return sum;
}

static float dot_iq4_xs(int64_t k, const void *vw, const void *va) {
    const block_iq4_xs *w = vw;
    const block_q8_K *a = va;
    float sum = 0.0f;
    for (int64_t b = 0; b < k / QK_K; b++) {
        int32_t isum = 0;
        for (int j = 0; j < 8; j++) {
            int ls = ((w[b].scales_l[j / 2] >> (4 * (j % 2))) & 0xF) | ((w[b].scales_h >> (2 * j)) & 3) << 4;
            const uint8_t *qs = w[b].qs + 16 * j;
            int32_t si = 0;
            for (int l = 0; l < 16; l++) {
                si += kvalues_iq4nl[qs[l] & 0xF] * a[b].qs[32 * j + l];
                si += kvalues_iq4nl[qs[l] >> 4] * a[b].qs[32 * j + l + 16];
            }
            isum += (ls - 32) * si;
        }
        sum += a[b].d * slm_f16_to_f32(w[b].d) * (float)isum;
    }
    return sum;
}

/* ---- Float weights against float32 activations -------------------------------------------- */

static float dot_f32w(int64_t k, const void *vw, const void *va) {
    const float *w = vw, *a = va;
    double s = 0.0;
    for (int64_t i = 0; i < k; i++)
        s += (double)w[i] * a[i];
    return (float)s;
}

static float dot_f16w(int64_t k, const void *vw, const void *va) {
    const slm_f16 *w = vw;
    const float *a = va;
    double s = 0.0;
    for (int64_t i = 0; i < k; i++)
        s += (double)slm_f16_to_f32(w[i]) * a[i];
    return (float)s;
}

static float dot_bf16w(int64_t k, const void *vw, const void *va) {
    const slm_bf16 *w = vw;
    const float *a = va;
    double s = 0.0;
    for (int64_t i = 0; i < k; i++)
        s += (double)slm_bf16_to_f32(w[i]) * a[i];
    return (float)s;
}

/* ---- Tiles and activation quantizers ------------------------------------------------------- */

static void gemm_with(dot_fn dot, int64_t k, const void *w, size_t wrb, int64_t nr, const void *act, size_t arb,
                      int64_t nt, float *y, int64_t ldy) {
    for (int64_t t = 0; t < nt; t++) {
        const uint8_t *a = (const uint8_t *)act + (size_t)t * arb;
        for (int64_t r = 0; r < nr; r++)
            y[t * ldy + r] = dot(k, (const uint8_t *)w + (size_t)r * wrb, a);
    }
}

/* Precise tile (kernels.h gemm2): activation rows 2t (q8(x)) and 2t+1 (q8 of its residual). */
static void gemm2_with(dot_fn dot, int64_t k, const void *w, size_t wrb, int64_t nr, const void *act, size_t arb,
                       int64_t nt, float *y, int64_t ldy) {
    for (int64_t t = 0; t < nt; t++) {
        const uint8_t *a = (const uint8_t *)act + (size_t)(2 * t) * arb;
        for (int64_t r = 0; r < nr; r++) {
            const uint8_t *wr = (const uint8_t *)w + (size_t)r * wrb;
            y[t * ldy + r] = dot(k, wr, a) + dot(k, wr, a + arb);
        }
    }
}

#define GEMM_REF(name)                                                                                                 \
    static void gemm_##name(int64_t k, const void *w, size_t wrb, int64_t nr, const void *act, size_t arb, int64_t nt, \
                            float *y, int64_t ldy) {                                                                   \
        gemm_with(dot_##name, k, w, wrb, nr, act, arb, nt, y, ldy);                                                    \
    }
#define GEMM2_REF(name)                                                                                                \
    GEMM_REF(name)                                                                                                     \
    static void gemm2_##name(int64_t k, const void *w, size_t wrb, int64_t nr, const void *act, size_t arb,           \
                             int64_t nt, float *y, int64_t ldy) {                                                      \
        gemm2_with(dot_##name, k, w, wrb, nr, act, arb, nt, y, ldy);                                                   \
    }
GEMM2_REF(q4_0)
GEMM2_REF(q4_1)
GEMM2_REF(q5_0)
GEMM2_REF(q5_1)
GEMM2_REF(q8_0)
GEMM2_REF(iq4_nl)
GEMM2_REF(q2_K)
GEMM2_REF(q3_K)
GEMM2_REF(q4_K)
GEMM2_REF(q5_K)
GEMM2_REF(q6_K)
GEMM2_REF(iq4_xs)
GEMM_REF(f32w)
GEMM_REF(f16w)
GEMM_REF(bf16w)
#undef GEMM_REF
#undef GEMM2_REF

static void quant_act_q8_0(const float *x, int64_t ldx, int64_t n, int64_t k, void *act, size_t arb) {
    for (int64_t t = 0; t < n; t++)
        quantize_row_q8_0_ref(x + t * ldx, (block_q8_0 *)((uint8_t *)act + (size_t)t * arb), k);
}

static void quant_act_q8_K(const float *x, int64_t ldx, int64_t n, int64_t k, void *act, size_t arb) {
    for (int64_t t = 0; t < n; t++)
        quantize_row_q8_K_ref(x + t * ldx, (block_q8_K *)((uint8_t *)act + (size_t)t * arb), k);
}

static void quant_act_f32(const float *x, int64_t ldx, int64_t n, int64_t k, void *act, size_t arb) {
    for (int64_t t = 0; t < n; t++)
        memcpy((uint8_t *)act + (size_t)t * arb, x + t * ldx, (size_t)k * sizeof(float));
}

/* ---- Vector ops ----------------------------------------------------------------------------- */

static float vdot_f32(const float *a, const float *b, int64_t n) {
    double s = 0.0;
    for (int64_t i = 0; i < n; i++)
        s += (double)a[i] * b[i];
    return (float)s;
}

static float vdot_f16_f32(const slm_f16 *a, const float *b, int64_t n) {
    double s = 0.0;
    for (int64_t i = 0; i < n; i++)
        s += (double)slm_f16_to_f32(a[i]) * b[i];
    return (float)s;
}

static void vaxpy_f32(float *y, float a, const float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        y[i] += a * x[i];
}

static void vaxpy_f16(float *y, float a, const slm_f16 *x, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        y[i] += a * slm_f16_to_f32(x[i]);
}

static void vscale_f32(float *y, float a, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        y[i] *= a;
}

static void vf32_to_f16(const float *x, slm_f16 *y, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        y[i] = slm_f32_to_f16(x[i]);
}

static void vf16_to_f32(const slm_f16 *x, float *y, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        y[i] = slm_f16_to_f32(x[i]);
}

static void vq8_0_from_f32(const float *x, void *y, int64_t n) { quantize_row_q8_0_ref(x, y, n); }
static void vq8_0_to_f32(const void *x, float *y, int64_t n) { dequantize_row_q8_0(x, y, n); }

void kernels_fill_scalar(slm_kernels *kt) {
    memset(kt, 0, sizeof *kt);
    kt->isa = SLM_ISA_SCALAR;
    kt->name = "scalar";
    const struct {
        uint32_t type, act;
        slm_gemm_fn gemm, gemm2;
    } tab[] = {
        {SLM_DT_F32, SLM_DT_F32, gemm_f32w, NULL},
        {SLM_DT_F16, SLM_DT_F32, gemm_f16w, NULL},
        {SLM_DT_BF16, SLM_DT_F32, gemm_bf16w, NULL},
        {SLM_DT_Q4_0, SLM_DT_Q8_0, gemm_q4_0, gemm2_q4_0},
        {SLM_DT_Q4_1, SLM_DT_Q8_0, gemm_q4_1, gemm2_q4_1},
        {SLM_DT_Q5_0, SLM_DT_Q8_0, gemm_q5_0, gemm2_q5_0},
        {SLM_DT_Q5_1, SLM_DT_Q8_0, gemm_q5_1, gemm2_q5_1},
        {SLM_DT_Q8_0, SLM_DT_Q8_0, gemm_q8_0, gemm2_q8_0},
        {SLM_DT_IQ4_NL, SLM_DT_Q8_0, gemm_iq4_nl, gemm2_iq4_nl},
        {SLM_DT_Q2_K, SLM_DT_Q8_K, gemm_q2_K, gemm2_q2_K},
        {SLM_DT_Q3_K, SLM_DT_Q8_K, gemm_q3_K, gemm2_q3_K},
        {SLM_DT_Q4_K, SLM_DT_Q8_K, gemm_q4_K, gemm2_q4_K},
        {SLM_DT_Q5_K, SLM_DT_Q8_K, gemm_q5_K, gemm2_q5_K},
        {SLM_DT_Q6_K, SLM_DT_Q8_K, gemm_q6_K, gemm2_q6_K},
        {SLM_DT_IQ4_XS, SLM_DT_Q8_K, gemm_iq4_xs, gemm2_iq4_xs},
    };
    for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++) {
        slm_matmul_kernel *m = &kt->mm[tab[i].type];
        m->act_type = tab[i].act;
        m->gemm = tab[i].gemm;
        m->gemm2 = tab[i].gemm2;
        m->quant_act = tab[i].act == SLM_DT_Q8_0   ? quant_act_q8_0
                       : tab[i].act == SLM_DT_Q8_K ? quant_act_q8_K
                                                   : quant_act_f32;
    }
    kernels_fill_a16_scalar(kt);
    kt->dot_f32 = vdot_f32;
    kt->dot_f16_f32 = vdot_f16_f32;
    kt->axpy_f32 = vaxpy_f32;
    kt->axpy_f16 = vaxpy_f16;
    kt->scale_f32 = vscale_f32;
    kt->f32_to_f16 = vf32_to_f16;
    kt->f16_to_f32 = vf16_to_f32;
    kt->q8_0_from_f32 = vq8_0_from_f32;
    kt->q8_0_to_f32 = vq8_0_to_f32;
    kernels_fill_attn_scalar(kt);
}
