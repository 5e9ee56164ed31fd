/* Deterministic inputs for the ggml golden test (tests/test_quant_golden.c) and for the tool that
 * made its reference hashes with ggml itself (tools/quant/quant_golden_ggml.c). Both must produce the
 * same floats on every platform, so the generator uses only integer arithmetic and exact float
 * operations (scaling by powers of two, sums of a few 24-bit values): no libm, no rounding that
 * could differ between compilers. */
#ifndef SLM_TESTS_QUANT_GOLDEN_H
#define SLM_TESTS_QUANT_GOLDEN_H

#include <stdint.h>
#include <string.h>

#define GOLDEN_N (16 * 256) /* elements per data set: 16 super-blocks, 128 blocks of 32 */
#define GOLDEN_N_DIST 16

static const char *const golden_dist_names[GOLDEN_N_DIST] = {
    "bell",   "uniform",  "outliers", "zero-blocks", "const-blocks", "tiny",  "huge",      "eps-blocks",
    "sparse", "integers", "positive", "negative",    "one-per-16",   "spike", "fp16-bits", "mixed-scale"};

static inline uint64_t golden_next(uint64_t *s) { /* splitmix64 */
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Uniform in [-1, 1): a signed 22-bit integer times 2^-21, exact in float. */
static inline float golden_uniform(uint64_t *s) {
    return (float)((int32_t)(golden_next(s) >> 42) - (1 << 21)) * 0x1.0p-21f;
}

/* Bell-shaped: sum of four uniforms (Irwin-Hall, sigma ~1.15); exact since every partial sum is a
 * multiple of 2^-21 below 4 in magnitude, which fits the 24-bit float mantissa. */
static inline float golden_bell(uint64_t *s) {
    float v = golden_uniform(s);
    for (int k = 0; k < 3; k++)
        v += golden_uniform(s);
    return v;
}

/* fp16 bits -> float for finite patterns, exact, without depending on base/fp16.h. */
static inline float golden_f16_bits(uint16_t h) {
    const int e = (h >> 10) & 31, m = h & 1023;
    float v = e == 0 ? (float)m * 0x1.0p-24f : (float)(1024 + m) * 0x1.0p-25f * (float)(1u << e);
    return (h & 0x8000) ? -v : v;
}

static inline void golden_fill(int dist, float *x) {
    uint64_t s = 0x5eed0000ull + (uint64_t)dist;
    for (int i = 0; i < GOLDEN_N; i++) {
        const int blk = i / 32;
        float v = 0;
        switch (dist) {
        case 0:
            v = golden_bell(&s);
            break;
        case 1:
            v = golden_uniform(&s);
            break;
        case 2: /* separate statements: the order of two calls in one expression is unspecified */
            v = golden_bell(&s);
            if ((golden_next(&s) & 63) == 0) v *= 16.f;
            break;
        case 3:
            v = blk % 3 == 1 ? 0.f : golden_bell(&s);
            break;
        case 4:
            v = blk % 2 ? 0.75f : -1.5f;
            break;
        case 5:
            v = golden_bell(&s) * 0x1.0p-20f;
            break;
        case 6:
            v = golden_bell(&s) * 0x1.0p13f;
            break;
        case 7:
            v = blk % 4 == 0 ? golden_bell(&s) * 0x1.0p-52f : golden_bell(&s);
            break; /* below 1e-15 */
        case 8:
            v = (golden_next(&s) & 15) == 0 ? golden_bell(&s) : 0.f;
            break;
        case 9:
            v = (float)((int)(golden_next(&s) % 9) - 4);
            break;
        case 10:
            v = golden_uniform(&s) * 0.5f + 0.5f;
            break;
        case 11:
            v = golden_uniform(&s) * 0.5f - 0.5f;
            break;
        case 12:
            v = i % 16 == 0 ? golden_bell(&s) : 0.f;
            break;
        case 13:
            v = i % 256 == 5 ? 1.f : 0.f;
            break;
        case 14: {
            uint16_t h = (uint16_t)(golden_next(&s) >> 48);
            if (((h >> 10) & 31) == 31) h &= 0xbfff; /* no inf/NaN */
            v = golden_f16_bits(h);
            break;
        }
        default:
            v = golden_bell(&s);
            v *= (float)(1u << (golden_next(&s) % 16)) * 0x1.0p-8f;
            break;
        }
        x[i] = v;
    }
    if (dist == 3) memset(x + 512, 0, 256 * sizeof(float)); /* one whole zero super-block */
}

/* Random block bytes for the dequantization hashes; any bit pattern is valid input. */
static inline void golden_bytes(int rep, uint8_t *b, size_t n) {
    uint64_t s = 0xb17e5ull + (uint64_t)rep;
    for (size_t i = 0; i < n; i++)
        b[i] = (uint8_t)(golden_next(&s) >> 56);
}

#endif
