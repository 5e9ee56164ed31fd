/* Helpers shared by the reference quantizers in src/quant (internal, not part of the API).
 *
 * Bit-identity with llama.cpp hinges on doing the same float operations in the same order; these
 * files are compiled with -ffp-contract=off (see CMakeLists.txt) so no compiler fuses a*b+c into
 * an FMA, which would change rounding on targets that have one. */
#ifndef SLM_QUANT_IMPL_H
#define SLM_QUANT_IMPL_H

#include <math.h>
#include <stdint.h>
#include <string.h>

/* Sub-blocks whose max |x| is below this are treated as all zero (ggml's GROUP_MAX_EPS). */
#define QUANT_GROUP_MAX_EPS 1e-15f

static inline int quant_min_int(int a, int b) { return a < b ? a : b; }
static inline int quant_max_int(int a, int b) { return a > b ? a : b; }

/* Round to nearest, ties to even, for |fval| <= 2^22 - 1: adding 1.5 * 2^23 pushes the value into
 * a binade whose ulp is 1, so the FPU's rounding does the work and the integer is read from the
 * mantissa. Outside that range (or for NaN/inf) the result is meaningless but well defined; ggml
 * uses the same trick and we must round exactly like it. */
static inline int quant_nearest_int(float fval) {
    float val = fval + 12582912.f;
    int32_t i;
    memcpy(&i, &val, sizeof i);
    return (i & 0x007fffff) - 0x00400000;
}

/* C's float -> integer truncation, defined for every input: values outside the int32 range and
 * NaN give INT32_MIN, which is what x86's cvttss2si (the instruction ggml's casts compile to)
 * returns. Narrowing the result to 8 bits then matches ggml's (int8_t)/(uint8_t) casts of
 * out-of-range floats on x86, without the undefined behaviour of casting such floats directly. */
static inline int32_t quant_trunc_i32(float v) {
    if (v > -2147483648.f && v < 2147483648.f) return (int32_t)v;
    return INT32_MIN;
}

/* (int8_t) of a float as x86 does it; two's-complement narrowing (GCC/Clang define it). */
static inline int8_t quant_trunc_i8(float v) { return (int8_t)(uint8_t)(uint32_t)quant_trunc_i32(v); }
static inline uint8_t quant_trunc_u8(float v) { return (uint8_t)(uint32_t)quant_trunc_i32(v); }

/* 6-bit scale and min of sub-block j (0..7) from the 12 packed bytes of Q4_K / Q5_K:
 * j < 4: low 6 bits of q[j] (scale) and q[j+4] (min); j >= 4: 4 bits from q[j+4] nibbles plus
 * the 2 spare top bits of q[j-4] (scale) and q[j] (min). */
static inline void quant_get_scale_min_k4(int j, const uint8_t *q, uint8_t *d, uint8_t *m) {
    if (j < 4) {
        *d = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *d = (uint8_t)((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
        *m = (uint8_t)((q[j + 4] >> 4) | ((q[j - 0] >> 6) << 4));
    }
}

#endif
