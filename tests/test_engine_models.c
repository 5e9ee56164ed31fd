/* Engine vs transformers references (fixtures README section 4) for the issue-5 architectures:
 * llama3-tiny, qwen2-tiny, qwen3-tiny, llama2-quant, from the HF folder and from the llama.cpp
 * f16 GGUF where there is one. Production path with an f32 KV cache: logits within 1e-3 (top-20
 * ids at every position and the whole last-position vocab), top-1 at every position and the
 * greedy continuation (near-tie rule); default f16 KV cache: within 3e-2; exact path: 1e-3. */
#include "test_engine_common.h"

typedef struct model_case {
    const char *model; /* folder under models/ */
    const char *gguf;  /* file under models/<model>/gguf/, or NULL */
} model_case;

static const model_case k_models[] = {
    {"llama3-tiny", "llama3-tiny-f16.gguf"},
    {"qwen2-tiny", "qwen2-tiny-f16.gguf"},
    {"qwen3-tiny", NULL},
    {"llama2-quant", "llama2-quant-f16.gguf"},
};

int main(void) {
    const char *fx = tu_fixtures();
    for (size_t i = 0; i < sizeof k_models / sizeof k_models[0]; i++) {
        const model_case *c = &k_models[i];
        char dir[4096], ref[4096];
        snprintf(dir, sizeof dir, "%s/models/%s", fx, c->model);
        snprintf(ref, sizeof ref, "%s/reference", dir);
        er_run_model(dir, ref, tu_path("%s (HF)", c->model));
        if (c->gguf) er_run_model(tu_path("%s/gguf/%s", dir, c->gguf), ref, tu_path("%s (GGUF f16)", c->model));
    }
    return tu_finish("test_engine_models");
}
