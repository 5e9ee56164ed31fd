/* Kernels: every ISA path this CPU supports against the scalar reference, and the scalar
 * reference itself against a float64 dequantize-then-dot built on src/quant's dequantizers.
 *
 * Bounds. Activation quantization must be bit-exact. A dot product of K terms differs between
 * paths only in float summation order (the integer block sums are exact) and in where the block
 * scales are multiplied; each float operation adds a relative error <= 2^-24 of the running
 * magnitude, and a path does at most ~K/32 + 8 additions per accumulator chain, so
 *     |y_simd - y_ref| <= (K/32 + 16) * 2^-24 * M,   M = sum_i |w_i x_i|
 * (with M taken over dequantized values, and for min-carrying types over both halves of
 * w = d*sc*q - dmin*m, since that subtraction can cancel). The float64 check of the reference
 * uses the same bound. */
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "base/threadpool.h"
#include "kernels/kernels.h"
#include "kernels/kernels_internal.h"
#include "quant/quant.h"
#include "kernel_test_util.h"
#include "testutil.h"

/* ---- helpers ---------------------------------------------------------------------------------- */

static const uint32_t k_types[] = {SLM_DT_F32,  SLM_DT_F16,  SLM_DT_BF16, SLM_DT_Q4_0,   SLM_DT_Q4_1,
                                   SLM_DT_Q5_0, SLM_DT_Q5_1, SLM_DT_Q8_0, SLM_DT_IQ4_NL, SLM_DT_Q2_K,
                                   SLM_DT_Q3_K, SLM_DT_Q4_K, SLM_DT_Q5_K, SLM_DT_Q6_K,   SLM_DT_IQ4_XS};
#define N_TYPES (sizeof k_types / sizeof k_types[0])

/* Dequantized activation row (F32 copy, Q8_0 or Q8_K) of k values. */
static void act_to_float(uint32_t act_type, const void *a, int64_t k, float *out) {
    if (act_type == SLM_DT_F32)
        memcpy(out, a, (size_t)k * 4);
    else
        slm_quant_to_float(act_type)(a, out, k);
}

/* ---- matmul ----------------------------------------------------------------------------------- */

typedef struct case_data {
    uint32_t type;
    int64_t k, n_rows, n_tok, ldx, row_bytes;
    uint8_t *w;     /* n_rows rows */
    float *x;       /* n_tok rows of ldx */
    float *wf, *wm; /* dequantized weights and their min parts, n_rows * k */
} case_data;

static void case_make(case_data *c, uint32_t type, int64_t k, int64_t n_rows, int64_t n_tok) {
    c->type = type;
    c->k = k;
    c->n_rows = n_rows;
    c->n_tok = n_tok;
    c->ldx = k + 3;
    uint64_t rb;
    slm_dtype_row_size(type, (uint64_t)k, &rb);
    c->row_bytes = (int64_t)rb;
    c->w = xmalloc((size_t)rb * n_rows);
    c->x = xmalloc(sizeof(float) * c->ldx * n_tok);
    c->wf = xmalloc(sizeof(float) * k * n_rows);
    c->wm = xmalloc(sizeof(float) * k * n_rows);
    float *row = xmalloc(sizeof(float) * k);
    for (int64_t r = 0; r < n_rows; r++) {
        /* Row flavours: uniform, offset (exercises mins), sparse with outliers. */
        int flavour = (int)(r % 3);
        float scale = 0.01f + (float)(rnd_u32() % 100) / 50.0f;
        for (int64_t i = 0; i < k; i++) {
            float v = rnd_unif();
            if (flavour == 1) v = v * 0.5f + 0.7f;
            if (flavour == 2) v = (rnd_u32() % 7 == 0) ? v * 8.0f : v * 0.1f;
            row[i] = v * scale;
        }
        slm_quant_from_float(type)(row, c->w + r * rb, k);
        slm_quant_to_float(type)(c->w + r * rb, c->wf + r * k, k);
        weight_min_part(type, c->w + r * rb, k, c->wm + r * k);
    }
    for (int64_t t = 0; t < n_tok; t++)
        for (int64_t i = 0; i < c->ldx; i++)
            c->x[t * c->ldx + i] = (i < k) ? rnd_act() : NAN; /* pad must be unread */
    free(row);
}

static void case_free(case_data *c) {
    free(c->w);
    free(c->x);
    free(c->wf);
    free(c->wm);
}

/* Check every ISA on one case against the scalar reference, and the reference against float64. */
static void check_case(const slm_kernels *isas[], int n_isa, const case_data *c) {
    const slm_kernels *ref = slm_kernels_for_isa(SLM_ISA_SCALAR);
    const char *tn = slm_dtype_name(c->type);
    size_t asz = slm_matmul_act_size(c->type, c->k, c->n_tok), arb = slm_matmul_act_row_bytes(c->type, c->k);
    int64_t ldy = c->n_rows + 1, ny = c->n_tok * ldy;
    uint8_t *act = xmalloc(asz), *act_ref = xmalloc(asz);
    float *y = xmalloc(sizeof(float) * ny), *y_ref = xmalloc(sizeof(float) * ny);
    double *tol = xmalloc(sizeof(double) * ny);
    float *af = xmalloc(sizeof(float) * c->k);

    slm_matmul_quantize_act(ref, c->type, c->x, c->ldx, c->n_tok, c->k, act_ref, 0, 1);
    for (int64_t i = 0; i < ny; i++)
        y_ref[i] = -7.0f;
    slm_matmul_rows(ref, c->type, c->w, c->row_bytes, act_ref, c->n_tok, c->k, y_ref, ldy, 0, c->n_rows);
    uint32_t at = ref->mm[c->type].act_type;
    int bad = 0;
    for (int64_t t = 0; t < c->n_tok; t++) {
        act_to_float(at, act_ref + t * arb, c->k, af);
        CHECK(y_ref[t * ldy + c->n_rows] == -7.0f, "reference %s: wrote past row end", tn);
        for (int64_t r = 0; r < c->n_rows; r++) {
            double exact = 0, mag = 0;
            const float *wf = c->wf + r * c->k, *wm = c->wm + r * c->k;
            for (int64_t i = 0; i < c->k; i++) {
                exact += (double)wf[i] * af[i];
                mag += (fabs((double)wf[i] + wm[i]) + fabs((double)wm[i])) * fabs((double)af[i]);
            }
            double tl = ((double)c->k / 32 + 16) * 0x1p-24 * mag + 1e-30;
            tol[t * ldy + r] = tl;
            if (!(fabs((double)y_ref[t * ldy + r] - exact) <= tl) && bad++ < 3)
                CHECK(0, "reference %s k=%lld row %lld tok %lld: %.9g vs float64 %.9g (tol %.3g)", tn, (long long)c->k,
                      (long long)r, (long long)t, y_ref[t * ldy + r], exact, tl);
        }
    }
    tu_checks++;

    const slm_dtype_info *ai = slm_dtype_get(at);
    size_t used = (size_t)(c->k / ai->blck_size) * ai->type_size;
    for (int i = 0; i < n_isa; i++) {
        const slm_kernels *kt = isas[i];
        if (kt == ref) continue;
        /* Activation quantization: bit-exact, also when split over 3 threads. */
        memset(act, 0xAB, asz);
        for (int ith = 0; ith < 3; ith++)
            slm_matmul_quantize_act(kt, c->type, c->x, c->ldx, c->n_tok, c->k, act, ith, 3);
        bool same = true;
        for (int64_t t = 0; t < c->n_tok; t++)
            same = same && !memcmp(act + t * arb, act_ref + t * arb, used);
        CHECK(same, "%s %s k=%lld n_tok=%lld: activation bytes differ from the reference", kt->name, tn,
              (long long)c->k, (long long)c->n_tok);
        /* Rows in two uneven parts, to exercise r0 > 0 and tails. */
        int64_t cut = c->n_rows / 3;
        for (int64_t j = 0; j < ny; j++)
            y[j] = -7.0f;
        slm_matmul_rows(kt, c->type, c->w, c->row_bytes, act_ref, c->n_tok, c->k, y, ldy, 0, cut);
        slm_matmul_rows(kt, c->type, c->w, c->row_bytes, act_ref, c->n_tok, c->k, y, ldy, cut, c->n_rows);
        bad = 0;
        for (int64_t t = 0; t < c->n_tok; t++) {
            CHECK(y[t * ldy + c->n_rows] == -7.0f, "%s %s: wrote past row end", kt->name, tn);
            for (int64_t r = 0; r < c->n_rows; r++) {
                int64_t j = t * ldy + r;
                if (!(fabs((double)y[j] - y_ref[j]) <= tol[j]) && bad++ < 3)
                    CHECK(0, "%s %s k=%lld n_tok=%lld row %lld tok %lld: %.9g vs ref %.9g (tol %.3g)", kt->name, tn,
                          (long long)c->k, (long long)c->n_tok, (long long)r, (long long)t, y[j], y_ref[j], tol[j]);
            }
        }
        tu_checks++;
    }
    free(act);
    free(act_ref);
    free(y);
    free(y_ref);
    free(tol);
    free(af);
}

static void test_matmul_paths(const slm_kernels *isas[], int n_isa) {
    static const int64_t toks[] = {1, 2, 3, 7, 16, 33};
    for (size_t ti = 0; ti < N_TYPES; ti++) {
        uint32_t type = k_types[ti];
        const slm_dtype_info *di = slm_dtype_get(type);
        int64_t ks[6] = {256, 512, 2304, 0, 0, 0};
        if (di->blck_size == 32) {
            ks[3] = 32;
            ks[4] = 96;
        } else if (di->blck_size == 1) {
            ks[3] = 32;
            ks[4] = 33;
            ks[5] = 7;
        }
        for (int ki = 0; ki < 6 && ks[ki]; ki++) {
            int64_t n_rows = ks[ki] >= 2304 ? 21 : 37;
            case_data c;
            case_make(&c, type, ks[ki], n_rows, 33);
            for (size_t nt = 0; nt < sizeof toks / sizeof toks[0]; nt++) {
                case_data v = c;
                v.n_tok = toks[nt];
                check_case(isas, n_isa, &v);
            }
            case_free(&c);
        }
    }
}

/* The pooled driver (both phases, barrier, row split, token chunking past 64) against the
 * scalar reference, for one type of each family. */
static void test_matmul_pool(const slm_kernels *kt) {
    static const uint32_t types[] = {SLM_DT_Q4_0, SLM_DT_Q4_K, SLM_DT_F16, SLM_DT_Q6_K};
    const slm_kernels *ref = slm_kernels_for_isa(SLM_ISA_SCALAR);
    slm_threadpool *pool = NULL;
    slm_error err;
    CHECK(slm_threadpool_new(3, &pool, &err) == SLM_OK, "pool: %s", err.msg);
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        case_data c;
        case_make(&c, types[i], 512, 45, 70);
        size_t asz = slm_matmul_act_size(c.type, c.k, c.n_tok);
        uint8_t *act = xmalloc(asz), *act_ref = xmalloc(asz);
        float *y = xmalloc(sizeof(float) * 70 * 45), *y_ref = xmalloc(sizeof(float) * 70 * 45);
        slm_matmul(ref, NULL, c.type, c.w, c.row_bytes, c.n_rows, c.x, c.ldx, c.n_tok, c.k, act_ref, y_ref, 45);
        for (int rep = 0; rep < 2; rep++) {
            slm_threadpool *p = rep ? pool : NULL;
            slm_matmul(kt, p, c.type, c.w, c.row_bytes, c.n_rows, c.x, c.ldx, c.n_tok, c.k, act, y, 45);
            int bad = 0;
            for (int64_t j = 0; j < 70 * 45; j++) {
                /* float-order bound of check_case (magnitudes from x: activations round to ~x) */
                const int64_t t = j / 45, r = j % 45;
                double mag = 0;
                for (int64_t e = 0; e < c.k; e++)
                    mag += (fabs((double)c.wf[r * c.k + e] + c.wm[r * c.k + e]) + fabs((double)c.wm[r * c.k + e])) *
                           fabs((double)c.x[t * c.ldx + e]) * 1.01;
                const double tol = ((double)c.k / 32 + 16) * 0x1p-24 * mag + 1e-30;
                if (!(fabs((double)y[j] - y_ref[j]) <= tol)) bad++;
            }
            CHECK(bad == 0, "%s slm_matmul %s (pool %d): %d of %d outputs off", kt->name, slm_dtype_name(c.type), rep,
                  bad, 70 * 45);
        }
        free(act);
        free(act_ref);
        free(y);
        free(y_ref);
        case_free(&c);
    }
    slm_threadpool_free(pool);
}

/* kernels_next_rows from real pool threads: every row taken exactly once, every chunk whole
 * 16-row tiles (but the last), each thread's first chunk its own index. */
typedef struct next_rows_probe {
    kernels_matmul_task m;
    _Atomic int *seen;
    _Atomic int bad;
} next_rows_probe;

static void next_rows_task(void *arg, int ith, int nth) {
    next_rows_probe *p = arg;
    int64_t r0, r1;
    int taken = 0;
    while (kernels_next_rows(&p->m, ith, nth, &taken, &r0, &r1)) {
        if (r0 % SLM_MATMUL_ROW_ALIGN != 0 || (r1 % SLM_MATMUL_ROW_ALIGN != 0 && r1 != p->m.n_rows) || r1 <= r0)
            atomic_fetch_add(&p->bad, 1);
        for (int64_t r = r0; r < r1; r++) atomic_fetch_add(&p->seen[r], 1);
    }
}

static void test_next_rows(void) {
    static const int64_t rows[] = {0, 1, 15, 16, 17, 45, 128, 512, 896, 4864, 151936};
    static const int threads[] = {1, 2, 3, 7};
    for (size_t ti = 0; ti < sizeof threads / sizeof threads[0]; ti++) {
        slm_threadpool *pool = NULL;
        slm_error err;
        CHECK(slm_threadpool_new(threads[ti], &pool, &err) == SLM_OK, "pool: %s", err.msg);
        for (size_t ri = 0; ri < sizeof rows / sizeof rows[0]; ri++) {
            for (int rep = 0; rep < 3; rep++) {
                next_rows_probe p = {.m = {.n_rows = rows[ri]}};
                p.seen = xmalloc(sizeof(_Atomic int) * (size_t)(rows[ri] + 1));
                for (int64_t r = 0; r < rows[ri]; r++) atomic_init(&p.seen[r], 0);
                atomic_init(&p.bad, 0);
                slm_threadpool_run(pool, next_rows_task, &p);
                int64_t wrong = 0;
                for (int64_t r = 0; r < rows[ri]; r++) wrong += atomic_load(&p.seen[r]) != 1;
                CHECK(wrong == 0 && atomic_load(&p.bad) == 0,
                      "kernels_next_rows %lld rows, %d threads: %lld rows not taken exactly once, %d bad chunks",
                      (long long)rows[ri], threads[ti], (long long)wrong, atomic_load(&p.bad));
                free((void *)p.seen);
            }
        }
        slm_threadpool_free(pool);
    }
}

/* ---- precise matmul (kernels.h gemm2 / slm_matmul_precise) ------------------------------------ */

/* One case: scalar act2 bytes = 2 rows per token (row 2t exactly the plain activation row, row
 * 2t+1 its quantized residual); every ISA's act2 bit-exact (also split over 3 threads); every
 * ISA's gemm2 within the float-order bound of the scalar gemm2, which equals the plain scalar
 * gemm of both rows summed; and the paired activation ~100x closer to x than the plain one. */
static void check_precise_case(const slm_kernels *isas[], int n_isa, const case_data *c) {
    const slm_kernels *ref = slm_kernels_for_isa(SLM_ISA_SCALAR);
    const char *tn = slm_dtype_name(c->type);
    const uint32_t at = ref->mm[c->type].act_type;
    const size_t arb = slm_matmul_act_row_bytes(c->type, c->k), asz = slm_matmul_act_size(c->type, c->k, 2 * c->n_tok);
    const int64_t ldy = c->n_rows + 1, ny = c->n_tok * ldy;
    uint8_t *act = xmalloc(asz), *act_ref = xmalloc(asz), *act1 = xmalloc(asz);
    float *y = xmalloc(sizeof(float) * ny), *y_ref = xmalloc(sizeof(float) * ny);
    float *y2 = xmalloc(sizeof(float) * 2 * c->n_tok * ldy);
    float *a0 = xmalloc(sizeof(float) * c->k), *a1 = xmalloc(sizeof(float) * c->k);
    double *tol = xmalloc(sizeof(double) * ny);
    CHECK(slm_matmul_has_precise(ref, c->type), "scalar %s: no precise matmul", tn);

    slm_matmul_quantize_act2(ref, c->type, c->x, c->ldx, c->n_tok, c->k, act_ref, 0, 1);
    slm_matmul_quantize_act(ref, c->type, c->x, c->ldx, c->n_tok, c->k, act1, 0, 1);
    const slm_dtype_info *ai = slm_dtype_get(at);
    const size_t used = (size_t)(c->k / ai->blck_size) * ai->type_size;
    double err1 = 0, err2 = 0;
    for (int64_t t = 0; t < c->n_tok; t++) {
        CHECK(!memcmp(act_ref + (size_t)(2 * t) * arb, act1 + (size_t)t * arb, used),
              "scalar %s: precise row %lld is not the plain activation row", tn, (long long)t);
        act_to_float(at, act_ref + (size_t)(2 * t) * arb, c->k, a0);
        act_to_float(at, act_ref + (size_t)(2 * t + 1) * arb, c->k, a1);
        for (int64_t i = 0; i < c->k; i++) {
            const double xv = c->x[t * c->ldx + i];
            err1 = fmax(err1, fabs(xv - a0[i]));
            err2 = fmax(err2, fabs(xv - ((double)a0[i] + a1[i])));
        }
        for (int64_t r = 0; r < c->n_rows; r++) {
            double mag = 0;
            const float *wf = c->wf + r * c->k, *wm = c->wm + r * c->k;
            for (int64_t i = 0; i < c->k; i++)
                mag += (fabs((double)wf[i] + wm[i]) + fabs((double)wm[i])) * (fabs((double)a0[i]) + fabs((double)a1[i]));
            tol[t * ldy + r] = ((double)c->k / 32 + 16) * 0x1p-24 * mag + 1e-30;
        }
    }
    CHECK(err2 <= err1 / 64, "scalar %s k=%lld: residual does not refine: max error %g vs %g", tn, (long long)c->k,
          err2, err1);
    /* scalar gemm2 == scalar gemm on the 2 n_tok rows, pairs summed (same float operations) */
    for (int64_t j = 0; j < ny; j++)
        y_ref[j] = -7.0f;
    slm_matmul_rows2(ref, c->type, c->w, c->row_bytes, act_ref, c->n_tok, c->k, y_ref, ldy, 0, c->n_rows);
    slm_matmul_rows(ref, c->type, c->w, c->row_bytes, act_ref, 2 * c->n_tok, c->k, y2, ldy, 0, c->n_rows);
    int bad = 0;
    for (int64_t t = 0; t < c->n_tok; t++) {
        CHECK(y_ref[t * ldy + c->n_rows] == -7.0f, "scalar %s gemm2: wrote past row end", tn);
        for (int64_t r = 0; r < c->n_rows; r++)
            bad += y_ref[t * ldy + r] != y2[2 * t * ldy + r] + y2[(2 * t + 1) * ldy + r];
    }
    CHECK(bad == 0, "scalar %s gemm2: %d outputs differ from gemm on both rows", tn, bad);

    for (int i = 0; i < n_isa; i++) {
        const slm_kernels *kt = isas[i];
        /* A table without precise tiles (gemm2 NULL): slm_matmul_rows2 pairs the table's gemm. */
        slm_kernels no2 = *kt;
        no2.mm[c->type].gemm2 = NULL;
        CHECK(slm_matmul_has_precise(&no2, c->type), "%s %s: no precise matmul without gemm2", kt->name, tn);
        for (int64_t j = 0; j < ny; j++)
            y[j] = -7.0f;
        slm_matmul_rows2(&no2, c->type, c->w, c->row_bytes, act_ref, c->n_tok, c->k, y, ldy, 0, c->n_rows);
        bad = 0;
        for (int64_t t = 0; t < c->n_tok; t++) {
            bad += y[t * ldy + c->n_rows] != -7.0f;
            for (int64_t r = 0; r < c->n_rows; r++)
                bad += !(fabs((double)y[t * ldy + r] - y_ref[t * ldy + r]) <= tol[t * ldy + r]);
        }
        CHECK(bad == 0, "%s %s k=%lld n_tok=%lld: gemm-paired fallback: %d outputs off", kt->name, tn,
              (long long)c->k, (long long)c->n_tok, bad);
        if (kt == ref) continue;
        memset(act, 0xAB, asz);
        for (int ith = 0; ith < 3; ith++)
            slm_matmul_quantize_act2(kt, c->type, c->x, c->ldx, c->n_tok, c->k, act, ith, 3);
        bool same = true;
        for (int64_t t = 0; t < 2 * c->n_tok; t++)
            same = same && !memcmp(act + (size_t)t * arb, act_ref + (size_t)t * arb, used);
        CHECK(same, "%s %s k=%lld n_tok=%lld: precise activation bytes differ from the reference", kt->name, tn,
              (long long)c->k, (long long)c->n_tok);
        const int64_t cut = c->n_rows / 3;
        for (int64_t j = 0; j < ny; j++)
            y[j] = -7.0f;
        slm_matmul_rows2(kt, c->type, c->w, c->row_bytes, act_ref, c->n_tok, c->k, y, ldy, 0, cut);
        slm_matmul_rows2(kt, c->type, c->w, c->row_bytes, act_ref, c->n_tok, c->k, y, ldy, cut, c->n_rows);
        bad = 0;
        for (int64_t t = 0; t < c->n_tok; t++) {
            CHECK(y[t * ldy + c->n_rows] == -7.0f, "%s %s gemm2: wrote past row end", kt->name, tn);
            for (int64_t r = 0; r < c->n_rows; r++) {
                const int64_t j = t * ldy + r;
                if (!(fabs((double)y[j] - y_ref[j]) <= tol[j]) && bad++ < 3)
                    CHECK(0, "%s %s gemm2 k=%lld n_tok=%lld row %lld tok %lld: %.9g vs ref %.9g (tol %.3g)", kt->name,
                          tn, (long long)c->k, (long long)c->n_tok, (long long)r, (long long)t, y[j], y_ref[j], tol[j]);
            }
        }
        tu_checks++;
    }
    free(act);
    free(act_ref);
    free(act1);
    free(y);
    free(y_ref);
    free(y2);
    free(a0);
    free(a1);
    free(tol);
}

static void test_matmul_precise(const slm_kernels *isas[], int n_isa) {
    static const int64_t toks[] = {1, 2, 3, 5, 8, 33};
    for (size_t ti = 0; ti < N_TYPES; ti++) {
        const uint32_t type = k_types[ti];
        const slm_dtype_info *di = slm_dtype_get(type);
        if (di->blck_size == 1) {
            /* float weights: F32 activations, nothing to refine; the precise driver is plain */
            for (int i = 0; i < n_isa; i++)
                CHECK(!slm_matmul_has_precise(isas[i], type), "%s %s: precise matmul on float weights",
                      isas[i]->name, slm_dtype_name(type));
            continue;
        }
        const int64_t ks[] = {di->blck_size == 32 ? 96 : 256, 512, 2304};
        for (size_t ki = 0; ki < 3; ki++) {
            case_data c;
            case_make(&c, type, ks[ki], ks[ki] >= 2304 ? 11 : 23, 33);
            for (size_t nt = 0; nt < sizeof toks / sizeof toks[0]; nt++) {
                case_data v = c;
                v.n_tok = toks[nt];
                check_precise_case(isas, n_isa, &v);
            }
            case_free(&c);
        }
    }
}

/* The pooled precise driver (block-split quantization for one token, token chunking past 32)
 * against the scalar one, and its error against the float64 product of the dequantized weights
 * with the unquantized x: far below the plain (8-bit activation) matmul's. */
static void test_matmul_precise_pool(const slm_kernels *kt) {
    static const uint32_t types[] = {SLM_DT_Q4_0, SLM_DT_Q4_K, SLM_DT_Q6_K, SLM_DT_Q8_0, SLM_DT_F16};
    static const int64_t toks[] = {1, 70};
    const slm_kernels *ref = slm_kernels_for_isa(SLM_ISA_SCALAR);
    slm_threadpool *pool = NULL;
    slm_error err;
    CHECK(slm_threadpool_new(3, &pool, &err) == SLM_OK, "pool: %s", err.msg);
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        for (size_t ti = 0; ti < 2; ti++) {
            const int64_t nt = toks[ti], nr = 45;
            case_data c;
            case_make(&c, types[i], 512, nr, nt);
            const size_t asz = slm_matmul_act_size(c.type, c.k, 2 * nt);
            uint8_t *act = xmalloc(asz);
            float *y = xmalloc(sizeof(float) * nt * nr), *y_ref = xmalloc(sizeof(float) * nt * nr);
            float *y8 = xmalloc(sizeof(float) * nt * nr);
            slm_matmul_precise(ref, NULL, c.type, c.w, c.row_bytes, nr, c.x, c.ldx, nt, c.k, act, y_ref, nr);
            slm_matmul(kt, pool, c.type, c.w, c.row_bytes, nr, c.x, c.ldx, nt, c.k, act, y8, nr);
            slm_matmul_precise(kt, pool, c.type, c.w, c.row_bytes, nr, c.x, c.ldx, nt, c.k, act, y, nr);
            int bad = 0;
            double e8 = 0, e16 = 0;
            for (int64_t t = 0; t < nt; t++)
                for (int64_t r = 0; r < nr; r++) {
                    const int64_t j = t * nr + r;
                    if (!(fabs((double)y[j] - y_ref[j]) <= 1e-4 * (fabs(y_ref[j]) + 1.0))) bad++;
                    double exact = 0;
                    for (int64_t q = 0; q < c.k; q++) exact += (double)c.wf[r * c.k + q] * c.x[t * c.ldx + q];
                    e8 = fmax(e8, fabs(y8[j] - exact));
                    e16 = fmax(e16, fabs(y[j] - exact));
                }
            CHECK(bad == 0, "%s slm_matmul_precise %s n_tok %lld: %d outputs off the reference", kt->name,
                  slm_dtype_name(c.type), (long long)nt, bad);
            if (c.type == SLM_DT_F16)
                CHECK(e16 == e8, "%s F16: precise differs from plain (%g vs %g)", kt->name, e16, e8);
            else
                CHECK(e16 <= e8 / 20, "%s %s n_tok %lld: precise error %g not << plain %g", kt->name,
                      slm_dtype_name(c.type), (long long)nt, e16, e8);
            free(act);
            free(y);
            free(y_ref);
            free(y8);
            case_free(&c);
        }
    }
    slm_threadpool_free(pool);
}

static void test_matmul_check(void) {
    slm_error err;
    CHECK(slm_matmul_check(SLM_DT_Q4_K, 512, 288, &err) == SLM_OK, "%s", err.msg);
    CHECK(slm_matmul_check(SLM_DT_Q4_K, 96, 54, &err) == SLM_E_FORMAT, "Q4_K k=96 accepted");
    CHECK(slm_matmul_check(SLM_DT_Q4_0, 64, 37, &err) == SLM_E_FORMAT, "wrong row bytes accepted");
    CHECK(slm_matmul_check(SLM_DT_Q4_0, -32, 0, &err) == SLM_E_FORMAT, "negative k accepted");
    CHECK(slm_matmul_check(SLM_DT_IQ2_XXS, 256, 66, &err) == SLM_E_UNSUPPORTED, "IQ2_XXS accepted");
    CHECK(slm_matmul_check(999, 256, 66, &err) == SLM_E_UNSUPPORTED, "type 999 accepted");
    CHECK(slm_matmul_act_size(SLM_DT_Q4_0, 64, INT64_MAX) == 0, "overflowing act size not 0");
    CHECK(slm_matmul_act_row_bytes(SLM_DT_Q8_0, 64) == 96, "Q8_0 act row of 64 = %zu",
          slm_matmul_act_row_bytes(SLM_DT_Q8_0, 64));
    CHECK(!slm_matmul_supported(SLM_DT_Q6_K, 32), "Q6_K k=32 supported");
    CHECK(slm_matmul_supported(SLM_DT_F32, 5), "F32 k=5 unsupported");
}

/* ---- vector ops ------------------------------------------------------------------------------- */

static void test_vector_ops(const slm_kernels *kt) {
    const slm_kernels *ref = slm_kernels_for_isa(SLM_ISA_SCALAR);
    static const int64_t ns[] = {0, 1, 7, 8, 15, 16, 31, 33, 100, 1000};
    float *a = xmalloc(4000), *b = xmalloc(4000), *y1 = xmalloc(4000), *y2 = xmalloc(4000);
    slm_f16 *h = xmalloc(2000), *h2 = xmalloc(2000);
    for (size_t ni = 0; ni < sizeof ns / sizeof ns[0]; ni++) {
        int64_t n = ns[ni];
        double mag = 0;
        for (int64_t i = 0; i < n; i++) {
            a[i] = rnd_act();
            b[i] = rnd_act();
            h[i] = slm_f32_to_f16(b[i]);
            mag += fabs((double)a[i] * b[i]);
        }
        double tol = ((double)n / 8 + 16) * 0x1p-24 * mag + 1e-30;
        CHECK(fabs((double)kt->dot_f32(a, b, n) - ref->dot_f32(a, b, n)) <= tol, "%s dot_f32 n=%lld", kt->name,
              (long long)n);
        CHECK(fabs((double)kt->dot_f16_f32(h, a, n) - ref->dot_f16_f32(h, a, n)) <= tol * 1.01 + 1e-6 * mag,
              "%s dot_f16_f32 n=%lld", kt->name, (long long)n);
        memcpy(y1, b, (size_t)n * 4);
        memcpy(y2, b, (size_t)n * 4);
        kt->axpy_f32(y1, 0.37f, a, n);
        ref->axpy_f32(y2, 0.37f, a, n);
        int bad = 0;
        for (int64_t i = 0; i < n; i++)
            bad += !(fabsf(y1[i] - y2[i]) <= 1e-6f * (fabsf(b[i]) + fabsf(a[i])));
        CHECK(!bad, "%s axpy_f32 n=%lld", kt->name, (long long)n);
        memcpy(y1, b, (size_t)n * 4);
        memcpy(y2, b, (size_t)n * 4);
        kt->axpy_f16(y1, -1.5f, h, n);
        ref->axpy_f16(y2, -1.5f, h, n);
        bad = 0;
        for (int64_t i = 0; i < n; i++)
            bad += !(fabsf(y1[i] - y2[i]) <= 1e-6f * (fabsf(b[i]) * 3 + 1e-3f));
        CHECK(!bad, "%s axpy_f16 n=%lld", kt->name, (long long)n);
        memcpy(y1, a, (size_t)n * 4);
        kt->scale_f32(y1, 0.125f, n);
        bad = 0;
        for (int64_t i = 0; i < n; i++)
            bad += y1[i] != a[i] * 0.125f;
        CHECK(!bad, "%s scale_f32 n=%lld", kt->name, (long long)n);
    }
    /* f16 conversions: bit-exact over every half value and awkward floats. */
    static const float specials[] = {0.0f,          -0.0f,         65504.0f,       65520.0f,       65519.99f,
                                     1e-8f,         5.9604645e-8f, 2.9802322e-8f,  2.9802326e-8f,  6.1035156e-5f,
                                     6.1035152e-5f, 1e10f,         -1e10f,         INFINITY,       -INFINITY,
                                     NAN,           1.0009765625f, 1.00048828125f, 1.00146484375f, -3.14159f};
    int bad = 0;
    for (int blk = 0; blk < 65536; blk += 500) {
        int n = 500;
        for (int i = 0; i < n; i++)
            h[i] = (slm_f16)(blk + i);
        kt->f16_to_f32(h, y1, n);
        ref->f16_to_f32(h, y2, n);
        /* NaN halves stay NaN; F16C quiets signalling NaNs, so payloads are not compared. */
        for (int i = 0; i < n; i++)
            bad += isnan(y2[i]) ? !isnan(y1[i]) : memcmp(&y1[i], &y2[i], 4) != 0;
        for (int i = 0; i < n; i++)
            y1[i] = y2[i] * (1.0f + rnd_unif() * 1e-3f);
        kt->f32_to_f16(y1, h, n);
        ref->f32_to_f16(y1, h2, n);
        bad += memcmp(h, h2, (size_t)n * 2) != 0;
    }
    int ns2 = (int)(sizeof specials / sizeof specials[0]);
    kt->f32_to_f16(specials, h, ns2);
    ref->f32_to_f16(specials, h2, ns2);
    bad += memcmp(h, h2, (size_t)ns2 * 2) != 0;
    CHECK(!bad, "%s f16 conversions differ from the reference", kt->name);
    /* Q8_0 KV rows: bit-exact with the reference quantizer. */
    for (int i = 0; i < 256; i++)
        a[i] = rnd_act() * (i < 32 ? 0.0f : 1.0f);
    a[40] = 127.5f / 127.0f; /* exact .5 ties after scaling */
    uint8_t q1[8 * 34], q2[8 * 34];
    kt->q8_0_from_f32(a, q1, 256);
    quantize_row_q8_0_ref(a, (block_q8_0 *)q2, 256);
    CHECK(!memcmp(q1, q2, sizeof q1), "%s q8_0_from_f32 differs from quantize_row_q8_0_ref", kt->name);
    kt->q8_0_to_f32(q1, y1, 256);
    dequantize_row_q8_0((const block_q8_0 *)q2, y2, 256);
    CHECK(!memcmp(y1, y2, 256 * 4), "%s q8_0_to_f32 differs", kt->name);
    free(a);
    free(b);
    free(y1);
    free(y2);
    free(h);
    free(h2);
}

/* Activation quantizers on edge rows: zeros, one value, ties, huge and tiny magnitudes. */
static void test_act_edges(const slm_kernels *kt) {
    const slm_kernels *ref = slm_kernels_for_isa(SLM_ISA_SCALAR);
    float x[4][512];
    for (int i = 0; i < 512; i++) {
        x[0][i] = 0.0f;
        x[1][i] = (i == 300) ? -3.0f : 0.0f;
        x[2][i] = (float)((i % 255) - 127) / 127.0f * 0.5f; /* many exact halves after scaling */
        x[3][i] = (i % 2 ? 1e-30f : -1e30f) * (float)(i % 5);
    }
    static const uint32_t types[] = {SLM_DT_Q4_0, SLM_DT_Q4_K, SLM_DT_F32};
    for (size_t ti = 0; ti < 3; ti++) {
        size_t asz = slm_matmul_act_size(types[ti], 512, 4);
        uint8_t *a1 = xmalloc(asz), *a2 = xmalloc(asz);
        slm_matmul_quantize_act(kt, types[ti], &x[0][0], 512, 4, 512, a1, 0, 1);
        slm_matmul_quantize_act(ref, types[ti], &x[0][0], 512, 4, 512, a2, 0, 1);
        CHECK(!memcmp(a1, a2, asz), "%s: edge activations for %s differ", kt->name, slm_dtype_name(types[ti]));
        free(a1);
        free(a2);
    }
}

/* ---- thread pool ------------------------------------------------------------------------------ */

typedef struct pool_probe {
    slm_threadpool *pool;
    int hits[16];
    int phase_ok;
    int nth_seen;
    _Atomic int counter;
} pool_probe;

static void probe_fn(void *arg, int ith, int nth) {
    pool_probe *p = arg;
    p->hits[ith]++;
    p->nth_seen = nth;
    atomic_fetch_add(&p->counter, 1);
    slm_threadpool_barrier(p->pool);
    /* After the barrier every thread's increment is visible. */
    if (atomic_load(&p->counter) != nth) p->phase_ok = 0;
    slm_threadpool_barrier(p->pool);
    if (ith == 0) atomic_store(&p->counter, 0);
    slm_threadpool_barrier(p->pool);
}

static void test_threadpool(void) {
    slm_error err;
    slm_threadpool *bad = (slm_threadpool *)1;
    CHECK(slm_threadpool_new(0, &bad, &err) == SLM_E_INVALID_ARG && bad == NULL, "0 threads accepted");
    CHECK(slm_threadpool_new(SLM_THREADPOOL_MAX + 1, &bad, &err) == SLM_E_INVALID_ARG, "too many accepted");
    slm_threadpool_free(NULL);
    for (int n = 1; n <= 4; n++) {
        slm_threadpool *pool;
        CHECK(slm_threadpool_new(n, &pool, &err) == SLM_OK, "new(%d): %s", n, err.msg);
        CHECK(slm_threadpool_n_threads(pool) == n, "n_threads");
        pool_probe p;
        memset(&p, 0, sizeof p);
        p.pool = pool;
        p.phase_ok = 1;
        int runs = 400;
        for (int r = 0; r < runs; r++)
            slm_threadpool_run(pool, probe_fn, &p);
        int ok = p.nth_seen == n && p.phase_ok;
        for (int i = 0; i < n; i++)
            ok = ok && p.hits[i] == runs;
        CHECK(ok, "pool of %d: every thread must run every time and barriers must hold", n);
        slm_threadpool_free(pool);
    }
    /* NULL pool runs inline. */
    pool_probe p;
    memset(&p, 0, sizeof p);
    p.phase_ok = 1;
    slm_threadpool_run(NULL, probe_fn, &p);
    CHECK(p.hits[0] == 1 && p.nth_seen == 1 && p.phase_ok, "NULL pool");
    /* split_range covers [0, n) exactly, in order, with aligned cuts. */
    int ok = 1;
    for (int64_t n = 0; n < 100; n += 7)
        for (int nth = 1; nth < 6; nth++)
            for (int64_t al = 1; al <= 16; al *= 4) {
                int64_t prev = 0;
                for (int i = 0; i < nth; i++) {
                    int64_t r0, r1;
                    slm_split_range(n, i, nth, al, &r0, &r1);
                    ok = ok && r0 == prev && r1 >= r0 && (r0 % al == 0 || r0 == n);
                    prev = r1;
                }
                ok = ok && prev == n;
            }
    CHECK(ok, "slm_split_range");
    CHECK(slm_cpu_count_physical() >= 1, "physical cores");
}

static void test_isa_env(void) {
    slm_error err;
    setenv("SLM_ISA", "bogus", 1);
    CHECK(slm_kernels_init(&err) == SLM_E_INVALID_ARG, "SLM_ISA=bogus accepted");
    setenv("SLM_ISA", "scalar", 1);
    CHECK(slm_kernels_init(&err) == SLM_OK, "SLM_ISA=scalar: %s", err.msg);
    for (int i = 0; i < SLM_ISA_COUNT; i++) {
        setenv("SLM_ISA", slm_isa_name((slm_isa)i), 1);
        slm_status st = slm_kernels_init(&err);
        CHECK((st == SLM_OK) == (slm_kernels_for_isa((slm_isa)i) != NULL), "SLM_ISA=%s: status %d",
              slm_isa_name((slm_isa)i), st);
    }
    unsetenv("SLM_ISA");
    CHECK(slm_kernels_get() != NULL, "slm_kernels_get");
}

/* Attention chunk kernels against the scalar reference: every head count 1..9 (blocks of 4 plus
 * remainders), head sizes with and without an 8-element tail, chunks of 1..32 rows; exp_shift_sum
 * against expf over the softmax range (relative error, the polynomial is good to ~2e-7). */
static void test_attn_kernels(const slm_kernels *kt) {
    const slm_kernels *ref = slm_kernels_for_isa(SLM_ISA_SCALAR);
    static const int64_t hds[] = {8, 64, 72, 128, 13, 256};
    enum { MAXH = 9, MAXHD = 256, CH = 32 };
    float *q = xmalloc(sizeof(float) * MAXH * MAXHD), *s1 = xmalloc(sizeof(float) * MAXH * CH),
          *s2 = xmalloc(sizeof(float) * MAXH * CH), *a1 = xmalloc(sizeof(float) * MAXH * MAXHD),
          *a2 = xmalloc(sizeof(float) * MAXH * MAXHD);
    slm_f16 *rows = xmalloc(sizeof(slm_f16) * CH * MAXHD * 2);
    const slm_f16 *kp[CH], *vp[CH];
    block_q8_0 *q8rows = xmalloc(sizeof(block_q8_0) * CH * 2 * (MAXHD / 32));
    int bad_s = 0, bad_a = 0, bad_s8 = 0, bad_a8 = 0;
    for (size_t hi = 0; hi < sizeof hds / sizeof hds[0]; hi++) {
        const int64_t hd = hds[hi];
        for (int64_t nh = 1; nh <= MAXH; nh++) {
            for (int n = 1; n <= CH; n += 7) {
                for (int64_t i = 0; i < nh * hd; i++) q[i] = rnd_act();
                for (int i = 0; i < n; i++) {
                    /* rows at odd element offsets: the kernels must not assume alignment */
                    kp[i] = rows + (size_t)i * 2 * MAXHD + 1;
                    vp[i] = rows + (size_t)i * 2 * MAXHD + MAXHD + 1;
                    for (int64_t d = 0; d < hd; d++) {
                        rows[(size_t)i * 2 * MAXHD + 1 + d] = slm_f32_to_f16(rnd_act());
                        if (MAXHD + 1 + d < 2 * MAXHD) rows[(size_t)i * 2 * MAXHD + MAXHD + 1 + d] = slm_f32_to_f16(rnd_act());
                    }
                }
                kt->attn_scores_f16(q, nh, hd, kp, n, s1, CH);
                ref->attn_scores_f16(q, nh, hd, kp, n, s2, CH);
                for (int64_t h = 0; h < nh; h++)
                    for (int i = 0; i < n; i++) {
                        double mag = 0;
                        for (int64_t d = 0; d < hd; d++) mag += fabs(q[h * hd + d] * slm_f16_to_f32(kp[i][d]));
                        if (fabs((double)s1[h * CH + i] - s2[h * CH + i]) > 1e-6 * mag + 1e-30) bad_s++;
                    }
                for (int64_t i = 0; i < nh * CH; i++) s1[i] = (rnd_u32() & 1023) / 1024.0f;
                for (int64_t i = 0; i < nh * hd; i++) a1[i] = a2[i] = rnd_act();
                kt->attn_accum_f16(a1, nh, hd, vp, n, s1, CH);
                ref->attn_accum_f16(a2, nh, hd, vp, n, s1, CH);
                for (int64_t i = 0; i < nh * hd; i++)
                    if (fabs((double)a1[i] - a2[i]) > 1e-5 * (n + 1)) bad_a++;
                if (hd % 32) continue;
                /* Q8_0 KV rows: the same rows quantized (block pointers 2-byte aligned only) */
                const block_q8_0 *kq[CH], *vq[CH];
                float tmp[MAXHD];
                for (int i = 0; i < n; i++) {
                    for (int64_t d = 0; d < hd; d++) tmp[d] = slm_f16_to_f32(kp[i][d]);
                    quantize_row_q8_0_ref(tmp, &q8rows[(size_t)i * 2 * (MAXHD / 32)], hd);
                    for (int64_t d = 0; d < hd; d++) tmp[d] = slm_f16_to_f32(vp[i][d]);
                    quantize_row_q8_0_ref(tmp, &q8rows[(size_t)i * 2 * (MAXHD / 32) + MAXHD / 32], hd);
                    kq[i] = &q8rows[(size_t)i * 2 * (MAXHD / 32)];
                    vq[i] = &q8rows[(size_t)i * 2 * (MAXHD / 32) + MAXHD / 32];
                }
                kt->attn_scores_q8(q, nh, hd, kq, n, s1, CH);
                ref->attn_scores_q8(q, nh, hd, kq, n, s2, CH);
                for (int64_t h = 0; h < nh; h++)
                    for (int i = 0; i < n; i++) {
                        double mag = 0;
                        for (int64_t d = 0; d < hd; d++)
                            mag += fabs(q[h * hd + d] * slm_f16_to_f32(kq[i][d / 32].d) * kq[i][d / 32].qs[d % 32]);
                        if (fabs((double)s1[h * CH + i] - s2[h * CH + i]) > 1e-6 * mag + 1e-30) bad_s8++;
                    }
                for (int64_t i = 0; i < nh * CH; i++) s1[i] = (rnd_u32() & 1023) / 1024.0f;
                for (int64_t i = 0; i < nh * hd; i++) a1[i] = a2[i] = rnd_act();
                kt->attn_accum_q8(a1, nh, hd, vq, n, s1, CH);
                ref->attn_accum_q8(a2, nh, hd, vq, n, s1, CH);
                for (int64_t i = 0; i < nh * hd; i++)
                    if (fabs((double)a1[i] - a2[i]) > 1e-5 * (n + 1)) bad_a8++;
            }
        }
    }
    CHECK(bad_s == 0, "%s attn_scores_f16: %d mismatches", kt->name, bad_s);
    CHECK(bad_a == 0, "%s attn_accum_f16: %d mismatches", kt->name, bad_a);
    CHECK(bad_s8 == 0, "%s attn_scores_q8: %d mismatches", kt->name, bad_s8);
    CHECK(bad_a8 == 0, "%s attn_accum_q8: %d mismatches", kt->name, bad_a8);
    free(q8rows);
    /* exp_shift_sum over [m - 100, m], incl. tails of every length mod 8 */
    for (int n = 0; n <= 40; n++) {
        float x[40], y[40];
        const float m = 3.5f;
        for (int i = 0; i < n; i++) x[i] = y[i] = m - 100.0f * (rnd_u32() & 0xFFFF) / 65536.0f * (i % 3 ? 0.05f : 1.0f);
        if (n) x[0] = y[0] = m; /* the max itself: weight exactly 1 */
        const float sa = kt->exp_shift_sum(x, n, m), sb = ref->exp_shift_sum(y, n, m);
        int bad = 0;
        for (int i = 0; i < n; i++)
            if (fabs((double)x[i] - y[i]) > 4e-7 * y[i] + 1e-37) bad++;
        CHECK(bad == 0 && fabs((double)sa - sb) <= 1e-6 * sb, "%s exp_shift_sum n=%d: %d bad, sum %g vs %g", kt->name,
              n, bad, sa, sb);
        if (n) CHECK(x[0] == 1.0f, "%s exp_shift_sum: exp(0) = %.9g", kt->name, x[0]);
    }
    free(q);
    free(s1);
    free(s2);
    free(a1);
    free(a2);
    free(rows);
}

int main(void) {
    const slm_kernels *isas[SLM_ISA_COUNT];
    int n_isa = 0;
    for (int i = 0; i < SLM_ISA_COUNT; i++) {
        const slm_kernels *kt = slm_kernels_for_isa((slm_isa)i);
        if (kt)
            isas[n_isa++] = kt;
        else
            printf("test_kernels: ISA %s not available on this CPU/build: skipped\n", slm_isa_name((slm_isa)i));
    }
    printf("test_kernels: testing");
    for (int i = 0; i < n_isa; i++)
        printf(" %s", isas[i]->name);
    printf(" (active: %s)\n", slm_kernels_get()->name);
    test_threadpool();
    test_next_rows();
    test_isa_env();
    test_matmul_check();
    for (int i = 0; i < n_isa; i++) {
        test_vector_ops(isas[i]);
        test_act_edges(isas[i]);
        test_matmul_pool(isas[i]);
        test_matmul_precise_pool(isas[i]);
        test_attn_kernels(isas[i]);
    }
    test_matmul_paths(isas, n_isa);
    test_matmul_precise(isas, n_isa);
    return tu_finish("test_kernels");
}
