/* AVX-512 gemm16 tiles over 16-row interleaved weights (layouts: kernels_x16.c).
 *
 * One zmm holds an int16 weight pair of each of 16 rows; vpdpwssd with the broadcast activation
 * pair (an embedded {1to16} memory operand) adds 2 products to each row's int32 lane. After a
 * block, one convert and one multiply-add with the 16 rows' scales x the activation scale update
 * 16 float accumulators at once: no horizontal sums until the very end, where there are none
 * either (lane r is row r, stored as is).
 *
 * Tiles: 16 rows x NT tokens (NT <= 8: 8 int + 8 float accumulators + 4 decoded weight vectors).
 * Q4_0 codes are unsigned (0..15); the -8 offset is taken once per block as 8 x the activation
 * block's exact code sum. For one token (generation) the Q4_0 nibbles are not all shifted down:
 * (c & 0x00F0) is 16 x the code and (c & 0x0F00) 256 x the code, so they go to their own
 * accumulators, shifted back exactly once per block (the sums are multiples of 16 / 256; the
 * 256 x products over a block stay below 2^30), which saves two shifts per chunk. Q5_0: the same
 * nibbles, plus 16 (x the nibble's scale) where the fifth bit is set: the block's packed fifth
 * bits shifted by the chunk index sit just above their nibbles, and a bit select joins them
 * (q5_decode; vptestmw + masked adds ran 1.4x slower on Zen 4). 8 products of at most
 * 256 x 31 by 32767 per block stay below 2^31: the 256 x accumulator is exact. */
#include <immintrin.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kernels/kernels_internal.h"
#include "quant/quant.h"

#include "kernels/kernels_x16_avx512.h" /* X16, the group-block sizes, kq_scales, q6_scale */

typedef enum { XK_Q4_0, XK_Q5_0, XK_Q8_0 } x16_kind;

/* acc + w . (the int16 pair at p, in every lane): vpdpwssd with an embedded {1to16} broadcast of
 * the memory operand. GCC 12 emits _mm512_dpwssd_epi32(acc, w, _mm512_set1_epi32(*p)) as a
 * separate vpbroadcastd load plus a register vpdpwssd; on Zen 4 that broadcast takes a vector
 * pipe slot beside the decode ops (measured: 4 broadcasts + 4 vpdpwssd + 4 vpand in 5.25 cycles,
 * embedded 4.28), while the embedded form is a plain load. */
static inline __attribute__((always_inline)) __m512i dp_pair(__m512i acc, __m512i w, const int16_t *p) {
    __asm__("vpdpwssd %2%{1to16%}, %1, %0" : "+v"(acc) : "v"(w), "m"(*(const int32_t *)p));
    return acc;
}

/* 64 code bytes into a register, loaded once: GCC otherwise folds the load into every op that
 * uses the chunk (4 zmm loads per Q4_K chunk instead of 1), and Zen 4's one zmm load per cycle
 * then bounds the one-token tiles (Q4_K 1.95 cycles per vpdpwssd). */
static inline __attribute__((always_inline)) __m512i load_codes(const void *p) {
    __m512i v = _mm512_loadu_si512(p);
    __asm__("" : "+v"(v));
    return v;
}

/* vpternlog immediates: (A & C) | (B & ~C) (bit select by C), and A | (B & C). */
#define TL_SELECT 0xE4
#define TL_A_OR_B_AND_C 0xF8

/* Q5_0: the 4 pairs of chunk m (codes c, packed fifth bits hb) with their fifth bits,
 * pairs 1 and 2 at 16 / 256 x their value as in q4_tok1. hb >> m puts the chunk's fifth bits of
 * nibbles 0-2 just above them, so each is a bit select of nibble and bit plus one mask; nibble 3
 * shifts down and takes its bit (bit 0) moved up to bit 4. 11 logic ops, no mask registers
 * (vptestmw + masked adds ran 1.4x slower on Zen 4). */
static inline __attribute__((always_inline)) void q5_decode(__m512i c, __m512i hb, int m, __m512i w[4]) {
    const __m512i h = m ? _mm512_srli_epi16(hb, m) : hb;
#pragma GCC unroll 3
    for (int j = 0; j < 3; j++)
        w[j] = _mm512_and_si512(_mm512_ternarylogic_epi32(c, h, _mm512_set1_epi16((short)(0x000F << (4 * j))), TL_SELECT),
                                _mm512_set1_epi16((short)(0x001F << (4 * j))));
    w[3] = _mm512_ternarylogic_epi32(_mm512_srli_epi16(c, 12), _mm512_slli_epi16(h, 4), _mm512_set1_epi16(0x0010),
                                     TL_A_OR_B_AND_C);
}

/* 16 rows x one token, Q4_0 / Q5_0 (kind). */
static inline __attribute__((always_inline)) void q4_tok1(x16_kind kind, int64_t nb, const uint8_t *g,
                                                          const block_a16_32 *a, float *y) {
    const __m512i lo4 = _mm512_set1_epi16(0x000F), mid4 = _mm512_set1_epi16(0x00F0),
                  hi4 = _mm512_set1_epi16(0x0F00);
    const size_t gbytes = kind == XK_Q4_0 ? Q4_0_GB : Q5_0_GB, codes = kind == XK_Q4_0 ? 32 : 96;
    const int offset = kind == XK_Q4_0 ? 8 : 16;
    __m512 accf = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *gb = g + b * gbytes;
        const int16_t *aq = a[b].qs;
        const __m512i hb = kind == XK_Q5_0 ? load_codes(gb + 32) : _mm512_setzero_si512();
        __m512i s1 = _mm512_setzero_si512(), s16 = _mm512_setzero_si512(), s256 = _mm512_setzero_si512(),
                s1b = _mm512_setzero_si512();
#pragma GCC unroll 4
        for (int m = 0; m < 4; m++) {
            const __m512i c = load_codes(gb + codes + 64 * m);
            __m512i w0, w1, w2, w3;
            if (kind == XK_Q5_0) { /* + 16 x the scale of each nibble whose fifth bit is set */
                __m512i w[4];
                q5_decode(c, hb, m, w);
                w0 = w[0], w1 = w[1], w2 = w[2], w3 = w[3];
            } else {
                w0 = _mm512_and_si512(c, lo4), w1 = _mm512_and_si512(c, mid4), w2 = _mm512_and_si512(c, hi4);
                w3 = _mm512_srli_epi16(c, 12);
            }
            s1 = dp_pair(s1, w0, aq + 8 * m);
            s16 = dp_pair(s16, w1, aq + 8 * m + 2);
            s256 = dp_pair(s256, w2, aq + 8 * m + 4);
            s1b = dp_pair(s1b, w3, aq + 8 * m + 6);
        }
        __m512i s = _mm512_add_epi32(_mm512_add_epi32(s1, s1b), _mm512_srai_epi32(s16, 4));
        s = _mm512_add_epi32(s, _mm512_srai_epi32(s256, 8));
        s = _mm512_sub_epi32(s, _mm512_set1_epi32(offset * a[b].sum));
        const __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)gb));
        accf = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), _mm512_mul_ps(dw, _mm512_set1_ps(a[b].d)), accf);
    }
    _mm512_storeu_ps(y, accf);
}

/* 16 rows x one token, Q8_0: four accumulators for the dependency chains. */
/* The one-token tiles are functions of their own (inlined into the drivers beside the prompt
 * tiles, GCC allocated the prompt tiles' registers worse: Q4_K prompt kernel 162 -> 131 GFLOP/s). */
static __attribute__((noinline)) void q4_0_tok1(int64_t nb, const uint8_t *g, const block_a16_32 *a, float *y) {
    q4_tok1(XK_Q4_0, nb, g, a, y);
}
static __attribute__((noinline)) void q5_0_tok1(int64_t nb, const uint8_t *g, const block_a16_32 *a, float *y) {
    q4_tok1(XK_Q5_0, nb, g, a, y);
}

static __attribute__((noinline)) void q8_0_tok1(int64_t nb, const uint8_t *g, const block_a16_32 *a, float *y) {
    __m512 accf = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *gb = g + b * Q8_0_GB;
        const int16_t *aq = a[b].qs;
        __m512i s[4] = {_mm512_setzero_si512(), _mm512_setzero_si512(), _mm512_setzero_si512(),
                        _mm512_setzero_si512()};
#pragma GCC unroll 16
        for (int p = 0; p < 16; p++) {
            const __m512i w = _mm512_cvtepi8_epi16(_mm256_loadu_si256((const __m256i *)(gb + 32 + 32 * p)));
            s[p & 3] = dp_pair(s[p & 3], w, aq + 2 * p);
        }
        const __m512i si = _mm512_add_epi32(_mm512_add_epi32(s[0], s[1]), _mm512_add_epi32(s[2], s[3]));
        const __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)gb));
        accf = _mm512_fmadd_ps(_mm512_cvtepi32_ps(si), _mm512_mul_ps(dw, _mm512_set1_ps(a[b].d)), accf);
    }
    _mm512_storeu_ps(y, accf);
}

/* 16 rows x NT tokens (2 <= NT <= 8): weights decoded once per chunk for all tokens. */
static inline __attribute__((always_inline)) void tile_nt(x16_kind kind, const int NT, int64_t nb, const uint8_t *g,
                                                          const uint8_t *act, size_t arb, float *y, int64_t ldy) {
    const __m512i lo4 = _mm512_set1_epi16(0x000F);
    const size_t gbytes = kind == XK_Q4_0 ? Q4_0_GB : kind == XK_Q5_0 ? Q5_0_GB : Q8_0_GB;
    const size_t codes = kind == XK_Q5_0 ? 96 : 32;
    __m512 accf[8];
#pragma GCC unroll 8
    for (int t = 0; t < NT; t++) accf[t] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *gb = g + (size_t)b * gbytes;
        const block_a16_32 *ab[8];
        __m512i acc[8];
#pragma GCC unroll 8
        for (int t = 0; t < NT; t++) {
            ab[t] = (const block_a16_32 *)(act + (size_t)t * arb) + b;
            acc[t] = _mm512_setzero_si512();
        }
        if (kind != XK_Q8_0) {
            const __m512i hb = kind == XK_Q5_0 ? load_codes(gb + 32) : _mm512_setzero_si512();
#pragma GCC unroll 4
            for (int m = 0; m < 4; m++) {
                const __m512i c = load_codes(gb + codes + 64 * m);
                __m512i w0, w1, w2, w3;
                if (kind == XK_Q5_0) { /* the one-token decode, pairs 1 and 2 shifted down */
                    __m512i w[4];
                    q5_decode(c, hb, m, w);
                    w0 = w[0], w1 = _mm512_srli_epi16(w[1], 4), w2 = _mm512_srli_epi16(w[2], 8), w3 = w[3];
                } else {
                    w0 = _mm512_and_si512(c, lo4), w1 = _mm512_and_si512(_mm512_srli_epi16(c, 4), lo4);
                    w2 = _mm512_and_si512(_mm512_srli_epi16(c, 8), lo4), w3 = _mm512_srli_epi16(c, 12);
                }
                /* unsigned codes: the offset is taken once per block and token below */
#pragma GCC unroll 8
                for (int t = 0; t < NT; t++) acc[t] = dp_pair(acc[t], w0, ab[t]->qs + 8 * m);
#pragma GCC unroll 8
                for (int t = 0; t < NT; t++) acc[t] = dp_pair(acc[t], w1, ab[t]->qs + 8 * m + 2);
#pragma GCC unroll 8
                for (int t = 0; t < NT; t++) acc[t] = dp_pair(acc[t], w2, ab[t]->qs + 8 * m + 4);
#pragma GCC unroll 8
                for (int t = 0; t < NT; t++) acc[t] = dp_pair(acc[t], w3, ab[t]->qs + 8 * m + 6);
            }
            const int offset = kind == XK_Q4_0 ? 8 : 16; /* x the block's exact code sum */
#pragma GCC unroll 8
            for (int t = 0; t < NT; t++) acc[t] = _mm512_sub_epi32(acc[t], _mm512_set1_epi32(offset * ab[t]->sum));
        } else {
#pragma GCC unroll 16
            for (int p = 0; p < 16; p++) {
                const __m512i w = _mm512_cvtepi8_epi16(_mm256_loadu_si256((const __m256i *)(gb + 32 + 32 * p)));
#pragma GCC unroll 8
                for (int t = 0; t < NT; t++) acc[t] = dp_pair(acc[t], w, ab[t]->qs + 2 * p);
            }
        }
        const __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)gb));
#pragma GCC unroll 8
        for (int t = 0; t < NT; t++) {
            __m512i s = acc[t];
            accf[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), _mm512_mul_ps(dw, _mm512_set1_ps(ab[t]->d)), accf[t]);
        }
    }
#pragma GCC unroll 8
    for (int t = 0; t < NT; t++) _mm512_storeu_ps(y + t * ldy, accf[t]);
}

static inline __attribute__((always_inline)) void gemm_x16(x16_kind kind, int64_t k, const void *w, size_t wrb,
                                                           int64_t n_rows, const void *act, size_t arb, int64_t n_tok,
                                                           float *y, int64_t ldy) {
    const int64_t nb = k / 32;
    for (int64_t r = 0; r < n_rows; r += X16) {
        const uint8_t *g = (const uint8_t *)w + (size_t)r * wrb;
        for (int64_t t = 0; t < n_tok;) {
            const uint8_t *at = (const uint8_t *)act + (size_t)t * arb;
            float *yt = y + t * ldy + r;
            const int64_t left = n_tok - t;
            const int nt = left >= 8 ? 8 : (int)left;
            switch (nt) {
            case 1:
                if (kind == XK_Q4_0)
                    q4_0_tok1(nb, g, (const block_a16_32 *)at, yt);
                else if (kind == XK_Q5_0)
                    q5_0_tok1(nb, g, (const block_a16_32 *)at, yt);
                else
                    q8_0_tok1(nb, g, (const block_a16_32 *)at, yt);
                break;
            case 2: tile_nt(kind, 2, nb, g, at, arb, yt, ldy); break;
            case 3: tile_nt(kind, 3, nb, g, at, arb, yt, ldy); break;
            case 4: tile_nt(kind, 4, nb, g, at, arb, yt, ldy); break;
            case 5: tile_nt(kind, 5, nb, g, at, arb, yt, ldy); break;
            case 6: tile_nt(kind, 6, nb, g, at, arb, yt, ldy); break;
            case 7: tile_nt(kind, 7, nb, g, at, arb, yt, ldy); break;
            default: tile_nt(kind, 8, nb, g, at, arb, yt, ldy); break;
            }
            t += nt;
        }
    }
}

/* ---- Super-block types (256 elements, 8 sub-blocks of 32): Q4_K, IQ4_XS ----------------------
 * Group-block: header fields of the 16 rows (kernels_x16.c), then per sub-block 256 bytes of
 * codes in the Q4_0 word layout. The sub-block scales (and Q4_K's mins) of 16 rows are decoded
 * once per group-block into float vectors (x the row scales d / dmin); each sub-block's int32 sums
 * (at most 32 x 127 x 16383 in magnitude: exact) are converted and scaled on their own, so no int32
 * sum ever spans sub-blocks with different scales. Q4_K's min term, sum over sub-blocks of
 * mn x (sum of the 32 activation codes), uses the activation's exact 16-element sums. */

/* The 8 sums of 32 activation codes of a block_a16_256, as floats in lanes 0, 2, .., 14. */
static inline __m512 kq_bsums32(const block_a16_256 *a) {
    const __m512i b = _mm512_loadu_si512(a->bsums);
    return _mm512_cvtepi32_ps(_mm512_add_epi32(b, _mm512_srli_epi64(b, 32)));
}

/* Decoded weights of chunk m, pair q (0..3) of a sub-block: unsigned codes (Q4_K) or the IQ4_NL
 * table values (IQ4_XS; tab holds them in int16 lanes 0-15). */
static inline __attribute__((always_inline)) __m512i kq_decode(x16_kq kind, __m512i c, int q, __m512i tab) {
    if (kind == XK_IQ4_XS) /* vpermw reads 5 index bits and the table repeats: no mask needed */
        return _mm512_permutexvar_epi16(q ? _mm512_srli_epi16(c, 4 * q) : c, tab);
    const __m512i lo4 = _mm512_set1_epi16(0x000F);
    return q == 0 ? _mm512_and_si512(c, lo4)
           : q == 3 ? _mm512_srli_epi16(c, 12)
                    : _mm512_and_si512(_mm512_srli_epi16(c, 4 * q), lo4);
}

static inline __m512i kq_table(void) {
    int16_t t[32];
    for (int i = 0; i < 32; i++) t[i] = kvalues_iq4nl[i % 16];
    return _mm512_loadu_si512(t);
}

/* 16 rows x one token. Codes come in 64-element groups of 8 chunks (512 bytes): sub-blocks 2c
 * and 2c + 1, whose sums A and B are scaled separately. Q4_K: a chunk's pairs q = 0, 2 belong to
 * sub-block 2c, q = 1, 3 to 2c + 1 (low / high nibbles); IQ4_XS: chunks 0-3 to 2c, 4-7 to 2c + 1. */
static inline __attribute__((always_inline)) void kq_tok1(x16_kq kind, int64_t nb, const uint8_t *g,
                                                          const block_a16_256 *a, float *y) {
    const size_t gbytes = kind == XK_Q4_K ? Q4_K_GB : IQ4_XS_GB, codes = kind == XK_Q4_K ? 256 : 128;
    const __m512i tab = kq_table(), lo4 = _mm512_set1_epi16(0x000F), mid4 = _mm512_set1_epi16(0x00F0),
                  hi4 = _mm512_set1_epi16(0x0F00);
    __m512 accf = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *gb = g + (size_t)b * gbytes;
        /* the integer scales; x d (and the mins' x dmin) once per block below */
        __m512 sc[8], mn[8];
        kq_scales(kind, gb, false, sc, mn);
        __m512 sb = _mm512_setzero_ps();
#pragma GCC unroll 4
        for (int c = 0; c < 4; c++) {
            const uint8_t *cs = gb + codes + 512 * c;
            const int16_t *aq = a[b].qs + 64 * c;
            __m512i A, B;
            if (kind == XK_Q4_K) { /* masked nibbles keep their scale (1, 16, 256): see q4_0_tok1;
                                    * two sets of accumulators (even / odd chunks) halve the chains */
                __m512i a1[2], a256[2], b16[2], b1[2];
                for (int i = 0; i < 2; i++) a1[i] = a256[i] = b16[i] = b1[i] = _mm512_setzero_si512();
#pragma GCC unroll 8
                for (int u = 0; u < 8; u++) {
                    const __m512i cv = load_codes(cs + 64 * u);
                    const int i = u % 2;
                    a1[i] = dp_pair(a1[i], _mm512_and_si512(cv, lo4), aq + 8 * u);
                    b16[i] = dp_pair(b16[i], _mm512_and_si512(cv, mid4), aq + 8 * u + 2);
                    a256[i] = dp_pair(a256[i], _mm512_and_si512(cv, hi4), aq + 8 * u + 4);
                    b1[i] = dp_pair(b1[i], _mm512_srli_epi16(cv, 12), aq + 8 * u + 6);
                }
                A = _mm512_add_epi32(_mm512_add_epi32(a1[0], a1[1]), _mm512_srai_epi32(_mm512_add_epi32(a256[0], a256[1]), 8));
                B = _mm512_add_epi32(_mm512_add_epi32(b1[0], b1[1]), _mm512_srai_epi32(_mm512_add_epi32(b16[0], b16[1]), 4));
            } else {
                __m512i s4[4] = {_mm512_setzero_si512(), _mm512_setzero_si512(), _mm512_setzero_si512(),
                                 _mm512_setzero_si512()};
#pragma GCC unroll 8
                for (int u = 0; u < 8; u++) {
                    const __m512i cv = load_codes(cs + 64 * u);
#pragma GCC unroll 4
                    for (int q = 0; q < 4; q++) {
                        const int i = 2 * (u / 4) + q % 2; /* two chains per sub-block */
                        s4[i] = dp_pair(s4[i], kq_decode(kind, cv, q, tab), aq + 8 * u + 2 * q);
                    }
                }
                A = _mm512_add_epi32(s4[0], s4[1]);
                B = _mm512_add_epi32(s4[2], s4[3]);
            }
            sb = _mm512_fmadd_ps(_mm512_cvtepi32_ps(A), sc[2 * c], sb);
            sb = _mm512_fmadd_ps(_mm512_cvtepi32_ps(B), sc[2 * c + 1], sb);
        }
        const __m512 da = _mm512_set1_ps(a[b].d);
        accf = _mm512_fmadd_ps(sb, _mm512_mul_ps(_mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)gb)), da), accf);
        if (kind == XK_Q4_K) { /* sum over sub-blocks of min x the 32 activation codes (bsums pairs) */
            const int32_t *bs = a[b].bsums;
            __m512 m = _mm512_mul_ps(mn[0], _mm512_set1_ps((float)(bs[0] + bs[1])));
            for (int s = 1; s < 8; s++) m = _mm512_fmadd_ps(mn[s], _mm512_set1_ps((float)(bs[2 * s] + bs[2 * s + 1])), m);
            accf = _mm512_fnmadd_ps(m, _mm512_mul_ps(_mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(gb + 32))), da),
                                    accf);
        }
    }
    _mm512_storeu_ps(y, accf);
}

static __attribute__((noinline)) void q4_K_tok1(int64_t nb, const uint8_t *g, const block_a16_256 *a, float *y) {
    kq_tok1(XK_Q4_K, nb, g, a, y);
}
static __attribute__((noinline)) void iq4_xs_tok1(int64_t nb, const uint8_t *g, const block_a16_256 *a, float *y) {
    kq_tok1(XK_IQ4_XS, nb, g, a, y);
}

/* 16 rows x NT tokens (2 <= NT <= 6): each chunk decoded once for all tokens. */
static inline __attribute__((always_inline)) void kq_tile(x16_kq kind, const int NT, int64_t nb, const uint8_t *g,
                                                          const uint8_t *act, size_t arb, float *y, int64_t ldy) {
    const size_t gbytes = kind == XK_Q4_K ? Q4_K_GB : IQ4_XS_GB, codes = kind == XK_Q4_K ? 256 : 128;
    const __m512i tab = kq_table();
    __m512 accf[6];
#pragma GCC unroll 8
    for (int t = 0; t < NT; t++) accf[t] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *gb = g + (size_t)b * gbytes;
        const block_a16_256 *ab[6];
        __m512 sb[6];
#pragma GCC unroll 8
        for (int t = 0; t < NT; t++) {
            ab[t] = (const block_a16_256 *)(act + (size_t)t * arb) + b;
            sb[t] = _mm512_setzero_ps();
        }
        __m512 sc[8], mn[8];
        kq_scales(kind, gb, true, sc, mn);
        for (int c = 0; c < 4; c++) {
            const uint8_t *cs = gb + codes + 512 * c;
            __m512i A[6], B[6];
#pragma GCC unroll 8
            for (int t = 0; t < NT; t++) A[t] = B[t] = _mm512_setzero_si512();
#pragma GCC unroll 8
            for (int u = 0; u < 8; u++) {
                const __m512i cv = load_codes(cs + 64 * u);
                const __m512i w0 = kq_decode(kind, cv, 0, tab), w1 = kq_decode(kind, cv, 1, tab),
                              w2 = kq_decode(kind, cv, 2, tab), w3 = kq_decode(kind, cv, 3, tab);
                const __m512i wq[4] = {w0, w1, w2, w3};
                /* pair-major: consecutive products go to different tokens' accumulators */
#pragma GCC unroll 4
                for (int q = 0; q < 4; q++) {
#pragma GCC unroll 6
                    for (int t = 0; t < NT; t++) {
                        const int16_t *aq = ab[t]->qs + 64 * c + 8 * u + 2 * q;
                        __m512i *acc = (kind == XK_Q4_K ? q % 2 == 0 : u < 4) ? &A[t] : &B[t];
                        *acc = dp_pair(*acc, wq[q], aq);
                    }
                }
            }
#pragma GCC unroll 6
            for (int t = 0; t < NT; t++) {
                sb[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(A[t]), sc[2 * c], sb[t]);
                sb[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(B[t]), sc[2 * c + 1], sb[t]);
            }
        }
#pragma GCC unroll 6
        for (int t = 0; t < NT; t++) {
            if (kind == XK_Q4_K) {
                const __m512 bs = kq_bsums32(ab[t]);
                for (int s = 0; s < 8; s++)
                    sb[t] = _mm512_fnmadd_ps(mn[s], _mm512_permutexvar_ps(_mm512_set1_epi32(2 * s), bs), sb[t]);
            }
            accf[t] = _mm512_fmadd_ps(sb[t], _mm512_set1_ps(ab[t]->d), accf[t]);
        }
    }
#pragma GCC unroll 8
    for (int t = 0; t < NT; t++) _mm512_storeu_ps(y + t * ldy, accf[t]);
}

static inline __attribute__((always_inline)) void gemm_kq(x16_kq kind, int64_t k, const void *w, size_t wrb,
                                                          int64_t n_rows, const void *act, size_t arb, int64_t n_tok,
                                                          float *y, int64_t ldy) {
    const int64_t nb = k / 256;
    for (int64_t r = 0; r < n_rows; r += X16) {
        const uint8_t *g = (const uint8_t *)w + (size_t)r * wrb;
        for (int64_t t = 0; t < n_tok;) {
            const uint8_t *at = (const uint8_t *)act + (size_t)t * arb;
            float *yt = y + t * ldy + r;
            const int64_t left = n_tok - t;
            const int nt = left >= 6 ? 6 : (int)left;
            switch (nt) {
            case 1:
                if (kind == XK_Q4_K)
                    q4_K_tok1(nb, g, (const block_a16_256 *)at, yt);
                else
                    iq4_xs_tok1(nb, g, (const block_a16_256 *)at, yt);
                break;
            case 2: kq_tile(kind, 2, nb, g, at, arb, yt, ldy); break;
            case 3: kq_tile(kind, 3, nb, g, at, arb, yt, ldy); break;
            case 4: kq_tile(kind, 4, nb, g, at, arb, yt, ldy); break;
            case 5: kq_tile(kind, 5, nb, g, at, arb, yt, ldy); break;
            default: kq_tile(kind, 6, nb, g, at, arb, yt, ldy); break;
            }
            t += nt;
        }
    }
}

static void gemm16_x16_q4_K(int64_t k, const void *w, size_t wrb, int64_t n_rows, const void *act, size_t arb,
                            int64_t n_tok, float *y, int64_t ldy) {
    gemm_kq(XK_Q4_K, k, w, wrb, n_rows, act, arb, n_tok, y, ldy);
}

static void gemm16_x16_iq4_xs(int64_t k, const void *w, size_t wrb, int64_t n_rows, const void *act, size_t arb,
                              int64_t n_tok, float *y, int64_t ldy) {
    gemm_kq(XK_IQ4_XS, k, w, wrb, n_rows, act, arb, n_tok, y, ldy);
}

/* ---- Q6_K ------------------------------------------------------------------------------------
 * Group-block (3360 bytes): d of 16 rows, the 16 int8 scales (one xmm of 16 rows each), then per
 * 16-element scale j three chunks D0 D1 D2 (192 bytes) in the bit layout of kernels_x16.c: pairs
 * 0, 2, 4 are D & 63 (codes), 1 and 3 D & 0xFC00 ((code - 32) x 1024), 5 D2 & 0x0FC0 (64 x code),
 * 6 and 7 a bit select of D0 / D1 (bits 6-9) with D2 >> 2 / D2 >> 4 (bits 10-11), & 0x0FC0. The
 * -32 of the unsigned codes comes in bsums[j] (-32 x their activation sum, slm_x16_order_act).
 * Overflow: the 1024 x sum is 4 products of at most 32768 x 16383 (2^31 - 131072). */

/* Scale j of 16 rows as integer-valued floats. */

static __attribute__((noinline)) void q6_tok1(int64_t nb, const uint8_t *g, const block_a16_256 *a, float *y) {
    const __m512i m0 = _mm512_set1_epi16(0x003F), m10 = _mm512_set1_epi16((short)0xFC00), m6 = _mm512_set1_epi16(0x0FC0),
                  lo4 = _mm512_set1_epi16(0x03C0);
    __m512 accf = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *gb = g + (size_t)b * Q6_K_GB;
        __m512 sb = _mm512_setzero_ps();
#pragma GCC unroll 16
        for (int j = 0; j < 16; j++) {
            const uint8_t *cs = gb + 288 + 192 * j;
            const int16_t *ap = a[b].qs + 16 * j;
            const __m512i D0 = load_codes(cs), D1 = load_codes(cs + 64), D2 = load_codes(cs + 128);
            __m512i s0 = _mm512_set1_epi32(a[b].bsums[j]), s10 = dp_pair(_mm512_setzero_si512(), _mm512_and_si512(D0, m10), ap + 2),
                    s6 = dp_pair(_mm512_setzero_si512(), _mm512_and_si512(D2, m6), ap + 10);
            s0 = dp_pair(s0, _mm512_and_si512(D0, m0), ap);
            s0 = dp_pair(s0, _mm512_and_si512(D1, m0), ap + 4);
            s0 = dp_pair(s0, _mm512_and_si512(D2, m0), ap + 8);
            s10 = dp_pair(s10, _mm512_and_si512(D1, m10), ap + 6);
            s6 = dp_pair(s6, _mm512_and_si512(_mm512_ternarylogic_epi32(D0, _mm512_srli_epi16(D2, 2), lo4, TL_SELECT), m6), ap + 12);
            s6 = dp_pair(s6, _mm512_and_si512(_mm512_ternarylogic_epi32(D1, _mm512_srli_epi16(D2, 4), lo4, TL_SELECT), m6), ap + 14);
            const __m512i X = _mm512_add_epi32(_mm512_add_epi32(s0, _mm512_srai_epi32(s6, 6)), _mm512_srai_epi32(s10, 10));
            sb = _mm512_fmadd_ps(_mm512_cvtepi32_ps(X), q6_scale(gb, j), sb);
        }
        const __m512 d = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)gb));
        accf = _mm512_fmadd_ps(sb, _mm512_mul_ps(d, _mm512_set1_ps(a[b].d)), accf);
    }
    _mm512_storeu_ps(y, accf);
}

/* 16 rows x NT tokens (2 <= NT <= 6): the 8 pairs of a scale decoded to plain codes once (1 and 3
 * signed, code - 32: an arithmetic shift), the scale's int32 sums starting at bsums[j]. */
static inline __attribute__((always_inline)) void q6_tile(const int NT, int64_t nb, const uint8_t *g,
                                                          const uint8_t *act, size_t arb, float *y, int64_t ldy) {
    const __m512i m0 = _mm512_set1_epi16(0x003F), lo4 = _mm512_set1_epi16(0x03C0);
    __m512 accf[6];
#pragma GCC unroll 6
    for (int t = 0; t < NT; t++) accf[t] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *gb = g + (size_t)b * Q6_K_GB;
        const block_a16_256 *ab[6];
        __m512 sb[6];
#pragma GCC unroll 6
        for (int t = 0; t < NT; t++) {
            ab[t] = (const block_a16_256 *)(act + (size_t)t * arb) + b;
            sb[t] = _mm512_setzero_ps();
        }
        for (int j = 0; j < 16; j++) {
            const uint8_t *cs = gb + 288 + 192 * j;
            const __m512i D0 = load_codes(cs), D1 = load_codes(cs + 64), D2 = load_codes(cs + 128);
            const __m512i w[8] = {
                _mm512_and_si512(D0, m0),
                _mm512_srai_epi16(D0, 10),
                _mm512_and_si512(D1, m0),
                _mm512_srai_epi16(D1, 10),
                _mm512_and_si512(D2, m0),
                _mm512_and_si512(_mm512_srli_epi16(D2, 6), m0),
                _mm512_and_si512(_mm512_srli_epi16(_mm512_ternarylogic_epi32(D0, _mm512_srli_epi16(D2, 2), lo4, TL_SELECT), 6), m0),
                _mm512_and_si512(_mm512_srli_epi16(_mm512_ternarylogic_epi32(D1, _mm512_srli_epi16(D2, 4), lo4, TL_SELECT), 6), m0)};
            __m512i acc[6];
#pragma GCC unroll 6
            for (int t = 0; t < NT; t++) acc[t] = _mm512_set1_epi32(ab[t]->bsums[j]);
#pragma GCC unroll 8
            for (int P = 0; P < 8; P++) {
#pragma GCC unroll 6
                for (int t = 0; t < NT; t++) acc[t] = dp_pair(acc[t], w[P], ab[t]->qs + 16 * j + 2 * P);
            }
            const __m512 sc = q6_scale(gb, j);
#pragma GCC unroll 6
            for (int t = 0; t < NT; t++) sb[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(acc[t]), sc, sb[t]);
        }
        const __m512 d = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)gb));
#pragma GCC unroll 6
        for (int t = 0; t < NT; t++) accf[t] = _mm512_fmadd_ps(sb[t], _mm512_mul_ps(d, _mm512_set1_ps(ab[t]->d)), accf[t]);
    }
#pragma GCC unroll 6
    for (int t = 0; t < NT; t++) _mm512_storeu_ps(y + t * ldy, accf[t]);
}

static void gemm16_x16_q6_K(int64_t k, const void *w, size_t wrb, int64_t n_rows, const void *act, size_t arb,
                            int64_t n_tok, float *y, int64_t ldy) {
    const int64_t nb = k / 256;
    for (int64_t r = 0; r < n_rows; r += X16) {
        const uint8_t *g = (const uint8_t *)w + (size_t)r * wrb;
        for (int64_t t = 0; t < n_tok;) {
            const uint8_t *at = (const uint8_t *)act + (size_t)t * arb;
            float *yt = y + t * ldy + r;
            const int64_t left = n_tok - t;
            const int nt = left >= 6 ? 6 : (int)left;
            switch (nt) {
            case 1: q6_tok1(nb, g, (const block_a16_256 *)at, yt); break;
            case 2: q6_tile(2, nb, g, at, arb, yt, ldy); break;
            case 3: q6_tile(3, nb, g, at, arb, yt, ldy); break;
            case 4: q6_tile(4, nb, g, at, arb, yt, ldy); break;
            case 5: q6_tile(5, nb, g, at, arb, yt, ldy); break;
            default: q6_tile(6, nb, g, at, arb, yt, ldy); break;
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

void kernels_fill_x16_avx512(slm_kernels *kt) {
    kt->mm[SLM_DT_Q4_0].gemm16_x16 = gemm16_x16_q4_0;
    kt->mm[SLM_DT_Q5_0].gemm16_x16 = gemm16_x16_q5_0;
    kt->mm[SLM_DT_Q8_0].gemm16_x16 = gemm16_x16_q8_0;
    kt->mm[SLM_DT_Q4_K].gemm16_x16 = gemm16_x16_q4_K;
    kt->mm[SLM_DT_IQ4_XS].gemm16_x16 = gemm16_x16_iq4_xs;
    kt->mm[SLM_DT_Q6_K].gemm16_x16 = gemm16_x16_q6_K;
    kt->x16_q6k_bytes = false; /* the 16-bit pair layout (the table was copied from AVX2's) */
    /* The AVX2 8-bit one-token tiles the table was copied with are not used here: these 16-bit
     * tiles already do 32 products per vpdpwssd, and the trade has not been measured on an
     * AVX-512 CPU (SLM_ACT_AUTO then stays 16-bit throughout). */
    for (int t = 0; t < SLM_DT_COUNT; t++) kt->mm[t].tok1_a8_x16 = NULL;
}
