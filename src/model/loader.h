/* Loading a model from a GGUF file or a Hugging Face folder into an slm_model (model.h), with the
 * weights left in place in the file mappings. Loading validates the model, not just the
 * container: every tensor the architecture needs must be present once with the shape the
 * hyper-parameters imply; otherwise a clear error naming the tensor. */
#ifndef SLM_MODEL_LOADER_H
#define SLM_MODEL_LOADER_H

#include "model/model.h"

/* path: a .gguf file or a folder with config.json + *.safetensors. On success *out owns the
 * mappings; free with slm_model_free. */
slm_status slm_model_load(const char *path, slm_model **out, slm_error *err);
void slm_model_free(slm_model *m);

/* Ready a loaded model for inference with the active kernel table (call once, before creating
 * contexts; a no-op the second time): weights whose type the table multiplies faster in 16-row
 * interleaved groups (kernels.h, slm_x16_usable) are copied into that layout, in an arena the
 * model owns (about the weights' size; their pages in the file mapping are released, so resident
 * memory stays about one model; see prepare.c). Contexts multiply them that way with 16-bit
 * activations (the default); other activation modes still work, reading rows back one at a time
 * (slower), so a tool that runs them may skip this. The file's bytes (slm_model_gguf) are
 * unchanged. n_threads: 0 = physical cores. Errors: SLM_E_NOMEM (the model is unchanged then). */
slm_status slm_model_prepare(slm_model *m, int n_threads, slm_error *err);

/* The GGUF file behind a model loaded from GGUF (for tokenizer metadata), else NULL. */
struct gguf_file *slm_model_gguf(const slm_model *m);
/* The HF folder behind a model loaded from a folder, else NULL. */
struct hf_folder *slm_model_hf(const slm_model *m);

/* Parameters of all weight tensors (elements), for display. */
uint64_t slm_model_n_params(const slm_model *m);

#endif
