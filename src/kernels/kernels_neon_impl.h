/* AArch64 NEON kernels, compiled once per feature level. Include only from kernels_neon.c
 * (ARMv8.0), kernels_neon_dot.c (+dotprod) and kernels_neon_i8mm.c (+i8mm): each is built with its
 * own -march flag and defines, before including this header,
 *
 *     static inline int32x4_t neon_dot_i8(int32x4_t acc, int8x16_t a, int8x16_t b);
 *
 * which adds the 16 products a[i] * b[i] to the lanes of acc (exact in int32; which lane gets
 * which product does not matter: every caller only uses lane totals). ARMv8.0 does it with
 * widening multiplies and pairwise adds, ARMv8.2 with one sdot.
 *
 * Method (the same as the x86 kernels, see kernels_avx2.c): activations quantized to Q8_0 / Q8_K
 * (bit-exact with the scalar reference), exact integer dot products per (sub-)block, then one
 * float multiply-add per block with the product of the scales, in 4 float lanes per (row,
 * token), reduced at the end. NEON multiplies signed by signed, so weight codes are decoded to
 * signed int8 with their offsets applied (Q4_0: q - 8, Q6_K: q - 32, Q3_K: q - 4); only the
 * Q4_1 / Q5_1 / Q2_K / Q4_K / Q5_K min terms need the activation sums.
 *
 * Tiles: R weight rows x T tokens for prompt processing (each decoded weight block serves T
 * tokens, each activation block R rows), one row x one token for generation (a single
 * sequential weight stream). */
#ifndef SLM_KERNELS_NEON_IMPL_H
#define SLM_KERNELS_NEON_IMPL_H

#include <arm_neon.h>
#include <stdint.h>
#include <string.h>

#include "kernels/kernels_internal.h"
#include "quant/quant.h"

#define NEON_INLINE static inline __attribute__((always_inline))

/* ---- Small helpers --------------------------------------------------------------------------- */

NEON_INLINE float neon_f16(slm_f16 h) {
    return vgetq_lane_f32(vcvt_f32_f16(vreinterpret_f16_u16(vdup_n_u16(h))), 0);
}

NEON_INLINE float32x4_t neon_load_f16x4(const slm_f16 *p) { return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(p))); }

NEON_INLINE float32x4_t neon_load_bf16x4(const slm_bf16 *p) {
    return vreinterpretq_f32_u32(vshll_n_u16(vld1_u16(p), 16));
}

/* roundf() followed by the reference's float -> int32 conversion (quant_trunc_i32): FCVTAS
 * rounds ties away from zero like roundf; out-of-range values and NaN become INT32_MIN as in
 * the reference instead of FCVTAS's saturation. */
NEON_INLINE int32x4_t neon_round_away_i32(float32x4_t v) {
    const uint32x4_t ok = vcaltq_f32(v, vdupq_n_f32(2147483648.0f));
    return vbslq_s32(ok, vcvtaq_s32_f32(v), vdupq_n_s32(INT32_MIN));
}

/* 16 int32 -> 16 int8 keeping the low byte of each (the reference's two's-complement narrowing). */
NEON_INLINE int8x16_t neon_narrow_i32x16(int32x4_t a, int32x4_t b, int32x4_t c, int32x4_t d) {
    const int16x8_t ab = vcombine_s16(vmovn_s32(a), vmovn_s32(b));
    const int16x8_t cd = vcombine_s16(vmovn_s32(c), vmovn_s32(d));
    return vcombine_s8(vmovn_s16(ab), vmovn_s16(cd));
}

/* 0xFF in byte j (0..31) where bit j of the little-endian 32-bit word at p is set: lo = bytes
 * 0..15, hi = 16..31. */
NEON_INLINE void neon_bits_to_bytes(const uint8_t *p, uint8x16_t *lo, uint8x16_t *hi) {
    uint32_t u;
    memcpy(&u, p, 4);
    const uint8x16_t src = vreinterpretq_u8_u32(vdupq_n_u32(u));
    static const uint8_t idx_lo[16] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1};
    static const uint8_t idx_hi[16] = {2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3};
    static const uint8_t bit[16] = {1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128};
    const uint8x16_t vb = vld1q_u8(bit);
    *lo = vtstq_u8(vqtbl1q_u8(src, vld1q_u8(idx_lo)), vb);
    *hi = vtstq_u8(vqtbl1q_u8(src, vld1q_u8(idx_hi)), vb);
}

/* ---- Activation quantizers (bit-exact with quantize_row_q8_0_ref / quantize_row_q8_K_ref) ---- */

static void neon_quantize_q8_0(const float *x, block_q8_0 *y, int64_t k) {
    for (int64_t b = 0; b < k / QK8_0; b++, x += QK8_0) {
        float32x4_t v[8];
        float32x4_t m = vdupq_n_f32(0.0f);
        for (int i = 0; i < 8; i++) {
            v[i] = vld1q_f32(x + 4 * i);
            m = vmaxnmq_f32(m, vabsq_f32(v[i]));
        }
        const float amax = vmaxnmvq_f32(m);
        const float d = amax / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[b].d = slm_f32_to_f16(d);
        int32x4_t q[8];
        for (int i = 0; i < 8; i++)
            q[i] = neon_round_away_i32(vmulq_n_f32(v[i], id));
        vst1q_s8(y[b].qs, neon_narrow_i32x16(q[0], q[1], q[2], q[3]));
        vst1q_s8(y[b].qs + 16, neon_narrow_i32x16(q[4], q[5], q[6], q[7]));
    }
}

static void neon_quant_act_q8_0(const float *x, int64_t ldx, int64_t n, int64_t k, void *act, size_t arb) {
    for (int64_t t = 0; t < n; t++)
        neon_quantize_q8_0(x + t * ldx, (block_q8_0 *)((uint8_t *)act + (size_t)t * arb), k);
}

static void neon_quantize_q8_K(const float *x, block_q8_K *y, int64_t k) {
    for (int64_t b = 0; b < k / QK_K; b++, x += QK_K) {
        float32x4_t m = vdupq_n_f32(0.0f);
        for (int i = 0; i < QK_K; i += 4)
            m = vmaxnmq_f32(m, vabsq_f32(vld1q_f32(x + i)));
        const float amax = vmaxnmvq_f32(m);
        if (!(amax > 0.0f)) { /* all zero: the reference's strict > never fires */
            memset(&y[b], 0, sizeof y[b]);
            continue;
        }
        /* The reference keeps the first element of largest magnitude, with its sign. */
        int j = 0;
        while (j < QK_K - 1 && !(__builtin_fabsf(x[j]) == amax))
            j++;
        const float iscale = -127.f / x[j];
        for (int i = 0; i < QK_K; i += 16) {
            /* Round to nearest even (the reference's magic-number rounding for |v| < 2^22), then
             * saturate: codes are >= -127 here, so saturation is the reference's MIN(127, v). */
            int16x4_t h[4];
            for (int u = 0; u < 4; u++)
                h[u] = vqmovn_s32(vcvtnq_s32_f32(vmulq_n_f32(vld1q_f32(x + i + 4 * u), iscale)));
            const int8x16_t q8 =
                vcombine_s8(vqmovn_s16(vcombine_s16(h[0], h[1])), vqmovn_s16(vcombine_s16(h[2], h[3])));
            vst1q_s8(y[b].qs + i, q8);
            y[b].bsums[i / 16] = vaddlvq_s8(q8);
        }
        y[b].d = 1 / iscale;
    }
}

static void neon_quant_act_q8_K(const float *x, int64_t ldx, int64_t n, int64_t k, void *act, size_t arb) {
    for (int64_t t = 0; t < n; t++)
        neon_quantize_q8_K(x + t * ldx, (block_q8_K *)((uint8_t *)act + (size_t)t * arb), k);
}

/* ---- 32-element blocks against Q8_0 activations ---------------------------------------------- */

enum { NB32_Q4_0, NB32_Q4_1, NB32_Q5_0, NB32_Q5_1, NB32_Q8_0, NB32_IQ4_NL };

static const size_t nb32_block_size[] = {sizeof(block_q4_0), sizeof(block_q4_1), sizeof(block_q5_0),
                                         sizeof(block_q5_1), sizeof(block_q8_0), sizeof(block_iq4_nl)};

NEON_INLINE int nb32_has_min(int kind) { return kind == NB32_Q4_1 || kind == NB32_Q5_1; }

/* Codes of block b of a row as signed int8 in element order (lo: 0..15, hi: 16..31), offsets
 * applied for the symmetric types and unsigned 0..31 for Q4_1 / Q5_1; *d and *m the scales. */
NEON_INLINE void nb32_unpack(int kind, const uint8_t *row, int64_t b, int8x16_t *lo, int8x16_t *hi, float *d,
                             float *m) {
    const uint8_t *blk = row + (size_t)b * nb32_block_size[kind];
    const uint8x16_t m4 = vdupq_n_u8(0x0F);
    switch (kind) {
    case NB32_Q4_0: {
        const block_q4_0 *x = (const block_q4_0 *)blk;
        const uint8x16_t raw = vld1q_u8(x->qs);
        *d = neon_f16(x->d);
        *lo = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(raw, m4)), vdupq_n_s8(8));
        *hi = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(raw, 4)), vdupq_n_s8(8));
        break;
    }
    case NB32_Q4_1: {
        const block_q4_1 *x = (const block_q4_1 *)blk;
        const uint8x16_t raw = vld1q_u8(x->qs);
        *d = neon_f16(x->d);
        *m = neon_f16(x->m);
        *lo = vreinterpretq_s8_u8(vandq_u8(raw, m4));
        *hi = vreinterpretq_s8_u8(vshrq_n_u8(raw, 4));
        break;
    }
    case NB32_Q5_0: {
        const block_q5_0 *x = (const block_q5_0 *)blk;
        const uint8x16_t raw = vld1q_u8(x->qs);
        uint8x16_t hl, hh;
        neon_bits_to_bytes(x->qh, &hl, &hh);
        *d = neon_f16(x->d);
        /* q - 16 = nibble | 0xF0 where the fifth bit is clear (as int8). */
        const uint8x16_t f0 = vdupq_n_u8(0xF0);
        *lo = vreinterpretq_s8_u8(vorrq_u8(vandq_u8(raw, m4), vbicq_u8(f0, hl)));
        *hi = vreinterpretq_s8_u8(vorrq_u8(vshrq_n_u8(raw, 4), vbicq_u8(f0, hh)));
        break;
    }
    case NB32_Q5_1: {
        const block_q5_1 *x = (const block_q5_1 *)blk;
        const uint8x16_t raw = vld1q_u8(x->qs);
        uint8x16_t hl, hh;
        neon_bits_to_bytes(x->qh, &hl, &hh);
        *d = neon_f16(x->d);
        *m = neon_f16(x->m);
        const uint8x16_t b4 = vdupq_n_u8(0x10);
        *lo = vreinterpretq_s8_u8(vorrq_u8(vandq_u8(raw, m4), vandq_u8(hl, b4)));
        *hi = vreinterpretq_s8_u8(vorrq_u8(vshrq_n_u8(raw, 4), vandq_u8(hh, b4)));
        break;
    }
    case NB32_Q8_0: {
        const block_q8_0 *x = (const block_q8_0 *)blk;
        *d = neon_f16(x->d);
        *lo = vld1q_s8(x->qs);
        *hi = vld1q_s8(x->qs + 16);
        break;
    }
    default: { /* NB32_IQ4_NL */
        const block_iq4_nl *x = (const block_iq4_nl *)blk;
        const uint8x16_t raw = vld1q_u8(x->qs);
        const int8x16_t tab = vld1q_s8(kvalues_iq4nl);
        *d = neon_f16(x->d);
        *lo = vqtbl1q_s8(tab, vandq_u8(raw, m4));
        *hi = vqtbl1q_s8(tab, vshrq_n_u8(raw, 4));
        break;
    }
    }
}

/* Sum of the 32 activation codes of a Q8_0 block (the Q4_1 / Q5_1 min term multiplies it). */
NEON_INLINE int32_t nb32_act_sum(int8x16_t lo, int8x16_t hi) {
    return (int32_t)vaddlvq_s16(vaddq_s16(vpaddlq_s8(lo), vpaddlq_s8(hi)));
}

/* R x T tile over all nb blocks: acc lanes per (row, token), the min terms in scalars. */
NEON_INLINE void nb32_tile(int kind, int R, int T, int64_t nb, const uint8_t *w, size_t wrb, const uint8_t *act,
                           size_t arb, float *y, int64_t ldy) {
    float32x4_t acc[4][4];
    float accm[4][4];
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
        for (int t = 0; t < T; t++) {
            acc[r][t] = vdupq_n_f32(0.0f);
            accm[r][t] = 0.0f;
        }
    for (int64_t b = 0; b < nb; b++) {
        int8x16_t wl[4], wh[4];
        float dw[4], mw[4];
#pragma GCC unroll 4
        for (int r = 0; r < R; r++)
            nb32_unpack(kind, w + (size_t)r * wrb, b, &wl[r], &wh[r], &dw[r], &mw[r]);
#pragma GCC unroll 4
        for (int t = 0; t < T; t++) {
            const block_q8_0 *a = (const block_q8_0 *)(act + (size_t)t * arb) + b;
            const int8x16_t al = vld1q_s8(a->qs), ah = vld1q_s8(a->qs + 16);
            const float da = neon_f16(a->d);
            const float asum = nb32_has_min(kind) ? (float)nb32_act_sum(al, ah) : 0.0f;
#pragma GCC unroll 4
            for (int r = 0; r < R; r++) {
                const int32x4_t p = neon_dot_i8(neon_dot_i8(vdupq_n_s32(0), wl[r], al), wh[r], ah);
                acc[r][t] = vfmaq_n_f32(acc[r][t], vcvtq_f32_s32(p), dw[r] * da);
                if (nb32_has_min(kind)) accm[r][t] += asum * (mw[r] * da);
            }
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
        for (int t = 0; t < T; t++)
            y[t * ldy + r] = vaddvq_f32(acc[r][t]) + accm[r][t];
}

/* Tiles: 2 rows x 4 tokens while 4 tokens remain, then one row x one token. */
NEON_INLINE void nb32_gemm(int kind, int64_t k, const void *vw, size_t wrb, int64_t nr, const void *vact, size_t arb,
                           int64_t nt, float *y, int64_t ldy) {
    const uint8_t *w = vw, *act = vact;
    const int64_t nb = k / 32;
    int64_t t = 0;
    for (; t + 4 <= nt; t += 4) {
        int64_t r = 0;
        for (; r + 2 <= nr; r += 2)
            nb32_tile(kind, 2, 4, nb, w + (size_t)r * wrb, wrb, act + (size_t)t * arb, arb, y + t * ldy + r, ldy);
        for (; r < nr; r++)
            nb32_tile(kind, 1, 4, nb, w + (size_t)r * wrb, wrb, act + (size_t)t * arb, arb, y + t * ldy + r, ldy);
    }
    for (; t < nt; t++)
        for (int64_t r = 0; r < nr; r++)
            nb32_tile(kind, 1, 1, nb, w + (size_t)r * wrb, wrb, act + (size_t)t * arb, arb, y + t * ldy + r, ldy);
}

#define NB32_DEF(kind)                                                                                             \
    static void neon_gemm_b32_##kind(int64_t k, const void *w, size_t wrb, int64_t nr, const void *a, size_t arb, \
                                     int64_t nt, float *y, int64_t ldy) {                                         \
        nb32_gemm(kind, k, w, wrb, nr, a, arb, nt, y, ldy);                                                        \
    }
NB32_DEF(NB32_Q4_0)
NB32_DEF(NB32_Q4_1)
NB32_DEF(NB32_Q5_0)
NB32_DEF(NB32_Q5_1)
NB32_DEF(NB32_Q8_0)
NB32_DEF(NB32_IQ4_NL)
#undef NB32_DEF

#include "kernels/kernels_neon_kquants.h"

/* ---- Float weights against float32 activations --------------------------------------------- */

enum { NFW_F32, NFW_F16, NFW_BF16 };

NEON_INLINE float32x4_t nfw_load4(int kind, const uint8_t *row, int64_t i) {
    switch (kind) {
    case NFW_F32:
        return vld1q_f32((const float *)row + i);
    case NFW_F16:
        return neon_load_f16x4((const slm_f16 *)row + i);
    default:
        return neon_load_bf16x4((const slm_bf16 *)row + i);
    }
}

NEON_INLINE float nfw_load1(int kind, const uint8_t *row, int64_t i) {
    switch (kind) {
    case NFW_F32:
        return ((const float *)row)[i];
    case NFW_F16:
        return neon_f16(((const slm_f16 *)row)[i]);
    default:
        return slm_bf16_to_f32(((const slm_bf16 *)row)[i]);
    }
}

/* R x T tile (R, T <= 4): 4 float lanes per (row, token), tails in scalar. T == 1 is the
 * generation path: one row, two accumulators so consecutive fmas do not wait on each other. */
NEON_INLINE void nfw_tile(int kind, int R, int T, int64_t k, const uint8_t *w, size_t wrb, const uint8_t *act,
                          size_t arb, float *y, int64_t ldy) {
    float32x4_t acc[4][4], acc2 = vdupq_n_f32(0.0f);
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
        for (int t = 0; t < T; t++)
            acc[r][t] = vdupq_n_f32(0.0f);
    int64_t i = 0;
    if (R == 1 && T == 1) {
        const float *a = (const float *)act;
        for (; i + 8 <= k; i += 8) {
            acc[0][0] = vfmaq_f32(acc[0][0], nfw_load4(kind, w, i), vld1q_f32(a + i));
            acc2 = vfmaq_f32(acc2, nfw_load4(kind, w, i + 4), vld1q_f32(a + i + 4));
        }
    }
    for (; i + 4 <= k; i += 4) {
        float32x4_t wv[4];
#pragma GCC unroll 4
        for (int r = 0; r < R; r++)
            wv[r] = nfw_load4(kind, w + (size_t)r * wrb, i);
#pragma GCC unroll 4
        for (int t = 0; t < T; t++) {
            const float32x4_t av = vld1q_f32((const float *)(act + (size_t)t * arb) + i);
#pragma GCC unroll 4
            for (int r = 0; r < R; r++)
                acc[r][t] = vfmaq_f32(acc[r][t], wv[r], av);
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
        for (int t = 0; t < T; t++) {
            float s = vaddvq_f32(R == 1 && T == 1 ? vaddq_f32(acc[r][t], acc2) : acc[r][t]);
            const float *a = (const float *)(act + (size_t)t * arb);
            for (int64_t j = i; j < k; j++)
                s += nfw_load1(kind, w + (size_t)r * wrb, j) * a[j];
            y[t * ldy + r] = s;
        }
}

/* Tiles: 4 rows x 2 tokens while 2 tokens remain, then one row x one token. */
NEON_INLINE void nfw_gemm(int kind, int64_t k, const void *vw, size_t wrb, int64_t nr, const void *vact, size_t arb,
                          int64_t nt, float *y, int64_t ldy) {
    const uint8_t *w = vw, *act = vact;
    int64_t t = 0;
    for (; t + 2 <= nt; t += 2) {
        int64_t r = 0;
        for (; r + 4 <= nr; r += 4)
            nfw_tile(kind, 4, 2, k, w + (size_t)r * wrb, wrb, act + (size_t)t * arb, arb, y + t * ldy + r, ldy);
        for (; r < nr; r++)
            nfw_tile(kind, 1, 2, k, w + (size_t)r * wrb, wrb, act + (size_t)t * arb, arb, y + t * ldy + r, ldy);
    }
    for (; t < nt; t++)
        for (int64_t r = 0; r < nr; r++)
            nfw_tile(kind, 1, 1, k, w + (size_t)r * wrb, wrb, act + (size_t)t * arb, arb, y + t * ldy + r, ldy);
}

static void neon_gemm_f32(int64_t k, const void *w, size_t wrb, int64_t nr, const void *a, size_t arb, int64_t nt,
                          float *y, int64_t ldy) {
    nfw_gemm(NFW_F32, k, w, wrb, nr, a, arb, nt, y, ldy);
}
static void neon_gemm_f16(int64_t k, const void *w, size_t wrb, int64_t nr, const void *a, size_t arb, int64_t nt,
                          float *y, int64_t ldy) {
    nfw_gemm(NFW_F16, k, w, wrb, nr, a, arb, nt, y, ldy);
}
static void neon_gemm_bf16(int64_t k, const void *w, size_t wrb, int64_t nr, const void *a, size_t arb, int64_t nt,
                           float *y, int64_t ldy) {
    nfw_gemm(NFW_BF16, k, w, wrb, nr, a, arb, nt, y, ldy);
}

/* ---- Vector ops ------------------------------------------------------------------------------ */

static float neon_vdot_f32(const float *a, const float *b, int64_t n) {
    float32x4_t s0 = vdupq_n_f32(0.0f), s1 = s0, s2 = s0, s3 = s0;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        s0 = vfmaq_f32(s0, vld1q_f32(a + i), vld1q_f32(b + i));
        s1 = vfmaq_f32(s1, vld1q_f32(a + i + 4), vld1q_f32(b + i + 4));
        s2 = vfmaq_f32(s2, vld1q_f32(a + i + 8), vld1q_f32(b + i + 8));
        s3 = vfmaq_f32(s3, vld1q_f32(a + i + 12), vld1q_f32(b + i + 12));
    }
    for (; i + 4 <= n; i += 4)
        s0 = vfmaq_f32(s0, vld1q_f32(a + i), vld1q_f32(b + i));
    float s = vaddvq_f32(vaddq_f32(vaddq_f32(s0, s1), vaddq_f32(s2, s3)));
    for (; i < n; i++)
        s += a[i] * b[i];
    return s;
}

static float neon_vdot_f16_f32(const slm_f16 *a, const float *b, int64_t n) {
    float32x4_t s0 = vdupq_n_f32(0.0f), s1 = s0, s2 = s0, s3 = s0;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        s0 = vfmaq_f32(s0, neon_load_f16x4(a + i), vld1q_f32(b + i));
        s1 = vfmaq_f32(s1, neon_load_f16x4(a + i + 4), vld1q_f32(b + i + 4));
        s2 = vfmaq_f32(s2, neon_load_f16x4(a + i + 8), vld1q_f32(b + i + 8));
        s3 = vfmaq_f32(s3, neon_load_f16x4(a + i + 12), vld1q_f32(b + i + 12));
    }
    for (; i + 4 <= n; i += 4)
        s0 = vfmaq_f32(s0, neon_load_f16x4(a + i), vld1q_f32(b + i));
    float s = vaddvq_f32(vaddq_f32(vaddq_f32(s0, s1), vaddq_f32(s2, s3)));
    for (; i < n; i++)
        s += neon_f16(a[i]) * b[i];
    return s;
}

static void neon_vaxpy_f32(float *y, float a, const float *x, int64_t n) {
    int64_t i = 0;
    for (; i + 4 <= n; i += 4)
        vst1q_f32(y + i, vfmaq_n_f32(vld1q_f32(y + i), vld1q_f32(x + i), a));
    for (; i < n; i++)
        y[i] += a * x[i];
}

static void neon_vaxpy_f16(float *y, float a, const slm_f16 *x, int64_t n) {
    int64_t i = 0;
    for (; i + 4 <= n; i += 4)
        vst1q_f32(y + i, vfmaq_n_f32(vld1q_f32(y + i), neon_load_f16x4(x + i), a));
    for (; i < n; i++)
        y[i] += a * neon_f16(x[i]);
}

static void neon_vscale_f32(float *y, float a, int64_t n) {
    int64_t i = 0;
    for (; i + 4 <= n; i += 4)
        vst1q_f32(y + i, vmulq_n_f32(vld1q_f32(y + i), a));
    for (; i < n; i++)
        y[i] *= a;
}

/* FCVT rounds to nearest even (FPCR default), keeps subnormals (FZ16 off) and quiets NaNs keeping
 * the top payload bits: the same bits as slm_f32_to_f16. */
static void neon_vf32_to_f16(const float *x, slm_f16 *y, int64_t n) {
    int64_t i = 0;
    for (; i + 4 <= n; i += 4)
        vst1_u16(y + i, vreinterpret_u16_f16(vcvt_f16_f32(vld1q_f32(x + i))));
    for (; i < n; i++)
        y[i] = slm_f32_to_f16(x[i]);
}

static void neon_vf16_to_f32(const slm_f16 *x, float *y, int64_t n) {
    int64_t i = 0;
    for (; i + 4 <= n; i += 4)
        vst1q_f32(y + i, neon_load_f16x4(x + i));
    for (; i < n; i++)
        y[i] = slm_f16_to_f32(x[i]);
}

static void neon_vq8_0_from_f32(const float *x, void *y, int64_t n) { neon_quantize_q8_0(x, y, n); }

static void neon_vq8_0_to_f32(const void *vx, float *y, int64_t n) {
    const block_q8_0 *x = vx;
    for (int64_t b = 0; b < n / QK8_0; b++, y += QK8_0) {
        const float d = neon_f16(x[b].d);
        for (int i = 0; i < 32; i += 8) {
            const int16x8_t q = vmovl_s8(vld1_s8(x[b].qs + i));
            vst1q_f32(y + i, vmulq_n_f32(vcvtq_f32_s32(vmovl_s16(vget_low_s16(q))), d));
            vst1q_f32(y + i + 4, vmulq_n_f32(vcvtq_f32_s32(vmovl_high_s16(q)), d));
        }
    }
}

/* ---- Attention over f16 / Q8_0 KV rows (kernels.h attn_*) ------------------------------------ */

/* Elements 4p .. 4p+3 of a KV row as floats: f16, or Q8_0 blocks (d * qs) dequantized in
 * registers. */
enum { NKV_F16, NKV_Q8 };
NEON_INLINE float32x4_t neon_kv_piece(int kind, const void *row, int64_t p) {
    if (kind == NKV_F16) return neon_load_f16x4((const slm_f16 *)row + 4 * p);
    const block_q8_0 *b = (const block_q8_0 *)row + p / 8;
    int32_t u; /* 4 codes: a wider load could run past the cache's last block */
    memcpy(&u, b->qs + 4 * (p % 8), 4);
    const int16x4_t w = vget_low_s16(vmovl_s8(vreinterpret_s8_s32(vdup_n_s32(u))));
    return vmulq_n_f32(vcvtq_f32_s32(vmovl_s16(w)), neon_f16(b->d));
}

/* s[j * ld_s + i] = q_j . row_i for NH <= 4 heads (hd a multiple of 4). */
NEON_INLINE void neon_scores_block(int kind, const float *q, int64_t hd, const void *const *k, int n, float *s,
                                   int64_t ld_s, const int NH) {
    for (int i = 0; i < n; i++) {
        float32x4_t acc[4] = {vdupq_n_f32(0), vdupq_n_f32(0), vdupq_n_f32(0), vdupq_n_f32(0)};
        for (int64_t p = 0; p < hd / 4; p++) {
            const float32x4_t kv = neon_kv_piece(kind, k[i], p);
            for (int j = 0; j < NH; j++) acc[j] = vfmaq_f32(acc[j], kv, vld1q_f32(q + j * hd + 4 * p));
        }
        for (int j = 0; j < NH; j++) s[j * ld_s + i] = vaddvq_f32(acc[j]);
    }
}

/* acc[j * hd + d] += sum_i p[j * ld_p + i] * row_i[d] for NH <= 4 heads. */
NEON_INLINE void neon_accum_block(int kind, float *acc, int64_t hd, const void *const *v, int n, const float *p,
                                  int64_t ld_p, const int NH) {
    for (int64_t pc = 0; pc < hd / 4; pc++) {
        float32x4_t a[4];
        for (int j = 0; j < NH; j++) a[j] = vld1q_f32(acc + j * hd + 4 * pc);
        for (int i = 0; i < n; i++) {
            const float32x4_t vv = neon_kv_piece(kind, v[i], pc);
            for (int j = 0; j < NH; j++) a[j] = vfmaq_n_f32(a[j], vv, p[j * ld_p + i]);
        }
        for (int j = 0; j < NH; j++) vst1q_f32(acc + j * hd + 4 * pc, a[j]);
    }
}

/* Heads in groups of 4, the rest 3/2/1 (each a fully unrolled instance). */
#define NEON_HEAD_GROUPS(CALL, n_heads)                                                                          \
    do {                                                                                                          \
        int64_t h = 0;                                                                                            \
        for (; h + 4 <= (n_heads); h += 4) CALL(4);                                                              \
        switch ((n_heads) - h) {                                                                                  \
        case 3: CALL(3); break;                                                                                   \
        case 2: CALL(2); break;                                                                                   \
        case 1: CALL(1); break;                                                                                   \
        default: break;                                                                                           \
        }                                                                                                         \
    } while (0)

/* The f16 entries take any hd; a remainder of hd % 4 elements goes through the scalar fallback
 * (never the case for real head sizes). */
static void (*neon_scores_f16_ref)(const float *, int64_t, int64_t, const slm_f16 *const *, int, float *, int64_t);
static void (*neon_accum_f16_ref)(float *, int64_t, int64_t, const slm_f16 *const *, int, const float *, int64_t);

static void neon_attn_scores_f16(const float *q, int64_t n_heads, int64_t hd, const slm_f16 *const *k, int n,
                                 float *s, int64_t ld_s) {
    if (hd % 4) {
        neon_scores_f16_ref(q, n_heads, hd, k, n, s, ld_s);
        return;
    }
#define SC(NH) neon_scores_block(NKV_F16, q + h * hd, hd, (const void *const *)k, n, s + h * ld_s, ld_s, NH)
    NEON_HEAD_GROUPS(SC, n_heads);
#undef SC
}

static void neon_attn_accum_f16(float *acc, int64_t n_heads, int64_t hd, const slm_f16 *const *v, int n,
                                const float *p, int64_t ld_p) {
    if (hd % 4) {
        neon_accum_f16_ref(acc, n_heads, hd, v, n, p, ld_p);
        return;
    }
#define AC(NH) neon_accum_block(NKV_F16, acc + h * hd, hd, (const void *const *)v, n, p + h * ld_p, ld_p, NH)
    NEON_HEAD_GROUPS(AC, n_heads);
#undef AC
}

static void neon_attn_scores_q8(const float *q, int64_t n_heads, int64_t hd, const block_q8_0 *const *k, int n,
                                float *s, int64_t ld_s) {
#define SC(NH) neon_scores_block(NKV_Q8, q + h * hd, hd, (const void *const *)k, n, s + h * ld_s, ld_s, NH)
    NEON_HEAD_GROUPS(SC, n_heads);
#undef SC
}

static void neon_attn_accum_q8(float *acc, int64_t n_heads, int64_t hd, const block_q8_0 *const *v, int n,
                               const float *p, int64_t ld_p) {
#define AC(NH) neon_accum_block(NKV_Q8, acc + h * hd, hd, (const void *const *)v, n, p + h * ld_p, ld_p, NH)
    NEON_HEAD_GROUPS(AC, n_heads);
#undef AC
}
#undef NEON_HEAD_GROUPS

/* ---- Precise tiles (kernels.h gemm2) ------------------------------------------------------- */

/* Token t has two activation rows, 2t (q8(x)) and 2t+1 (q8 of its rounding residual). The tiles
 * above run on both as if they were two tokens (the weight blocks are decoded once for both) and
 * the pair is summed, as the scalar gemm2 does: 2 rows x 2 tokens (4 activation rows) while 2
 * tokens remain, then one row x one token (2 activation rows). */
#define NEON_GEMM2_DEF(fname, tile, kind, blk)                                                                  \
    static void fname(int64_t k, const void *vw, size_t wrb, int64_t nr, const void *vact, size_t arb,          \
                      int64_t nt, float *y, int64_t ldy) {                                                      \
        const uint8_t *w = vw, *act = vact;                                                                     \
        const int64_t nb = k / (blk);                                                                           \
        float tmp[8]; /* tmp[activation row * ldt + row] */                                                    \
        int64_t t = 0;                                                                                          \
        for (; t + 2 <= nt; t += 2) {                                                                           \
            const uint8_t *a = act + (size_t)(2 * t) * arb;                                                     \
            int64_t r = 0;                                                                                      \
            for (; r + 2 <= nr; r += 2) {                                                                       \
                tile(kind, 2, 4, nb, w + (size_t)r * wrb, wrb, a, arb, tmp, 2);                                 \
                for (int u = 0; u < 2; u++)                                                                     \
                    for (int rr = 0; rr < 2; rr++)                                                              \
                        y[(t + u) * ldy + r + rr] = tmp[4 * u + rr] + tmp[4 * u + 2 + rr];                      \
            }                                                                                                   \
            for (; r < nr; r++) {                                                                               \
                tile(kind, 1, 4, nb, w + (size_t)r * wrb, wrb, a, arb, tmp, 1);                                 \
                y[t * ldy + r] = tmp[0] + tmp[1];                                                               \
                y[(t + 1) * ldy + r] = tmp[2] + tmp[3];                                                         \
            }                                                                                                   \
        }                                                                                                       \
        for (; t < nt; t++)                                                                                     \
            for (int64_t r = 0; r < nr; r++) {                                                                  \
                tile(kind, 1, 2, nb, w + (size_t)r * wrb, wrb, act + (size_t)(2 * t) * arb, arb, tmp, 1);       \
                y[t * ldy + r] = tmp[0] + tmp[1];                                                               \
            }                                                                                                   \
    }
NEON_GEMM2_DEF(neon_gemm2_q4_0, nb32_tile, NB32_Q4_0, 32)
NEON_GEMM2_DEF(neon_gemm2_q4_1, nb32_tile, NB32_Q4_1, 32)
NEON_GEMM2_DEF(neon_gemm2_q5_0, nb32_tile, NB32_Q5_0, 32)
NEON_GEMM2_DEF(neon_gemm2_q5_1, nb32_tile, NB32_Q5_1, 32)
NEON_GEMM2_DEF(neon_gemm2_q8_0, nb32_tile, NB32_Q8_0, 32)
NEON_GEMM2_DEF(neon_gemm2_iq4_nl, nb32_tile, NB32_IQ4_NL, 32)
NEON_GEMM2_DEF(neon_gemm2_q2_K, nkq_tile, NKQ_Q2_K, QK_K)
NEON_GEMM2_DEF(neon_gemm2_q3_K, nkq_tile, NKQ_Q3_K, QK_K)
NEON_GEMM2_DEF(neon_gemm2_q4_K, nkq_tile, NKQ_Q4_K, QK_K)
NEON_GEMM2_DEF(neon_gemm2_q5_K, nkq_tile, NKQ_Q5_K, QK_K)
NEON_GEMM2_DEF(neon_gemm2_q6_K, nkq_tile, NKQ_Q6_K, QK_K)
NEON_GEMM2_DEF(neon_gemm2_iq4_xs, nkq_tile, NKQ_IQ4_XS, QK_K)
#undef NEON_GEMM2_DEF

/* Overwrite every entry of a scalar-filled table with this feature level's version. */
static void neon_fill_common(slm_kernels *kt) {
    static const struct {
        uint32_t type;
        slm_gemm_fn gemm, gemm2; /* gemm2 NULL for float weights (no precise tile) */
    } tab[] = {
        {SLM_DT_Q4_0, neon_gemm_b32_NB32_Q4_0, neon_gemm2_q4_0},
        {SLM_DT_Q4_1, neon_gemm_b32_NB32_Q4_1, neon_gemm2_q4_1},
        {SLM_DT_Q5_0, neon_gemm_b32_NB32_Q5_0, neon_gemm2_q5_0},
        {SLM_DT_Q5_1, neon_gemm_b32_NB32_Q5_1, neon_gemm2_q5_1},
        {SLM_DT_Q8_0, neon_gemm_b32_NB32_Q8_0, neon_gemm2_q8_0},
        {SLM_DT_IQ4_NL, neon_gemm_b32_NB32_IQ4_NL, neon_gemm2_iq4_nl},
        {SLM_DT_Q2_K, neon_gemm_kq_NKQ_Q2_K, neon_gemm2_q2_K},
        {SLM_DT_Q3_K, neon_gemm_kq_NKQ_Q3_K, neon_gemm2_q3_K},
        {SLM_DT_Q4_K, neon_gemm_kq_NKQ_Q4_K, neon_gemm2_q4_K},
        {SLM_DT_Q5_K, neon_gemm_kq_NKQ_Q5_K, neon_gemm2_q5_K},
        {SLM_DT_Q6_K, neon_gemm_kq_NKQ_Q6_K, neon_gemm2_q6_K},
        {SLM_DT_IQ4_XS, neon_gemm_kq_NKQ_IQ4_XS, neon_gemm2_iq4_xs},
        {SLM_DT_F32, neon_gemm_f32, NULL},
        {SLM_DT_F16, neon_gemm_f16, NULL},
        {SLM_DT_BF16, neon_gemm_bf16, NULL},
    };
    for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++) {
        slm_matmul_kernel *m = &kt->mm[tab[i].type];
        m->gemm = tab[i].gemm;
        m->gemm2 = tab[i].gemm2;
        if (m->act_type == SLM_DT_Q8_0) m->quant_act = neon_quant_act_q8_0;
        if (m->act_type == SLM_DT_Q8_K) m->quant_act = neon_quant_act_q8_K;
    }
    kt->dot_f32 = neon_vdot_f32;
    kt->dot_f16_f32 = neon_vdot_f16_f32;
    kt->axpy_f32 = neon_vaxpy_f32;
    kt->axpy_f16 = neon_vaxpy_f16;
    kt->scale_f32 = neon_vscale_f32;
    kt->f32_to_f16 = neon_vf32_to_f16;
    kt->f16_to_f32 = neon_vf16_to_f32;
    kt->q8_0_from_f32 = neon_vq8_0_from_f32;
    kt->q8_0_to_f32 = neon_vq8_0_to_f32;
    neon_scores_f16_ref = kt->attn_scores_f16; /* the scalar entries, for odd head sizes */
    neon_accum_f16_ref = kt->attn_accum_f16;
    kt->attn_scores_f16 = neon_attn_scores_f16;
    kt->attn_accum_f16 = neon_attn_accum_f16;
    kt->attn_scores_q8 = neon_attn_scores_q8;
    kt->attn_accum_q8 = neon_attn_accum_q8;
}

#endif
