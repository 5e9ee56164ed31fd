/* Model-level validation: every fixture model loads (GGUF and HF) with the hyper-parameters of the
 * fixtures README, and GGUF files that are valid containers but wrong models (missing or
 * mis-shaped tensors, lying hyper-parameters, unsupported architectures or types) fail with a
 * message naming the problem. */
#include <stdlib.h>
#include <string.h>

#include "base/dtype.h"
#include "gguf/gguf.h"
#include "model/loader.h"
#include "testutil.h"

static const char *base_file(void) {
    return tu_path("%s/models/llama2-quant/gguf/llama2-quant-Q4_K_M.gguf", tu_fixtures());
}

/* A mutation of the base file: metadata overrides and tensor edits. */
typedef struct mutation {
    const char *label;
    const char *drop_key;    /* metadata key left out */
    const char *set_key;     /* metadata key replaced by an integer / string value */
    long long set_int;
    const char *set_str;
    const char *drop_tensor; /* tensor left out */
    const char *reshape;     /* tensor whose ne[0], ne[1] become (ne0*2, ne1/2) (same bytes) */
    const char *extra_tensor;/* extra tensor name added (copy of attn_norm of layer 0) */
    const char *retype;      /* tensor whose type becomes IQ2_XXS (same size class, unsupported) */
    slm_status want;
    const char *want_msg;    /* substring expected in the error message */
} mutation;

static slm_status write_mutation(const gguf_file *src, const mutation *mu, const char *out, slm_error *err) {
    gguf_writer *w = NULL;
    slm_status st = gguf_writer_new(&w, err);
    if (st) return st;
    for (int64_t i = 0; i < gguf_n_kv(src) && !st; i++) {
        const char *k = gguf_key_name(src, i);
        if (mu->drop_key && !strcmp(k, mu->drop_key)) continue;
        if (mu->set_key && !strcmp(k, mu->set_key)) continue;
        st = gguf_writer_copy_kv(w, src, i, err);
    }
    if (!st && mu->set_key) {
        st = mu->set_str ? gguf_writer_add_str(w, mu->set_key, mu->set_str, err)
                         : gguf_writer_add_u32(w, mu->set_key, (uint32_t)mu->set_int, err);
    }
    for (int64_t i = 0; i < gguf_n_tensors(src) && !st; i++) {
        const gguf_tensor_info *t = gguf_tensor(src, i);
        if (mu->drop_tensor && !strcmp(t->name, mu->drop_tensor)) continue;
        int64_t ne[4] = {t->ne[0], t->ne[1], t->ne[2], t->ne[3]};
        uint32_t type = t->type;
        if (mu->reshape && !strcmp(t->name, mu->reshape)) {
            ne[0] *= 2;
            ne[1] /= 2;
        }
        if (mu->retype && !strcmp(t->name, mu->retype)) {
            /* F32 vector of n floats -> I32 vector of n ints: same bytes, type slm cannot use. */
            type = SLM_DT_I32;
        }
        st = gguf_writer_add_tensor(w, t->name, type, t->n_dims, ne, t->data, err);
    }
    if (!st && mu->extra_tensor) {
        const gguf_tensor_info *t = gguf_find_tensor(src, "blk.0.attn_norm.weight");
        st = gguf_writer_add_tensor(w, mu->extra_tensor, t->type, t->n_dims, t->ne, t->data, err);
    }
    if (!st) st = gguf_writer_write(w, out, err);
    gguf_writer_free(w);
    return st;
}

static void test_mutations(void) {
    static const mutation cases[] = {
        {"missing ffn_down", .drop_tensor = "blk.1.ffn_down.weight", .want = SLM_E_FORMAT, .want_msg = "blk.1.ffn_down.weight"},
        {"missing embedding", .drop_tensor = "token_embd.weight", .want = SLM_E_FORMAT, .want_msg = "token_embd.weight"},
        {"missing output norm", .drop_tensor = "output_norm.weight", .want = SLM_E_FORMAT, .want_msg = "output_norm.weight"},
        {"reshaped attn_q", .reshape = "blk.0.attn_q.weight", .want = SLM_E_FORMAT, .want_msg = "blk.0.attn_q.weight"},
        {"reshaped ffn_up", .reshape = "blk.1.ffn_up.weight", .want = SLM_E_FORMAT, .want_msg = "blk.1.ffn_up.weight"},
        {"layers beyond block_count", .set_key = "llama.block_count", .set_int = 1, .want = SLM_E_FORMAT, .want_msg = "blk.1"},
        {"block_count too large", .set_key = "llama.block_count", .set_int = 3, .want = SLM_E_FORMAT, .want_msg = "blk.2."},
        {"block_count zero", .set_key = "llama.block_count", .set_int = 0, .want = SLM_E_FORMAT, .want_msg = "layer count"},
        {"heads not multiple of kv heads", .set_key = "llama.attention.head_count_kv", .set_int = 3, .want = SLM_E_FORMAT, .want_msg = "multiple"},
        {"kv heads zero", .set_key = "llama.attention.head_count_kv", .set_int = 0, .want = SLM_E_FORMAT, .want_msg = "kv head count"},
        {"embedding length lies", .set_key = "llama.embedding_length", .set_int = 512, .want = SLM_E_FORMAT, .want_msg = "token_embd.weight"},
        {"ffn length lies", .set_key = "llama.feed_forward_length", .set_int = 1024, .want = SLM_E_FORMAT, .want_msg = "ffn_"},
        {"huge layer count", .set_key = "llama.block_count", .set_int = 4000000000LL, .want = SLM_E_FORMAT, .want_msg = "layer count"},
        {"missing embedding length", .drop_key = "llama.embedding_length", .want = SLM_E_FORMAT, .want_msg = "llama.embedding_length"},
        {"missing rms eps", .drop_key = "llama.attention.layer_norm_rms_epsilon", .want = SLM_E_FORMAT, .want_msg = "epsilon"},
        {"missing architecture", .drop_key = "general.architecture", .want = SLM_E_FORMAT, .want_msg = "general.architecture"},
        {"unsupported architecture", .set_key = "general.architecture", .set_str = "mamba", .want = SLM_E_UNSUPPORTED, .want_msg = "mamba"},
        {"extra layer tensor", .extra_tensor = "blk.2.attn_norm.weight", .want = SLM_E_FORMAT, .want_msg = "blk.2.attn_norm.weight"},
        {"norm of integer type", .retype = "blk.0.ffn_norm.weight", .want = SLM_E_UNSUPPORTED, .want_msg = "blk.0.ffn_norm.weight"},
    };
    gguf_file *src = NULL;
    slm_error err = {0};
    if (gguf_open(base_file(), &src, &err)) {
        CHECK(0, "cannot open base file: %s", err.msg);
        return;
    }
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const mutation *mu = &cases[i];
        const char *out = tu_path("%s/mutated-model-%zu.gguf", tu_tmpdir(), i);
        slm_error werr = {0};
        if (write_mutation(src, mu, out, &werr)) {
            CHECK(0, "%s: cannot write mutated file: %s", mu->label, werr.msg);
            continue;
        }
        slm_model *m = NULL;
        slm_error lerr = {0};
        slm_status st = slm_model_load(out, &m, &lerr);
        CHECK(st == mu->want, "%s: status %d (%s), want %d", mu->label, st, lerr.msg, mu->want);
        CHECK(m == NULL, "%s: model returned on failure", mu->label);
        CHECK(strstr(lerr.msg, mu->want_msg) != NULL, "%s: message '%s' does not mention '%s'", mu->label, lerr.msg,
              mu->want_msg);
        slm_model_free(m);
        remove(out);
    }
    gguf_close(src);
}

typedef struct expect {
    const char *path;
    slm_arch arch;
    int64_t n_embd, n_layer, n_head, n_head_kv, head_dim, n_ff, n_vocab;
    bool tied, neox;
} expect;

static void test_fixtures_load(void) {
    const char *F = tu_fixtures();
    const expect cases[] = {
        {tu_path("%s/models/llama3-tiny", F), SLM_ARCH_LLAMA, 32, 2, 4, 2, 8, 96, 128256, true, true},
        {tu_path("%s/models/llama3-tiny/gguf/llama3-tiny-f16.gguf", F), SLM_ARCH_LLAMA, 32, 2, 4, 2, 8, 96, 128256, true, false},
        {tu_path("%s/models/qwen2-tiny", F), SLM_ARCH_QWEN2, 32, 2, 4, 2, 8, 96, 151936, true, true},
        {tu_path("%s/models/qwen2-tiny/gguf/qwen2-tiny-f16.gguf", F), SLM_ARCH_QWEN2, 32, 2, 4, 2, 8, 96, 151936, true, true},
        {tu_path("%s/models/qwen3-tiny", F), SLM_ARCH_QWEN3, 32, 2, 4, 2, 16, 96, 151936, true, true},
        {tu_path("%s/models/gemma3-tiny", F), SLM_ARCH_GEMMA3, 32, 6, 4, 1, 16, 96, 262144, true, true},
        {tu_path("%s/models/phi3-tiny", F), SLM_ARCH_PHI3, 64, 2, 4, 2, 16, 128, 32000, false, true},
        {tu_path("%s/models/llama2-quant", F), SLM_ARCH_LLAMA, 256, 2, 8, 4, 32, 768, 32000, true, true},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const expect *e = &cases[i];
        slm_model *m = NULL;
        slm_error err = {0};
        if (slm_model_load(e->path, &m, &err)) {
            CHECK(0, "%s: %s", e->path, err.msg);
            continue;
        }
        const slm_hparams *hp = &m->hp;
        CHECK(hp->arch == e->arch && hp->n_embd == e->n_embd && hp->n_layer == e->n_layer && hp->n_head == e->n_head &&
                  hp->n_head_kv == e->n_head_kv && hp->head_dim == e->head_dim && hp->n_ff == e->n_ff &&
                  hp->n_vocab == e->n_vocab,
              "%s: hparams differ from the fixtures README", e->path);
        CHECK(hp->tied_output == e->tied, "%s: tied %d", e->path, hp->tied_output);
        CHECK(hp->rope_neox == e->neox, "%s: rope layout %d", e->path, hp->rope_neox);
        CHECK(m->output.data != NULL, "%s: output projection bound", e->path);
        for (int64_t il = 0; il < hp->n_layer; il++)
            CHECK(m->layers[il].w_down.data && m->layers[il].attn_norm.data, "%s: layer %lld bound", e->path, (long long)il);
        if (e->arch == SLM_ARCH_QWEN2) CHECK(hp->has_qkv_bias && m->layers[0].bq.data, "%s: qwen2 biases", e->path);
        if (e->arch == SLM_ARCH_PHI3) CHECK(m->layers[0].wqkv.data && m->layers[0].w_gate_up.data, "%s: phi3 fused", e->path);
        if (e->arch == SLM_ARCH_GEMMA3) CHECK(m->layers[0].post_ffn_norm.data && hp->norm_plus_one, "%s: gemma norms", e->path);
        slm_model_free(m);
    }
    /* Every quantized llama2-quant file loads. */
    const char *qs[] = {"f16", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q2_K", "Q3_K_M", "Q4_K_M", "Q5_K_M", "Q6_K", "IQ4_NL", "IQ4_XS"};
    for (size_t i = 0; i < sizeof qs / sizeof qs[0]; i++) {
        slm_model *m = NULL;
        slm_error err = {0};
        const char *p = tu_path("%s/models/llama2-quant/gguf/llama2-quant-%s.gguf", F, qs[i]);
        CHECK(slm_model_load(p, &m, &err) == SLM_OK, "%s: %s", p, err.msg);
        slm_model_free(m);
    }
}

int main(void) {
    test_fixtures_load();
    test_mutations();
    return tu_finish("test_model_load");
}
