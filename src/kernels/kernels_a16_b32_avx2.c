/* AVX2 gemm16 for the 32-element weight types (Q4_0 Q4_1 Q5_0 Q5_1 Q8_0 IQ4_NL) against
 * block_a16_32 activations, and AVX2 a16 quantizers (bit-exact with kernels_a16_scalar.c).
 *
 * A weight block is decoded into two halves of 16 int16 weights (elements 0-15, 16-31), the same
 * values as the AVX-512 file (kernels_a16_b32_avx512.c); vpmaddwd of each half with the activation
 * codes gives exact int32 pair sums (|w| <= 127, |a| <= 32767), added, converted once and scaled by
 * d_w * d_a. Tiles: 2 rows x 4 tokens for prompt processing (8 accumulators, 4 decoded halves and
 * the activation halves fit the 16 ymm registers), one row x one token for generation. */
#include <immintrin.h>
#include <math.h>
#include <stddef.h>
#include <string.h>

#include "kernels/kernels_avx2_common.h"
#include "kernels/kernels_a16_b32.h"
#include "kernels/kernels_internal.h"
#include "quant/quant.h"

/* ---- Quantizers ------------------------------------------------------------------------------ */

/* n (a multiple of 16) floats -> int16 codes, their int32 sums per 16 (sums16, may be NULL) and
 * total, by the kernels.h rule. */
static inline void a16_quant_block_avx2(const float *x, int n, int qmax, int16_t *q, float *d, int32_t *sums16,
                                        int32_t *sum) {
    const __m256 absmask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7FFFFFFF));
    __m256 m = _mm256_setzero_ps();
    for (int i = 0; i < n; i += 8) /* |x| first: a NaN operand loses to m (maxps returns src2) */
        m = _mm256_max_ps(_mm256_and_ps(_mm256_loadu_ps(x + i), absmask), m);
    __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
    const float amax = _mm_cvtss_f32(m4);
    if (!(amax > 0.0f) || !isfinite(amax)) {
        memset(q, 0, (size_t)n * sizeof *q);
        *d = amax > 0.0f ? amax : 0.0f;
        if (sums16) memset(sums16, 0, (size_t)(n / 16) * sizeof *sums16);
        *sum = 0;
        return;
    }
    const __m256 id = _mm256_set1_ps((float)qmax / amax);
    int32_t total = 0;
    for (int i = 0; i < n; i += 16) {
        const __m256 v0 = _mm256_mul_ps(_mm256_loadu_ps(x + i), id), v1 = _mm256_mul_ps(_mm256_loadu_ps(x + i + 8), id);
        /* NaN -> 0 like the reference (cvtps2dq would give INT_MIN); no clamp is needed */
        const __m256i c0 = _mm256_and_si256(_mm256_cvtps_epi32(v0), _mm256_castps_si256(_mm256_cmp_ps(v0, v0, _CMP_ORD_Q)));
        const __m256i c1 = _mm256_and_si256(_mm256_cvtps_epi32(v1), _mm256_castps_si256(_mm256_cmp_ps(v1, v1, _CMP_ORD_Q)));
        _mm256_storeu_si256((__m256i *)(q + i), _mm256_permute4x64_epi64(_mm256_packs_epi32(c0, c1), 0xD8));
        __m256i s = _mm256_add_epi32(c0, c1);
        __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
        s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0x4E));
        s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0xB1));
        const int32_t s16 = _mm_cvtsi128_si32(s4);
        if (sums16) sums16[i / 16] = s16;
        total += s16;
    }
    *d = amax / (float)qmax;
    *sum = total;
}

static void quant_a16_32_avx2(const float *x, int64_t ldx, int64_t n_rows, int64_t k, void *act, size_t arb) {
    for (int64_t t = 0; t < n_rows; t++) {
        block_a16_32 *b = (block_a16_32 *)((uint8_t *)act + (size_t)t * arb);
        for (int64_t i = 0; i < k / 32; i++)
            a16_quant_block_avx2(x + t * ldx + i * 32, 32, SLM_A16_QMAX_32, b[i].qs, &b[i].d, NULL, &b[i].sum);
    }
}

static void quant_a16_256_avx2(const float *x, int64_t ldx, int64_t n_rows, int64_t k, void *act, size_t arb) {
    for (int64_t t = 0; t < n_rows; t++) {
        block_a16_256 *b = (block_a16_256 *)((uint8_t *)act + (size_t)t * arb);
        for (int64_t i = 0; i < k / 256; i++) {
            int32_t unused;
            a16_quant_block_avx2(x + t * ldx + i * 256, 256, SLM_A16_QMAX_256, b[i].qs, &b[i].d, b[i].bsums, &unused);
            memset(b[i].pad_, 0, sizeof b[i].pad_);
        }
    }
}

/* ---- Weight decoding ------------------------------------------------------------------------- */


/* 16 int16 lanes: 16 where bit j of bits (j = lane) is set, else 0. */
static inline __m256i bits16(uint32_t bits) {
    const __m256i sel = _mm256_setr_epi16(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384,
                                          (short)0x8000);
    const __m256i hit = _mm256_cmpeq_epi16(_mm256_and_si256(_mm256_set1_epi16((short)bits), sel), sel);
    return _mm256_and_si256(hit, _mm256_set1_epi16(16));
}

/* Block at blk as int16 weights: elements 0-15 (*lo) and 16-31 (*hi); d and (Q4_1 / Q5_1) m. */
static inline __attribute__((always_inline)) void b_decode(int kind, const uint8_t *blk, __m256i *lo, __m256i *hi,
                                                           float *d, float *m) {
    slm_f16 h;
    memcpy(&h, blk, 2); /* d first in every block */
    *d = avx2_f16(h);
    *m = 0.0f;
    if (b_has_min(kind)) {
        memcpy(&h, blk + b_m_offset(kind), 2);
        *m = avx2_f16(h);
    }
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
    if (kind == B_Q5_0 || kind == B_Q5_1) { /* fifth bit of element e: bit e of qh */
        uint32_t qh;
        memcpy(&qh, blk + b_qh_offset(kind), 4);
        *lo = _mm256_add_epi16(*lo, bits16(qh & 0xFFFFu));
        *hi = _mm256_add_epi16(*hi, bits16(qh >> 16));
    }
    if (kind == B_Q4_0 || kind == B_Q5_0) {
        const __m256i off = _mm256_set1_epi16(kind == B_Q4_0 ? 8 : 16);
        *lo = _mm256_sub_epi16(*lo, off);
        *hi = _mm256_sub_epi16(*hi, off);
    }
}

/* ---- Tiles ----------------------------------------------------------------------------------- */

/* R rows x T tokens (R <= 2, T <= 4) over all blocks: y[t * ldy + r]. */
static inline __attribute__((always_inline)) void b_tile(int kind, int R, int T, int64_t nb, const uint8_t *w,
                                                         size_t wrb, const uint8_t *act, size_t arb, float *y,
                                                         int64_t ldy) {
    __m256 acc[2][4];
    float macc[2][4];
#pragma GCC unroll 2
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
        for (int t = 0; t < T; t++) {
            acc[r][t] = _mm256_setzero_ps();
            macc[r][t] = 0.0f;
        }
    for (int64_t b = 0; b < nb; b++) {
        __m256i lo[2], hi[2];
        float dw[2], mw[2];
#pragma GCC unroll 2
        for (int r = 0; r < R; r++) b_decode(kind, w + (size_t)r * wrb + (size_t)b * b_block_size[kind], &lo[r], &hi[r], &dw[r], &mw[r]);
#pragma GCC unroll 4
        for (int t = 0; t < T; t++) {
            const block_a16_32 *a = (const block_a16_32 *)(act + (size_t)t * arb) + b;
            const __m256i alo = _mm256_loadu_si256((const __m256i *)a->qs);
            const __m256i ahi = _mm256_loadu_si256((const __m256i *)(a->qs + 16));
#pragma GCC unroll 2
            for (int r = 0; r < R; r++) {
                const __m256i is = _mm256_add_epi32(_mm256_madd_epi16(lo[r], alo), _mm256_madd_epi16(hi[r], ahi));
                acc[r][t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(is), _mm256_set1_ps(dw[r] * a->d), acc[r][t]);
                if (b_has_min(kind)) macc[r][t] += mw[r] * a->d * (float)a->sum;
            }
        }
    }
#pragma GCC unroll 2
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
        for (int t = 0; t < T; t++) y[t * ldy + r] = avx2_hsum_ps(acc[r][t]) + macc[r][t];
}

/* acc += block b of one row times one activation row; the min term into *macc. */
static inline __attribute__((always_inline)) __m256 b_step1(int kind, const uint8_t *w, const uint8_t *act, int64_t b,
                                                            __m256 acc, float *macc) {
    __m256i lo, hi;
    float dw, mw;
    b_decode(kind, w + (size_t)b * b_block_size[kind], &lo, &hi, &dw, &mw);
    const block_a16_32 *a = (const block_a16_32 *)act + b;
    const __m256i is = _mm256_add_epi32(_mm256_madd_epi16(lo, _mm256_loadu_si256((const __m256i *)a->qs)),
                                        _mm256_madd_epi16(hi, _mm256_loadu_si256((const __m256i *)(a->qs + 16))));
    if (b_has_min(kind)) *macc += mw * a->d * (float)a->sum;
    return _mm256_fmadd_ps(_mm256_cvtepi32_ps(is), _mm256_set1_ps(dw * a->d), acc);
}

/* One row x one token (generation): 4 accumulators over consecutive blocks (fma latency). */
static inline __attribute__((always_inline)) float b_dot1(int kind, int64_t nb, const uint8_t *w, const uint8_t *act) {
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    float macc = 0.0f;
    int64_t b = 0;
    for (; b + 4 <= nb; b += 4)
#pragma GCC unroll 4
        for (int u = 0; u < 4; u++) acc[u] = b_step1(kind, w, act, b + u, acc[u], &macc);
    for (; b < nb; b++) acc[0] = b_step1(kind, w, act, b, acc[0], &macc);
    return avx2_hsum_ps(_mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]))) + macc;
}

static inline __attribute__((always_inline)) void b_gemm(int kind, int64_t k, const void *vw, size_t wrb, int64_t nr,
                                                         const void *vact, size_t arb, int64_t nt, float *y,
                                                         int64_t ldy) {
    const uint8_t *w = vw, *act = vact;
    const int64_t nb = k / 32;
    int64_t t = 0;
    for (; t + 4 <= nt; t += 4) {
        int64_t r = 0;
        for (; r + 2 <= nr; r += 2)
            b_tile(kind, 2, 4, nb, w + (size_t)r * wrb, wrb, act + (size_t)t * arb, arb, y + t * ldy + r, ldy);
        for (; r < nr; r++)
            b_tile(kind, 1, 4, nb, w + (size_t)r * wrb, wrb, act + (size_t)t * arb, arb, y + t * ldy + r, ldy);
    }
    for (; t < nt; t++)
        for (int64_t r = 0; r < nr; r++) y[t * ldy + r] = b_dot1(kind, nb, w + (size_t)r * wrb, act + (size_t)t * arb);
}

#define B_GEMM(name, kind)                                                                                             \
    static void gemm16_##name##_avx2(int64_t k, const void *w, size_t wrb, int64_t nr, const void *a, size_t arb,      \
                                     int64_t nt, float *y, int64_t ldy) {                                              \
        b_gemm(kind, k, w, wrb, nr, a, arb, nt, y, ldy);                                                               \
    }
B_GEMM(q4_0, B_Q4_0)
B_GEMM(q4_1, B_Q4_1)
B_GEMM(q5_0, B_Q5_0)
B_GEMM(q5_1, B_Q5_1)
B_GEMM(q8_0, B_Q8_0)
B_GEMM(iq4_nl, B_IQ4_NL)
#undef B_GEMM

void kernels_fill_a16_b32_avx2(slm_kernels *kt) {
    kt->quant_a16_32 = quant_a16_32_avx2;
    kt->quant_a16_256 = quant_a16_256_avx2;
    kt->mm[SLM_DT_Q4_0].gemm16 = gemm16_q4_0_avx2;
    kt->mm[SLM_DT_Q4_1].gemm16 = gemm16_q4_1_avx2;
    kt->mm[SLM_DT_Q5_0].gemm16 = gemm16_q5_0_avx2;
    kt->mm[SLM_DT_Q5_1].gemm16 = gemm16_q5_1_avx2;
    kt->mm[SLM_DT_Q8_0].gemm16 = gemm16_q8_0_avx2;
    kt->mm[SLM_DT_IQ4_NL].gemm16 = gemm16_iq4_nl_avx2;
}
