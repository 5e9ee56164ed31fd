/* Round trip x -> quantize -> dequantize on seeded random data, for every type slm can quantize.
 *
 * Error bound (per type, derived from its bits per weight, not from what the code printed): a
 * uniform quantizer with step s has RMS error s / sqrt(12). For each scale group of g elements
 * (the smallest block with its own scale) the format's step is
 *     symmetric  (Q4_0, Q5_0, Q8_0, Q3_K, Q6_K, Q8_K):  s = max|x| / nmax, nmax = 2^(b-1)
 *         (Q8 formats: 127), the largest element mapping to -nmax;
 *     asymmetric (Q4_1, Q5_1, Q2_K, Q4_K, Q5_K):        s = (max - min) / (2^b - 1), where the
 *         K-quants widen the range to include 0 (their min is <= 0);
 *     IQ4 grid (IQ4_NL, IQ4_XS):  values d * {-127 .. 113}, d = max|x| / 127: 16 levels, mean
 *         gap 240 d / 15 = 16 d (gaps run from 9 d near 0 to 24 d at the ends).
 * The K-quants and IQ4_XS store the group scales with a few bits against the super-block's
 * largest (4 bits for Q2_K, 6 for Q3_K..Q5_K and IQ4_XS, 8 for Q6_K), which can widen a group's
 * step by up to the largest step / (scale levels): s' = s + s_max / levels. fp16-stored scales
 * and mins add |x| * 2^-11 per element. The test requires
 *     RMS(err) <= 1.5 * sqrt(mean_g(s'^2 / 12 + (max|x|_g 2^-11)^2))
 * where 1.5 leaves room for the data not being uniform within a step and for the clipping the
 * scale searches trade for a better fit. F16/BF16 are checked per element: |err| <= 2^-11|x|
 * (2^-8|x| for BF16) for normal values.
 *
 * Data sets: normal, uniform, normal with 1% outliers at 20 sigma, all-zero blocks, constant
 * blocks (+ and -), tiny (sigma 1e-3) and huge (sigma 1e4, the fp16 scales' range ends near
 * 65504) magnitudes, plus 1e-30 .. 1e30 for Q8_K whose scale is float32. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/dtype.h"
#include "quant/quant.h"
#include "testutil.h"

#define N_ELEMS (64 * QK_K) /* 16384: 64 super-blocks, 512 blocks of 32 */

typedef struct format_model {
    uint32_t type;
    int group;    /* elements sharing one scale */
    float steps;  /* symmetric: nmax (step = amax / steps); asymmetric: 2^b - 1 */
    bool asym;    /* asymmetric (min stored) */
    bool k_min;   /* K-quant: the range always includes 0 */
    float levels; /* levels of the quantized group scales (0: scales stored in fp16/f32) */
    bool fp16_scale;
} format_model;

static const format_model k_models[] = {
    {SLM_DT_Q4_0, 32, 8, false, false, 0, true},
    {SLM_DT_Q4_1, 32, 15, true, false, 0, true},
    {SLM_DT_Q5_0, 32, 16, false, false, 0, true},
    {SLM_DT_Q5_1, 32, 31, true, false, 0, true},
    {SLM_DT_Q8_0, 32, 127, false, false, 0, true},
    {SLM_DT_Q8_1, 32, 127, false, false, 0, true},
    {SLM_DT_Q2_K, 16, 3, true, true, 15, true},
    {SLM_DT_Q3_K, 16, 4, false, false, 32, true},
    {SLM_DT_Q4_K, 32, 15, true, true, 63, true},
    {SLM_DT_Q5_K, 32, 31, true, true, 63, true},
    {SLM_DT_Q6_K, 16, 32, false, false, 128, true},
    {SLM_DT_Q8_K, 256, 127, false, false, 0, false},
    {SLM_DT_IQ4_NL, 32, 127.f / 16, false, false, 0, true},
    {SLM_DT_IQ4_XS, 32, 127.f / 16, false, false, 32, true},
};

/* ---- seeded data --------------------------------------------------------------------------- */

static uint64_t g_rng;
static uint64_t rng_next(void) { /* splitmix64 */
    uint64_t z = (g_rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
static double rng_uniform(void) { return (double)(rng_next() >> 11) * 0x1.0p-53; } /* [0, 1) */
static float rng_normal(void) {
    double u1 = rng_uniform(), u2 = rng_uniform();
    return (float)(sqrt(-2.0 * log(u1 + 1e-300)) * cos(6.283185307179586 * u2));
}

typedef enum { D_NORMAL, D_UNIFORM, D_OUTLIERS, D_ZERO_BLOCKS, D_CONST_BLOCKS, D_TINY, D_HUGE, D_COUNT } dist;
static const char *const k_dist_names[D_COUNT] = {"normal",       "uniform", "outliers", "zero-blocks",
                                                  "const-blocks", "tiny",    "huge"};

static void fill(dist d, float *x, int n) {
    for (int i = 0; i < n; i++) {
        switch (d) {
        case D_NORMAL:
            x[i] = rng_normal();
            break;
        case D_UNIFORM:
            x[i] = (float)(2 * rng_uniform() - 1);
            break;
        case D_OUTLIERS:
            x[i] = rng_normal() * (rng_uniform() < 0.01 ? 20.f : 1.f);
            break;
        case D_ZERO_BLOCKS:
            x[i] = (i / 32) % 3 == 1 ? 0.f : rng_normal();
            break; /* also whole zero super-blocks below */
        case D_CONST_BLOCKS:
            x[i] = (i / 32) % 2 ? 0.75f : -1.5f;
            break;
        case D_TINY:
            x[i] = rng_normal() * 1e-3f;
            break;
        case D_HUGE:
            x[i] = rng_normal() * 1e4f;
            break;
        default:
            break;
        }
    }
    if (d == D_ZERO_BLOCKS) memset(x + 2 * QK_K, 0, QK_K * sizeof(float));
}

/* ---- the bound ----------------------------------------------------------------------------- */

static double allowed_rms(const format_model *m, const float *x, int n) {
    const int per_super = m->group == 256 ? 1 : QK_K / m->group;
    double budget = 0;
    for (int sb = 0; sb < n; sb += m->group * per_super) {
        double step[QK_K / 16], amax_g[QK_K / 16], step_max = 0;
        for (int g = 0; g < per_super; g++) {
            const float *xg = x + sb + g * m->group;
            float mn = xg[0], mx = xg[0], amax = 0;
            for (int i = 0; i < m->group; i++) {
                mn = fminf(mn, xg[i]);
                mx = fmaxf(mx, xg[i]);
                amax = fmaxf(amax, fabsf(xg[i]));
            }
            if (m->k_min) {
                mn = fminf(mn, 0);
                mx = fmaxf(mx, 0);
            }
            step[g] = m->asym ? (mx - mn) / m->steps : amax / m->steps;
            amax_g[g] = amax;
            if (step[g] > step_max) step_max = step[g];
        }
        for (int g = 0; g < per_super; g++) {
            double s = step[g] + (m->levels ? step_max / m->levels : 0);
            double fp = m->fp16_scale ? amax_g[g] * 0x1.0p-11 : 0;
            budget += m->group * (s * s / 12 + fp * fp);
        }
    }
    return 1.5 * sqrt(budget / n);
}

static void check_type(const format_model *m, float *x, float *y, void *q) {
    slm_from_float_fn quantize = slm_quant_from_float(m->type);
    slm_to_float_fn dequantize = slm_quant_to_float(m->type);
    CHECK(quantize && dequantize, "%s: no converters", slm_dtype_name(m->type));
    if (!quantize || !dequantize) return;
    for (int d = 0; d < D_COUNT; d++) {
        g_rng = 1234 + (uint64_t)d * 7919 + m->type;
        fill((dist)d, x, N_ELEMS);
        quantize(x, q, N_ELEMS);
        dequantize(q, y, N_ELEMS);
        double err2 = 0, sig2 = 0;
        bool finite = true;
        for (int i = 0; i < N_ELEMS; i++) {
            finite &= isfinite(y[i]);
            err2 += ((double)y[i] - x[i]) * ((double)y[i] - x[i]);
            sig2 += (double)x[i] * x[i];
        }
        const double rms = sqrt(err2 / N_ELEMS), bound = allowed_rms(m, x, N_ELEMS);
        CHECK(finite, "%s %s: non-finite output", slm_dtype_name(m->type), k_dist_names[d]);
        if (getenv("QUANT_VERBOSE"))
            printf("    %s %s ratio %.3f\n", slm_dtype_name(m->type), k_dist_names[d], rms / bound);
        CHECK(rms <= bound, "%s %s: rms error %.4g > bound %.4g", slm_dtype_name(m->type), k_dist_names[d], rms, bound);
        if (d == D_NORMAL) {
            printf("  %-7s normal: relative rms error %.5f (bound %.5f)\n", slm_dtype_name(m->type),
                   rms / sqrt(sig2 / N_ELEMS), bound / sqrt(sig2 / N_ELEMS));
        }
        if (d == D_ZERO_BLOCKS) { /* zero blocks must come back as exact zeros */
            bool zeros = true;
            for (int i = 2 * QK_K; i < 3 * QK_K; i++)
                zeros &= y[i] == 0;
            CHECK(zeros, "%s: an all-zero super-block does not dequantize to zeros", slm_dtype_name(m->type));
        }
    }
}

/* F16 / BF16: per element, round to nearest gives relative error <= 2^-11 (2^-8 for BF16). */
static void check_float_types(float *x, float *y, void *q) {
    const uint32_t types[2] = {SLM_DT_F16, SLM_DT_BF16};
    const double rel[2] = {0x1.0p-11, 0x1.0p-8};
    for (int t = 0; t < 2; t++) {
        g_rng = 99 + (uint64_t)t;
        for (int i = 0; i < N_ELEMS; i++)
            x[i] = rng_normal() * powf(10.f, (float)(rng_uniform() * 8 - 4));
        CHECK(slm_quantize(types[t], x, N_ELEMS, q, (uint64_t)N_ELEMS * 4, NULL) == SLM_OK, "quantize");
        CHECK(slm_dequantize(types[t], q, (uint64_t)N_ELEMS * 4, y, N_ELEMS, NULL) == SLM_OK, "dequantize");
        int bad = 0;
        for (int i = 0; i < N_ELEMS; i++)
            bad += fabs((double)y[i] - x[i]) > rel[t] * fabs(x[i]) + 0x1.0p-25;
        CHECK(bad == 0, "%s: %d elements beyond relative error %g", slm_dtype_name(types[t]), bad, rel[t]);
    }
    /* F32 is a copy */
    g_rng = 5;
    for (int i = 0; i < N_ELEMS; i++)
        x[i] = rng_normal();
    CHECK(slm_quantize(SLM_DT_F32, x, N_ELEMS, q, (uint64_t)N_ELEMS * 4, NULL) == SLM_OK, "f32");
    CHECK(slm_dequantize(SLM_DT_F32, q, (uint64_t)N_ELEMS * 4, y, N_ELEMS, NULL) == SLM_OK, "f32");
    CHECK(!memcmp(x, y, N_ELEMS * sizeof(float)), "F32 round trip is not exact");
}

/* Q8_K keeps a float32 scale: any magnitude round-trips within its 8-bit step. */
static void check_q8_K_extremes(float *x, float *y, void *q) {
    const float scales[] = {1e-30f, 1e-10f, 1e10f, 1e30f};
    for (size_t s = 0; s < sizeof scales / sizeof scales[0]; s++) {
        g_rng = 77 + s;
        float amax = 0;
        for (int i = 0; i < QK_K; i++) {
            x[i] = rng_normal() * scales[s];
            amax = fmaxf(amax, fabsf(x[i]));
        }
        quantize_row_q8_K_ref(x, q, QK_K);
        dequantize_row_q8_K(q, y, QK_K);
        double worst = 0;
        for (int i = 0; i < QK_K; i++)
            worst = fmax(worst, fabs((double)y[i] - x[i]));
        /* half a step (amax/127/2) plus float rounding of d and of d*q */
        CHECK(worst <= amax / 127 * 0.5 * 1.0001, "Q8_K at scale %g: max error %g", scales[s], worst);
        /* bsums are the exact group sums of the codes */
        const block_q8_K *b = q;
        int ok = 1;
        for (int g = 0; g < QK_K / 16; g++) {
            int sum = 0;
            for (int i = 0; i < 16; i++)
                sum += b->qs[16 * g + i];
            ok &= sum == b->bsums[g];
        }
        CHECK(ok, "Q8_K bsums");
    }
}

int main(void) {
    float *x = malloc(N_ELEMS * sizeof(float));
    float *y = malloc(N_ELEMS * sizeof(float));
    void *q = malloc(N_ELEMS * sizeof(float)); /* 4 bytes per element: more than any format needs */
    for (size_t i = 0; i < sizeof k_models / sizeof k_models[0]; i++)
        check_type(&k_models[i], x, y, q);
    check_float_types(x, y, q);
    check_q8_K_extremes(x, y, q);
    free(x);
    free(y);
    free(q);
    return tu_finish("test_quant_roundtrip");
}
