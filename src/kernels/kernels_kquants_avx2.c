/* AVX2 kernels for the K-quants (Q2_K Q3_K Q4_K Q5_K Q6_K) and IQ4_XS against Q8_K activations,
 * plus the Q8_K activation quantizer.
 *
 * Each weight super-block (256 values) of a row is first unpacked into a small L1 buffer
 * (kq_unpacked): 256 codes in element order, the sub-block scales expanded to int16 vectors, and
 * the per-16 multipliers of the activation's bsums. The dot with one activation super-block is
 * then the same for every type: 8 x (maddubs, madd by scales) in int32, exact. Unpacking is paid
 * once per (row, super-block) and reused for every token of the tile.
 *
 * The offset / min terms: codes are stored unsigned (q >= 0), so
 *   Q6_K:  sum sc*(q-32)*a = sum sc*q*a - sum (32 sc) * bsum     (integer, exact)
 *   Q3_K:  sum sc*(q-4)*a  = sum sc*q*a - sum (4 sc) * bsum      (integer, exact)
 *   Q2_K / Q4_K / Q5_K: d * sum sc*q*a - dmin * sum mn * bsum   (two float terms, as ggml)
 *   IQ4_XS: signed codes (the non-linear table), no min term. */
#include <immintrin.h>
#include <string.h>

#include "kernels/kernels_avx2_common.h"
#include "kernels/kernels_internal.h"
#include "quant/quant.h"

/* ---- Q8_K activation quantizer (bit-exact with quantize_row_q8_K_ref) ------------------------ */

static void quantize_q8_K_avx2(const float *x, block_q8_K *y, int64_t k) {
    const __m256 absmask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    for (int64_t b = 0; b < k / QK_K; b++, x += QK_K) {
        __m256 m = _mm256_setzero_ps();
        for (int i = 0; i < QK_K; i += 8) m = _mm256_max_ps(m, _mm256_and_ps(_mm256_loadu_ps(x + i), absmask));
        const float amax = avx2_hmax_ps(m);
        if (!(amax > 0.0f)) { /* all zero (or NaN: the reference's strict > never fires either) */
            memset(&y[b], 0, sizeof y[b]);
            continue;
        }
        /* The reference keeps the first element of largest magnitude, with its sign. */
        int j = 0;
        while (j < QK_K - 1 && !(__builtin_fabsf(x[j]) == amax)) j++;
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
    for (int64_t t = 0; t < n; t++) quantize_q8_K_avx2(x + t * ldx, (block_q8_K *)((uint8_t *)act + (size_t)t * arb), k);
}

/* ---- Unpacked super-block ---------------------------------------------------------------- */

enum { KQ_Q2_K, KQ_Q3_K, KQ_Q4_K, KQ_Q5_K, KQ_Q6_K, KQ_IQ4_XS };
enum { MIN_NONE, MIN_INT, MIN_FLOAT };

typedef struct kq_unpacked {
    __m256i q[8];   /* codes of elements 32c .. 32c+31 */
    __m256i sc[8];  /* int16 scale per maddubs lane of chunk c (lanes 0-7: first 16, 8-15: next 16) */
    __m256i mn;     /* int16 multiplier of bsums[s], s = 0..15 */
    float d, dmin;
} kq_unpacked;

static inline __m256i sc_pair(int lo, int hi) {
    return _mm256_set_m128i(_mm_set1_epi16((short)hi), _mm_set1_epi16((short)lo));
}

static inline void k4_scale_min(const uint8_t q[12], int j, int *sc, int *mn) {
    if (j < 4) {
        *sc = q[j] & 63;
        *mn = q[j + 4] & 63;
    } else {
        *sc = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
        *mn = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
    }
}

/* Byte mask: 0xFF where bit `bit` of the byte is set. */
static inline __m256i bit_set(__m256i v, int bit) {
    const __m256i m = _mm256_set1_epi8((char)(1 << bit));
    return _mm256_cmpeq_epi8(_mm256_and_si256(v, m), m);
}

static inline __attribute__((always_inline)) void kq_unpack(int kind, const uint8_t *row, int64_t b,
                                                            kq_unpacked *u) {
    const __m256i m4 = _mm256_set1_epi8(0x0F), m2 = _mm256_set1_epi8(3);
    switch (kind) {
    case KQ_Q4_K:
    case KQ_Q5_K: {
        const uint8_t *scales, *qs, *qh = NULL;
        slm_f16 d, dmin;
        if (kind == KQ_Q4_K) {
            const block_q4_K *x = (const block_q4_K *)row + b;
            scales = x->scales, qs = x->qs, d = x->d, dmin = x->dmin;
        } else {
            const block_q5_K *x = (const block_q5_K *)row + b;
            scales = x->scales, qs = x->qs, qh = x->qh, d = x->d, dmin = x->dmin;
        }
        int16_t mn16[16];
        for (int j = 0; j < 8; j++) {
            int sc, mn;
            k4_scale_min(scales, j, &sc, &mn);
            u->sc[j] = _mm256_set1_epi16((short)sc);
            mn16[2 * j] = mn16[2 * j + 1] = (int16_t)mn;
        }
        u->mn = _mm256_loadu_si256((const __m256i *)mn16);
        const __m256i h = qh ? _mm256_loadu_si256((const __m256i *)qh) : _mm256_setzero_si256();
        for (int j = 0; j < 4; j++) {
            const __m256i raw = _mm256_loadu_si256((const __m256i *)(qs + 32 * j));
            u->q[2 * j] = _mm256_and_si256(raw, m4);
            u->q[2 * j + 1] = _mm256_and_si256(_mm256_srli_epi16(raw, 4), m4);
            if (qh) {
                const __m256i b16 = _mm256_set1_epi8(0x10);
                u->q[2 * j] = _mm256_or_si256(u->q[2 * j], _mm256_and_si256(bit_set(h, 2 * j), b16));
                u->q[2 * j + 1] = _mm256_or_si256(u->q[2 * j + 1], _mm256_and_si256(bit_set(h, 2 * j + 1), b16));
            }
        }
        u->d = avx2_f16(d);
        u->dmin = avx2_f16(dmin);
        break;
    }
    case KQ_Q6_K: {
        const block_q6_K *x = (const block_q6_K *)row + b;
        for (int h = 0; h < 2; h++) {
            const __m256i l0 = _mm256_loadu_si256((const __m256i *)(x->ql + 64 * h));
            const __m256i l1 = _mm256_loadu_si256((const __m256i *)(x->ql + 64 * h + 32));
            const __m256i hb = _mm256_loadu_si256((const __m256i *)(x->qh + 32 * h));
            const __m256i m30 = _mm256_set1_epi8(0x30);
            u->q[4 * h + 0] = _mm256_or_si256(_mm256_and_si256(l0, m4), _mm256_and_si256(_mm256_slli_epi16(hb, 4), m30));
            u->q[4 * h + 1] = _mm256_or_si256(_mm256_and_si256(l1, m4), _mm256_and_si256(_mm256_slli_epi16(hb, 2), m30));
            u->q[4 * h + 2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4), _mm256_and_si256(hb, m30));
            u->q[4 * h + 3] =
                _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4), _mm256_and_si256(_mm256_srli_epi16(hb, 2), m30));
        }
        int16_t mn16[16];
        for (int c = 0; c < 8; c++) u->sc[c] = sc_pair(x->scales[2 * c], x->scales[2 * c + 1]);
        for (int s = 0; s < 16; s++) mn16[s] = (int16_t)(32 * x->scales[s]);
        u->mn = _mm256_loadu_si256((const __m256i *)mn16);
        u->d = avx2_f16(x->d);
        break;
    }
    case KQ_Q3_K: {
        const block_q3_K *x = (const block_q3_K *)row + b;
        int sc[16];
        int16_t mn16[16];
        for (int s = 0; s < 16; s++) {
            int lo = s < 8 ? (x->scales[s] & 0xF) : (x->scales[s - 8] >> 4);
            int hi = (x->scales[8 + s % 4] >> (2 * (s / 4))) & 3;
            sc[s] = (lo | hi << 4) - 32;
            mn16[s] = (int16_t)(4 * sc[s]);
        }
        const __m256i hm = _mm256_loadu_si256((const __m256i *)x->hmask);
        for (int h = 0; h < 2; h++) {
            const __m256i qv = _mm256_loadu_si256((const __m256i *)(x->qs + 32 * h));
            for (int j = 0; j < 4; j++) {
                const __m256i lo = _mm256_and_si256(_mm256_srli_epi16(qv, 2 * j), m2);
                const __m256i hi = _mm256_and_si256(bit_set(hm, 4 * h + j), _mm256_set1_epi8(4));
                u->q[4 * h + j] = _mm256_or_si256(lo, hi);
            }
        }
        for (int c = 0; c < 8; c++) u->sc[c] = sc_pair(sc[2 * c], sc[2 * c + 1]);
        u->mn = _mm256_loadu_si256((const __m256i *)mn16);
        u->d = avx2_f16(x->d);
        break;
    }
    case KQ_Q2_K: {
        const block_q2_K *x = (const block_q2_K *)row + b;
        for (int h = 0; h < 2; h++) {
            const __m256i qv = _mm256_loadu_si256((const __m256i *)(x->qs + 32 * h));
            for (int j = 0; j < 4; j++) u->q[4 * h + j] = _mm256_and_si256(_mm256_srli_epi16(qv, 2 * j), m2);
        }
        int16_t mn16[16];
        for (int c = 0; c < 8; c++) u->sc[c] = sc_pair(x->scales[2 * c] & 0xF, x->scales[2 * c + 1] & 0xF);
        for (int s = 0; s < 16; s++) mn16[s] = (int16_t)(x->scales[s] >> 4);
        u->mn = _mm256_loadu_si256((const __m256i *)mn16);
        u->d = avx2_f16(x->d);
        u->dmin = avx2_f16(x->dmin);
        break;
    }
    default: { /* KQ_IQ4_XS */
        const block_iq4_xs *x = (const block_iq4_xs *)row + b;
        const __m128i tab = _mm_loadu_si128((const __m128i *)kvalues_iq4nl);
        const __m256i tab2 = _mm256_set_m128i(tab, tab);
        for (int j = 0; j < 8; j++) {
            const __m128i raw = _mm_loadu_si128((const __m128i *)(x->qs + 16 * j));
            const __m256i nib = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(raw, 4), raw), m4);
            u->q[j] = _mm256_shuffle_epi8(tab2, nib);
            int ls = ((x->scales_l[j / 2] >> (4 * (j % 2))) & 0xF) | ((x->scales_h >> (2 * j)) & 3) << 4;
            u->sc[j] = _mm256_set1_epi16((short)(ls - 32));
        }
        u->d = avx2_f16(x->d);
        break;
    }
    }
}

static inline int kq_min_mode(int kind) {
    switch (kind) {
    case KQ_Q2_K:
    case KQ_Q4_K:
    case KQ_Q5_K: return MIN_FLOAT;
    case KQ_Q3_K:
    case KQ_Q6_K: return MIN_INT;
    default: return MIN_NONE;
    }
}

/* acc += (this super-block's dot of u with activation block a) in 8 float lanes. */
static inline __attribute__((always_inline)) __m256 kq_dot(int kind, const kq_unpacked *u, const block_q8_K *a,
                                                           __m256 acc) {
    __m256i isum = _mm256_setzero_si256();
#pragma GCC unroll 8
    for (int c = 0; c < 8; c++) {
        const __m256i av = _mm256_loadu_si256((const __m256i *)(a->qs + 32 * c));
        __m256i p;
        if (kind == KQ_IQ4_XS) p = _mm256_maddubs_epi16(_mm256_sign_epi8(u->q[c], u->q[c]), _mm256_sign_epi8(av, u->q[c]));
        else p = _mm256_maddubs_epi16(u->q[c], av);
        isum = _mm256_add_epi32(isum, _mm256_madd_epi16(p, u->sc[c]));
    }
    const int mode = kq_min_mode(kind);
    if (mode == MIN_INT) {
        const __m256i bs = _mm256_loadu_si256((const __m256i *)a->bsums);
        isum = _mm256_sub_epi32(isum, _mm256_madd_epi16(bs, u->mn));
    }
    acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), _mm256_set1_ps(u->d * a->d), acc);
    if (mode == MIN_FLOAT) {
        const __m256i bs = _mm256_loadu_si256((const __m256i *)a->bsums);
        const __m256 mins = _mm256_cvtepi32_ps(_mm256_madd_epi16(bs, u->mn));
        acc = _mm256_fnmadd_ps(mins, _mm256_set1_ps(u->dmin * a->d), acc);
    }
    return acc;
}

/* Tokens per inner tile: the float accumulators of R rows x KQ_TOK tokens live on the stack. */
#define KQ_TOK 16

static inline __attribute__((always_inline)) void kq_tile(int kind, int R, int64_t nb, const uint8_t *w, size_t wrb,
                                                          const uint8_t *act, size_t arb, int64_t nt, float *y,
                                                          int64_t ldy) {
    __m256 acc[4][KQ_TOK];
    kq_unpacked u[4];
    for (int r = 0; r < R; r++)
        for (int64_t t = 0; t < nt; t++) acc[r][t] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
#pragma GCC unroll 4
        for (int r = 0; r < R; r++) kq_unpack(kind, w + (size_t)r * wrb, b, &u[r]);
        for (int64_t t = 0; t < nt; t++) {
            const block_q8_K *a = (const block_q8_K *)(act + (size_t)t * arb) + b;
#pragma GCC unroll 4
            for (int r = 0; r < R; r++) acc[r][t] = kq_dot(kind, &u[r], a, acc[r][t]);
        }
    }
    for (int r = 0; r < R; r++)
        for (int64_t t = 0; t < nt; t++) y[t * ldy + r] = avx2_hsum_ps(acc[r][t]);
}

static inline __attribute__((always_inline)) void kq_gemm(int kind, int64_t k, const void *vw, size_t wrb,
                                                          int64_t nr, const void *vact, size_t arb, int64_t nt,
                                                          float *y, int64_t ldy) {
    const uint8_t *w = vw, *act = vact;
    const int64_t nb = k / QK_K;
    for (int64_t t = 0; t < nt; t += KQ_TOK) {
        const int64_t n = nt - t < KQ_TOK ? nt - t : KQ_TOK;
        int64_t r = 0;
        for (; r + 4 <= nr; r += 4)
            kq_tile(kind, 4, nb, w + (size_t)r * wrb, wrb, act + (size_t)t * arb, arb, n, y + t * ldy + r, ldy);
        for (; r < nr; r++)
            kq_tile(kind, 1, nb, w + (size_t)r * wrb, wrb, act + (size_t)t * arb, arb, n, y + t * ldy + r, ldy);
    }
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

void kernels_fill_avx2_kquants(slm_kernels *kt) {
    static const struct {
        uint32_t type;
        slm_gemm_fn gemm;
    } tab[] = {
        {SLM_DT_Q2_K, gemm_q2_K_avx2}, {SLM_DT_Q3_K, gemm_q3_K_avx2}, {SLM_DT_Q4_K, gemm_q4_K_avx2},
        {SLM_DT_Q5_K, gemm_q5_K_avx2}, {SLM_DT_Q6_K, gemm_q6_K_avx2}, {SLM_DT_IQ4_XS, gemm_iq4_xs_avx2},
    };
    for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++) {
        kt->mm[tab[i].type].gemm = tab[i].gemm;
        kt->mm[tab[i].type].quant_act = quant_act_q8_K_avx2;
    }
}
