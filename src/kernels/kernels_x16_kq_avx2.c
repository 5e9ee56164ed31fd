/* AVX2 gemm16 tiles over 16-row interleaved K-quant weights: Q4_K, Q6_K, IQ4_XS (layouts:
 * kernels_x16.c; the AVX-512 versions: kernels_x16_avx512.c; Q4_0 / Q5_0 / Q8_0:
 * kernels_x16_avx2.c, which calls kernels_fill_x16_kq_avx2).
 *
 * As there, a ymm holds one int16 weight pair of 8 rows (the low 32 bytes of a 64-byte chunk are
 * rows 0-7, the high 32 bytes rows 8-15) and vpmaddwd + vpaddd with the broadcast activation pair
 * add 2 products to each row's int32 lane. Each sub-block's (Q6_K: each 16-element scale's) int32
 * sums are converted and multiplied by the rows' float sub-block scales on their own, so no int32
 * sum spans scales (at most 32 products of 127 x 16383 or 63 x 16383 per lane, plus Q6_K's
 * -32 x 16-code offset: far below 2^31); the row scales d (Q4_K: dmin for the mins) and the
 * activation scale are applied once per block. Per-row scale bytes are 16 contiguous bytes (one
 * per row); a half of 8 rows takes 8 of them.
 *
 * Tiles: 16 rows x NT tokens, NT <= 4 (prompt tiles below); one token has its own tile per type,
 * which works on up to AVX2_TOK1_GROUPS groups at once (kernels_avx2_common.h), visiting each for
 * 512-768 bytes of codes at a time (Q4_K a 64-element chunk, Q6_K two scales, IQ4_XS two
 * sub-blocks: longer visits lose the several streams' bandwidth).
 * In the one-token tiles the loop over the 4 64-element groups is deliberately not unrolled
 * (gcc 12 otherwise spills and copies registers: Q4_K tg 0.39 -> 0.35 ms).
 *
 * Measured (bench_kernels -t 1 -k 2048 -n 8192 -p 128 -i avx2, 2-core AMD EPYC (Zen 4 class),
 * min of 2-3 runs; row = the row-layout gemm16 of kernels_a16_kq_avx2.c), tg ms / pp GFLOP/s:
 *   Q4_K    row 0.774 / 57.8   x16 0.353 / 132
 *   Q6_K    row 0.737 / 70.7   x16 0.435 / 125 (the AVX-512 tables' bit layout; since replaced here by the byte
 *           layout, whose 16-bit tiles measured 19.4-20.2 against 20.3-21.8 GB/s one token in cache on Zen 3,
 *           for the 8-bit one-token tile's 27.6-28.7)
 *   IQ4_XS  row 0.965 / 61.2   x16 0.485 / 119.6
 */
#include <immintrin.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "kernels/kernels_avx2_common.h"
#include "kernels/kernels_internal.h"
#include "kernels/kernels_x16_avx2.h"
#include "quant/quant.h"

#define X16 16
#define Q4_K_GB X16_Q4_K_GB
#define NT_MAX 4
#define Q6K_TOK1_SCALES 2 /* one-token tiles: 16-element scales per group visit */
#define IQ4_TOK1_SUBS 2    /* sub-blocks per group visit */

/* The activation pair (a[0], a[1]) in every int32 lane. */
static inline __m256i bcast32(const int16_t *pair) {
    int32_t v;
    memcpy(&v, pair, 4);
    return _mm256_set1_epi32(v);
}

/* acc + madd(w, a), kept in program order (see kernels_x16_avx2.c). */
static inline __m256i madd_add(__m256i acc, __m256i w, __m256i a) {
    acc = _mm256_add_epi32(acc, _mm256_madd_epi16(w, a));
    __asm__("" : "+x"(acc));
    return acc;
}

/* 8 unsigned bytes of half h (rows 8h .. 8h + 7) of a 16-row byte vector, as floats. */
static inline __m256 u8_half_ps(__m128i v, int h) {
    return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(h ? _mm_unpackhi_epi64(v, v) : v));
}

/* 8 fp16 of half h of a 16-row fp16 field, as floats. */
static inline __m256 f16_half_ps(const uint8_t *field, int h) {
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(field + 16 * h)));
}

/* Pair q (0..3) of a chunk half, as unsigned 4-bit codes. */
static inline __m256i nib_pair(__m256i c, int q) {
    const __m256i lo4 = _mm256_set1_epi16(0x000F);
    return q == 0 ? _mm256_and_si256(c, lo4)
           : q == 3 ? _mm256_srli_epi16(c, 12)
                    : _mm256_and_si256(_mm256_srli_epi16(c, 4 * q), lo4);
}

/* ---- Q4_K --------------------------------------------------------------------------------------
 * Group-block: d, dmin, the 12 scale bytes (16 rows each), then 32 chunks in qs order: chunks
 * 8c .. 8c + 7 hold elements 64c .. 64c + 63, their pairs q = 0, 2 (low nibbles) sub-block 2c,
 * q = 1, 3 (high nibbles) sub-block 2c + 1. x = d sc q - dmin mn; the min term, sum over
 * sub-blocks of mn x (the sub-block's activation code sum), takes the activation's exact sums. */

/* One-token tiles, end of block b for ng groups (gb: group 0's block, the others gstride bytes
 * apart): acc[j] += sb[j] x the rows' d (fp16 at the block's start) x the activation scale. */
static inline void tok1_block_end(const uint8_t *gb, size_t gstride, int ng, float d, __m256 sb[][2], __m256 acc[][2]) {
    const __m256 ad = _mm256_set1_ps(d);
    for (int j = 0; j < ng; j++)
#pragma GCC unroll 2
        for (int h = 0; h < 2; h++)
            acc[j][h] = _mm256_fmadd_ps(sb[j][h], _mm256_mul_ps(f16_half_ps(gb + (size_t)j * gstride, h), ad), acc[j][h]);
}

/* The 8 sub-block sums of the activation codes, as floats. */
static inline void a256_sums32(const block_a16_256 *a, float bs[8]) {
    for (int s = 0; s < 8; s++) bs[s] = (float)(a->bsums[2 * s] + a->bsums[2 * s + 1]);
}

/* 16 rows x one token, both halves at once, 3 int32 sums per half: sub-block 2c (pairs q = 0, 2;
 * q = 2 shifted down) and sub-block 2c + 1 as 16 x (q = 1, masked in place: c & 0x00F0) and 1 x
 * (q = 3) sums, the former shifted back once per sub-block (exact). A fourth sum per half for a
 * masked-in-place q = 2 (c & 0x0F00) was slower (0.36 vs 0.35 ms: more registers than ymm). */
static void q4k_tok1(int64_t nb, const uint8_t *g, size_t gstride, int ng, int64_t ystride, const block_a16_256 *a, float *y) {
    const __m256i lo4 = _mm256_set1_epi16(0x000F), mid4 = _mm256_set1_epi16(0x00F0);
    __m256 accf[AVX2_TOK1_GROUPS][2];
    avx2_tok1_zero(accf, ng);
    for (int64_t b = 0; b < nb; b++) {
        __m128i scb[AVX2_TOK1_GROUPS][8], mnb[AVX2_TOK1_GROUPS][8];
        __m256 sb[AVX2_TOK1_GROUPS][2];
        for (int j = 0; j < ng; j++) {
            x16_q4k_scale_bytes(g + (size_t)j * gstride + (size_t)b * Q4_K_GB, scb[j], mnb[j]);
            sb[j][0] = sb[j][1] = _mm256_setzero_ps();
        }
#pragma GCC unroll 1
        for (int c = 0; c < 4; c++) {
            const int16_t *aq = a[b].qs + 64 * c;
#pragma GCC unroll 1
            for (int j = 0; j < ng; j++) {
                const uint8_t *gb = g + (size_t)j * gstride + (size_t)b * Q4_K_GB, *cs = gb + 256 + 512 * c;
                avx2_prefetch_part(gb, Q4_K_GB, c, 4);
                __m256i sa[2], b16[2], b1[2];
#pragma GCC unroll 2
                for (int h = 0; h < 2; h++) sa[h] = b16[h] = b1[h] = _mm256_setzero_si256();
#pragma GCC unroll 8
                for (int u = 0; u < 8; u++) {
#pragma GCC unroll 2
                    for (int h = 0; h < 2; h++) {
                        const __m256i cv = _mm256_loadu_si256((const __m256i *)(cs + 64 * u + 32 * h));
                        sa[h] = madd_add(sa[h], _mm256_and_si256(cv, lo4), bcast32(aq + 8 * u));
                        b16[h] = madd_add(b16[h], _mm256_and_si256(cv, mid4), bcast32(aq + 8 * u + 2));
                        sa[h] = madd_add(sa[h], _mm256_and_si256(_mm256_srli_epi16(cv, 8), lo4), bcast32(aq + 8 * u + 4));
                        b1[h] = madd_add(b1[h], _mm256_srli_epi16(cv, 12), bcast32(aq + 8 * u + 6));
                    }
                }
#pragma GCC unroll 2
                for (int h = 0; h < 2; h++) {
                    const __m256i A = sa[h], B = _mm256_add_epi32(b1[h], _mm256_srai_epi32(b16[h], 4));
                    sb[j][h] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(A), u8_half_ps(scb[j][2 * c], h), sb[j][h]);
                    sb[j][h] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(B), u8_half_ps(scb[j][2 * c + 1], h), sb[j][h]);
                }
            }
        }
        float bs[8];
        a256_sums32(&a[b], bs);
        const __m256 ad = _mm256_set1_ps(a[b].d);
        for (int j = 0; j < ng; j++) {
            const uint8_t *gb = g + (size_t)j * gstride + (size_t)b * Q4_K_GB;
#pragma GCC unroll 2
            for (int h = 0; h < 2; h++) {
                __m256 sm = _mm256_setzero_ps();
#pragma GCC unroll 8
                for (int s = 0; s < 8; s++) sm = _mm256_fmadd_ps(u8_half_ps(mnb[j][s], h), _mm256_set1_ps(bs[s]), sm);
                accf[j][h] = _mm256_fmadd_ps(sb[j][h], _mm256_mul_ps(f16_half_ps(gb, h), ad), accf[j][h]);
                accf[j][h] = _mm256_fnmadd_ps(sm, _mm256_mul_ps(f16_half_ps(gb + 32, h), ad), accf[j][h]);
            }
        }
    }
    avx2_tok1_store(accf, ng, y, ystride);
}

/* ---- Q6_K ---------------------------------------------------------------------------------------
 * Group-block (3360 bytes): d, the 16 int8 scales (16 rows each), then per 16-element scale j
 * three chunks A B C in the byte layout of kernels_x16.c (x16_q6k_bytes): pairs 0-5 are one AND
 * (or a shift and an AND) of A, B or C, pairs 6 and 7 the two bytes of the gathered fourth code
 * vector. All codes are unsigned; their -32 comes in bsums[j] (-32 x the scale's activation sum,
 * slm_x16_order_act). The 8-bit one-token tile over the same layout: kernels_x16_a8_avx2.c. */
#define Q6_K_GB 3360

/* Scale j of half h of 16 rows (int8), as floats. */
static inline __m256 q6_scale(const uint8_t *gb, int j, int h) {
    return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(gb + 32 + 16 * j + 8 * h))));
}

/* Pair P of a scale's chunks (one half, 8 rows) as int16 codes: the low or high bytes of A, B, C
 * and of the fourth code vector (kernels_x16_avx2.h, x16_q6_fourth). */
static inline __attribute__((always_inline)) __m256i q6_word(__m256i A, __m256i B, __m256i C, int P) {
    const __m256i m63 = _mm256_set1_epi16(63);
    const __m256i x = P < 2 ? A : P < 4 ? B : C;
    if (P >= 6) {
        const __m256i D = x16_q6_fourth(A, B, C);
        return P == 6 ? _mm256_and_si256(D, m63) : _mm256_srli_epi16(D, 8); /* D's bytes are codes */
    }
    return P % 2 ? _mm256_and_si256(_mm256_srli_epi16(x, 8), m63) : _mm256_and_si256(x, m63);
}

/* 16 rows x one token. */
static void q6k_tok1(int64_t nb, const uint8_t *g, size_t gstride, int ng, int64_t ystride, const block_a16_256 *a, float *y) {
    __m256 accf[AVX2_TOK1_GROUPS][2];
    avx2_tok1_zero(accf, ng);
    for (int64_t b = 0; b < nb; b++) {
        __m256 sb[AVX2_TOK1_GROUPS][2];
        avx2_tok1_zero(sb, ng);
#pragma GCC unroll 1
        for (int jj = 0; jj < 16; jj += Q6K_TOK1_SCALES) {
#pragma GCC unroll 1
            for (int gi = 0; gi < ng; gi++) {
                const uint8_t *gb = g + (size_t)gi * gstride + (size_t)b * Q6_K_GB;
                avx2_prefetch_part(gb, Q6_K_GB, jj / Q6K_TOK1_SCALES, 16 / Q6K_TOK1_SCALES);
#pragma GCC unroll 1
                for (int j = jj; j < jj + Q6K_TOK1_SCALES; j++) {
                    const int16_t *ap = a[b].qs + 16 * j;
#pragma GCC unroll 2
                    for (int h = 0; h < 2; h++) {
                        const uint8_t *cs = gb + 288 + 192 * j + 32 * h;
                        const __m256i A = _mm256_loadu_si256((const __m256i *)cs), B = _mm256_loadu_si256((const __m256i *)(cs + 64)),
                                      C = _mm256_loadu_si256((const __m256i *)(cs + 128));
                        __m256i s0 = _mm256_set1_epi32(a[b].bsums[j]), s1 = _mm256_setzero_si256();
#pragma GCC unroll 4
                        for (int P = 0; P < 8; P += 2) {
                            s0 = madd_add(s0, q6_word(A, B, C, P), bcast32(ap + 2 * P));
                            s1 = madd_add(s1, q6_word(A, B, C, P + 1), bcast32(ap + 2 * P + 2));
                        }
                        sb[gi][h] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_add_epi32(s0, s1)), q6_scale(gb, j, h), sb[gi][h]);
                    }
                }
            }
        }
        tok1_block_end(g + (size_t)b * Q6_K_GB, gstride, ng, a[b].d, sb, accf);
    }
    avx2_tok1_store(accf, ng, y, ystride);
}

/* 16 rows x NT tokens (2 <= NT <= NT_MAX), one half of 8 rows at a time: each pair decoded once
 * for all tokens, each scale's int32 sums starting at bsums[j]. */
static inline __attribute__((always_inline)) void q6k_tile(const int NT, int64_t nb, const uint8_t *g,
                                                           const uint8_t *act, size_t arb, float *y, int64_t ldy) {
    __m256 accf[NT_MAX][2];
#pragma GCC unroll 4
    for (int t = 0; t < NT; t++) accf[t][0] = accf[t][1] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *gb = g + (size_t)b * Q6_K_GB;
        const block_a16_256 *ab[NT_MAX];
#pragma GCC unroll 4
        for (int t = 0; t < NT; t++) ab[t] = (const block_a16_256 *)(act + (size_t)t * arb) + b;
#pragma GCC unroll 1
        for (int h = 0; h < 2; h++) {
            __m256 sb[NT_MAX];
#pragma GCC unroll 4
            for (int t = 0; t < NT; t++) sb[t] = _mm256_setzero_ps();
#pragma GCC unroll 1
            for (int j = 0; j < 16; j++) {
                const uint8_t *cs = gb + 288 + 192 * j + 32 * h;
                const __m256i A = _mm256_loadu_si256((const __m256i *)cs), B = _mm256_loadu_si256((const __m256i *)(cs + 64)),
                              C = _mm256_loadu_si256((const __m256i *)(cs + 128));
                __m256i acc[NT_MAX];
#pragma GCC unroll 4
                for (int t = 0; t < NT; t++) acc[t] = _mm256_set1_epi32(ab[t]->bsums[j]);
#pragma GCC unroll 8
                for (int P = 0; P < 8; P++) {
                    const __m256i w = q6_word(A, B, C, P);
#pragma GCC unroll 4
                    for (int t = 0; t < NT; t++) acc[t] = madd_add(acc[t], w, bcast32(ab[t]->qs + 16 * j + 2 * P));
                }
                const __m256 sc = q6_scale(gb, j, h);
#pragma GCC unroll 4
                for (int t = 0; t < NT; t++) sb[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(acc[t]), sc, sb[t]);
            }
            const __m256 d = f16_half_ps(gb, h);
#pragma GCC unroll 4
            for (int t = 0; t < NT; t++) accf[t][h] = _mm256_fmadd_ps(sb[t], _mm256_mul_ps(d, _mm256_set1_ps(ab[t]->d)), accf[t][h]);
        }
    }
#pragma GCC unroll 4
    for (int t = 0; t < NT; t++) {
        _mm256_storeu_ps(y + t * ldy, accf[t][0]);
        _mm256_storeu_ps(y + t * ldy + 8, accf[t][1]);
    }
}

/* ---- IQ4_XS -------------------------------------------------------------------------------------
 * Group-block (2176 bytes): d, scales_h (16 rows each), the 4 scales_l bytes, then 32 chunks in
 * qs order: chunks 4s .. 4s + 3 are sub-block s (all 4 pairs). A chunk is decoded two pairs at a
 * time by vpshufb on the nibbles (c & 0x0F0F: pairs q = 0, 2 in the low / high byte of a word;
 * (c >> 4) & 0x0F0F: q = 1, 3) into the IQ4_NL values + 128 (1..241, unsigned bytes), so that each
 * pair is one AND (low byte) or one shift (high byte) away, no sign extension. The + 128 comes
 * back as -128 x the sub-block's activation code sum (bsums[2s] + bsums[2s + 1]: the activation
 * order of IQ4_XS stays within sub-blocks), the initial value of its int32 sums; |sum| <= 32 x
 * 241 x 16383 stays far from 2^31. Saves 2 of 11 decode ops per chunk half over sign-extending
 * signed values (one-token tile; the prompt tile: iq4_pair_s8). */
#define IQ4_XS_GB 2176

/* kvalues_iq4nl + 128 in both 128-bit lanes (x ^ 0x80 = x + 128 for a signed byte x). */
static inline __m256i iq4_table_u8(void) {
    return _mm256_xor_si256(_mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)kvalues_iq4nl)),
                            _mm256_set1_epi8((char)0x80));
}

/* Pair q of a chunk half as int16 IQ4_NL values + 128 (tab: iq4_table_u8). */
static inline __attribute__((always_inline)) __m256i iq4_pair(__m256i c, int q, __m256i tab) {
    const __m256i m0f = _mm256_set1_epi16(0x0F0F);
    const __m256i v = _mm256_shuffle_epi8(tab, _mm256_and_si256(q % 2 ? _mm256_srli_epi16(c, 4) : c, m0f));
    return q < 2 ? _mm256_and_si256(v, _mm256_set1_epi16(0x00FF)) : _mm256_srli_epi16(v, 8);
}

/* The prompt tile's decode: the signed values, sign-extended by shifts (tab: iq4_table_s8). The
 * unsigned decode's 0x00FF constant is one ymm more than the 16-row x 4-token tile has: gcc
 * spilled and the tile slowed (min of 6-10 runs, 2048 x 2048 x 64 tokens: 5.3 -> 5.6-6.1 ms). */
static inline __m256i iq4_table_s8(void) { return _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)kvalues_iq4nl)); }

static inline __attribute__((always_inline)) __m256i iq4_pair_s8(__m256i c, int q, __m256i tab) {
    const __m256i m0f = _mm256_set1_epi16(0x0F0F);
    const __m256i v = _mm256_shuffle_epi8(tab, _mm256_and_si256(q % 2 ? _mm256_srli_epi16(c, 4) : c, m0f));
    return q < 2 ? _mm256_srai_epi16(_mm256_slli_epi16(v, 8), 8) : _mm256_srai_epi16(v, 8);
}

/* The int32 sums' initial value for sub-block s of one token: the -128 of iq4_pair's codes. */
static inline __m256i iq4_offset(const block_a16_256 *a, int s) {
    return _mm256_set1_epi32(-128 * (a->bsums[2 * s] + a->bsums[2 * s + 1]));
}

/* Sub-block s's scale (ls - 32) of half h of 16 rows, as floats. */
static inline __m256 iq4_scale(const uint8_t *gb, int s, int h) {
    const __m256i l = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(gb + 64 + 16 * (s / 2) + 8 * h))),
                  hh = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(gb + 32 + 16 * h)));
    const __m256i ls = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi32(l, 4 * (s % 2)), _mm256_set1_epi32(15)),
                                       _mm256_slli_epi32(_mm256_and_si256(_mm256_srli_epi32(hh, 2 * s), _mm256_set1_epi32(3)), 4));
    return _mm256_cvtepi32_ps(_mm256_sub_epi32(ls, _mm256_set1_epi32(32)));
}

/* 16 rows x one token: sub-block by sub-block, two int32 sums per half (pairs q = 0, 2 / 1, 3). */
static void iq4_tok1(int64_t nb, const uint8_t *g, size_t gstride, int ng, int64_t ystride, const block_a16_256 *a, float *y) {
    const __m256i tab = iq4_table_u8();
    __m256 accf[AVX2_TOK1_GROUPS][2];
    avx2_tok1_zero(accf, ng);
    for (int64_t b = 0; b < nb; b++) {
        __m256 sb[AVX2_TOK1_GROUPS][2];
        avx2_tok1_zero(sb, ng);
#pragma GCC unroll 1
        for (int ss = 0; ss < 8; ss += IQ4_TOK1_SUBS) {
#pragma GCC unroll 1
            for (int j = 0; j < ng; j++) {
                const uint8_t *gb = g + (size_t)j * gstride + (size_t)b * IQ4_XS_GB;
                avx2_prefetch_part(gb, IQ4_XS_GB, ss / IQ4_TOK1_SUBS, 8 / IQ4_TOK1_SUBS);
#pragma GCC unroll 1
                for (int s = ss; s < ss + IQ4_TOK1_SUBS; s++) {
                    const uint8_t *cs = gb + 128 + 256 * s;
                    const int16_t *aq = a[b].qs + 32 * s;
                    __m256i A[2], B[2];
#pragma GCC unroll 2
                    for (int h = 0; h < 2; h++) A[h] = iq4_offset(&a[b], s), B[h] = _mm256_setzero_si256();
#pragma GCC unroll 4
                    for (int u = 0; u < 4; u++) {
#pragma GCC unroll 2
                        for (int h = 0; h < 2; h++) {
                            const __m256i c = _mm256_loadu_si256((const __m256i *)(cs + 64 * u + 32 * h));
                            A[h] = madd_add(A[h], iq4_pair(c, 0, tab), bcast32(aq + 8 * u));
                            B[h] = madd_add(B[h], iq4_pair(c, 1, tab), bcast32(aq + 8 * u + 2));
                            A[h] = madd_add(A[h], iq4_pair(c, 2, tab), bcast32(aq + 8 * u + 4));
                            B[h] = madd_add(B[h], iq4_pair(c, 3, tab), bcast32(aq + 8 * u + 6));
                        }
                    }
#pragma GCC unroll 2
                    for (int h = 0; h < 2; h++)
                        sb[j][h] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_add_epi32(A[h], B[h])), iq4_scale(gb, s, h), sb[j][h]);
                }
            }
        }
        tok1_block_end(g + (size_t)b * IQ4_XS_GB, gstride, ng, a[b].d, sb, accf);
    }
    avx2_tok1_store(accf, ng, y, ystride);
}

/* ---- Prompt tiles (Q4_K, IQ4_XS; Q6_K's: q6k_tile) ---------------------------------------------
 * 16 rows x NT tokens (2 <= NT <= NT_MAX), one scale group at a time: Q4_K's sub-block 2c + s
 * (pairs q = s, s + 2 of chunks 8c .. 8c + 7), IQ4_XS's sub-block (all pairs of its 4 chunks).
 * Each pair is decoded once for all tokens; the int32 sums of NT tokens x 2 halves (8 ymm) stay
 * in registers. */
typedef enum { XK_Q4_K, XK_Q6_K, XK_IQ4_XS } x16_kq;

static inline __attribute__((always_inline)) void kq_tile(x16_kq kind, const int NT, int64_t nb, const uint8_t *g,
                                                          const uint8_t *act, size_t arb, float *y, int64_t ldy) {
    const size_t gbytes = kind == XK_Q4_K ? Q4_K_GB : IQ4_XS_GB;
    const int n_chunks = kind == XK_Q4_K ? 8 : 4, n_pairs = kind == XK_IQ4_XS ? 4 : 2;
    const __m256i tab = iq4_table_s8();
    __m256 accf[NT_MAX][2];
#pragma GCC unroll 4
    for (int t = 0; t < NT; t++) accf[t][0] = accf[t][1] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *gb = g + (size_t)b * gbytes;
        const block_a16_256 *ab[NT_MAX];
        __m256 sb[NT_MAX][2];
#pragma GCC unroll 4
        for (int t = 0; t < NT; t++) {
            ab[t] = (const block_a16_256 *)(act + (size_t)t * arb) + b;
            sb[t][0] = sb[t][1] = _mm256_setzero_ps();
        }
        __m128i scb[8], mnb[8];
        if (kind == XK_Q4_K) x16_q4k_scale_bytes(gb, scb, mnb);
#pragma GCC unroll 1
        for (int o = 0; o < 4; o++) { /* Q4_K: c = o */
#pragma GCC unroll 2
            for (int s = 0; s < 2; s++) {
                const int grp = 2 * o + s;
                /* codes of the group's chunks, activation pair offset */
                const uint8_t *cs = kind == XK_Q4_K ? gb + 256 + 512 * o : gb + 128 + 256 * grp;
                const int aoff = kind == XK_Q4_K ? 64 * o : 32 * grp;
                __m256i acc[NT_MAX][2];
#pragma GCC unroll 4
                for (int t = 0; t < NT; t++) acc[t][0] = acc[t][1] = _mm256_setzero_si256();
#pragma GCC unroll 8
                for (int u = 0; u < n_chunks; u++) {
#pragma GCC unroll 4
                    for (int i = 0; i < n_pairs; i++) {
                        const int q = kind == XK_IQ4_XS ? i : s + 2 * i;
                        __m256i w[2];
#pragma GCC unroll 2
                        for (int h = 0; h < 2; h++) {
                            const __m256i c = _mm256_loadu_si256((const __m256i *)(cs + 64 * u + 32 * h));
                            w[h] = kind == XK_Q4_K ? nib_pair(c, q) : iq4_pair_s8(c, q, tab);
                        }
#pragma GCC unroll 4
                        for (int t = 0; t < NT; t++) {
                            const __m256i ap = bcast32(ab[t]->qs + aoff + 8 * u + 2 * q);
                            acc[t][0] = madd_add(acc[t][0], w[0], ap);
                            acc[t][1] = madd_add(acc[t][1], w[1], ap);
                        }
                    }
                }
                const __m256 s0 = kind == XK_Q4_K ? u8_half_ps(scb[grp], 0) : iq4_scale(gb, grp, 0),
                             s1 = kind == XK_Q4_K ? u8_half_ps(scb[grp], 1) : iq4_scale(gb, grp, 1);
#pragma GCC unroll 4
                for (int t = 0; t < NT; t++) {
                    sb[t][0] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(acc[t][0]), s0, sb[t][0]);
                    sb[t][1] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(acc[t][1]), s1, sb[t][1]);
                }
            }
        }
        const __m256 d0 = f16_half_ps(gb, 0), d1 = f16_half_ps(gb, 1);
        if (kind == XK_Q4_K) {
            __m256 mnf[8][2];
#pragma GCC unroll 8
            for (int s = 0; s < 8; s++) mnf[s][0] = u8_half_ps(mnb[s], 0), mnf[s][1] = u8_half_ps(mnb[s], 1);
            const __m256 m0 = f16_half_ps(gb + 32, 0), m1 = f16_half_ps(gb + 32, 1);
#pragma GCC unroll 4
            for (int t = 0; t < NT; t++) {
                float bs[8];
                a256_sums32(ab[t], bs);
                __m256 sm0 = _mm256_setzero_ps(), sm1 = _mm256_setzero_ps();
#pragma GCC unroll 8
                for (int s = 0; s < 8; s++) {
                    const __m256 bv = _mm256_set1_ps(bs[s]);
                    sm0 = _mm256_fmadd_ps(mnf[s][0], bv, sm0);
                    sm1 = _mm256_fmadd_ps(mnf[s][1], bv, sm1);
                }
                const __m256 ad = _mm256_set1_ps(ab[t]->d);
                accf[t][0] = _mm256_fnmadd_ps(sm0, _mm256_mul_ps(m0, ad), accf[t][0]);
                accf[t][1] = _mm256_fnmadd_ps(sm1, _mm256_mul_ps(m1, ad), accf[t][1]);
            }
        }
#pragma GCC unroll 4
        for (int t = 0; t < NT; t++) {
            const __m256 ad = _mm256_set1_ps(ab[t]->d);
            accf[t][0] = _mm256_fmadd_ps(sb[t][0], _mm256_mul_ps(d0, ad), accf[t][0]);
            accf[t][1] = _mm256_fmadd_ps(sb[t][1], _mm256_mul_ps(d1, ad), accf[t][1]);
        }
    }
#pragma GCC unroll 4
    for (int t = 0; t < NT; t++) {
        _mm256_storeu_ps(y + t * ldy, accf[t][0]);
        _mm256_storeu_ps(y + t * ldy + 8, accf[t][1]);
    }
}

/* ---- IQ4_XS prompts of IQ4_DEC_MIN_TOK+ tokens: each 16-row group decoded once --------------------
 * The 16-row x 4-token tile spends ~5.5 of its ~25 vector ops per pair decoding the IQ4_NL codes
 * (vpshufb and sign-extending shifts), once per 4 tokens. Here a group's blocks are decoded once
 * (int16 pairs, the sub-block scales and d as floats) into a stack buffer of up to IQ4_DEC_BLOCKS
 * blocks (~137 KiB, L2) that every 4-token tile of the prompt then reads with plain loads. Same
 * products, sums and float operations in the same order as kq_tile: identical results. */
#define IQ4_DEC_MIN_TOK 16
#define IQ4_DEC_BLOCKS 16

typedef struct {
    __m256i w[IQ4_DEC_BLOCKS][8][4][4][2]; /* block, sub-block s, chunk u, pair q, half h */
    __m256 sc[IQ4_DEC_BLOCKS][8][2];       /* iq4_scale(s, h) */
    __m256 d[IQ4_DEC_BLOCKS][2];           /* the rows' d, half h */
} iq4_decoded;

static void iq4_decode(const uint8_t *g, int64_t b0, int nbs, iq4_decoded *dec) {
    const __m256i tab = iq4_table_s8();
    for (int i = 0; i < nbs; i++) {
        const uint8_t *gb = g + (size_t)(b0 + i) * IQ4_XS_GB;
        for (int s = 0; s < 8; s++) {
            for (int u = 0; u < 4; u++)
                for (int h = 0; h < 2; h++) {
                    const __m256i c = _mm256_loadu_si256((const __m256i *)(gb + 128 + 256 * s + 64 * u + 32 * h));
#pragma GCC unroll 4
                    for (int q = 0; q < 4; q++) dec->w[i][s][u][q][h] = iq4_pair_s8(c, q, tab);
                }
            for (int h = 0; h < 2; h++) dec->sc[i][s][h] = iq4_scale(gb, s, h);
        }
        for (int h = 0; h < 2; h++) dec->d[i][h] = f16_half_ps(gb, h);
    }
}

/* 16 rows x NT tokens over decoded blocks b0 .. b0 + nbs - 1; first: b0 == 0 (else y holds the
 * sums so far and the accumulation goes on from them). */
static inline __attribute__((always_inline)) void iq4_dec_tile(const int NT, const iq4_decoded *dec, int64_t b0,
                                                               int nbs, const uint8_t *act, size_t arb, float *y,
                                                               int64_t ldy) {
    __m256 accf[NT_MAX][2];
#pragma GCC unroll 4
    for (int t = 0; t < NT; t++)
        for (int h = 0; h < 2; h++) accf[t][h] = b0 == 0 ? _mm256_setzero_ps() : _mm256_loadu_ps(y + t * ldy + 8 * h);
    for (int i = 0; i < nbs; i++) {
        const block_a16_256 *ab[NT_MAX];
        __m256 sb[NT_MAX][2];
#pragma GCC unroll 4
        for (int t = 0; t < NT; t++) {
            ab[t] = (const block_a16_256 *)(act + (size_t)t * arb) + b0 + i;
            sb[t][0] = sb[t][1] = _mm256_setzero_ps();
        }
#pragma GCC unroll 1
        for (int s = 0; s < 8; s++) {
            __m256i acc[NT_MAX][2];
#pragma GCC unroll 4
            for (int t = 0; t < NT; t++) acc[t][0] = acc[t][1] = _mm256_setzero_si256();
#pragma GCC unroll 4
            for (int u = 0; u < 4; u++) {
#pragma GCC unroll 4
                for (int q = 0; q < 4; q++) {
                    const __m256i w0 = _mm256_load_si256(&dec->w[i][s][u][q][0]), w1 = _mm256_load_si256(&dec->w[i][s][u][q][1]);
#pragma GCC unroll 4
                    for (int t = 0; t < NT; t++) {
                        const __m256i ap = bcast32(ab[t]->qs + 32 * s + 8 * u + 2 * q);
                        acc[t][0] = madd_add(acc[t][0], w0, ap);
                        acc[t][1] = madd_add(acc[t][1], w1, ap);
                    }
                }
            }
#pragma GCC unroll 4
            for (int t = 0; t < NT; t++) {
                sb[t][0] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(acc[t][0]), dec->sc[i][s][0], sb[t][0]);
                sb[t][1] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(acc[t][1]), dec->sc[i][s][1], sb[t][1]);
            }
        }
#pragma GCC unroll 4
        for (int t = 0; t < NT; t++) {
            const __m256 ad = _mm256_set1_ps(ab[t]->d);
            accf[t][0] = _mm256_fmadd_ps(sb[t][0], _mm256_mul_ps(dec->d[i][0], ad), accf[t][0]);
            accf[t][1] = _mm256_fmadd_ps(sb[t][1], _mm256_mul_ps(dec->d[i][1], ad), accf[t][1]);
        }
    }
#pragma GCC unroll 4
    for (int t = 0; t < NT; t++) {
        _mm256_storeu_ps(y + t * ldy, accf[t][0]);
        _mm256_storeu_ps(y + t * ldy + 8, accf[t][1]);
    }
}

static void iq4_prompt_decoded(int64_t nb, const uint8_t *w, size_t wrb, int64_t n_rows, const uint8_t *act,
                               size_t arb, int64_t n_tok, float *y, int64_t ldy) {
    _Alignas(32) iq4_decoded dec;
    for (int64_t r = 0; r < n_rows; r += X16) {
        const uint8_t *g = w + (size_t)r * wrb;
        for (int64_t b0 = 0; b0 < nb; b0 += IQ4_DEC_BLOCKS) {
            const int nbs = nb - b0 >= IQ4_DEC_BLOCKS ? IQ4_DEC_BLOCKS : (int)(nb - b0);
            iq4_decode(g, b0, nbs, &dec);
            for (int64_t t = 0; t < n_tok;) {
                const uint8_t *at = act + (size_t)t * arb;
                float *yt = y + t * ldy + r;
                const int nt = n_tok - t >= NT_MAX ? NT_MAX : (int)(n_tok - t);
                switch (nt) {
                case 1: iq4_dec_tile(1, &dec, b0, nbs, at, arb, yt, ldy); break;
                case 2: iq4_dec_tile(2, &dec, b0, nbs, at, arb, yt, ldy); break;
                case 3: iq4_dec_tile(3, &dec, b0, nbs, at, arb, yt, ldy); break;
                default: iq4_dec_tile(NT_MAX, &dec, b0, nbs, at, arb, yt, ldy); break;
                }
                t += nt;
            }
        }
    }
}

static inline __attribute__((always_inline)) void gemm_kq(x16_kq kind, int64_t k, const void *w, size_t wrb,
                                                          int64_t n_rows, const void *act, size_t arb, int64_t n_tok,
                                                          float *y, int64_t ldy) {
    const int64_t nb = k / 256;
    if (kind == XK_IQ4_XS && n_tok >= IQ4_DEC_MIN_TOK) {
        iq4_prompt_decoded(nb, (const uint8_t *)w, wrb, n_rows, (const uint8_t *)act, arb, n_tok, y, ldy);
        return;
    }
    if (n_tok == 1) { /* several groups at once (avx2_tok1_next) */
        const size_t gbytes = X16 * wrb;
        int64_t s0 = 0, i = 0;
        for (avx2_tok1_set st; avx2_tok1_next((n_rows + X16 - 1) / X16, gbytes, &s0, &i, &st);) {
            const uint8_t *g = (const uint8_t *)w + (size_t)st.first * gbytes;
            const block_a16_256 *a = (const block_a16_256 *)act;
            const size_t gs = (size_t)st.stride * gbytes;
            float *yg = y + st.first * X16;
            if (kind == XK_Q4_K)
                q4k_tok1(nb, g, gs, st.n, st.stride * X16, a, yg);
            else if (kind == XK_Q6_K)
                q6k_tok1(nb, g, gs, st.n, st.stride * X16, a, yg);
            else
                iq4_tok1(nb, g, gs, st.n, st.stride * X16, a, yg);
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
                if (kind == XK_Q4_K)
                    q4k_tok1(nb, g, 0, 1, 0, (const block_a16_256 *)at, yt);
                else if (kind == XK_Q6_K)
                    q6k_tok1(nb, g, 0, 1, 0, (const block_a16_256 *)at, yt);
                else
                    iq4_tok1(nb, g, 0, 1, 0, (const block_a16_256 *)at, yt);
                break;
            case 2:
                if (kind == XK_Q6_K)
                    q6k_tile(2, nb, g, at, arb, yt, ldy);
                else
                    kq_tile(kind, 2, nb, g, at, arb, yt, ldy);
                break;
            case 3:
                if (kind == XK_Q6_K)
                    q6k_tile(3, nb, g, at, arb, yt, ldy);
                else
                    kq_tile(kind, 3, nb, g, at, arb, yt, ldy);
                break;
            default:
                if (kind == XK_Q6_K)
                    q6k_tile(NT_MAX, nb, g, at, arb, yt, ldy);
                else
                    kq_tile(kind, NT_MAX, nb, g, at, arb, yt, ldy);
                break;
            }
            t += nt;
        }
    }
}

static void gemm16_x16_q4_K(int64_t k, const void *w, size_t wrb, int64_t n_rows, const void *act, size_t arb,
                            int64_t n_tok, float *y, int64_t ldy) {
    gemm_kq(XK_Q4_K, k, w, wrb, n_rows, act, arb, n_tok, y, ldy);
}

static void gemm16_x16_q6_K(int64_t k, const void *w, size_t wrb, int64_t n_rows, const void *act, size_t arb,
                            int64_t n_tok, float *y, int64_t ldy) {
    gemm_kq(XK_Q6_K, k, w, wrb, n_rows, act, arb, n_tok, y, ldy);
}

static void gemm16_x16_iq4_xs(int64_t k, const void *w, size_t wrb, int64_t n_rows, const void *act, size_t arb,
                              int64_t n_tok, float *y, int64_t ldy) {
    gemm_kq(XK_IQ4_XS, k, w, wrb, n_rows, act, arb, n_tok, y, ldy);
}

void kernels_fill_x16_kq_avx2(slm_kernels *kt) {
    kt->mm[SLM_DT_Q4_K].gemm16_x16 = gemm16_x16_q4_K;
    kt->mm[SLM_DT_Q6_K].gemm16_x16 = gemm16_x16_q6_K;
    kt->mm[SLM_DT_IQ4_XS].gemm16_x16 = gemm16_x16_iq4_xs;
}
