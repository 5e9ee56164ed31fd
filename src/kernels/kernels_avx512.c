/* AVX-512 (F/BW/DQ/VL + VNNI) kernels: Q4_0 and Q8_0 weights against Q8_0 activations. Every
 * other entry of the table keeps its AVX2 version (kernels.c fills the AVX2 entries first).
 *
 * Two 32-element blocks share one zmm register (64 int8 lanes), so per pair of blocks there is
 * one vpdpbusd, one int->float convert and one fma instead of two of each: the AVX2 Q4_0 matvec
 * was bound by these per-block vector ops, not by memory.
 *
 * vpdpbusd multiplies unsigned by signed bytes, so weights are made unsigned and the offset is
 * taken back out with the activation block's byte sum (exact in int32):
 *   Q4_0:  sum (q - 8) a   = dpbusd(q, a)        - dpbusd(8, a)      q = nibble, 0..15
 *   Q8_0:  sum w a         = dpbusd(w ^ 0x80, a) - dpbusd(128, a)    w ^ 0x80 = w + 128 as u8
 * Per 4-byte group the products are at most 4 * 255 * 128, far from int32 overflow. */
#include <immintrin.h>
#include <string.h>

#include "kernels/kernels_internal.h"
#include "quant/quant.h"

enum { P_Q4_0, P_Q8_0 };

/* Unsigned codes of blocks b and b+1 (b+1 only when two): lanes 0-31 block b, 32-63 block b+1,
 * each in the element order of its activation block; absent block: zero. */
static inline __attribute__((always_inline)) __m512i pair_codes(int kind, const uint8_t *row, int64_t b, int two) {
    if (kind == P_Q4_0) {
        const block_q4_0 *x = (const block_q4_0 *)row + b;
        const __m128i r0 = _mm_loadu_si128((const __m128i *)x[0].qs);
        const __m256i raw = two ? _mm256_inserti128_si256(_mm256_castsi128_si256(r0),
                                                          _mm_loadu_si128((const __m128i *)x[1].qs), 1)
                                : _mm256_zextsi128_si256(r0);
        /* [raw0 raw0 raw1 raw1] (16 bytes each), the second copy shifted by 4: low nibbles are
         * elements 0-15, high nibbles 16-31. */
        const __m512i d = _mm512_permutexvar_epi64(_mm512_setr_epi64(0, 1, 0, 1, 2, 3, 2, 3), _mm512_castsi256_si512(raw));
        const __m512i s = _mm512_srlv_epi64(d, _mm512_setr_epi64(0, 0, 4, 4, 0, 0, 4, 4));
        return _mm512_and_si512(s, _mm512_set1_epi8(0x0F));
    }
    const block_q8_0 *x = (const block_q8_0 *)row + b;
    const __m256i w0 = _mm256_loadu_si256((const __m256i *)x[0].qs);
    const __m512i w = two ? _mm512_inserti64x4(_mm512_castsi256_si512(w0), _mm256_loadu_si256((const __m256i *)x[1].qs), 1)
                          : _mm512_zextsi256_si512(w0);
    /* Absent block: 0 ^ 0x80 would be 128, but its activation lanes are zero, so it adds 0. */
    return _mm512_xor_si512(w, _mm512_set1_epi8((char)0x80));
}

static inline int pair_offset(int kind) { return kind == P_Q4_0 ? 8 : 0x80; }

/* Scale of each lane: lanes 0-7 fp16 h0, lanes 8-15 fp16 h1, as floats. */
static inline __m512 pair_scales(slm_f16 h0, slm_f16 h1) {
    const __m128 f = _mm_cvtph_ps(_mm_cvtsi32_si128((int)((uint32_t)h0 | (uint32_t)h1 << 16)));
    return _mm512_permutexvar_ps(_mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1),
                                 _mm512_castps128_ps512(f));
}

static inline __m512 pair_wscale(int kind, const uint8_t *row, int64_t b, int two) {
    if (kind == P_Q4_0) {
        const block_q4_0 *x = (const block_q4_0 *)row + b;
        return pair_scales(x[0].d, two ? x[1].d : 0);
    }
    const block_q8_0 *x = (const block_q8_0 *)row + b;
    return pair_scales(x[0].d, two ? x[1].d : 0);
}

/* Product of the weight and activation scales of blocks b, b+1 in lanes 0-7 / 8-15: the four
 * fp16 scales go through one vcvtph2ps and one multiply (matvec: fewer vector ops per block). */
static inline __m512 pair_wa_scales(int kind, const uint8_t *row, const uint8_t *act, int64_t b, int two) {
    const size_t bs = kind == P_Q4_0 ? sizeof(block_q4_0) : sizeof(block_q8_0);
    slm_f16 w0, w1 = 0, a1 = 0; /* d is the first member of every block */
    memcpy(&w0, row + (size_t)b * bs, 2);
    const slm_f16 a0 = ((const block_q8_0 *)act)[b].d;
    if (two) {
        memcpy(&w1, row + (size_t)(b + 1) * bs, 2);
        a1 = ((const block_q8_0 *)act)[b + 1].d;
    }
    const uint64_t h = (uint64_t)w0 | (uint64_t)w1 << 16 | (uint64_t)a0 << 32 | (uint64_t)a1 << 48;
    const __m128 f = _mm_cvtph_ps(_mm_cvtsi64_si128((long long)h)); /* w0 w1 a0 a1 */
    const __m128 p = _mm_mul_ps(f, _mm_movehl_ps(f, f));              /* w0*a0 w1*a1 . . */
    return _mm512_permutexvar_ps(_mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1),
                                 _mm512_castps128_ps512(p));
}

/* Activation blocks b, b+1 of one Q8_0 row (absent one zero) and their scales. */
static inline __m512i pair_act(const uint8_t *act, int64_t b, int two, __m512 *da) {
    const block_q8_0 *a = (const block_q8_0 *)act + b;
    const __m256i a0 = _mm256_loadu_si256((const __m256i *)a[0].qs);
    *da = pair_scales(a[0].d, two ? a[1].d : 0);
    return two ? _mm512_inserti64x4(_mm512_castsi256_si512(a0), _mm256_loadu_si256((const __m256i *)a[1].qs), 1)
               : _mm512_zextsi256_si512(a0);
}

/* R rows x T tokens over all blocks, two blocks per step. P (precise, kernels.h gemm2): activation
 * rows come in pairs (x, residual) summed into one output per token; T is then even. */
static inline __attribute__((always_inline)) void pair_tile(int kind, int R, int T, int P, int64_t nb, const uint8_t *w,
                                                            size_t wrb, const uint8_t *act, size_t arb, float *y,
                                                            int64_t ldy) {
    __m512 acc[4][4];
    const __m512i off = _mm512_set1_epi8((char)pair_offset(kind));
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
        for (int t = 0; t < T; t++)
            acc[r][t] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; b += 2) {
        const int two = b + 1 < nb;
        __m512i wq[4];
        __m512 dw[4];
#pragma GCC unroll 4
        for (int r = 0; r < R; r++) {
            wq[r] = pair_codes(kind, w + (size_t)r * wrb, b, two);
            dw[r] = pair_wscale(kind, w + (size_t)r * wrb, b, two);
        }
#pragma GCC unroll 4
        for (int t = 0; t < T; t++) {
            __m512 da;
            const __m512i av = pair_act(act + (size_t)t * arb, b, two, &da);
            /* -dpbusd(off, a) once per token, the start value of every row's dpbusd. */
            const __m512i nos =
                _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_dpbusd_epi32(_mm512_setzero_si512(), off, av));
#pragma GCC unroll 4
            for (int r = 0; r < R; r++) {
                const __m512i is = _mm512_dpbusd_epi32(nos, wq[r], av);
                acc[r][t] = _mm512_fmadd_ps(_mm512_mul_ps(dw[r], da), _mm512_cvtepi32_ps(is), acc[r][t]);
            }
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
        for (int t = 0; t < T; t += 1 + P)
            y[(t >> P) * ldy + r] = _mm512_reduce_add_ps(P ? _mm512_add_ps(acc[r][t], acc[r][t + 1]) : acc[r][t]);
}

/* acc += blocks b, b+1 (or b alone) of one row times one activation row. */
static inline __attribute__((always_inline)) __m512 pair_step1(int kind, const uint8_t *w, const uint8_t *act,
                                                               int64_t b, int two, __m512 acc) {
    const block_q8_0 *a = (const block_q8_0 *)act + b;
    const __m256i a0 = _mm256_loadu_si256((const __m256i *)a[0].qs);
    const __m512i av = two ? _mm512_inserti64x4(_mm512_castsi256_si512(a0),
                                                _mm256_loadu_si256((const __m256i *)a[1].qs), 1)
                           : _mm512_zextsi256_si512(a0);
    const __m512i off = _mm512_set1_epi8((char)pair_offset(kind));
    /* dpbusd(q, a) - dpbusd(off, a) accumulated in one chain: start from -dpbusd(off, a). */
    const __m512i osum = _mm512_dpbusd_epi32(_mm512_setzero_si512(), off, av);
    const __m512i is = _mm512_dpbusd_epi32(_mm512_sub_epi32(_mm512_setzero_si512(), osum),
                                           pair_codes(kind, w, b, two), av);
    return _mm512_fmadd_ps(pair_wa_scales(kind, w, act, b, two), _mm512_cvtepi32_ps(is), acc);
}

/* One row against one token (token generation): 4 blocks per iteration in two fma chains. */
static inline __attribute__((always_inline)) float pair_dot1(int kind, int64_t nb, const uint8_t *w,
                                                             const uint8_t *act) {
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
    int64_t b = 0;
    for (; b + 4 <= nb; b += 4) {
        acc0 = pair_step1(kind, w, act, b, 1, acc0);
        acc1 = pair_step1(kind, w, act, b + 2, 1, acc1);
    }
    for (; b < nb; b += 2)
        acc0 = pair_step1(kind, w, act, b, b + 1 < nb, acc0);
    return _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
}

/* Tiles: 4 rows x 4 tokens while 4 tokens remain (prompt processing; 16 accumulators + 4 unpacked
 * weight pairs fit the 32 zmm registers, and the per-row unpack and per-token offset sums are
 * each shared 4 ways; 2 x 4 gave 75 GFLOP/s against 110 for K=896 N=4864), then 1 row x 1 token
 * (token generation: one sequential weight stream per row, see kernels_avx2.c b32_gemm). */
static inline __attribute__((always_inline)) void pair_gemm(int kind, int64_t k, const void *vw, size_t wrb,
                                                            int64_t nr, const void *vact, size_t arb, int64_t nt,
                                                            float *y, int64_t ldy) {
    const uint8_t *w = vw, *act = vact;
    const int64_t nb = k / 32;
    int64_t t = 0;
    for (; t + 4 <= nt; t += 4) {
        int64_t r = 0;
        for (; r + 4 <= nr; r += 4)
            pair_tile(kind, 4, 4, 0, nb, w + (size_t)r * wrb, wrb, act + (size_t)t * arb, arb, y + t * ldy + r, ldy);
        for (; r < nr; r++)
            pair_tile(kind, 1, 4, 0, nb, w + (size_t)r * wrb, wrb, act + (size_t)t * arb, arb, y + t * ldy + r, ldy);
    }
    for (; t < nt; t++)
        for (int64_t r = 0; r < nr; r++)
            y[t * ldy + r] = pair_dot1(kind, nb, w + (size_t)r * wrb, act + (size_t)t * arb);
}

/* Codes of activation blocks b, b+1 of one Q8_0 row (absent one zero). */
static inline __m512i pair_act_codes(const uint8_t *act, int64_t b, int two) {
    const block_q8_0 *a = (const block_q8_0 *)act + b;
    const __m256i a0 = _mm256_loadu_si256((const __m256i *)a[0].qs);
    return two ? _mm512_inserti64x4(_mm512_castsi256_si512(a0), _mm256_loadu_si256((const __m256i *)a[1].qs), 1)
               : _mm512_zextsi256_si512(a0);
}

/* Precise token generation, blocks b, b+1 of one row against a token's two activation rows (x at
 * ax, its residual at ar): the weight codes are unpacked once, and the six fp16 scales (w0 w1,
 * x0 x1, r0 r1) go through one vcvtph2ps and one multiply. */
static inline __attribute__((always_inline)) void pair_step2(int kind, const uint8_t *w, const uint8_t *ax,
                                                             const uint8_t *ar, int64_t b, int two, __m512 *acc0,
                                                             __m512 *acc1) {
    const __m512i z = _mm512_setzero_si512(), off = _mm512_set1_epi8((char)pair_offset(kind));
    const __m512i q = pair_codes(kind, w, b, two);
    const __m512i x = pair_act_codes(ax, b, two), r = pair_act_codes(ar, b, two);
    const __m512i ix = _mm512_dpbusd_epi32(_mm512_sub_epi32(z, _mm512_dpbusd_epi32(z, off, x)), q, x);
    const __m512i ir = _mm512_dpbusd_epi32(_mm512_sub_epi32(z, _mm512_dpbusd_epi32(z, off, r)), q, r);
    const size_t bs = kind == P_Q4_0 ? sizeof(block_q4_0) : sizeof(block_q8_0);
    uint16_t w0, w1 = 0, x1 = 0, r1 = 0; /* d is the first member of every block */
    memcpy(&w0, w + (size_t)b * bs, 2);
    const uint16_t x0 = ((const block_q8_0 *)ax)[b].d, r0 = ((const block_q8_0 *)ar)[b].d;
    if (two) {
        memcpy(&w1, w + (size_t)(b + 1) * bs, 2);
        x1 = ((const block_q8_0 *)ax)[b + 1].d;
        r1 = ((const block_q8_0 *)ar)[b + 1].d;
    }
    const uint64_t hw = (uint64_t)w0 | (uint64_t)w1 << 16 | (uint64_t)w0 << 32 | (uint64_t)w1 << 48;
    const uint64_t ha = (uint64_t)x0 | (uint64_t)x1 << 16 | (uint64_t)r0 << 32 | (uint64_t)r1 << 48;
    const __m256 f = _mm256_cvtph_ps(_mm_set_epi64x((long long)ha, (long long)hw)); /* w0 w1 w0 w1 x0 x1 r0 r1 */
    const __m512 p = _mm512_castps128_ps512(_mm_mul_ps(_mm256_castps256_ps128(f), _mm256_extractf128_ps(f, 1)));
    const __m512 s0 = _mm512_permutexvar_ps(_mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1), p);
    const __m512 s1 = _mm512_permutexvar_ps(_mm512_setr_epi32(2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3), p);
    *acc0 = _mm512_fmadd_ps(s0, _mm512_cvtepi32_ps(ix), *acc0);
    *acc1 = _mm512_fmadd_ps(s1, _mm512_cvtepi32_ps(ir), *acc1);
}

static inline __attribute__((always_inline)) float pair_dot2(int kind, int64_t nb, const uint8_t *w, const uint8_t *ax,
                                                             const uint8_t *ar) {
    /* four fma chains (4 blocks per iteration): one chain per row pair would wait on fma latency */
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps(), acc2 = _mm512_setzero_ps(),
           acc3 = _mm512_setzero_ps();
    int64_t b = 0;
    for (; b + 4 <= nb; b += 4) {
        pair_step2(kind, w, ax, ar, b, 1, &acc0, &acc1);
        pair_step2(kind, w, ax, ar, b + 2, 1, &acc2, &acc3);
    }
    for (; b < nb; b += 2)
        pair_step2(kind, w, ax, ar, b, b + 1 < nb, &acc0, &acc1);
    return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(acc0, acc1), _mm512_add_ps(acc2, acc3)));
}

/* Precise tiles (gemm2): 4 rows x 2 tokens (4 activation rows) while both remain, then 1 row x 1
 * token (pair_dot2: its 2 activation rows, one weight stream per row). */
static inline __attribute__((always_inline)) void pair_gemm2(int kind, int64_t k, const void *vw, size_t wrb,
                                                             int64_t nr, const void *vact, size_t arb, int64_t nt,
                                                             float *y, int64_t ldy) {
    const uint8_t *w = vw, *act = vact;
    const int64_t nb = k / 32;
    int64_t t = 0;
    for (; t + 2 <= nt; t += 2) {
        int64_t r = 0;
        for (; r + 4 <= nr; r += 4)
            pair_tile(kind, 4, 4, 1, nb, w + (size_t)r * wrb, wrb, act + (size_t)(2 * t) * arb, arb, y + t * ldy + r,
                      ldy);
        for (; r < nr; r++)
            pair_tile(kind, 1, 4, 1, nb, w + (size_t)r * wrb, wrb, act + (size_t)(2 * t) * arb, arb, y + t * ldy + r,
                      ldy);
    }
    for (; t < nt; t++)
        for (int64_t r = 0; r < nr; r++)
            y[t * ldy + r] = pair_dot2(kind, nb, w + (size_t)r * wrb, act + (size_t)(2 * t) * arb,
                                       act + (size_t)(2 * t + 1) * arb);
}

static void gemm2_q4_0_avx512(int64_t k, const void *w, size_t wrb, int64_t nr, const void *a, size_t arb, int64_t nt,
                              float *y, int64_t ldy) {
    pair_gemm2(P_Q4_0, k, w, wrb, nr, a, arb, nt, y, ldy);
}
static void gemm2_q8_0_avx512(int64_t k, const void *w, size_t wrb, int64_t nr, const void *a, size_t arb, int64_t nt,
                              float *y, int64_t ldy) {
    pair_gemm2(P_Q8_0, k, w, wrb, nr, a, arb, nt, y, ldy);
}

static void gemm_q4_0_avx512(int64_t k, const void *w, size_t wrb, int64_t nr, const void *a, size_t arb, int64_t nt,
                             float *y, int64_t ldy) {
    pair_gemm(P_Q4_0, k, w, wrb, nr, a, arb, nt, y, ldy);
}
static void gemm_q8_0_avx512(int64_t k, const void *w, size_t wrb, int64_t nr, const void *a, size_t arb, int64_t nt,
                             float *y, int64_t ldy) {
    pair_gemm(P_Q8_0, k, w, wrb, nr, a, arb, nt, y, ldy);
}

void kernels_fill_avx512(slm_kernels *kt) {
    kt->mm[SLM_DT_Q4_0].gemm = gemm_q4_0_avx512;
    kt->mm[SLM_DT_Q8_0].gemm = gemm_q8_0_avx512;
    kt->mm[SLM_DT_Q4_0].gemm2 = gemm2_q4_0_avx512;
    kt->mm[SLM_DT_Q8_0].gemm2 = gemm2_q8_0_avx512;
}
