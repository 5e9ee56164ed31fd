#include "convert/convert.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/dtype.h"
#include "base/error.h"
#include "base/file.h"
#include "base/threadpool.h"
#include "gguf/gguf.h"
#include "hf/hf_folder.h"
#include "model/loader.h"
#include "quant/quant.h"

/* Rows converted per work item: a multiple of any head size, small enough that each thread's
 * float32 scratch stays a few MB for the widest rows. */
#define ROWS_PER_CHUNK 64

/* How a source tensor's float rows are transformed before quantization. */
typedef enum row_fix { FIX_NONE, FIX_PERMUTE_QK, FIX_PLUS_ONE } row_fix;

typedef struct tensor_job {
    const char *name;
    uint32_t src_type, dst_type;
    int n_dims;
    int64_t ne[4];
    const void *src;
    int64_t row_elems;  /* elements per processed row (ne[0], or 1 for a permuted bias) */
    int64_t n_rows;
    uint64_t src_row_bytes, dst_row_bytes;
    bool vector_f32;    /* 1-D tensor that GGUF stores as F32 */
    row_fix fix;
    int64_t head_dim; /* for FIX_PERMUTE_QK */
} tensor_job;

typedef struct convert_state {
    tensor_job *jobs;
    int64_t n_jobs;
    slm_threadpool *pool;
    float *scratch;          /* n_threads x ROWS_PER_CHUNK x max_ne0 floats */
    int64_t scratch_stride;  /* floats per thread */
    const slm_convert_opts *opts;
    uint64_t bytes_done, bytes_total;
    /* per fill call */
    const tensor_job *cur;
    void *dst;
    slm_status thread_status;
    char thread_msg[256];
} convert_state;

/* Row r of the GGUF (adjacent-pair rope) layout comes from HF row src_row(r): inside each head of
 * d rows, GGUF row 2j+p is HF row j + p*d/2 (llama.cpp's converter permutation). */
static int64_t permuted_source_row(int64_t r, int64_t d) {
    int64_t h = r / d, i = r % d;
    return h * d + (i / 2) + (i % 2) * (d / 2);
}

static void convert_rows(void *arg, int ith, int nth) {
    convert_state *s = arg;
    const tensor_job *j = s->cur;
    int64_t ne0 = j->row_elems;
    float *buf = s->scratch + (int64_t)ith * s->scratch_stride;
    slm_to_float_fn to_f = slm_quant_to_float(j->src_type);
    slm_from_float_fn from_f = slm_quant_from_float(j->dst_type);
    int64_t n_chunks = (j->n_rows + ROWS_PER_CHUNK - 1) / ROWS_PER_CHUNK;
    for (int64_t c = ith; c < n_chunks; c += nth) {
        int64_t r0 = c * ROWS_PER_CHUNK;
        int64_t r1 = r0 + ROWS_PER_CHUNK < j->n_rows ? r0 + ROWS_PER_CHUNK : j->n_rows;
        for (int64_t r = r0; r < r1; r++) {
            int64_t sr = j->fix == FIX_PERMUTE_QK ? permuted_source_row(r, j->head_dim) : r;
            float *row = buf + (r - r0) * ne0;
            to_f((const uint8_t *)j->src + sr * j->src_row_bytes, row, ne0);
            if (j->fix == FIX_PLUS_ONE)
                for (int64_t i = 0; i < ne0; i++) row[i] += 1.0f;
        }
        for (int64_t r = r0; r < r1; r++)
            from_f(buf + (r - r0) * ne0, (uint8_t *)s->dst + r * j->dst_row_bytes, ne0);
    }
}

static slm_status fill_tensor(void *user, int64_t index, void *dst, uint64_t nbytes, slm_error *err) {
    convert_state *s = user;
    const tensor_job *j = &s->jobs[index];
    if (nbytes != j->dst_row_bytes * (uint64_t)j->n_rows)
        return slm_fail(err, SLM_E_INVALID_ARG, "internal: size mismatch for '%s'", j->name);
    if (j->src_type == j->dst_type && j->fix == FIX_NONE) {
        memcpy(dst, j->src, nbytes); /* unchanged tensors are copied bit for bit */
    } else {
        s->cur = j;
        s->dst = dst;
        slm_threadpool_run(s->pool, convert_rows, s);
    }
    s->bytes_done += nbytes;
    if (s->opts->progress) {
        slm_convert_progress p = {index, s->n_jobs, j->name, j->dst_type, s->bytes_done, s->bytes_total};
        s->opts->progress(s->opts->progress_user, &p);
    }
    return SLM_OK;
}

/* Plan one tensor: pick its output type and check that slm can produce it. */
static slm_status plan_tensor(tensor_job *j, const slm_recipe_ctx *rc, slm_error *err) {
    j->dst_type = j->vector_f32 && j->n_dims <= 1
                      ? SLM_DT_F32
                      : slm_recipe_tensor_type(rc, j->name, j->n_dims, j->ne, j->src_type);
    if (!j->row_elems) {
        j->row_elems = j->ne[0];
        j->n_rows = j->ne[1] * j->ne[2] * j->ne[3];
    }
    if (!slm_dtype_row_size(j->src_type, (uint64_t)j->row_elems, &j->src_row_bytes) ||
        !slm_dtype_row_size(j->dst_type, (uint64_t)j->row_elems, &j->dst_row_bytes))
        return slm_fail(err, SLM_E_FORMAT, "tensor '%s': rows of %lld elements do not fit its type", j->name,
                        (long long)j->row_elems);
    bool copy = j->src_type == j->dst_type && j->fix == FIX_NONE;
    if (!copy && (!slm_quant_to_float(j->src_type) || !slm_quant_from_float(j->dst_type))) {
        const char *a = slm_dtype_name(j->src_type), *b = slm_dtype_name(j->dst_type);
        return slm_fail(err, SLM_E_UNSUPPORTED, "tensor '%s': cannot convert %s to %s", j->name, a ? a : "?",
                        b ? b : "?");
    }
    return SLM_OK;
}

/* ---- Sources ------------------------------------------------------------------------------- */

/* llama-quantize's tensor order: tensors outside layers first, then by layer number, each group by
 * name. Following it makes our quantized files byte-identical to llama.cpp's. */
static int64_t layer_index(const char *name) {
    if (strncmp(name, "blk.", 4)) return -1;
    return strtoll(name + 4, NULL, 10);
}

static int job_order(const void *a, const void *b) {
    const tensor_job *x = a, *y = b;
    int64_t lx = layer_index(x->name), ly = layer_index(y->name);
    if (lx != ly) return lx < ly ? -1 : 1;
    return strcmp(x->name, y->name);
}

static slm_status jobs_from_gguf(const gguf_file *f, const slm_model *m, tensor_job **out, int64_t *n,
                                 slm_error *err) {
    int64_t nt = gguf_n_tensors(f);
    tensor_job *jobs = calloc((size_t)(nt ? nt : 1), sizeof *jobs);
    if (!jobs) return slm_fail(err, SLM_E_NOMEM, "out of memory");
    for (int64_t i = 0; i < nt; i++) {
        const gguf_tensor_info *t = gguf_tensor(f, i);
        tensor_job *j = &jobs[i];
        j->name = t->name;
        j->src_type = t->type;
        j->n_dims = (int)t->n_dims;
        memcpy(j->ne, t->ne, sizeof j->ne);
        j->src = t->data;
    }
    (void)m;
    qsort(jobs, (size_t)nt, sizeof *jobs, job_order);
    *out = jobs;
    *n = nt;
    return SLM_OK;
}

static slm_status jobs_from_hf(const hf_folder *f, const slm_model *m, tensor_job **out, int64_t *n,
                               slm_error *err) {
    size_t nt = hf_n_tensors(f);
    tensor_job *jobs = calloc(nt ? nt : 1, sizeof *jobs);
    if (!jobs) return slm_fail(err, SLM_E_NOMEM, "out of memory");
    int64_t k = 0;
    for (size_t i = 0; i < nt; i++) {
        const hf_tensor *t = hf_tensor_at(f, i);
        if (!t->gguf_name) continue; /* e.g. rotary inv_freq buffers: derived, not weights */
        if (t->type < 0) {
            free(jobs);
            return slm_fail(err, SLM_E_UNSUPPORTED, "tensor '%s' has a dtype slm cannot convert", t->hf_name);
        }
        tensor_job *j = &jobs[k++];
        j->name = t->gguf_name;
        j->src_type = (uint32_t)t->type;
        j->n_dims = t->n_dims;
        memcpy(j->ne, t->ne, sizeof j->ne);
        j->src = t->data;
        size_t len = strlen(j->name);
        bool is_norm = len > 12 && !strcmp(j->name + len - 12, "_norm.weight");
        if (m->hp.arch == SLM_ARCH_LLAMA &&
            (strstr(j->name, ".attn_q.weight") || strstr(j->name, ".attn_k.weight") ||
             strstr(j->name, ".attn_q.bias") || strstr(j->name, ".attn_k.bias"))) {
            j->fix = FIX_PERMUTE_QK;
            j->head_dim = m->hp.head_dim;
            if (j->n_dims == 1) { /* a bias: permute its elements as rows of one element */
                j->row_elems = 1;
                j->n_rows = j->ne[0];
            }
        } else if (m->hp.norm_plus_one && is_norm) {
            j->fix = FIX_PLUS_ONE; /* GGUF Gemma stores 1 + w; llama.cpp applies plain RMSNorm */
        }
        j->vector_f32 = true; /* llama.cpp's converter stores 1-D tensors (norms, biases) as F32 */
    }
    *out = jobs;
    *n = k;
    return SLM_OK;
}

/* ---- Metadata ------------------------------------------------------------------------------ */

#define TRY(expr)                   \
    do {                            \
        slm_status st_ = (expr);    \
        if (st_) return st_;        \
    } while (0)

static slm_status add_arch_u32(gguf_writer *w, const char *arch, const char *suffix, int64_t v, slm_error *err) {
    char key[160];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    return gguf_writer_add_u32(w, key, (uint32_t)v, err);
}

static slm_status add_arch_f32(gguf_writer *w, const char *arch, const char *suffix, float v, slm_error *err) {
    char key[160];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    return gguf_writer_add_f32(w, key, v, err);
}

/* llama.cpp's hyper-parameter keys for an HF model. */
static slm_status write_hparams(gguf_writer *w, const slm_hparams *hp, const char *name, slm_error *err) {
    const char *a = hp->arch_name;
    TRY(gguf_writer_add_str(w, "general.architecture", a, err));
    TRY(gguf_writer_add_str(w, "general.type", "model", err));
    TRY(gguf_writer_add_str(w, "general.name", name, err));
    TRY(add_arch_u32(w, a, "block_count", hp->n_layer, err));
    TRY(add_arch_u32(w, a, "context_length", hp->n_ctx_train, err));
    TRY(add_arch_u32(w, a, "embedding_length", hp->n_embd, err));
    TRY(add_arch_u32(w, a, "feed_forward_length", hp->n_ff, err));
    TRY(add_arch_u32(w, a, "attention.head_count", hp->n_head, err));
    TRY(add_arch_u32(w, a, "attention.head_count_kv", hp->n_head_kv, err));
    TRY(add_arch_f32(w, a, "rope.freq_base", hp->rope_theta, err));
    TRY(add_arch_f32(w, a, "attention.layer_norm_rms_epsilon", hp->rms_eps, err));
    TRY(add_arch_u32(w, a, "attention.key_length", hp->head_dim, err));
    TRY(add_arch_u32(w, a, "attention.value_length", hp->head_dim, err));
    TRY(add_arch_u32(w, a, "rope.dimension_count", hp->n_rot, err));
    TRY(add_arch_u32(w, a, "vocab_size", hp->n_vocab, err));
    if (hp->rope_scaling == SLM_ROPE_SCALING_LINEAR) {
        char key[160];
        snprintf(key, sizeof key, "%s.rope.scaling.type", a);
        TRY(gguf_writer_add_str(w, key, "linear", err));
        TRY(add_arch_f32(w, a, "rope.scaling.factor", hp->rope_factor, err));
    }
    if (hp->rope_scaling == SLM_ROPE_SCALING_LONGROPE) {
        TRY(add_arch_f32(w, a, "rope.scaling.attn_factor", hp->rope_attn_factor, err));
        TRY(add_arch_u32(w, a, "rope.scaling.original_context_length", hp->rope_orig_ctx, err));
    }
    if (hp->sliding_window > 0) TRY(add_arch_u32(w, a, "attention.sliding_window", hp->sliding_window, err));
    if (hp->swa_pattern > 0) TRY(add_arch_u32(w, a, "attention.sliding_window_pattern", hp->swa_pattern, err));
    if (hp->rope_theta_local > 0) TRY(add_arch_f32(w, a, "rope.freq_base_swa", hp->rope_theta_local, err));
    if (hp->attn_scale > 0) TRY(add_arch_f32(w, a, "attention.scale", hp->attn_scale, err));
    if (hp->final_logit_softcap > 0) TRY(add_arch_f32(w, a, "final_logit_softcapping", hp->final_logit_softcap, err));
    if (hp->attn_logit_softcap > 0) TRY(add_arch_f32(w, a, "attn_logit_softcapping", hp->attn_logit_softcap, err));
    return SLM_OK;
}

/* Llama 3 rope scaling as llama.cpp stores it: one divisor per rotated frequency pair. Computed
 * in float32 step by step as its converter does with torch (x / t is reciprocal(t) * x there), so
 * that the tensor is bit-identical to llama.cpp's. */
void slm_llama3_rope_divisors(const slm_hparams *hp, float *out) {
    int64_t half = hp->n_rot / 2;
    float orig = (float)hp->rope_orig_ctx, lo = hp->rope_low_freq_factor, hi = hp->rope_high_freq_factor;
    float factor = hp->rope_factor;
    double low_wavelen = (double)hp->rope_orig_ctx / lo, high_wavelen = (double)hp->rope_orig_ctx / hi;
    for (int64_t i = 0; i < half; i++) {
        float expo = (float)(2 * i) / (float)hp->n_rot;
        float freq = 1.0f / (float)pow((double)hp->rope_theta, (double)expo);
        float wavelen = (1.0f / freq) * (float)(2 * M_PI);
        float div;
        if (wavelen < high_wavelen) div = 1;
        else if (wavelen > low_wavelen) div = factor;
        else {
            float smooth = ((1.0f / wavelen) * orig - lo) / (hi - lo);
            div = 1.0f / ((1.0f - smooth) / factor + smooth);
        }
        out[i] = div;
    }
}

/* ---- Driver -------------------------------------------------------------------------------- */

typedef struct extra_tensor {
    const char *name;
    float *data;
    int64_t n;
} extra_tensor;

slm_status slm_convert(const char *in, const char *out, const slm_convert_opts *opts, slm_error *err) {
    slm_model *m = NULL;
    gguf_writer *w = NULL;
    slm_threadpool *pool = NULL;
    tensor_job *jobs = NULL;
    int64_t n_jobs = 0;
    convert_state s = {0};
    extra_tensor extras[3] = {{0}};
    int n_extras = 0;
    slm_status st = slm_model_load(in, &m, err);
    if (st) return st;
    const slm_hparams *hp = &m->hp;
    gguf_file *gf = slm_model_gguf(m);
    hf_folder *hf = slm_model_hf(m);

    int n_threads = opts->n_threads > 0 ? opts->n_threads : slm_cpu_count_physical();
    if ((st = slm_threadpool_new(n_threads, &pool, err))) goto done;
    if ((st = gguf_writer_new(&w, err))) goto done;

    if (gf) {
        st = jobs_from_gguf(gf, m, &jobs, &n_jobs, err);
        for (int64_t i = 0; !st && i < gguf_n_kv(gf); i++) {
            const char *k = gguf_key_name(gf, i);
            if (!strcmp(k, "general.file_type") || !strcmp(k, "general.quantization_version")) continue;
            st = gguf_writer_copy_kv(w, gf, i, err);
        }
    } else {
        st = jobs_from_hf(hf, m, &jobs, &n_jobs, err);
        if (!st) {
            const char *base = strrchr(hf_dir(hf), '/');
            st = write_hparams(w, hp, hp->name[0] ? hp->name : base ? base + 1 : hf_dir(hf), err);
        }
        if (!st) st = slm_tokenizer_export_gguf(hf_dir(hf), w, err);
        /* Derived tensors llama.cpp expects instead of config keys. */
        int64_t half = hp->n_rot / 2;
        if (!st && hp->rope_scaling == SLM_ROPE_SCALING_LLAMA3 && half > 0) {
            extras[n_extras] = (extra_tensor){"rope_freqs.weight", malloc((size_t)half * sizeof(float)), half};
            if (extras[n_extras].data) slm_llama3_rope_divisors(hp, extras[n_extras].data);
            n_extras++;
        }
        if (!st && hp->rope_scaling == SLM_ROPE_SCALING_LONGROPE && half > 0) {
            const float *src[2] = {hp->rope_long_factor, hp->rope_short_factor};
            const char *names[2] = {"rope_factors_long.weight", "rope_factors_short.weight"};
            for (int k = 0; k < 2; k++) {
                if (!src[k]) continue;
                extras[n_extras] = (extra_tensor){names[k], malloc((size_t)half * sizeof(float)), half};
                if (extras[n_extras].data) memcpy(extras[n_extras].data, src[k], (size_t)half * sizeof(float));
                n_extras++;
            }
        }
        for (int k = 0; k < n_extras; k++)
            if (!extras[k].data) st = slm_fail(err, SLM_E_NOMEM, "out of memory");
        if (!st && n_extras) {
            tensor_job *nj = realloc(jobs, (size_t)(n_jobs + n_extras) * sizeof *jobs);
            if (!nj) st = slm_fail(err, SLM_E_NOMEM, "out of memory");
            else jobs = nj;
            /* llama.cpp's converter writes its generated tensors first. */
            if (!st) memmove(jobs + n_extras, jobs, (size_t)n_jobs * sizeof *jobs);
            for (int k = 0; !st && k < n_extras; k++, n_jobs++) {
                tensor_job *j = &jobs[k];
                memset(j, 0, sizeof *j);
                *j = (tensor_job){.name = extras[k].name, .src_type = SLM_DT_F32, .n_dims = 1,
                                  .ne = {extras[k].n, 1, 1, 1}, .src = extras[k].data, .vector_f32 = true};
            }
        }
    }
    if (st) goto done;
    if (!st) st = gguf_writer_add_u32(w, "general.quantization_version", 2, err);
    if (!st) st = gguf_writer_add_u32(w, "general.file_type", (uint32_t)opts->ftype, err);
    if (st) goto done;

    slm_recipe_ctx rc = {.ftype = opts->ftype, .n_layer = hp->n_layer, .n_gqa = hp->n_head / hp->n_head_kv,
                         .has_output = !hp->tied_output, .arch = hp->arch};
    int64_t max_row = 1;
    for (int64_t i = 0; i < n_jobs; i++) {
        if ((st = plan_tensor(&jobs[i], &rc, err))) goto done;
        if (jobs[i].row_elems > max_row) max_row = jobs[i].row_elems;
        s.bytes_total += jobs[i].dst_row_bytes * (uint64_t)jobs[i].n_rows;
    }
    s.jobs = jobs;
    s.n_jobs = n_jobs;
    s.pool = pool;
    s.opts = opts;
    s.scratch_stride = ROWS_PER_CHUNK * max_row;
    s.scratch = malloc((size_t)n_threads * (size_t)s.scratch_stride * sizeof(float));
    if (!s.scratch) {
        st = slm_fail(err, SLM_E_NOMEM, "out of memory for conversion scratch");
        goto done;
    }
    for (int64_t i = 0; i < n_jobs && !st; i++) {
        const tensor_job *j = &jobs[i];
        uint32_t nd = j->n_dims < 1 ? 1 : (uint32_t)j->n_dims;
        st = gguf_writer_add_tensor_fn(w, j->name, j->dst_type, nd, j->ne, fill_tensor, &s, err);
    }
    if (!st) st = gguf_writer_write(w, out, err);

done:
    free(s.scratch);
    for (int k = 0; k < n_extras; k++) free(extras[k].data);
    free(jobs);
    gguf_writer_free(w);
    slm_threadpool_free(pool);
    slm_model_free(m);
    return st;
}
