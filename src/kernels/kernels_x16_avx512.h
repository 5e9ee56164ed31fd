/* What the AVX-512 tiles (kernels_x16_avx512.c) and the AMX tiles (kernels_x16_amx_impl.h) share
 * about the x16 layouts (kernels_x16.c): group-block sizes and the per-row scales as float vectors
 * (16 rows, lane = row). */
#ifndef SLM_KERNELS_X16_AVX512_H
#define SLM_KERNELS_X16_AVX512_H

#include <immintrin.h>
#include <stdbool.h>
#include <stdint.h>

#include "kernels/kernels_x16_avx2.h" /* x16_q4k_scale_bytes */

#define X16 16
/* Group-block bytes (16 x the block): the header fields of 16 rows, then the code chunks. */
#define Q4_0_GB 288    /* d (32), 4 chunks of 64 */
#define Q5_0_GB 352    /* d, the permuted fifth bits (64, kernels_x16.c q5_pack_bits), 4 chunks */
#define Q8_0_GB 544    /* d, 16 chunks of 32 */
#define Q4_K_GB 2304   /* d, dmin, 192 scale bytes (256), then 4 x 8 chunks of 64 */
#define IQ4_XS_GB 2176 /* d, scales_h, scales_l (128), then 4 x 8 chunks of 64 */
#define Q6_K_GB 3360   /* d, 16 scale bytes (288), then per 16-element scale 3 chunks of 64 */

typedef enum { XK_Q4_K, XK_IQ4_XS } x16_kq;

/* Per sub-block float scales of 16 rows: sc[s] (x d), and for Q4_K mn[s] (x dmin). */
static inline __attribute__((always_inline)) void kq_scales(x16_kq kind, const uint8_t *gb, bool times_d, __m512 sc[8],
                                                            __m512 mn[8]) {
    const __m512 d = times_d ? _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)gb)) : _mm512_set1_ps(1.0f);
    if (kind == XK_Q4_K) {
        const __m512 dmin = times_d ? _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(gb + 32))) : _mm512_set1_ps(1.0f);
        __m128i a[8], b[8]; /* the 6-bit scales and mins as bytes */
        x16_q4k_scale_bytes(gb, a, b);
#pragma GCC unroll 8
        for (int j = 0; j < 8; j++) {
            sc[j] = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(a[j]));
            mn[j] = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(b[j]));
            if (times_d) {
                sc[j] = _mm512_mul_ps(sc[j], d);
                mn[j] = _mm512_mul_ps(mn[j], dmin);
            }
        }
    } else {
        const __m512i h = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(gb + 32)));
#pragma GCC unroll 8
        for (int j = 0; j < 8; j++) {
            const __m512i l = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(gb + 64 + 16 * (j / 2))));
            const __m512i ls = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi32(l, 4 * (j % 2)), _mm512_set1_epi32(15)),
                                               _mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(h, 2 * j),
                                                                                  _mm512_set1_epi32(3)), 4));
            sc[j] = _mm512_cvtepi32_ps(_mm512_sub_epi32(ls, _mm512_set1_epi32(32)));
            if (times_d) sc[j] = _mm512_mul_ps(sc[j], d);
            mn[j] = _mm512_setzero_ps();
        }
    }
}

/* Q6_K: the int8 scales of 16-element scale j of 16 rows. */
static inline __m512 q6_scale(const uint8_t *gb, int j) {
    return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(gb + 32 + 16 * j))));
}

#endif
