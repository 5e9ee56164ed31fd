/* Small AVX2 helpers shared by the *_avx2.c kernel files (include only from those: they are the
 * files compiled with -mavx2 -mfma -mf16c). */
#ifndef SLM_KERNELS_AVX2_COMMON_H
#define SLM_KERNELS_AVX2_COMMON_H

#include <immintrin.h>
#include <stdint.h>

#include "base/fp16.h"

/* Generation kernels read each weight byte once, from memory. On Zen 3 the hardware prefetcher
 * alone leaves them at 70-80% of the read loop's bandwidth; a software prefetch this many bytes
 * ahead of the decode brings the x16 tiles 15-25% more (bench_kernels --x16 --ring 1024 --huge,
 * 1 and 2 threads, 4 alternating runs: Q4_0 9.3 -> 11.5 GB/s, IQ4_XS 7.6 -> 9.8 at 1 thread; flat
 * from 2 to 8 KiB ahead). Prefetching past the end of a matrix is harmless (no fault). */
#define AVX2_TG_PREFETCH 4096

/* Prefetch part `part` of `parts` of the gbytes at gb (one group block), AVX2_TG_PREFETCH bytes
 * ahead, one prefetch per cache line the part touches: a kernel calls it once per step of its
 * block loop, so that every line of the matrix is asked for once (twice where a part boundary
 * falls inside a line), spread over the decode. */
static inline __attribute__((always_inline)) void avx2_prefetch_part(const uint8_t *gb, int gbytes, int part, int parts) {
    const uintptr_t start = (uintptr_t)gb + (uintptr_t)(gbytes * part / parts) + AVX2_TG_PREFETCH,
                    end = (uintptr_t)gb + (uintptr_t)(gbytes * (part + 1) / parts) + AVX2_TG_PREFETCH;
    for (uintptr_t l = start & ~(uintptr_t)63; l < end; l += 64) _mm_prefetch((const char *)l, _MM_HINT_T0);
}

/* One-token tiles work on AVX2_TOK1_GROUPS 16-row groups at once, block by block (K-quants: a
 * few hundred bytes of each group per visit), the groups AVX2_TOK1_SPAN bytes or more apart: four
 * read streams instead of one. A core keeps more reads in flight over several streams (the
 * hardware prefetchers run ahead in each): on Zen 3 bench_membw reads 13-14 GB/s with one stream,
 * 16-18 with four 64-256 KiB apart. Visits of 2 KiB or more per stream lose it again (read loop,
 * 4 streams 18 KiB apart: 256-byte visits 10.5-11.3 GB/s, 2304-byte 6.7-7.3). The kernels call
 * tok1(first group, group stride, groups n) on the sets that avx2_tok1_next plans. */
#define AVX2_TOK1_GROUPS 4
#define AVX2_TOK1_SPAN ((size_t)64 << 10)

typedef struct avx2_tok1_set {
    int64_t first;  /* group index of the set's first group */
    int64_t stride; /* groups between the set's groups */
    int n;          /* groups in the set, 1 .. AVX2_TOK1_GROUPS */
} avx2_tok1_set;

/* The next set of the plan over n_groups groups of group_bytes each (cursor *s0, *i: both 0 at the
 * start); false past the last set. The
 * groups are taken in spans of AVX2_TOK1_GROUPS x q groups, q x group_bytes >= AVX2_TOK1_SPAN (the
 * last span smaller); set i of a span is its groups i, i + q, i + 2q, i + 3q. */
static inline int avx2_tok1_next(int64_t n_groups, size_t group_bytes, int64_t *s0, int64_t *i, avx2_tok1_set *set) {
    const int G = AVX2_TOK1_GROUPS;
    const int64_t Q = (int64_t)((AVX2_TOK1_SPAN + group_bytes - 1) / group_bytes);
    if (*s0 >= n_groups) return 0;
    const int64_t rem = n_groups - *s0 < G * Q ? n_groups - *s0 : G * Q, q = (rem + G - 1) / G;
    set->first = *s0 + *i;
    set->stride = q;
    set->n = (int)((rem - *i + q - 1) / q);
    if (++*i == q) {
        *i = 0;
        *s0 += rem;
    }
    return 1;
}

static inline void avx2_tok1_zero(__m256 acc[][2], int ng) {
    for (int j = 0; j < ng; j++) acc[j][0] = acc[j][1] = _mm256_setzero_ps();
}

/* Group j's 16 results at y + j x ystride. */
static inline void avx2_tok1_store(__m256 acc[][2], int ng, float *y, int64_t ystride) {
    for (int j = 0; j < ng; j++) {
        _mm256_storeu_ps(y + j * ystride, acc[j][0]);
        _mm256_storeu_ps(y + j * ystride + 8, acc[j][1]);
    }
}

static inline float avx2_f16(slm_f16 h) { return _cvtsh_ss(h); }

/* An fp16 scale broadcast to 8 float lanes (vpbroadcastw + vcvtph2ps, no scalar round trip). */
static inline __m256 avx2_f16_bcast(slm_f16 h) { return _mm256_cvtph_ps(_mm_set1_epi16((short)h)); }

static inline float avx2_hsum_ps(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static inline float avx2_hmax_ps(__m256 v) {
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* roundf() semantics (ties away from zero), exact for every float: truncate, then step one away
 * from zero when the dropped fraction is >= 0.5 (the fraction is computed exactly). */
static inline __m256 avx2_round_half_away(__m256 v) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    const __m256 t = _mm256_round_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    const __m256 frac = _mm256_andnot_ps(sign, _mm256_sub_ps(v, t));
    const __m256 step = _mm256_or_ps(_mm256_and_ps(v, sign), _mm256_set1_ps(1.0f));
    return _mm256_add_ps(t, _mm256_and_ps(_mm256_cmp_ps(frac, _mm256_set1_ps(0.5f), _CMP_GE_OQ), step));
}

/* Four vectors of 8 int32 (each in -128..127) -> 32 int8 in order. */
static inline __m256i avx2_pack_i32x32_to_i8(const __m256i q[4]) {
    const __m256i a = _mm256_packs_epi32(q[0], q[1]); /* lanes: q0lo q1lo | q0hi q1hi */
    const __m256i b = _mm256_packs_epi32(q[2], q[3]);
    const __m256i c = _mm256_packs_epi16(a, b); /* q0lo q1lo q2lo q3lo | q0hi q1hi q2hi q3hi */
    return _mm256_permutevar8x32_epi32(c, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

/* Sum of products of 32 unsigned bytes (u, each <= 128 or pairs not overflowing int16) with 32
 * signed bytes, as 8 int32 partial sums. */
static inline __m256i avx2_dot_u8_i8_i32(__m256i u, __m256i s) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
}

static inline __m256 avx2_sum_u8_i8_ps(__m256i u, __m256i s) { return _mm256_cvtepi32_ps(avx2_dot_u8_i8_i32(u, s)); }

/* Same for two signed vectors: |w| times a with w's sign moved onto a. */
static inline __m256i avx2_dot_i8_i8_i32(__m256i w, __m256i a) {
    return avx2_dot_u8_i8_i32(_mm256_sign_epi8(w, w), _mm256_sign_epi8(a, w));
}

static inline __m256 avx2_sum_i8_i8_ps(__m256i w, __m256i a) { return _mm256_cvtepi32_ps(avx2_dot_i8_i8_i32(w, a)); }

static inline __m256 avx2_sum_i8_pairs_ps(__m256i ones, __m256i a) { return avx2_sum_u8_i8_ps(ones, a); }

/* exp(x), x = n ln2 + r with |r| <= ln2 / 2, exp(r) by its degree-6 Taylor polynomial
 * (truncation < 2e-7 relative), times 2^n built in the exponent bits. x is clamped to [-87, 88]:
 * below, 2^-126-ish tiny values instead of exact denormals / zero; above, 1.7e38 instead of
 * overflow (both negligible where this is used: softmax weights next to a sum that holds a 1,
 * and 1 + exp(-x) denominators). */
static inline __m256 avx2_exp_ps(__m256 x) {
    x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.0f)), _mm256_set1_ps(88.0f));
    const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                     _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693145751953125f), x); /* ln2 high bits */
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(1.428606765330187e-06f), r);   /* ln2 low bits */
    __m256 p = _mm256_set1_ps(1.0f / 720);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 120));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 24));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 6));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

#endif
