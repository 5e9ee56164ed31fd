/* One token over 16-row interleaved weights with 8-bit activations (kernels.h, "One token with
 * 8-bit activations"): every table's tok1_a8_x16 tile against float64.
 *
 * The reference is independent of the kernels: llama.cpp's activation blocks from the scalar
 * quantizers (quantize_row_q8_0_ref / quantize_row_q8_K_ref), dequantized, times the weights
 * dequantized by the reference dequantizers, summed in double. The tile's integer block sums are
 * exact (the test checks this at the extremes below), so the difference is float rounding: the
 * per-block scale products and the running sum, at most ~(K/32 + 16) roundings of the magnitude
 * M = sum (|s_i| + |m_i|) |a_i| (Q4_K rows w = s - m can cancel, as in test_kernels_a16.c).
 *
 * Cases: Q4_0, Q5_0, Q4_K, IQ4_XS and Q6_K (its byte layout, where the active table reads it); k from one block to 4864 + 256; 16 to 400 rows, so that the tiles'
 * sets of several groups 64 KiB apart (avx2_tok1_next) come with uneven tails; split row ranges;
 * slm_matmul_x16_multi_a8 with shared activation buffers on no pool and on a pool of 3 threads, one
 * item of a type without an 8-bit tile among them (it takes its 16-bit tile);
 * codes at their extremes against activation codes of +-127 (an int16 sum that saturated would be
 * off by thousands of codes). */
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "base/fp16.h"
#include "base/threadpool.h"
#include "kernels/kernels.h"
#include "quant/quant.h"
#include "kernel_test_util.h"
#include "testutil.h"

static const uint32_t k_types[] = {SLM_DT_Q4_0, SLM_DT_Q5_0, SLM_DT_Q4_K, SLM_DT_IQ4_XS, SLM_DT_Q6_K};
#define N_TYPES (sizeof k_types / sizeof k_types[0])

/* The activation row as llama.cpp quantizes it, dequantized. */
static void q8_act_float(uint32_t type, const float *x, int64_t k, float *out) {
    if (slm_dtype_get(type)->blck_size == 32) {
        block_q8_0 *q = xmalloc(sizeof(block_q8_0) * (size_t)(k / 32));
        quantize_row_q8_0_ref(x, q, k);
        dequantize_row_q8_0(q, out, k);
        free(q);
    } else {
        block_q8_K *q = xmalloc(sizeof(block_q8_K) * (size_t)(k / 256));
        quantize_row_q8_K_ref(x, q, k);
        dequantize_row_q8_K(q, out, k);
        free(q);
    }
}

static void dequant_row(uint32_t type, const void *row, float *out, int64_t k) {
    switch (type) {
    case SLM_DT_Q4_0: dequantize_row_q4_0(row, out, k); break;
    case SLM_DT_Q5_0: dequantize_row_q5_0(row, out, k); break;
    case SLM_DT_IQ4_XS: dequantize_row_iq4_xs(row, out, k); break;
    case SLM_DT_Q6_K: dequantize_row_q6_K(row, out, k); break;
    default: dequantize_row_q4_K(row, out, k); break;
    }
}

static void quant_row(uint32_t type, const float *x, void *row, int64_t k) {
    switch (type) {
    case SLM_DT_Q4_0: quantize_row_q4_0_ref(x, row, k); break;
    case SLM_DT_Q5_0: quantize_row_q5_0_ref(x, row, k); break;
    case SLM_DT_Q6_K: quantize_row_q6_K_ref(x, row, k); break;
    case SLM_DT_Q8_0: quantize_row_q8_0_ref(x, row, k); break; /* test_multi's 16-bit item */
    case SLM_DT_IQ4_XS: quantize_row_iq4_xs_ref(x, row, k); break;
    default: quantize_row_q4_K_ref(x, row, k); break;
    }
}

/* y_ref[r] and its tolerance for rows x k weights w (row layout) and activations x. */
static void reference(uint32_t type, const uint8_t *w, size_t rb, int64_t rows, int64_t k, const float *x,
                      double *y_ref, double *tol) {
    float *a = xmalloc(sizeof(float) * (size_t)k), *wf = xmalloc(sizeof(float) * (size_t)k),
          *wm = xmalloc(sizeof(float) * (size_t)k);
    q8_act_float(type, x, k, a);
    for (int64_t r = 0; r < rows; r++) {
        dequant_row(type, w + (size_t)r * rb, wf, k);
        weight_min_part(type, w + (size_t)r * rb, k, wm);
        double s = 0, m = 0;
        for (int64_t i = 0; i < k; i++) {
            s += (double)wf[i] * a[i];
            m += (fabs((double)wf[i] + wm[i]) + fabs((double)wm[i])) * fabs((double)a[i]);
        }
        y_ref[r] = s;
        tol[r] = ((double)k / 32 + 16) * ldexp(m, -23) + 1e-30;
    }
    free(a);
    free(wf);
    free(wm);
}

static uint8_t *random_weights(uint32_t type, int64_t rows, int64_t k, size_t *rb) {
    uint64_t b;
    slm_dtype_row_size(type, (uint64_t)k, &b);
    *rb = (size_t)b;
    uint8_t *w = xmalloc(*rb * (size_t)rows);
    float *row = xmalloc(sizeof(float) * (size_t)k);
    for (int64_t r = 0; r < rows; r++) {
        const float scale = 0.01f + (float)(rnd_u32() % 100) / 50.0f, shift = r % 3 == 1 ? 0.7f : 0.0f;
        for (int64_t i = 0; i < k; i++) row[i] = (rnd_unif() + shift) * scale;
        quant_row(type, row, w + (size_t)r * *rb, k);
    }
    free(row);
    return w;
}

/* Every table's tile on rows [0, cut) and [cut, rows) of the packed copy (y one longer, checked
 * untouched), against the reference. */
static void check_tile(const slm_kernels *isas[], int n_isa, uint32_t type, const uint8_t *w, size_t rb, int64_t rows,
                       int64_t k, const float *x, const double *y_ref, const double *tol) {
    uint8_t *pw = xmalloc(rb * (size_t)rows), *act = xmalloc(slm_x16_a8_row_bytes(type, k));
    float *y = xmalloc(sizeof(float) * (size_t)(rows + 1));
    slm_x16_pack(type, w, pw, rb, 0, rows / 16);
    const int64_t cut = rows > 16 ? 16 * ((rows / 16) / 3 + 1) : rows;
    for (int ii = 0; ii < n_isa; ii++) {
        const slm_kernels *kt = isas[ii];
        if (!slm_x16_a8_usable(kt, type, rows, k)) continue;
        const int64_t nb = k / slm_dtype_get(type)->blck_size;
        slm_x16_quantize_a8(kt, type, x, k, act, 0, nb / 2); /* in two parts, as threads do */
        slm_x16_quantize_a8(kt, type, x, k, act, nb / 2, nb);
        for (int64_t r = 0; r <= rows; r++) y[r] = -7.0f;
        const slm_gemm_fn tile = kt->mm[type].tok1_a8_x16;
        tile(k, pw, rb, cut, act, 0, 1, y, rows);
        if (cut < rows) tile(k, pw + (size_t)cut * rb, rb, rows - cut, act, 0, 1, y + cut, rows);
        int bad = 0;
        int64_t first = -1;
        for (int64_t r = 0; r < rows; r++)
            if (!(fabs(y[r] - y_ref[r]) <= tol[r])) {
                bad++;
                if (first < 0) first = r;
            }
        CHECK(y[rows] == -7.0f, "%s %s tok1_a8_x16: wrote past the last row", kt->name, slm_dtype_name(type));
        CHECK(bad == 0, "%s %s tok1_a8_x16 k=%lld rows=%lld: %d rows off (row %lld: %.9g vs %.9g, tol %.3g)", kt->name,
              slm_dtype_name(type), (long long)k, (long long)rows, bad, (long long)first, first < 0 ? 0.0 : y[first],
              first < 0 ? 0.0 : y_ref[first], first < 0 ? 0.0 : tol[first]);
    }
    free(pw);
    free(act);
    free(y);
}

static void test_tiles(const slm_kernels *isas[], int n_isa) {
    static const int64_t ks32[] = {32, 96, 896, 4864}, ks256[] = {256, 768, 2048, 4864 + 256};
    static const int64_t rows[] = {16, 48, 80, 144, 400};
    for (size_t ti = 0; ti < N_TYPES; ti++) {
        const uint32_t type = k_types[ti];
        const int64_t *ks = slm_dtype_get(type)->blck_size == 32 ? ks32 : ks256;
        for (int ki = 0; ki < 4; ki++)
            for (size_t ri = 0; ri < sizeof rows / sizeof rows[0]; ri++) {
                const int64_t k = ks[ki], n = rows[ri];
                size_t rb;
                uint8_t *w = random_weights(type, n, k, &rb);
                float *x = xmalloc(sizeof(float) * (size_t)k);
                for (int64_t i = 0; i < k; i++) x[i] = rnd_act();
                double *y_ref = xmalloc(sizeof(double) * (size_t)n), *tol = xmalloc(sizeof(double) * (size_t)n);
                reference(type, w, rb, n, k, x, y_ref, tol);
                check_tile(isas, n_isa, type, w, rb, n, k, x, y_ref, tol);
                free(w);
                free(x);
                free(y_ref);
                free(tol);
            }
    }
}

/* Codes at their largest against activation codes of +-127 (x = +-1 in runs of 3 and all +1):
 * rows of all-0 and all-max codes, every scale 1 (Q4_K: scale 63, and min 63 with dmin 1 on
 * some rows). The reference is the same float64 sum as above. */
static void test_extremes(const slm_kernels *isas[], int n_isa) {
    enum { ROWS = 32 };
    for (size_t ti = 0; ti < N_TYPES; ti++) {
        const uint32_t type = k_types[ti];
        const int64_t k = slm_dtype_get(type)->blck_size == 32 ? 256 : 512;
        size_t rb;
        uint8_t *w = random_weights(type, ROWS, k, &rb);
        for (int r = 0; r < ROWS; r++) {
            const int hi = r % 2;
            for (int64_t b = 0; b < k / slm_dtype_get(type)->blck_size; b++) {
                if (type == SLM_DT_Q4_0) {
                    block_q4_0 *q = (block_q4_0 *)(w + r * rb) + b;
                    q->d = slm_f32_to_f16(1.0f);
                    memset(q->qs, hi ? 0xFF : 0x00, sizeof q->qs);
                } else if (type == SLM_DT_Q5_0) {
                    block_q5_0 *q = (block_q5_0 *)(w + r * rb) + b;
                    q->d = slm_f32_to_f16(1.0f);
                    memset(q->qh, hi ? 0xFF : 0x00, sizeof q->qh);
                    memset(q->qs, hi ? 0xFF : 0x00, sizeof q->qs);
                } else if (type == SLM_DT_Q6_K) { /* codes 0 / 63; scales 127 / -128 */
                    block_q6_K *q = (block_q6_K *)(w + r * rb) + b;
                    q->d = slm_f32_to_f16(1.0f);
                    memset(q->scales, r % 4 < 2 ? 0x7F : 0x80, sizeof q->scales);
                    memset(q->ql, hi ? 0xFF : 0x00, sizeof q->ql);
                    memset(q->qh, hi ? 0xFF : 0x00, sizeof q->qh);
                } else if (type == SLM_DT_IQ4_XS) { /* codes 0 (-127) / 15 (113, H = 15); scales 31 / -32 */
                    block_iq4_xs *q = (block_iq4_xs *)(w + r * rb) + b;
                    q->d = slm_f32_to_f16(1.0f);
                    q->scales_h = r % 4 < 2 ? 0xFFFF : 0;
                    memset(q->scales_l, r % 4 < 2 ? 0xFF : 0x00, sizeof q->scales_l);
                    memset(q->qs, hi ? 0xFF : 0x00, sizeof q->qs);
                } else {
                    block_q4_K *q = (block_q4_K *)(w + r * rb) + b;
                    q->d = slm_f32_to_f16(1.0f);
                    q->dmin = slm_f32_to_f16(r % 4 < 2 ? 0.0f : 1.0f);
                    memset(q->scales, 0xFF, sizeof q->scales); /* every scale and min 63 */
                    memset(q->qs, hi ? 0xFF : 0x00, sizeof q->qs);
                }
            }
        }
        float *x = xmalloc(sizeof(float) * (size_t)k);
        double *y_ref = xmalloc(sizeof(double) * ROWS), *tol = xmalloc(sizeof(double) * ROWS);
        for (int v = 0; v < 2; v++) {
            for (int64_t i = 0; i < k; i++) x[i] = v == 0 || (i / 3) % 2 == 0 ? 1.0f : -1.0f;
            reference(type, w, rb, ROWS, k, x, y_ref, tol);
            check_tile(isas, n_isa, type, w, rb, ROWS, k, x, y_ref, tol);
        }
        free(w);
        free(x);
        free(y_ref);
        free(tol);
    }
}

/* slm_matmul_x16_multi_a8: three matrices (Q4_K, Q4_0, Q4_K; the first and last share their
 * activation buffer) times one token, on no pool and on a pool of 3 threads, and a fourth of a type
 * without an 8-bit tile (Q8_0), which takes its 16-bit tile: bit for bit slm_matmul_x16's result. */
static void test_multi(const slm_kernels *isas[], int n_isa) {
    static const uint32_t types[4] = {SLM_DT_Q4_K, SLM_DT_Q4_0, SLM_DT_Q4_K, SLM_DT_Q8_0};
    static const int64_t rows[4] = {48, 400, 144, 64};
    enum { K = 2048 };
    slm_threadpool *pool = NULL;
    slm_error err;
    CHECK(slm_threadpool_new(3, &pool, &err) == SLM_OK, "pool: %s", err.msg);
    float *x = xmalloc(sizeof(float) * K);
    for (int i = 0; i < K; i++) x[i] = rnd_act();
    uint8_t *w[4], *pw[4];
    size_t rb[4];
    double *y_ref[3], *tol[3];
    float *y[4];
    for (int i = 0; i < 4; i++) {
        w[i] = random_weights(types[i], rows[i], K, &rb[i]);
        pw[i] = xmalloc(rb[i] * (size_t)rows[i]);
        slm_x16_pack(types[i], w[i], pw[i], rb[i], 0, rows[i] / 16);
        y[i] = xmalloc(sizeof(float) * (size_t)(rows[i] + 1));
        if (i == 3) continue;
        y_ref[i] = xmalloc(sizeof(double) * (size_t)rows[i]);
        tol[i] = xmalloc(sizeof(double) * (size_t)rows[i]);
        reference(types[i], w[i], rb[i], rows[i], K, x, y_ref[i], tol[i]);
    }
    float *y16 = xmalloc(sizeof(float) * (size_t)rows[3]);
    for (int ii = 0; ii < n_isa; ii++) {
        const slm_kernels *kt = isas[ii];
        bool usable = slm_x16_usable(kt, types[3], rows[3], K) && !slm_x16_a8_usable(kt, types[3], rows[3], K);
        for (int i = 0; i < 3; i++) usable = usable && slm_x16_a8_usable(kt, types[i], rows[i], K);
        if (!usable) continue;
        uint8_t *act[3] = {xmalloc(slm_x16_a8_row_bytes(types[0], K)), xmalloc(slm_x16_a8_row_bytes(types[1], K)),
                           xmalloc(slm_matmul_act_size_mode(types[3], K, 1, SLM_ACT_A16))};
        slm_matmul_x16(kt, NULL, types[3], pw[3], rb[3], rows[3], x, K, 1, K, act[2], y16, rows[3]);
        for (int rep = 0; rep < 2; rep++) {
            slm_x16_item items[4];
            for (int i = 0; i < 4; i++) {
                for (int64_t r = 0; r <= rows[i]; r++) y[i][r] = -7.0f;
                items[i] = (slm_x16_item){types[i], pw[i], rb[i], rows[i], y[i], rows[i], act[i == 3 ? 2 : i == 1]};
            }
            slm_matmul_x16_multi_a8(kt, rep ? pool : NULL, items, 4, x, K);
            for (int i = 0; i < 4; i++) {
                int bad = y[i][rows[i]] != -7.0f;
                for (int64_t r = 0; r < rows[i]; r++)
                    bad += i == 3 ? y[i][r] != y16[r] : !(fabs(y[i][r] - y_ref[i][r]) <= tol[i][r]);
                CHECK(bad == 0, "%s x16_multi_a8 item %d (%s, pool %d): %d outputs off", kt->name, i,
                      slm_dtype_name(types[i]), rep, bad);
            }
        }
        for (int i = 0; i < 3; i++) free(act[i]);
    }
    for (int i = 0; i < 4; i++) {
        free(w[i]);
        free(pw[i]);
        free(y[i]);
        if (i == 3) continue;
        free(y_ref[i]);
        free(tol[i]);
    }
    free(y16);
    free(x);
    slm_threadpool_free(pool);
}

int main(void) {
    kt_seed(0xA8A8A8A8ull);
    const slm_kernels *isas[SLM_ISA_COUNT];
    int n_isa = 0, n_tiles = 0;
    for (int i = 0; i < SLM_ISA_COUNT; i++) {
        const slm_kernels *kt = slm_kernels_for_isa((slm_isa)i);
        if (!kt) {
            printf("  skipped (CPU or build lacks it): %s\n", slm_isa_name((slm_isa)i));
            continue;
        }
        isas[n_isa++] = kt;
        for (size_t t = 0; t < N_TYPES; t++) n_tiles += kt->mm[k_types[t]].tok1_a8_x16 != NULL;
    }
    printf("  %d one-token 8-bit tiles over %d tables\n", n_tiles, n_isa);
    test_tiles(isas, n_isa);
    test_extremes(isas, n_isa);
    test_multi(isas, n_isa);
    return tu_finish("test_kernels_a8x16");
}
