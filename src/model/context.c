/* Public engine API: contexts (KV cache + scratch) over a shared read-only model, and the
 * decode call that splits a batch into micro-batches for the forward pass. */
#include <stdlib.h>
#include <string.h>

#include "base/checked.h"
#include "base/dtype.h"
#include "base/error.h"
#include "base/threadpool.h"
#include "kernels/kernels.h"
#include "model/context.h"
#include "model/forward.h"

#define CTX_MAX_CELLS (1 << 24)
#define CTX_MAX_UBATCH 4096

slm_context_params slm_context_default_params(void) {
    slm_context_params p = {0};
    p.n_ctx = 4096;
    p.n_seq_max = 1;
    p.n_ubatch = 256;
    p.n_threads = 0;
    p.kv_type = SLM_KV_F16;
    p.exact = false;
    return p;
}

void ctx_parallel(struct slm_context *ctx, fwd_task_fn fn, void *arg) { slm_threadpool_run(ctx->pool, fn, arg); }

static int64_t max3(int64_t a, int64_t b, int64_t c) { return a > b ? (a > c ? a : c) : (b > c ? b : c); }

/* Every matrix the forward pass multiplies must be convertible to floats by the reference. */
static slm_status check_weight(const slm_weight *w, const char *what, slm_error *err) {
    if (!w->data) return SLM_OK;
    if (!fwd_weight_type_ok(w->type)) {
        const char *tn = slm_dtype_name(w->type);
        return slm_fail(err, SLM_E_UNSUPPORTED, "tensor %s: type %s is not supported by the engine",
                        w->name ? w->name : what, tn ? tn : "unknown");
    }
    return SLM_OK;
}

static slm_status check_model(const slm_model *m, slm_error *err) {
    const slm_hparams *hp = &m->hp;
    if (hp->n_embd <= 0 || hp->n_layer <= 0 || hp->n_head <= 0 || hp->n_head_kv <= 0 || hp->head_dim <= 0 ||
        hp->n_ff <= 0 || hp->n_vocab <= 0 || hp->n_head % hp->n_head_kv != 0 || hp->n_rot < 0 ||
        hp->n_rot > hp->head_dim || hp->n_rot % 2 != 0 || !m->layers || !m->tok_embd.data || !m->output.data)
        return slm_fail(err, SLM_E_INVALID_ARG, "model hyper-parameters are inconsistent");
    slm_status st = check_weight(&m->tok_embd, "token_embd", err);
    if (!st) st = check_weight(&m->output, "output", err);
    if (!st) st = check_weight(&m->output_norm, "output_norm", err);
    for (int64_t il = 0; il < hp->n_layer && !st; il++) {
        const slm_layer *L = &m->layers[il];
        const slm_weight *ws[] = {&L->attn_norm, &L->wq, &L->wk, &L->wv, &L->wqkv, &L->wo, &L->bq, &L->bk, &L->bv,
                                  &L->q_norm, &L->k_norm, &L->post_attn_norm, &L->ffn_norm, &L->w_gate, &L->w_up,
                                  &L->w_gate_up, &L->w_down, &L->post_ffn_norm};
        for (size_t i = 0; i < sizeof ws / sizeof ws[0] && !st; i++) st = check_weight(ws[i], "layer weight", err);
    }
    return st;
}

/* Activation scratch of the production matmuls: the largest over every weight multiplied. */
static slm_status alloc_act(slm_context *c, slm_error *err) {
    const slm_model *m = c->model;
    const slm_act_mode mode = fwd_act_mode(c->params.activations);
    const int64_t n_act = c->params.n_ubatch;
    size_t need = slm_matmul_act_size_mode(m->output.type, m->output.ne[0], n_act, mode);
    for (int64_t il = 0; il < m->hp.n_layer; il++) {
        const slm_layer *L = &m->layers[il];
        const slm_weight *ws[] = {&L->wq, &L->wk, &L->wv, &L->wqkv, &L->wo, &L->w_gate, &L->w_up, &L->w_gate_up,
                                  &L->w_down};
        for (size_t i = 0; i < sizeof ws / sizeof ws[0]; i++) {
            if (!ws[i]->data) continue;
            const size_t b = slm_matmul_act_size_mode(ws[i]->type, ws[i]->ne[0], n_act, mode);
            if (b > need) need = b;
        }
        /* fwd_matmul_group: q, k, v (or gate, up) of different types each take a slot of the
         * largest one's size */
        const slm_weight *const groups[2][3] = {{&L->wq, &L->wk, &L->wv}, {&L->w_gate, &L->w_up, NULL}};
        for (int g = 0; g < 2; g++) {
            size_t slot = 0;
            int n = 0;
            for (int i = 0; i < 3 && groups[g][i]; i++) {
                if (!groups[g][i]->data) continue;
                const size_t b = (slm_matmul_act_size_mode(groups[g][i]->type, groups[g][i]->ne[0], n_act, mode) + 63) &
                                 ~(size_t)63;
                slot = b > slot ? b : slot;
                n++;
            }
            if ((size_t)n * slot > need) need = (size_t)n * slot;
        }
    }
    need = (need + 63) & ~(size_t)63;
    if (need == 0) return SLM_OK;
    c->act = aligned_alloc(64, need);
    if (!c->act) return slm_fail(err, SLM_E_NOMEM, "cannot allocate %zu bytes of activation scratch", need);
    c->act_bytes = need;
    return SLM_OK;
}

/* Carve the scratch arena: sizes in floats for n_ubatch tokens. */
static slm_status alloc_arena(slm_context *c, int n_threads, slm_error *err) {
    const slm_hparams *hp = &c->model->hp;
    const int64_t U = c->params.n_ubatch, E = hp->n_embd, hd = hp->head_dim, F = hp->n_ff;
    const int64_t n_q = hp->n_head * hd, n_kv = hp->n_head_kv * hd;
    const int64_t vec = max3(E, n_q + 2 * n_kv, F);
    const int64_t sizes[] = {U * E, U * E, U * (n_q + 2 * n_kv), U * n_q, U * E, U * 2 * F, 2 * vec};
    float **slots[] = {&c->x, &c->xn, &c->qkv, &c->att, &c->proj, &c->ffn, &c->vbuf};
    const int64_t max_row = max3(E, n_q, F);
    c->per_thread_attn_off = (size_t)(max_row + 15) & ~(size_t)15;
    const size_t attn_floats = (size_t)(2 * hd + hp->n_head * hd + 2 * hp->n_head + hp->n_head * SLM_ATTN_CHUNK);
    c->per_thread_floats = (c->per_thread_attn_off + attn_floats + 15) &
                           ~(size_t)15; /* 64-byte steps keep threads off each other's cache lines */
    uint64_t total = (uint64_t)c->per_thread_floats * (uint64_t)n_threads;
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        if (!ck_add_u64(total, (uint64_t)sizes[i], &total)) total = UINT64_MAX;
    if (total > ((uint64_t)1 << 36))
        return slm_fail(err, SLM_E_NOMEM, "scratch for n_ubatch %lld is too large", (long long)U);
    c->arena = malloc((size_t)total * sizeof(float));
    if (!c->arena) return slm_fail(err, SLM_E_NOMEM, "cannot allocate %llu bytes of scratch",
                                   (unsigned long long)total * 4);
    c->arena_floats = (size_t)total;
    float *p = c->arena;
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        *slots[i] = p;
        p += sizes[i];
    }
    c->per_thread = p;
    return SLM_OK;
}

static slm_status init_rope(slm_context *c, slm_error *err) {
    const slm_model *m = c->model;
    const slm_hparams *hp = &m->hp;
    const int64_t half = hp->n_rot / 2;
    c->inv_freq = calloc((size_t)(half > 0 ? half : 1), sizeof(float));
    float *div = NULL;
    if (m->rope_freqs.data) {
        if (m->rope_freqs.ne[0] != half || !fwd_weight_type_ok(m->rope_freqs.type))
            return slm_fail(err, SLM_E_FORMAT, "rope_freqs: expected %lld values", (long long)half);
        div = calloc((size_t)(half > 0 ? half : 1), sizeof(float));
        if (div) fwd_weight_row(&m->rope_freqs, 0, div);
    }
    if (!c->inv_freq || (m->rope_freqs.data && !div)) {
        free(div);
        return slm_fail(err, SLM_E_NOMEM, "rope tables");
    }
    /* longrope: the long factors once the context exceeds the original training length (as
     * llama.cpp decides per context; transformers decides per call from the sequence length) */
    const bool use_long = hp->rope_orig_ctx > 0 && c->params.n_ctx > hp->rope_orig_ctx;
    fwd_rope_inv_freq(hp, hp->rope_theta, true, use_long, div, c->inv_freq);
    free(div);
    if (hp->rope_theta_local > 0) {
        c->inv_freq_local = calloc((size_t)(half > 0 ? half : 1), sizeof(float));
        if (!c->inv_freq_local) return slm_fail(err, SLM_E_NOMEM, "rope tables");
        fwd_rope_inv_freq(hp, hp->rope_theta_local, false, false, NULL, c->inv_freq_local);
    }
    c->rope_mscale = hp->rope_scaling == SLM_ROPE_SCALING_LONGROPE && hp->rope_attn_factor > 0 ? hp->rope_attn_factor
                                                                                               : 1.0f;
    return SLM_OK;
}

slm_status slm_context_new(const slm_model *m, const slm_context_params *pp, slm_context **out, slm_error *err) {
    *out = NULL;
    if (!m) return slm_fail(err, SLM_E_INVALID_ARG, "no model");
    slm_context_params p = pp ? *pp : slm_context_default_params();
    if (p.n_ctx <= 0 || p.n_ctx > CTX_MAX_CELLS)
        return slm_fail(err, SLM_E_INVALID_ARG, "n_ctx %d out of range 1..%d", p.n_ctx, CTX_MAX_CELLS);
    if (p.n_seq_max <= 0 || p.n_seq_max > p.n_ctx)
        return slm_fail(err, SLM_E_INVALID_ARG, "n_seq_max %d out of range 1..n_ctx", p.n_seq_max);
    if (p.n_ubatch <= 0) p.n_ubatch = 256;
    if (p.n_ubatch > CTX_MAX_UBATCH) p.n_ubatch = CTX_MAX_UBATCH;
    if (p.n_ubatch > p.n_ctx) p.n_ubatch = p.n_ctx;
    if (p.n_threads <= 0) p.n_threads = slm_cpu_count_physical();
    if (p.n_threads > SLM_THREADPOOL_MAX) p.n_threads = SLM_THREADPOOL_MAX;
    if (p.exact) p.kv_type = SLM_KV_F32;
    if (p.kv_type != SLM_KV_F16 && p.kv_type != SLM_KV_F32 && p.kv_type != SLM_KV_Q8_0)
        return slm_fail(err, SLM_E_INVALID_ARG, "unknown kv cache type %d", (int)p.kv_type);
    slm_status st = check_model(m, err);
    if (st) return st;

    slm_context *c = calloc(1, sizeof *c);
    if (!c) return slm_fail(err, SLM_E_NOMEM, "context");
    c->model = m;
    c->params = p;
    const slm_hparams *hp = &m->hp;
    const size_t U = (size_t)p.n_ubatch;
    st = kv_cache_init(&c->kv, p.kv_type, (int32_t)hp->n_layer, p.n_ctx, hp->n_head_kv * hp->head_dim, err);
    if (!st && p.n_threads > 1) st = slm_threadpool_new(p.n_threads, &c->pool, err);
    if (!st) st = alloc_arena(c, p.n_threads > 1 ? p.n_threads : 1, err);
    if (!st) st = init_rope(c, err);
    if (!st && !p.exact) {
        st = slm_kernels_init(err);
        if (!st) {
            c->kt = slm_kernels_get();
            st = alloc_act(c, err);
        }
    }
    if (!st) {
        int32_t *ub = malloc(5 * U * sizeof(int32_t));
        if (!ub) {
            st = slm_fail(err, SLM_E_NOMEM, "micro-batch");
        } else {
            c->ub_token = ub;
            c->ub_pos = ub + U;
            c->ub_seq = ub + 2 * U;
            c->ub_cell = ub + 3 * U;
            c->ub_out = ub + 4 * U;
        }
    }
    if (st) {
        slm_context_free(c);
        return st;
    }
    *out = c;
    return SLM_OK;
}

void slm_context_free(slm_context *c) {
    if (!c) return;
    slm_threadpool_free(c->pool);
    kv_cache_free(&c->kv);
    free(c->arena);
    free(c->act);
    free(c->inv_freq);
    free(c->inv_freq_local);
    free(c->ub_token);
    free(c->logits);
    free(c->entry_out);
    free(c);
}

/* Room for n entries and n_out logit rows; done before the forward pass so that it never
 * allocates. Logits are n_out x n_vocab floats: only the rows asked for are kept. */
static slm_status reserve_outputs(slm_context *c, int32_t n, int32_t n_out, slm_error *err) {
    if (n > c->entry_cap) {
        int32_t *e = realloc(c->entry_out, (size_t)n * sizeof *e);
        if (!e) return slm_fail(err, SLM_E_NOMEM, "decode: %d entries", n);
        c->entry_out = e;
        c->entry_cap = n;
    }
    if (n_out > c->logits_cap_rows) {
        size_t bytes;
        if (!ck_mul_size((size_t)n_out, (size_t)c->model->hp.n_vocab, &bytes) ||
            !ck_mul_size(bytes, sizeof(float), &bytes))
            return slm_fail(err, SLM_E_NOMEM, "decode: logits for %d entries are too large", n_out);
        float *l = realloc(c->logits, bytes);
        if (!l) return slm_fail(err, SLM_E_NOMEM, "decode: cannot allocate %zu bytes of logits", bytes);
        c->logits = l;
        c->logits_cap_rows = n_out;
    }
    return SLM_OK;
}

/* Cells the batch needs beyond those it overwrites (same sequence and position). */
static int32_t cells_needed(const slm_context *c, const slm_batch_entry *b, int32_t n) {
    const kv_cache *kv = &c->kv;
    int32_t need = 0;
    for (int32_t i = 0; i < n; i++) {
        bool present = false;
        for (int32_t j = 0; j < kv->used_end && !present; j++)
            present = kv->cell_seq[j] == b[i].seq_id && kv->cell_pos[j] == b[i].pos;
        need += !present;
    }
    return need;
}

slm_status slm_decode(slm_context *c, const slm_batch_entry *b, int32_t n, slm_error *err) {
    if (!c || (n > 0 && !b) || n < 0) return slm_fail(err, SLM_E_INVALID_ARG, "decode: bad arguments");
    c->n_entries = 0;
    atomic_store(&c->cancel, 0);
    const int64_t V = c->model->hp.n_vocab;
    int32_t n_out = 0;
    for (int32_t i = 0; i < n; i++) {
        if (b[i].token < 0 || b[i].token >= V)
            return slm_fail(err, SLM_E_INVALID_ARG, "decode: token id %d is outside the vocabulary (0..%lld)",
                            b[i].token, (long long)V - 1);
        if (b[i].seq_id < 0 || b[i].seq_id >= c->params.n_seq_max)
            return slm_fail(err, SLM_E_INVALID_ARG, "decode: sequence id %d outside 0..%d", b[i].seq_id,
                            c->params.n_seq_max - 1);
        if (b[i].pos < 0 || b[i].pos >= c->params.n_ctx)
            return slm_fail(err, SLM_E_RANGE,
                            "sequence %d would exceed the context: position %d needs n_ctx > %d (n_ctx is %d)",
                            b[i].seq_id, b[i].pos, b[i].pos, c->params.n_ctx);
        n_out += b[i].want_logits;
    }
    const int32_t need = cells_needed(c, b, n);
    if (need > c->kv.n_cells - c->kv.n_used)
        return slm_fail(err, SLM_E_RANGE, "the KV cache is full: %d cells needed, %d free of n_ctx %d", need,
                        c->kv.n_cells - c->kv.n_used, c->params.n_ctx);
    slm_status st = reserve_outputs(c, n, n_out, err);
    if (st) return st;

    int32_t row = 0;
    for (int32_t i0 = 0; i0 < n; i0 += c->params.n_ubatch) {
        const int32_t m = n - i0 < c->params.n_ubatch ? n - i0 : c->params.n_ubatch;
        c->n_ub = m;
        for (int32_t t = 0; t < m; t++) {
            const slm_batch_entry *e = &b[i0 + t];
            c->ub_token[t] = e->token;
            c->ub_pos[t] = e->pos;
            c->ub_seq[t] = e->seq_id;
            c->ub_cell[t] = kv_cache_claim(&c->kv, e->seq_id, e->pos); /* >= 0: counted above */
            c->ub_out[t] = e->want_logits ? row++ : -1;
            c->entry_out[i0 + t] = c->ub_out[t];
        }
        st = fwd_ubatch(c, err);
        if (st) {
            for (int32_t t = 0; t < m; t++) kv_cache_release(&c->kv, c->ub_cell[t]);
            return st;
        }
        c->n_entries = i0 + m;
    }
    return SLM_OK;
}

const float *slm_context_logits(const slm_context *c, int32_t i) {
    if (!c || i < 0 || i >= c->n_entries || c->entry_out[i] < 0) return NULL;
    return c->logits + (size_t)c->entry_out[i] * (size_t)c->model->hp.n_vocab;
}

int64_t slm_context_n_vocab(const slm_context *c) { return c->model->hp.n_vocab; }
int32_t slm_context_n_ctx(const slm_context *c) { return c->params.n_ctx; }
int32_t slm_context_n_threads(const slm_context *c) { return c->params.n_threads; }

void slm_seq_remove(slm_context *c, int32_t seq_id, int32_t p0, int32_t p1) {
    kv_cache_seq_remove(&c->kv, seq_id, p0 < 0 ? 0 : p0, p1);
}

int32_t slm_seq_pos_max(const slm_context *c, int32_t seq_id) { return kv_cache_seq_pos_max(&c->kv, seq_id); }

int32_t slm_context_n_free_cells(const slm_context *c) { return c->kv.n_cells - c->kv.n_used; }

void slm_context_cancel(slm_context *c) { atomic_store(&c->cancel, 1); }

void slm_context_set_abort(slm_context *c, slm_abort_fn fn, void *user) {
    c->abort_fn = fn;
    c->abort_user = user;
}
