#include "model/model_info.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/dtype.h"
#include "base/error.h"
#include "base/file.h"
#include "gguf/gguf.h"
#include "hf/hf_folder.h"
#include "model/loader.h"

static void count_type(slm_model_info *info, uint32_t type, uint64_t bytes, uint64_t elems) {
    for (int i = 0; i < info->n_types; i++) {
        if (info->types[i].type == type) {
            info->types[i].n_tensors++;
            info->types[i].n_bytes += bytes;
            info->types[i].n_elements += elems;
            return;
        }
    }
    if (info->n_types == (int)(sizeof info->types / sizeof info->types[0])) return;
    info->types[info->n_types++] = (slm_type_count){type, 1, bytes, elems};
}

static int by_bytes_desc(const void *a, const void *b) {
    const slm_type_count *x = a, *y = b;
    return x->n_bytes < y->n_bytes ? 1 : x->n_bytes > y->n_bytes ? -1 : 0;
}

static void copy_str(char *dst, size_t cap, const char *src, size_t len) {
    if (len >= cap) len = cap - 1;
    memcpy(dst, src, len);
    dst[len] = '\0';
}

static void describe_gguf(const gguf_file *f, slm_model_info *info) {
    for (int64_t i = 0; i < gguf_n_tensors(f); i++) {
        const gguf_tensor_info *t = gguf_tensor(f, i);
        count_type(info, t->type, t->nbytes, t->n_elements);
        info->tensor_bytes += t->nbytes;
        info->n_tensors++;
    }
    gguf_str s;
    if (gguf_get_str(f, "tokenizer.ggml.model", &s)) copy_str(info->tokenizer_model, sizeof info->tokenizer_model, s.ptr, s.len);
    if (gguf_get_str(f, "tokenizer.ggml.pre", &s)) copy_str(info->tokenizer_pre, sizeof info->tokenizer_pre, s.ptr, s.len);
    gguf_arr arr;
    if (gguf_get_arr(f, "tokenizer.ggml.tokens", &arr)) info->tokenizer_size = (int64_t)arr.n;
    info->has_chat_template = gguf_find_key(f, "tokenizer.chat_template") >= 0;
}

/* tokenizer.json: model.type and the vocabulary size including added tokens beyond it. */
static slm_status describe_hf_tokenizer(const char *path, slm_model_info *info, slm_error *err) {
    char *text = NULL;
    size_t len = 0;
    slm_status st = slm_file_read_all(path, (size_t)1 << 30, &text, &len, err);
    if (st) return st;
    cJSON *root = cJSON_ParseWithLength(text, len);
    free(text);
    if (!root) return slm_fail(err, SLM_E_FORMAT, "'%s' is not valid JSON", path);
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(model, "type");
    if (cJSON_IsString(type)) copy_str(info->tokenizer_model, sizeof info->tokenizer_model, type->valuestring, strlen(type->valuestring));
    int64_t max_id = -1;
    const cJSON *vocab = cJSON_GetObjectItemCaseSensitive(model, "vocab");
    const cJSON *it;
    cJSON_ArrayForEach(it, vocab) {
        /* BPE: {"token": id}; Unigram: [["piece", score], ...] (index = id) */
        int64_t id = cJSON_IsNumber(it) ? (int64_t)it->valuedouble : max_id + 1;
        if (id > max_id) max_id = id;
    }
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(root, "added_tokens")) {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(it, "id");
        if (cJSON_IsNumber(id) && (int64_t)id->valuedouble > max_id) max_id = (int64_t)id->valuedouble;
    }
    info->tokenizer_size = max_id + 1;
    cJSON_Delete(root);
    return SLM_OK;
}

static slm_status describe_hf(const hf_folder *f, slm_model_info *info, slm_error *err) {
    for (size_t i = 0; i < hf_n_tensors(f); i++) {
        const hf_tensor *t = hf_tensor_at(f, i);
        uint64_t elems = 1;
        for (int d = 0; d < 4; d++) elems *= (uint64_t)t->ne[d];
        if (t->type >= 0) count_type(info, (uint32_t)t->type, t->nbytes, elems);
        info->tensor_bytes += t->nbytes;
        info->n_tensors++;
    }
    const cJSON *tc = hf_tokenizer_config(f);
    const cJSON *tmpl = cJSON_GetObjectItemCaseSensitive(tc, "chat_template");
    info->has_chat_template = cJSON_IsString(tmpl) || cJSON_IsArray(tmpl);
    if (!info->has_chat_template) {
        char path[4096];
        snprintf(path, sizeof path, "%s/chat_template.jinja", hf_dir(f));
        info->has_chat_template = slm_path_exists(path);
    }
    const char *tok = hf_tokenizer_json_path(f);
    if (tok) return describe_hf_tokenizer(tok, info, err);
    return SLM_OK;
}

slm_status slm_model_describe(const slm_model *m, slm_model_info *info, slm_error *err) {
    memset(info, 0, sizeof *info);
    info->tokenizer_size = -1;
    info->n_params = slm_model_n_params(m);
    info->file_bytes = m->file_bytes;
    slm_status st = SLM_OK;
    if (slm_model_gguf(m)) describe_gguf(slm_model_gguf(m), info);
    else if (slm_model_hf(m)) st = describe_hf(slm_model_hf(m), info, err);
    qsort(info->types, (size_t)info->n_types, sizeof info->types[0], by_bytes_desc);
    /* The file type users know ("Q4_K") is the type of most layer matrices. */
    uint32_t counts[SLM_DT_COUNT] = {0};
    for (int64_t il = 0; il < m->hp.n_layer; il++) {
        const slm_layer *l = &m->layers[il];
        const slm_weight *ws[] = {&l->wq, &l->wk, &l->wv, &l->wqkv, &l->wo, &l->w_gate, &l->w_up, &l->w_gate_up, &l->w_down};
        for (size_t k = 0; k < sizeof ws / sizeof ws[0]; k++)
            if (ws[k]->data && ws[k]->type < SLM_DT_COUNT) counts[ws[k]->type]++;
    }
    uint32_t best = 0;
    for (uint32_t t = 1; t < SLM_DT_COUNT; t++) if (counts[t] > counts[best]) best = t;
    const char *name = slm_dtype_name(best);
    snprintf(info->file_type, sizeof info->file_type, "%s", name ? name : "?");
    return st;
}

slm_ram_estimate slm_estimate_ram(const slm_model *m, int64_t n_ctx, double kv_bytes_per_elem, int64_t n_ubatch) {
    const slm_hparams *hp = &m->hp;
    slm_ram_estimate r = {0};
    r.n_ctx = n_ctx;
    r.weights = m->file_bytes;
    double kv_elems = 2.0 * (double)hp->n_layer * (double)n_ctx * (double)(hp->n_head_kv * hp->head_dim);
    r.kv_cache = (uint64_t)(kv_elems * kv_bytes_per_elem);
    if (n_ubatch > n_ctx) n_ubatch = n_ctx;
    /* Per token in a ubatch: residual + normed input + q/k/v + attention out (~6 x n_embd-sized rows),
     * gate/up/act (3 x n_ff), quantized activation copies (~1 byte/elem); attention scores
     * n_head x n_ctx per token; logits for one token; thread-private rows are small. */
    double per_tok = 4.0 * (6.0 * (double)hp->n_embd + 3.0 * (double)hp->n_ff +
                            (double)((hp->n_head + 2 * hp->n_head_kv) * hp->head_dim)) +
                     (double)(hp->n_embd + hp->n_ff);
    double scores = 4.0 * (double)hp->n_head * (double)n_ctx;
    r.scratch = (uint64_t)((double)n_ubatch * (per_tok + scores) + 4.0 * (double)hp->n_vocab * 2);
    r.total = r.weights + r.kv_cache + r.scratch;
    return r;
}

/* A float32 as the double of its shortest round-tripping decimal, so JSON shows 1e-06, not
 * 9.99999997475243e-07. */
static double f32_json(float v) {
    char buf[32];
    for (int prec = 6; prec <= 9; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, (double)v);
        if (strtof(buf, NULL) == v) break;
    }
    return strtod(buf, NULL);
}

static const char *rope_scaling_name(slm_rope_scaling s) {
    switch (s) {
    case SLM_ROPE_SCALING_NONE: return "none";
    case SLM_ROPE_SCALING_LINEAR: return "linear";
    case SLM_ROPE_SCALING_LLAMA3: return "llama3";
    case SLM_ROPE_SCALING_LONGROPE: return "longrope";
    }
    return "?";
}

cJSON *slm_model_info_json(const slm_model *m, const slm_model_info *info, const slm_ram_estimate *ram) {
    const slm_hparams *hp = &m->hp;
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    cJSON_AddStringToObject(o, "path", m->source_path);
    cJSON_AddStringToObject(o, "format", m->source_kind == SLM_SOURCE_GGUF ? "gguf" : "huggingface");
    cJSON_AddStringToObject(o, "architecture", hp->arch_name);
    cJSON_AddStringToObject(o, "name", hp->name);
    cJSON_AddNumberToObject(o, "parameters", (double)info->n_params);
    cJSON_AddStringToObject(o, "file_type", info->file_type);
    cJSON_AddNumberToObject(o, "file_bytes", (double)info->file_bytes);
    cJSON_AddNumberToObject(o, "context_length", (double)hp->n_ctx_train);
    cJSON_AddNumberToObject(o, "embedding_length", (double)hp->n_embd);
    cJSON_AddNumberToObject(o, "block_count", (double)hp->n_layer);
    cJSON_AddNumberToObject(o, "feed_forward_length", (double)hp->n_ff);
    cJSON_AddNumberToObject(o, "head_count", (double)hp->n_head);
    cJSON_AddNumberToObject(o, "head_count_kv", (double)hp->n_head_kv);
    cJSON_AddNumberToObject(o, "head_dim", (double)hp->head_dim);
    cJSON_AddNumberToObject(o, "vocab_size", (double)hp->n_vocab);
    cJSON_AddNumberToObject(o, "rms_eps", f32_json(hp->rms_eps));
    cJSON_AddBoolToObject(o, "tied_embeddings", hp->tied_output);
    if (hp->sliding_window > 0) cJSON_AddNumberToObject(o, "sliding_window", (double)hp->sliding_window);
    cJSON *rope = cJSON_AddObjectToObject(o, "rope");
    if (rope) {
        cJSON_AddNumberToObject(rope, "freq_base", f32_json(hp->rope_theta));
        if (hp->rope_theta_local > 0) cJSON_AddNumberToObject(rope, "freq_base_local", f32_json(hp->rope_theta_local));
        cJSON_AddNumberToObject(rope, "dimension_count", (double)hp->n_rot);
        cJSON_AddStringToObject(rope, "layout", hp->rope_neox ? "neox" : "normal");
        cJSON_AddStringToObject(rope, "scaling", rope_scaling_name(hp->rope_scaling));
        if (hp->rope_scaling == SLM_ROPE_SCALING_LINEAR) cJSON_AddNumberToObject(rope, "factor", f32_json(hp->rope_factor));
        if (hp->rope_orig_ctx > 0) cJSON_AddNumberToObject(rope, "original_context_length", (double)hp->rope_orig_ctx);
    }
    cJSON *tok = cJSON_AddObjectToObject(o, "tokenizer");
    if (tok) {
        cJSON_AddStringToObject(tok, "model", info->tokenizer_model);
        if (info->tokenizer_pre[0]) cJSON_AddStringToObject(tok, "pre", info->tokenizer_pre);
        cJSON_AddNumberToObject(tok, "size", (double)info->tokenizer_size);
        cJSON_AddNumberToObject(tok, "bos_token_id", (double)hp->bos_id);
        cJSON_AddNumberToObject(tok, "eos_token_id", (double)hp->eos_id);
    }
    cJSON_AddBoolToObject(o, "chat_template", info->has_chat_template);
    cJSON *types = cJSON_AddArrayToObject(o, "tensor_types");
    for (int i = 0; types && i < info->n_types; i++) {
        cJSON *t = cJSON_CreateObject();
        if (!t) break;
        const char *n = slm_dtype_name(info->types[i].type);
        cJSON_AddStringToObject(t, "type", n ? n : "?");
        cJSON_AddNumberToObject(t, "tensors", info->types[i].n_tensors);
        cJSON_AddNumberToObject(t, "bytes", (double)info->types[i].n_bytes);
        cJSON_AddItemToArray(types, t);
    }
    cJSON *r = cJSON_AddObjectToObject(o, "ram_estimate");
    if (r) {
        cJSON_AddNumberToObject(r, "context", (double)ram->n_ctx);
        cJSON_AddNumberToObject(r, "weights_bytes", (double)ram->weights);
        cJSON_AddNumberToObject(r, "kv_cache_bytes", (double)ram->kv_cache);
        cJSON_AddNumberToObject(r, "scratch_bytes", (double)ram->scratch);
        cJSON_AddNumberToObject(r, "total_bytes", (double)ram->total);
    }
    return o;
}
