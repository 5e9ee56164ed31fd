/* 16-bit activations (kernels.h, "16-bit activations"): the reference quantizers, and the
 * reference gemm16 every SIMD version is tested against.
 *
 * The reference gemm16 is one generic function for all twelve quantized types: each weight block
 * is dequantized exactly (quant.h to_float, bit-exact with ggml) and multiplied with the
 * activation codes in double, one activation block at a time, so its only rounding is the
 * activation's own and a final double -> float. SIMD kernels take exact integer sums per block
 * instead and differ from it by float rounding of the per-block scale products. */
#include <math.h>
#include <string.h>

#include "kernels/kernels_internal.h"
#include "quant/quant.h"

/* One block of n (32 or 256) floats -> codes q[n], scale *d (kernels.h rule). */
static void a16_block(const float *x, int n, int qmax, int16_t *q, float *d) {
    float amax = 0.0f;
    for (int i = 0; i < n; i++) {
        const float a = fabsf(x[i]);
        if (a > amax) amax = a; /* NaN never compares greater: it does not set amax */
    }
    if (!(amax > 0.0f) || !isfinite(amax)) {
        memset(q, 0, (size_t)n * sizeof *q);
        *d = amax > 0.0f ? amax : 0.0f; /* inf stays inf, like the input */
        return;
    }
    const float id = (float)qmax / amax;
    for (int i = 0; i < n; i++) {
        const float v = x[i] * id;
        /* |v| <= qmax up to rounding of id; NaN -> 0 */
        q[i] = v == v ? (int16_t)(v >= (float)qmax ? qmax : v <= -(float)qmax ? -qmax : (int)nearbyintf(v)) : 0;
    }
    *d = amax / (float)qmax;
}

void kernels_quant_a16_32_ref(const float *x, int64_t ldx, int64_t n_rows, int64_t k, void *act, size_t arb) {
    for (int64_t t = 0; t < n_rows; t++) {
        block_a16_32 *b = (block_a16_32 *)((uint8_t *)act + (size_t)t * arb);
        for (int64_t i = 0; i < k / 32; i++) {
            a16_block(x + t * ldx + i * 32, 32, SLM_A16_QMAX_32, b[i].qs, &b[i].d);
            int32_t s = 0;
            for (int j = 0; j < 32; j++) s += b[i].qs[j];
            b[i].sum = s;
        }
    }
}

void kernels_quant_a16_256_ref(const float *x, int64_t ldx, int64_t n_rows, int64_t k, void *act, size_t arb) {
    for (int64_t t = 0; t < n_rows; t++) {
        block_a16_256 *b = (block_a16_256 *)((uint8_t *)act + (size_t)t * arb);
        for (int64_t i = 0; i < k / 256; i++) {
            a16_block(x + t * ldx + i * 256, 256, SLM_A16_QMAX_256, b[i].qs, &b[i].d);
            for (int j = 0; j < 16; j++) {
                int32_t s = 0;
                for (int e = 0; e < 16; e++) s += b[i].qs[16 * j + e];
                b[i].bsums[j] = s;
            }
            memset(b[i].pad_, 0, sizeof b[i].pad_);
        }
    }
}

/* Weight rows of any quantized type against a16 rows of block ab (32 or 256): the weights are
 * dequantized 256 elements at a time (a multiple of every block size) into a stack chunk. */
static void gemm16_ref(uint32_t type, int ab, int64_t k, const void *vw, size_t wrb, int64_t nr, const void *vact,
                       size_t arb, int64_t nt, float *y, int64_t ldy) {
    const slm_to_float_fn to_float = slm_quant_to_float(type);
    const slm_dtype_info *wi = slm_dtype_get(type);
    const size_t ab_bytes = ab == 32 ? sizeof(block_a16_32) : sizeof(block_a16_256);
    enum { CHUNK = 256 };
    float wf[CHUNK];
    for (int64_t r = 0; r < nr; r++) {
        const uint8_t *row = (const uint8_t *)vw + (size_t)r * wrb;
        for (int64_t t = 0; t < nt; t++) {
            const uint8_t *arow = (const uint8_t *)vact + (size_t)t * arb;
            double sum = 0.0;
            for (int64_t c0 = 0; c0 < k; c0 += CHUNK) {
                const int64_t n = k - c0 < CHUNK ? k - c0 : CHUNK;
                to_float(row + (size_t)(c0 / wi->blck_size) * wi->type_size, wf, n);
                for (int64_t b0 = 0; b0 < n; b0 += ab) {
                    const uint8_t *blk = arow + (size_t)((c0 + b0) / ab) * ab_bytes;
                    const int16_t *q = ab == 32 ? ((const block_a16_32 *)blk)->qs : ((const block_a16_256 *)blk)->qs;
                    const float d = ab == 32 ? ((const block_a16_32 *)blk)->d : ((const block_a16_256 *)blk)->d;
                    double s = 0.0;
                    for (int i = 0; i < ab; i++) s += (double)wf[b0 + i] * q[i];
                    sum += s * d;
                }
            }
            y[t * ldy + r] = (float)sum;
        }
    }
}

#define GEMM16_REF(name, type, ab)                                                                                     \
    static void gemm16_##name(int64_t k, const void *w, size_t wrb, int64_t nr, const void *act, size_t arb,          \
                              int64_t nt, float *y, int64_t ldy) {                                                     \
        gemm16_ref(type, ab, k, w, wrb, nr, act, arb, nt, y, ldy);                                                     \
    }
GEMM16_REF(q4_0, SLM_DT_Q4_0, 32)
GEMM16_REF(q4_1, SLM_DT_Q4_1, 32)
GEMM16_REF(q5_0, SLM_DT_Q5_0, 32)
GEMM16_REF(q5_1, SLM_DT_Q5_1, 32)
GEMM16_REF(q8_0, SLM_DT_Q8_0, 32)
GEMM16_REF(iq4_nl, SLM_DT_IQ4_NL, 32)
GEMM16_REF(q2_K, SLM_DT_Q2_K, 256)
GEMM16_REF(q3_K, SLM_DT_Q3_K, 256)
GEMM16_REF(q4_K, SLM_DT_Q4_K, 256)
GEMM16_REF(q5_K, SLM_DT_Q5_K, 256)
GEMM16_REF(q6_K, SLM_DT_Q6_K, 256)
GEMM16_REF(iq4_xs, SLM_DT_IQ4_XS, 256)
#undef GEMM16_REF

void kernels_fill_a16_scalar(slm_kernels *kt) {
    static const struct {
        uint32_t type;
        int a16;
        slm_gemm_fn gemm16;
    } tab[] = {
        {SLM_DT_Q4_0, 32, gemm16_q4_0},   {SLM_DT_Q4_1, 32, gemm16_q4_1},     {SLM_DT_Q5_0, 32, gemm16_q5_0},
        {SLM_DT_Q5_1, 32, gemm16_q5_1},   {SLM_DT_Q8_0, 32, gemm16_q8_0},     {SLM_DT_IQ4_NL, 32, gemm16_iq4_nl},
        {SLM_DT_Q2_K, 256, gemm16_q2_K},  {SLM_DT_Q3_K, 256, gemm16_q3_K},    {SLM_DT_Q4_K, 256, gemm16_q4_K},
        {SLM_DT_Q5_K, 256, gemm16_q5_K},  {SLM_DT_Q6_K, 256, gemm16_q6_K},    {SLM_DT_IQ4_XS, 256, gemm16_iq4_xs},
    };
    for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++) {
        kt->mm[tab[i].type].a16 = tab[i].a16;
        kt->mm[tab[i].type].gemm16 = tab[i].gemm16;
    }
    kt->quant_a16_32 = kernels_quant_a16_32_ref;
    kt->quant_a16_256 = kernels_quant_a16_256_ref;
}
