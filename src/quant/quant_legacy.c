/* Legacy 32-element block formats: Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q8_1.
 *
 * Quantizers mirror llama.cpp's quantize_row_*_ref (which is also what llama-quantize runs when no
 * importance matrix is given): one scale per block from the extreme value, then rounding by
 * `trunc(x/d + offset + 0.5)`. The odd-looking details (the scale's sign following the element of
 * largest magnitude, 1/d taken from the unrounded float scale while d is stored as fp16, MIN(15, ..)
 * clamps) are kept deliberately: they decide the exact bytes. */
#include <float.h>

#include "quant/quant.h"
#include "quant/quant_impl.h"

/* ---- Q4_0 ---------------------------------------------------------------------------------- */

void quantize_row_q4_0_ref(const float *x, block_q4_0 *y, int64_t k) {
    const int64_t nb = k / QK4_0;
    for (int64_t i = 0; i < nb; i++, x += QK4_0) {
        /* Signed value of largest magnitude: mapping it to -8 uses the full asymmetric range
         * -8..7 on the side where the outlier is. */
        float amax = 0.0f, max = 0.0f;
        for (int j = 0; j < QK4_0; j++) {
            if (amax < fabsf(x[j])) {
                amax = fabsf(x[j]);
                max = x[j];
            }
        }
        const float d = max / -8;
        const float id = d ? 1.0f / d : 0.0f;
        y[i].d = slm_f32_to_f16(d);
        for (int j = 0; j < QK4_0 / 2; j++) {
            const int q0 = quant_min_int(15, quant_trunc_i8(x[j] * id + 8.5f));
            const int q1 = quant_min_int(15, quant_trunc_i8(x[j + QK4_0 / 2] * id + 8.5f));
            y[i].qs[j] = (uint8_t)((unsigned)q0 | ((unsigned)q1 << 4));
        }
    }
}

void dequantize_row_q4_0(const block_q4_0 *x, float *y, int64_t k) {
    const int64_t nb = k / QK4_0;
    for (int64_t i = 0; i < nb; i++, y += QK4_0) {
        const float d = slm_f16_to_f32(x[i].d);
        for (int j = 0; j < QK4_0 / 2; j++) {
            y[j] = ((x[i].qs[j] & 0x0F) - 8) * d;
            y[j + QK4_0 / 2] = ((x[i].qs[j] >> 4) - 8) * d;
        }
    }
}

/* ---- Q4_1 ---------------------------------------------------------------------------------- */

void quantize_row_q4_1_ref(const float *x, block_q4_1 *y, int64_t k) {
    const int64_t nb = k / QK4_1;
    for (int64_t i = 0; i < nb; i++, x += QK4_1) {
        float min = FLT_MAX, max = -FLT_MAX;
        for (int j = 0; j < QK4_1; j++) {
            if (x[j] < min) min = x[j];
            if (x[j] > max) max = x[j];
        }
        const float d = (max - min) / ((1 << 4) - 1);
        const float id = d ? 1.0f / d : 0.0f;
        y[i].d = slm_f32_to_f16(d);
        y[i].m = slm_f32_to_f16(min);
        for (int j = 0; j < QK4_1 / 2; j++) {
            const int q0 = quant_min_int(15, quant_trunc_i8((x[j] - min) * id + 0.5f));
            const int q1 = quant_min_int(15, quant_trunc_i8((x[j + QK4_1 / 2] - min) * id + 0.5f));
            y[i].qs[j] = (uint8_t)((unsigned)q0 | ((unsigned)q1 << 4));
        }
    }
}

void dequantize_row_q4_1(const block_q4_1 *x, float *y, int64_t k) {
    const int64_t nb = k / QK4_1;
    for (int64_t i = 0; i < nb; i++, y += QK4_1) {
        const float d = slm_f16_to_f32(x[i].d);
        const float m = slm_f16_to_f32(x[i].m);
        for (int j = 0; j < QK4_1 / 2; j++) {
            y[j] = (x[i].qs[j] & 0x0F) * d + m;
            y[j + QK4_1 / 2] = (x[i].qs[j] >> 4) * d + m;
        }
    }
}

/* ---- Q5_0 / Q5_1: 4 low bits in qs nibbles, bit 4 of element j in bit j of qh ------------- */

static void pack_q5(const uint8_t q[32], uint8_t qs[16], uint8_t qh_out[4]) {
    uint32_t qh = 0;
    for (int j = 0; j < 16; j++) {
        qs[j] = (uint8_t)((q[j] & 0x0F) | ((q[j + 16] & 0x0F) << 4));
        qh |= (uint32_t)((q[j] & 0x10u) >> 4) << j;
        qh |= (uint32_t)((q[j + 16] & 0x10u) >> 4) << (j + 16);
    }
    for (int b = 0; b < 4; b++)
        qh_out[b] = (uint8_t)(qh >> (8 * b)); /* little-endian u32 */
}

static uint32_t load_qh(const uint8_t qh[4]) {
    return (uint32_t)qh[0] | (uint32_t)qh[1] << 8 | (uint32_t)qh[2] << 16 | (uint32_t)qh[3] << 24;
}

void quantize_row_q5_0_ref(const float *x, block_q5_0 *y, int64_t k) {
    const int64_t nb = k / QK5_0;
    for (int64_t i = 0; i < nb; i++, x += QK5_0) {
        float amax = 0.0f, max = 0.0f;
        for (int j = 0; j < QK5_0; j++) {
            if (amax < fabsf(x[j])) {
                amax = fabsf(x[j]);
                max = x[j];
            }
        }
        const float d = max / -16;
        const float id = d ? 1.0f / d : 0.0f;
        y[i].d = slm_f32_to_f16(d);
        uint8_t q[QK5_0];
        for (int j = 0; j < QK5_0; j++)
            q[j] = (uint8_t)quant_min_int(31, quant_trunc_i8(x[j] * id + 16.5f));
        pack_q5(q, y[i].qs, y[i].qh);
    }
}

void dequantize_row_q5_0(const block_q5_0 *x, float *y, int64_t k) {
    const int64_t nb = k / QK5_0;
    for (int64_t i = 0; i < nb; i++, y += QK5_0) {
        const float d = slm_f16_to_f32(x[i].d);
        const uint32_t qh = load_qh(x[i].qh);
        for (int j = 0; j < QK5_0 / 2; j++) {
            const int q0 = (x[i].qs[j] & 0x0F) | (int)(((qh >> j) << 4) & 0x10);
            const int q1 = (x[i].qs[j] >> 4) | (int)((qh >> (j + 12)) & 0x10);
            y[j] = (q0 - 16) * d;
            y[j + QK5_0 / 2] = (q1 - 16) * d;
        }
    }
}

void quantize_row_q5_1_ref(const float *x, block_q5_1 *y, int64_t k) {
    const int64_t nb = k / QK5_1;
    for (int64_t i = 0; i < nb; i++, x += QK5_1) {
        float min = FLT_MAX, max = -FLT_MAX;
        for (int j = 0; j < QK5_1; j++) {
            if (x[j] < min) min = x[j];
            if (x[j] > max) max = x[j];
        }
        const float d = (max - min) / ((1 << 5) - 1);
        const float id = d ? 1.0f / d : 0.0f;
        y[i].d = slm_f32_to_f16(d);
        y[i].m = slm_f32_to_f16(min);
        uint8_t q[QK5_1];
        for (int j = 0; j < QK5_1; j++)
            q[j] = quant_trunc_u8((x[j] - min) * id + 0.5f); /* no clamp, as ggml */
        pack_q5(q, y[i].qs, y[i].qh);
    }
}

void dequantize_row_q5_1(const block_q5_1 *x, float *y, int64_t k) {
    const int64_t nb = k / QK5_1;
    for (int64_t i = 0; i < nb; i++, y += QK5_1) {
        const float d = slm_f16_to_f32(x[i].d);
        const float m = slm_f16_to_f32(x[i].m);
        const uint32_t qh = load_qh(x[i].qh);
        for (int j = 0; j < QK5_1 / 2; j++) {
            const int q0 = (x[i].qs[j] & 0x0F) | (int)(((qh >> j) << 4) & 0x10);
            const int q1 = (x[i].qs[j] >> 4) | (int)((qh >> (j + 12)) & 0x10);
            y[j] = q0 * d + m;
            y[j + QK5_1 / 2] = q1 * d + m;
        }
    }
}

/* ---- Q8_0 / Q8_1: symmetric, d = max|x| / 127, round half away from zero ------------------ */

/* max(amax, |v|) written as ggml's MAX macro so that a NaN input propagates the same way. */
static float amax_step(float amax, float v) { return amax > fabsf(v) ? amax : fabsf(v); }

void quantize_row_q8_0_ref(const float *x, block_q8_0 *y, int64_t k) {
    const int64_t nb = k / QK8_0;
    for (int64_t i = 0; i < nb; i++, x += QK8_0) {
        float amax = 0.0f;
        for (int j = 0; j < QK8_0; j++)
            amax = amax_step(amax, x[j]);
        const float d = amax / ((1 << 7) - 1);
        const float id = d ? 1.0f / d : 0.0f;
        y[i].d = slm_f32_to_f16(d);
        for (int j = 0; j < QK8_0; j++)
            y[i].qs[j] = quant_trunc_i8(roundf(x[j] * id));
    }
}

void dequantize_row_q8_0(const block_q8_0 *x, float *y, int64_t k) {
    const int64_t nb = k / QK8_0;
    for (int64_t i = 0; i < nb; i++, y += QK8_0) {
        const float d = slm_f16_to_f32(x[i].d);
        for (int j = 0; j < QK8_0; j++)
            y[j] = x[i].qs[j] * d;
    }
}

void quantize_row_q8_1_ref(const float *x, block_q8_1 *y, int64_t k) {
    const int64_t nb = k / QK8_1;
    for (int64_t i = 0; i < nb; i++, x += QK8_1) {
        float amax = 0.0f;
        for (int j = 0; j < QK8_1; j++)
            amax = amax_step(amax, x[j]);
        const float d = amax / ((1 << 7) - 1);
        const float id = d ? 1.0f / d : 0.0f;
        y[i].d = slm_f32_to_f16(d);
        int sum = 0;
        for (int j = 0; j < QK8_1; j++) {
            y[i].qs[j] = quant_trunc_i8(roundf(x[j] * id));
            sum += y[i].qs[j];
        }
        y[i].s = slm_f32_to_f16((float)sum * d);
    }
}

/* ggml has no to_float for Q8_1 (it is never stored); this is the same formula as Q8_0. */
void dequantize_row_q8_1(const block_q8_1 *x, float *y, int64_t k) {
    const int64_t nb = k / QK8_1;
    for (int64_t i = 0; i < nb; i++, y += QK8_1) {
        const float d = slm_f16_to_f32(x[i].d);
        for (int j = 0; j < QK8_1; j++)
            y[j] = x[i].qs[j] * d;
    }
}
