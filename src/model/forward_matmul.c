/* Weights as floats, and the matrix products of the forward pass.
 *
 * Production path: the kernels (kernels.h) quantize the activations to the weight type's
 * activation format (Q8_0 / Q8_K; F32 for float weights) and take integer dot products, like
 * llama.cpp. Reference path (exact, and any type without a kernel): each weight row is dequantized by the scalar reference (quant.h) into a
 * per-thread scratch row and dotted in float32 with every token of the micro-batch, so the
 * whole model is never dequantized at once. */
#include <string.h>

#include "base/dtype.h"
#include "base/threadpool.h"
#include "kernels/kernels.h"
#include "model/context.h"
#include "model/forward.h"
#include "quant/quant.h"

bool fwd_weight_type_ok(uint32_t type) { return slm_quant_to_float(type) != NULL; }

void fwd_weight_row(const slm_weight *w, int64_t r, float *out) {
    uint64_t row_bytes = 0;
    slm_dtype_row_size(w->type, (uint64_t)w->ne[0], &row_bytes); /* validated by the loader */
    slm_quant_to_float(w->type)((const uint8_t *)w->data + (uint64_t)r * row_bytes, out, w->ne[0]);
}

/* Dot product of n floats with 8 independent partial sums (vectorizable without reassociation
 * flags, and a smaller rounding error than one running sum). */
static float dot_f32(const float *a, const float *b, int64_t n) {
    float s[8] = {0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++) s[j] += a[i + j] * b[i + j];
    float tail = 0.0f;
    for (; i < n; i++) tail += a[i] * b[i];
    return ((s[0] + s[4]) + (s[1] + s[5])) + ((s[2] + s[6]) + (s[3] + s[7])) + tail;
}

typedef struct matmul_task {
    struct slm_context *ctx;
    const slm_weight *w;
    const float *x;
    int64_t ld_x, n_tok, ld_y;
    float *y;
} matmul_task;

static void matmul_rows(void *arg, int ith, int nth) {
    const matmul_task *t = arg;
    const slm_weight *w = t->w;
    const int64_t n_in = w->ne[0], n_out = w->ne[1];
    int64_t r0, r1;
    slm_split_range(n_out, ith, nth, 1, &r0, &r1);
    float *row = t->ctx->per_thread + (size_t)ith * t->ctx->per_thread_floats;
    const bool direct = w->type == SLM_DT_F32;
    for (int64_t r = r0; r < r1; r++) {
        const float *wr = row;
        if (direct)
            wr = (const float *)w->data + r * n_in;
        else
            fwd_weight_row(w, r, row);
        for (int64_t tk = 0; tk < t->n_tok; tk++) t->y[tk * t->ld_y + r] = dot_f32(wr, t->x + tk * t->ld_x, n_in);
    }
}

/* Precise production matmul: x = q8(x) + r with r the quantization residual, so
 * W x = W q8(x) + W q8(r) up to the (tiny) rounding of r. Rows x_t and r_t go through the kernel
 * as two tokens, so each weight block is still read once. Activation types without rounding (F32
 * for float weights) take the plain path. */
static void matmul_precise(struct slm_context *ctx, const slm_weight *w, size_t row_bytes, const float *x,
                           int64_t ld_x, int64_t n_tok, float *y, int64_t ld_y) {
    const slm_kernels *kt = ctx->kt;
    const int64_t K = w->ne[0], N = w->ne[1];
    const uint32_t act_type = kt->mm[w->type].act_type;
    const size_t arb = slm_matmul_act_row_bytes(w->type, K);
    slm_matmul_quantize_act(kt, w->type, x, ld_x, n_tok, K, ctx->act, 0, 1);
    for (int64_t t = 0; t < n_tok; t++) {
        float *xa = ctx->x2 + 2 * t * K, *xr = xa + K;
        const void *q = (const uint8_t *)ctx->act + (size_t)t * arb;
        if (act_type == SLM_DT_Q8_K)
            dequantize_row_q8_K(q, xr, K);
        else
            dequantize_row_q8_0(q, xr, K);
        for (int64_t i = 0; i < K; i++) {
            xa[i] = x[t * ld_x + i];
            xr[i] = xa[i] - xr[i];
        }
    }
    slm_matmul(kt, ctx->pool, w->type, w->data, row_bytes, N, ctx->x2, K, 2 * n_tok, K, ctx->act, ctx->y2, N);
    for (int64_t t = 0; t < n_tok; t++)
        for (int64_t r = 0; r < N; r++) y[t * ld_y + r] = ctx->y2[2 * t * N + r] + ctx->y2[(2 * t + 1) * N + r];
}

void fwd_matmul(struct slm_context *ctx, const slm_weight *w, const float *x, int64_t ld_x, int64_t n_tok, float *y,
                int64_t ld_y) {
    if (ctx->kt && slm_matmul_supported(w->type, w->ne[0])) {
        uint64_t row_bytes = 0;
        slm_dtype_row_size(w->type, (uint64_t)w->ne[0], &row_bytes);
        const uint32_t act_type = ctx->kt->mm[w->type].act_type;
        if (ctx->params.precise && (act_type == SLM_DT_Q8_0 || act_type == SLM_DT_Q8_K)) {
            /* y2 holds 2 rows of N per token: chunk the tokens (the output projection's N is
             * the vocabulary) */
            int64_t chunk = (int64_t)(ctx->y2_floats / (size_t)(2 * w->ne[1]));
            if (chunk > n_tok) chunk = n_tok;
            for (int64_t t = 0; t < n_tok; t += chunk) {
                const int64_t nt = n_tok - t < chunk ? n_tok - t : chunk;
                matmul_precise(ctx, w, (size_t)row_bytes, x + t * ld_x, ld_x, nt, y + t * ld_y, ld_y);
            }
        } else
            slm_matmul(ctx->kt, ctx->pool, w->type, w->data, (size_t)row_bytes, w->ne[1], x, ld_x, n_tok, w->ne[0],
                       ctx->act, y, ld_y);
        return;
    }
    matmul_task t = {ctx, w, x, ld_x, n_tok, ld_y, y};
    ctx_parallel(ctx, matmul_rows, &t);
}
