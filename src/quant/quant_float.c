/* Float element types as rows: F16 and BF16 <-> F32. Conversions are base/fp16.h's exact ones
 * (round to nearest even, NaN kept NaN), which agree bit for bit with ggml's. */
#include "quant/quant.h"

void dequantize_row_f16(const slm_f16 *x, float *y, int64_t k) {
    for (int64_t i = 0; i < k; i++)
        y[i] = slm_f16_to_f32(x[i]);
}

void dequantize_row_bf16(const slm_bf16 *x, float *y, int64_t k) {
    for (int64_t i = 0; i < k; i++)
        y[i] = slm_bf16_to_f32(x[i]);
}

void quantize_row_f16_ref(const float *x, slm_f16 *y, int64_t k) {
    for (int64_t i = 0; i < k; i++)
        y[i] = slm_f32_to_f16(x[i]);
}

void quantize_row_bf16_ref(const float *x, slm_bf16 *y, int64_t k) {
    for (int64_t i = 0; i < k; i++)
        y[i] = slm_f32_to_bf16(x[i]);
}
