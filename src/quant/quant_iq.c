/* Non-linear 4-bit formats IQ4_NL (32-element blocks) and IQ4_XS (256-element super-blocks with
 * 6-bit sub-block scales). Both store indices into the 16-entry kvalues_iq4nl grid.
 *
 * Quantization follows llama-quantize without importance matrix (ggml's quantize_iq4_nl /
 * quantize_iq4_xs with quant_weights NULL): weights x^2, and per 32 elements a scale search over
 * the max-magnitude scale and 15 candidates (itry -7..7) scored by the weighted least-squares fit
 * sumqx^2 / sumq2. */
#include "quant/quant.h"
#include "quant/quant_impl.h"

const int8_t kvalues_iq4nl[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};

/* Scale-search width: candidates (itry + values[0]) / max for itry in -IQ4_NTRY..IQ4_NTRY. */
#define IQ4_NTRY 7

/* Index of the grid value nearest to x (ties go up; NaN gives the top index), as ggml's
 * best_index_int8. ggml bisects; counting the grid values <= x finds the same bracket
 * val[mu-1] <= x < val[mu] (NaN included) without data-dependent branches, which is several times faster here
 * (the scale search calls this 16 times per element). The final comparison is ggml's, operand
 * for operand, so the result is identical for every x. */
static int best_index_int8(int n, const int8_t *val, float x) {
    if (x <= val[0]) return 0;
    if (x >= val[n - 1]) return n - 1;
    int mu = 1; /* val[0] < x < val[n-1]: mu in 1..n-1 */
    for (int i = 1; i < n - 1; i++)
        mu += !(x < val[i]); /* "not below", as the bisection tests it */
    return x - val[mu - 1] < val[mu] - x ? mu - 1 : mu;
}

/* Weighted fit of x ~ d * values[l] with l = nearest grid index of id * x, weights x^2. */
static void iq4_fit(const float *x, float id, float *sumqx, float *sumq2, uint8_t *L) {
    float sqx = 0, sq2 = 0;
    for (int j = 0; j < 32; j++) {
        int l = best_index_int8(16, kvalues_iq4nl, id * x[j]);
        if (L) L[j] = (uint8_t)l;
        float q = kvalues_iq4nl[l];
        float w = x[j] * x[j];
        sqx += w * q * x[j];
        sq2 += w * q * q;
    }
    *sumqx = sqx;
    *sumq2 = sq2;
}

/* Best float scale for 32 elements (0 for an all-zero block). The first guess maps the element
 * of largest magnitude onto the grid's end value -127 (grid is asymmetric: -127..113). */
static float iq4_best_scale(const float *x) {
    float amax = 0, max = 0;
    for (int j = 0; j < 32; j++) {
        if (fabsf(x[j]) > amax) {
            amax = fabsf(x[j]);
            max = x[j];
        }
    }
    if (amax < QUANT_GROUP_MAX_EPS) return 0;
    float d = -max / kvalues_iq4nl[0];
    float sumqx, sumq2;
    uint8_t L[32];
    iq4_fit(x, 1 / d, &sumqx, &sumq2, L);
    /* sumq2 > 0: the grid has no zero and max^2 >= 1e-30 does not underflow (NaN input gives a
     * NaN scale, as in ggml) */
    d = sumqx / sumq2;
    float best = d * sumqx;
    for (int itry = -IQ4_NTRY; itry <= IQ4_NTRY; itry++) {
        iq4_fit(x, (itry + kvalues_iq4nl[0]) / max, &sumqx, &sumq2, NULL);
        if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
            d = sumqx / sumq2;
            best = d * sumqx;
        }
    }
    return d;
}

/* 32 indices into nibbles: element j in the low nibble of qs[j], element j+16 in the high one. */
static void iq4_pack(const uint8_t L[32], uint8_t qs[16]) {
    for (int j = 0; j < 16; j++)
        qs[j] = (uint8_t)(L[j] | (L[j + 16] << 4));
}

/* ---- IQ4_NL --------------------------------------------------------------------------------- */

void quantize_row_iq4_nl_ref(const float *x, block_iq4_nl *y, int64_t k) {
    const int64_t nb = k / QK4_NL;
    for (int64_t i = 0; i < nb; i++, x += QK4_NL) {
        const float d = iq4_best_scale(x);
        y[i].d = slm_f32_to_f16(d);
        /* final indices against the float scale (not the fp16-rounded one), as llama.cpp does */
        const float id = d ? 1 / d : 0;
        uint8_t L[QK4_NL];
        for (int j = 0; j < QK4_NL; j++)
            L[j] = (uint8_t)best_index_int8(16, kvalues_iq4nl, id * x[j]);
        iq4_pack(L, y[i].qs);
    }
}

void dequantize_row_iq4_nl(const block_iq4_nl *x, float *y, int64_t k) {
    const int64_t nb = k / QK4_NL;
    for (int64_t i = 0; i < nb; i++, y += QK4_NL) {
        const float d = slm_f16_to_f32(x[i].d);
        for (int j = 0; j < QK4_NL / 2; j++) {
            y[j] = d * kvalues_iq4nl[x[i].qs[j] & 0xf];
            y[j + QK4_NL / 2] = d * kvalues_iq4nl[x[i].qs[j] >> 4];
        }
    }
}

/* ---- IQ4_XS --------------------------------------------------------------------------------- */

void quantize_row_iq4_xs_ref(const float *x, block_iq4_xs *y, int64_t k) {
    const int64_t nb = k / QK_K;
    float scales[QK_K / 32];
    for (int64_t i = 0; i < nb; i++, x += QK_K) {
        float max_scale = 0, amax_scale = 0; /* signed scale of largest magnitude */
        for (int ib = 0; ib < QK_K / 32; ib++) {
            scales[ib] = iq4_best_scale(x + 32 * ib);
            if (fabsf(scales[ib]) > amax_scale) {
                amax_scale = fabsf(scales[ib]);
                max_scale = scales[ib];
            }
        }
        /* Sub-block scales become d * l with l in -32..31; d is negative when max_scale is
         * positive so that the largest one lands on -32, the end with room. An all-zero block
         * gives d = -0.0, stored as fp16 0x8000 exactly like llama.cpp. */
        const float d = -max_scale / 32;
        y[i].d = slm_f32_to_f16(d);
        const float id = d ? 1 / d : 0.f;
        y[i].scales_h = 0;
        for (int ib = 0; ib < QK_K / 32; ib++) {
            int l = quant_max_int(-32, quant_min_int(31, quant_nearest_int(id * scales[ib])));
            const float dl = d * l;
            const float idl = dl ? 1 / dl : 0.f;
            uint8_t L[32];
            for (int j = 0; j < 32; j++)
                L[j] = (uint8_t)best_index_int8(16, kvalues_iq4nl, idl * x[32 * ib + j]);
            iq4_pack(L, y[i].qs + 16 * ib);
            const unsigned ls = (unsigned)(l + 32);
            if (ib % 2 == 0) {
                y[i].scales_l[ib / 2] = (uint8_t)(ls & 0xf);
            } else {
                y[i].scales_l[ib / 2] |= (uint8_t)((ls & 0xf) << 4);
            }
            y[i].scales_h |= (uint16_t)((ls >> 4) << (2 * ib));
        }
    }
}

void dequantize_row_iq4_xs(const block_iq4_xs *x, float *y, int64_t k) {
    const int64_t nb = k / QK_K;
    for (int64_t i = 0; i < nb; i++) {
        const float d = slm_f16_to_f32(x[i].d);
        const uint8_t *qs = x[i].qs;
        for (int ib = 0; ib < QK_K / 32; ib++, y += 32, qs += 16) {
            const int ls = ((x[i].scales_l[ib / 2] >> 4 * (ib % 2)) & 0xf) | (((x[i].scales_h >> 2 * ib) & 3) << 4);
            const float dl = d * (ls - 32);
            for (int j = 0; j < 16; j++) {
                y[j] = dl * kvalues_iq4nl[qs[j] & 0xf];
                y[j + 16] = dl * kvalues_iq4nl[qs[j] >> 4];
            }
        }
    }
}
