/* The K-quant / IQ4_XS tile shared by kernels_kquants_avx2.c (2-row tiles: 16 ymm registers) and
 * kernels_kquants_avx512.c (4-row tiles: AVX-512VL gives 32 ymm registers). Include only from
 * those files: they are compiled with the matching -m flags. The method is described at the top
 * of kernels_kquants_avx2.c. */
#ifndef SLM_KERNELS_KQUANTS_TILE_H
#define SLM_KERNELS_KQUANTS_TILE_H

#include <immintrin.h>
#include <string.h>

#include "kernels/kernels_avx2_common.h"
#include "quant/quant.h"

/* ---- Helpers --------------------------------------------------------------------------------- */

enum { KQ_Q2_K, KQ_Q3_K, KQ_Q4_K, KQ_Q5_K, KQ_Q6_K, KQ_IQ4_XS };

/* Tokens per tile: each decoded chunk of codes is used DT_TOK times. */
#define DT_TOK 4

/* Shuffle mask broadcasting int16 element e_lo (low 128-bit lane) / e_hi (high lane), 0..7. */
static inline __m256i bcast16_mask(int e_lo, int e_hi) {
    const __m128i lo = _mm_set1_epi16((short)((2 * e_lo) | ((2 * e_lo + 1) << 8)));
    const __m128i hi = _mm_set1_epi16((short)((2 * e_hi) | ((2 * e_hi + 1) << 8)));
    return _mm256_set_m128i(hi, lo);
}

/* Q4_K / Q5_K: the 8 6-bit scales and mins of a block as 8 int16 each. */
static inline void q4K_scales_mins(const uint8_t s[12], __m128i *sc, __m128i *mn) {
    uint32_t a[3];
    memcpy(a, s, 12);
    const uint32_t sc_lo = a[0] & 0x3f3f3f3fu, mn_lo = a[1] & 0x3f3f3f3fu;
    const uint32_t sc_hi = (a[2] & 0x0f0f0f0fu) | ((a[0] >> 6) & 0x03030303u) << 4;
    const uint32_t mn_hi = ((a[2] >> 4) & 0x0f0f0f0fu) | ((a[1] >> 6) & 0x03030303u) << 4;
    const __m128i v = _mm_set_epi32((int)mn_hi, (int)mn_lo, (int)sc_hi, (int)sc_lo);
    *sc = _mm_cvtepu8_epi16(v);
    *mn = _mm_cvtepu8_epi16(_mm_srli_si128(v, 8));
}

/* Q3_K: the 16 signed 6-bit scales (stored +32) as 16 int8. */
static inline __m128i q3K_scales(const uint8_t s[12]) {
    uint32_t a[3];
    memcpy(a, s, 12);
    const uint32_t m4 = 0x0f0f0f0fu, m2 = 0x03030303u;
    const uint32_t s0 = (a[0] & m4) | ((a[2] >> 0) & m2) << 4;
    const uint32_t s1 = (a[1] & m4) | ((a[2] >> 2) & m2) << 4;
    const uint32_t s2 = ((a[0] >> 4) & m4) | ((a[2] >> 4) & m2) << 4;
    const uint32_t s3 = ((a[1] >> 4) & m4) | ((a[2] >> 6) & m2) << 4;
    return _mm_sub_epi8(_mm_set_epi32((int)s3, (int)s2, (int)s1, (int)s0), _mm_set1_epi8(32));
}

/* Bit `bit` (0..7) of every byte moved to bit `dst` (0..7), other bits cleared. 16-bit shifts
 * are safe here: the wanted bit never crosses a byte boundary. */
static inline __m256i bit_move(__m256i v, int bit, int dst) {
    const __m256i m = _mm256_set1_epi8((char)(1 << dst));
    if (bit <= dst) return _mm256_and_si256(_mm256_slli_epi16(v, dst - bit), m);
    return _mm256_and_si256(_mm256_srli_epi16(v, bit - dst), m);
}

/* ---- Per-block decoding ------------------------------------------------------------------------ */

static const size_t kq_block_size[] = {sizeof(block_q2_K), sizeof(block_q3_K), sizeof(block_q4_K),
                                       sizeof(block_q5_K), sizeof(block_q6_K), sizeof(block_iq4_xs)};

/* What a block needs besides its codes: scales as shuffle sources (ss0: 16-groups 0-7 or the 8
 * 32-groups, ss1: 16-groups 8-15), the bsums multiplier (bsmul, 16 x int16; mn8 for Q4_K/Q5_K's
 * 8 mins), Q5_K qh / Q3_K hmask bits, and the float scales. */
typedef struct kq_block {
    const uint8_t *p;
    __m256i ss0, ss1, bsmul, qh;
    __m128i mn8;
    float d, dmin;
} kq_block;

static inline __attribute__((always_inline)) void kq_prologue(int kind, const uint8_t *blk, kq_block *st) {
    st->p = blk;
    st->ss0 = st->ss1 = st->bsmul = st->qh = _mm256_setzero_si256();
    st->mn8 = _mm_setzero_si128();
    st->dmin = 0.0f;
    switch (kind) {
    case KQ_Q4_K:
    case KQ_Q5_K: {
        const block_q4_K *x = (const block_q4_K *)blk; /* d, dmin, scales: same offsets in Q5_K */
        __m128i sc;
        q4K_scales_mins(x->scales, &sc, &st->mn8);
        st->ss0 = _mm256_set_m128i(sc, sc);
        st->d = avx2_f16(x->d);
        st->dmin = avx2_f16(x->dmin);
        if (kind == KQ_Q5_K) st->qh = _mm256_loadu_si256((const __m256i *)((const block_q5_K *)blk)->qh);
        break;
    }
    case KQ_Q6_K: {
        const block_q6_K *x = (const block_q6_K *)blk;
        const __m128i s8 = _mm_loadu_si128((const __m128i *)x->scales);
        const __m128i lo = _mm_cvtepi8_epi16(s8), hi = _mm_cvtepi8_epi16(_mm_srli_si128(s8, 8));
        st->ss0 = _mm256_set_m128i(lo, lo);
        st->ss1 = _mm256_set_m128i(hi, hi);
        st->bsmul = _mm256_slli_epi16(_mm256_set_m128i(hi, lo), 5); /* 32 * scale: the -32 offset */
        st->d = avx2_f16(x->d);
        break;
    }
    case KQ_Q3_K: {
        const block_q3_K *x = (const block_q3_K *)blk;
        const __m128i s8 = q3K_scales(x->scales);
        const __m128i lo = _mm_cvtepi8_epi16(s8), hi = _mm_cvtepi8_epi16(_mm_srli_si128(s8, 8));
        st->ss0 = _mm256_set_m128i(lo, lo);
        st->ss1 = _mm256_set_m128i(hi, hi);
        st->bsmul = _mm256_slli_epi16(_mm256_set_m128i(hi, lo), 2); /* 4 * scale: the -4 offset */
        st->qh = _mm256_loadu_si256((const __m256i *)x->hmask);
        st->d = avx2_f16(x->d);
        break;
    }
    case KQ_Q2_K: {
        const block_q2_K *x = (const block_q2_K *)blk;
        const __m128i s8 = _mm_loadu_si128((const __m128i *)x->scales);
        const __m128i sc = _mm_and_si128(s8, _mm_set1_epi8(0x0F));
        const __m128i lo = _mm_cvtepu8_epi16(sc), hi = _mm_cvtepu8_epi16(_mm_srli_si128(sc, 8));
        st->ss0 = _mm256_set_m128i(lo, lo);
        st->ss1 = _mm256_set_m128i(hi, hi);
        st->bsmul = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(s8, 4), _mm_set1_epi8(0x0F))); /* mins */
        st->d = avx2_f16(x->d);
        st->dmin = avx2_f16(x->dmin);
        break;
    }
    default: { /* KQ_IQ4_XS */
        const block_iq4_xs *x = (const block_iq4_xs *)blk;
        /* 6-bit scale j: nibble j of scales_l (low nibble first), 2 bits 2j of scales_h. */
        uint32_t sl;
        memcpy(&sl, x->scales_l, 4);
        const __m128i nib = _mm_unpacklo_epi8(_mm_cvtsi32_si128((int)(sl & 0x0f0f0f0fu)),
                                              _mm_cvtsi32_si128((int)((sl >> 4) & 0x0f0f0f0fu)));
        uint64_t hx = x->scales_h; /* spread the 8 two-bit fields to bytes 0..7 */
        hx = (hx | hx << 24) & 0x000000FF000000FFull;
        hx = (hx | hx << 12) & 0x000F000F000F000Full;
        hx = (hx | hx << 6) & 0x0303030303030303ull;
        const __m128i ls8 = _mm_or_si128(nib, _mm_cvtsi64_si128((long long)(hx << 4)));
        const __m128i sc = _mm_sub_epi16(_mm_cvtepu8_epi16(ls8), _mm_set1_epi16(32));
        st->ss0 = _mm256_set_m128i(sc, sc);
        st->d = avx2_f16(x->d);
        break;
    }
    }
}

/* Codes of elements 32c .. 32c+31 of a block (*q) and the int16 scale of each maddubs lane (*s). */
static inline __attribute__((always_inline)) void kq_chunk(int kind, const kq_block *st, int c, __m256i *q,
                                                           __m256i *s) {
    const __m256i m4 = _mm256_set1_epi8(0x0F), m3 = _mm256_set1_epi8(3);
    const int h = c / 4, j = c % 4;
    switch (kind) {
    case KQ_Q4_K:
    case KQ_Q5_K: {
        const uint8_t *qs = kind == KQ_Q5_K ? ((const block_q5_K *)st->p)->qs : ((const block_q4_K *)st->p)->qs;
        const __m256i raw = _mm256_loadu_si256((const __m256i *)(qs + 32 * (c / 2)));
        *q = (c % 2) ? _mm256_and_si256(_mm256_srli_epi16(raw, 4), m4) : _mm256_and_si256(raw, m4);
        if (kind == KQ_Q5_K) *q = _mm256_or_si256(*q, bit_move(st->qh, c, 4));
        *s = _mm256_shuffle_epi8(st->ss0, bcast16_mask(c, c));
        break;
    }
    case KQ_Q6_K: {
        const block_q6_K *x = (const block_q6_K *)st->p;
        const __m256i l = _mm256_loadu_si256((const __m256i *)(x->ql + 64 * h + 32 * (j % 2)));
        const __m256i hb = _mm256_loadu_si256((const __m256i *)(x->qh + 32 * h));
        const __m256i lo = j < 2 ? _mm256_and_si256(l, m4) : _mm256_and_si256(_mm256_srli_epi16(l, 4), m4);
        const __m256i hi = j == 0   ? _mm256_slli_epi16(hb, 4)
                           : j == 1 ? _mm256_slli_epi16(hb, 2)
                           : j == 2 ? hb
                                    : _mm256_srli_epi16(hb, 2);
        *q = _mm256_or_si256(lo, _mm256_and_si256(hi, _mm256_set1_epi8(0x30)));
        *s = _mm256_shuffle_epi8(h ? st->ss1 : st->ss0, bcast16_mask(2 * j, 2 * j + 1));
        break;
    }
    case KQ_Q3_K:
    case KQ_Q2_K: {
        const uint8_t *qs = kind == KQ_Q3_K ? ((const block_q3_K *)st->p)->qs : ((const block_q2_K *)st->p)->qs;
        const __m256i raw = _mm256_loadu_si256((const __m256i *)(qs + 32 * h));
        *q = _mm256_and_si256(_mm256_srli_epi16(raw, 2 * j), m3);
        if (kind == KQ_Q3_K) *q = _mm256_or_si256(*q, bit_move(st->qh, 4 * h + j, 2));
        *s = _mm256_shuffle_epi8(h ? st->ss1 : st->ss0, bcast16_mask(2 * j, 2 * j + 1));
        break;
    }
    default: { /* KQ_IQ4_XS: signed non-linear values */
        const block_iq4_xs *x = (const block_iq4_xs *)st->p;
        const __m128i tab = _mm_loadu_si128((const __m128i *)kvalues_iq4nl);
        const __m128i raw = _mm_loadu_si128((const __m128i *)(x->qs + 16 * c));
        const __m256i nib = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(raw, 4), raw), m4);
        *q = _mm256_shuffle_epi8(_mm256_set_m128i(tab, tab), nib);
        *s = _mm256_shuffle_epi8(st->ss0, bcast16_mask(c, c));
        break;
    }
    }
}

/* acc += d * d_act * (integer block dot, with the offset / min term) for one (row, token). */
static inline __attribute__((always_inline)) __m256 kq_finish(int kind, const kq_block *st, const block_q8_K *a,
                                                              __m256i isum, __m256 acc) {
    if (kind == KQ_Q6_K || kind == KQ_Q3_K)
        isum = _mm256_sub_epi32(isum, _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)a->bsums), st->bsmul));
    acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), _mm256_set1_ps(st->d * a->d), acc);
    if (kind == KQ_Q4_K || kind == KQ_Q5_K) {
        const __m128i bs0 = _mm_loadu_si128((const __m128i *)a->bsums);
        const __m128i bs1 = _mm_loadu_si128((const __m128i *)(a->bsums + 8));
        const __m128i pm = _mm_madd_epi16(st->mn8, _mm_hadd_epi16(bs0, bs1)); /* mins x pair sums */
        acc = _mm256_fnmadd_ps(_mm256_zextps128_ps256(_mm_cvtepi32_ps(pm)), _mm256_set1_ps(st->dmin * a->d), acc);
    } else if (kind == KQ_Q2_K) {
        const __m256i pm = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)a->bsums), st->bsmul);
        acc = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(pm), _mm256_set1_ps(st->dmin * a->d), acc);
    }
    return acc;
}

/* ---- R rows (<= 4) against T tokens (<= DT_TOK) ---------------------------------------------- */

/* P (precise, kernels.h gemm2): activation rows come in pairs (x, residual) summed into one output
 * per token; T is then even. */
static inline __attribute__((always_inline)) void kq_tile(int kind, int R, int T, int P, int64_t nb, const uint8_t *w,
                                                          size_t wrb, const uint8_t *act, size_t arb, float *y,
                                                          int64_t ldy) {
    __m256 acc[4][DT_TOK];
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
        for (int t = 0; t < T; t++)
            acc[r][t] = _mm256_setzero_ps();

    for (int64_t b = 0; b < nb; b++) {
        kq_block st[4];
#pragma GCC unroll 4
        for (int r = 0; r < R; r++)
            kq_prologue(kind, w + (size_t)r * wrb + (size_t)b * kq_block_size[kind], &st[r]);
        __m256i isum[4][DT_TOK];
#pragma GCC unroll 4
        for (int r = 0; r < R; r++)
#pragma GCC unroll 4
            for (int t = 0; t < T; t++)
                isum[r][t] = _mm256_setzero_si256();
#pragma GCC unroll 8
        for (int c = 0; c < 8; c++) {
            __m256i q[4], s[4], qa[4];
#pragma GCC unroll 4
            for (int r = 0; r < R; r++) {
                kq_chunk(kind, &st[r], c, &q[r], &s[r]);
                qa[r] = kind == KQ_IQ4_XS ? _mm256_sign_epi8(q[r], q[r]) : q[r];
            }
#pragma GCC unroll 4
            for (int t = 0; t < T; t++) {
                const block_q8_K *a = (const block_q8_K *)(act + (size_t)t * arb) + b;
                const __m256i av = _mm256_loadu_si256((const __m256i *)(a->qs + 32 * c));
#pragma GCC unroll 4
                for (int r = 0; r < R; r++) {
                    const __m256i ar = kind == KQ_IQ4_XS ? _mm256_sign_epi8(av, q[r]) : av;
                    isum[r][t] = _mm256_add_epi32(isum[r][t], _mm256_madd_epi16(_mm256_maddubs_epi16(qa[r], ar), s[r]));
                }
            }
        }
#pragma GCC unroll 4
        for (int t = 0; t < T; t++) {
            const block_q8_K *a = (const block_q8_K *)(act + (size_t)t * arb) + b;
#pragma GCC unroll 4
            for (int r = 0; r < R; r++)
                acc[r][t] = kq_finish(kind, &st[r], a, isum[r][t], acc[r][t]);
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
        for (int t = 0; t < T; t += 1 + P)
            y[(t >> P) * ldy + r] = avx2_hsum_ps(P ? _mm256_add_ps(acc[r][t], acc[r][t + 1]) : acc[r][t]);
}

#endif
