/* config.json (+ generation_config.json) -> slm_hparams. Internal to src/hf; hf_folder.h is the
 * public face. Exposed separately so tests and fuzzers can feed config text directly. */
#ifndef SLM_HF_HF_CONFIG_H
#define SLM_HF_HF_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "model/model.h"
#include "slm.h"

/* Fill *hp from config (required) and gen (optional, may be NULL). On success:
 *   *text_config = the object the hyper-parameters came from (config or its "text_config"),
 *   *eos_ids / *n_eos = malloc'd list of end-of-sequence ids (NULL / 0 if none; caller frees),
 *   hp->rope_short_factor / rope_long_factor malloc'd when longrope (free with hf_hparams_free).
 * hp->tied_output reflects tie_word_embeddings (or the architecture's default); the caller also
 * sets it when the folder has no lm_head. On failure nothing needs freeing. */
slm_status hf_config_parse(const cJSON *config, const cJSON *gen, slm_hparams *hp, const cJSON **text_config,
                           int64_t **eos_ids, size_t *n_eos, slm_error *err);

/* Free the malloc'd parts of hp (longrope arrays) and NULL them. */
void hf_hparams_free(slm_hparams *hp);

/* Parse a JSON document of len bytes (text[len] must be NUL) requiring the whole input to be one
 * value; what names the source in errors. */
slm_status hf_json_parse(const char *text, size_t len, const char *what, cJSON **out, slm_error *err);

#endif
