/* Attention kernels, AVX2 + FMA + F16C (kernels.h: attn_scores_f16, attn_accum_f16,
 * exp_shift_sum, and the Q8_0-KV attn_scores_q8 / attn_accum_q8), and the FFN's glu. A chunk of KV rows is processed
 * for up to 4 query heads at a time, so each row piece is converted (f16) or dequantized (Q8_0) once
 * per 4 heads and nothing goes through a function call per row; one template serves both formats. */
#include <immintrin.h>
#include <math.h>

#include "kernels/kernels_avx2_common.h"
#include "kernels/kernels_internal.h"

/* KV row formats: f16 rows, or Q8_0 rows (hd a multiple of 32) dequantized in registers. */
typedef enum { KV_F16, KV_Q8 } kv_kind;

/* Elements d .. d+7 of a KV row as floats (d a multiple of 8, d + 8 <= hd). */
static inline __attribute__((always_inline)) __m256 kv_piece(kv_kind kind, const void *row, int64_t d) {
    if (kind == KV_F16) return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const slm_f16 *)row + d)));
    const block_q8_0 *b = (const block_q8_0 *)row + d / 32;
    const __m256 v = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(b->qs + d % 32))));
    return _mm256_mul_ps(v, _mm256_set1_ps(avx2_f16(b->d)));
}

/* Element d of an f16 row (the tail past the last multiple of 8; Q8_0 rows have none). */
static inline float kv_elem_f16(const void *row, int64_t d) { return slm_f16_to_f32(((const slm_f16 *)row)[d]); }

/* s[j * ld_s + i] = q_j . k_i for NH heads (NH, kind: compile-time constants after inlining). */
static inline __attribute__((always_inline)) void scores_block(kv_kind kind, const float *q, int64_t hd,
                                                                const void *const *k, int n, float *s, int64_t ld_s,
                                                                const int NH) {
    const int64_t hd8 = hd & ~(int64_t)7;
    for (int i = 0; i < n; i++) {
        __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
        for (int64_t d = 0; d < hd8; d += 8) {
            const __m256 kv = kv_piece(kind, k[i], d);
#pragma GCC unroll 4
            for (int j = 0; j < NH; j++) acc[j] = _mm256_fmadd_ps(kv, _mm256_loadu_ps(q + j * hd + d), acc[j]);
        }
        /* four horizontal sums at once: lane j of r = sum of acc[j] */
        const __m256 h = _mm256_hadd_ps(_mm256_hadd_ps(acc[0], acc[1]), _mm256_hadd_ps(acc[2], acc[3]));
        float r[4];
        _mm_storeu_ps(r, _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1)));
        for (int j = 0; j < NH; j++) {
            float t = r[j];
            for (int64_t d = hd8; d < hd; d++) t += q[j * hd + d] * kv_elem_f16(k[i], d);
            s[j * ld_s + i] = t;
        }
    }
}

/* acc[j * hd + d] += sum_i p[j * ld_p + i] * v_i[d] for NH heads. */
static inline __attribute__((always_inline)) void accum_block(kv_kind kind, float *acc, int64_t hd,
                                                               const void *const *v, int n, const float *p,
                                                               int64_t ld_p, const int NH) {
    const int64_t hd8 = hd & ~(int64_t)7;
    for (int64_t d = 0; d < hd8; d += 8) {
        __m256 a[4];
#pragma GCC unroll 4
        for (int j = 0; j < NH; j++) a[j] = _mm256_loadu_ps(acc + j * hd + d);
        for (int i = 0; i < n; i++) {
            const __m256 vv = kv_piece(kind, v[i], d);
#pragma GCC unroll 4
            for (int j = 0; j < NH; j++) a[j] = _mm256_fmadd_ps(_mm256_set1_ps(p[j * ld_p + i]), vv, a[j]);
        }
#pragma GCC unroll 4
        for (int j = 0; j < NH; j++) _mm256_storeu_ps(acc + j * hd + d, a[j]);
    }
    for (int64_t d = hd8; d < hd; d++)
        for (int j = 0; j < NH; j++)
            for (int i = 0; i < n; i++) acc[j * hd + d] += p[j * ld_p + i] * kv_elem_f16(v[i], d);
}

/* Heads in groups of 4, then the remaining 1-3. */
static inline __attribute__((always_inline)) void scores_heads(kv_kind kind, const float *q, int64_t n_heads,
                                                                int64_t hd, const void *const *k, int n, float *s,
                                                                int64_t ld_s) {
    int64_t h = 0;
    for (; h + 4 <= n_heads; h += 4) scores_block(kind, q + h * hd, hd, k, n, s + h * ld_s, ld_s, 4);
    switch (n_heads - h) {
    case 3: scores_block(kind, q + h * hd, hd, k, n, s + h * ld_s, ld_s, 3); break;
    case 2: scores_block(kind, q + h * hd, hd, k, n, s + h * ld_s, ld_s, 2); break;
    case 1: scores_block(kind, q + h * hd, hd, k, n, s + h * ld_s, ld_s, 1); break;
    default: break;
    }
}

static inline __attribute__((always_inline)) void accum_heads(kv_kind kind, float *acc, int64_t n_heads, int64_t hd,
                                                               const void *const *v, int n, const float *p,
                                                               int64_t ld_p) {
    int64_t h = 0;
    for (; h + 4 <= n_heads; h += 4) accum_block(kind, acc + h * hd, hd, v, n, p + h * ld_p, ld_p, 4);
    switch (n_heads - h) {
    case 3: accum_block(kind, acc + h * hd, hd, v, n, p + h * ld_p, ld_p, 3); break;
    case 2: accum_block(kind, acc + h * hd, hd, v, n, p + h * ld_p, ld_p, 2); break;
    case 1: accum_block(kind, acc + h * hd, hd, v, n, p + h * ld_p, ld_p, 1); break;
    default: break;
    }
}

static void attn_scores_f16_avx2(const float *q, int64_t n_heads, int64_t hd, const slm_f16 *const *k, int n,
                                 float *s, int64_t ld_s) {
    scores_heads(KV_F16, q, n_heads, hd, (const void *const *)k, n, s, ld_s);
}

static void attn_accum_f16_avx2(float *acc, int64_t n_heads, int64_t hd, const slm_f16 *const *v, int n,
                                const float *p, int64_t ld_p) {
    accum_heads(KV_F16, acc, n_heads, hd, (const void *const *)v, n, p, ld_p);
}

static void attn_scores_q8_avx2(const float *q, int64_t n_heads, int64_t hd, const block_q8_0 *const *k, int n,
                                float *s, int64_t ld_s) {
    scores_heads(KV_Q8, q, n_heads, hd, (const void *const *)k, n, s, ld_s);
}

static void attn_accum_q8_avx2(float *acc, int64_t n_heads, int64_t hd, const block_q8_0 *const *v, int n,
                               const float *p, int64_t ld_p) {
    accum_heads(KV_Q8, acc, n_heads, hd, (const void *const *)v, n, p, ld_p);
}

static float exp_shift_sum_avx2(float *x, int64_t n, float m) {
    const __m256 vm = _mm256_set1_ps(m);
    __m256 s = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 e = avx2_exp_ps(_mm256_sub_ps(_mm256_loadu_ps(x + i), vm));
        _mm256_storeu_ps(x + i, e);
        s = _mm256_add_ps(s, e);
    }
    float sum = avx2_hsum_ps(s);
    for (; i < n; i++) {
        x[i] = expf(x[i] - m);
        sum += x[i];
    }
    return sum;
}

/* g = act(g) * u (kernels.h: glu); the tail takes the scalar formulas. */
static void glu_avx2(float *g, const float *u, int64_t n, bool gelu_tanh) {
    const __m256 one = _mm256_set1_ps(1.0f);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 x = _mm256_loadu_ps(g + i);
        __m256 t = x; /* act(x) = x / (1 + exp(-t)) */
        if (gelu_tanh) {
            const __m256 x3 = _mm256_mul_ps(_mm256_mul_ps(x, x), x);
            t = _mm256_mul_ps(_mm256_set1_ps(2.0f * KERNELS_GELU_K), _mm256_fmadd_ps(_mm256_set1_ps(0.044715f), x3, x));
        }
        const __m256 e = avx2_exp_ps(_mm256_sub_ps(_mm256_setzero_ps(), t));
        _mm256_storeu_ps(g + i, _mm256_mul_ps(_mm256_div_ps(x, _mm256_add_ps(one, e)), _mm256_loadu_ps(u + i)));
    }
    for (; i < n; i++) g[i] = (gelu_tanh ? kernels_gelu_tanh(g[i]) : kernels_silu(g[i])) * u[i];
}

void kernels_fill_attn_avx2(slm_kernels *kt) {
    kt->glu = glu_avx2;
    kt->attn_scores_f16 = attn_scores_f16_avx2;
    kt->attn_accum_f16 = attn_accum_f16_avx2;
    kt->exp_shift_sum = exp_shift_sum_avx2;
    kt->attn_scores_q8 = attn_scores_q8_avx2;
    kt->attn_accum_q8 = attn_accum_q8_avx2;
}
