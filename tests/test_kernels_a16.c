/* 16-bit activations (kernels.h "16-bit activations"): quantizers and gemm16 tiles of every ISA
 * this CPU supports against the scalar reference, and the reference against float64.
 *
 * Bounds.
 * - Quantizer bytes: identical to the reference (the rule is a handful of exact float ops).
 * - Reference quantizer: |d q_i - x_i| <= d / 2 (round to nearest) + |x_i| 2^-21 (x * id is x / d
 *   up to ~3 float roundings).
 * - Reference gemm16 vs float64 over the dequantized activation: it accumulates exact float
 *   products in double and rounds once, so within 2^-23 of the magnitude M = sum |w_i a_i|.
 * - SIMD gemm16 vs the reference: integer block sums are exact; what differs is float rounding of
 *   the per-block scale products and of the summation order, at most ~K/32 + 16 roundings of the
 *   running magnitude (as in test_kernels.c): |y - y_ref| <= (K/32 + 16) 2^-24 M2, where M2 adds
 *   both halves of min-carrying weights (w = s - m can cancel).
 * - The 16-bit product against the exact float product of the unquantized activations:
 *   |y - sum w_i x_i| <= sum_i |w_i| d_i / 2 (+ rounding): ~130x tighter than 8-bit activations;
 *   checked, and also that it is at least 50x closer than the Q8 path on the same data. */
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

static const uint32_t k_types[] = {SLM_DT_Q4_0, SLM_DT_Q4_1, SLM_DT_Q5_0, SLM_DT_Q5_1, SLM_DT_Q8_0, SLM_DT_IQ4_NL,
                                   SLM_DT_Q2_K, SLM_DT_Q3_K, SLM_DT_Q4_K, SLM_DT_Q5_K, SLM_DT_Q6_K, SLM_DT_IQ4_XS};
#define N_TYPES (sizeof k_types / sizeof k_types[0])

/* Dequantized a16 row: d * q per block. */
static void a16_to_float(int ab, const uint8_t *row, int64_t k, float *out) {
    for (int64_t b = 0; b < k / ab; b++) {
        if (ab == 32) {
            const block_a16_32 *x = (const block_a16_32 *)row + b;
            for (int i = 0; i < 32; i++) out[b * 32 + i] = x->d * (float)x->qs[i];
        } else {
            const block_a16_256 *x = (const block_a16_256 *)row + b;
            for (int i = 0; i < 256; i++) out[b * 256 + i] = x->d * (float)x->qs[i];
        }
    }
}

typedef struct a16_case {
    uint32_t type;
    int ab;
    int64_t k, n_rows, n_tok, ldx;
    size_t row_bytes, arb;
    uint8_t *w;
    float *x, *wf, *wm;
} a16_case;

static void case_make(a16_case *c, uint32_t type, int64_t k, int64_t n_rows, int64_t n_tok) {
    const slm_kernels *sc = slm_kernels_for_isa(SLM_ISA_SCALAR);
    c->type = type;
    c->ab = sc->mm[type].a16;
    c->k = k;
    c->n_rows = n_rows;
    c->n_tok = n_tok;
    c->ldx = k + 5;
    uint64_t rb;
    slm_dtype_row_size(type, (uint64_t)k, &rb);
    c->row_bytes = (size_t)rb;
    c->arb = slm_matmul_a16_row_bytes(type, k);
    c->w = xmalloc(c->row_bytes * (size_t)n_rows);
    c->x = xmalloc(sizeof(float) * (size_t)(c->ldx * n_tok));
    c->wf = xmalloc(sizeof(float) * (size_t)(k * n_rows));
    c->wm = xmalloc(sizeof(float) * (size_t)(k * n_rows));
    float *row = xmalloc(sizeof(float) * (size_t)k);
    for (int64_t r = 0; r < n_rows; r++) {
        const int flavour = (int)(r % 3); /* uniform, offset (mins), sparse with outliers */
        const float scale = 0.01f + (float)(rnd_u32() % 100) / 50.0f;
        for (int64_t i = 0; i < k; i++) {
            float v = rnd_unif();
            if (flavour == 1) v = v * 0.5f + 0.7f;
            if (flavour == 2) v = (rnd_u32() % 7 == 0) ? v * 8.0f : v * 0.1f;
            row[i] = v * scale;
        }
        slm_quant_from_float(type)(row, c->w + (size_t)r * rb, k);
        slm_quant_to_float(type)(c->w + (size_t)r * rb, c->wf + r * k, k);
        weight_min_part(type, c->w + (size_t)r * rb, k, c->wm + r * k);
    }
    for (int64_t t = 0; t < n_tok; t++)
        for (int64_t i = 0; i < c->ldx; i++) {
            float v = i < k ? rnd_act() : NAN; /* the pad must never be read */
            if (i < k && t % 4 == 3 && (i / c->ab) % 3 == 1) v = 0.0f; /* all-zero blocks: d = 0 */
            c->x[t * c->ldx + i] = v;
        }
    free(row);
}

static void case_free(a16_case *c) {
    free(c->w);
    free(c->x);
    free(c->wf);
    free(c->wm);
}

/* The reference quantizer against its rule, and the reference gemm16 against float64. Fills
 * act_ref, y_ref (ldy = n_rows + 1) and the per-output SIMD tolerance. */
static void check_reference(const a16_case *c, uint8_t *act_ref, float *y_ref, double *tol) {
    const slm_kernels *ref = slm_kernels_for_isa(SLM_ISA_SCALAR);
    const char *tn = slm_dtype_name(c->type);
    const int64_t ldy = c->n_rows + 1;
    slm_matmul_quantize_act16(ref, c->type, c->x, c->ldx, c->n_tok, c->k, act_ref, 0, 1);
    for (int64_t i = 0; i < c->n_tok * ldy; i++) y_ref[i] = -7.0f;
    slm_matmul_rows16(ref, c->type, c->w, c->row_bytes, act_ref, c->n_tok, c->k, y_ref, ldy, 0, c->n_rows);
    float *af = xmalloc(sizeof(float) * (size_t)c->k);
    int bad = 0;
    for (int64_t t = 0; t < c->n_tok; t++) {
        const uint8_t *arow = act_ref + (size_t)t * c->arb;
        a16_to_float(c->ab, arow, c->k, af);
        /* quantizer rule: rounding to nearest, codes in range, exact sums */
        const int qmax = c->ab == 32 ? SLM_A16_QMAX_32 : SLM_A16_QMAX_256;
        for (int64_t b = 0; b < c->k / c->ab; b++) {
            const float *xb = c->x + t * c->ldx + b * c->ab;
            const int16_t *q = c->ab == 32 ? ((const block_a16_32 *)arow)[b].qs : ((const block_a16_256 *)arow)[b].qs;
            const float d = c->ab == 32 ? ((const block_a16_32 *)arow)[b].d : ((const block_a16_256 *)arow)[b].d;
            int32_t s16[16] = {0}, s = 0;
            for (int i = 0; i < c->ab; i++) {
                if (!(abs(q[i]) <= qmax) || !(fabs((double)d * q[i] - xb[i]) <= 0.5 * d + fabs(xb[i]) * 0x1p-21)) {
                    /* x * id carries ~3 float roundings of x / d: a near-half x may round up */
                    if (bad++ < 3) CHECK(0, "%s a16 block %lld elem %d: x %.9g -> d %.9g q %d", tn, (long long)b, i, xb[i], d, q[i]);
                }
                s16[i / 16] += q[i];
                s += q[i];
            }
            if (c->ab == 32)
                CHECK(((const block_a16_32 *)arow)[b].sum == s, "%s a16_32 block sum", tn);
            else
                CHECK(!memcmp(((const block_a16_256 *)arow)[b].bsums, s16, sizeof s16), "%s a16_256 bsums", tn);
        }
        CHECK(y_ref[t * ldy + c->n_rows] == -7.0f, "reference %s gemm16: wrote past row end", tn);
        for (int64_t r = 0; r < c->n_rows; r++) {
            const float *wf = c->wf + r * c->k, *wm = c->wm + r * c->k;
            double exact = 0, mag = 0, mag2 = 0;
            for (int64_t i = 0; i < c->k; i++) {
                exact += (double)wf[i] * af[i];
                mag += fabs((double)wf[i] * af[i]);
                mag2 += (fabs((double)wf[i] + wm[i]) + fabs((double)wm[i])) * fabs((double)af[i]);
            }
            tol[t * ldy + r] = ((double)c->k / 32 + 16) * 0x1p-24 * mag2 + 1e-30;
            if (!(fabs((double)y_ref[t * ldy + r] - exact) <= 0x1p-23 * mag + 1e-30) && bad++ < 3)
                CHECK(0, "reference %s gemm16 k=%lld row %lld tok %lld: %.9g vs float64 %.9g", tn, (long long)c->k,
                      (long long)r, (long long)t, y_ref[t * ldy + r], exact);
        }
    }
    tu_checks++;
    free(af);
}

/* Every SIMD table with a gemm16 for the type against the reference. */
static void check_case(const slm_kernels *isas[], int n_isa, const a16_case *c) {
    const slm_kernels *ref = slm_kernels_for_isa(SLM_ISA_SCALAR);
    const char *tn = slm_dtype_name(c->type);
    const int64_t ldy = c->n_rows + 1, ny = c->n_tok * ldy;
    const size_t asz = c->arb * (size_t)c->n_tok;
    uint8_t *act = xmalloc(asz), *act_ref = xmalloc(asz);
    float *y = xmalloc(sizeof(float) * (size_t)ny), *y_ref = xmalloc(sizeof(float) * (size_t)ny);
    double *tol = xmalloc(sizeof(double) * (size_t)ny);
    check_reference(c, act_ref, y_ref, tol);
    const size_t used = (size_t)(c->k / c->ab) * (c->ab == 32 ? sizeof(block_a16_32) : sizeof(block_a16_256));
    for (int i = 0; i < n_isa; i++) {
        const slm_kernels *kt = isas[i];
        if (kt == ref) continue;
        /* quantizer: bit-exact, also split over 3 threads (n_tok == 1 splits one row at blocks) */
        memset(act, 0xAB, asz);
        for (int ith = 0; ith < 3; ith++) slm_matmul_quantize_act16(kt, c->type, c->x, c->ldx, c->n_tok, c->k, act, ith, 3);
        bool same = true;
        for (int64_t t = 0; t < c->n_tok; t++) {
            /* the pad words of block_a16_256 are not part of the contract */
            for (int64_t b = 0; b < c->k / c->ab; b++) {
                const size_t bb = c->ab == 32 ? sizeof(block_a16_32) : offsetof(block_a16_256, pad_);
                const size_t off = (size_t)t * c->arb + (size_t)b * (c->ab == 32 ? sizeof(block_a16_32) : sizeof(block_a16_256));
                same = same && !memcmp(act + off, act_ref + off, bb);
            }
        }
        (void)used;
        CHECK(same, "%s %s k=%lld n_tok=%lld: a16 activation bytes differ from the reference", kt->name, tn,
              (long long)c->k, (long long)c->n_tok);
        if (!kt->mm[c->type].gemm16) continue;
        /* rows in two uneven parts: r0 > 0 and tails */
        const int64_t cut = c->n_rows / 3;
        for (int64_t j = 0; j < ny; j++) y[j] = -7.0f;
        slm_matmul_rows16(kt, c->type, c->w, c->row_bytes, act_ref, c->n_tok, c->k, y, ldy, 0, cut);
        slm_matmul_rows16(kt, c->type, c->w, c->row_bytes, act_ref, c->n_tok, c->k, y, ldy, cut, c->n_rows);
        int bad = 0;
        for (int64_t t = 0; t < c->n_tok; t++) {
            CHECK(y[t * ldy + c->n_rows] == -7.0f, "%s %s gemm16: wrote past row end", kt->name, tn);
            for (int64_t r = 0; r < c->n_rows; r++) {
                const int64_t j = t * ldy + r;
                if (!(fabs((double)y[j] - y_ref[j]) <= tol[j]) && bad++ < 3)
                    CHECK(0, "%s %s gemm16 k=%lld n_tok=%lld row %lld tok %lld: %.9g vs ref %.9g (tol %.3g)", kt->name,
                          tn, (long long)c->k, (long long)c->n_tok, (long long)r, (long long)t, y[j], y_ref[j], tol[j]);
            }
        }
        tu_checks++;
    }
    free(act);
    free(act_ref);
    free(y);
    free(y_ref);
    free(tol);
}

static void test_gemm16(const slm_kernels *isas[], int n_isa) {
    /* k: one block, a few, Qwen2.5-0.5B's 896 (32-types only) and 4864; n_tok around every tile
     * width; n_rows around tile heights and above slm_matmul_rows16's 64-row chunks */
    static const int64_t ks32[] = {32, 96, 896, 4864}, ks256[] = {256, 768, 2048};
    static const int64_t toks[] = {1, 2, 3, 4, 5, 7, 8, 9, 16, 33, 70};
    static const int64_t rows[] = {1, 3, 4, 5, 8, 17, 37, 70};
    for (size_t ti = 0; ti < N_TYPES; ti++) {
        const uint32_t type = k_types[ti];
        const bool b32 = slm_kernels_for_isa(SLM_ISA_SCALAR)->mm[type].a16 == 32;
        const int64_t *ks = b32 ? ks32 : ks256;
        const size_t nk = b32 ? 4 : 3;
        for (size_t ki = 0; ki < nk; ki++)
            for (size_t tk = 0; tk < sizeof toks / sizeof toks[0]; tk++) {
                const int64_t nr = rows[(ki * 5 + tk) % (sizeof rows / sizeof rows[0])];
                if (ks[ki] >= 2048 && toks[tk] > 9) continue; /* keep the reference's time small */
                a16_case c;
                case_make(&c, type, ks[ki], nr, toks[tk]);
                check_case(isas, n_isa, &c);
                case_free(&c);
            }
    }
}

/* Precision: the 16-bit product against the unquantized float product, and against Q8. */
static void test_precision(const slm_kernels *kt) {
    for (size_t ti = 0; ti < N_TYPES; ti++) {
        const uint32_t type = k_types[ti];
        if (slm_matmul_effective_mode(kt, type, SLM_ACT_A16) != SLM_ACT_A16) continue;
        a16_case c;
        case_make(&c, type, 2048, 64, 8);
        const int64_t ldy = c.n_rows;
        const size_t asz = slm_matmul_act_size_mode(type, c.k, c.n_tok, SLM_ACT_A16);
        uint8_t *act = xmalloc(asz);
        float *y16 = xmalloc(sizeof(float) * (size_t)(ldy * c.n_tok)), *y8 = xmalloc(sizeof(float) * (size_t)(ldy * c.n_tok));
        slm_matmul_mode(kt, NULL, SLM_ACT_A16, type, c.w, c.row_bytes, c.n_rows, c.x, c.ldx, c.n_tok, c.k, act, y16, ldy);
        slm_matmul_mode(kt, NULL, SLM_ACT_Q8, type, c.w, c.row_bytes, c.n_rows, c.x, c.ldx, c.n_tok, c.k, act, y8, ldy);
        double e16 = 0, e8 = 0;
        int bad = 0;
        for (int64_t t = 0; t < c.n_tok; t++)
            for (int64_t r = 0; r < c.n_rows; r++) {
                double exact = 0, bound = 0;
                for (int64_t b = 0; b < c.k / c.ab; b++) {
                    float amax = 0;
                    for (int i = 0; i < c.ab; i++) amax = fmaxf(amax, fabsf(c.x[t * c.ldx + b * c.ab + i]));
                    const double d = amax / (c.ab == 32 ? SLM_A16_QMAX_32 : SLM_A16_QMAX_256);
                    for (int i = 0; i < c.ab; i++) {
                        const int64_t e = b * c.ab + i;
                        exact += (double)c.wf[r * c.k + e] * c.x[t * c.ldx + e];
                        bound += fabs((double)c.wf[r * c.k + e]) * (0.5 * d * (1 + 1e-5) + 1e-6 * fabs(c.x[t * c.ldx + e]));
                    }
                }
                const double d16 = fabs(y16[t * ldy + r] - exact), d8 = fabs(y8[t * ldy + r] - exact);
                e16 += d16;
                e8 += d8;
                if (!(d16 <= bound) && bad++ < 3)
                    CHECK(0, "%s %s: 16-bit product %.9g vs exact %.9g beyond the rounding bound %.3g", kt->name,
                          slm_dtype_name(type), y16[t * ldy + r], exact, bound);
            }
        printf("  %-7s %-7s mean |error| vs the float product: 16-bit %.3g, 8-bit %.3g (%.0fx)\n", kt->name, slm_dtype_name(type),
               e16 / 512, e8 / 512, e8 / e16);
        CHECK(e16 * 50 <= e8, "%s: 16-bit activations only %.1fx closer than 8-bit", slm_dtype_name(type), e8 / e16);
        free(act);
        free(y16);
        free(y8);
        case_free(&c);
    }
}

/* The threaded driver: slm_matmul_mode on a pool equals the single-thread result bit for bit
 * (each output is computed by one thread with the same tile). */
static void test_pool(void) {
    const slm_kernels *kt = slm_kernels_get();
    slm_threadpool *pool = NULL;
    slm_error err = {0};
    if (slm_threadpool_new(3, &pool, &err) != SLM_OK) {
        CHECK(0, "threadpool: %s", err.msg);
        return;
    }
    for (size_t ti = 0; ti < N_TYPES; ti++) {
        for (int64_t nt = 1; nt <= 40; nt += 39) {
            a16_case c;
            case_make(&c, k_types[ti], 512, 100, nt);
            const size_t asz = slm_matmul_act_size_mode(c.type, c.k, nt, SLM_ACT_A16);
            uint8_t *act = xmalloc(asz);
            float *y1 = xmalloc(sizeof(float) * (size_t)(100 * nt)), *y3 = xmalloc(sizeof(float) * (size_t)(100 * nt));
            slm_matmul_mode(kt, NULL, SLM_ACT_A16, c.type, c.w, c.row_bytes, 100, c.x, c.ldx, nt, c.k, act, y1, 100);
            slm_matmul_mode(kt, pool, SLM_ACT_A16, c.type, c.w, c.row_bytes, 100, c.x, c.ldx, nt, c.k, act, y3, 100);
            CHECK(!memcmp(y1, y3, sizeof(float) * (size_t)(100 * nt)), "%s %s n_tok=%lld: pool result differs",
                  kt->name, slm_dtype_name(c.type), (long long)nt);
            free(act);
            free(y1);
            free(y3);
            case_free(&c);
        }
    }
    slm_threadpool_free(pool);
}

/* Hostile activations: infinities and NaN must not crash (results are unspecified), zero rows
 * give zero. */
static void test_edges(const slm_kernels *isas[], int n_isa) {
    for (int i = 0; i < n_isa; i++) {
        const slm_kernels *kt = isas[i];
        for (size_t ti = 0; ti < N_TYPES; ti++) {
            a16_case c;
            case_make(&c, k_types[ti], 512, 5, 3);
            for (int64_t e = 0; e < c.k; e++) {
                c.x[e] = 0.0f;
                c.x[2 * c.ldx + e] = e % 97 == 0 ? INFINITY : e % 89 == 0 ? NAN : c.x[2 * c.ldx + e];
            }
            const size_t asz = slm_matmul_act_size_mode(c.type, c.k, 3, SLM_ACT_A16);
            uint8_t *act = xmalloc(asz);
            float y[15];
            slm_matmul_mode(kt, NULL, SLM_ACT_A16, c.type, c.w, c.row_bytes, 5, c.x, c.ldx, 3, c.k, act, y, 5);
            for (int r = 0; r < 5; r++)
                CHECK(y[r] == 0.0f, "%s %s: zero activations give %g", kt->name, slm_dtype_name(c.type), y[r]);
            free(act);
            case_free(&c);
        }
    }
}

/* 16-row interleaved weights (kernels_x16.c): packing is lossless (every row reads back byte for
 * byte), and every table's gemm16_x16 on the packed copy meets the gemm16 tolerance against the
 * reference on the unpacked rows, over any split of the rows at group bounds. */
static void check_x16(const slm_kernels *isas[], int n_isa, const a16_case *c) {
    const char *tn = slm_dtype_name(c->type);
    const size_t wbytes = c->row_bytes * (size_t)c->n_rows;
    uint8_t *pw = xmalloc(wbytes), *back = xmalloc(c->row_bytes);
    memset(pw, 0xCD, wbytes);
    const int64_t ng = c->n_rows / 16;
    slm_x16_pack(c->type, c->w, pw, c->row_bytes, 0, ng / 2); /* in two calls, as threads do */
    slm_x16_pack(c->type, c->w, pw, c->row_bytes, ng / 2, ng);
    bool same = true;
    for (int64_t r = 0; r < c->n_rows; r++) {
        const int64_t nb = c->k / (int64_t)slm_dtype_get(c->type)->blck_size, mid = nb / 3;
        slm_x16_unpack_row(c->type, pw, c->row_bytes, r, 0, mid, back);
        slm_x16_unpack_row(c->type, pw, c->row_bytes, r, mid, nb, back + (size_t)mid * (c->row_bytes / (size_t)nb));
        same = same && !memcmp(back, c->w + (size_t)r * c->row_bytes, c->row_bytes);
    }
    CHECK(same, "%s x16 k=%lld rows=%lld: unpacked rows differ from the original", tn, (long long)c->k,
          (long long)c->n_rows);
    const int64_t ldy = c->n_rows + 1, ny = c->n_tok * ldy;
    const size_t asz = c->arb * (size_t)c->n_tok;
    uint8_t *act_ref = xmalloc(asz);
    float *y = xmalloc(sizeof(float) * (size_t)ny), *y_ref = xmalloc(sizeof(float) * (size_t)ny);
    double *tol = xmalloc(sizeof(double) * (size_t)ny);
    check_reference(c, act_ref, y_ref, tol);
    /* the activations in the tiles' pair order */
    uint8_t *act_x = xmalloc(asz);
    memcpy(act_x, act_ref, asz);
    slm_x16_order_act(c->type, act_x, c->arb, c->n_tok, c->k);
    for (int i = 0; i < n_isa; i++) {
        const slm_kernels *kt = isas[i];
        if (!slm_x16_usable(kt, c->type, c->n_rows, c->k)) continue;
        const int64_t cut = (ng / 3) * 16;
        for (int64_t j = 0; j < ny; j++) y[j] = -7.0f;
        slm_matmul_rows16_x16(kt, c->type, pw, c->row_bytes, act_x, c->n_tok, c->k, y, ldy, 0, cut);
        slm_matmul_rows16_x16(kt, c->type, pw, c->row_bytes, act_x, c->n_tok, c->k, y, ldy, cut, c->n_rows);
        int bad = 0;
        for (int64_t t = 0; t < c->n_tok; t++) {
            CHECK(y[t * ldy + c->n_rows] == -7.0f, "%s %s gemm16_x16: wrote past row end", kt->name, tn);
            for (int64_t r = 0; r < c->n_rows; r++) {
                const int64_t j = t * ldy + r;
                if (!(fabs((double)y[j] - y_ref[j]) <= tol[j]) && bad++ < 3)
                    CHECK(0, "%s %s gemm16_x16 k=%lld n_tok=%lld row %lld tok %lld: %.9g vs ref %.9g (tol %.3g)",
                          kt->name, tn, (long long)c->k, (long long)c->n_tok, (long long)r, (long long)t, y[j],
                          y_ref[j], tol[j]);
            }
        }
        tu_checks++;
    }
    free(pw);
    free(back);
    free(act_ref);
    free(act_x);
    free(y);
    free(y_ref);
    free(tol);
}

static void test_x16(const slm_kernels *isas[], int n_isa) {
    static const int64_t ks32[] = {32, 96, 896, 4864}, ks256[] = {256, 768, 2048, 4864 + 256};
    static const int64_t toks[] = {1, 2, 3, 5, 6, 7, 8, 9, 16, 33, 70};
    static const int64_t rows[] = {16, 32, 48, 80, 144};
    for (size_t ti = 0; ti < N_TYPES; ti++) {
        const uint32_t type = k_types[ti];
        if (!slm_x16_layout_exists(type)) continue;
        const int64_t *ks = slm_dtype_get(type)->blck_size == 32 ? ks32 : ks256;
        for (size_t ki = 0; ki < 4; ki++)
            for (size_t tk = 0; tk < sizeof toks / sizeof toks[0]; tk++) {
                /* long k with few tokens, except 16 tokens at the longest k: prompt paths that work
                 * on k in slices (AVX2 IQ4_XS decodes 16 blocks at a time) cross a slice there */
                if (ks[ki] >= 2048 && toks[tk] > 9 && !(ki == 3 && toks[tk] == 16)) continue;
                a16_case c;
                case_make(&c, type, ks[ki], rows[(ki * 3 + tk) % (sizeof rows / sizeof rows[0])], toks[tk]);
                check_x16(isas, n_isa, &c);
                case_free(&c);
            }
    }
}

/* slm_matmul_x16_multi: three packed matrices of two types (the first and last share their
 * activation buffer, as a layer's q and k do) times the same activations, on no pool and on a
 * pool of 3 threads (the rows of all three shared in chunks): each output within the gemm16
 * tolerance of its own reference, and nothing written past a row's end. */
static void test_x16_multi(const slm_kernels *isas[], int n_isa) {
    static const uint32_t types[][3] = {{SLM_DT_Q4_K, SLM_DT_Q6_K, SLM_DT_Q4_K}, {SLM_DT_Q4_0, SLM_DT_Q8_0, SLM_DT_Q4_0}};
    static const int64_t rows[3] = {48, 32, 144}, toks[] = {1, 7};
    slm_threadpool *pool = NULL;
    slm_error err;
    CHECK(slm_threadpool_new(3, &pool, &err) == SLM_OK, "pool: %s", err.msg);
    for (size_t g = 0; g < sizeof types / sizeof types[0]; g++)
        for (size_t tk = 0; tk < sizeof toks / sizeof toks[0]; tk++) {
            a16_case c[3];
            uint8_t *pw[3], *act_ref[3];
            float *y_ref[3], *y[3];
            double *tol[3];
            for (int i = 0; i < 3; i++) {
                case_make(&c[i], types[g][i], 512, rows[i], toks[tk]);
                if (i) memcpy(c[i].x, c[0].x, sizeof(float) * (size_t)(c[0].ldx * toks[tk]));
                const int64_t ny = toks[tk] * (rows[i] + 1);
                act_ref[i] = xmalloc(c[i].arb * (size_t)toks[tk]);
                y_ref[i] = xmalloc(sizeof(float) * (size_t)ny);
                y[i] = xmalloc(sizeof(float) * (size_t)ny);
                tol[i] = xmalloc(sizeof(double) * (size_t)ny);
                check_reference(&c[i], act_ref[i], y_ref[i], tol[i]);
                pw[i] = xmalloc(c[i].row_bytes * (size_t)rows[i]);
                slm_x16_pack(c[i].type, c[i].w, pw[i], c[i].row_bytes, 0, rows[i] / 16);
            }
            for (int ii = 0; ii < n_isa; ii++) {
                const slm_kernels *kt = isas[ii];
                bool usable = true;
                for (int i = 0; i < 3; i++) usable = usable && slm_x16_usable(kt, c[i].type, rows[i], c[i].k);
                if (!usable) continue;
                uint8_t *act[2] = {xmalloc(slm_matmul_act_size_mode(c[0].type, 512, toks[tk], SLM_ACT_A16)),
                                   xmalloc(slm_matmul_act_size_mode(c[1].type, 512, toks[tk], SLM_ACT_A16))};
                for (int rep = 0; rep < 2; rep++) {
                    slm_x16_item items[3];
                    for (int i = 0; i < 3; i++) {
                        for (int64_t j = 0; j < toks[tk] * (rows[i] + 1); j++) y[i][j] = -7.0f;
                        items[i] = (slm_x16_item){c[i].type, pw[i], c[i].row_bytes, rows[i], y[i], rows[i] + 1, act[i == 1]};
                    }
                    slm_matmul_x16_multi(kt, rep ? pool : NULL, items, 3, c[0].x, c[0].ldx, toks[tk], 512);
                    for (int i = 0; i < 3; i++) {
                        int bad = 0;
                        for (int64_t t = 0; t < toks[tk]; t++) {
                            bad += y[i][t * (rows[i] + 1) + rows[i]] != -7.0f;
                            for (int64_t r = 0; r < rows[i]; r++) {
                                const int64_t j = t * (rows[i] + 1) + r;
                                bad += !(fabs((double)y[i][j] - y_ref[i][j]) <= tol[i][j]);
                            }
                        }
                        CHECK(bad == 0, "%s x16_multi item %d (%s, %lld tokens, pool %d): %d outputs off", kt->name, i,
                              slm_dtype_name(c[i].type), (long long)toks[tk], rep, bad);
                    }
                }
                free(act[0]);
                free(act[1]);
            }
            for (int i = 0; i < 3; i++) {
                free(pw[i]);
                free(act_ref[i]);
                free(y_ref[i]);
                free(y[i]);
                free(tol[i]);
                case_free(&c[i]);
            }
        }
    slm_threadpool_free(pool);
}

/* Packs w (rows x k of `type`, row layout) and checks every table's one-token x16 result against
 * exact values: row r = mult[r] x the activation sum, for activations all +1 and in +-1 runs of 3
 * (every 16-bit code at its largest, +-16383). */
static void check_x16_exact(const slm_kernels *isas[], int n_isa, uint32_t type, const uint8_t *w, size_t rb, int rows,
                            int k, const double *mult) {
    uint8_t *pw = xmalloc(rb * (size_t)rows);
    float *x = xmalloc(sizeof(float) * 2 * (size_t)k), *y = xmalloc(sizeof(float) * (size_t)rows);
    slm_x16_pack(type, w, pw, rb, 0, rows / 16);
    for (int i = 0; i < k; i++) {
        x[i] = 1.0f;
        x[k + i] = (i / 3) % 2 ? -1.0f : 1.0f;
    }
    for (int ii = 0; ii < n_isa; ii++) {
        const slm_kernels *kt = isas[ii];
        if (!slm_x16_usable(kt, type, rows, k)) continue;
        for (int v = 0; v < 2; v++) {
            double sum = 0;
            for (int i = 0; i < k; i++) sum += x[v * k + i];
            uint8_t *act = xmalloc(slm_matmul_act_size_mode(type, k, 1, SLM_ACT_A16));
            slm_matmul_x16(kt, NULL, type, pw, rb, rows, x + v * k, k, 1, k, act, y, rows);
            int bad = 0;
            for (int r = 0; r < rows; r++) {
                const double want = mult[r] * sum;
                bad += !(fabs(y[r] - want) <= 1e-3 * (1.0 + fabs(want)));
            }
            CHECK(bad == 0, "%s %s x16 extreme codes, activations %d: %d of %d rows off (rows 0-2: %g %g %g, sum %g)",
                  kt->name, slm_dtype_name(type), v, bad, rows, y[0], y[1], y[2], sum);
            free(act);
        }
    }
    free(pw);
    free(x);
    free(y);
}

/* Largest-magnitude products of the x16 one-token tiles: Q4_K rows whose codes are all 0 or all
 * 15 (the nibbles kept at 256 x their value reach 3840) against activations of +-1. With d = 1,
 * dmin = 0 and every scale 1 the results are exactly 0 and 15 x the activations' sum: an int32
 * sum that wrapped would be off by 2^32 / 16383 or more. */
static void test_x16_extremes(const slm_kernels *isas[], int n_isa) {
    enum { K = 512, ROWS = 32 };
    const size_t rb = sizeof(block_q4_K) * (K / 256);
    uint8_t *w = xmalloc(rb * ROWS);
    double mult[ROWS];
    for (int r = 0; r < ROWS; r++) {
        mult[r] = r % 2 ? 15.0 : 0.0;
        for (int b = 0; b < K / 256; b++) {
            block_q4_K *x = (block_q4_K *)(w + r * rb) + b;
            x->d = slm_f32_to_f16(1.0f);
            x->dmin = slm_f32_to_f16(0.0f);
            memset(x->scales, 0x01, sizeof x->scales); /* scale 1 (and min 1 or 0, times dmin 0) */
            memset(x->qs, r % 2 ? 0xFF : 0x00, sizeof x->qs);
        }
    }
    check_x16_exact(isas, n_isa, SLM_DT_Q4_K, w, rb, ROWS, K, mult);
    free(w);
}

/* x16 Q6_K at its largest products: codes all 0 (weight -32: pairs 1 and 3 are -32768 in their
 * words, four such products by 16383 per 1024 x sum come within 131072 of 2^31), all 63 (+31)
 * and all 32 (0): exactly -32 / 31 / 0 x the activation sum. */
static void test_x16_q6_extremes(const slm_kernels *isas[], int n_isa) {
    enum { K = 512, ROWS = 48 };
    const size_t rb = sizeof(block_q6_K) * (K / 256);
    static const int codes[3] = {0, 63, 32};
    uint8_t *w = xmalloc(rb * ROWS);
    double mult[ROWS];
    for (int r = 0; r < ROWS; r++) {
        const int c = codes[r % 3];
        mult[r] = c - 32;
        for (int b = 0; b < K / 256; b++) {
            block_q6_K *x = (block_q6_K *)(w + r * rb) + b;
            x->d = slm_f32_to_f16(1.0f);
            memset(x->scales, 1, sizeof x->scales);
            memset(x->ql, (c & 15) * 0x11, sizeof x->ql);
            memset(x->qh, (c >> 4) * 0x55, sizeof x->qh);
        }
    }
    check_x16_exact(isas, n_isa, SLM_DT_Q6_K, w, rb, ROWS, K, mult);
    free(w);
}

int main(void) {
    kt_seed(0x2545F4914F6CDD1Dull);
    const slm_kernels *isas[SLM_ISA_COUNT];
    int n_isa = 0;
    for (int i = 0; i < SLM_ISA_COUNT; i++) {
        const slm_kernels *kt = slm_kernels_for_isa((slm_isa)i);
        if (kt) {
            isas[n_isa++] = kt;
            int n16 = 0;
            for (size_t ti = 0; ti < N_TYPES; ti++) n16 += kt->mm[k_types[ti]].gemm16 != NULL;
            int nx = 0;
            for (size_t ti = 0; ti < N_TYPES; ti++) nx += kt->mm[k_types[ti]].gemm16_x16 != NULL;
            printf("  table %s: gemm16 for %d of %zu types, gemm16_x16 (16-row groups) for %d\n", kt->name, n16,
                   N_TYPES, nx);
        }
    }
    test_gemm16(isas, n_isa);
    test_x16(isas, n_isa);
    test_x16_multi(isas, n_isa);
    test_x16_extremes(isas, n_isa);
    test_x16_q6_extremes(isas, n_isa);
    for (int i = 0; i < n_isa; i++) test_precision(isas[i]);
    test_pool();
    test_edges(isas, n_isa);
    return tu_finish("test_kernels_a16");
}
