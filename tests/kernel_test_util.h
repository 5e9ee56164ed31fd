/* Helpers shared by the kernel tests (test_kernels.c, test_kernels_a16.c): a small deterministic
 * generator, aligned zeroed buffers, and the min part of min-carrying weight rows. Dependency-free
 * (src/base + src/quant only): these tests are also cross-built for AArch64 and run under qemu. */
#ifndef SLM_KERNEL_TEST_UTIL_H
#define SLM_KERNEL_TEST_UTIL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/dtype.h"
#include "quant/quant.h"

/* xorshift state; each test file seeds it (kt_seed) so its cases stay what they were. */
static uint64_t g_rng = 0x9E3779B97F4A7C15ull;
static inline void kt_seed(uint64_t s) { g_rng = s; }
static inline uint32_t rnd_u32(void) {
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return (uint32_t)(g_rng >> 16);
}
static inline float rnd_unif(void) { return (float)((rnd_u32() & 0xFFFFFF) / 16777216.0 * 2.0 - 1.0); }
/* Roughly normal with occasional outliers (activations of real models have a few large values). */
static inline float rnd_act(void) {
    float v = rnd_unif() + rnd_unif() + rnd_unif();
    if ((rnd_u32() & 63) == 0) v *= 20.0f;
    return v;
}

/* 64-byte aligned, zeroed, n rounded up to 64; aborts when out of memory. */
static inline void *xmalloc(size_t n) {
    void *p = aligned_alloc(64, (n + 63) / 64 * 64);
    if (!p) abort();
    memset(p, 0, (n + 63) / 64 * 64);
    return p;
}

static inline bool has_min(uint32_t t) {
    return t == SLM_DT_Q4_1 || t == SLM_DT_Q5_1 || t == SLM_DT_Q2_K || t == SLM_DT_Q4_K || t == SLM_DT_Q5_K;
}

/* The min part of a weight row for the min-carrying types: w = s - m where s is the scaled code
 * and m >= 0 the min term; returns m_i for each element (0 for other types). Computed as the
 * dequantization of the same row with every code zeroed, negated. */
static inline void weight_min_part(uint32_t type, const void *row, int64_t k, float *out) {
    const slm_dtype_info *di = slm_dtype_get(type);
    if (!has_min(type)) {
        memset(out, 0, (size_t)k * sizeof(float));
        return;
    }
    const size_t bytes = (size_t)(k / di->blck_size) * di->type_size;
    uint8_t *tmp = xmalloc(bytes);
    memcpy(tmp, row, bytes);
    for (int64_t b = 0; b < k / di->blck_size; b++) {
        uint8_t *blk = tmp + b * di->type_size;
        switch (type) { /* the code bytes of each block */
        case SLM_DT_Q4_1: memset(blk + 4, 0, 16); break;
        case SLM_DT_Q5_1: memset(blk + 4, 0, 20); break;
        case SLM_DT_Q2_K: memset(blk + 16, 0, 64); break;
        case SLM_DT_Q4_K: memset(blk + 16, 0, 128); break;
        case SLM_DT_Q5_K: memset(blk + 16, 0, 160); break;
        default: break;
        }
    }
    slm_quant_to_float(type)(tmp, out, k);
    for (int64_t i = 0; i < k; i++) out[i] = -out[i];
    free(tmp);
}

#endif
