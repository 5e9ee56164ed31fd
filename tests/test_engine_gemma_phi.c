/* Engine vs transformers references for the issue-6 architectures, HF folders only (llama.cpp's
 * converter of the fixture snapshot cannot make their GGUFs): gemma3-tiny (sandwich norms,
 * (1 + w) norms, q/k norms, gelu_tanh, embedding scale, 5 sliding : 1 global layers with
 * separate rope bases; the 40-token prompt crosses the window of 8) and phi3-tiny (fused qkv and
 * gate_up, partial rotary 12 of 16, longrope short factors + attention factor, untied output).
 * Same criteria as test_engine_models. */
#include "test_engine_common.h"

int main(void) {
    const char *models[] = {"gemma3-tiny", "phi3-tiny"};
    for (size_t i = 0; i < sizeof models / sizeof models[0]; i++) {
        char dir[4096], ref[4096];
        snprintf(dir, sizeof dir, "%s/models/%s", tu_fixtures(), models[i]);
        snprintf(ref, sizeof ref, "%s/reference", dir);
        er_run_model(dir, ref, tu_path("%s (HF)", models[i]));
    }
    return tu_finish("test_engine_gemma_phi");
}
