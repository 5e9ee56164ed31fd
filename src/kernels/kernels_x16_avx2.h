/* Helpers shared by the AVX2 tiles over 16-row interleaved weights (kernels_x16_avx2.c,
 * kernels_x16_kq_avx2.c, kernels_x16_a8_avx2.c; layouts: kernels_x16.c), and x16_q4k_scale_bytes
 * by the AVX-512 ones (kernels_x16_avx512.h). Include only from files compiled with AVX2 + F16C
 * (*_avx2.c, *_avx512.c). */
#ifndef SLM_KERNELS_X16_AVX2_H
#define SLM_KERNELS_X16_AVX2_H

#include <immintrin.h>
#include <stdint.h>

#define X16_Q4_0_GB 288  /* group-block bytes: 16 x sizeof(block_q4_0) */
#define X16_Q5_0_GB 352  /* d, the permuted fifth bits (16 x 4 bytes), 4 nibble chunks */
#define X16_Q4_K_GB 2304 /* d, dmin (32 bytes each), 12 x 16 scale bytes, codes */
#define X16_Q6_K_GB 3360   /* d (32 bytes), 16 x 16 scale bytes, codes */
#define X16_IQ4_XS_GB 2176 /* d, scales_h (32 bytes each), 4 x 16 scales_l bytes, codes */

/* acc[h] (rows 8h .. 8h + 7) += s[h] x the rows' fp16 scales (the group-block's first field) x d. */
static inline __attribute__((always_inline)) void x16_block_end(const uint8_t *gb, const __m256i s[2], float d,
                                                                __m256 acc[2]) {
    const __m256 vd = _mm256_set1_ps(d);
#pragma GCC unroll 2
    for (int h = 0; h < 2; h++) {
        const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(gb + 16 * h)));
        acc[h] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s[h]), _mm256_mul_ps(dw, vd), acc[h]);
    }
}

/* Q6_K in bytes (kernels_x16.c, x16_q6k_bytes): the fourth code vector of a scale from the top 2
 * bits of each byte of its chunks A, B, C (bits 4-5, 2-3, 0-1 of the code), Horner-style with one
 * mask: only bits 6-7 of each byte are kept before the 16-bit shifts, so nothing crosses into the
 * neighbour byte, and every byte of the result is a 6-bit code. */
static inline __m256i x16_q6_fourth(__m256i A, __m256i B, __m256i C) {
    const __m256i top = _mm256_set1_epi8((char)0xC0);
    const __m256i cb = _mm256_or_si256(_mm256_srli_epi16(_mm256_and_si256(C, top), 2), _mm256_and_si256(B, top));
    return _mm256_srli_epi16(_mm256_or_si256(_mm256_srli_epi16(cb, 2), _mm256_and_si256(A, top)), 2);
}

/* Q4_K: the 6-bit scales and mins of 16 rows (get_scale_min_k4 on 16 rows at once), as bytes. */
static inline __attribute__((always_inline)) void x16_q4k_scale_bytes(const uint8_t *gb, __m128i sc[8], __m128i mn[8]) {
    __m128i R[12];
#pragma GCC unroll 12
    for (int j = 0; j < 12; j++) R[j] = _mm_loadu_si128((const __m128i *)(gb + 64 + 16 * j));
    const __m128i m63 = _mm_set1_epi8(63), m15 = _mm_set1_epi8(15), m48 = _mm_set1_epi8(48);
#pragma GCC unroll 8
    for (int j = 0; j < 8; j++) {
        if (j < 4) {
            sc[j] = _mm_and_si128(R[j], m63);
            mn[j] = _mm_and_si128(R[j + 4], m63);
        } else { /* high 2 bits from the top of bytes j - 4 (scale) and j (min) */
            sc[j] = _mm_or_si128(_mm_and_si128(R[j + 4], m15), _mm_and_si128(_mm_srli_epi16(R[j - 4], 2), m48));
            mn[j] = _mm_or_si128(_mm_and_si128(_mm_srli_epi16(R[j + 4], 4), m15),
                                 _mm_and_si128(_mm_srli_epi16(R[j], 2), m48));
        }
    }
}

#endif
