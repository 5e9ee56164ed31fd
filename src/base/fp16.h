/* Exact scalar conversions between float32 and IEEE half / bfloat16. These are the reference
 * conversions; SIMD kernels use F16C but must agree bit for bit. */
#ifndef SLM_BASE_FP16_H
#define SLM_BASE_FP16_H

#include <stdint.h>
#include <string.h>

typedef uint16_t slm_f16;  /* IEEE 754 binary16 bits */
typedef uint16_t slm_bf16; /* bfloat16 bits (top half of a float32) */

static inline float slm_bits_to_f32(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }
static inline uint32_t slm_f32_to_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }

/* binary16 -> float32, exact for every input including subnormals, inf and NaN. */
static inline float slm_f16_to_f32(slm_f16 h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f;
    uint32_t man = h & 0x3ff;
    uint32_t u;
    if (exp == 0) {
        if (man == 0) {
            u = sign;
        } else { /* subnormal: normalize */
            int e = -1;
            do { man <<= 1; e++; } while (!(man & 0x400));
            u = sign | ((uint32_t)(127 - 15 - e) << 23) | ((man & 0x3ff) << 13);
        }
    } else if (exp == 31) { /* inf, or NaN made quiet as F16C and ggml do */
        u = sign | 0x7f800000u | (man << 13) | (man ? 0x00400000u : 0);
    } else {
        u = sign | ((exp + 112) << 23) | (man << 13);
    }
    return slm_bits_to_f32(u);
}

/* float32 -> binary16 with round-to-nearest-even (what F16C's _cvtss_sh(x, 0) does). */
static inline slm_f16 slm_f32_to_f16(float f) {
    uint32_t u = slm_f32_to_bits(f);
    uint32_t sign = (u >> 16) & 0x8000;
    uint32_t abs = u & 0x7fffffff;
    if (abs > 0x7f800000u) return (slm_f16)(sign | 0x7e00 | ((abs >> 13) & 0x3ff)); /* NaN stays NaN */
    if (abs >= 0x477ff000u) return (slm_f16)(sign | 0x7c00);                        /* overflow -> inf */
    if (abs < 0x38800000u) {                                                         /* subnormal or 0 */
        if (abs < 0x33000000u) return (slm_f16)sign;                                 /* < 2^-25 -> 0 */
        uint32_t e = abs >> 23;
        uint32_t m = (abs & 0x7fffff) | 0x800000;
        uint32_t shift = 126 - e; /* 14..24 */
        uint32_t half = m >> shift;
        uint32_t rem = m & ((1u << shift) - 1);
        uint32_t mid = 1u << (shift - 1);
        if (rem > mid || (rem == mid && (half & 1))) half++;
        return (slm_f16)(sign | half);
    }
    uint32_t h = ((abs >> 13) - (112u << 10));
    uint32_t rem = abs & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (h & 1))) h++;
    return (slm_f16)(sign | h);
}

static inline float slm_bf16_to_f32(slm_bf16 b) { return slm_bits_to_f32((uint32_t)b << 16); }

/* float32 -> bfloat16, round-to-nearest-even; NaN is kept quiet (as ggml and torch do). */
static inline slm_bf16 slm_f32_to_bf16(float f) {
    uint32_t u = slm_f32_to_bits(f);
    if ((u & 0x7fffffff) > 0x7f800000u) return (slm_bf16)((u >> 16) | 0x40);
    u += 0x7fff + ((u >> 16) & 1);
    return (slm_bf16)(u >> 16);
}

#endif
