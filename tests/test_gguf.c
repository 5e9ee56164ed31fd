/* GGUF reader and writer against the fixtures:
 *  - the three llama.cpp f16 conversions: metadata vs config.json, tokens/merges vs
 *    tokenizer.json, tensor names/types/shapes from the architecture, and every weight value vs
 *    model.safetensors (bf16 -> f16 is exact for these weights; llama's q/k row permutation undone);
 *  - the llama2-quant files vs reference-<Q>/meta.json (size, per-tensor types);
 *  - the llama.cpp vocab-only files.
 * The writer is tested in test_gguf_write.c, broken files in test_gguf_bad.c. */
#include <cJSON.h>
#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/dtype.h"
#include "base/file.h"
#include "base/fp16.h"
#include "gguf/gguf.h"
#include "testutil.h"

static cJSON *load_json(const char *path) {
    char *text = NULL;
    size_t len = 0;
    slm_error e = {0};
    if (slm_file_read_all(path, 64u << 20, &text, &len, &e) != SLM_OK) {
        CHECK(0, "cannot read %s: %s", path, e.msg);
        return NULL;
    }
    cJSON *j = cJSON_ParseWithLength(text, len);
    free(text);
    CHECK(j != NULL, "bad JSON in %s", path);
    return j;
}

static int json_int(const cJSON *o, const char *k, int dflt) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? v->valueint : dflt;
}

static double json_num(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

static bool str_is(gguf_str s, const char *c) { return gguf_str_eq(s, c); }

/* --- Safetensors (test-side reader, just enough for one-file bf16 checkpoints) ------------- */

typedef struct st_file {
    slm_mapped_file map;
    cJSON *header;
    uint64_t data_start;
} st_file;

static bool st_open(const char *path, st_file *st) {
    slm_error e = {0};
    memset(st, 0, sizeof *st);
    if (slm_file_map(path, &st->map, &e) != SLM_OK || st->map.size < 8) return false;
    uint64_t n;
    memcpy(&n, st->map.data, 8);
    if (n > st->map.size - 8) return false;
    st->header = cJSON_ParseWithLength((const char *)st->map.data + 8, (size_t)n);
    st->data_start = 8 + n;
    return st->header != NULL;
}

static void st_close(st_file *st) {
    cJSON_Delete(st->header);
    slm_file_unmap(&st->map);
}

/* bf16 values of tensor name as floats (malloc'd), count in *n; NULL if absent. */
static float *st_values(const st_file *st, const char *name, uint64_t *n) {
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(st->header, name);
    const cJSON *offs = cJSON_GetObjectItemCaseSensitive(t, "data_offsets");
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(t, "dtype");
    if (!t || cJSON_GetArraySize(offs) != 2 || !cJSON_IsString(dt) || strcmp(dt->valuestring, "BF16") != 0) return NULL;
    uint64_t a = (uint64_t)cJSON_GetArrayItem(offs, 0)->valuedouble, b = (uint64_t)cJSON_GetArrayItem(offs, 1)->valuedouble;
    if (b < a || st->data_start + b > st->map.size) return NULL;
    *n = (b - a) / 2;
    float *v = malloc(*n * sizeof *v + 1);
    const uint8_t *p = st->map.data + st->data_start + a;
    for (uint64_t i = 0; i < *n; i++) {
        uint16_t h;
        memcpy(&h, p + 2 * i, 2);
        v[i] = slm_bf16_to_f32(h);
    }
    return v;
}

/* Value i of a GGUF F32/F16 tensor. */
static float tensor_value(const gguf_tensor_info *t, uint64_t i) {
    const uint8_t *p = t->data;
    if (t->type == SLM_DT_F32) {
        float f;
        memcpy(&f, p + 4 * i, 4);
        return f;
    }
    uint16_t h;
    memcpy(&h, p + 2 * i, 2);
    return slm_f16_to_f32(h);
}

/* --- The f16 conversions ------------------------------------------------------------------ */

typedef struct model_case {
    const char *model, *file, *arch, *tok_model, *pre;
    int add_bos; /* -1: key absent */
    bool biases, rope_freqs, permuted;
} model_case;

static const model_case k_models[] = {
    {"llama3-tiny", "llama3-tiny-f16.gguf", "llama", "gpt2", "smaug-bpe", -1, false, true, true},
    {"qwen2-tiny", "qwen2-tiny-f16.gguf", "qwen2", "gpt2", "qwen2", 0, true, false, false},
    {"llama2-quant", "llama2-quant-f16.gguf", "llama", "llama", "default", 1, false, false, true},
};

typedef struct expect_tensor {
    char gguf[64], hf[80];
    int n_dims;
    int64_t ne[2];
    int permute_heads; /* > 0: llama q/k row permutation with that many heads */
} expect_tensor;

/* Tensor list a llama.cpp conversion of this config must contain (and nothing else). */
static int expected_tensors(const model_case *mc, const cJSON *cfg, expect_tensor *out) {
    int hidden = json_int(cfg, "hidden_size", 0), ffn = json_int(cfg, "intermediate_size", 0);
    int n_head = json_int(cfg, "num_attention_heads", 0), n_kv = json_int(cfg, "num_key_value_heads", n_head);
    int head_dim = json_int(cfg, "head_dim", hidden / (n_head ? n_head : 1));
    int vocab = json_int(cfg, "vocab_size", 0), layers = json_int(cfg, "num_hidden_layers", 0);
    int n = 0;
#define ADD(G, H, ND, NE0, NE1, PH) \
    do { out[n] = (expect_tensor){.n_dims = ND, .ne = {NE0, NE1}, .permute_heads = PH}; \
         snprintf(out[n].gguf, sizeof out[n].gguf, "%s", G); snprintf(out[n].hf, sizeof out[n].hf, "%s", H); n++; } while (0)
    ADD("token_embd.weight", "model.embed_tokens.weight", 2, hidden, vocab, 0);
    ADD("output_norm.weight", "model.norm.weight", 1, hidden, 1, 0);
    if (mc->rope_freqs) ADD("rope_freqs.weight", "", 1, head_dim / 2, 1, 0);
    for (int l = 0; l < layers; l++) {
        char g[64], h[80];
        static const struct { const char *g, *h; int kind; } per[] = {
            {"attn_norm.weight", "input_layernorm.weight", 0},   {"ffn_norm.weight", "post_attention_layernorm.weight", 0},
            {"attn_q.weight", "self_attn.q_proj.weight", 1},      {"attn_k.weight", "self_attn.k_proj.weight", 2},
            {"attn_v.weight", "self_attn.v_proj.weight", 3},      {"attn_output.weight", "self_attn.o_proj.weight", 4},
            {"ffn_gate.weight", "mlp.gate_proj.weight", 5},       {"ffn_up.weight", "mlp.up_proj.weight", 5},
            {"ffn_down.weight", "mlp.down_proj.weight", 6},       {"attn_q.bias", "self_attn.q_proj.bias", 7},
            {"attn_k.bias", "self_attn.k_proj.bias", 8},          {"attn_v.bias", "self_attn.v_proj.bias", 8},
        };
        for (size_t k = 0; k < sizeof per / sizeof per[0]; k++) {
            if (per[k].kind >= 7 && !mc->biases) continue;
            snprintf(g, sizeof g, "blk.%d.%s", l, per[k].g);
            snprintf(h, sizeof h, "model.layers.%d.%s", l, per[k].h);
            switch (per[k].kind) {
            case 0: ADD(g, h, 1, hidden, 1, 0); break;
            case 1: ADD(g, h, 2, hidden, n_head * head_dim, mc->permuted ? n_head : 0); break;
            case 2: ADD(g, h, 2, hidden, n_kv * head_dim, mc->permuted ? n_kv : 0); break;
            case 3: ADD(g, h, 2, hidden, n_kv * head_dim, 0); break;
            case 4: ADD(g, h, 2, n_head * head_dim, hidden, 0); break;
            case 5: ADD(g, h, 2, hidden, ffn, 0); break;
            case 6: ADD(g, h, 2, ffn, hidden, 0); break;
            case 7: ADD(g, h, 1, n_head * head_dim, 1, 0); break;
            case 8: ADD(g, h, 1, n_kv * head_dim, 1, 0); break;
            }
        }
    }
#undef ADD
    return n;
}

static void check_key_u32(const gguf_file *f, const char *arch, const char *suffix, int want) {
    char key[128];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    uint32_t v = 0;
    CHECK(gguf_get_u32(f, key, &v) && v == (uint32_t)want, "%s = %u, want %d", key, v, want);
    CHECK(gguf_key_type(f, gguf_find_key(f, key)) == GGUF_TYPE_UINT32, "%s type", key);
}

static void check_tokens(const gguf_file *f, const cJSON *tok, int vocab, const char *model) {
    gguf_arr toks, types;
    CHECK(gguf_get_arr(f, "tokenizer.ggml.tokens", &toks) && toks.type == GGUF_TYPE_STRING, "%s: tokens", model);
    CHECK(toks.n == (uint64_t)vocab, "%s: %llu tokens, want %d", model, (unsigned long long)toks.n, vocab);
    CHECK(gguf_get_arr(f, "tokenizer.ggml.token_type", &types) && types.type == GGUF_TYPE_INT32 && types.n == toks.n,
          "%s: token_type", model);
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(tok, "model");
    const cJSON *vmap = cJSON_GetObjectItemCaseSensitive(m, "vocab");
    int mism = 0, seen = 0;
    for (const cJSON *e = vmap ? vmap->child : NULL; e; e = e->next, seen++) {
        gguf_str s;
        if (!gguf_arr_str(f, &toks, (uint64_t)e->valueint, &s) || !str_is(s, e->string)) mism++;
    }
    const cJSON *added = cJSON_GetObjectItemCaseSensitive(tok, "added_tokens");
    for (const cJSON *e = added ? added->child : NULL; e; e = e->next, seen++) {
        gguf_str s;
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(e, "content");
        if (!gguf_arr_str(f, &toks, (uint64_t)json_int(e, "id", -1), &s) || !str_is(s, c->valuestring)) mism++;
    }
    CHECK(seen > 1000 && mism == 0, "%s: %d of %d tokenizer.json tokens differ in the GGUF", model, mism, seen);
    int64_t tt = 0;
    CHECK(gguf_arr_get_i64(&types, 0, &tt) && tt >= 1 && tt <= 6, "%s: token_type[0] = %lld", model, (long long)tt);

    const cJSON *merges = cJSON_GetObjectItemCaseSensitive(m, "merges");
    gguf_arr gm;
    if (!strcmp(model, "llama2-quant")) return; /* SPM vocab: llama.cpp stores scores, not merges */
    CHECK(gguf_get_arr(f, "tokenizer.ggml.merges", &gm) && gm.type == GGUF_TYPE_STRING, "%s: merges", model);
    CHECK(gm.n == (uint64_t)cJSON_GetArraySize(merges), "%s: %llu merges", model, (unsigned long long)gm.n);
    int i = 0, bad = 0;
    for (const cJSON *e = merges ? merges->child : NULL; e && (uint64_t)i < gm.n; e = e->next, i++) {
        char buf[512];
        if (cJSON_IsString(e)) snprintf(buf, sizeof buf, "%s", e->valuestring);
        else snprintf(buf, sizeof buf, "%s %s", cJSON_GetArrayItem(e, 0)->valuestring, cJSON_GetArrayItem(e, 1)->valuestring);
        gguf_str s;
        if (!gguf_arr_str(f, &gm, (uint64_t)i, &s) || !str_is(s, buf)) bad++;
    }
    CHECK(bad == 0, "%s: %d merges differ", model, bad);
}

static void check_model(const model_case *mc) {
    const char *dir = tu_path("%s/models/%s", tu_fixtures(), mc->model);
    cJSON *cfg = load_json(tu_path("%s/config.json", dir));
    cJSON *tok = load_json(tu_path("%s/tokenizer.json", dir));
    gguf_file *f = NULL;
    slm_error e = {0};
    slm_status s = gguf_open(tu_path("%s/gguf/%s", dir, mc->file), &f, &e);
    CHECK(s == SLM_OK, "%s: %s", mc->file, e.msg);
    if (s != SLM_OK || !cfg || !tok) goto done;
    CHECK(gguf_version(f) == 3 && gguf_alignment(f) == 32 && gguf_data_offset(f) % 32 == 0, "%s: header", mc->file);

    gguf_str arch = {0}, tm = {0}, pre = {0};
    CHECK(gguf_get_str(f, "general.architecture", &arch) && str_is(arch, mc->arch), "%s: arch", mc->file);
    CHECK(gguf_get_str(f, "tokenizer.ggml.model", &tm) && str_is(tm, mc->tok_model), "%s: tokenizer model", mc->file);
    CHECK(gguf_get_str(f, "tokenizer.ggml.pre", &pre) && str_is(pre, mc->pre), "%s: pre '%.*s'", mc->file,
          (int)pre.len, pre.ptr ? pre.ptr : "");
    bool add_bos = false;
    if (mc->add_bos < 0) CHECK(gguf_find_key(f, "tokenizer.ggml.add_bos_token") < 0, "%s: add_bos absent", mc->file);
    else CHECK(gguf_get_bool(f, "tokenizer.ggml.add_bos_token", &add_bos) && add_bos == (mc->add_bos == 1), "%s: add_bos", mc->file);

    check_key_u32(f, mc->arch, "block_count", json_int(cfg, "num_hidden_layers", -1));
    check_key_u32(f, mc->arch, "embedding_length", json_int(cfg, "hidden_size", -1));
    check_key_u32(f, mc->arch, "feed_forward_length", json_int(cfg, "intermediate_size", -1));
    check_key_u32(f, mc->arch, "attention.head_count", json_int(cfg, "num_attention_heads", -1));
    check_key_u32(f, mc->arch, "attention.head_count_kv", json_int(cfg, "num_key_value_heads", -1));
    char key[128];
    float fv = 0;
    snprintf(key, sizeof key, "%s.rope.freq_base", mc->arch);
    CHECK(gguf_get_f32(f, key, &fv) && fv == (float)json_num(cfg, "rope_theta"), "%s = %g", key, fv);
    snprintf(key, sizeof key, "%s.attention.layer_norm_rms_epsilon", mc->arch);
    CHECK(gguf_get_f32(f, key, &fv) && fv == (float)json_num(cfg, "rms_norm_eps"), "%s = %g", key, fv);
    check_tokens(f, tok, json_int(cfg, "vocab_size", -1), mc->model);

    expect_tensor exp[128];
    int n_exp = expected_tensors(mc, cfg, exp);
    CHECK(gguf_n_tensors(f) == n_exp, "%s: %lld tensors, want %d", mc->file, (long long)gguf_n_tensors(f), n_exp);
    st_file st;
    bool have_st = st_open(tu_path("%s/model.safetensors", dir), &st);
    CHECK(have_st, "%s: cannot read model.safetensors", mc->model);
    for (int k = 0; k < n_exp; k++) {
        const gguf_tensor_info *t = gguf_find_tensor(f, exp[k].gguf);
        CHECK(t != NULL, "%s: tensor %s missing", mc->file, exp[k].gguf);
        if (!t) continue;
        CHECK(t == gguf_tensor(f, gguf_find_tensor_index(f, exp[k].gguf)), "index lookup");
        CHECK(t->n_dims == (uint32_t)exp[k].n_dims && t->ne[0] == exp[k].ne[0] && t->ne[1] == exp[k].ne[1] &&
                  t->ne[2] == 1 && t->ne[3] == 1,
              "%s: %s shape [%lld, %lld] nd %u, want [%lld, %lld]", mc->file, t->name, (long long)t->ne[0],
              (long long)t->ne[1], t->n_dims, (long long)exp[k].ne[0], (long long)exp[k].ne[1]);
        uint32_t want_type = exp[k].n_dims == 1 ? SLM_DT_F32 : SLM_DT_F16;
        CHECK(t->type == want_type, "%s: %s type %s", mc->file, t->name, slm_dtype_name(t->type));
        CHECK(((const uint8_t *)t->data - gguf_file_data(f)) % 32 == 0, "%s: %s unaligned", mc->file, t->name);
        if (!strcmp(exp[k].gguf, "rope_freqs.weight")) {
            static const float want[4] = {1.0f, 1.0f, 3.2922628f, 32.0f};
            for (int i = 0; i < 4 && t->ne[0] == 4; i++)
                CHECK(fabsf(tensor_value(t, (uint64_t)i) - want[i]) <= 1e-6f * want[i], "rope_freqs[%d]", i);
            continue;
        }
        uint64_t n = 0;
        float *ref = have_st ? st_values(&st, exp[k].hf, &n) : NULL;
        CHECK(ref && n == t->n_elements, "%s: safetensors %s missing or wrong size", mc->model, exp[k].hf);
        if (!ref || n != t->n_elements) {
            free(ref);
            continue;
        }
        uint64_t cols = (uint64_t)t->ne[0], bad = 0;
        int heads = exp[k].permute_heads;
        uint64_t d = heads ? (uint64_t)t->ne[1] / (uint64_t)heads : 1;
        for (uint64_t r = 0; r < (uint64_t)t->ne[1]; r++) {
            uint64_t hr = r; /* HF row of GGUF row r */
            if (heads) {
                uint64_t h = r / d, j = (r % d) / 2, p = r % 2;
                hr = h * d + j + p * (d / 2);
            }
            for (uint64_t c = 0; c < cols; c++)
                if (tensor_value(t, r * cols + c) != ref[hr * cols + c]) bad++;
        }
        CHECK(bad == 0, "%s: %s: %llu values differ from %s", mc->file, t->name, (unsigned long long)bad, exp[k].hf);
        free(ref);
    }
    if (have_st) st_close(&st);
done:
    gguf_close(f);
    cJSON_Delete(cfg);
    cJSON_Delete(tok);
}

/* --- Quantized files vs meta.json --------------------------------------------------------- */

static void check_quant_files(void) {
    char gdir[4096]; /* own copy: tu_path's buffers rotate */
    snprintf(gdir, sizeof gdir, "%s/models/llama2-quant/gguf", tu_fixtures());
    gguf_file *f16 = NULL;
    slm_error e = {0};
    CHECK(gguf_open(tu_path("%s/llama2-quant-f16.gguf", gdir), &f16, &e) == SLM_OK, "%s", e.msg);
    DIR *d = opendir(gdir);
    CHECK(d != NULL, "cannot list %s", gdir);
    int n_files = 0;
    for (struct dirent *de; d && (de = readdir(d));) {
        /* reference-f16/ holds logits only; each quantized reference has a meta.json */
        if (strncmp(de->d_name, "reference-", 10) != 0 || !slm_path_exists(tu_path("%s/%s/meta.json", gdir, de->d_name)))
            continue;
        cJSON *meta = load_json(tu_path("%s/%s/meta.json", gdir, de->d_name));
        if (!meta) continue;
        const cJSON *file = cJSON_GetObjectItemCaseSensitive(meta, "file");
        const cJSON *types = cJSON_GetObjectItemCaseSensitive(meta, "tensor_types");
        gguf_file *f = NULL;
        slm_status s = gguf_open(tu_path("%s/%s", gdir, file->valuestring), &f, &e);
        CHECK(s == SLM_OK, "%s: %s", file->valuestring, e.msg);
        if (s == SLM_OK) {
            n_files++;
            CHECK(gguf_file_size(f) == (uint64_t)json_num(meta, "size"), "%s: size", file->valuestring);
            CHECK(gguf_n_tensors(f) == cJSON_GetArraySize(types), "%s: tensor count", file->valuestring);
            for (const cJSON *t = types->child; t; t = t->next) {
                const gguf_tensor_info *ti = gguf_find_tensor(f, t->string);
                const gguf_tensor_info *ref = f16 ? gguf_find_tensor(f16, t->string) : NULL;
                CHECK(ti && !strcmp(slm_dtype_name(ti->type), t->valuestring), "%s: %s type %s, want %s",
                      file->valuestring, t->string, ti ? slm_dtype_name(ti->type) : "(missing)", t->valuestring);
                CHECK(ti && ref && !memcmp(ti->ne, ref->ne, sizeof ti->ne) && ti->n_dims == ref->n_dims,
                      "%s: %s shape differs from the f16 file", file->valuestring, t->string);
            }
            uint32_t ft = 0, qv = 0;
            CHECK(gguf_get_u32(f, "general.file_type", &ft) && gguf_get_u32(f, "general.quantization_version", &qv) &&
                      qv == 2, "%s: file_type/quantization_version", file->valuestring);
            gguf_arr sc;
            float s0 = 0;
            CHECK(gguf_get_arr(f, "tokenizer.ggml.scores", &sc) && sc.n == 32000 && gguf_arr_get_f32(&sc, 0, &s0),
                  "%s: scores", file->valuestring);
        }
        gguf_close(f);
        cJSON_Delete(meta);
    }
    if (d) closedir(d);
    CHECK(n_files == 12, "%d quantized files checked against meta.json, want 12", n_files);
    gguf_close(f16);
}

/* --- llama.cpp vocab-only files ----------------------------------------------------------- */

static void check_vocab_files(void) {
    static const struct { const char *file, *model; uint64_t n_tok, n_merges; } k[] = {
        {"ggml-vocab-llama-spm.gguf", "llama", 32000, 0},
        {"ggml-vocab-phi-3.gguf", "llama", 32064, 0},
        {"ggml-vocab-gpt-2.gguf", "gpt2", 50257, 50000},
    };
    for (size_t i = 0; i < sizeof k / sizeof k[0]; i++) {
        gguf_file *f = NULL;
        slm_error e = {0};
        slm_status s = gguf_open(tu_path("%s/llamacpp-vocab/%s", tu_fixtures(), k[i].file), &f, &e);
        CHECK(s == SLM_OK, "%s: %s", k[i].file, e.msg);
        if (s) continue;
        CHECK(gguf_n_tensors(f) == 0, "%s: tensors", k[i].file);
        gguf_str m;
        gguf_arr toks, merges, scores;
        CHECK(gguf_get_str(f, "tokenizer.ggml.model", &m) && str_is(m, k[i].model), "%s: model", k[i].file);
        CHECK(gguf_get_arr(f, "tokenizer.ggml.tokens", &toks) && toks.n == k[i].n_tok, "%s: tokens", k[i].file);
        gguf_str last;
        CHECK(gguf_arr_str(f, &toks, toks.n - 1, &last) && last.len > 0, "%s: last token", k[i].file);
        CHECK(!gguf_arr_str(f, &toks, toks.n, &last), "%s: token index out of range accepted", k[i].file);
        if (k[i].n_merges)
            CHECK(gguf_get_arr(f, "tokenizer.ggml.merges", &merges) && merges.n == k[i].n_merges, "%s: merges", k[i].file);
        else
            CHECK(gguf_get_arr(f, "tokenizer.ggml.scores", &scores) && scores.type == GGUF_TYPE_FLOAT32 &&
                      scores.n == k[i].n_tok, "%s: scores", k[i].file);
        gguf_close(f);
    }
}

int main(void) {
    for (size_t i = 0; i < sizeof k_models / sizeof k_models[0]; i++) check_model(&k_models[i]);
    check_quant_files();
    check_vocab_files();
    return tu_finish("test_gguf");
}
