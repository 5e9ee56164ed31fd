/* AVX2 gemm16 for the K-quants and IQ4_XS (Q2_K Q3_K Q4_K Q5_K Q6_K IQ4_XS) against block_a16_256
 * activations (16-bit activations, kernels.h).
 *
 * Each 32-element chunk of a weight block is decoded into two halves of 16 int16 codes (elements
 * 0-15, 16-31 of the chunk, offsets such as Q6_K's -32 applied) and multiplied by the integer
 * scale of its 16- or 32-group (vpmullw: |code x scale| <= 4096), then vpmaddwd with the
 * activation codes accumulates exact int32 sums over the whole 256-block (each lane sums at most
 * 32 products < 4096 x 16383, below 2^31, kernels.h). Per block and (row, token) the sums are
 * converted once and scaled by d_w x d_a; the Q2_K / Q4_K / Q5_K min term is a float product of
 * the per-16-group mins (dmin x m) with the activation's bsums x d_a.
 * Tiles: 1 row x 4 tokens for prompt processing (4 int32 sums + 4 float accumulators + 2 decoded
 * halves + activation in the 16 ymm registers; each decoded chunk serves 4 tokens); generation
 * goes through the exact 8-bit split below. */
#include <immintrin.h>
#include <string.h>

#include "kernels/kernels_avx2_common.h"
#include "kernels/kernels_internal.h"
#include "quant/quant.h"

enum { K_Q2_K, K_Q3_K, K_Q4_K, K_Q5_K, K_Q6_K, K_IQ4_XS };

static const size_t k_block_size[] = {sizeof(block_q2_K), sizeof(block_q3_K), sizeof(block_q4_K),
                                      sizeof(block_q5_K), sizeof(block_q6_K), sizeof(block_iq4_xs)};

static inline bool k_has_mins(int kind) { return kind == K_Q2_K || kind == K_Q4_K || kind == K_Q5_K; }

/* A block's scales per 16-group (int16), mins per 16-group (dmin x m, float) and d. */
typedef struct k_block {
    const uint8_t *p;
    int16_t sc[16];
    __m256 mn[2];
    float d;
} k_block;

static inline __attribute__((always_inline)) void k_prologue(int kind, const uint8_t *blk, k_block *st) {
    st->p = blk;
    float mins[16] = {0};
    switch (kind) {
    case K_Q4_K:
    case K_Q5_K: {
        const block_q4_K *x = (const block_q4_K *)blk; /* d, dmin, scales: same offsets in Q5_K */
        const float dmin = avx2_f16(x->dmin);
        for (int j = 0; j < 8; j++) {
            /* 6-bit scale / min j (ggml's get_scale_min_k4 layout) */
            const int s = j < 4 ? x->scales[j] & 63 : (x->scales[j + 4] & 0xF) | ((x->scales[j - 4] >> 6) << 4);
            const int m = j < 4 ? x->scales[j + 4] & 63 : (x->scales[j + 4] >> 4) | ((x->scales[j] >> 6) << 4);
            st->sc[2 * j] = st->sc[2 * j + 1] = (int16_t)s;
            mins[2 * j] = mins[2 * j + 1] = dmin * (float)m;
        }
        st->d = avx2_f16(x->d);
        break;
    }
    case K_Q6_K: {
        const block_q6_K *x = (const block_q6_K *)blk;
        for (int g = 0; g < 16; g++) st->sc[g] = x->scales[g];
        st->d = avx2_f16(x->d);
        break;
    }
    case K_Q3_K: {
        const block_q3_K *x = (const block_q3_K *)blk;
        /* 6-bit scale g: low 4 bits from scales[g % 8] (nibble g / 8), 2 high bits from
         * scales[8 + g % 4] at bit 2 (g / 4); stored +32 */
        for (int g = 0; g < 16; g++) {
            const int lo = (x->scales[g % 8] >> (4 * (g / 8))) & 0xF;
            const int hi = (x->scales[8 + g % 4] >> (2 * (g / 4))) & 3;
            st->sc[g] = (int16_t)((lo | hi << 4) - 32);
        }
        st->d = avx2_f16(x->d);
        break;
    }
    case K_Q2_K: {
        const block_q2_K *x = (const block_q2_K *)blk;
        const float dmin = avx2_f16(x->dmin);
        for (int g = 0; g < 16; g++) {
            st->sc[g] = (int16_t)(x->scales[g] & 0xF);
            mins[g] = dmin * (float)(x->scales[g] >> 4);
        }
        st->d = avx2_f16(x->d);
        break;
    }
    default: { /* K_IQ4_XS: scale j = (nibble j of scales_l | 2 bits 2j of scales_h << 4) - 32 */
        const block_iq4_xs *x = (const block_iq4_xs *)blk;
        for (int j = 0; j < 8; j++) {
            const int ls = ((x->scales_l[j / 2] >> (4 * (j % 2))) & 0xF) | (((x->scales_h >> (2 * j)) & 3) << 4);
            st->sc[2 * j] = st->sc[2 * j + 1] = (int16_t)(ls - 32);
        }
        st->d = avx2_f16(x->d);
        break;
    }
    }
    st->mn[0] = _mm256_loadu_ps(mins);
    st->mn[1] = _mm256_loadu_ps(mins + 8);
}

/* Codes of elements 32c .. 32c+15 (*lo) and 32c+16 .. 32c+31 (*hi) as int16, offsets applied,
 * times their group scales. */
static inline __attribute__((always_inline)) void k_chunk(int kind, const k_block *st, int c, __m256i *lo,
                                                          __m256i *hi) {
    const int h = c / 4, j = c % 4;
    __m256i q[2];
    switch (kind) {
    case K_Q4_K:
    case K_Q5_K: {
        /* 32-byte groups of 64 elements: low nibbles = elements 0-31, high nibbles = 32-63 */
        const uint8_t *qs = (kind == K_Q5_K ? ((const block_q5_K *)st->p)->qs : ((const block_q4_K *)st->p)->qs) +
                            32 * (c / 2);
        for (int u = 0; u < 2; u++) {
            const __m256i raw = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(qs + 16 * u)));
            q[u] = (c % 2) ? _mm256_srli_epi16(raw, 4) : _mm256_and_si256(raw, _mm256_set1_epi16(0x0F));
            if (kind == K_Q5_K) { /* bit c of qh[l] is the fifth bit of element 32c + l */
                const __m256i qh =
                    _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(((const block_q5_K *)st->p)->qh + 16 * u)));
                q[u] = _mm256_or_si256(q[u], _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, c), _mm256_set1_epi16(1)), 4));
            }
        }
        break;
    }
    case K_Q6_K: {
        /* element 128h + 32j + l: nibble (j < 2 low, else high) of ql[64h + 32(j % 2) + l], bits
         * 2j of qh[32h + l] as bits 4-5, minus 32 */
        const block_q6_K *x = (const block_q6_K *)st->p;
        for (int u = 0; u < 2; u++) {
            const __m256i l = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(x->ql + 64 * h + 32 * (j % 2) + 16 * u)));
            const __m256i hq = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(x->qh + 32 * h + 16 * u)));
            const __m256i lo4 = j < 2 ? _mm256_and_si256(l, _mm256_set1_epi16(0x0F)) : _mm256_srli_epi16(l, 4);
            const __m256i hi2 = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hq, 2 * j), _mm256_set1_epi16(3)), 4);
            q[u] = _mm256_sub_epi16(_mm256_or_si256(lo4, hi2), _mm256_set1_epi16(32));
        }
        break;
    }
    case K_Q3_K:
    case K_Q2_K: {
        /* element 128h + 32j + l: bits 2j of qs[32h + l]; Q3_K: minus 4 unless bit c of hmask[l] */
        const uint8_t *qs = kind == K_Q3_K ? ((const block_q3_K *)st->p)->qs : ((const block_q2_K *)st->p)->qs;
        for (int u = 0; u < 2; u++) {
            const __m256i raw = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(qs + 32 * h + 16 * u)));
            q[u] = _mm256_and_si256(_mm256_srli_epi16(raw, 2 * j), _mm256_set1_epi16(3));
            if (kind == K_Q3_K) {
                const __m256i hm =
                    _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(((const block_q3_K *)st->p)->hmask + 16 * u)));
                const __m256i set = _mm256_and_si256(_mm256_srli_epi16(hm, c), _mm256_set1_epi16(1));
                /* - 4 where the bit is clear: q - 4 + 4 * bit */
                q[u] = _mm256_add_epi16(q[u], _mm256_sub_epi16(_mm256_slli_epi16(set, 2), _mm256_set1_epi16(4)));
            }
        }
        break;
    }
    default: { /* K_IQ4_XS: 16 bytes per 32-group, low nibbles -> elements 0-15, high -> 16-31 */
        const block_iq4_xs *x = (const block_iq4_xs *)st->p;
        const __m128i raw = _mm_loadu_si128((const __m128i *)(x->qs + 16 * c));
        const __m128i tab = _mm_loadu_si128((const __m128i *)kvalues_iq4nl), m4 = _mm_set1_epi8(0x0F);
        q[0] = _mm256_cvtepi8_epi16(_mm_shuffle_epi8(tab, _mm_and_si128(raw, m4)));
        q[1] = _mm256_cvtepi8_epi16(_mm_shuffle_epi8(tab, _mm_and_si128(_mm_srli_epi16(raw, 4), m4)));
        break;
    }
    }
    *lo = _mm256_mullo_epi16(q[0], _mm256_set1_epi16(st->sc[2 * c]));
    *hi = _mm256_mullo_epi16(q[1], _mm256_set1_epi16(st->sc[2 * c + 1]));
}

/* One row x T tokens (T <= 4) over nb blocks. */
static inline __attribute__((always_inline)) void k_tile(int kind, int T, int64_t nb, const uint8_t *w,
                                                         const uint8_t *act, size_t arb, float *y, int64_t ldy) {
    __m256 acc[4];
#pragma GCC unroll 4
    for (int t = 0; t < T; t++) acc[t] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        k_block st;
        k_prologue(kind, w + (size_t)b * k_block_size[kind], &st);
        __m256i isum[4];
#pragma GCC unroll 4
        for (int t = 0; t < T; t++) isum[t] = _mm256_setzero_si256();
#pragma GCC unroll 8
        for (int c = 0; c < 8; c++) {
            __m256i lo, hi;
            k_chunk(kind, &st, c, &lo, &hi);
#pragma GCC unroll 4
            for (int t = 0; t < T; t++) {
                const block_a16_256 *a = (const block_a16_256 *)(act + (size_t)t * arb) + b;
                const __m256i p = _mm256_add_epi32(_mm256_madd_epi16(lo, _mm256_loadu_si256((const __m256i *)(a->qs + 32 * c))),
                                                   _mm256_madd_epi16(hi, _mm256_loadu_si256((const __m256i *)(a->qs + 32 * c + 16))));
                isum[t] = _mm256_add_epi32(isum[t], p);
            }
        }
#pragma GCC unroll 4
        for (int t = 0; t < T; t++) {
            const block_a16_256 *a = (const block_a16_256 *)(act + (size_t)t * arb) + b;
            acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[t]), _mm256_set1_ps(st.d * a->d), acc[t]);
            if (k_has_mins(kind)) {
                const __m256 da = _mm256_set1_ps(a->d);
                const __m256 b0 = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_loadu_si256((const __m256i *)a->bsums)), da);
                const __m256 b1 = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_loadu_si256((const __m256i *)(a->bsums + 8))), da);
                acc[t] = _mm256_fnmadd_ps(st.mn[0], b0, _mm256_fnmadd_ps(st.mn[1], b1, acc[t]));
            }
        }
    }
#pragma GCC unroll 4
    for (int t = 0; t < T; t++) y[t * ldy] = avx2_hsum_ps(acc[t]);
}

/* ---- Generation: the exact 8-bit split --------------------------------------------------------
 *
 * For one token the int16 decode above costs ~2.4x the ops of the 8-bit tiles per weight (vpmaddwd
 * does 16 products where vpmaddubsw does 32), and measured 1.45x slower than the AVX2 precise
 * (gemm2) tile. So a token's a16 row is split exactly into two Q8_K rows, q = 129 hi + lo with
 * |hi| <= 127 and |lo| <= 65 (scales 129 d and d), and the table's gemm2 tile (weights decoded once
 * for both rows) takes them: the same 16-bit product, up to float rounding of the two scales. */

static slm_gemm_fn g_gemm2[6]; /* the AVX2 gemm2 tiles, captured by the fill function */

#define SPLIT_MAX_K 16384 /* longest row split on the stack (2 x 64 blocks x 292 bytes) */

static void split_row(const block_a16_256 *a, int64_t nb, block_q8_K *hi, block_q8_K *lo) {
    for (int64_t b = 0; b < nb; b++) {
        hi[b].d = 129.0f * a[b].d;
        lo[b].d = a[b].d;
        for (int g = 0; g < 16; g++) {
            int sh = 0, sl = 0;
            for (int i = 16 * g; i < 16 * g + 16; i++) {
                const int q = a[b].qs[i];
                const int h = q >= 0 ? (q + 64) / 129 : -((64 - q) / 129);
                hi[b].qs[i] = (int8_t)h;
                lo[b].qs[i] = (int8_t)(q - 129 * h);
                sh += h;
                sl += q - 129 * h;
            }
            hi[b].bsums[g] = (int16_t)sh;
            lo[b].bsums[g] = (int16_t)sl;
        }
    }
}

static inline __attribute__((always_inline)) void k_gemm(int kind, int64_t k, const void *vw, size_t wrb, int64_t nr,
                                                         const void *vact, size_t arb, int64_t nt, float *y,
                                                         int64_t ldy) {
    const uint8_t *w = vw, *act = vact;
    const int64_t nb = k / QK_K;
    if (nt < 4 && k <= SPLIT_MAX_K && g_gemm2[kind]) {
        block_q8_K two[2 * (SPLIT_MAX_K / QK_K)];
        for (int64_t t = 0; t < nt; t++) {
            split_row((const block_a16_256 *)(act + (size_t)t * arb), nb, two, two + nb);
            g_gemm2[kind](k, w, wrb, nr, two, (size_t)nb * sizeof(block_q8_K), 1, y + t * ldy, ldy);
        }
        return;
    }
    int64_t t = 0;
    for (; t + 4 <= nt; t += 4)
        for (int64_t r = 0; r < nr; r++)
            k_tile(kind, 4, nb, w + (size_t)r * wrb, act + (size_t)t * arb, arb, y + t * ldy + r, ldy);
    for (; t < nt; t++)
        for (int64_t r = 0; r < nr; r++)
            k_tile(kind, 1, nb, w + (size_t)r * wrb, act + (size_t)t * arb, arb, y + t * ldy + r, ldy);
}

#define K_GEMM(name, kind)                                                                                             \
    static void gemm16_##name##_avx2(int64_t k, const void *w, size_t wrb, int64_t nr, const void *a, size_t arb,      \
                                     int64_t nt, float *y, int64_t ldy) {                                              \
        k_gemm(kind, k, w, wrb, nr, a, arb, nt, y, ldy);                                                               \
    }
K_GEMM(q2_K, K_Q2_K)
K_GEMM(q3_K, K_Q3_K)
K_GEMM(q4_K, K_Q4_K)
K_GEMM(q5_K, K_Q5_K)
K_GEMM(q6_K, K_Q6_K)
K_GEMM(iq4_xs, K_IQ4_XS)
#undef K_GEMM

void kernels_fill_a16_kq_avx2(slm_kernels *kt) {
    static const uint32_t types[6] = {SLM_DT_Q2_K, SLM_DT_Q3_K, SLM_DT_Q4_K, SLM_DT_Q5_K, SLM_DT_Q6_K, SLM_DT_IQ4_XS};
    for (int i = 0; i < 6; i++) g_gemm2[i] = kt->mm[types[i]].gemm2;
    kt->mm[SLM_DT_Q2_K].gemm16 = gemm16_q2_K_avx2;
    kt->mm[SLM_DT_Q3_K].gemm16 = gemm16_q3_K_avx2;
    kt->mm[SLM_DT_Q4_K].gemm16 = gemm16_q4_K_avx2;
    kt->mm[SLM_DT_Q5_K].gemm16 = gemm16_q5_K_avx2;
    kt->mm[SLM_DT_Q6_K].gemm16 = gemm16_q6_K_avx2;
    kt->mm[SLM_DT_IQ4_XS].gemm16 = gemm16_iq4_xs_avx2;
}
