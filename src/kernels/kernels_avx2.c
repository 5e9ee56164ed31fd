/* AVX2 + FMA + F16C kernels: Q8_0 activations and the 32-element block types (Q4_0 Q4_1 Q5_0
 * Q5_1 Q8_0 IQ4_NL), float weights (F32 F16 BF16), and the vector ops.
 *
 * Matmul tiles are R weight rows x T tokens: each weight block is unpacked once into 32 int8
 * lanes and used for T tokens; each activation block is loaded once and used for R rows. The
 * integer dot of one block pair is exact (maddubs + madd), then one float fma per block pair
 * with the product of the two scales, in 8 float lanes per (row, token), reduced at the end. */
#include <immintrin.h>
#include <string.h>

#include "kernels/kernels_avx2_common.h"
#include "kernels/kernels_internal.h"
#include "quant/quant.h"

/* ---- Q8_0 activation quantizer (bit-exact with quantize_row_q8_0_ref) -------------------------- */

static void quantize_q8_0_avx2(const float *x, block_q8_0 *y, int64_t k) {
    const __m256 absmask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    for (int64_t b = 0; b < k / QK8_0; b++, x += QK8_0) {
        __m256 v[4];
        __m256 m = _mm256_setzero_ps();
        for (int i = 0; i < 4; i++) {
            v[i] = _mm256_loadu_ps(x + 8 * i);
            m = _mm256_max_ps(m, _mm256_and_ps(v[i], absmask));
        }
        const float amax = avx2_hmax_ps(m);
        const float d = amax / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[b].d = slm_f32_to_f16(d);
        const __m256 vid = _mm256_set1_ps(id);
        __m256i q[4];
        for (int i = 0; i < 4; i++)
            q[i] = _mm256_cvtps_epi32(avx2_round_half_away(_mm256_mul_ps(v[i], vid)));
        _mm256_storeu_si256((__m256i *)y[b].qs, avx2_pack_i32x32_to_i8(q));
    }
}

static void quant_act_q8_0_avx2(const float *x, int64_t ldx, int64_t n, int64_t k, void *act, size_t arb) {
    for (int64_t t = 0; t < n; t++)
        quantize_q8_0_avx2(x + t * ldx, (block_q8_0 *)((uint8_t *)act + (size_t)t * arb), k);
}

/* ---- Weight block unpacking: 32 codes in element order as int8 lanes ------------------------- */

enum { B32_Q4_0, B32_Q4_1, B32_Q5_0, B32_Q5_1, B32_Q8_0, B32_IQ4_NL };

static inline __m256i nibbles_32(const uint8_t *qs) {
    const __m128i raw = _mm_loadu_si128((const __m128i *)qs);
    const __m256i v = _mm256_set_m128i(_mm_srli_epi16(raw, 4), raw);
    return _mm256_and_si256(v, _mm256_set1_epi8(0x0F));
}

/* 0xFF in byte j where bit j of the little-endian 32-bit word at p is set. */
static inline __m256i bits_to_bytes(const uint8_t *p) {
    uint32_t u;
    memcpy(&u, p, 4);
    const __m256i shuf = _mm256_set_epi64x(0x0303030303030303ll, 0x0202020202020202ll, 0x0101010101010101ll, 0);
    __m256i v = _mm256_shuffle_epi8(_mm256_set1_epi32((int)u), shuf);
    const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ull);
    return _mm256_cmpeq_epi8(_mm256_and_si256(v, bit), bit);
}

/* Codes of block b of a row: signed values for the symmetric types, unsigned 0..31 for the
 * min-carrying Q4_1 / Q5_1; *d and *m get the scales broadcast to 8 lanes (m only for those two). */
static inline __attribute__((always_inline)) __m256i b32_unpack(int kind, const uint8_t *row, int64_t b, __m256 *d,
                                                                __m256 *m) {
    switch (kind) {
    case B32_Q4_0: {
        const block_q4_0 *x = (const block_q4_0 *)row + b;
        *d = avx2_f16_bcast(x->d);
        return _mm256_sub_epi8(nibbles_32(x->qs), _mm256_set1_epi8(8));
    }
    case B32_Q4_1: {
        const block_q4_1 *x = (const block_q4_1 *)row + b;
        *d = avx2_f16_bcast(x->d);
        *m = avx2_f16_bcast(x->m);
        return nibbles_32(x->qs);
    }
    case B32_Q5_0: {
        const block_q5_0 *x = (const block_q5_0 *)row + b;
        *d = avx2_f16_bcast(x->d);
        /* q - 16 = nibble | 0xF0 where the fifth bit is clear (as int8). */
        return _mm256_or_si256(nibbles_32(x->qs),
                               _mm256_andnot_si256(bits_to_bytes(x->qh), _mm256_set1_epi8((char)0xF0)));
    }
    case B32_Q5_1: {
        const block_q5_1 *x = (const block_q5_1 *)row + b;
        *d = avx2_f16_bcast(x->d);
        *m = avx2_f16_bcast(x->m);
        return _mm256_or_si256(nibbles_32(x->qs), _mm256_and_si256(bits_to_bytes(x->qh), _mm256_set1_epi8(0x10)));
    }
    case B32_Q8_0: {
        const block_q8_0 *x = (const block_q8_0 *)row + b;
        *d = avx2_f16_bcast(x->d);
        return _mm256_loadu_si256((const __m256i *)x->qs);
    }
    default: { /* B32_IQ4_NL */
        const block_iq4_nl *x = (const block_iq4_nl *)row + b;
        *d = avx2_f16_bcast(x->d);
        const __m128i tab = _mm_loadu_si128((const __m128i *)kvalues_iq4nl);
        return _mm256_shuffle_epi8(_mm256_set_m128i(tab, tab), nibbles_32(x->qs));
    }
    }
}

static inline int b32_has_min(int kind) { return kind == B32_Q4_1 || kind == B32_Q5_1; }

/* R x T tile over all blocks of the row. P (precise, kernels.h gemm2): activation rows come in
 * pairs (x, residual) whose products are summed into one output per token; T is then even. */
static inline __attribute__((always_inline)) void b32_tile(int kind, int R, int T, int P, int64_t nb, const uint8_t *w,
                                                           size_t wrb, const uint8_t *act, size_t arb, float *y,
                                                           int64_t ldy) {
    __m256 acc[4][4];
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
        for (int t = 0; t < T; t++)
            acc[r][t] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        __m256i wq[4];
        __m256 dw[4], mw[4];
#pragma GCC unroll 4
        for (int r = 0; r < R; r++)
            wq[r] = b32_unpack(kind, w + (size_t)r * wrb, b, &dw[r], &mw[r]);
#pragma GCC unroll 4
        for (int t = 0; t < T; t++) {
            const block_q8_0 *a = (const block_q8_0 *)(act + (size_t)t * arb) + b;
            const __m256i av = _mm256_loadu_si256((const __m256i *)a->qs);
            const __m256 da = avx2_f16_bcast(a->d);
            __m256 asum = _mm256_setzero_ps();
            if (b32_has_min(kind)) asum = avx2_sum_i8_pairs_ps(_mm256_set1_epi8(1), av);
#pragma GCC unroll 4
            for (int r = 0; r < R; r++) {
                const __m256 p = b32_has_min(kind) ? avx2_sum_u8_i8_ps(wq[r], av) : avx2_sum_i8_i8_ps(wq[r], av);
                acc[r][t] = _mm256_fmadd_ps(_mm256_mul_ps(dw[r], da), p, acc[r][t]);
                if (b32_has_min(kind)) acc[r][t] = _mm256_fmadd_ps(_mm256_mul_ps(mw[r], da), asum, acc[r][t]);
            }
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
        for (int t = 0; t < T; t += 1 + P)
            y[(t >> P) * ldy + r] = avx2_hsum_ps(P ? _mm256_add_ps(acc[r][t], acc[r][t + 1]) : acc[r][t]);
}

/* acc += block b of a weight row times activation block b (one row, one token). */
static inline __attribute__((always_inline)) __m256 b32_step1(int kind, const uint8_t *w, const uint8_t *act, int64_t b,
                                                              __m256 acc) {
    __m256 dw, mw;
    const __m256i wq = b32_unpack(kind, w, b, &dw, &mw);
    const block_q8_0 *a = (const block_q8_0 *)act + b;
    const __m256i av = _mm256_loadu_si256((const __m256i *)a->qs);
    const __m256 da = avx2_f16_bcast(a->d);
    const __m256 p = b32_has_min(kind) ? avx2_sum_u8_i8_ps(wq, av) : avx2_sum_i8_i8_ps(wq, av);
    acc = _mm256_fmadd_ps(_mm256_mul_ps(dw, da), p, acc);
    if (b32_has_min(kind))
        acc = _mm256_fmadd_ps(_mm256_mul_ps(mw, da), avx2_sum_i8_pairs_ps(_mm256_set1_epi8(1), av), acc);
    return acc;
}

/* One row against one token (token generation), two accumulators so that consecutive blocks'
 * fmas do not wait on each other. */
static inline __attribute__((always_inline)) float b32_dot1(int kind, int64_t nb, const uint8_t *w,
                                                            const uint8_t *act) {
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    int64_t b = 0;
    for (; b + 2 <= nb; b += 2) {
        acc0 = b32_step1(kind, w, act, b, acc0);
        acc1 = b32_step1(kind, w, act, b + 1, acc1);
    }
    if (b < nb) acc0 = b32_step1(kind, w, act, b, acc0);
    return avx2_hsum_ps(_mm256_add_ps(acc0, acc1));
}

/* Tiles: 2 rows x 4 tokens while 4 tokens remain (prompt processing: the activation tile stays in
 * L1 and each unpacked weight block serves 4 tokens), then 1 row x 1 token for the rest (token
 * generation). One row at a time matters when weights stream from DRAM: on the Zen 3 dev machine
 * interleaving 4 rows (4 streams) gave 6 GB/s for Q4_0 against 11 GB/s for one sequential stream. */
static inline __attribute__((always_inline)) void b32_gemm(int kind, int64_t k, const void *vw, size_t wrb, int64_t nr,
                                                           const void *vact, size_t arb, int64_t nt, float *y,
                                                           int64_t ldy) {
    const uint8_t *w = vw, *act = vact;
    const int64_t nb = k / 32;
    int64_t t = 0;
    for (; t + 4 <= nt; t += 4) {
        int64_t r = 0;
        for (; r + 2 <= nr; r += 2)
            b32_tile(kind, 2, 4, 0, nb, w + (size_t)r * wrb, wrb, act + (size_t)t * arb, arb, y + t * ldy + r, ldy);
        for (; r < nr; r++)
            b32_tile(kind, 1, 4, 0, nb, w + (size_t)r * wrb, wrb, act + (size_t)t * arb, arb, y + t * ldy + r, ldy);
    }
    for (; t < nt; t++)
        for (int64_t r = 0; r < nr; r++)
            y[t * ldy + r] = b32_dot1(kind, nb, w + (size_t)r * wrb, act + (size_t)t * arb);
}

/* Precise tiles (gemm2): 2 rows x 2 tokens (4 activation rows) while 2 tokens remain, then 1
 * row x 1 token (its 2 activation rows; token generation keeps one weight stream per row). */
static inline __attribute__((always_inline)) void b32_gemm2(int kind, int64_t k, const void *vw, size_t wrb,
                                                            int64_t nr, const void *vact, size_t arb, int64_t nt,
                                                            float *y, int64_t ldy) {
    const uint8_t *w = vw, *act = vact;
    const int64_t nb = k / 32;
    int64_t t = 0;
    for (; t + 2 <= nt; t += 2) {
        int64_t r = 0;
        for (; r + 2 <= nr; r += 2)
            b32_tile(kind, 2, 4, 1, nb, w + (size_t)r * wrb, wrb, act + (size_t)(2 * t) * arb, arb, y + t * ldy + r,
                     ldy);
        for (; r < nr; r++)
            b32_tile(kind, 1, 4, 1, nb, w + (size_t)r * wrb, wrb, act + (size_t)(2 * t) * arb, arb, y + t * ldy + r,
                     ldy);
    }
    for (; t < nt; t++)
        for (int64_t r = 0; r < nr; r++)
            b32_tile(kind, 1, 2, 1, nb, w + (size_t)r * wrb, wrb, act + (size_t)(2 * t) * arb, arb, y + t * ldy + r,
                     ldy);
}

#define B32_GEMM2(name, kind)                                                                                          \
    static void gemm2_##name##_avx2(int64_t k, const void *w, size_t wrb, int64_t nr, const void *a, size_t arb,      \
                                    int64_t nt, float *y, int64_t ldy) {                                               \
        b32_gemm2(kind, k, w, wrb, nr, a, arb, nt, y, ldy);                                                            \
    }
B32_GEMM2(q4_0, B32_Q4_0)
B32_GEMM2(q4_1, B32_Q4_1)
B32_GEMM2(q5_0, B32_Q5_0)
B32_GEMM2(q5_1, B32_Q5_1)
B32_GEMM2(q8_0, B32_Q8_0)
B32_GEMM2(iq4_nl, B32_IQ4_NL)
#undef B32_GEMM2

static void gemm_q4_0_avx2(int64_t k, const void *w, size_t wrb, int64_t nr, const void *a, size_t arb, int64_t nt,
                           float *y, int64_t ldy) {
    b32_gemm(B32_Q4_0, k, w, wrb, nr, a, arb, nt, y, ldy);
}
static void gemm_q4_1_avx2(int64_t k, const void *w, size_t wrb, int64_t nr, const void *a, size_t arb, int64_t nt,
                           float *y, int64_t ldy) {
    b32_gemm(B32_Q4_1, k, w, wrb, nr, a, arb, nt, y, ldy);
}
static void gemm_q5_0_avx2(int64_t k, const void *w, size_t wrb, int64_t nr, const void *a, size_t arb, int64_t nt,
                           float *y, int64_t ldy) {
    b32_gemm(B32_Q5_0, k, w, wrb, nr, a, arb, nt, y, ldy);
}
static void gemm_q5_1_avx2(int64_t k, const void *w, size_t wrb, int64_t nr, const void *a, size_t arb, int64_t nt,
                           float *y, int64_t ldy) {
    b32_gemm(B32_Q5_1, k, w, wrb, nr, a, arb, nt, y, ldy);
}
static void gemm_q8_0_avx2(int64_t k, const void *w, size_t wrb, int64_t nr, const void *a, size_t arb, int64_t nt,
                           float *y, int64_t ldy) {
    b32_gemm(B32_Q8_0, k, w, wrb, nr, a, arb, nt, y, ldy);
}
static void gemm_iq4_nl_avx2(int64_t k, const void *w, size_t wrb, int64_t nr, const void *a, size_t arb, int64_t nt,
                             float *y, int64_t ldy) {
    b32_gemm(B32_IQ4_NL, k, w, wrb, nr, a, arb, nt, y, ldy);
}

/* ---- Float weights against float32 activations ---------------------------------------------- */

enum { FW_F32, FW_F16, FW_BF16 };

/* 8 weights starting at element i of a row, as floats. */
static inline __attribute__((always_inline)) __m256 fw_load8(int kind, const uint8_t *row, int64_t i) {
    switch (kind) {
    case FW_F32:
        return _mm256_loadu_ps((const float *)row + i);
    case FW_F16:
        return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const slm_f16 *)row + i)));
    default:
        return _mm256_castsi256_ps(_mm256_slli_epi32(
            _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)((const slm_bf16 *)row + i))), 16));
    }
}

static inline float fw_load1(int kind, const uint8_t *row, int64_t i) {
    switch (kind) {
    case FW_F32:
        return ((const float *)row)[i];
    case FW_F16:
        return slm_f16_to_f32(((const slm_f16 *)row)[i]);
    default:
        return slm_bf16_to_f32(((const slm_bf16 *)row)[i]);
    }
}

static inline __attribute__((always_inline)) void fw_tile(int kind, int R, int T, int64_t k, const uint8_t *w,
                                                          size_t wrb, const uint8_t *act, size_t arb, float *y,
                                                          int64_t ldy) {
    __m256 acc[4][4];
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
        for (int t = 0; t < T; t++)
            acc[r][t] = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 8 <= k; i += 8) {
        __m256 wv[4];
#pragma GCC unroll 4
        for (int r = 0; r < R; r++)
            wv[r] = fw_load8(kind, w + (size_t)r * wrb, i);
#pragma GCC unroll 4
        for (int t = 0; t < T; t++) {
            const __m256 av = _mm256_loadu_ps((const float *)(act + (size_t)t * arb) + i);
#pragma GCC unroll 4
            for (int r = 0; r < R; r++)
                acc[r][t] = _mm256_fmadd_ps(wv[r], av, acc[r][t]);
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
        for (int t = 0; t < T; t++) {
            float s = avx2_hsum_ps(acc[r][t]);
            const float *a = (const float *)(act + (size_t)t * arb);
            for (int64_t j = i; j < k; j++)
                s += fw_load1(kind, w + (size_t)r * wrb, j) * a[j];
            y[t * ldy + r] = s;
        }
}

/* One row against one token, four accumulators (fma latency 4: one chain would stall). */
static inline __attribute__((always_inline)) float fw_dot1(int kind, int64_t k, const uint8_t *w, const float *a) {
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps(), s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 32 <= k; i += 32) {
        s0 = _mm256_fmadd_ps(fw_load8(kind, w, i), _mm256_loadu_ps(a + i), s0);
        s1 = _mm256_fmadd_ps(fw_load8(kind, w, i + 8), _mm256_loadu_ps(a + i + 8), s1);
        s2 = _mm256_fmadd_ps(fw_load8(kind, w, i + 16), _mm256_loadu_ps(a + i + 16), s2);
        s3 = _mm256_fmadd_ps(fw_load8(kind, w, i + 24), _mm256_loadu_ps(a + i + 24), s3);
    }
    for (; i + 8 <= k; i += 8)
        s0 = _mm256_fmadd_ps(fw_load8(kind, w, i), _mm256_loadu_ps(a + i), s0);
    float s = avx2_hsum_ps(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
    for (; i < k; i++)
        s += fw_load1(kind, w, i) * a[i];
    return s;
}

/* Tiles: 4 rows x 2 tokens while 2 tokens remain (8 independent fma chains; the 4 rows' weights
 * are reused for 2 tokens), then one row at a time for a single token: a single sequential
 * weight stream is much faster from DRAM than 4 interleaved ones (see b32_gemm). */
static inline __attribute__((always_inline)) void fw_gemm(int kind, int64_t k, const void *vw, size_t wrb, int64_t nr,
                                                          const void *vact, size_t arb, int64_t nt, float *y,
                                                          int64_t ldy) {
    const uint8_t *w = vw, *act = vact;
    int64_t t = 0;
    for (; t + 2 <= nt; t += 2) {
        int64_t r = 0;
        for (; r + 4 <= nr; r += 4)
            fw_tile(kind, 4, 2, k, w + (size_t)r * wrb, wrb, act + (size_t)t * arb, arb, y + t * ldy + r, ldy);
        for (; r < nr; r++)
            fw_tile(kind, 1, 2, k, w + (size_t)r * wrb, wrb, act + (size_t)t * arb, arb, y + t * ldy + r, ldy);
    }
    for (; t < nt; t++)
        for (int64_t r = 0; r < nr; r++)
            y[t * ldy + r] = fw_dot1(kind, k, w + (size_t)r * wrb, (const float *)(act + (size_t)t * arb));
}

static void gemm_f32_avx2(int64_t k, const void *w, size_t wrb, int64_t nr, const void *a, size_t arb, int64_t nt,
                          float *y, int64_t ldy) {
    fw_gemm(FW_F32, k, w, wrb, nr, a, arb, nt, y, ldy);
}
static void gemm_f16_avx2(int64_t k, const void *w, size_t wrb, int64_t nr, const void *a, size_t arb, int64_t nt,
                          float *y, int64_t ldy) {
    fw_gemm(FW_F16, k, w, wrb, nr, a, arb, nt, y, ldy);
}
static void gemm_bf16_avx2(int64_t k, const void *w, size_t wrb, int64_t nr, const void *a, size_t arb, int64_t nt,
                           float *y, int64_t ldy) {
    fw_gemm(FW_BF16, k, w, wrb, nr, a, arb, nt, y, ldy);
}

/* ---- Vector ops ------------------------------------------------------------------------------ */

static float vdot_f32_avx2(const float *a, const float *b, int64_t n) {
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
    }
    for (; i + 8 <= n; i += 8)
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    float s = avx2_hsum_ps(_mm256_add_ps(s0, s1));
    for (; i < n; i++)
        s += a[i] * b[i];
    return s;
}

static float vdot_f16_f32_avx2(const slm_f16 *a, const float *b, int64_t n) {
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        s0 = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(a + i))), _mm256_loadu_ps(b + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(a + i + 8))), _mm256_loadu_ps(b + i + 8),
                             s1);
    }
    for (; i + 8 <= n; i += 8)
        s0 = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(a + i))), _mm256_loadu_ps(b + i), s0);
    float s = avx2_hsum_ps(_mm256_add_ps(s0, s1));
    for (; i < n; i++)
        s += slm_f16_to_f32(a[i]) * b[i];
    return s;
}

static void vaxpy_f32_avx2(float *y, float a, const float *x, int64_t n) {
    const __m256 va = _mm256_set1_ps(a);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
    for (; i < n; i++)
        y[i] += a * x[i];
}

static void vaxpy_f16_avx2(float *y, float a, const slm_f16 *x, int64_t n) {
    const __m256 va = _mm256_set1_ps(a);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(x + i))),
                                                _mm256_loadu_ps(y + i)));
    for (; i < n; i++)
        y[i] += a * slm_f16_to_f32(x[i]);
}

static void vscale_f32_avx2(float *y, float a, int64_t n) {
    const __m256 va = _mm256_set1_ps(a);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_mul_ps(va, _mm256_loadu_ps(y + i)));
    for (; i < n; i++)
        y[i] *= a;
}

static void vf32_to_f16_avx2(const float *x, slm_f16 *y, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(y + i), _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
    for (; i < n; i++)
        y[i] = slm_f32_to_f16(x[i]);
}

static void vf16_to_f32_avx2(const slm_f16 *x, float *y, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(x + i))));
    for (; i < n; i++)
        y[i] = slm_f16_to_f32(x[i]);
}

static void vq8_0_from_f32_avx2(const float *x, void *y, int64_t n) { quantize_q8_0_avx2(x, y, n); }

static void vq8_0_to_f32_avx2(const void *vx, float *y, int64_t n) {
    const block_q8_0 *x = vx;
    for (int64_t b = 0; b < n / QK8_0; b++, y += QK8_0) {
        const __m256 d = _mm256_set1_ps(avx2_f16(x[b].d));
        for (int i = 0; i < 4; i++) {
            const __m256i q = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(x[b].qs + 8 * i)));
            _mm256_storeu_ps(y + 8 * i, _mm256_mul_ps(_mm256_cvtepi32_ps(q), d));
        }
    }
}

void kernels_fill_avx2(slm_kernels *kt) {
    static const struct {
        uint32_t type;
        slm_gemm_fn gemm, gemm2;
    } tab[] = {
        {SLM_DT_Q4_0, gemm_q4_0_avx2, gemm2_q4_0_avx2},       {SLM_DT_Q4_1, gemm_q4_1_avx2, gemm2_q4_1_avx2},
        {SLM_DT_Q5_0, gemm_q5_0_avx2, gemm2_q5_0_avx2},       {SLM_DT_Q5_1, gemm_q5_1_avx2, gemm2_q5_1_avx2},
        {SLM_DT_Q8_0, gemm_q8_0_avx2, gemm2_q8_0_avx2},       {SLM_DT_IQ4_NL, gemm_iq4_nl_avx2, gemm2_iq4_nl_avx2},
        {SLM_DT_F32, gemm_f32_avx2, NULL},                    {SLM_DT_F16, gemm_f16_avx2, NULL},
        {SLM_DT_BF16, gemm_bf16_avx2, NULL},
    };
    for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++) {
        kt->mm[tab[i].type].gemm = tab[i].gemm;
        kt->mm[tab[i].type].gemm2 = tab[i].gemm2;
    }
    for (int t = 0; t < SLM_DT_COUNT; t++)
        if (kt->mm[t].gemm && kt->mm[t].act_type == SLM_DT_Q8_0) kt->mm[t].quant_act = quant_act_q8_0_avx2;
    kt->dot_f32 = vdot_f32_avx2;
    kt->dot_f16_f32 = vdot_f16_f32_avx2;
    kt->axpy_f32 = vaxpy_f32_avx2;
    kt->axpy_f16 = vaxpy_f16_avx2;
    kt->scale_f32 = vscale_f32_avx2;
    kt->f32_to_f16 = vf32_to_f16_avx2;
    kt->f16_to_f32 = vf16_to_f32_avx2;
    kt->q8_0_from_f32 = vq8_0_from_f32_avx2;
    kt->q8_0_to_f32 = vq8_0_to_f32_avx2;
    kernels_fill_attn_avx2(kt);
}
