/* AVX2 gemm16 tiles over 16-row interleaved weights (layouts: kernels_x16.c).
 *
 * The same structure as kernels_x16_avx512.c at half the width: a ymm holds one int16 weight pair
 * of 8 rows (the low 32 bytes of a Q4_0 chunk are rows 0-7, the high 32 bytes rows 8-15; a Q8_0
 * chunk's low / high 16 bytes sign-extended), and vpmaddwd with the broadcast activation pair
 * adds 2 products to each row's int32 lane. AVX2 has no vpdpwssd, so every pair costs a madd and
 * an add. After a block, one convert and one multiply-add with the rows' scales x the activation
 * scale update 8 float accumulators: no horizontal sums, lane r of the result is row r.
 *
 * Q4_0 codes are unsigned (0..15); the -8 offset is taken once per block as 8 x the activation
 * block's exact code sum (the initial value of the block's int32 sums). For one token the nibbles
 * are masked in place (c & 0x00F0 is 16 x the code, c & 0x0F00 256 x) into their own accumulators,
 * shifted back once per block (exact: the sums are multiples of 16 / 256, and 8 products of at
 * most 3840 x 32767 stay below 2^31), which saves the shifts. Prompt tiles decode each pair once
 * (shift and mask) for all their tokens. Q5_0 as Q4_0 with a -16 offset: AVX2 has no vptestmw +
 * masked add, so the fifth bit of pair P (bit P of the permuted qh word, kernels_x16.c) is shifted
 * to the bit just above the pair's nibble (at its 1 / 16 / 256 place) and or-ed in (q5_bit: a
 * shift and an and; 8 products of at most 31 x 256 x 32767 still stay below 2^31).
 *
 * One token: the tiles take up to AVX2_TOK1_GROUPS groups 64 KiB or more apart at once, block by
 * block (kernels_avx2_common.h: several read streams keep more of memory's bandwidth busy).
 *
 * Tiles: 16 rows x NT tokens, NT <= 4 (8 int32 accumulators, 2 chunk halves, 2 decoded pairs, the
 * broadcast, the mask: 15 ymm; the float accumulators are touched once per block and may live in
 * memory). NT = 3 measured slower for prompts.
 *
 * Measured (bench_kernels -t 1 -p 128 -i avx2, 2-core AMD EPYC (Zen 4 class), min of 5 runs; row
 * layout = kernels_a16_b32_avx2.c), tg ms / pp ms:
 *   K=2048 N=8192  Q4_0 row 0.621 / 53.7  x16 0.283 / 29.5;  Q8_0 row 0.578 / 52.1  x16 0.333 / 30.1
 *   K=8192 N=2048  Q4_0 row 0.615 / 54.1  x16 0.291 / 30.1;  Q8_0 row 0.62  / 51.5  x16 0.347 / 30.8
 * Q5_0 (min of 2-3 runs), tg ms / pp GFLOP/s:
 *   K=2048 N=8192  row 0.961 / 62.9  x16 0.547 / 118.6
 *   K=896  N=4864  row 0.260 / 64.4  x16 0.143 / 118.9
 * The K-quant tiles (Q4_K, Q6_K, IQ4_XS) and their measurements: kernels_x16_kq_avx2.c.
 */
#include <immintrin.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "kernels/kernels_avx2_common.h"
#include "kernels/kernels_internal.h"
#include "kernels/kernels_x16_avx2.h"

#define X16 16
#define Q4_0_GB X16_Q4_0_GB
#define Q5_0_GB X16_Q5_0_GB
#define Q8_0_GB 544
#define NT_MAX 4

void kernels_fill_x16_kq_avx2(slm_kernels *kt); /* K-quant tiles: kernels_x16_kq_avx2.c */
void kernels_fill_x16_a8_avx2(slm_kernels *kt); /* 8-bit activation one-token tiles: kernels_x16_a8_avx2.c */

typedef enum { XK_Q4_0, XK_Q5_0, XK_Q8_0 } x16_kind;

/* The activation pair (a[0], a[1]) in every int32 lane. */
static inline __m256i bcast32(const int16_t *pair) {
    int32_t v;
    memcpy(&v, pair, 4);
    return _mm256_set1_epi32(v);
}

/* acc + madd(w, a). The empty asm keeps each sum in its register in program order: without it
 * gcc reassociates the int32 adds of an unrolled tile into trees of madd results, which need far
 * more than 16 ymm registers and spill (gcc 12: prompt tiles 50 ms -> 30 ms with it). */
static inline __m256i madd_add(__m256i acc, __m256i w, __m256i a) {
    acc = _mm256_add_epi32(acc, _mm256_madd_epi16(w, a));
    __asm__("" : "+x"(acc));
    return acc;
}

/* Q5_0's fifth bit of pair P (0..15) of 8 rows (hb: their permuted qh words, q5_pack_bits in
 * kernels_x16.c: bit kernels_q5_bit_pos(P) of word w is the fifth bit of the pair's word w) moved
 * to bit `pos`, so that or-ing it into the nibble (at 16^k x its place: pos = 4 + 4k) adds 16 x
 * the nibble's scale. */
static inline __m256i q5_bit(__m256i hb, int P, int pos) {
    const int sh = pos - kernels_q5_bit_pos(P);
    const __m256i v = sh > 0 ? _mm256_slli_epi16(hb, sh) : sh < 0 ? _mm256_srli_epi16(hb, -sh) : hb;
    return _mm256_and_si256(v, _mm256_set1_epi16((short)(1 << pos)));
}

/* 16 rows x one token, Q4_0 / Q5_0 (kind). */
static inline __attribute__((always_inline)) void q4_tok1(x16_kind kind, int64_t nb, const uint8_t *g,
                                                          size_t gstride, int ng, int64_t ystride, const block_a16_32 *a, float *y) {
    const __m256i lo4 = _mm256_set1_epi16(0x000F), mid4 = _mm256_set1_epi16(0x00F0),
                  hi4 = _mm256_set1_epi16(0x0F00);
    const size_t gbytes = kind == XK_Q4_0 ? Q4_0_GB : Q5_0_GB, codes = kind == XK_Q4_0 ? 32 : 96;
    const int offset = kind == XK_Q4_0 ? 8 : 16;
    __m256 accf[AVX2_TOK1_GROUPS][2];
    avx2_tok1_zero(accf, ng);
    for (int64_t b = 0; b < nb; b++) { /* block b of each group in turn */
        for (int j = 0; j < ng; j++) {
            const uint8_t *gb = g + (size_t)j * gstride + (size_t)b * gbytes;
            const int16_t *aq = a[b].qs;
            avx2_prefetch_part(gb, (int)gbytes, 0, 1);
            __m256i s1[2], s16[2], s256[2], hb[2];
#pragma GCC unroll 2
            for (int h = 0; h < 2; h++) { /* s1 starts at the offset's term */
                s1[h] = _mm256_set1_epi32(-offset * a[b].sum);
                s16[h] = s256[h] = _mm256_setzero_si256();
                hb[h] = kind == XK_Q5_0 ? _mm256_loadu_si256((const __m256i *)(gb + 32 + 32 * h)) : _mm256_setzero_si256();
            }
#pragma GCC unroll 4
            for (int m = 0; m < 4; m++) {
#pragma GCC unroll 2
                for (int h = 0; h < 2; h++) {
                    const __m256i c = _mm256_loadu_si256((const __m256i *)(gb + codes + 64 * m + 32 * h));
                    __m256i w0 = _mm256_and_si256(c, lo4), w1 = _mm256_and_si256(c, mid4), w2 = _mm256_and_si256(c, hi4),
                            w3 = _mm256_srli_epi16(c, 12);
                    if (kind == XK_Q5_0) {
                        w0 = _mm256_or_si256(w0, q5_bit(hb[h], 4 * m, 4));
                        w1 = _mm256_or_si256(w1, q5_bit(hb[h], 4 * m + 1, 8));
                        w2 = _mm256_or_si256(w2, q5_bit(hb[h], 4 * m + 2, 12));
                        w3 = _mm256_or_si256(w3, q5_bit(hb[h], 4 * m + 3, 4));
                    }
                    s1[h] = madd_add(s1[h], w0, bcast32(aq + 8 * m));
                    s16[h] = madd_add(s16[h], w1, bcast32(aq + 8 * m + 2));
                    s256[h] = madd_add(s256[h], w2, bcast32(aq + 8 * m + 4));
                    s1[h] = madd_add(s1[h], w3, bcast32(aq + 8 * m + 6));
                }
            }
            __m256i s[2];
#pragma GCC unroll 2
            for (int h = 0; h < 2; h++)
                s[h] = _mm256_add_epi32(_mm256_add_epi32(s1[h], _mm256_srai_epi32(s16[h], 4)), _mm256_srai_epi32(s256[h], 8));
            x16_block_end(gb, s, a[b].d, accf[j]);
        }
    }
    avx2_tok1_store(accf, ng, y, ystride);
}

/* 16 rows x one token, Q8_0: two accumulators per half for the dependency chains. */
static void q8_0_tok1(int64_t nb, const uint8_t *g, size_t gstride, int ng, int64_t ystride, const block_a16_32 *a, float *y) {
    __m256 accf[AVX2_TOK1_GROUPS][2];
    avx2_tok1_zero(accf, ng);
    for (int64_t b = 0; b < nb; b++) { /* block b of each group in turn */
        for (int j = 0; j < ng; j++) {
            const uint8_t *gb = g + (size_t)j * gstride + (size_t)b * Q8_0_GB;
            const int16_t *aq = a[b].qs;
            avx2_prefetch_part(gb, Q8_0_GB, 0, 1);
            __m256i s[2][2];
#pragma GCC unroll 2
            for (int h = 0; h < 2; h++) s[h][0] = s[h][1] = _mm256_setzero_si256();
#pragma GCC unroll 16
            for (int p = 0; p < 16; p++) {
                const __m256i ap = bcast32(aq + 2 * p);
#pragma GCC unroll 2
                for (int h = 0; h < 2; h++) {
                    const __m256i w = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(gb + 32 + 32 * p + 16 * h)));
                    s[h][p & 1] = madd_add(s[h][p & 1], w, ap);
                }
            }
            const __m256i si[2] = {_mm256_add_epi32(s[0][0], s[0][1]), _mm256_add_epi32(s[1][0], s[1][1])};
            x16_block_end(gb, si, a[b].d, accf[j]);
        }
    }
    avx2_tok1_store(accf, ng, y, ystride);
}

/* Pair q (0..3) of a Q4_0 chunk half, as unsigned codes. */
static inline __m256i q4_pair(__m256i c, int q) {
    const __m256i lo4 = _mm256_set1_epi16(0x000F);
    return q == 0 ? _mm256_and_si256(c, lo4)
           : q == 3 ? _mm256_srli_epi16(c, 12)
                    : _mm256_and_si256(_mm256_srli_epi16(c, 4 * q), lo4);
}

/* 16 rows x NT tokens (2 <= NT <= NT_MAX): weights decoded once per pair for all tokens. */
static inline __attribute__((always_inline)) void tile_nt(x16_kind kind, const int NT, int64_t nb, const uint8_t *g,
                                                          const uint8_t *act, size_t arb, float *y, int64_t ldy) {
    const size_t gbytes = kind == XK_Q4_0 ? Q4_0_GB : kind == XK_Q5_0 ? Q5_0_GB : Q8_0_GB;
    const int offset = kind == XK_Q4_0 ? 8 : kind == XK_Q5_0 ? 16 : 0;
    __m256 accf[NT_MAX][2];
#pragma GCC unroll 4
    for (int t = 0; t < NT; t++) accf[t][0] = accf[t][1] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *gb = g + (size_t)b * gbytes;
        const block_a16_32 *ab[NT_MAX];
        __m256i acc[NT_MAX][2];
#pragma GCC unroll 4
        for (int t = 0; t < NT; t++) {
            ab[t] = (const block_a16_32 *)(act + (size_t)t * arb) + b;
            acc[t][0] = acc[t][1] = _mm256_set1_epi32(-offset * ab[t]->sum);
        }
        __m256i hb[2] = {_mm256_setzero_si256(), _mm256_setzero_si256()};
        if (kind == XK_Q5_0)
            for (int h = 0; h < 2; h++) hb[h] = _mm256_loadu_si256((const __m256i *)(gb + 32 + 32 * h));
        /* pair p of the block: Q4_0 / Q5_0 chunk p / 4, nibble p % 4; Q8_0 chunk p */
#pragma GCC unroll 16
        for (int p = 0; p < 16; p++) {
            __m256i w0, w1;
            if (kind == XK_Q4_0) {
                const uint8_t *c = gb + 32 + 64 * (p / 4);
                w0 = q4_pair(_mm256_loadu_si256((const __m256i *)c), p % 4);
                w1 = q4_pair(_mm256_loadu_si256((const __m256i *)(c + 32)), p % 4);
            } else if (kind == XK_Q5_0) {
                const uint8_t *c = gb + 96 + 64 * (p / 4);
                w0 = _mm256_or_si256(q4_pair(_mm256_loadu_si256((const __m256i *)c), p % 4), q5_bit(hb[0], p, 4));
                w1 = _mm256_or_si256(q4_pair(_mm256_loadu_si256((const __m256i *)(c + 32)), p % 4), q5_bit(hb[1], p, 4));
            } else {
                const uint8_t *c = gb + 32 + 32 * p;
                w0 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)c));
                w1 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(c + 16)));
            }
#pragma GCC unroll 4
            for (int t = 0; t < NT; t++) {
                const __m256i ap = bcast32(ab[t]->qs + 2 * p);
                acc[t][0] = madd_add(acc[t][0], w0, ap);
                acc[t][1] = madd_add(acc[t][1], w1, ap);
            }
        }
#pragma GCC unroll 4
        for (int t = 0; t < NT; t++) x16_block_end(gb, acc[t], ab[t]->d, accf[t]);
    }
#pragma GCC unroll 4
    for (int t = 0; t < NT; t++) {
        _mm256_storeu_ps(y + t * ldy, accf[t][0]);
        _mm256_storeu_ps(y + t * ldy + 8, accf[t][1]);
    }
}

static inline __attribute__((always_inline)) void gemm_x16(x16_kind kind, int64_t k, const void *w, size_t wrb,
                                                           int64_t n_rows, const void *act, size_t arb, int64_t n_tok,
                                                           float *y, int64_t ldy) {
    const int64_t nb = k / 32;
    if (n_tok == 1) { /* several groups at once (avx2_tok1_next) */
        const size_t gbytes = X16 * wrb;
        int64_t s0 = 0, i = 0;
        for (avx2_tok1_set st; avx2_tok1_next((n_rows + X16 - 1) / X16, gbytes, &s0, &i, &st);) {
            const uint8_t *g = (const uint8_t *)w + (size_t)st.first * gbytes;
            float *yg = y + st.first * X16;
            if (kind != XK_Q8_0)
                q4_tok1(kind, nb, g, (size_t)st.stride * gbytes, st.n, st.stride * X16, (const block_a16_32 *)act, yg);
            else
                q8_0_tok1(nb, g, (size_t)st.stride * gbytes, st.n, st.stride * X16, (const block_a16_32 *)act, yg);
        }
        return;
    }
    for (int64_t r = 0; r < n_rows; r += X16) {
        const uint8_t *g = (const uint8_t *)w + (size_t)r * wrb;
        for (int64_t t = 0; t < n_tok;) {
            const uint8_t *at = (const uint8_t *)act + (size_t)t * arb;
            float *yt = y + t * ldy + r;
            const int64_t left = n_tok - t;
            const int nt = left >= NT_MAX ? NT_MAX : (int)left;
            switch (nt) {
            case 1:
                if (kind != XK_Q8_0)
                    q4_tok1(kind, nb, g, 0, 1, 0, (const block_a16_32 *)at, yt);
                else
                    q8_0_tok1(nb, g, 0, 1, 0, (const block_a16_32 *)at, yt);
                break;
            case 2: tile_nt(kind, 2, nb, g, at, arb, yt, ldy); break;
            case 3: tile_nt(kind, 3, nb, g, at, arb, yt, ldy); break;
            default: tile_nt(kind, NT_MAX, nb, g, at, arb, yt, ldy); break;
            }
            t += nt;
        }
    }
}

static void gemm16_x16_q4_0(int64_t k, const void *w, size_t wrb, int64_t n_rows, const void *act, size_t arb,
                            int64_t n_tok, float *y, int64_t ldy) {
    gemm_x16(XK_Q4_0, k, w, wrb, n_rows, act, arb, n_tok, y, ldy);
}

static void gemm16_x16_q5_0(int64_t k, const void *w, size_t wrb, int64_t n_rows, const void *act, size_t arb,
                            int64_t n_tok, float *y, int64_t ldy) {
    gemm_x16(XK_Q5_0, k, w, wrb, n_rows, act, arb, n_tok, y, ldy);
}

static void gemm16_x16_q8_0(int64_t k, const void *w, size_t wrb, int64_t n_rows, const void *act, size_t arb,
                            int64_t n_tok, float *y, int64_t ldy) {
    gemm_x16(XK_Q8_0, k, w, wrb, n_rows, act, arb, n_tok, y, ldy);
}

void kernels_fill_x16_avx2(slm_kernels *kt) {
    kt->mm[SLM_DT_Q4_0].gemm16_x16 = gemm16_x16_q4_0;
    kt->mm[SLM_DT_Q8_0].gemm16_x16 = gemm16_x16_q8_0;
    kt->mm[SLM_DT_Q5_0].gemm16_x16 = gemm16_x16_q5_0;
    kt->x16_q6k_bytes = true; /* Q6_K's tiles here read the byte layout (kernels_x16.c) */
    kernels_fill_x16_kq_avx2(kt);
    kernels_fill_x16_a8_avx2(kt);
}
