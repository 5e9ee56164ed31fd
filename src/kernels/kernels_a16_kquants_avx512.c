/* AVX-512 gemm16 tiles for the K-quants and IQ4_XS (16-bit activations, kernels.h).
 *
 * Each 32-element chunk of a weight block is decoded to 32 int16 weights with the integer
 * sub-block scale folded in (w' = code x scale, offsets such as Q6_K's -32 applied first), so
 * one vpdpwssd per activation chunk gives exact int32 sums: |w'| <= 4096 and |q| <= 16383
 * keep a whole 256-block exact in each int32 lane (kernels.h). Per block and (row, token) the
 * int32 sums are converted once and scaled by d_w * d_a; the Q4_K / Q5_K / Q2_K min term is
 * one more multiply-add of per-lane vectors, mins x dmin (per row) times bsums x d_a (per token).
 *
 * Prompt processing runs tiles of up to 4 rows x TT tokens: each chunk is decoded once per tile
 * and the activation chunk, a memory operand, is read once for all 4 rows. Token generation
 * (n_tok == 1), where that decode would be paid for one token, takes int8 planes of the
 * activation instead (below). */
#include <immintrin.h>
#include <string.h>

#include "kernels/kernels_internal.h"
#include "kernels/kernels_kquants_tile.h"

/* Tokens per prompt tile: 4 x TT int32 sums and 4 x TT float accumulators. */
#define TT 4

/* vpternlog immediate for a | (b & c). */
#define TL_A_OR_B_AND_C 0xF8

/* A decoded row block: its scales as int16 lanes (one per 32-group for Q4_K / Q5_K / IQ4_XS,
 * per 16-group otherwise), the fifth bit (Q5_K qh) or high bit (Q3_K hmask) of element l in
 * int16 lane l, dmin x min of the 16-group of each bsums lane, and d. */
typedef struct k16_block {
    const uint8_t *p;
    __m512i sc, hb;
    __m512 mins;
    __m512 d;
} k16_block;

static inline bool k16_has_mins(int kind) { return kind == KQ_Q2_K || kind == KQ_Q4_K || kind == KQ_Q5_K; }

static inline __m512i zext128(__m128i v) { return _mm512_zextsi128_si512(v); }

static inline __attribute__((always_inline)) void k16_prologue(int kind, const uint8_t *blk, k16_block *st) {
    st->p = blk;
    st->hb = _mm512_setzero_si512();
    st->mins = _mm512_setzero_ps();
    switch (kind) {
    case KQ_Q4_K:
    case KQ_Q5_K: {
        const block_q4_K *x = (const block_q4_K *)blk; /* d, dmin, scales: same offsets in Q5_K */
        /* 6-bit scale / min j: j < 4 in the low 6 bits of bytes j / j+4; j >= 4 low nibble / high
         * nibble of byte j+4 with the 2 top bits of byte j-4 / j as bits 4-5. */
        uint32_t a[3];
        memcpy(a, x->scales, 12);
        const uint32_t sc_lo = a[0] & 0x3f3f3f3fu, mn_lo = a[1] & 0x3f3f3f3fu;
        const uint32_t sc_hi = (a[2] & 0x0f0f0f0fu) | ((a[0] >> 6) & 0x03030303u) << 4;
        const uint32_t mn_hi = ((a[2] >> 4) & 0x0f0f0f0fu) | ((a[1] >> 6) & 0x03030303u) << 4;
        const __m128i sc8 = _mm_set_epi32(0, 0, (int)sc_hi, (int)sc_lo);
        const __m128i mn8 = _mm_set_epi32(0, 0, (int)mn_hi, (int)mn_lo);
        st->sc = zext128(_mm_cvtepu8_epi16(sc8));
        /* bsums lanes 2j and 2j+1 both take min j */
        st->mins = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_unpacklo_epi8(mn8, mn8))),
                                 _mm512_set1_ps(_cvtsh_ss(x->dmin)));
        st->d = _mm512_set1_ps(_cvtsh_ss(x->d));
        if (kind == KQ_Q5_K)
            st->hb = _mm512_cvtepu8_epi16(_mm256_loadu_si256((const __m256i *)((const block_q5_K *)blk)->qh));
        break;
    }
    case KQ_Q6_K: {
        const block_q6_K *x = (const block_q6_K *)blk;
        st->sc = _mm512_zextsi256_si512(_mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)x->scales)));
        st->d = _mm512_set1_ps(_cvtsh_ss(x->d));
        break;
    }
    case KQ_Q3_K: {
        const block_q3_K *x = (const block_q3_K *)blk;
        /* scale j: low nibble of byte j (j < 8) or high nibble of byte j-8, bits 4-5 from
         * byte 8 + j%4 at bit 2(j/4); stored +32 */
        uint32_t a[3];
        memcpy(a, x->scales, 12);
        const uint32_t m4 = 0x0f0f0f0fu, m2 = 0x03030303u;
        const uint32_t s0 = (a[0] & m4) | (a[2] & m2) << 4;
        const uint32_t s1 = (a[1] & m4) | ((a[2] >> 2) & m2) << 4;
        const uint32_t s2 = ((a[0] >> 4) & m4) | ((a[2] >> 4) & m2) << 4;
        const uint32_t s3 = ((a[1] >> 4) & m4) | ((a[2] >> 6) & m2) << 4;
        const __m256i s16 = _mm256_cvtepu8_epi16(_mm_set_epi32((int)s3, (int)s2, (int)s1, (int)s0));
        st->sc = _mm512_zextsi256_si512(_mm256_sub_epi16(s16, _mm256_set1_epi16(32)));
        st->hb = _mm512_cvtepu8_epi16(_mm256_loadu_si256((const __m256i *)x->hmask));
        st->d = _mm512_set1_ps(_cvtsh_ss(x->d));
        break;
    }
    case KQ_Q2_K: {
        const block_q2_K *x = (const block_q2_K *)blk;
        const __m128i s8 = _mm_loadu_si128((const __m128i *)x->scales);
        st->sc = _mm512_zextsi256_si512(_mm256_cvtepu8_epi16(_mm_and_si128(s8, _mm_set1_epi8(0x0F))));
        const __m128i mn8 = _mm_and_si128(_mm_srli_epi16(s8, 4), _mm_set1_epi8(0x0F));
        st->mins = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(mn8)), _mm512_set1_ps(_cvtsh_ss(x->dmin)));
        st->d = _mm512_set1_ps(_cvtsh_ss(x->d));
        break;
    }
    default: { /* KQ_IQ4_XS: scale j = (nibble j of scales_l | 2 bits 2j of scales_h << 4) - 32 */
        const block_iq4_xs *x = (const block_iq4_xs *)blk;
        uint32_t sl;
        memcpy(&sl, x->scales_l, 4);
        const __m128i l2 = _mm_cvtepu8_epi16(_mm_unpacklo_epi8(_mm_cvtsi32_si128((int)sl), _mm_cvtsi32_si128((int)sl)));
        const __m128i lo = _mm_and_si128(_mm_srlv_epi16(l2, _mm_setr_epi16(0, 4, 0, 4, 0, 4, 0, 4)), _mm_set1_epi16(0x0F));
        const __m128i hi = _mm_and_si128(_mm_srlv_epi16(_mm_set1_epi16((short)x->scales_h),
                                                        _mm_setr_epi16(0, 2, 4, 6, 8, 10, 12, 14)),
                                         _mm_set1_epi16(3));
        st->sc = zext128(_mm_sub_epi16(_mm_or_si128(lo, _mm_slli_epi16(hi, 4)), _mm_set1_epi16(32)));
        st->d = _mm512_set1_ps(_cvtsh_ss(x->d));
        break;
    }
    }
}

/* Index vector taking int16 lane a into lanes 0-15 and lane b into lanes 16-31. */
static inline __m512i lane_pair(int a, int b) {
    return _mm512_mask_set1_epi16(_mm512_set1_epi16((short)a), 0xFFFF0000u, (short)b);
}

/* The 32 int16 weights (code x scale) of elements 32c .. 32c+31 of a block. */
static inline __attribute__((always_inline)) __m512i k16_chunk(int kind, const k16_block *st, int c) {
    const __m512i m4 = _mm512_set1_epi16(0x0F);
    const int h = c / 4, j = c % 4;
    switch (kind) {
    case KQ_Q4_K:
    case KQ_Q5_K: {
        /* 64-element groups of 32 bytes: low nibbles first, then high nibbles */
        const uint8_t *qs = kind == KQ_Q5_K ? ((const block_q5_K *)st->p)->qs : ((const block_q4_K *)st->p)->qs;
        const __m512i raw = _mm512_cvtepu8_epi16(_mm256_loadu_si256((const __m256i *)(qs + 32 * (c / 2))));
        __m512i q = (c % 2) ? _mm512_srli_epi16(raw, 4) : _mm512_and_si512(raw, m4);
        if (kind == KQ_Q5_K) {
            const __m512i hb = c <= 4 ? _mm512_slli_epi16(st->hb, 4 - c) : _mm512_srli_epi16(st->hb, c - 4);
            q = _mm512_ternarylogic_epi32(q, hb, _mm512_set1_epi16(0x10), TL_A_OR_B_AND_C);
        }
        return _mm512_mullo_epi16(q, _mm512_permutexvar_epi16(_mm512_set1_epi16((short)c), st->sc));
    }
    case KQ_Q6_K: {
        /* per 128-half h: ql[64h + l] low nibble -> element l, ql[64h + 32 + l] low -> 32 + l,
         * high nibbles -> 64 + l / 96 + l; 2-bit pair j of qh[32h + l] on top of each */
        const block_q6_K *x = (const block_q6_K *)st->p;
        const __m512i l = _mm512_cvtepu8_epi16(_mm256_loadu_si256((const __m256i *)(x->ql + 64 * h + 32 * (j % 2))));
        const __m512i hq = _mm512_cvtepu8_epi16(_mm256_loadu_si256((const __m256i *)(x->qh + 32 * h)));
        const __m512i lo = j < 2 ? _mm512_and_si512(l, m4) : _mm512_srli_epi16(l, 4);
        const __m512i hi = j == 0   ? _mm512_slli_epi16(hq, 4)
                           : j == 1 ? _mm512_slli_epi16(hq, 2)
                           : j == 2 ? hq
                                    : _mm512_srli_epi16(hq, 2);
        const __m512i q = _mm512_ternarylogic_epi32(lo, hi, _mm512_set1_epi16(0x30), TL_A_OR_B_AND_C);
        return _mm512_mullo_epi16(_mm512_sub_epi16(q, _mm512_set1_epi16(32)),
                                  _mm512_permutexvar_epi16(lane_pair(2 * c, 2 * c + 1), st->sc));
    }
    case KQ_Q3_K:
    case KQ_Q2_K: {
        /* element 128h + 32j + l: bits 2j of qs[32h + l]; Q3_K: minus 4 unless bit c of hmask[l] */
        const uint8_t *qs = kind == KQ_Q3_K ? ((const block_q3_K *)st->p)->qs : ((const block_q2_K *)st->p)->qs;
        const __m512i raw = _mm512_cvtepu8_epi16(_mm256_loadu_si256((const __m256i *)(qs + 32 * h)));
        __m512i q = _mm512_and_si512(j ? _mm512_srli_epi16(raw, 2 * j) : raw, _mm512_set1_epi16(3));
        if (kind == KQ_Q3_K) {
            const __mmask32 no_hbit = _mm512_testn_epi16_mask(st->hb, _mm512_set1_epi16((short)(1 << c)));
            q = _mm512_mask_sub_epi16(q, no_hbit, q, _mm512_set1_epi16(4));
        }
        return _mm512_mullo_epi16(q, _mm512_permutexvar_epi16(lane_pair(2 * c, 2 * c + 1), st->sc));
    }
    default: { /* KQ_IQ4_XS: 16 bytes per 32-group, low nibbles -> elements 0-15, high -> 16-31 */
        const block_iq4_xs *x = (const block_iq4_xs *)st->p;
        const __m256i b = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(x->qs + 16 * c)));
        const __m512i idx = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_and_si256(b, _mm256_set1_epi16(0x0F))),
                                               _mm256_srli_epi16(b, 4), 1);
        const __m512i tab = _mm512_zextsi256_si512(_mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)kvalues_iq4nl)));
        return _mm512_mullo_epi16(_mm512_permutexvar_epi16(idx, tab),
                                  _mm512_permutexvar_epi16(_mm512_set1_epi16((short)c), st->sc));
    }
    }
}

/* R (<= 4) rows x T (<= TT) tokens over nb blocks. */
static inline __attribute__((always_inline)) void k16_tile(int kind, int R, int T, int64_t nb, const uint8_t *w,
                                                           size_t wrb, const uint8_t *act, size_t arb, float *y,
                                                           int64_t ldy) {
    __m512 acc[4][TT];
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
#pragma GCC unroll 8
        for (int t = 0; t < T; t++)
            acc[r][t] = _mm512_setzero_ps();

    for (int64_t b = 0; b < nb; b++) {
        k16_block st[4];
#pragma GCC unroll 4
        for (int r = 0; r < R; r++)
            k16_prologue(kind, w + (size_t)r * wrb + (size_t)b * kq_block_size[kind], &st[r]);
        const block_a16_256 *ab = (const block_a16_256 *)act + b;
        __m512i isum[4][TT];
#pragma GCC unroll 4
        for (int r = 0; r < R; r++)
#pragma GCC unroll 8
            for (int t = 0; t < T; t++)
                isum[r][t] = _mm512_setzero_si512();
#pragma GCC unroll 8
        for (int c = 0; c < 8; c++) {
            __m512i wv[4];
#pragma GCC unroll 4
            for (int r = 0; r < R; r++)
                wv[r] = k16_chunk(kind, &st[r], c);
#pragma GCC unroll 8
            for (int t = 0; t < T; t++) {
                const block_a16_256 *a = (const block_a16_256 *)((const uint8_t *)ab + (size_t)t * arb);
                const __m512i av = _mm512_load_si512((const void *)(a->qs + 32 * c));
#pragma GCC unroll 4
                for (int r = 0; r < R; r++)
                    isum[r][t] = _mm512_dpwssd_epi32(isum[r][t], wv[r], av);
            }
        }
#pragma GCC unroll 8
        for (int t = 0; t < T; t++) {
            const block_a16_256 *a = (const block_a16_256 *)((const uint8_t *)ab + (size_t)t * arb);
            const __m512 da = _mm512_set1_ps(a->d);
            const __m512 bs = k16_has_mins(kind)
                                  ? _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_load_si512((const void *)a->bsums)), da)
                                  : _mm512_setzero_ps();
#pragma GCC unroll 4
            for (int r = 0; r < R; r++) {
                acc[r][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[r][t]), _mm512_mul_ps(st[r].d, da), acc[r][t]);
                if (k16_has_mins(kind)) acc[r][t] = _mm512_fnmadd_ps(st[r].mins, bs, acc[r][t]);
            }
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
#pragma GCC unroll 8
        for (int t = 0; t < T; t++)
            y[t * ldy + r] = _mm512_reduce_add_ps(acc[r][t]);
}

/* ---- Token generation (n_tok == 1) ---------------------------------------------------------------
 *
 * One activation row against many weight rows: decoding each chunk to int16 (a widening and a
 * multiply per 32 weights) would cost more than the dot product. Instead the row is split once
 * per call into two int8 planes, a = 255 ah + al with ah = round(a / 255) in [-64, 64] and al in
 * [-127, 127] (255, not 256: IQ4_XS's signed values take the vpsignb trick, which cannot negate
 * -128), and each chunk is decoded as for Q8_K activations (kernels_kquants_tile.h): vpmaddubsw
 * (codes x plane, pair sums <= 2 x 127 x 127, no saturation) then vpdpwssd with the int16
 * sub-block scales, per plane. The codes' offsets (Q6_K -32, Q3_K -4: bsums x scale) join the
 * same integer sums, bsums split like the codes, so those sums stay exact; each plane's sum stays
 * below 2^26 per lane and block, and the two are combined in float (255 x hi + lo may pass 2^31
 * for Q6_K). The Q2_K mins take the same split in a sum of their own (dmin, not d); the Q4_K /
 * Q5_K mins, one per pair of bsums, are a float product with the pair sums. */

/* Longest row split on the stack (two planes of k bytes); longer rows take the int16 tile. */
#define TG_MAX_K 32768
/* Weight bytes prefetched ahead: the hardware prefetcher alone left the decode waiting (~10%). */
#define TG_PREFETCH 2048

/* Per activation block: bsums = 255 bh + bl as int16, the 8 pair sums x d_a, d_a. Compact, so
 * that the planes and these stay in L1 (the a16 blocks are 2.5x the bytes). */
typedef struct tg_blk {
    __m256i bh, bl;
    __m256 bs8;
    float d;
} tg_blk;

/* 16 int32 v -> h = round(v / 255) and l = v - 255 h, |l| <= 127 (v / 255 is never a tie: 255 is
 * odd, and the float quotient is ~1e-7 relative off, far from moving a rounding). */
static inline void split255(__m512i v, __m512i *h, __m512i *l) {
    *h = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_cvtepi32_ps(v), _mm512_set1_ps(1.0f / 255.0f)));
    *l = _mm512_sub_epi32(v, _mm512_mullo_epi32(*h, _mm512_set1_epi32(255)));
}

static void tg_split(const block_a16_256 *a, int64_t nb, int8_t *hi, int8_t *lo, tg_blk *tb) {
    for (int64_t b = 0; b < nb; b++) {
        for (int c = 0; c < 16; c++) {
            __m512i h, l;
            split255(_mm512_cvtepi16_epi32(_mm256_load_si256((const __m256i *)(a[b].qs + 16 * c))), &h, &l);
            _mm_store_si128((__m128i *)(hi + 256 * b + 16 * c), _mm512_cvtepi32_epi8(h));
            _mm_store_si128((__m128i *)(lo + 256 * b + 16 * c), _mm512_cvtepi32_epi8(l));
        }
        const __m512i bs = _mm512_load_si512((const void *)a[b].bsums); /* |bsums| <= 16 x 16383 */
        __m512i h, l;
        split255(bs, &h, &l);
        tb[b].bh = _mm512_cvtepi32_epi16(h);
        tb[b].bl = _mm512_cvtepi32_epi16(l);
        /* the Q4_K / Q5_K mins go with bsums 2j + 2j+1 */
        const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 0, 0, 0, 0, 0, 0, 0, 0);
        const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 0, 0, 0, 0, 0, 0, 0, 0);
        const __m256i ps = _mm256_add_epi32(_mm512_castsi512_si256(_mm512_permutexvar_epi32(even, bs)),
                                            _mm512_castsi512_si256(_mm512_permutexvar_epi32(odd, bs)));
        tb[b].bs8 = _mm256_mul_ps(_mm256_cvtepi32_ps(ps), _mm256_set1_ps(a[b].d));
        tb[b].d = a[b].d;
    }
}

/* One row (two interleaved rows run slower: the weight streams, not the decode, set the pace). */
static inline __attribute__((always_inline)) float tg_row(int kind, int64_t nb, const uint8_t *w, const int8_t *hi,
                                                          const int8_t *lo, const tg_blk *tb) {
    __m256 acc = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        kq_block st;
#pragma GCC unroll 4
        for (size_t l = 0; l < kq_block_size[kind]; l += 64)
            _mm_prefetch((const char *)(w + (size_t)b * kq_block_size[kind] + TG_PREFETCH + l), _MM_HINT_T0);
        kq_prologue(kind, w + (size_t)b * kq_block_size[kind], &st);
        /* two sums per plane: the vpdpwssd latency chain of a block is 4 deep, not 8 */
        __m256i ilo[2] = {_mm256_setzero_si256(), _mm256_setzero_si256()}, ihi[2] = {ilo[0], ilo[0]};
        if (kind == KQ_Q6_K || kind == KQ_Q3_K) {
            const __m256i off = _mm256_sub_epi16(_mm256_setzero_si256(), st.bsmul);
            ilo[0] = _mm256_madd_epi16(tb[b].bl, off);
            ihi[0] = _mm256_madd_epi16(tb[b].bh, off);
        }
#pragma GCC unroll 8
        for (int c = 0; c < 8; c++) {
            __m256i q, s;
            kq_chunk(kind, &st, c, &q, &s);
            __m256i al = _mm256_load_si256((const __m256i *)(lo + 256 * b + 32 * c));
            __m256i ah = _mm256_load_si256((const __m256i *)(hi + 256 * b + 32 * c));
            if (kind == KQ_IQ4_XS) { /* signed values: |q| x (plane with q's sign) */
                al = _mm256_sign_epi8(al, q);
                ah = _mm256_sign_epi8(ah, q);
                q = _mm256_sign_epi8(q, q);
            }
            ilo[c % 2] = _mm256_dpwssd_epi32(ilo[c % 2], _mm256_maddubs_epi16(q, al), s);
            ihi[c % 2] = _mm256_dpwssd_epi32(ihi[c % 2], _mm256_maddubs_epi16(q, ah), s);
        }
        const __m256 isum = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_add_epi32(ihi[0], ihi[1])), _mm256_set1_ps(255.0f),
                                            _mm256_cvtepi32_ps(_mm256_add_epi32(ilo[0], ilo[1])));
        acc = _mm256_fmadd_ps(isum, _mm256_set1_ps(st.d * tb[b].d), acc);
        if (kind == KQ_Q2_K) { /* sum_j min_j bsums_j < 2^26 */
            const __m256i m = _mm256_add_epi32(_mm256_madd_epi16(tb[b].bl, st.bsmul),
                                               _mm256_mullo_epi32(_mm256_madd_epi16(tb[b].bh, st.bsmul),
                                                                  _mm256_set1_epi32(255)));
            acc = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(m), _mm256_set1_ps(st.dmin * tb[b].d), acc);
        } else if (kind == KQ_Q4_K || kind == KQ_Q5_K) {
            acc = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(_mm256_cvtepi16_epi32(st.mn8)),
                                   _mm256_mul_ps(tb[b].bs8, _mm256_set1_ps(st.dmin)), acc);
        }
    }
    return avx2_hsum_ps(acc);
}

static inline __attribute__((always_inline)) void tg_gemm(int kind, int64_t k, const uint8_t *w, size_t wrb,
                                                          int64_t nr, const block_a16_256 *a, float *y) {
    _Alignas(64) int8_t hi[TG_MAX_K], lo[TG_MAX_K];
    tg_blk tb[TG_MAX_K / QK_K];
    const int64_t nb = k / QK_K;
    tg_split(a, nb, hi, lo, tb);
    for (int64_t r = 0; r < nr; r++) y[r] = tg_row(kind, nb, w + (size_t)r * wrb, hi, lo, tb);
}

/* Tiles of 4 rows x TT tokens, the last ones narrower. */
static inline __attribute__((always_inline)) void k16_gemm(int kind, int64_t k, const void *vw, size_t wrb,
                                                           int64_t nr, const void *vact, size_t arb, int64_t nt,
                                                           float *y, int64_t ldy) {
    const uint8_t *w = vw, *act = vact;
    const int64_t nb = k / QK_K;
    if (nt == 1 && k <= TG_MAX_K) {
        tg_gemm(kind, k, w, wrb, nr, vact, y);
        return;
    }
    /* one row for a single token (rows longer than TG_MAX_K): interleaved rows ran slower */
    const int RMAX = nt == 1 ? 1 : 4;
    for (int64_t r = 0; r < nr; r += RMAX) {
        const int R = nr - r < RMAX ? (int)(nr - r) : RMAX;
        for (int64_t t = 0; t < nt; t += TT) {
            const int T = nt - t < TT ? (int)(nt - t) : TT;
            const uint8_t *wt = w + (size_t)r * wrb, *at = act + (size_t)t * arb;
            float *yt = y + t * ldy + r;
#define K16_T(RR)                                                                                                     \
    switch (T) {                                                                                                       \
    case 1: k16_tile(kind, RR, 1, nb, wt, wrb, at, arb, yt, ldy); break;                                              \
    case 2: k16_tile(kind, RR, 2, nb, wt, wrb, at, arb, yt, ldy); break;                                              \
    case 3: k16_tile(kind, RR, 3, nb, wt, wrb, at, arb, yt, ldy); break;                                              \
    default: k16_tile(kind, RR, TT, nb, wt, wrb, at, arb, yt, ldy); break;                                            \
    }
            switch (R) {
            case 1: K16_T(1) break;
            case 2: K16_T(2) break;
            case 3: K16_T(3) break;
            default: K16_T(4) break;
            }
#undef K16_T
        }
    }
}

#define K16_GEMM(name, kind)                                                                                           \
    static void gemm16_##name##_avx512(int64_t k, const void *w, size_t wrb, int64_t nr, const void *a, size_t arb,   \
                                       int64_t nt, float *y, int64_t ldy) {                                            \
        k16_gemm(kind, k, w, wrb, nr, a, arb, nt, y, ldy);                                                             \
    }
K16_GEMM(q2_K, KQ_Q2_K)
K16_GEMM(q3_K, KQ_Q3_K)
K16_GEMM(q4_K, KQ_Q4_K)
K16_GEMM(q5_K, KQ_Q5_K)
K16_GEMM(q6_K, KQ_Q6_K)
K16_GEMM(iq4_xs, KQ_IQ4_XS)
#undef K16_GEMM

void kernels_fill_a16_kquants_avx512(slm_kernels *kt) {
    kt->mm[SLM_DT_Q2_K].gemm16 = gemm16_q2_K_avx512;
    kt->mm[SLM_DT_Q3_K].gemm16 = gemm16_q3_K_avx512;
    kt->mm[SLM_DT_Q4_K].gemm16 = gemm16_q4_K_avx512;
    kt->mm[SLM_DT_Q5_K].gemm16 = gemm16_q5_K_avx512;
    kt->mm[SLM_DT_Q6_K].gemm16 = gemm16_q6_K_avx512;
    kt->mm[SLM_DT_IQ4_XS].gemm16 = gemm16_iq4_xs_avx512;
}
