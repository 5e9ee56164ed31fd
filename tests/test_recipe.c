/* Quantization recipes: for every llama.cpp-quantized fixture file, our per-tensor type choice
 * (from the f16 source's tensors) equals the type llama-quantize chose. Plus the shape fallbacks. */
#include <stdio.h>
#include <string.h>

#include "base/dtype.h"
#include "convert/recipe.h"
#include "gguf/gguf.h"
#include "testutil.h"

static void test_fixture_recipes(void) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/models/llama2-quant/gguf", tu_fixtures());
    gguf_file *src = NULL;
    slm_error err = {0};
    if (gguf_open(tu_path("%s/llama2-quant-f16.gguf", dir), &src, &err)) {
        CHECK(0, "open f16: %s", err.msg);
        return;
    }
    const char *names[] = {"Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q2_K", "Q3_K_M", "Q4_K_M", "Q5_K_M", "Q6_K", "IQ4_NL", "IQ4_XS"};
    for (size_t q = 0; q < sizeof names / sizeof names[0]; q++) {
        slm_recipe_ctx ctx = {.n_layer = 2, .n_gqa = 2, .has_output = false, .arch = SLM_ARCH_LLAMA};
        CHECK(slm_ftype_from_name(names[q], &ctx.ftype), "ftype %s", names[q]);
        gguf_file *qf = NULL;
        if (gguf_open(tu_path("%s/llama2-quant-%s.gguf", dir, names[q]), &qf, &err)) {
            CHECK(0, "open %s: %s", names[q], err.msg);
            continue;
        }
        int mismatches = 0;
        for (int64_t i = 0; i < gguf_n_tensors(src); i++) {
            const gguf_tensor_info *t = gguf_tensor(src, i);
            const gguf_tensor_info *want = gguf_find_tensor(qf, t->name);
            CHECK(want != NULL, "%s: tensor %s missing", names[q], t->name);
            if (!want) continue;
            uint32_t got = slm_recipe_tensor_type(&ctx, t->name, (int)t->n_dims, t->ne, t->type);
            if (got != want->type) {
                mismatches++;
                CHECK(0, "%s: %s -> %s, llama.cpp chose %s", names[q], t->name, slm_dtype_name(got),
                      slm_dtype_name(want->type));
            }
        }
        CHECK(mismatches == 0, "%s: %d tensor types differ", names[q], mismatches);
        gguf_close(qf);
    }
    gguf_close(src);
}

static void test_fallbacks(void) {
    slm_recipe_ctx ctx = {.ftype = SLM_FTYPE_Q4_K_M, .n_layer = 32, .n_gqa = 4, .has_output = true};
    int64_t odd[2] = {896 + 32, 128}; /* rows not a multiple of 256 */
    CHECK(slm_recipe_tensor_type(&ctx, "blk.3.ffn_gate.weight", 2, odd, SLM_DT_F16) == SLM_DT_Q5_0, "Q4_K -> Q5_0");
    CHECK(slm_recipe_tensor_type(&ctx, "output.weight", 2, odd, SLM_DT_F16) == SLM_DT_Q8_0, "output -> Q8_0");
    int64_t ok[2] = {2048, 512};
    CHECK(slm_recipe_tensor_type(&ctx, "output.weight", 2, ok, SLM_DT_F16) == SLM_DT_Q6_K, "output Q6_K");
    CHECK(slm_recipe_tensor_type(&ctx, "token_embd.weight", 2, ok, SLM_DT_F16) == SLM_DT_Q4_K, "untied embd Q4_K");
    CHECK(slm_recipe_tensor_type(&ctx, "blk.0.attn_v.weight", 2, ok, SLM_DT_F16) == SLM_DT_Q6_K, "first layers v");
    CHECK(slm_recipe_tensor_type(&ctx, "blk.4.attn_v.weight", 2, ok, SLM_DT_F16) == SLM_DT_Q4_K, "middle v");
    CHECK(slm_recipe_tensor_type(&ctx, "blk.6.attn_v.weight", 2, ok, SLM_DT_F16) == SLM_DT_Q6_K, "every third v");
    int64_t vec[1] = {2048};
    CHECK(slm_recipe_tensor_type(&ctx, "blk.0.attn_norm.weight", 1, vec, SLM_DT_F32) == SLM_DT_F32, "norm stays");
    int64_t bad[2] = {100, 4};
    CHECK(slm_recipe_tensor_type(&ctx, "blk.0.ffn_up.weight", 2, bad, SLM_DT_F32) == SLM_DT_F16, "-> F16");
    slm_ftype ft;
    CHECK(slm_ftype_from_name("q4_k_m", &ft) && ft == SLM_FTYPE_Q4_K_M, "parse");
    CHECK(!slm_ftype_from_name("q7_z", &ft), "bad name");
}

int main(void) {
    test_fixture_recipes();
    test_fallbacks();
    return tu_finish("test_recipe");
}
