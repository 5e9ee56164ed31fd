/* K-quants (Q2_K Q3_K Q4_K Q5_K Q6_K) and IQ4_XS against Q8_K activations on AVX-512 machines:
 * the AVX2 tile of kernels_kquants_tile.h, 4 weight rows x DT_TOK tokens instead of 2. With
 * AVX-512VL the compiler has 32 ymm registers, so the 16 accumulators of a 4 x 4 tile stay in
 * registers, and each token's activation chunk is loaded once for 4 rows. The Q8_K activation
 * quantizer stays the AVX2 one. */
#include "kernels/kernels_kquants_tile.h"
#include "kernels/kernels_internal.h"

/* 4 rows x DT_TOK tokens while both remain (prompt processing), then the 1-row tiles of the AVX2
 * file's kq_gemm (remaining rows, and 1 row x 1 token for token generation). */
static inline __attribute__((always_inline)) void kq_gemm4(int kind, int64_t k, const void *vw, size_t wrb,
                                                           int64_t nr, const void *vact, size_t arb, int64_t nt,
                                                           float *y, int64_t ldy) {
    const uint8_t *w = vw, *act = vact;
    const int64_t nb = k / QK_K;
    int64_t t = 0;
    for (; t + DT_TOK <= nt; t += DT_TOK) {
        int64_t r = 0;
        for (; r + 4 <= nr; r += 4)
            kq_tile(kind, 4, DT_TOK, 0, nb, w + (size_t)r * wrb, wrb, act + (size_t)t * arb, arb, y + t * ldy + r, ldy);
        for (; r < nr; r++)
            kq_tile(kind, 1, DT_TOK, 0, nb, w + (size_t)r * wrb, wrb, act + (size_t)t * arb, arb, y + t * ldy + r, ldy);
    }
    for (; t < nt; t++)
        for (int64_t r = 0; r < nr; r++)
            kq_tile(kind, 1, 1, 0, nb, w + (size_t)r * wrb, wrb, act + (size_t)t * arb, arb, y + t * ldy + r, ldy);
}

static void gemm_q2_K_avx512(int64_t k, const void *w, size_t wrb, int64_t nr, const void *a, size_t arb, int64_t nt,
                             float *y, int64_t ldy) {
    kq_gemm4(KQ_Q2_K, k, w, wrb, nr, a, arb, nt, y, ldy);
}
static void gemm_q3_K_avx512(int64_t k, const void *w, size_t wrb, int64_t nr, const void *a, size_t arb, int64_t nt,
                             float *y, int64_t ldy) {
    kq_gemm4(KQ_Q3_K, k, w, wrb, nr, a, arb, nt, y, ldy);
}
static void gemm_q4_K_avx512(int64_t k, const void *w, size_t wrb, int64_t nr, const void *a, size_t arb, int64_t nt,
                             float *y, int64_t ldy) {
    kq_gemm4(KQ_Q4_K, k, w, wrb, nr, a, arb, nt, y, ldy);
}
static void gemm_q5_K_avx512(int64_t k, const void *w, size_t wrb, int64_t nr, const void *a, size_t arb, int64_t nt,
                             float *y, int64_t ldy) {
    kq_gemm4(KQ_Q5_K, k, w, wrb, nr, a, arb, nt, y, ldy);
}
static void gemm_q6_K_avx512(int64_t k, const void *w, size_t wrb, int64_t nr, const void *a, size_t arb, int64_t nt,
                             float *y, int64_t ldy) {
    kq_gemm4(KQ_Q6_K, k, w, wrb, nr, a, arb, nt, y, ldy);
}
static void gemm_iq4_xs_avx512(int64_t k, const void *w, size_t wrb, int64_t nr, const void *a, size_t arb,
                               int64_t nt, float *y, int64_t ldy) {
    kq_gemm4(KQ_IQ4_XS, k, w, wrb, nr, a, arb, nt, y, ldy);
}

/* Precise tiles (gemm2): 4 rows x 2 tokens (4 activation rows) while both remain, then 1 row x
 * 1 token (its 2 activation rows: each chunk of codes is decoded once for both). */
static inline __attribute__((always_inline)) void kq_gemm2_avx512(int kind, int64_t k, const void *vw, size_t wrb,
                                                              int64_t nr, const void *vact, size_t arb, int64_t nt,
                                                              float *y, int64_t ldy) {
    const uint8_t *w = vw, *act = vact;
    const int64_t nb = k / QK_K;
    int64_t t = 0;
    for (; t + 2 <= nt; t += 2) {
        int64_t r = 0;
        for (; r + 4 <= nr; r += 4)
            kq_tile(kind, 4, 4, 1, nb, w + (size_t)r * wrb, wrb, act + (size_t)(2 * t) * arb, arb, y + t * ldy + r,
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
    static void gemm2_##name##_avx512(int64_t k, const void *w, size_t wrb, int64_t nr, const void *a, size_t arb,      \
                                    int64_t nt, float *y, int64_t ldy) {                                               \
        kq_gemm2_avx512(kind, k, w, wrb, nr, a, arb, nt, y, ldy);                                                        \
    }
KQ_GEMM2(q2_K, KQ_Q2_K)
KQ_GEMM2(q3_K, KQ_Q3_K)
KQ_GEMM2(q4_K, KQ_Q4_K)
KQ_GEMM2(q5_K, KQ_Q5_K)
KQ_GEMM2(q6_K, KQ_Q6_K)
KQ_GEMM2(iq4_xs, KQ_IQ4_XS)
#undef KQ_GEMM2

void kernels_fill_avx512_kquants(slm_kernels *kt) {
    kt->mm[SLM_DT_Q2_K].gemm = gemm_q2_K_avx512;
    kt->mm[SLM_DT_Q3_K].gemm = gemm_q3_K_avx512;
    kt->mm[SLM_DT_Q4_K].gemm = gemm_q4_K_avx512;
    kt->mm[SLM_DT_Q5_K].gemm = gemm_q5_K_avx512;
    kt->mm[SLM_DT_Q6_K].gemm = gemm_q6_K_avx512;
    kt->mm[SLM_DT_IQ4_XS].gemm = gemm_iq4_xs_avx512;
    kt->mm[SLM_DT_Q2_K].gemm2 = gemm2_q2_K_avx512;
    kt->mm[SLM_DT_Q3_K].gemm2 = gemm2_q3_K_avx512;
    kt->mm[SLM_DT_Q4_K].gemm2 = gemm2_q4_K_avx512;
    kt->mm[SLM_DT_Q5_K].gemm2 = gemm2_q5_K_avx512;
    kt->mm[SLM_DT_Q6_K].gemm2 = gemm2_q6_K_avx512;
    kt->mm[SLM_DT_IQ4_XS].gemm2 = gemm2_iq4_xs_avx512;
}
