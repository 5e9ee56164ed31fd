/* K-quants: Q2_K, Q3_K, Q4_K, Q5_K, Q6_K (weights) and Q8_K (activations), 256-element
 * super-blocks whose 16- or 32-element sub-blocks have their own scale (and min), the scales being
 * quantized again against one fp16 super-block scale.
 *
 * The quantizers reproduce llama.cpp's no-imatrix reference path:
 *   Q2_K: per 16 elements, make_qkx2 search (weights |x|, absolute error), 4-bit scales and mins.
 *   Q3_K: per 16, make_q3 (symmetric, weights x^2, coordinate-descent refinement), 6-bit scales.
 *   Q4_K / Q5_K: per 32, make_qkx2 (weights rms + |x|, squared error), 6-bit scales and mins.
 *   Q6_K: per 16, make_qx (symmetric, weights x^2, 18 scale candidates), int8 scales.
 * After the sub-block scales are rounded to their stored precision every element is re-rounded
 * against the scale actually stored, so the codes match what dequantization will use. */
#include "quant/quant.h"
#include "quant/quant_impl.h"

/* ---- Scale searches --------------------------------------------------------------------------- */

/* Weighted least-squares fit of x ~ scale * l for the codes l that iscale produces:
 * sets *sumlx = sum w x l and *suml2 = sum w l^2 with w = x^2, codes clamped to -nmax..nmax-1. */
static void qx_fit(int n, int nmax, const float *x, float iscale, float *sumlx, float *suml2) {
    float slx = 0, sl2 = 0;
    for (int i = 0; i < n; i++) {
        int l = quant_max_int(-nmax, quant_min_int(nmax - 1, quant_nearest_int(iscale * x[i])));
        float w = x[i] * x[i];
        slx += w * x[i] * l;
        sl2 += w * l * l;
    }
    *sumlx = slx;
    *suml2 = sl2;
}

static void qx_codes(int n, int nmax, const float *x, float iscale, int8_t *L) {
    for (int i = 0; i < n; i++) {
        int l = quant_max_int(-nmax, quant_min_int(nmax - 1, quant_nearest_int(iscale * x[i])));
        L[i] = (int8_t)(l + nmax);
    }
}

/* Symmetric quantization of n values to codes L in 0..2*nmax-1 (value = scale * (L - nmax)),
 * weights x^2 (ggml's make_qx_quants, rmse_type 1, no importance weights). Starts from the scale
 * that maps the largest-magnitude element to -nmax, then tries 18 nearby scales
 * -(nmax + 0.1 is)/max and keeps the one with the best weighted fit. Returns the scale. */
static float make_qx_quants(int n, int nmax, const float *x, int8_t *L) {
    float max = 0, amax = 0;
    for (int i = 0; i < n; i++) {
        if (fabsf(x[i]) > amax) {
            amax = fabsf(x[i]);
            max = x[i];
        }
    }
    if (amax < QUANT_GROUP_MAX_EPS) {
        memset(L, 0, (size_t)n);
        return 0.f;
    }
    float iscale = -nmax / max;
    float sumlx, suml2;
    qx_fit(n, nmax, x, iscale, &sumlx, &suml2);
    qx_codes(n, nmax, x, iscale, L);
    float scale = suml2 ? sumlx / suml2 : 0.0f;
    float best = scale * sumlx; /* = (sum w x l)^2 / sum w l^2: the error reduction of this fit */
    for (int is = -9; is <= 9; is++) {
        if (is == 0) continue;
        iscale = -(nmax + 0.1f * is) / max;
        qx_fit(n, nmax, x, iscale, &sumlx, &suml2);
        if (suml2 > 0 && sumlx * sumlx > best * suml2) {
            qx_codes(n, nmax, x, iscale, L);
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    return scale;
}

/* Symmetric 3-bit-style quantization (ggml's make_q3_quants with do_rmse): codes l in
 * -nmax..nmax-1 from the max-magnitude scale, then up to 5 passes that move single codes to
 * the value optimal for the current fit (weights x^2) when that improves sumlx^2 / suml2.
 * L receives l + nmax. Returns the least-squares scale. */
static float make_q3_quants(int n, int nmax, const float *x, int8_t *L) {
    float max = 0, amax = 0;
    for (int i = 0; i < n; i++) {
        if (fabsf(x[i]) > amax) {
            amax = fabsf(x[i]);
            max = x[i];
        }
    }
    if (amax < QUANT_GROUP_MAX_EPS) {
        memset(L, 0, (size_t)n);
        return 0.f;
    }
    const float iscale = -nmax / max;
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; i++) {
        int l = quant_max_int(-nmax, quant_min_int(nmax - 1, quant_nearest_int(iscale * x[i])));
        L[i] = (int8_t)l;
        float w = x[i] * x[i];
        sumlx += w * x[i] * l;
        suml2 += w * l * l;
    }
    for (int itry = 0; itry < 5; itry++) {
        int n_changed = 0;
        for (int i = 0; i < n; i++) {
            float w = x[i] * x[i];
            float slx = sumlx - w * x[i] * L[i];
            if (slx > 0) { /* fit without element i; re-place it against that fit */
                float sl2 = suml2 - w * L[i] * L[i];
                int new_l = quant_nearest_int(x[i] * sl2 / slx);
                new_l = quant_max_int(-nmax, quant_min_int(nmax - 1, new_l));
                if (new_l != L[i]) {
                    slx += w * x[i] * new_l;
                    sl2 += w * new_l * new_l;
                    if (sl2 > 0 && slx * slx * suml2 > sumlx * sumlx * sl2) {
                        L[i] = (int8_t)new_l;
                        sumlx = slx;
                        suml2 = sl2;
                        n_changed++;
                    }
                }
            }
        }
        if (!n_changed) break;
    }
    for (int i = 0; i < n; i++)
        L[i] = (int8_t)(L[i] + nmax);
    return sumlx / suml2;
}

/* Asymmetric quantization x ~ scale * L + min, L in 0..nmax, min <= 0 (ggml's make_qkx2_quants).
 * Starts from the min/max range, then for nstep+1 candidate ranges (rmin + rdelta*is + nmax
 * steps over max-min) fits scale and min by weighted least squares and keeps the candidate with
 * the smallest weighted error (|err| if use_mad, else err^2). Returns scale; *the_min = -min. */
static float make_qkx2_quants(int n, int nmax, const float *x, const float *weights, uint8_t *L, float *the_min,
                              uint8_t *Laux, float rmin, float rdelta, int nstep, bool use_mad) {
    float min = x[0], max = x[0];
    float sum_w = weights[0];
    float sum_x = sum_w * x[0];
    for (int i = 1; i < n; i++) {
        if (x[i] < min) min = x[i];
        if (x[i] > max) max = x[i];
        sum_w += weights[i];
        sum_x += weights[i] * x[i];
    }
    if (min > 0) min = 0;
    if (max == min) {
        memset(L, 0, (size_t)n);
        *the_min = -min;
        return 0.f;
    }
    float iscale = nmax / (max - min);
    float scale = 1 / iscale;
    float best_err = 0;
    for (int i = 0; i < n; i++) {
        int l = quant_nearest_int(iscale * (x[i] - min));
        L[i] = (uint8_t)quant_max_int(0, quant_min_int(nmax, l));
        float diff = scale * L[i] + min - x[i];
        diff = use_mad ? fabsf(diff) : diff * diff;
        best_err += weights[i] * diff;
    }
    for (int is = 0; is <= nstep; is++) {
        iscale = (rmin + rdelta * is + nmax) / (max - min);
        float sum_l = 0, sum_l2 = 0, sum_xl = 0;
        for (int i = 0; i < n; i++) {
            int l = quant_max_int(0, quant_min_int(nmax, quant_nearest_int(iscale * (x[i] - min))));
            Laux[i] = (uint8_t)l;
            float w = weights[i];
            sum_l += w * l;
            sum_l2 += w * l * l;
            sum_xl += w * l * x[i];
        }
        float D = sum_w * sum_l2 - sum_l * sum_l;
        if (!(D > 0)) continue;
        float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
        float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
        if (this_min > 0) { /* a positive offset is not representable: refit through 0 */
            this_min = 0;
            this_scale = sum_xl / sum_l2;
        }
        float err = 0;
        for (int i = 0; i < n; i++) {
            float diff = this_scale * Laux[i] + this_min - x[i];
            diff = use_mad ? fabsf(diff) : diff * diff;
            err += weights[i] * diff;
        }
        if (err < best_err) {
            memcpy(L, Laux, (size_t)n);
            best_err = err;
            scale = this_scale;
            min = this_min;
        }
    }
    *the_min = -min;
    return scale;
}

/* ---- Q2_K ------------------------------------------------------------------------------------ */

/* Pack 2-bit codes: element 128h + 32k + l goes to bits 2k of qs[32h + l] (also Q3_K's low bits). */
static void pack_2bit(const uint8_t *L, uint8_t *qs) {
    for (int j = 0; j < QK_K; j += 128) {
        for (int l = 0; l < 32; l++) {
            qs[j / 4 + l] = (uint8_t)(L[j + l] | (L[j + l + 32] << 2) | (L[j + l + 64] << 4) | (L[j + l + 96] << 6));
        }
    }
}

void quantize_row_q2_K_ref(const float *x, block_q2_K *y, int64_t k) {
    const int64_t nb = k / QK_K;
    const float q4scale = 15.f;
    uint8_t L[QK_K], Laux[16];
    float weights[16], mins[QK_K / 16], scales[QK_K / 16];
    for (int64_t i = 0; i < nb; i++, x += QK_K) {
        float max_scale = 0, max_min = 0; /* both >= 0: the min is subtracted */
        for (int j = 0; j < QK_K / 16; j++) {
            for (int l = 0; l < 16; l++)
                weights[l] = fabsf(x[16 * j + l]);
            scales[j] = make_qkx2_quants(16, 3, x + 16 * j, weights, L + 16 * j, &mins[j], Laux, -0.5f, 0.1f, 15, true);
            if (scales[j] > max_scale) max_scale = scales[j];
            if (mins[j] > max_min) max_min = mins[j];
        }
        if (max_scale > 0) {
            float iscale = q4scale / max_scale;
            for (int j = 0; j < QK_K / 16; j++)
                y[i].scales[j] = (uint8_t)quant_nearest_int(iscale * scales[j]);
            y[i].d = slm_f32_to_f16(max_scale / q4scale);
        } else {
            memset(y[i].scales, 0, sizeof y[i].scales);
            y[i].d = slm_f32_to_f16(0.f);
        }
        if (max_min > 0) {
            float iscale = q4scale / max_min;
            for (int j = 0; j < QK_K / 16; j++) {
                y[i].scales[j] |= (uint8_t)((unsigned)quant_nearest_int(iscale * mins[j]) << 4);
            }
            y[i].dmin = slm_f32_to_f16(max_min / q4scale);
        } else {
            y[i].dmin = slm_f32_to_f16(0.f);
        }
        for (int j = 0; j < QK_K / 16; j++) {
            const float d = slm_f16_to_f32(y[i].d) * (y[i].scales[j] & 0xF);
            if (!d) continue; /* keep the search's codes: they dequantize to the min anyway */
            const float dm = slm_f16_to_f32(y[i].dmin) * (y[i].scales[j] >> 4);
            for (int ii = 0; ii < 16; ii++) {
                int l = quant_nearest_int((x[16 * j + ii] + dm) / d);
                L[16 * j + ii] = (uint8_t)quant_max_int(0, quant_min_int(3, l));
            }
        }
        pack_2bit(L, y[i].qs);
    }
}

void dequantize_row_q2_K(const block_q2_K *x, float *y, int64_t k) {
    const int64_t nb = k / QK_K;
    for (int64_t i = 0; i < nb; i++) {
        const float d = slm_f16_to_f32(x[i].d);
        const float min = slm_f16_to_f32(x[i].dmin);
        const uint8_t *q = x[i].qs;
        int is = 0;
        for (int n = 0; n < QK_K; n += 128, q += 32) {
            for (int shift = 0; shift < 8; shift += 2) {
                for (int half = 0; half < 2; half++) { /* sub-blocks of 16: q[0..15], q[16..31] */
                    const uint8_t sc = x[i].scales[is++];
                    const float dl = d * (sc & 0xF), ml = min * (sc >> 4);
                    for (int l = 0; l < 16; l++)
                        *y++ = dl * ((q[16 * half + l] >> shift) & 3) - ml;
                }
            }
        }
    }
}

/* ---- Q3_K ------------------------------------------------------------------------------------ */

/* Stored 6-bit scale of sub-block j (0..15) minus 32: low 4 bits in the nibbles of scales[0..7],
 * high 2 bits in scales[8 + j%4] at bit 2*(j/4). */
static int q3_scale(const uint8_t *scales, int j) {
    int lo = j < 8 ? (scales[j] & 0xF) : (scales[j - 8] >> 4);
    int hi = (scales[8 + j % 4] >> (2 * (j / 4))) & 3;
    return (lo | (hi << 4)) - 32;
}

void quantize_row_q3_K_ref(const float *x, block_q3_K *y, int64_t k) {
    const int64_t nb = k / QK_K;
    int8_t L[QK_K];
    float scales[QK_K / 16];
    for (int64_t i = 0; i < nb; i++, x += QK_K) {
        float max_scale = 0, amax = 0; /* scales are signed: keep the one of largest magnitude */
        for (int j = 0; j < QK_K / 16; j++) {
            scales[j] = make_q3_quants(16, 4, x + 16 * j, L + 16 * j);
            if (fabsf(scales[j]) > amax) {
                amax = fabsf(scales[j]);
                max_scale = scales[j];
            }
        }
        memset(y[i].scales, 0, K_SCALE_SIZE);
        if (max_scale) {
            float iscale = -32.f / max_scale;
            for (int j = 0; j < QK_K / 16; j++) {
                int8_t l8 = (int8_t)quant_nearest_int(iscale * scales[j]);
                unsigned l = (unsigned)(quant_max_int(-32, quant_min_int(31, l8)) + 32);
                if (j < 8) {
                    y[i].scales[j] = (uint8_t)(l & 0xF);
                } else {
                    y[i].scales[j - 8] |= (uint8_t)((l & 0xF) << 4);
                }
                y[i].scales[j % 4 + 8] |= (uint8_t)((l >> 4) << (2 * (j / 4)));
            }
            y[i].d = slm_f32_to_f16(1 / iscale);
        } else {
            y[i].d = slm_f32_to_f16(0.f);
        }
        for (int j = 0; j < QK_K / 16; j++) {
            const float d = slm_f16_to_f32(y[i].d) * q3_scale(y[i].scales, j);
            if (!d) continue;
            for (int ii = 0; ii < 16; ii++) {
                int l = quant_nearest_int(x[16 * j + ii] / d);
                L[16 * j + ii] = (int8_t)(quant_max_int(-4, quant_min_int(3, l)) + 4);
            }
        }
        /* High bit of element e goes to bit e/32 of hmask[e%32]; the low 2 bits pack as Q2_K. */
        memset(y[i].hmask, 0, QK_K / 8);
        uint8_t low[QK_K];
        for (int e = 0; e < QK_K; e++) {
            low[e] = (uint8_t)(L[e] & 3);
            if (L[e] > 3) y[i].hmask[e % 32] |= (uint8_t)(1u << (e / 32));
        }
        pack_2bit(low, y[i].qs);
    }
}

void dequantize_row_q3_K(const block_q3_K *x, float *y, int64_t k) {
    const int64_t nb = k / QK_K;
    for (int64_t i = 0; i < nb; i++) {
        const float d_all = slm_f16_to_f32(x[i].d);
        const uint8_t *q = x[i].qs;
        const uint8_t *hm = x[i].hmask;
        unsigned m = 1;
        int is = 0;
        for (int n = 0; n < QK_K; n += 128, q += 32) {
            for (int shift = 0; shift < 8; shift += 2, m <<= 1) {
                for (int half = 0; half < 2; half++) {
                    const float dl = d_all * q3_scale(x[i].scales, is++);
                    for (int l = 16 * half; l < 16 * half + 16; l++) {
                        *y++ = dl * (((q[l] >> shift) & 3) - ((hm[l] & m) ? 0 : 4));
                    }
                }
            }
        }
    }
}

/* ---- Q4_K / Q5_K: shared scale search and 6-bit scale packing -------------------------------- */

/* Per 32 elements: weights rms(x) + |x|, make_qkx2 search; then 6-bit scales and mins against
 * fp16 super-scales d, dmin (stored in *d, *dmin and the 12 packed bytes), and final codes
 * L in 0..nmax re-rounded against the stored scales. */
static void quantize_k_scales_mins(const float *x, int nmax, float rmin, int nstep, uint8_t *packed, slm_f16 *d_out,
                                   slm_f16 *dmin_out, uint8_t *L) {
    uint8_t Laux[32];
    float weights[32], mins[QK_K / 32], scales[QK_K / 32];
    float max_scale = 0, max_min = 0;
    for (int j = 0; j < QK_K / 32; j++) {
        float sum_x2 = 0;
        for (int l = 0; l < 32; l++)
            sum_x2 += x[32 * j + l] * x[32 * j + l];
        float av_x = sqrtf(sum_x2 / 32);
        for (int l = 0; l < 32; l++)
            weights[l] = av_x + fabsf(x[32 * j + l]);
        scales[j] =
            make_qkx2_quants(32, nmax, x + 32 * j, weights, L + 32 * j, &mins[j], Laux, rmin, 0.1f, nstep, false);
        if (scales[j] > max_scale) max_scale = scales[j];
        if (mins[j] > max_min) max_min = mins[j];
    }
    float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
    float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
    for (int j = 0; j < QK_K / 32; j++) {
        /* uint8 wrap-around before the clamp, exactly as ggml stores nearest_int into a uint8_t */
        uint8_t ls = (uint8_t)quant_nearest_int(inv_scale * scales[j]);
        uint8_t lm = (uint8_t)quant_nearest_int(inv_min * mins[j]);
        ls = ls < 63 ? ls : 63;
        lm = lm < 63 ? lm : 63;
        if (j < 4) {
            packed[j] = ls;
            packed[j + 4] = lm;
        } else {
            packed[j + 4] = (uint8_t)((ls & 0xF) | ((lm & 0xF) << 4));
            packed[j - 4] |= (uint8_t)((ls >> 4) << 6);
            packed[j - 0] |= (uint8_t)((lm >> 4) << 6);
        }
    }
    *d_out = slm_f32_to_f16(max_scale / 63.f);
    *dmin_out = slm_f32_to_f16(max_min / 63.f);
    for (int j = 0; j < QK_K / 32; j++) {
        uint8_t sc, m;
        quant_get_scale_min_k4(j, packed, &sc, &m);
        const float d = slm_f16_to_f32(*d_out) * sc;
        if (!d) continue;
        const float dm = slm_f16_to_f32(*dmin_out) * m;
        for (int ii = 0; ii < 32; ii++) {
            int l = quant_nearest_int((x[32 * j + ii] + dm) / d);
            L[32 * j + ii] = (uint8_t)quant_max_int(0, quant_min_int(nmax, l));
        }
    }
}

void quantize_row_q4_K_ref(const float *x, block_q4_K *y, int64_t k) {
    const int64_t nb = k / QK_K;
    uint8_t L[QK_K];
    for (int64_t i = 0; i < nb; i++, x += QK_K) {
        quantize_k_scales_mins(x, 15, -1.f, 20, y[i].scales, &y[i].d, &y[i].dmin, L);
        /* per 64 elements: first 32 in low nibbles, next 32 in high nibbles */
        for (int j = 0; j < QK_K; j += 64) {
            for (int l = 0; l < 32; l++)
                y[i].qs[j / 2 + l] = (uint8_t)(L[j + l] | (L[j + l + 32] << 4));
        }
    }
}

void dequantize_row_q4_K(const block_q4_K *x, float *y, int64_t k) {
    const int64_t nb = k / QK_K;
    for (int64_t i = 0; i < nb; i++) {
        const float d = slm_f16_to_f32(x[i].d);
        const float min = slm_f16_to_f32(x[i].dmin);
        const uint8_t *q = x[i].qs;
        for (int is = 0; is < QK_K / 32; is += 2, q += 32) {
            uint8_t sc, m;
            quant_get_scale_min_k4(is, x[i].scales, &sc, &m);
            const float d1 = d * sc, m1 = min * m;
            quant_get_scale_min_k4(is + 1, x[i].scales, &sc, &m);
            const float d2 = d * sc, m2 = min * m;
            for (int l = 0; l < 32; l++)
                *y++ = d1 * (q[l] & 0xF) - m1;
            for (int l = 0; l < 32; l++)
                *y++ = d2 * (q[l] >> 4) - m2;
        }
    }
}

void quantize_row_q5_K_ref(const float *x, block_q5_K *y, int64_t k) {
    const int64_t nb = k / QK_K;
    uint8_t L[QK_K];
    for (int64_t i = 0; i < nb; i++, x += QK_K) {
        quantize_k_scales_mins(x, 31, -0.5f, 15, y[i].scales, &y[i].d, &y[i].dmin, L);
        /* 4 low bits as Q4_K; bit 4 of chunk c's low/high-nibble element l in bit 2c/2c+1 of qh[l] */
        memset(y[i].qh, 0, QK_K / 8);
        for (int c = 0; c < QK_K / 64; c++) {
            for (int l = 0; l < 32; l++) {
                const unsigned l1 = L[64 * c + l], l2 = L[64 * c + l + 32];
                y[i].qh[l] |= (uint8_t)(((l1 >> 4) << (2 * c)) | ((l2 >> 4) << (2 * c + 1)));
                y[i].qs[32 * c + l] = (uint8_t)((l1 & 0xF) | ((l2 & 0xF) << 4));
            }
        }
    }
}

void dequantize_row_q5_K(const block_q5_K *x, float *y, int64_t k) {
    const int64_t nb = k / QK_K;
    for (int64_t i = 0; i < nb; i++) {
        const float d = slm_f16_to_f32(x[i].d);
        const float min = slm_f16_to_f32(x[i].dmin);
        const uint8_t *ql = x[i].qs, *qh = x[i].qh;
        unsigned u1 = 1, u2 = 2;
        for (int is = 0; is < QK_K / 32; is += 2, ql += 32, u1 <<= 2, u2 <<= 2) {
            uint8_t sc, m;
            quant_get_scale_min_k4(is, x[i].scales, &sc, &m);
            const float d1 = d * sc, m1 = min * m;
            quant_get_scale_min_k4(is + 1, x[i].scales, &sc, &m);
            const float d2 = d * sc, m2 = min * m;
            for (int l = 0; l < 32; l++)
                *y++ = d1 * ((ql[l] & 0xF) + (qh[l] & u1 ? 16 : 0)) - m1;
            for (int l = 0; l < 32; l++)
                *y++ = d2 * ((ql[l] >> 4) + (qh[l] & u2 ? 16 : 0)) - m2;
        }
    }
}

/* ---- Q6_K ------------------------------------------------------------------------------------ */

void quantize_row_q6_K_ref(const float *x, block_q6_K *y, int64_t k) {
    const int64_t nb = k / QK_K;
    int8_t L[QK_K];
    float scales[QK_K / 16];
    for (int64_t i = 0; i < nb; i++, x += QK_K) {
        float max_scale = 0, max_abs_scale = 0;
        for (int ib = 0; ib < QK_K / 16; ib++) {
            scales[ib] = make_qx_quants(16, 32, x + 16 * ib, L + 16 * ib);
            if (fabsf(scales[ib]) > max_abs_scale) {
                max_abs_scale = fabsf(scales[ib]);
                max_scale = scales[ib];
            }
        }
        if (max_abs_scale < QUANT_GROUP_MAX_EPS) {
            memset(&y[i], 0, sizeof y[i]);
            continue;
        }
        float iscale = -128.f / max_scale;
        y[i].d = slm_f32_to_f16(1 / iscale);
        for (int ib = 0; ib < QK_K / 16; ib++) {
            y[i].scales[ib] = (int8_t)quant_min_int(127, quant_nearest_int(iscale * scales[ib]));
        }
        for (int j = 0; j < QK_K / 16; j++) {
            float d = slm_f16_to_f32(y[i].d) * y[i].scales[j];
            if (!d) continue;
            for (int ii = 0; ii < 16; ii++) {
                int l = quant_nearest_int(x[16 * j + ii] / d);
                L[16 * j + ii] = (int8_t)(quant_max_int(-32, quant_min_int(31, l)) + 32);
            }
        }
        /* per 128 elements (quarters a..d of 32): ql[l] = a | c << 4, ql[l+32] = b | d << 4,
         * qh[l] = high 2 bits of a, b, c, d at bits 0, 2, 4, 6 */
        uint8_t *ql = y[i].ql, *qh = y[i].qh;
        for (int j = 0; j < QK_K; j += 128, ql += 64, qh += 32) {
            for (int l = 0; l < 32; l++) {
                const unsigned a = (uint8_t)L[j + l], b = (uint8_t)L[j + l + 32];
                const unsigned c = (uint8_t)L[j + l + 64], e = (uint8_t)L[j + l + 96];
                ql[l] = (uint8_t)((a & 0xF) | ((c & 0xF) << 4));
                ql[l + 32] = (uint8_t)((b & 0xF) | ((e & 0xF) << 4));
                qh[l] = (uint8_t)((a >> 4) | ((b >> 4) << 2) | ((c >> 4) << 4) | ((e >> 4) << 6));
            }
        }
    }
}

void dequantize_row_q6_K(const block_q6_K *x, float *y, int64_t k) {
    const int64_t nb = k / QK_K;
    for (int64_t i = 0; i < nb; i++) {
        const float d = slm_f16_to_f32(x[i].d);
        const uint8_t *ql = x[i].ql, *qh = x[i].qh;
        const int8_t *sc = x[i].scales;
        for (int n = 0; n < QK_K; n += 128, y += 128, ql += 64, qh += 32, sc += 8) {
            for (int l = 0; l < 32; l++) {
                const int is = l / 16;
                const int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
                const int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
                const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                y[l + 0] = d * sc[is + 0] * q1;
                y[l + 32] = d * sc[is + 2] * q2;
                y[l + 64] = d * sc[is + 4] * q3;
                y[l + 96] = d * sc[is + 6] * q4;
            }
        }
    }
}

/* ---- Q8_K ------------------------------------------------------------------------------------ */

void quantize_row_q8_K_ref(const float *x, block_q8_K *y, int64_t k) {
    const int64_t nb = k / QK_K;
    for (int64_t i = 0; i < nb; i++, x += QK_K) {
        float max = 0, amax = 0;
        for (int j = 0; j < QK_K; j++) {
            if (fabsf(x[j]) > amax) {
                amax = fabsf(x[j]);
                max = x[j];
            }
        }
        if (!amax) {
            memset(&y[i], 0, sizeof y[i]);
            continue;
        }
        /* -127 (not -128) keeps codes symmetric, which the IQ2/IQ3 dot products rely on */
        const float iscale = -127.f / max;
        for (int j = 0; j < QK_K; j++)
            y[i].qs[j] = (int8_t)quant_min_int(127, quant_nearest_int(iscale * x[j]));
        for (int g = 0; g < QK_K / 16; g++) {
            int sum = 0;
            for (int ii = 0; ii < 16; ii++)
                sum += y[i].qs[16 * g + ii];
            y[i].bsums[g] = (int16_t)sum;
        }
        y[i].d = 1 / iscale;
    }
}

void dequantize_row_q8_K(const block_q8_K *x, float *y, int64_t k) {
    const int64_t nb = k / QK_K;
    for (int64_t i = 0; i < nb; i++) {
        for (int j = 0; j < QK_K; j++)
            *y++ = x[i].d * x[i].qs[j];
    }
}
