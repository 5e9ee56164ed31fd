/* AVX2 kernels for the K-quants (Q2_K Q3_K Q4_K Q5_K Q6_K) and IQ4_XS against Q8_K activations,
 * plus the Q8_K activation quantizer.
 *
 * Tiles are up to 2 weight rows x DT_TOK tokens: per super-block (256 values) each row's scales
 * are decoded once (kq_prologue), then each 32-value chunk of codes is decoded once into
 * registers (kq_chunk) and used for every token of the tile (maddubs + madd by the int16
 * sub-block scales, exact in int32). One float fma per (super-block, row, token) applies
 * d * d_act (kq_finish).
 *
 * The offset / min terms: codes are kept unsigned (q >= 0), so
 *   Q6_K:  sum sc*(q-32)*a = sum sc*q*a - sum (32 sc) * bsum     (integer, exact)
 *   Q3_K:  sum sc*(q-4)*a  = sum sc*q*a - sum (4 sc) * bsum      (integer, exact)
 *   Q2_K / Q4_K / Q5_K: d * sum sc*q*a - dmin * sum mn * bsum   (two float terms, as ggml)
 *   IQ4_XS: signed codes (the non-linear table, sign trick for maddubs), no min term. */
#include <immintrin.h>
#include <string.h>

#include "kernels/kernels_avx2_common.h"
#include "kernels/kernels_kquants_tile.h"
#include "kernels/kernels_internal.h"
#include "quant/quant.h"

/* ---- Q8_K activation quantizer (bit-exact with quantize_row_q8_K_ref) ------------------------ */

static void quantize_q8_K_avx2(const float *x, block_q8_K *y, int64_t k) {
    const __m256 absmask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    for (int64_t b = 0; b < k / QK_K; b++, x += QK_K) {
        __m256 m = _mm256_setzero_ps();
        for (int i = 0; i < QK_K; i += 8)
            m = _mm256_max_ps(m, _mm256_and_ps(_mm256_loadu_ps(x + i), absmask));
        const float amax = avx2_hmax_ps(m);
        if (!(amax > 0.0f)) { /* all zero (or NaN: the reference's strict > never fires either) */
            memset(&y[b], 0, sizeof y[b]);
            continue;
        }
        /* The reference keeps the first element of largest magnitude, with its sign. */
        int j = 0;
        while (j < QK_K - 1 && !(__builtin_fabsf(x[j]) == amax))
            j++;
        const float iscale = -127.f / x[j];
        const __m256 vs = _mm256_set1_ps(iscale);
        for (int i = 0; i < QK_K; i += 32) {
            __m256i q[4];
            for (int u = 0; u < 4; u++)
                q[u] = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(_mm256_loadu_ps(x + i + 8 * u), vs),
                                                          _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
            const __m256i q8 = avx2_pack_i32x32_to_i8(q); /* packs saturate: MIN(127, v) */
            _mm256_storeu_si256((__m256i *)(y[b].qs + i), q8);
            /* bsums of the two 16-groups: widen to int16, pairwise sums, then horizontal adds. */
            const __m256i w0 = _mm256_cvtepi8_epi16(_mm256_castsi256_si128(q8));
            const __m256i w1 = _mm256_cvtepi8_epi16(_mm256_extracti128_si256(q8, 1));
            const __m256i s0 = _mm256_madd_epi16(w0, _mm256_set1_epi16(1));
            const __m256i s1 = _mm256_madd_epi16(w1, _mm256_set1_epi16(1));
            __m256i h = _mm256_hadd_epi32(s0, s1); /* [s0 pairs lo, s1 pairs lo | s0 hi, s1 hi] */
            h = _mm256_hadd_epi32(h, h);
            __m128i t = _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
            y[b].bsums[i / 16] = (int16_t)_mm_cvtsi128_si32(t);
            y[b].bsums[i / 16 + 1] = (int16_t)_mm_extract_epi32(t, 1);
        }
        y[b].d = 1 / iscale;
    }
}

static void quant_act_q8_K_avx2(const float *x, int64_t ldx, int64_t n, int64_t k, void *act, size_t arb) {
    for (int64_t t = 0; t < n; t++)
        quantize_q8_K_avx2(x + t * ldx, (block_q8_K *)((uint8_t *)act + (size_t)t * arb), k);
}

/* Tiles: 2 rows x DT_TOK tokens while DT_TOK tokens remain (prompt processing), then 1 row x 1
 * token (token generation: the row's codes are decoded once per token anyway). */
static inline __attribute__((always_inline)) void kq_gemm(int kind, int64_t k, const void *vw, size_t wrb, int64_t nr,
                                                          const void *vact, size_t arb, int64_t nt, float *y,
                                                          int64_t ldy) {
    const uint8_t *w = vw, *act = vact;
    const int64_t nb = k / QK_K;
    int64_t t = 0;
    for (; t + DT_TOK <= nt; t += DT_TOK) {
        int64_t r = 0;
        for (; r + 2 <= nr; r += 2)
            kq_tile(kind, 2, DT_TOK, 0, nb, w + (size_t)r * wrb, wrb, act + (size_t)t * arb, arb, y + t * ldy + r, ldy);
        for (; r < nr; r++)
            kq_tile(kind, 1, DT_TOK, 0, nb, w + (size_t)r * wrb, wrb, act + (size_t)t * arb, arb, y + t * ldy + r, ldy);
    }
    for (; t < nt; t++)
        for (int64_t r = 0; r < nr; r++)
            kq_tile(kind, 1, 1, 0, nb, w + (size_t)r * wrb, wrb, act + (size_t)t * arb, arb, y + t * ldy + r, ldy);
}

static void gemm_q2_K_avx2(int64_t k, const void *w, size_t wrb, int64_t nr, const void *a, size_t arb, int64_t nt,
                           float *y, int64_t ldy) {
    kq_gemm(KQ_Q2_K, k, w, wrb, nr, a, arb, nt, y, ldy);
}
static void gemm_q3_K_avx2(int64_t k, const void *w, size_t wrb, int64_t nr, const void *a, size_t arb, int64_t nt,
                           float *y, int64_t ldy) {
    kq_gemm(KQ_Q3_K, k, w, wrb, nr, a, arb, nt, y, ldy);
}
static void gemm_q4_K_avx2(int64_t k, const void *w, size_t wrb, int64_t nr, const void *a, size_t arb, int64_t nt,
                           float *y, int64_t ldy) {
    kq_gemm(KQ_Q4_K, k, w, wrb, nr, a, arb, nt, y, ldy);
}
static void gemm_q5_K_avx2(int64_t k, const void *w, size_t wrb, int64_t nr, const void *a, size_t arb, int64_t nt,
                           float *y, int64_t ldy) {
    kq_gemm(KQ_Q5_K, k, w, wrb, nr, a, arb, nt, y, ldy);
}
static void gemm_q6_K_avx2(int64_t k, const void *w, size_t wrb, int64_t nr, const void *a, size_t arb, int64_t nt,
                           float *y, int64_t ldy) {
    kq_gemm(KQ_Q6_K, k, w, wrb, nr, a, arb, nt, y, ldy);
}
static void gemm_iq4_xs_avx2(int64_t k, const void *w, size_t wrb, int64_t nr, const void *a, size_t arb, int64_t nt,
                             float *y, int64_t ldy) {
    kq_gemm(KQ_IQ4_XS, k, w, wrb, nr, a, arb, nt, y, ldy);
}

/* Precise tiles (gemm2): 2 rows x 2 tokens (4 activation rows) while both remain, then 1 row x
 * 1 token (its 2 activation rows: each chunk of codes is decoded once for both). */
static inline __attribute__((always_inline)) void kq_gemm2_avx2(int kind, int64_t k, const void *vw, size_t wrb,
                                                              int64_t nr, const void *vact, size_t arb, int64_t nt,
                                                              float *y, int64_t ldy) {
    const uint8_t *w = vw, *act = vact;
    const int64_t nb = k / QK_K;
    int64_t t = 0;
    for (; t + 2 <= nt; t += 2) {
        int64_t r = 0;
        for (; r + 2 <= nr; r += 2)
            kq_tile(kind, 2, 4, 1, nb, w + (size_t)r * wrb, wrb, act + (size_t)(2 * t) * arb, arb, y + t * ldy + r,
                    ldy);
        for (; r < nr; r++)
            kq_tile(kind, 1, 4, 1, nb, w + (size_t)r * wrb, wrb, act + (size_t)(2 * t) * arb, arb, y + t * ldy + r,
                    ldy);
    }
    for (; t < nt; t++)
        for (int64_t r = 0; r < nr; r++)
            kq_tile(kind, 1, 2, 1, nb, w + (size_t)r * wrb, wrb, act + (size_t)(2 * t) * arb, arb, y + t * ldy + r,
                    ldy);
}

#define KQ_GEMM2(name, kind)                                                                                           \
    static void gemm2_##name##_avx2(int64_t k, const void *w, size_t wrb, int64_t nr, const void *a, size_t arb,      \
                                    int64_t nt, float *y, int64_t ldy) {                                               \
        kq_gemm2_avx2(kind, k, w, wrb, nr, a, arb, nt, y, ldy);                                                        \
    }
KQ_GEMM2(q2_K, KQ_Q2_K)
KQ_GEMM2(q3_K, KQ_Q3_K)
KQ_GEMM2(q4_K, KQ_Q4_K)
KQ_GEMM2(q5_K, KQ_Q5_K)
KQ_GEMM2(q6_K, KQ_Q6_K)
KQ_GEMM2(iq4_xs, KQ_IQ4_XS)
#undef KQ_GEMM2

void kernels_fill_avx2_kquants(slm_kernels *kt) {
    static const struct {
        uint32_t type;
        slm_gemm_fn gemm, gemm2;
    } tab[] = {
        {SLM_DT_Q2_K, gemm_q2_K_avx2, gemm2_q2_K_avx2},     {SLM_DT_Q3_K, gemm_q3_K_avx2, gemm2_q3_K_avx2},
        {SLM_DT_Q4_K, gemm_q4_K_avx2, gemm2_q4_K_avx2},     {SLM_DT_Q5_K, gemm_q5_K_avx2, gemm2_q5_K_avx2},
        {SLM_DT_Q6_K, gemm_q6_K_avx2, gemm2_q6_K_avx2},     {SLM_DT_IQ4_XS, gemm_iq4_xs_avx2, gemm2_iq4_xs_avx2},
    };
    for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++) {
        kt->mm[tab[i].type].gemm = tab[i].gemm;
        kt->mm[tab[i].type].gemm2 = tab[i].gemm2;
        kt->mm[tab[i].type].quant_act = quant_act_q8_K_avx2;
    }
}
