/* Weights as floats, and the matrix products of the forward pass.
 *
 * Production path: the kernels (kernels.h) round the activations as params.activations says:
 * 16-bit codes (slm_matmul_mode, SLM_ACT_A16: ~100x closer to the exact product than llama.cpp's
 * 8-bit activations), or llama.cpp's Q8_0 / Q8_K, or Q8 plus its residual; float weights multiply
 * float32 activations. The default (SLM_ACT_AUTO) is 16-bit except for one-token matmuls of packed
 * weights whose table has an 8-bit one-token tile (takes_a8: slm_matmul_x16_multi_a8).
 * Reference path (exact, and any type without a kernel): each weight row is dequantized by the
 * scalar reference (quant.h) into a per-thread scratch row and dotted in float32 with every token
 * of the micro-batch, so the whole model is never dequantized at once. */
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
    if (w->x16) { /* packed by slm_model_prepare: a few blocks at a time back in row layout */
        _Alignas(64) uint8_t blocks[1024];
        const slm_dtype_info *di = slm_dtype_get(w->type);
        const int64_t be = di->blck_size, nb = w->ne[0] / be, step = (int64_t)(sizeof blocks / di->type_size);
        for (int64_t b = 0; b < nb; b += step) {
            const int64_t n = nb - b < step ? nb - b : step;
            slm_x16_unpack_row(w->type, w->data, (size_t)row_bytes, r, b, b + n, blocks);
            slm_quant_to_float(w->type)(blocks, out + b * be, n * be);
        }
        return;
    }
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

slm_act_mode fwd_act_mode(slm_activations a) {
    return a == SLM_ACT_8 ? SLM_ACT_Q8 : a == SLM_ACT_8X2 ? SLM_ACT_Q8X2 : SLM_ACT_A16;
}

/* Packed weights in an activation mode without x16 tiles: this thread's share of the activations
 * quantized as the mode says, then each row read back into row layout (in the thread's scratch:
 * a row's bytes are fewer than its floats') and multiplied alone. Correct, but without the row
 * tiling: the production path (16-bit activations) multiplies packed weights directly. */
typedef struct unpacked_task {
    struct slm_context *ctx;
    const slm_weight *w;
    slm_act_mode mode;
    size_t row_bytes;
    const float *x;
    int64_t ld_x, n_tok, ld_y;
    float *y;
} unpacked_task;

static void matmul_unpacked_rows(void *arg, int ith, int nth) {
    const unpacked_task *t = arg;
    slm_context *c = t->ctx;
    const slm_weight *w = t->w;
    const int64_t k = w->ne[0];
    if (t->mode == SLM_ACT_Q8X2)
        slm_matmul_quantize_act2(c->kt, w->type, t->x, t->ld_x, t->n_tok, k, c->act, ith, nth);
    else if (t->mode == SLM_ACT_A16)
        slm_matmul_quantize_act16(c->kt, w->type, t->x, t->ld_x, t->n_tok, k, c->act, ith, nth);
    else
        slm_matmul_quantize_act(c->kt, w->type, t->x, t->ld_x, t->n_tok, k, c->act, ith, nth);
    slm_threadpool_barrier(c->pool);
    int64_t r0, r1;
    slm_split_range(w->ne[1], ith, nth, 1, &r0, &r1);
    void *row = c->per_thread + (size_t)ith * c->per_thread_floats;
    for (int64_t r = r0; r < r1; r++) {
        slm_x16_unpack_row(w->type, w->data, t->row_bytes, r, 0, k / (int64_t)slm_dtype_get(w->type)->blck_size, row);
        if (t->mode == SLM_ACT_Q8X2)
            slm_matmul_rows2(c->kt, w->type, row, t->row_bytes, c->act, t->n_tok, k, t->y + r, t->ld_y, 0, 1);
        else if (t->mode == SLM_ACT_A16)
            slm_matmul_rows16(c->kt, w->type, row, t->row_bytes, c->act, t->n_tok, k, t->y + r, t->ld_y, 0, 1);
        else
            slm_matmul_rows(c->kt, w->type, row, t->row_bytes, c->act, t->n_tok, k, t->y + r, t->ld_y, 0, 1);
    }
}

/* One token of a packed weight with 8-bit activations (kernels.h, slm_matmul_x16_multi_a8)? */
static bool takes_a8(const slm_context *ctx, const slm_weight *w, int64_t n_tok) {
    return n_tok == 1 && ctx->kt && w->x16 && (ctx->params.activations == SLM_ACT_8 || ctx->params.activations == SLM_ACT_AUTO) &&
           slm_x16_a8_usable(ctx->kt, w->type, w->ne[1], w->ne[0]);
}

void fwd_matmul(struct slm_context *ctx, const slm_weight *w, const float *x, int64_t ld_x, int64_t n_tok, float *y,
                int64_t ld_y) {
    if (ctx->kt && slm_matmul_supported(w->type, w->ne[0])) {
        uint64_t row_bytes = 0;
        slm_dtype_row_size(w->type, (uint64_t)w->ne[0], &row_bytes);
        if (takes_a8(ctx, w, n_tok)) {
            const slm_x16_item item = {w->type, w->data, (size_t)row_bytes, w->ne[1], y, ld_y, ctx->act};
            slm_matmul_x16_multi_a8(ctx->kt, ctx->pool, &item, 1, x, w->ne[0]);
            return;
        }
        const slm_act_mode mode = slm_matmul_effective_mode(ctx->kt, w->type, fwd_act_mode(ctx->params.activations));
        if (w->x16 && mode == SLM_ACT_A16 && slm_x16_usable(ctx->kt, w->type, w->ne[1], w->ne[0])) {
            slm_matmul_x16(ctx->kt, ctx->pool, w->type, w->data, (size_t)row_bytes, w->ne[1], x, ld_x, n_tok,
                           w->ne[0], ctx->act, y, ld_y);
            return;
        }
        if (w->x16) {
            unpacked_task t = {ctx, w, mode, (size_t)row_bytes, x, ld_x, n_tok, ld_y, y};
            ctx_parallel(ctx, matmul_unpacked_rows, &t);
            return;
        }
        slm_matmul_mode(ctx->kt, ctx->pool, fwd_act_mode(ctx->params.activations), w->type, w->data,
                        (size_t)row_bytes, w->ne[1], x, ld_x, n_tok, w->ne[0], ctx->act, y, ld_y);
        return;
    }
    matmul_task t = {ctx, w, x, ld_x, n_tok, ld_y, y};
    ctx_parallel(ctx, matmul_rows, &t);
}

void fwd_matmul_group(struct slm_context *ctx, int n, const slm_weight *const ws[], const float *x, int64_t ld_x,
                      int64_t n_tok, float *const ys[], int64_t ld_y) {
    /* each weight as fwd_matmul would take it: packed, one token with 8-bit activations, or 16-bit
     * activations with a table that has its tiles */
    bool packed = ctx->kt && n >= 2 && n <= SLM_X16_MULTI_MAX, any_a8 = false;
    size_t slot = 0; /* one activation buffer per distinct type, slot bytes each */
    for (int i = 0; i < n && packed; i++) {
        const bool a8 = takes_a8(ctx, ws[i], n_tok);
        packed = ws[i]->ne[0] == ws[0]->ne[0] &&
                 (a8 || (ws[i]->x16 &&
                         slm_matmul_effective_mode(ctx->kt, ws[i]->type, fwd_act_mode(ctx->params.activations)) == SLM_ACT_A16 &&
                         slm_x16_usable(ctx->kt, ws[i]->type, ws[i]->ne[1], ws[i]->ne[0])));
        any_a8 |= a8;
        const size_t b = ((a8 ? slm_x16_a8_row_bytes(ws[i]->type, ws[i]->ne[0])
                              : slm_matmul_act_size_mode(ws[i]->type, ws[i]->ne[0], n_tok, SLM_ACT_A16)) + 63) & ~(size_t)63;
        slot = b > slot ? b : slot;
    }
    slm_x16_item items[SLM_X16_MULTI_MAX];
    int n_types = 0;
    for (int i = 0; i < n && packed; i++) {
        int j = 0;
        while (j < i && ws[j]->type != ws[i]->type) j++;
        uint64_t row_bytes = 0;
        slm_dtype_row_size(ws[i]->type, (uint64_t)ws[i]->ne[0], &row_bytes);
        items[i] = (slm_x16_item){ws[i]->type, ws[i]->data, (size_t)row_bytes, ws[i]->ne[1], ys[i], ld_y,
                                  j < i ? items[j].act : (uint8_t *)ctx->act + (size_t)(n_types++) * slot};
    }
    if (packed && (size_t)n_types * slot <= ctx->act_bytes) {
        if (any_a8) /* one token: each item 8-bit where it has the tile, 16-bit otherwise */
            slm_matmul_x16_multi_a8(ctx->kt, ctx->pool, items, n, x, ws[0]->ne[0]);
        else
            slm_matmul_x16_multi(ctx->kt, ctx->pool, items, n, x, ld_x, n_tok, ws[0]->ne[0]);
        return;
    }
    for (int i = 0; i < n; i++) fwd_matmul(ctx, ws[i], x, ld_x, n_tok, ys[i], ld_y);
}
