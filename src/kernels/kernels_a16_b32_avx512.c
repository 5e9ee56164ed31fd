/* AVX-512 gemm16 tiles for the 32-element weight types (Q4_0 Q4_1 Q5_0 Q5_1 Q8_0 IQ4_NL) against
 * block_a16_32 activations, and the two a16 quantizers (bit-exact with kernels_a16_scalar.c).
 *
 * A weight block is decoded once per tile into 32 signed int16 weights, one zmm (Q4_0: nibble - 8,
 * Q5_0: code - 16, Q8_0: the int8, IQ4_NL: the table value; Q4_1 / Q5_1: the unsigned code, their
 * min term m * d_a * sum(a) is added separately). One vpdpwssd with the activation block gives 16
 * exact int32 partial sums; they are converted and scaled by d_w * d_a into a float accumulator per
 * (row, token), reduced once at the end. Per block and (row, token) that is 4 vector ops, against 2
 * for the 8-bit pair tiles (64 int8 lanes hold two blocks): the price of 16-bit codes.
 *
 * Tiles: 4 rows x 4 tokens for prompt processing (16 accumulators + 4 decoded blocks + activation
 * in the 32 zmm registers; each decode serves 4 tokens, each activation load 4 rows; block pairs,
 * see b_decode_pair), one row x one token for generation (b_dot1, 256-bit halves: measured 1.36x
 * faster than 512-bit blocks on Zen 4 for Q4_0). */
#include <immintrin.h>
#include <math.h>
#include <stddef.h>
#include <string.h>

#include "kernels/kernels_a16_b32.h"
#include "kernels/kernels_internal.h"
#include "quant/quant.h"

/* ---- Quantizers ------------------------------------------------------------------------------ */

/* n (a multiple of 16) floats -> int16 codes and their int32 sums per 16 (sums16, may be NULL),
 * the kernels.h rule: amax over the block, id = QMAX / amax, round half even, d = amax / QMAX. */
static inline void a16_quant_block(const float *x, int n, int qmax, int16_t *q, float *d, int32_t *sums16,
                                   int32_t *sum) {
    __m512 m = _mm512_setzero_ps();
    for (int i = 0; i < n; i += 16) /* |x| first: a NaN operand loses to m (maxps returns src2) */
        m = _mm512_max_ps(_mm512_abs_ps(_mm512_loadu_ps(x + i)), m);
    const float amax = _mm512_reduce_max_ps(m);
    int32_t total = 0;
    if (!(amax > 0.0f) || !isfinite(amax)) {
        memset(q, 0, (size_t)n * sizeof *q);
        *d = amax > 0.0f ? amax : 0.0f;
        if (sums16) memset(sums16, 0, (size_t)(n / 16) * sizeof *sums16);
        *sum = 0;
        return;
    }
    const __m512 id = _mm512_set1_ps((float)qmax / amax);
    for (int i = 0; i < n; i += 16) {
        const __m512 v = _mm512_mul_ps(_mm512_loadu_ps(x + i), id);
        /* NaN -> 0 like the reference; |v| <= qmax + rounding of id, so no clamp is needed */
        const __m512i c = _mm512_maskz_cvtps_epi32(_mm512_cmp_ps_mask(v, v, _CMP_ORD_Q), v);
        _mm256_storeu_si256((__m256i *)(q + i), _mm512_cvtepi32_epi16(c));
        const int32_t s = _mm512_reduce_add_epi32(c);
        if (sums16) sums16[i / 16] = s;
        total += s;
    }
    *d = amax / (float)qmax;
    *sum = total;
}

static void quant_a16_32_avx512(const float *x, int64_t ldx, int64_t n_rows, int64_t k, void *act, size_t arb) {
    for (int64_t t = 0; t < n_rows; t++) {
        block_a16_32 *b = (block_a16_32 *)((uint8_t *)act + (size_t)t * arb);
        for (int64_t i = 0; i < k / 32; i++)
            a16_quant_block(x + t * ldx + i * 32, 32, SLM_A16_QMAX_32, b[i].qs, &b[i].d, NULL, &b[i].sum);
    }
}

static void quant_a16_256_avx512(const float *x, int64_t ldx, int64_t n_rows, int64_t k, void *act, size_t arb) {
    for (int64_t t = 0; t < n_rows; t++) {
        block_a16_256 *b = (block_a16_256 *)((uint8_t *)act + (size_t)t * arb);
        for (int64_t i = 0; i < k / 256; i++) {
            int32_t unused;
            a16_quant_block(x + t * ldx + i * 256, 256, SLM_A16_QMAX_256, b[i].qs, &b[i].d, b[i].bsums, &unused);
            memset(b[i].pad_, 0, sizeof b[i].pad_);
        }
    }
}

/* ---- Weight decoding ------------------------------------------------------------------------- */


/* 16 bytes of packed nibbles -> 32 bytes: low nibbles (elements 0-15), then high (16-31). */
static inline __m256i nibbles(const uint8_t *qs) {
    const __m128i raw = _mm_loadu_si128((const __m128i *)qs), m4 = _mm_set1_epi8(0x0F);
    return _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(raw, 4), m4), _mm_and_si128(raw, m4));
}

/* Block b of a row as 32 int16 weights, its scale d and (Q4_1 / Q5_1) min m. */
static inline __attribute__((always_inline)) __m512i b_decode(int kind, const uint8_t *row, int64_t b, float *d,
                                                             float *m) {
    const uint8_t *blk = row + (size_t)b * b_block_size[kind];
    slm_f16 hd;
    memcpy(&hd, blk, 2); /* d is the first member of every block */
    *d = _cvtsh_ss(hd);
    *m = 0.0f;
    switch (kind) {
    case B_Q4_0:
        return _mm512_sub_epi16(_mm512_cvtepu8_epi16(nibbles(((const block_q4_0 *)blk)->qs)), _mm512_set1_epi16(8));
    case B_Q4_1:
        *m = _cvtsh_ss(((const block_q4_1 *)blk)->m);
        return _mm512_cvtepu8_epi16(nibbles(((const block_q4_1 *)blk)->qs));
    case B_Q5_0:
    case B_Q5_1: {
        const uint8_t *qh = kind == B_Q5_0 ? ((const block_q5_0 *)blk)->qh : ((const block_q5_1 *)blk)->qh;
        const uint8_t *qs = kind == B_Q5_0 ? ((const block_q5_0 *)blk)->qs : ((const block_q5_1 *)blk)->qs;
        uint32_t h;
        memcpy(&h, qh, 4); /* bit j = fifth bit of element j */
        __m512i w = _mm512_cvtepu8_epi16(nibbles(qs));
        w = _mm512_mask_add_epi16(w, (__mmask32)h, w, _mm512_set1_epi16(16));
        if (kind == B_Q5_1) {
            *m = _cvtsh_ss(((const block_q5_1 *)blk)->m);
            return w;
        }
        return _mm512_sub_epi16(w, _mm512_set1_epi16(16));
    }
    case B_Q8_0:
        return _mm512_cvtepi8_epi16(_mm256_loadu_si256((const __m256i *)((const block_q8_0 *)blk)->qs));
    default: { /* B_IQ4_NL: the signed table value of each nibble */
        const __m128i tab = _mm_loadu_si128((const __m128i *)kvalues_iq4nl);
        return _mm512_cvtepi8_epi16(_mm256_shuffle_epi8(_mm256_set_m128i(tab, tab), nibbles(((const block_iq4_nl *)blk)->qs)));
    }
    }
}

/* Blocks in pairs for prompt tiles, in "pair order": int16 lanes 0-15 hold elements 0-15 of
 * block b and lanes 16-31 elements 0-15 of block b+1 (lo); hi holds elements 16-31 of both. The
 * activations of a pair are gathered in the same order (b_act_pair), so two vpdpwssd leave block
 * b's partial sums in int32 lanes 0-7 and block b+1's in lanes 8-15: one convert, one scale
 * multiply and one multiply-add per (row, token) serve two blocks. Prompt tiles are bound by those
 * float ops (3 per block and (row, token) otherwise), so this halves their count. For the nibble
 * types pair order is also the natural one: lo / hi are the low / high nibbles of the 16 bytes. */
static inline __attribute__((always_inline)) void b_decode_pair(int kind, const uint8_t *row, int64_t b, __m512i *lo,
                                                                __m512i *hi, float d[2], float m[2]) {
    const size_t bs = b_block_size[kind];
    const uint8_t *blk[2] = {row + (size_t)b * bs, row + (size_t)(b + 1) * bs};
    for (int j = 0; j < 2; j++) {
        slm_f16 h;
        memcpy(&h, blk[j], 2); /* d first in every block */
        d[j] = _cvtsh_ss(h);
        m[j] = 0.0f;
        if (kind == B_Q4_1 || kind == B_Q5_1) {
            memcpy(&h, blk[j] + b_m_offset(kind), 2);
            m[j] = _cvtsh_ss(h);
        }
    }
    if (kind == B_Q8_0) {
        const int8_t *q0 = ((const block_q8_0 *)blk[0])->qs, *q1 = ((const block_q8_0 *)blk[1])->qs;
        *lo = _mm512_cvtepi8_epi16(_mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)q0)),
                                                           _mm_loadu_si128((const __m128i *)q1), 1));
        *hi = _mm512_cvtepi8_epi16(_mm256_inserti128_si256(
            _mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)(q0 + 16))), _mm_loadu_si128((const __m128i *)(q1 + 16)), 1));
        return;
    }
    const size_t qo = b_qs_offset(kind);
    const __m256i raw = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)(blk[0] + qo))),
                                                _mm_loadu_si128((const __m128i *)(blk[1] + qo)), 1);
    if (kind == B_IQ4_NL) { /* table lookup on the bytes, then sign-extend */
        const __m128i t = _mm_loadu_si128((const __m128i *)kvalues_iq4nl);
        const __m256i tab = _mm256_set_m128i(t, t), m4 = _mm256_set1_epi8(0x0F);
        *lo = _mm512_cvtepi8_epi16(_mm256_shuffle_epi8(tab, _mm256_and_si256(raw, m4)));
        *hi = _mm512_cvtepi8_epi16(_mm256_shuffle_epi8(tab, _mm256_and_si256(_mm256_srli_epi16(raw, 4), m4)));
        return;
    }
    const __m512i x = _mm512_cvtepu8_epi16(raw);
    *lo = _mm512_and_si512(x, _mm512_set1_epi16(0x0F));
    *hi = _mm512_srli_epi16(x, 4);
    if (kind == B_Q5_0 || kind == B_Q5_1) { /* fifth bit of element e: bit e of the block's qh */
        const size_t ho = b_qh_offset(kind);
        uint32_t q0, q1;
        memcpy(&q0, blk[0] + ho, 4);
        memcpy(&q1, blk[1] + ho, 4);
        const __m512i s16 = _mm512_set1_epi16(16);
        *lo = _mm512_mask_add_epi16(*lo, (__mmask32)((q0 & 0xFFFFu) | (q1 & 0xFFFFu) << 16), *lo, s16);
        *hi = _mm512_mask_add_epi16(*hi, (__mmask32)((q0 >> 16) | (q1 >> 16) << 16), *hi, s16);
    }
    if (kind == B_Q4_0 || kind == B_Q5_0) {
        const __m512i off = _mm512_set1_epi16(kind == B_Q4_0 ? 8 : 16);
        *lo = _mm512_sub_epi16(*lo, off);
        *hi = _mm512_sub_epi16(*hi, off);
    }
}

/* Activation blocks b, b+1 in pair order (see b_decode_pair) and their scales, lanes 0-7 d_b,
 * lanes 8-15 d_b+1. */
static inline __attribute__((always_inline)) void b_act_pair(const uint8_t *act, int64_t b, __m512i *lo, __m512i *hi,
                                                             __m512 *da) {
    const block_a16_32 *a = (const block_a16_32 *)act + b;
    *lo = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)a[0].qs)),
                             _mm256_loadu_si256((const __m256i *)a[1].qs), 1);
    *hi = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(a[0].qs + 16))),
                             _mm256_loadu_si256((const __m256i *)(a[1].qs + 16)), 1);
    *da = _mm512_insertf32x8(_mm512_set1_ps(a[0].d), _mm256_set1_ps(a[1].d), 1);
}

/* R rows x T tokens over block pairs (nb even): y[t * ldy + r]. */
static inline __attribute__((always_inline)) void b_tile_pair(int kind, int R, int T, int64_t nb, const uint8_t *w,
                                                              size_t wrb, const uint8_t *act, size_t arb, float *y,
                                                              int64_t ldy) {
    __m512 acc[4][4];
    float macc[4][4];
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
        for (int t = 0; t < T; t++) {
            acc[r][t] = _mm512_setzero_ps();
            macc[r][t] = 0.0f;
        }
    for (int64_t b = 0; b < nb; b += 2) {
        __m512i lo[4], hi[4];
        __m512 dwv[4];
        float dw[4][2], mw[4][2];
#pragma GCC unroll 4
        for (int r = 0; r < R; r++) {
            b_decode_pair(kind, w + (size_t)r * wrb, b, &lo[r], &hi[r], dw[r], mw[r]);
            dwv[r] = _mm512_insertf32x8(_mm512_set1_ps(dw[r][0]), _mm256_set1_ps(dw[r][1]), 1);
        }
#pragma GCC unroll 4
        for (int t = 0; t < T; t++) {
            __m512i alo, ahi;
            __m512 da;
            b_act_pair(act + (size_t)t * arb, b, &alo, &ahi, &da);
#pragma GCC unroll 4
            for (int r = 0; r < R; r++) {
                const __m512i is = _mm512_dpwssd_epi32(_mm512_dpwssd_epi32(_mm512_setzero_si512(), lo[r], alo), hi[r], ahi);
                acc[r][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(is), _mm512_mul_ps(dwv[r], da), acc[r][t]);
                if (b_has_min(kind)) {
                    const block_a16_32 *a = (const block_a16_32 *)(act + (size_t)t * arb) + b;
                    macc[r][t] += mw[r][0] * a[0].d * (float)a[0].sum + mw[r][1] * a[1].d * (float)a[1].sum;
                }
            }
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
        for (int t = 0; t < T; t++) y[t * ldy + r] = _mm512_reduce_add_ps(acc[r][t]) + macc[r][t];
}

/* ---- Tiles ----------------------------------------------------------------------------------- */

/* R rows x T tokens (R, T <= 4) over all blocks: y[t * ldy + r]. */
static inline __attribute__((always_inline)) void b_tile(int kind, int R, int T, int64_t nb, const uint8_t *w,
                                                         size_t wrb, const uint8_t *act, size_t arb, float *y,
                                                         int64_t ldy) {
    __m512 acc[4][4];
    float macc[4][4]; /* the min terms (Q4_1 / Q5_1), scalar */
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
        for (int t = 0; t < T; t++) {
            acc[r][t] = _mm512_setzero_ps();
            macc[r][t] = 0.0f;
        }
    for (int64_t b = 0; b < nb; b++) {
        __m512i wq[4];
        __m512 dwv[4];
        float dw[4], mw[4];
#pragma GCC unroll 4
        for (int r = 0; r < R; r++) {
            wq[r] = b_decode(kind, w + (size_t)r * wrb, b, &dw[r], &mw[r]);
            dwv[r] = _mm512_set1_ps(dw[r]);
        }
#pragma GCC unroll 4
        for (int t = 0; t < T; t++) {
            const block_a16_32 *a = (const block_a16_32 *)(act + (size_t)t * arb) + b;
            const __m512i av = _mm512_loadu_si512((const void *)a->qs);
            const __m512 dav = _mm512_set1_ps(a->d);
#pragma GCC unroll 4
            for (int r = 0; r < R; r++) {
                /* vector scale products: a scalar multiply + broadcast per (row, token) cost more */
                const __m512i is = _mm512_dpwssd_epi32(_mm512_setzero_si512(), wq[r], av);
                acc[r][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(is), _mm512_mul_ps(dwv[r], dav), acc[r][t]);
                if (b_has_min(kind)) macc[r][t] += mw[r] * a->d * (float)a->sum;
            }
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
        for (int t = 0; t < T; t++) y[t * ldy + r] = _mm512_reduce_add_ps(acc[r][t]) + macc[r][t];
}

/* Block b of a row as two halves of 16 int16 weights (elements 0-15, 16-31) in ymm registers: for
 * generation, where the 512-bit decode's cross-lane combine of the nibble halves costs more than
 * a second 256-bit vpdpwssd. */
static inline __attribute__((always_inline)) void b_decode_halves(int kind, const uint8_t *blk, __m256i *lo,
                                                                  __m256i *hi) {
    if (kind == B_Q8_0) {
        const int8_t *q = ((const block_q8_0 *)blk)->qs;
        *lo = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)q));
        *hi = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(q + 16)));
        return;
    }
    const size_t qo = b_qs_offset(kind);
    const __m128i raw = _mm_loadu_si128((const __m128i *)(blk + qo));
    if (kind == B_IQ4_NL) {
        const __m128i tab = _mm_loadu_si128((const __m128i *)kvalues_iq4nl), m4 = _mm_set1_epi8(0x0F);
        *lo = _mm256_cvtepi8_epi16(_mm_shuffle_epi8(tab, _mm_and_si128(raw, m4)));
        *hi = _mm256_cvtepi8_epi16(_mm_shuffle_epi8(tab, _mm_and_si128(_mm_srli_epi16(raw, 4), m4)));
        return;
    }
    const __m256i x = _mm256_cvtepu8_epi16(raw);
    *lo = _mm256_and_si256(x, _mm256_set1_epi16(0x0F));
    *hi = _mm256_srli_epi16(x, 4);
    if (kind == B_Q5_0 || kind == B_Q5_1) {
        uint32_t qh;
        memcpy(&qh, blk + b_qh_offset(kind), 4);
        const __m256i s16 = _mm256_set1_epi16(16);
        *lo = _mm256_mask_add_epi16(*lo, (__mmask16)(qh & 0xFFFFu), *lo, s16);
        *hi = _mm256_mask_add_epi16(*hi, (__mmask16)(qh >> 16), *hi, s16);
    }
    if (kind == B_Q4_0 || kind == B_Q5_0) {
        const __m256i off = _mm256_set1_epi16(kind == B_Q4_0 ? 8 : 16);
        *lo = _mm256_sub_epi16(*lo, off);
        *hi = _mm256_sub_epi16(*hi, off);
    }
}

/* acc += block b of one row times one activation row (256-bit halves); min term into *macc. */
static inline __attribute__((always_inline)) __m256 b_step1(int kind, const uint8_t *w, const uint8_t *act, int64_t b,
                                                            __m256 acc, float *macc) {
    const uint8_t *blk = w + (size_t)b * b_block_size[kind];
    const block_a16_32 *a = (const block_a16_32 *)act + b;
    __m256i lo, hi;
    b_decode_halves(kind, blk, &lo, &hi);
    const __m256i is = _mm256_dpwssd_epi32(_mm256_dpwssd_epi32(_mm256_setzero_si256(), lo,
                                                               _mm256_loadu_si256((const __m256i *)a->qs)),
                                           hi, _mm256_loadu_si256((const __m256i *)(a->qs + 16)));
    slm_f16 hd;
    memcpy(&hd, blk, 2); /* d first in every block */
    if (b_has_min(kind)) {
        slm_f16 hm;
        memcpy(&hm, blk + b_m_offset(kind), 2);
        *macc += _cvtsh_ss(hm) * a->d * (float)a->sum;
    }
    return _mm256_fmadd_ps(_mm256_cvtepi32_ps(is), _mm256_set1_ps(_cvtsh_ss(hd) * a->d), acc);
}

/* One row x one token (generation): rows one after another keep a single sequential weight stream
 * (4 rows at a time measured 2x slower here), and 4 accumulators hide the fma latency that one
 * chain per row would be bound by. */
static inline __attribute__((always_inline)) float b_dot1(int kind, int64_t nb, const uint8_t *w, const uint8_t *act) {
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    float macc = 0.0f;
    int64_t b = 0;
    for (; b + 4 <= nb; b += 4)
#pragma GCC unroll 4
        for (int u = 0; u < 4; u++) acc[u] = b_step1(kind, w, act, b + u, acc[u], &macc);
    for (; b < nb; b++) acc[0] = b_step1(kind, w, act, b, acc[0], &macc);
    const __m256 s = _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]));
    const __m128 h = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
    return _mm_cvtss_f32(_mm_hadd_ps(_mm_hadd_ps(h, h), h)) + macc;
}

static inline __attribute__((always_inline)) void b_gemm(int kind, int64_t k, const void *vw, size_t wrb, int64_t nr,
                                                         const void *vact, size_t arb, int64_t nt, float *y,
                                                         int64_t ldy) {
    const uint8_t *w = vw, *act = vact;
    const int64_t nb = k / 32;
    int64_t t = 0;
    for (; t + 4 <= nt; t += 4) {
        int64_t r = 0;
        for (; r + 4 <= nr; r += 4)
            if (nb % 2 == 0)
                b_tile_pair(kind, 4, 4, nb, w + (size_t)r * wrb, wrb, act + (size_t)t * arb, arb, y + t * ldy + r, ldy);
            else
                b_tile(kind, 4, 4, nb, w + (size_t)r * wrb, wrb, act + (size_t)t * arb, arb, y + t * ldy + r, ldy);
        for (; r < nr; r++)
            b_tile(kind, 1, 4, nb, w + (size_t)r * wrb, wrb, act + (size_t)t * arb, arb, y + t * ldy + r, ldy);
    }
    for (; t < nt; t++)
        for (int64_t r = 0; r < nr; r++) y[t * ldy + r] = b_dot1(kind, nb, w + (size_t)r * wrb, act + (size_t)t * arb);
}

#define B_GEMM(name, kind)                                                                                             \
    static void gemm16_##name##_avx512(int64_t k, const void *w, size_t wrb, int64_t nr, const void *a, size_t arb,    \
                                       int64_t nt, float *y, int64_t ldy) {                                            \
        b_gemm(kind, k, w, wrb, nr, a, arb, nt, y, ldy);                                                               \
    }
B_GEMM(q4_0, B_Q4_0)
B_GEMM(q4_1, B_Q4_1)
B_GEMM(q5_0, B_Q5_0)
B_GEMM(q5_1, B_Q5_1)
B_GEMM(q8_0, B_Q8_0)
B_GEMM(iq4_nl, B_IQ4_NL)
#undef B_GEMM

void kernels_fill_a16_b32_avx512(slm_kernels *kt) {
    kt->quant_a16_32 = quant_a16_32_avx512;
    kt->quant_a16_256 = quant_a16_256_avx512;
    kt->mm[SLM_DT_Q4_0].gemm16 = gemm16_q4_0_avx512;
    kt->mm[SLM_DT_Q4_1].gemm16 = gemm16_q4_1_avx512;
    kt->mm[SLM_DT_Q5_0].gemm16 = gemm16_q5_0_avx512;
    kt->mm[SLM_DT_Q5_1].gemm16 = gemm16_q5_1_avx512;
    kt->mm[SLM_DT_Q8_0].gemm16 = gemm16_q8_0_avx512;
    kt->mm[SLM_DT_IQ4_NL].gemm16 = gemm16_iq4_nl_avx512;
}
