/* Hugging Face folders: all fixture models open with the hyper-parameters of the fixtures README
 * table, tensors match reference/meta.json, values equal the llama.cpp-made f16 GGUFs (llama
 * q/k row permutation undone). Classic vs transformers-5 configs: test_hf_config; sharded
 * copies and hostile folders: test_hf_shards. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "base/dtype.h"
#include "base/file.h"
#include "base/fp16.h"
#include "gguf/gguf.h"
#include "hf/hf_folder.h"
#include "testutil.h"

/* ---- expected values: fixtures README section 4 table + each config.json ---- */

typedef struct expect {
    const char *model;
    slm_arch arch;
    const char *arch_name;
    int64_t n_embd, n_layer, n_head, n_head_kv, head_dim, n_ff, n_vocab;
    int tied;
    int64_t n_rot, n_ctx;
    float theta, eps;
    int64_t bos;
    int64_t eos[2];
    size_t n_eos;
} expect;

static const expect expects[] = {
    {"llama3-tiny", SLM_ARCH_LLAMA, "llama", 32, 2, 4, 2, 8, 96, 128256, 1, 8, 131072, 5e5f, 1e-5f, 128000, {128001}, 1},
    {"qwen2-tiny", SLM_ARCH_QWEN2, "qwen2", 32, 2, 4, 2, 8, 96, 151936, 1, 8, 32768, 1e6f, 1e-6f, 151643,
     {151645, 151643}, 2},
    {"qwen3-tiny", SLM_ARCH_QWEN3, "qwen3", 32, 2, 4, 2, 16, 96, 151936, 1, 16, 40960, 1e6f, 1e-6f, 151643,
     {151645, 151643}, 2},
    {"gemma3-tiny", SLM_ARCH_GEMMA3, "gemma3", 32, 6, 4, 1, 16, 96, 262144, 1, 16, 32768, 1e6f, 1e-6f, 2, {1, 106}, 2},
    {"phi3-tiny", SLM_ARCH_PHI3, "phi3", 64, 2, 4, 2, 16, 128, 32000, 0, 12, 131072, 1e4f, 1e-5f, 1, {2}, 1},
    {"llama2-quant", SLM_ARCH_LLAMA, "llama", 256, 2, 8, 4, 32, 768, 32000, 1, 32, 4096, 1e4f, 1e-5f, 1, {2}, 1},
};
#define N_MODELS (sizeof expects / sizeof expects[0])

static int close_f(double a, double b, double rel) { return fabs(a - b) <= rel * fabs(b); }

static void check_hparams(const expect *e, const slm_hparams *hp) {
    const char *m = e->model;
    CHECK(hp->arch == e->arch && !strcmp(hp->arch_name, e->arch_name), "%s: arch %s", m, hp->arch_name);
    CHECK(hp->n_embd == e->n_embd && hp->n_layer == e->n_layer && hp->n_head == e->n_head &&
              hp->n_head_kv == e->n_head_kv && hp->head_dim == e->head_dim && hp->n_ff == e->n_ff &&
              hp->n_vocab == e->n_vocab,
          "%s: sizes %lld %lld %lld %lld %lld %lld %lld", m, (long long)hp->n_embd, (long long)hp->n_layer,
          (long long)hp->n_head, (long long)hp->n_head_kv, (long long)hp->head_dim, (long long)hp->n_ff,
          (long long)hp->n_vocab);
    CHECK(hp->n_rot == e->n_rot && hp->n_ctx_train == e->n_ctx, "%s: n_rot %lld n_ctx %lld", m, (long long)hp->n_rot,
          (long long)hp->n_ctx_train);
    CHECK(hp->rope_theta == e->theta && hp->rms_eps == e->eps, "%s: theta %g eps %g", m, hp->rope_theta, hp->rms_eps);
    CHECK(hp->rope_neox, "%s: HF weights are rotate_half", m);
    CHECK(hp->bos_id == e->bos && hp->eos_id == e->eos[0], "%s: bos %lld eos %lld", m, (long long)hp->bos_id,
          (long long)hp->eos_id);
    CHECK(hp->has_qkv_bias == (e->arch == SLM_ARCH_QWEN2), "%s: qkv bias", m);
    CHECK(hp->has_qk_norm == (e->arch == SLM_ARCH_QWEN3 || e->arch == SLM_ARCH_GEMMA3), "%s: qk norm", m);
    int gemma = e->arch == SLM_ARCH_GEMMA3;
    CHECK(hp->norm_plus_one == gemma && hp->post_norms == gemma && hp->gelu_mlp == gemma && hp->embd_scale == gemma,
          "%s: gemma flags", m);
    if (gemma) {
        CHECK(hp->rope_theta_local == 1e4f && hp->sliding_window == 8 && hp->swa_pattern == 6, "%s: swa", m);
        CHECK(hp->attn_scale == 1.0f / 16.0f, "%s: attn_scale %g", m, hp->attn_scale);
        CHECK(hp->final_logit_softcap == 0 && hp->attn_logit_softcap == 0, "%s: no softcap", m);
    } else {
        CHECK(hp->attn_scale == 0 && hp->sliding_window == 0, "%s: default attention", m);
    }
    if (!strcmp(m, "llama3-tiny")) {
        CHECK(hp->rope_scaling == SLM_ROPE_SCALING_LLAMA3 && hp->rope_factor == 32 && hp->rope_low_freq_factor == 1 &&
                  hp->rope_high_freq_factor == 4 && hp->rope_orig_ctx == 8192,
              "%s: llama3 rope scaling", m);
    } else if (!strcmp(m, "phi3-tiny")) {
        static const float sf[6] = {1.0f, 1.02f, 1.05f, 1.1f, 1.3f, 1.6f}, lf[6] = {1, 1.5f, 3, 8, 20, 40};
        CHECK(hp->rope_scaling == SLM_ROPE_SCALING_LONGROPE && hp->rope_orig_ctx == 4096, "%s: longrope", m);
        CHECK(close_f(hp->rope_attn_factor, 1.1902380714, 1e-6), "%s: attn factor %.9g", m, hp->rope_attn_factor);
        CHECK(hp->rope_short_factor && hp->rope_long_factor && !memcmp(hp->rope_short_factor, sf, sizeof sf) &&
                  !memcmp(hp->rope_long_factor, lf, sizeof lf),
              "%s: longrope factors", m);
    } else {
        CHECK(hp->rope_scaling == SLM_ROPE_SCALING_NONE && hp->rope_attn_factor == 1.0f, "%s: no scaling", m);
    }
}

/* Tensors vs reference/meta.json: same names, shapes reversed into GGUF order, BF16, mapped. */
static void check_tensors(const char *m, const hf_folder *f) {
    char *text = NULL;
    size_t len = 0;
    slm_error err = {0};
    if (slm_file_read_all(tu_path("%s/models/%s/reference/meta.json", tu_fixtures(), m), 1 << 20, &text, &len, &err)) {
        CHECK(0, "%s: meta.json: %s", m, err.msg);
        return;
    }
    cJSON *meta = cJSON_Parse(text);
    free(text);
    const cJSON *params = cJSON_GetObjectItem(meta, "parameters");
    CHECK((int)hf_n_tensors(f) == cJSON_GetArraySize(cJSON_GetObjectItem(meta, "stored_tensors")), "%s: count %zu", m,
          hf_n_tensors(f));
    uint64_t n_params = 0;
    const cJSON *p;
    cJSON_ArrayForEach(p, params) {
        const hf_tensor *t = hf_find_hf(f, p->string);
        CHECK(t != NULL, "%s: %s missing", m, p->string);
        if (!t) continue;
        int nd = cJSON_GetArraySize(p);
        CHECK(t->n_dims == nd && t->type == SLM_DT_BF16, "%s: %s rank/type", m, p->string);
        uint64_t n = 1;
        for (int d = 0; d < nd; d++) {
            CHECK(t->ne[d] == (int64_t)cJSON_GetArrayItem(p, nd - 1 - d)->valuedouble, "%s: %s ne[%d]", m, p->string,
                  d);
            n *= (uint64_t)t->ne[d];
        }
        CHECK(t->nbytes == 2 * n && t->data, "%s: %s nbytes", m, p->string);
        CHECK(t->gguf_name && hf_find(f, t->gguf_name) == t, "%s: %s has a GGUF name", m, p->string);
        n_params += n;
    }
    CHECK(n_params == (uint64_t)cJSON_GetObjectItem(meta, "n_parameters")->valuedouble, "%s: n_parameters", m);
    cJSON_Delete(meta);
    CHECK(hf_find(f, "token_embd.weight") && hf_find(f, "output_norm.weight") && hf_find(f, "blk.1.attn_norm.weight"),
          "%s: core GGUF names", m);
}

static void check_names(void) {
    static const struct { slm_arch arch; const char *hf, *gguf; } cases[] = {
        {SLM_ARCH_LLAMA, "model.embed_tokens.weight", "token_embd.weight"},
        {SLM_ARCH_LLAMA, "lm_head.weight", "output.weight"},
        {SLM_ARCH_LLAMA, "model.norm.weight", "output_norm.weight"},
        {SLM_ARCH_LLAMA, "model.layers.12.self_attn.o_proj.weight", "blk.12.attn_output.weight"},
        {SLM_ARCH_LLAMA, "model.layers.0.post_attention_layernorm.weight", "blk.0.ffn_norm.weight"},
        {SLM_ARCH_QWEN2, "model.layers.1.self_attn.k_proj.bias", "blk.1.attn_k.bias"},
        {SLM_ARCH_QWEN3, "model.layers.1.self_attn.q_norm.weight", "blk.1.attn_q_norm.weight"},
        {SLM_ARCH_GEMMA3, "model.layers.3.post_attention_layernorm.weight", "blk.3.post_attention_norm.weight"},
        {SLM_ARCH_GEMMA3, "model.layers.3.pre_feedforward_layernorm.weight", "blk.3.ffn_norm.weight"},
        {SLM_ARCH_GEMMA3, "model.layers.3.post_feedforward_layernorm.weight", "blk.3.post_ffw_norm.weight"},
        {SLM_ARCH_GEMMA3, "language_model.model.layers.0.mlp.gate_proj.weight", "blk.0.ffn_gate.weight"},
        {SLM_ARCH_GEMMA3, "model.language_model.embed_tokens.weight", "token_embd.weight"},
        {SLM_ARCH_GEMMA3, "language_model.lm_head.weight", "output.weight"},
        {SLM_ARCH_PHI3, "model.layers.0.self_attn.qkv_proj.weight", "blk.0.attn_qkv.weight"},
        {SLM_ARCH_PHI3, "model.layers.0.mlp.gate_up_proj.weight", "blk.0.ffn_up.weight"},
    };
    char buf[128];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int ok = hf_map_tensor_name(cases[i].arch, cases[i].hf, buf, sizeof buf);
        CHECK(ok && !strcmp(buf, cases[i].gguf), "%s -> %s (got %s)", cases[i].hf, cases[i].gguf, ok ? buf : "none");
    }
    static const char *const unmapped[] = {"model.layers.0.self_attn.rotary_emb.inv_freq", "model.layers.x.mlp.up_proj.weight",
                                           "model.layers.01.mlp.up_proj.weight", "vision_tower.blocks.0.weight",
                                           "model.layers.0.mlp.up_proj", "model.layers..weight", ""};
    for (size_t i = 0; i < sizeof unmapped / sizeof unmapped[0]; i++)
        CHECK(!hf_map_tensor_name(SLM_ARCH_LLAMA, unmapped[i], buf, sizeof buf), "'%s' must stay unmapped", unmapped[i]);
}

/* ---- values vs the llama.cpp f16 GGUFs (fixtures README section 5) ---- */

static float hf_value(const hf_tensor *t, uint64_t i) {
    const uint16_t *p = t->data;
    return slm_bf16_to_f32(p[i]);
}

static void check_against_gguf(const char *m, const char *gguf_rel) {
    hf_folder *f = NULL;
    gguf_file *g = NULL;
    slm_error err = {0};
    if (hf_open(tu_path("%s/models/%s", tu_fixtures(), m), &f, &err) ||
        gguf_open(tu_path("%s/models/%s/%s", tu_fixtures(), m, gguf_rel), &g, &err)) {
        CHECK(0, "%s: open: %s", m, err.msg);
        hf_close(f);
        return;
    }
    const slm_hparams *hp = hf_hparams(f);
    int64_t compared = 0;
    for (int64_t i = 0; i < gguf_n_tensors(g); i++) {
        const gguf_tensor_info *gt = gguf_tensor(g, i);
        if (!strcmp(gt->name, "rope_freqs.weight")) continue; /* computed from config, not stored in HF */
        const hf_tensor *t = hf_find(f, gt->name);
        CHECK(t != NULL, "%s: GGUF tensor %s has no HF counterpart", m, gt->name);
        if (!t) continue;
        CHECK(t->ne[0] == gt->ne[0] && t->ne[1] == gt->ne[1] && (uint32_t)t->n_dims == gt->n_dims, "%s: %s shape", m,
              gt->name);
        if (t->ne[0] != gt->ne[0] || t->ne[1] != gt->ne[1]) continue;
        /* llama q/k: GGUF row (head h, 2j + p) = HF row (head h, p * d/2 + j). */
        int64_t heads = 0;
        if (hp->arch == SLM_ARCH_LLAMA && strstr(gt->name, "attn_q.weight")) heads = hp->n_head;
        if (hp->arch == SLM_ARCH_LLAMA && strstr(gt->name, "attn_k.weight")) heads = hp->n_head_kv;
        int64_t cols = gt->ne[0], rows = gt->n_elements / (uint64_t)cols, bad = 0;
        for (int64_t r = 0; r < rows; r++) {
            int64_t hr = r;
            if (heads) {
                int64_t d = rows / heads, h = r / d, w = r % d;
                hr = h * d + (w % 2) * (d / 2) + w / 2;
            }
            for (int64_t c = 0; c < cols; c++) {
                float gv = gt->type == SLM_DT_F16 ? slm_f16_to_f32(((const uint16_t *)gt->data)[r * cols + c])
                                                  : ((const float *)gt->data)[r * cols + c];
                if (gv != hf_value(t, (uint64_t)(hr * cols + c))) bad++;
            }
        }
        CHECK(bad == 0, "%s: %s: %lld values differ from the GGUF", m, gt->name, (long long)bad);
        compared++;
    }
    CHECK(compared == (int64_t)hf_n_tensors(f), "%s: compared %lld of %zu tensors", m, (long long)compared,
          hf_n_tensors(f));
    gguf_close(g);
    hf_close(f);
}

int main(void) {
    check_names();
    for (size_t i = 0; i < N_MODELS; i++) {
        hf_folder *f = NULL;
        slm_error err = {0};
        const char *dir = tu_path("%s/models/%s", tu_fixtures(), expects[i].model);
        slm_status s = hf_open(dir, &f, &err);
        CHECK(s == SLM_OK, "%s: %s", expects[i].model, err.msg);
        if (s != SLM_OK) continue;
        check_hparams(&expects[i], hf_hparams(f));
        CHECK(hf_hparams(f)->tied_output == expects[i].tied, "%s: tied", expects[i].model);
        CHECK(!strcmp(hf_hparams(f)->name, expects[i].model), "%s: name '%s'", expects[i].model, hf_hparams(f)->name);
        size_t n_eos = 0;
        const int64_t *eos = hf_eos_ids(f, &n_eos);
        CHECK(n_eos == expects[i].n_eos && !memcmp(eos, expects[i].eos, n_eos * sizeof *eos), "%s: eos list",
              expects[i].model);
        CHECK(hf_config(f) && hf_generation_config(f) && hf_tokenizer_config(f) && hf_tokenizer_json_path(f),
              "%s: side files", expects[i].model);
        CHECK(hf_n_shards(f) == 1 && hf_total_bytes(f) > 0, "%s: one shard", expects[i].model);
        check_tensors(expects[i].model, f);
        hf_close(f);
    }
    check_against_gguf("llama2-quant", "gguf/llama2-quant-f16.gguf");
    check_against_gguf("llama3-tiny", "gguf/llama3-tiny-f16.gguf");
    check_against_gguf("qwen2-tiny", "gguf/qwen2-tiny-f16.gguf");
    return tu_finish("test_hf_folder");
}
