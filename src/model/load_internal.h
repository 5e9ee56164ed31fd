/* Per-source loaders behind slm_model_load. Each fills m (already zeroed) and sets m->source;
 * on failure the caller frees m. */
#ifndef SLM_MODEL_LOAD_INTERNAL_H
#define SLM_MODEL_LOAD_INTERNAL_H

#include "model/model.h"

slm_status slm_load_gguf(const char *path, slm_model *m, slm_error *err);
slm_status slm_load_hf(const char *dir, slm_model *m, slm_error *err);

#endif
