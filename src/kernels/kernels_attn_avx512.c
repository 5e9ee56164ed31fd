/* Attention kernels, AVX-512 (kernels.h: attn_scores_f16 / attn_accum_f16 and their Q8_0 KV
 * versions) for head sizes 64, 128 and 256 (16 / 8 / 4 ... zmm registers per row); other sizes keep the AVX2 versions.
 *
 * What the AVX2 versions spend their time on at long contexts (measured ~70 cycles per KV row for
 * 4 heads of 64, against 16 for the multiplies alone): reloading the query rows for every KV row
 * and reducing each dot product with hadd chains. Here the query heads of a group stay in zmm
 * registers for the whole chunk (NH heads x hd/16 registers <= 16), each KV row is converted once,
 * and the NH partial sums of a row are reduced together (one 4-way transpose-add, ~14 ops for 4
 * heads). accum keeps NH x hd/16 accumulators in registers across the chunk and broadcasts each
 * weight once per row. */
#include <immintrin.h>

#include "kernels/kernels_internal.h"

/* The AVX2 entries this table had before (head sizes the templates below do not cover). */
static void (*g_scores_avx2)(const float *, int64_t, int64_t, const slm_f16 *const *, int, float *, int64_t);
static void (*g_accum_avx2)(float *, int64_t, int64_t, const slm_f16 *const *, int, const float *, int64_t);
static void (*g_scores_q8_avx2)(const float *, int64_t, int64_t, const block_q8_0 *const *, int, float *, int64_t);
static void (*g_accum_q8_avx2)(float *, int64_t, int64_t, const block_q8_0 *const *, int, const float *, int64_t);

enum { KV_F16, KV_Q8 };

/* Elements 16z .. 16z+15 of a KV row (f16, or Q8_0 blocks dequantized in registers) as floats. */
static inline __attribute__((always_inline)) __m512 row_piece(int kind, const void *row, int z) {
    if (kind == KV_F16) return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)((const slm_f16 *)row + z * 16)));
    const block_q8_0 *b = (const block_q8_0 *)row + z / 2;
    const __m512 v = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(b->qs + 16 * (z % 2)))));
    return _mm512_mul_ps(v, _mm512_set1_ps(_cvtsh_ss(b->d)));
}

/* Sums of a0..a3 (each 16 lanes) as 4 floats: 128-bit lanes folded pairwise, then within lanes. */
static inline __m128 sum4_ps(__m512 a0, __m512 a1, __m512 a2, __m512 a3) {
    const __m512 b0 = _mm512_add_ps(_mm512_shuffle_f32x4(a0, a1, _MM_SHUFFLE(1, 0, 1, 0)),
                                    _mm512_shuffle_f32x4(a0, a1, _MM_SHUFFLE(3, 2, 3, 2)));
    const __m512 b1 = _mm512_add_ps(_mm512_shuffle_f32x4(a2, a3, _MM_SHUFFLE(1, 0, 1, 0)),
                                    _mm512_shuffle_f32x4(a2, a3, _MM_SHUFFLE(3, 2, 3, 2)));
    /* lanes: [a0 a1 a2 a3], 4 partial sums each */
    __m512 c = _mm512_add_ps(_mm512_shuffle_f32x4(b0, b1, _MM_SHUFFLE(2, 0, 2, 0)),
                             _mm512_shuffle_f32x4(b0, b1, _MM_SHUFFLE(3, 1, 3, 1)));
    c = _mm512_add_ps(c, _mm512_permute_ps(c, _MM_SHUFFLE(2, 3, 0, 1)));
    c = _mm512_add_ps(c, _mm512_permute_ps(c, _MM_SHUFFLE(1, 0, 3, 2)));
    return _mm512_castps512_ps128(_mm512_permutexvar_ps(_mm512_setr_epi32(0, 4, 8, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0), c));
}

/* s[h * ld_s + i] = q_h . k_i for NH heads of HZ * 16 elements (compile-time after inlining). */
static inline __attribute__((always_inline)) void scores_z(int kind, const float *q, const void *const *k, int n,
                                                            float *s, int64_t ld_s, const int NH, const int HZ) {
    __m512 qv[4][16];
#pragma GCC unroll 4
    for (int h = 0; h < NH; h++)
#pragma GCC unroll 16
        for (int z = 0; z < HZ; z++) qv[h][z] = _mm512_loadu_ps(q + (h * HZ + z) * 16);
    for (int i = 0; i < n; i++) {
        const void *ki = k[i];
        __m512 acc[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
#pragma GCC unroll 16
        for (int z = 0; z < HZ; z++) {
            const __m512 kv = row_piece(kind, ki, z);
#pragma GCC unroll 4
            for (int h = 0; h < NH; h++) acc[h] = _mm512_fmadd_ps(kv, qv[h][z], acc[h]);
        }
        float r[4];
        _mm_storeu_ps(r, sum4_ps(acc[0], acc[1], acc[2], acc[3]));
#pragma GCC unroll 4
        for (int h = 0; h < NH; h++) s[h * ld_s + i] = r[h];
    }
}

/* acc[h * hd + d] += sum_i p[h * ld_p + i] * v_i[d] for NH heads of HZ * 16 elements. */
static inline __attribute__((always_inline)) void accum_z(int kind, float *acc, const void *const *v, int n,
                                                           const float *p, int64_t ld_p, const int NH, const int HZ) {
    __m512 a[4][16];
#pragma GCC unroll 4
    for (int h = 0; h < NH; h++)
#pragma GCC unroll 16
        for (int z = 0; z < HZ; z++) a[h][z] = _mm512_loadu_ps(acc + (h * HZ + z) * 16);
    for (int i = 0; i < n; i++) {
        __m512 w[4];
#pragma GCC unroll 4
        for (int h = 0; h < NH; h++) w[h] = _mm512_set1_ps(p[h * ld_p + i]);
#pragma GCC unroll 16
        for (int z = 0; z < HZ; z++) {
            const __m512 vv = row_piece(kind, v[i], z);
#pragma GCC unroll 4
            for (int h = 0; h < NH; h++) a[h][z] = _mm512_fmadd_ps(w[h], vv, a[h][z]);
        }
    }
#pragma GCC unroll 4
    for (int h = 0; h < NH; h++)
#pragma GCC unroll 16
        for (int z = 0; z < HZ; z++) _mm512_storeu_ps(acc + (h * HZ + z) * 16, a[h][z]);
}

/* Heads in groups of G = 16 / HZ (the registers a group's query rows take), the last group
 * smaller. One instance per (heads, HZ) pair so that every loop above unrolls completely. */
#define GROUPS(CALL4, CALL2, CALL1, hz, nh)                                                                            \
    do {                                                                                                               \
        int64_t h = 0;                                                                                                 \
        if (hz == 4) {                                                                                                 \
            for (; h + 4 <= nh; h += 4) CALL4(4, 4);                                                                   \
            switch (nh - h) {                                                                                          \
            case 3: CALL4(3, 4); break;                                                                                \
            case 2: CALL4(2, 4); break;                                                                                \
            case 1: CALL4(1, 4); break;                                                                                \
            default: break;                                                                                            \
            }                                                                                                          \
        } else if (hz == 8) {                                                                                          \
            for (; h + 2 <= nh; h += 2) CALL2(2, 8);                                                                   \
            if (h < nh) CALL2(1, 8);                                                                                   \
        } else {                                                                                                       \
            for (; h < nh; h++) CALL1(1, 16);                                                                          \
        }                                                                                                              \
    } while (0)

static void attn_scores_f16_avx512(const float *q, int64_t n_heads, int64_t hd, const slm_f16 *const *k, int n,
                                   float *s, int64_t ld_s) {
    if (hd != 64 && hd != 128 && hd != 256) {
        g_scores_avx2(q, n_heads, hd, k, n, s, ld_s);
        return;
    }
    const int hz = (int)(hd / 16);
#define SC(NH, HZ) scores_z(KV_F16, q + h * hd, (const void *const *)k, n, s + h * ld_s, ld_s, NH, HZ)
    GROUPS(SC, SC, SC, hz, n_heads);
#undef SC
}

static void attn_accum_f16_avx512(float *acc, int64_t n_heads, int64_t hd, const slm_f16 *const *v, int n,
                                  const float *p, int64_t ld_p) {
    if (hd != 64 && hd != 128 && hd != 256) {
        g_accum_avx2(acc, n_heads, hd, v, n, p, ld_p);
        return;
    }
    const int hz = (int)(hd / 16);
#define AC(NH, HZ) accum_z(KV_F16, acc + h * hd, (const void *const *)v, n, p + h * ld_p, ld_p, NH, HZ)
    GROUPS(AC, AC, AC, hz, n_heads);
#undef AC
}
static void attn_scores_q8_avx512(const float *q, int64_t n_heads, int64_t hd, const block_q8_0 *const *k, int n,
                                  float *s, int64_t ld_s) {
    if (hd != 64 && hd != 128 && hd != 256) {
        g_scores_q8_avx2(q, n_heads, hd, k, n, s, ld_s);
        return;
    }
    const int hz = (int)(hd / 16);
#define SC(NH, HZ) scores_z(KV_Q8, q + h * hd, (const void *const *)k, n, s + h * ld_s, ld_s, NH, HZ)
    GROUPS(SC, SC, SC, hz, n_heads);
#undef SC
}

static void attn_accum_q8_avx512(float *acc, int64_t n_heads, int64_t hd, const block_q8_0 *const *v, int n,
                                 const float *p, int64_t ld_p) {
    if (hd != 64 && hd != 128 && hd != 256) {
        g_accum_q8_avx2(acc, n_heads, hd, v, n, p, ld_p);
        return;
    }
    const int hz = (int)(hd / 16);
#define AC(NH, HZ) accum_z(KV_Q8, acc + h * hd, (const void *const *)v, n, p + h * ld_p, ld_p, NH, HZ)
    GROUPS(AC, AC, AC, hz, n_heads);
#undef AC
}
#undef GROUPS

void kernels_fill_attn_avx512(slm_kernels *kt) {
    g_scores_avx2 = kt->attn_scores_f16;
    g_accum_avx2 = kt->attn_accum_f16;
    kt->attn_scores_f16 = attn_scores_f16_avx512;
    kt->attn_accum_f16 = attn_accum_f16_avx512;
    g_scores_q8_avx2 = kt->attn_scores_q8;
    g_accum_q8_avx2 = kt->attn_accum_q8;
    kt->attn_scores_q8 = attn_scores_q8_avx512;
    kt->attn_accum_q8 = attn_accum_q8_avx512;
}
