/* NEON kernels for ARMv8.6+ CPUs with the int8 matrix multiply extension (FEAT_I8MM: Apple M2+,
 * Cortex-A710/X2 and later, Graviton 3), built with -march=armv8.6-a+i8mm (which includes
 * dotprod). Everything is the dotprod table (kernels_neon_impl.h with sdot) except the prompt
 * tiles of the quantized types, which use smmla:
 *
 *     vmmlaq_s32(acc, W, A): W = 8 codes of row 0 | 8 of row 1, A = 8 activation codes of token 0
 *     | 8 of token 1  ->  acc lanes += [r0.t0, r0.t1, r1.t0, r1.t1]
 *
 * so one instruction does the work of four sdot-lanes' worth of a 2x2 tile. Weights of two rows
 * and activations of two tokens are interleaved in 8-byte halves with zip1/zip2 on 64-bit lanes.
 * Block scales are then applied per lane: float [d_r0 d_r0 d_r1 d_r1] x [d_t0 d_t1 d_t0 d_t1];
 * K-quant group scales in int32 as [s_r0 s_r0 s_r1 s_r1]. Generation (one token) keeps the
 * sdot path, which reads one weight row at a time. */
#include "kernels/kernels_internal.h"

#include <arm_neon.h>

static inline __attribute__((always_inline)) int32x4_t neon_dot_i8(int32x4_t acc, int8x16_t a, int8x16_t b) {
    return vdotq_s32(acc, a, b);
}

#include "kernels/kernels_neon_impl.h"

/* 8-byte halves: zip_lo(a, b) = a[0..7] | b[0..7], zip_hi(a, b) = a[8..15] | b[8..15]. */
static inline __attribute__((always_inline)) int8x16_t zip_lo(int8x16_t a, int8x16_t b) {
    return vreinterpretq_s8_s64(vzip1q_s64(vreinterpretq_s64_s8(a), vreinterpretq_s64_s8(b)));
}
static inline __attribute__((always_inline)) int8x16_t zip_hi(int8x16_t a, int8x16_t b) {
    return vreinterpretq_s8_s64(vzip2q_s64(vreinterpretq_s64_s8(a), vreinterpretq_s64_s8(b)));
}

/* The 2x2 integer dot of 16 values: rows (w0, w1) against tokens (a0, a1). */
static inline __attribute__((always_inline)) int32x4_t mm16(int32x4_t acc, int8x16_t w0, int8x16_t w1, int8x16_t a0,
                                                            int8x16_t a1) {
    acc = vmmlaq_s32(acc, zip_lo(w0, w1), zip_lo(a0, a1));
    return vmmlaq_s32(acc, zip_hi(w0, w1), zip_hi(a0, a1));
}

/* Store lanes [r0.t0, r0.t1, r1.t0, r1.t1] of a 2x2 tile at y (row 0, token 0). */
static inline __attribute__((always_inline)) void store_2x2(float32x4_t v, float *y, int64_t ldy) {
    y[0] = vgetq_lane_f32(v, 0);
    y[ldy] = vgetq_lane_f32(v, 1);
    y[1] = vgetq_lane_f32(v, 2);
    y[ldy + 1] = vgetq_lane_f32(v, 3);
}

/* ---- 32-element blocks: 2 rows x 2P tokens ------------------------------------------------- */

static inline __attribute__((always_inline)) void mm_b32_tile(int kind, int P, int64_t nb, const uint8_t *w,
                                                              size_t wrb, const uint8_t *act, size_t arb, float *y,
                                                              int64_t ldy) {
    float32x4_t acc[2], accm[2];
#pragma GCC unroll 2
    for (int p = 0; p < P; p++)
        acc[p] = accm[p] = vdupq_n_f32(0.0f);
    for (int64_t b = 0; b < nb; b++) {
        int8x16_t l0, h0, l1, h1;
        float d0, m0 = 0.0f, d1, m1 = 0.0f;
        nb32_unpack(kind, w, b, &l0, &h0, &d0, &m0);
        nb32_unpack(kind, w + wrb, b, &l1, &h1, &d1, &m1);
        const float dwv[4] = {d0, d0, d1, d1}, mwv[4] = {m0, m0, m1, m1};
        const float32x4_t dw = vld1q_f32(dwv), mw = vld1q_f32(mwv);
#pragma GCC unroll 2
        for (int p = 0; p < P; p++) {
            const block_q8_0 *a0 = (const block_q8_0 *)(act + (size_t)(2 * p) * arb) + b;
            const block_q8_0 *a1 = (const block_q8_0 *)(act + (size_t)(2 * p + 1) * arb) + b;
            const int8x16_t al0 = vld1q_s8(a0->qs), ah0 = vld1q_s8(a0->qs + 16);
            const int8x16_t al1 = vld1q_s8(a1->qs), ah1 = vld1q_s8(a1->qs + 16);
            const int32x4_t isum = mm16(mm16(vdupq_n_s32(0), l0, l1, al0, al1), h0, h1, ah0, ah1);
            const float da0 = neon_f16(a0->d), da1 = neon_f16(a1->d);
            const float dav[4] = {da0, da1, da0, da1};
            const float32x4_t da = vld1q_f32(dav);
            acc[p] = vfmaq_f32(acc[p], vcvtq_f32_s32(isum), vmulq_f32(dw, da));
            if (nb32_has_min(kind)) {
                const float s0 = (float)nb32_act_sum(al0, ah0), s1 = (float)nb32_act_sum(al1, ah1);
                const float sv[4] = {s0, s1, s0, s1};
                accm[p] = vfmaq_f32(accm[p], vld1q_f32(sv), vmulq_f32(mw, da));
            }
        }
    }
#pragma GCC unroll 2
    for (int p = 0; p < P; p++)
        store_2x2(vaddq_f32(acc[p], accm[p]), y + 2 * p * ldy, ldy);
}

/* Tiles: 2 rows x 4 tokens (two smmla tiles sharing the decoded weights) while 4 tokens remain,
 * then 2 rows x 2 tokens; a leftover row and a leftover token take the sdot tiles. */
static inline __attribute__((always_inline)) void mm_b32_gemm(int kind, int64_t k, const void *vw, size_t wrb,
                                                              int64_t nr, const void *vact, size_t arb, int64_t nt,
                                                              float *y, int64_t ldy) {
    const uint8_t *w = vw, *act = vact;
    const int64_t nb = k / 32;
    int64_t t = 0;
    for (; t + 2 <= nt; t += (t + 4 <= nt ? 4 : 2)) {
        const int P = t + 4 <= nt ? 2 : 1;
        int64_t r = 0;
        for (; r + 2 <= nr; r += 2) {
            if (P == 2)
                mm_b32_tile(kind, 2, nb, w + (size_t)r * wrb, wrb, act + (size_t)t * arb, arb, y + t * ldy + r, ldy);
            else
                mm_b32_tile(kind, 1, nb, w + (size_t)r * wrb, wrb, act + (size_t)t * arb, arb, y + t * ldy + r, ldy);
        }
        for (; r < nr; r++)
            for (int64_t u = t; u < t + 2 * P; u++)
                nb32_tile(kind, 1, 1, nb, w + (size_t)r * wrb, wrb, act + (size_t)u * arb, arb, y + u * ldy + r, ldy);
    }
    for (; t < nt; t++)
        for (int64_t r = 0; r < nr; r++)
            nb32_tile(kind, 1, 1, nb, w + (size_t)r * wrb, wrb, act + (size_t)t * arb, arb, y + t * ldy + r, ldy);
}

#define MM_B32_DEF(kind)                                                                                         \
    static void mm_gemm_b32_##kind(int64_t k, const void *w, size_t wrb, int64_t nr, const void *a, size_t arb, \
                                   int64_t nt, float *y, int64_t ldy) {                                         \
        mm_b32_gemm(kind, k, w, wrb, nr, a, arb, nt, y, ldy);                                                    \
    }
MM_B32_DEF(NB32_Q4_0)
MM_B32_DEF(NB32_Q4_1)
MM_B32_DEF(NB32_Q5_0)
MM_B32_DEF(NB32_Q5_1)
MM_B32_DEF(NB32_Q8_0)
MM_B32_DEF(NB32_IQ4_NL)
#undef MM_B32_DEF

/* ---- K-quants and IQ4_XS: 2 rows x 2 tokens -------------------------------------------------- */

static inline __attribute__((always_inline)) void mm_kq_tile(int kind, int64_t nb, const uint8_t *w, size_t wrb,
                                                             const uint8_t *act, size_t arb, float *y, int64_t ldy) {
    float32x4_t acc = vdupq_n_f32(0.0f), accm = vdupq_n_f32(0.0f);
    for (int64_t b = 0; b < nb; b++) {
        nkq_block st0, st1;
        nkq_prologue(kind, w + (size_t)b * nkq_block_size[kind], &st0);
        nkq_prologue(kind, w + wrb + (size_t)b * nkq_block_size[kind], &st1);
        const block_q8_K *a0 = (const block_q8_K *)act + b;
        const block_q8_K *a1 = (const block_q8_K *)(act + arb) + b;
        int32x4_t isum = vdupq_n_s32(0);
#pragma GCC unroll 8
        for (int c = 0; c < 8; c++) {
            int8x16_t w0a, w0b, w1a, w1b;
            nkq_chunk(kind, &st0, c, &w0a, &w0b);
            nkq_chunk(kind, &st1, c, &w1a, &w1b);
            const int8x16_t x0a = vld1q_s8(a0->qs + 32 * c), x0b = vld1q_s8(a0->qs + 32 * c + 16);
            const int8x16_t x1a = vld1q_s8(a1->qs + 32 * c), x1b = vld1q_s8(a1->qs + 32 * c + 16);
            const int32x4_t z = vdupq_n_s32(0);
            if (nkq_groups16(kind)) {
                const int32_t sa[4] = {st0.sc[2 * c], st0.sc[2 * c], st1.sc[2 * c], st1.sc[2 * c]};
                const int32_t sb[4] = {st0.sc[2 * c + 1], st0.sc[2 * c + 1], st1.sc[2 * c + 1], st1.sc[2 * c + 1]};
                isum = vmlaq_s32(isum, mm16(z, w0a, w1a, x0a, x1a), vld1q_s32(sa));
                isum = vmlaq_s32(isum, mm16(z, w0b, w1b, x0b, x1b), vld1q_s32(sb));
            } else {
                const int32_t sa[4] = {st0.sc[2 * c], st0.sc[2 * c], st1.sc[2 * c], st1.sc[2 * c]};
                isum = vmlaq_s32(isum, mm16(mm16(z, w0a, w1a, x0a, x1a), w0b, w1b, x0b, x1b), vld1q_s32(sa));
            }
        }
        const float dv[4] = {st0.d * a0->d, st0.d * a1->d, st1.d * a0->d, st1.d * a1->d};
        acc = vfmaq_f32(acc, vcvtq_f32_s32(isum), vld1q_f32(dv));
        if (nkq_has_min(kind)) {
            const float mv[4] = {(st0.dmin * a0->d) * (float)nkq_min_sum(&st0, a0),
                                 (st0.dmin * a1->d) * (float)nkq_min_sum(&st0, a1),
                                 (st1.dmin * a0->d) * (float)nkq_min_sum(&st1, a0),
                                 (st1.dmin * a1->d) * (float)nkq_min_sum(&st1, a1)};
            accm = vsubq_f32(accm, vld1q_f32(mv));
        }
    }
    store_2x2(vaddq_f32(acc, accm), y, ldy);
}

/* Tiles: 2 rows x 2 tokens; a leftover row or token takes the sdot tile of one row x one token. */
static inline __attribute__((always_inline)) void mm_kq_gemm(int kind, int64_t k, const void *vw, size_t wrb,
                                                             int64_t nr, const void *vact, size_t arb, int64_t nt,
                                                             float *y, int64_t ldy) {
    const uint8_t *w = vw, *act = vact;
    const int64_t nb = k / QK_K;
    int64_t t = 0;
    for (; t + 2 <= nt; t += 2) {
        int64_t r = 0;
        for (; r + 2 <= nr; r += 2)
            mm_kq_tile(kind, nb, w + (size_t)r * wrb, wrb, act + (size_t)t * arb, arb, y + t * ldy + r, ldy);
        for (; r < nr; r++)
            for (int64_t u = t; u < t + 2; u++)
                nkq_tile(kind, 1, 1, nb, w + (size_t)r * wrb, wrb, act + (size_t)u * arb, arb, y + u * ldy + r, ldy);
    }
    for (; t < nt; t++)
        for (int64_t r = 0; r < nr; r++)
            nkq_tile(kind, 1, 1, nb, w + (size_t)r * wrb, wrb, act + (size_t)t * arb, arb, y + t * ldy + r, ldy);
}

#define MM_KQ_DEF(kind)                                                                                         \
    static void mm_gemm_kq_##kind(int64_t k, const void *w, size_t wrb, int64_t nr, const void *a, size_t arb, \
                                  int64_t nt, float *y, int64_t ldy) {                                         \
        mm_kq_gemm(kind, k, w, wrb, nr, a, arb, nt, y, ldy);                                                    \
    }
MM_KQ_DEF(NKQ_Q2_K)
MM_KQ_DEF(NKQ_Q3_K)
MM_KQ_DEF(NKQ_Q4_K)
MM_KQ_DEF(NKQ_Q5_K)
MM_KQ_DEF(NKQ_Q6_K)
MM_KQ_DEF(NKQ_IQ4_XS)
#undef MM_KQ_DEF

void kernels_fill_neon_i8mm(slm_kernels *kt) {
    neon_fill_common(kt);
    static const struct {
        uint32_t type;
        slm_gemm_fn gemm;
    } tab[] = {
        {SLM_DT_Q4_0, mm_gemm_b32_NB32_Q4_0}, {SLM_DT_Q4_1, mm_gemm_b32_NB32_Q4_1},
        {SLM_DT_Q5_0, mm_gemm_b32_NB32_Q5_0}, {SLM_DT_Q5_1, mm_gemm_b32_NB32_Q5_1},
        {SLM_DT_Q8_0, mm_gemm_b32_NB32_Q8_0}, {SLM_DT_IQ4_NL, mm_gemm_b32_NB32_IQ4_NL},
        {SLM_DT_Q2_K, mm_gemm_kq_NKQ_Q2_K},   {SLM_DT_Q3_K, mm_gemm_kq_NKQ_Q3_K},
        {SLM_DT_Q4_K, mm_gemm_kq_NKQ_Q4_K},   {SLM_DT_Q5_K, mm_gemm_kq_NKQ_Q5_K},
        {SLM_DT_Q6_K, mm_gemm_kq_NKQ_Q6_K},   {SLM_DT_IQ4_XS, mm_gemm_kq_NKQ_IQ4_XS},
    };
    for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++)
        kt->mm[tab[i].type].gemm = tab[i].gemm;
}
