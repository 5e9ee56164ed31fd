/* Issue 6 asks for Gemma 3 and Phi-3 from GGUF too, but llama.cpp's converter of the fixture
 * snapshot could not make GGUFs of gemma3-tiny, phi3-tiny or qwen3-tiny (fixtures README
 * section 5). So: convert each HF folder with `slm convert --type f16` (its weights are exactly
 * f16-representable, so the GGUF holds the same numbers) and hold the engine on that GGUF to the
 * same transformers reference and bounds as the HF folder (test_engine_models). Skipped, with a
 * notice, only while this build's converter cannot write the tokenizer. */
#include <sys/wait.h>

#include "test_engine_common.h"

int main(void) {
    const char *models[] = {"gemma3-tiny", "phi3-tiny", "qwen3-tiny"};
    for (size_t i = 0; i < sizeof models / sizeof models[0]; i++) {
        char dir[4096], out[4096], errf[4096], cmd[16384];
        snprintf(dir, sizeof dir, "%s/models/%s", tu_fixtures(), models[i]);
        snprintf(out, sizeof out, "%s/engine_%s-f16.gguf", tu_tmpdir(), models[i]);
        snprintf(errf, sizeof errf, "%s/engine_%s-convert.txt", tu_tmpdir(), models[i]);
        snprintf(cmd, sizeof cmd, "'%s' convert '%s' '%s' --type f16 -q -t 2 2>'%s' >/dev/null", tu_bin(), dir, out,
                 errf);
        const int st = system(cmd);
        if (st != 0) {
            char *msg = NULL;
            size_t n = 0;
            slm_file_read_all(errf, 1 << 16, &msg, &n, NULL);
            const bool known = msg && strstr(msg, "cannot export tokenizers");
            if (known) printf("  SKIP %s: converter cannot write tokenizers yet (%s)\n", models[i], msg);
            CHECK(known, "slm convert %s failed (status %d): %s", models[i], st, msg ? msg : "");
            free(msg);
            continue;
        }
        char ref[4096];
        snprintf(ref, sizeof ref, "%s/reference", dir);
        er_run_model(out, ref, tu_path("%s (slm convert f16 GGUF)", models[i]));
        remove(out);
    }
    return tu_finish("test_engine_gguf_convert");
}
