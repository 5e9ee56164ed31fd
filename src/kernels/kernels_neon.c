/* NEON kernels for any AArch64 CPU (ARMv8.0 Advanced SIMD, built with -march=armv8-a): the
 * kernel bodies are in kernels_neon_impl.h; this file supplies the int8 dot product step. */
#include "kernels/kernels_internal.h"

#include <arm_neon.h>

/* acc += products of a and b: 8 widening multiplies per half (|a*b| <= 2^14 fits int16), then
 * pairwise add-accumulate into int32. */
static inline __attribute__((always_inline)) int32x4_t neon_dot_i8(int32x4_t acc, int8x16_t a, int8x16_t b) {
    const int16x8_t lo = vmull_s8(vget_low_s8(a), vget_low_s8(b));
    const int16x8_t hi = vmull_high_s8(a, b);
    return vpadalq_s16(vpadalq_s16(acc, lo), hi);
}

#include "kernels/kernels_neon_impl.h"

void kernels_fill_neon(slm_kernels *kt) { neon_fill_common(kt); }
