/* libFuzzer target: arbitrary bytes as config.json. Exercises the JSON wrapper and every typed,
 * range-checked getter of the config -> hyper-parameter mapping (both config layouts). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hf/hf_config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > (1 << 20)) return 0;
    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = 0;
    slm_error err;
    cJSON *cfg = NULL;
    if (hf_json_parse(text, size, "config.json", &cfg, &err) == SLM_OK) {
        slm_hparams hp;
        const cJSON *tc;
        int64_t *eos = NULL;
        size_t n_eos = 0;
        /* The same document also serves as generation_config to reach the id parsing paths. */
        if (hf_config_parse(cfg, cfg, &hp, &tc, &eos, &n_eos, &err) == SLM_OK) {
            if (hp.rope_short_factor && hp.rope_short_factor[hp.n_rot / 2 - 1] < 0) __builtin_trap();
            hf_hparams_free(&hp);
            free(eos);
        }
        cJSON_Delete(cfg);
    }
    free(text);
    return 0;
}
