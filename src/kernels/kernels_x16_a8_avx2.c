/* AVX2 one-token tiles over 16-row interleaved weights with llama.cpp's 8-bit activations
 * (slm_matmul_x16_multi_a8, kernels.h): Q4_0 and Q5_0 against Q8_0 codes, Q4_K, IQ4_XS and Q6_K (in
 * the AVX2 tables' byte layout, kernels_x16.c) against Q8_K.
 *
 * Why: with 16-bit activations a 4-bit pair costs a decode, a broadcast, a vpmaddwd and a vpaddd
 * for 2 products per row (AVX2 has no vpdpwssd), and at one thread those tiles are
 * arithmetic-bound below what memory delivers. Here a chunk's 4 code bytes per row (kernels_x16.c:
 * 4 consecutive elements in their low nibbles, 4 in their high ones) are two vectors of unsigned
 * bytes after one AND / one shift + AND, and vpmaddubsw with the 4 matching activation bytes
 * (broadcast, the a8 order of slm_x16_quantize_a8) adds 4 products per row into two int16 lanes:
 * twice the products per multiply, and the int16 sums of a block are added first and widened
 * (vpmaddwd) once per block (Q4_K: once per sub-block, with the rows' scales as the multiplier).
 *
 * Exactness: the int16 sums never saturate. Q8_0 / Q8_K codes are within -127..127 (the largest
 * magnitude maps to 127), so a vpmaddubsw lane is at most 2 x 15 x 127 = 3810 for 4-bit codes and
 * 2 x 31 x 127 = 7874 for Q5_0's 5-bit ones; 8 of the former (30480) or 4 of the latter (31496)
 * fit one int16 lane. Q4_0's -8 and Q5_0's -16 come from the activation block's exact code sum,
 * Q4_K's mins from Q8_K's bsums; the result equals the SLM_ACT_Q8 gemm up to float order.
 *
 * Like the 16-bit one-token tiles, each call works on up to AVX2_TOK1_GROUPS groups 64 KiB or more
 * apart (avx2_tok1_next, kernels_avx2_common.h), Q4_K one 64-element chunk per group visit.
 *
 * IQ4_XS: its looked-up values are signed; the tile takes them as a linear part in the nibble plus a
 * small unsigned remainder (iq4_a8_tok1). A sign-trick version (|w| and the activations with w's
 * sign, two vpsignb, a widening vpmaddwd per product vector) was measured first and dropped: ~5% in
 * cache, nothing clear from memory. Q6_K: only over its byte layout (the 16-bit pair layout of the
 * AVX-512 tables needs as many ops to gather bytes as the 16-bit tile spends). Not here: Q8_0 (signed
 * codes: the sign trick again, and its 16-bit tile is not arithmetic-bound: ~40 GB/s in cache). */
#include <immintrin.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "kernels/kernels_avx2_common.h"
#include "kernels/kernels_internal.h"
#include "kernels/kernels_x16_avx2.h"
#include "quant/quant.h"

#define X16 16
#define Q6K_A8_SCALES 2 /* Q6_K scales per group visit (384 bytes, as the 16-bit tile) */
#define IQ4_A8_SUBS 2 /* IQ4_XS sub-blocks per group visit (512 bytes, as the 16-bit tile) */

/* 4 activation bytes in every int32 lane. */
static inline __m256i bcast4(const int8_t *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return _mm256_set1_epi32(v);
}

/* acc + the int16 pair sums of u x s, kept in program order (see madd_add, kernels_x16_avx2.c). */
static inline __m256i maddubs_add(__m256i acc, __m256i u, __m256i s) {
    acc = _mm256_add_epi16(acc, _mm256_maddubs_epi16(u, s));
    __asm__("" : "+x"(acc));
    return acc;
}

typedef enum { A8_Q4_0, A8_Q5_0 } a8_kind;

/* Q5_0: the fifth bits of chunk m (the packed qh words of 8 rows, kernels_q5_bit_pos) at bit 4 of
 * each byte of the low-nibble vector (pairs q = 0, 2 at word bits 4 + m, 12 + m) or of the
 * high-nibble vector (q = 1 at bit 8 + m, q = 3 at bit m). The high-nibble bits are taken from
 * the words with their bytes swapped (hs, once per block): there they sit at m and 8 + m, and one
 * shift left by 4 - m puts both at 4 and 12 (two ops instead of five; ~15% in cache). */
static inline __m256i q5_lo_bits(__m256i hb, int m) {
    return _mm256_and_si256(_mm256_srli_epi16(hb, m), _mm256_set1_epi16(0x1010));
}
static inline __m256i q5_hi_bits(__m256i hs, int m) {
    return _mm256_and_si256(_mm256_slli_epi16(hs, 4 - m), _mm256_set1_epi16(0x1010));
}

/* 16 rows x one token, Q4_0 / Q5_0, ng groups gstride bytes apart (results ystride apart). */
static inline __attribute__((always_inline)) void q4_a8_tok1(a8_kind kind, int64_t nb, const uint8_t *g, size_t gstride,
                                                             int ng, int64_t ystride, const block_a8_32 *a, float *y) {
    const __m256i m4 = _mm256_set1_epi8(0x0F), ones = _mm256_set1_epi16(1);
    const __m256i swap = _mm256_setr_epi8(1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10, 13, 12, 15, 14, 1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11,
                                          10, 13, 12, 15, 14); /* the bytes of each 16-bit word swapped */
    const size_t gbytes = kind == A8_Q4_0 ? X16_Q4_0_GB : X16_Q5_0_GB, codes = kind == A8_Q4_0 ? 32 : 96;
    const int offset = kind == A8_Q4_0 ? 8 : 16;
    __m256 accf[AVX2_TOK1_GROUPS][2];
    avx2_tok1_zero(accf, ng);
    for (int64_t b = 0; b < nb; b++) {
        const int8_t *aq = a[b].qs;
        for (int j = 0; j < ng; j++) {
            const uint8_t *gb = g + (size_t)j * gstride + (size_t)b * gbytes;
            avx2_prefetch_part(gb, (int)gbytes, 0, 1);
            __m256i slo[2], shi[2], hb[2], hs[2];
#pragma GCC unroll 2
            for (int h = 0; h < 2; h++) {
                slo[h] = shi[h] = _mm256_setzero_si256();
                hb[h] = kind == A8_Q5_0 ? _mm256_loadu_si256((const __m256i *)(gb + 32 + 32 * h)) : _mm256_setzero_si256();
                hs[h] = kind == A8_Q5_0 ? _mm256_shuffle_epi8(hb[h], swap) : _mm256_setzero_si256();
            }
#pragma GCC unroll 4
            for (int m = 0; m < 4; m++) {
                const __m256i alo = bcast4(aq + 8 * m), ahi = bcast4(aq + 8 * m + 4);
#pragma GCC unroll 2
                for (int h = 0; h < 2; h++) {
                    const __m256i c = _mm256_loadu_si256((const __m256i *)(gb + codes + 64 * m + 32 * h));
                    __m256i lo = _mm256_and_si256(c, m4), hi = _mm256_and_si256(_mm256_srli_epi16(c, 4), m4);
                    if (kind == A8_Q5_0) {
                        lo = _mm256_or_si256(lo, q5_lo_bits(hb[h], m));
                        hi = _mm256_or_si256(hi, q5_hi_bits(hs[h], m));
                    }
                    slo[h] = maddubs_add(slo[h], lo, alo);
                    /* Q4_0: one int16 sum (8 lanes of <= 3810); Q5_0: two (4 of <= 7874 each) */
                    if (kind == A8_Q4_0)
                        slo[h] = maddubs_add(slo[h], hi, ahi);
                    else
                        shi[h] = maddubs_add(shi[h], hi, ahi);
                }
            }
            const __m256i off = _mm256_set1_epi32(-offset * a[b].sum);
            __m256i s[2];
#pragma GCC unroll 2
            for (int h = 0; h < 2; h++) {
                s[h] = _mm256_add_epi32(_mm256_madd_epi16(slo[h], ones), off);
                if (kind == A8_Q5_0) s[h] = _mm256_add_epi32(s[h], _mm256_madd_epi16(shi[h], ones));
            }
            x16_block_end(gb, s, a[b].d, accf[j]);
        }
    }
    avx2_tok1_store(accf, ng, y, ystride);
}

/* Half h (rows 8h .. 8h + 7) of two 16-row byte vectors as int16 pairs (x[r], y[r]) per row lane. */
static inline __m256i byte_pairs(__m128i x, __m128i y, int h) {
    return _mm256_cvtepu8_epi16(h ? _mm_unpackhi_epi8(x, y) : _mm_unpacklo_epi8(x, y));
}

/* 16 rows x one token, Q4_K: per 64-element chunk c, int16 sums of sub-block 2c (low nibbles) and
 * 2c + 1 (high nibbles), widened with the rows' 6-bit scales as multipliers into one int32 sum per
 * row for the whole block; the mins term sum_s mn_s x bsum_s is integer too. The two scales a
 * chunk needs are decoded at its visit (q4k_chunk_scales) and the mins at the block's end: all 16
 * scale and min vectors of 4 groups held across the chunk loop were spilled to the stack, and
 * decoding at the point of use is 15-20% faster in cache (2048 x 2048, 1 thread, alternating:
 * 22.8-24.2 -> 26.8-27.3 GB/s). A whole block per group visit was as fast in cache but slower
 * from memory (2304-byte visits per stream, see avx2_tok1_next). */
/* Q4_K: the 6-bit scale bytes of sub-blocks 2c and 2c + 1 of 16 rows (x16_q4k_scale_bytes for one chunk). */
static inline __attribute__((always_inline)) void q4k_chunk_scales(const uint8_t *gb, int c, __m128i *s0, __m128i *s1) {
    const __m128i m63 = _mm_set1_epi8(63), m15 = _mm_set1_epi8(15), m48 = _mm_set1_epi8(48);
    const __m128i *R = (const __m128i *)(gb + 64);
    if (c < 2) {
        *s0 = _mm_and_si128(_mm_loadu_si128(R + 2 * c), m63);
        *s1 = _mm_and_si128(_mm_loadu_si128(R + 2 * c + 1), m63);
    } else {
        const int j = 2 * c;
        *s0 = _mm_or_si128(_mm_and_si128(_mm_loadu_si128(R + j + 4), m15),
                           _mm_and_si128(_mm_srli_epi16(_mm_loadu_si128(R + j - 4), 2), m48));
        *s1 = _mm_or_si128(_mm_and_si128(_mm_loadu_si128(R + j + 5), m15),
                           _mm_and_si128(_mm_srli_epi16(_mm_loadu_si128(R + j - 3), 2), m48));
    }
}

static void q4k_a8_tok1(int64_t nb, const uint8_t *g, size_t gstride, int ng, int64_t ystride, const block_q8_K *a,
                        float *y) {
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    __m256 accf[AVX2_TOK1_GROUPS][2];
    avx2_tok1_zero(accf, ng);
    for (int64_t b = 0; b < nb; b++) {
        __m256i isum[AVX2_TOK1_GROUPS][2];
        for (int j = 0; j < ng; j++) isum[j][0] = isum[j][1] = _mm256_setzero_si256();
#pragma GCC unroll 4
        for (int c = 0; c < 4; c++) {
            const int8_t *aq = a[b].qs + 64 * c;
#pragma GCC unroll 1
            for (int j = 0; j < ng; j++) {
                const uint8_t *gb = g + (size_t)j * gstride + (size_t)b * X16_Q4_K_GB, *cs = gb + 256 + 512 * c;
                avx2_prefetch_part(gb, X16_Q4_K_GB, c, 4);
                __m256i slo[2], shi[2];
#pragma GCC unroll 2
                for (int h = 0; h < 2; h++) slo[h] = shi[h] = _mm256_setzero_si256();
#pragma GCC unroll 8
                for (int u = 0; u < 8; u++) {
                    const __m256i alo = bcast4(aq + 8 * u), ahi = bcast4(aq + 8 * u + 4);
#pragma GCC unroll 2
                    for (int h = 0; h < 2; h++) {
                        const __m256i cv = _mm256_loadu_si256((const __m256i *)(cs + 64 * u + 32 * h));
                        slo[h] = maddubs_add(slo[h], _mm256_and_si256(cv, m4), alo);
                        shi[h] = maddubs_add(shi[h], _mm256_and_si256(_mm256_srli_epi16(cv, 4), m4), ahi);
                    }
                }
                __m128i s0, s1;
                q4k_chunk_scales(gb, c, &s0, &s1);
#pragma GCC unroll 2
                for (int h = 0; h < 2; h++) {
                    const __m256i lo = _mm256_madd_epi16(slo[h], byte_pairs(s0, s0, h));
                    const __m256i hi = _mm256_madd_epi16(shi[h], byte_pairs(s1, s1, h));
                    isum[j][h] = _mm256_add_epi32(isum[j][h], _mm256_add_epi32(lo, hi));
                }
            }
        }
        __m256i bp[4]; /* sub-block sums of the activation codes, pairs (2i, 2i + 1) in every lane */
        for (int i = 0; i < 4; i++) {
            const int16_t *bs = a[b].bsums + 4 * i;
            const uint32_t lo = (uint16_t)(bs[0] + bs[1]), hi = (uint16_t)(bs[2] + bs[3]);
            bp[i] = _mm256_set1_epi32((int32_t)(lo | hi << 16));
        }
        const __m256 ad = _mm256_set1_ps(a[b].d);
        for (int j = 0; j < ng; j++) {
            const uint8_t *gb = g + (size_t)j * gstride + (size_t)b * X16_Q4_K_GB;
            __m128i scb[8], mnb[8];
            x16_q4k_scale_bytes(gb, scb, mnb);
#pragma GCC unroll 2
            for (int h = 0; h < 2; h++) {
                __m256i im = _mm256_setzero_si256();
#pragma GCC unroll 4
                for (int i = 0; i < 4; i++)
                    im = _mm256_add_epi32(im, _mm256_madd_epi16(byte_pairs(mnb[2 * i], mnb[2 * i + 1], h), bp[i]));
                const __m256 d = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(gb + 16 * h)));
                const __m256 dmin = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(gb + 32 + 16 * h)));
                accf[j][h] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[j][h]), _mm256_mul_ps(d, ad), accf[j][h]);
                accf[j][h] = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(im), _mm256_mul_ps(dmin, ad), accf[j][h]);
            }
        }
    }
    avx2_tok1_store(accf, ng, y, ystride);
}

/* IQ4_XS: sub-block s's scale (ls - 32) of half h of 16 rows as an int16 pair (sc, sc) per row lane. */
static inline __m256i iq4_scale_pairs(const uint8_t *gb, int s, int h) {
    const __m256i l = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(gb + 64 + 16 * (s / 2) + 8 * h))),
                  hh = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(gb + 32 + 16 * h)));
    const __m256i ls = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi32(l, 4 * (s % 2)), _mm256_set1_epi32(15)),
                                       _mm256_slli_epi32(_mm256_and_si256(_mm256_srli_epi32(hh, 2 * s), _mm256_set1_epi32(3)), 4));
    const __m256i sc = _mm256_sub_epi32(ls, _mm256_set1_epi32(32));
    return _mm256_or_si256(_mm256_and_si256(sc, _mm256_set1_epi32(0xFFFF)), _mm256_slli_epi32(sc, 16));
}

/* The end of a block for tiles that keep an int32 sum and an offset count per row (IQ4_XS, Q6_K):
 * acc[j][h] += (isum - off_mul x ioff) x the rows' fp16 scales (the group-block's first field) x d. */
static inline void a8_block_end(const uint8_t *gb0, size_t gstride, int ng, __m256i isum[][2], __m256i ioff[][2],
                                int off_mul, float d, __m256 acc[][2]) {
    const __m256 ad = _mm256_set1_ps(d);
    const __m256i mul = _mm256_set1_epi32(off_mul);
    for (int j = 0; j < ng; j++) {
        const uint8_t *gb = gb0 + (size_t)j * gstride;
#pragma GCC unroll 2
        for (int h = 0; h < 2; h++) {
            const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(gb + 16 * h)));
            const __m256i v = _mm256_sub_epi32(isum[j][h], _mm256_mullo_epi32(ioff[j][h], mul));
            acc[j][h] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(v), _mm256_mul_ps(dw, ad), acc[j][h]);
        }
    }
}

/* IQ4_NL's values as 15 q - 127 + r(q), r in 0..18: the nibble q itself is the unsigned
 * vpmaddubsw operand of the linear part, and only the small remainder needs a lookup. */
static const int8_t k_iq4_rest[16] = {0, 8, 14, 17, 18, 17, 15, 12, 8, 5, 2, 0, 0, 1, 6, 15};

/* 16 rows x one token, IQ4_XS against Q8_K. The looked-up values v are signed, which vpmaddubsw
 * takes only on its second operand; with v = 15 q - 127 + r(q) (k_iq4_rest), sum a v =
 * 15 sum a q + sum a r - 127 sum a: per sub-block and half, the q products in one int16 sum (8 x 2
 * x 15 x 128 = 30720 at most) and the r products of the low and of the high nibbles in two
 * (4 x 2 x 18 x 128 = 18432), widened once with 15 sc and sc as the vpmaddwd multipliers; the
 * -127 sum a term from Q8_K's bsums at the block's end. One vpshufb per 32 products (the split of
 * v + 128 into two looked-up nibbles took two). */
static void iq4_a8_tok1(int64_t nb, const uint8_t *g, size_t gstride, int ng, int64_t ystride, const block_q8_K *a,
                        float *y) {
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    const __m256i tabr = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)k_iq4_rest));
    __m256 accf[AVX2_TOK1_GROUPS][2];
    avx2_tok1_zero(accf, ng);
    for (int64_t b = 0; b < nb; b++) {
        __m256i isum[AVX2_TOK1_GROUPS][2], ioff[AVX2_TOK1_GROUPS][2];
        for (int j = 0; j < ng; j++) isum[j][0] = isum[j][1] = ioff[j][0] = ioff[j][1] = _mm256_setzero_si256();
#pragma GCC unroll 1
        for (int ss = 0; ss < 8; ss += IQ4_A8_SUBS) {
#pragma GCC unroll 1
            for (int j = 0; j < ng; j++) {
                const uint8_t *gb = g + (size_t)j * gstride + (size_t)b * X16_IQ4_XS_GB;
                avx2_prefetch_part(gb, X16_IQ4_XS_GB, ss / IQ4_A8_SUBS, 8 / IQ4_A8_SUBS);
#pragma GCC unroll 1
                for (int s = ss; s < ss + IQ4_A8_SUBS; s++) {
                    const int8_t *aq = a[b].qs + 32 * s;
                    const uint8_t *cs = gb + 128 + 256 * s;
                    __m256i sq[2], rl[2], rh[2];
#pragma GCC unroll 2
                    for (int h = 0; h < 2; h++) sq[h] = rl[h] = rh[h] = _mm256_setzero_si256();
#pragma GCC unroll 4
                    for (int q = 0; q < 4; q++) {
                        const __m256i alo = bcast4(aq + 8 * q), ahi = bcast4(aq + 8 * q + 4);
#pragma GCC unroll 2
                        for (int h = 0; h < 2; h++) {
                            const __m256i c = _mm256_loadu_si256((const __m256i *)(cs + 64 * q + 32 * h));
                            const __m256i lo = _mm256_and_si256(c, m4), hi = _mm256_and_si256(_mm256_srli_epi16(c, 4), m4);
                            sq[h] = maddubs_add(sq[h], lo, alo);
                            rl[h] = maddubs_add(rl[h], _mm256_shuffle_epi8(tabr, lo), alo);
                            sq[h] = maddubs_add(sq[h], hi, ahi);
                            rh[h] = maddubs_add(rh[h], _mm256_shuffle_epi8(tabr, hi), ahi);
                        }
                    }
                    const int16_t *bs = a[b].bsums + 2 * s;
                    const __m256i bsv = _mm256_set1_epi32((uint16_t)(bs[0] + bs[1]));
#pragma GCC unroll 2
                    for (int h = 0; h < 2; h++) {
                        const __m256i scp = iq4_scale_pairs(gb, s, h);
                        const __m256i r = _mm256_add_epi32(_mm256_madd_epi16(rl[h], scp), _mm256_madd_epi16(rh[h], scp));
                        const __m256i sc15 = _mm256_sub_epi16(_mm256_slli_epi16(scp, 4), scp);
                        isum[j][h] = _mm256_add_epi32(isum[j][h], _mm256_add_epi32(_mm256_madd_epi16(sq[h], sc15), r));
                        ioff[j][h] = _mm256_add_epi32(ioff[j][h], _mm256_madd_epi16(scp, bsv));
                    }
                }
            }
        }
        a8_block_end(g + (size_t)b * X16_IQ4_XS_GB, gstride, ng, isum, ioff, 127, a[b].d, accf);
    }
    avx2_tok1_store(accf, ng, y, ystride);
}

/* Q6_K (the byte layout of kernels_x16.c, x16_q6k_bytes) against Q8_K in natural order: per scale j
 * and half, the code vectors A & 63, B & 63, C & 63 and x16_q6_fourth are elements 16j + 0-3,
 * 4-7, 8-11, 12-15, each vpmaddubsw'd with 4 broadcast activation bytes; two products of a lane
 * are at most 2 x 63 x 128 = 16128, so two vectors share one int16 sum (32256), and the two sums
 * are widened with the rows' int8 scale as the vpmaddwd multiplier. The codes' -32 is
 * -32 x sum_j sc_j x bsums[j], gathered with the same multipliers and taken off at the block end;
 * |int32 sums| <= 16 x 2 x 2 x 32256 x 128 + 32 x 16 x 128 x 2048 < 2^31. */
static void q6k_a8_tok1(int64_t nb, const uint8_t *g, size_t gstride, int ng, int64_t ystride, const block_q8_K *a,
                        float *y) {
    const __m256i m63 = _mm256_set1_epi8(63);
    __m256 accf[AVX2_TOK1_GROUPS][2];
    avx2_tok1_zero(accf, ng);
    for (int64_t b = 0; b < nb; b++) {
        __m256i isum[AVX2_TOK1_GROUPS][2], ioff[AVX2_TOK1_GROUPS][2];
        for (int j = 0; j < ng; j++) isum[j][0] = isum[j][1] = ioff[j][0] = ioff[j][1] = _mm256_setzero_si256();
#pragma GCC unroll 1
        for (int jj = 0; jj < 16; jj += Q6K_A8_SCALES) {
#pragma GCC unroll 1
            for (int gi = 0; gi < ng; gi++) {
                const uint8_t *gb = g + (size_t)gi * gstride + (size_t)b * X16_Q6_K_GB;
                avx2_prefetch_part(gb, X16_Q6_K_GB, jj / Q6K_A8_SCALES, 16 / Q6K_A8_SCALES);
#pragma GCC unroll 2
                for (int j = jj; j < jj + Q6K_A8_SCALES; j++) {
                    const int8_t *aq = a[b].qs + 16 * j;
                    const __m256i a0 = bcast4(aq), a1 = bcast4(aq + 4), a2 = bcast4(aq + 8), a3 = bcast4(aq + 12);
                    const __m256i bsv = _mm256_set1_epi32((uint16_t)a[b].bsums[j]);
                    /* the 16 rows' scale j as int16 pairs (sc, sc): bytes doubled, sign-extended */
                    const __m128i sc8 = _mm_loadu_si128((const __m128i *)(gb + 32 + 16 * j));
#pragma GCC unroll 2
                    for (int h = 0; h < 2; h++) {
                        const uint8_t *cs = gb + 288 + 192 * j + 32 * h;
                        const __m256i A = _mm256_loadu_si256((const __m256i *)cs), B = _mm256_loadu_si256((const __m256i *)(cs + 64)),
                                      C = _mm256_loadu_si256((const __m256i *)(cs + 128));
                        __m256i s = _mm256_maddubs_epi16(_mm256_and_si256(A, m63), a0);
                        s = maddubs_add(s, _mm256_and_si256(B, m63), a1);
                        __m256i t = _mm256_maddubs_epi16(_mm256_and_si256(C, m63), a2);
                        t = maddubs_add(t, x16_q6_fourth(A, B, C), a3);
                        const __m256i scp = _mm256_cvtepi8_epi16(h ? _mm_unpackhi_epi8(sc8, sc8) : _mm_unpacklo_epi8(sc8, sc8));
                        isum[gi][h] = _mm256_add_epi32(isum[gi][h], _mm256_add_epi32(_mm256_madd_epi16(s, scp), _mm256_madd_epi16(t, scp)));
                        ioff[gi][h] = _mm256_add_epi32(ioff[gi][h], _mm256_madd_epi16(scp, bsv));
                    }
                }
            }
        }
        a8_block_end(g + (size_t)b * X16_Q6_K_GB, gstride, ng, isum, ioff, 32, a[b].d, accf);
    }
    avx2_tok1_store(accf, ng, y, ystride);
}

typedef enum { TK_Q4_0, TK_Q5_0, TK_Q4_K, TK_IQ4_XS, TK_Q6_K } tok1_kind;

/* The rows of the tile in sets of groups (avx2_tok1_next). */
static inline __attribute__((always_inline)) void tok1_a8(tok1_kind kind, int64_t k, const void *w, size_t wrb,
                                                          int64_t n_rows, const void *act, float *y) {
    const size_t gbytes = X16 * wrb;
    int64_t s0 = 0, i = 0;
    for (avx2_tok1_set st; avx2_tok1_next((n_rows + X16 - 1) / X16, gbytes, &s0, &i, &st);) {
        const uint8_t *g = (const uint8_t *)w + (size_t)st.first * gbytes;
        const size_t gs = (size_t)st.stride * gbytes;
        float *yg = y + st.first * X16;
        const int64_t ys = st.stride * X16;
        switch (kind) {
        case TK_Q4_0: q4_a8_tok1(A8_Q4_0, k / 32, g, gs, st.n, ys, act, yg); break;
        case TK_Q5_0: q4_a8_tok1(A8_Q5_0, k / 32, g, gs, st.n, ys, act, yg); break;
        case TK_Q4_K: q4k_a8_tok1(k / 256, g, gs, st.n, ys, act, yg); break;
        case TK_IQ4_XS: iq4_a8_tok1(k / 256, g, gs, st.n, ys, act, yg); break;
        case TK_Q6_K: q6k_a8_tok1(k / 256, g, gs, st.n, ys, act, yg); break;
        }
    }
}

static void tok1_a8_q4_0(int64_t k, const void *w, size_t wrb, int64_t n_rows, const void *act, size_t arb,
                         int64_t n_tok, float *y, int64_t ldy) {
    (void)arb, (void)n_tok, (void)ldy;
    tok1_a8(TK_Q4_0, k, w, wrb, n_rows, act, y);
}

static void tok1_a8_q5_0(int64_t k, const void *w, size_t wrb, int64_t n_rows, const void *act, size_t arb,
                         int64_t n_tok, float *y, int64_t ldy) {
    (void)arb, (void)n_tok, (void)ldy;
    tok1_a8(TK_Q5_0, k, w, wrb, n_rows, act, y);
}

static void tok1_a8_q4_K(int64_t k, const void *w, size_t wrb, int64_t n_rows, const void *act, size_t arb,
                         int64_t n_tok, float *y, int64_t ldy) {
    (void)arb, (void)n_tok, (void)ldy;
    tok1_a8(TK_Q4_K, k, w, wrb, n_rows, act, y);
}

static void tok1_a8_iq4_xs(int64_t k, const void *w, size_t wrb, int64_t n_rows, const void *act, size_t arb,
                           int64_t n_tok, float *y, int64_t ldy) {
    (void)arb, (void)n_tok, (void)ldy;
    tok1_a8(TK_IQ4_XS, k, w, wrb, n_rows, act, y);
}

static void tok1_a8_q6_K(int64_t k, const void *w, size_t wrb, int64_t n_rows, const void *act, size_t arb,
                         int64_t n_tok, float *y, int64_t ldy) {
    (void)arb, (void)n_tok, (void)ldy;
    tok1_a8(TK_Q6_K, k, w, wrb, n_rows, act, y);
}

void kernels_fill_x16_a8_avx2(slm_kernels *kt) {
    kt->mm[SLM_DT_Q4_0].tok1_a8_x16 = tok1_a8_q4_0;
    kt->mm[SLM_DT_Q5_0].tok1_a8_x16 = tok1_a8_q5_0;
    kt->mm[SLM_DT_Q4_K].tok1_a8_x16 = tok1_a8_q4_K;
    kt->mm[SLM_DT_IQ4_XS].tok1_a8_x16 = tok1_a8_iq4_xs;
    kt->mm[SLM_DT_Q6_K].tok1_a8_x16 = tok1_a8_q6_K;
}
