/* NEON kernels for ARMv8.2+ CPUs with the dot product extension (FEAT_DotProd: Cortex-A55/A75
 * and later, Apple M1+, Snapdragon 8xx), built with -march=armv8.2-a+dotprod: the kernel bodies
 * of kernels_neon_impl.h with one sdot per 16 byte pairs. */
#include "kernels/kernels_internal.h"

#include <arm_neon.h>

static inline __attribute__((always_inline)) int32x4_t neon_dot_i8(int32x4_t acc, int8x16_t a, int8x16_t b) {
    return vdotq_s32(acc, a, b);
}

#include "kernels/kernels_neon_impl.h"

void kernels_fill_neon_dot(slm_kernels *kt) { neon_fill_common(kt); }
