/* Binding tensors to an slm_model by GGUF name, with validation against the hyper-parameters.
 * Shared by the GGUF and Hugging Face loaders: both present tensors under GGUF names. */
#ifndef SLM_MODEL_BIND_H
#define SLM_MODEL_BIND_H

#include <stdbool.h>

#include "model/model.h"

/* Look up tensor `name` in the source; fill *out and return true if present. */
typedef bool (*slm_tensor_lookup_fn)(void *source, const char *name, slm_weight *out);

/* Fill m->tok_embd, output_norm, output, rope_freqs and m->layers (allocated here, n_layer
 * entries) from the source, checking that every tensor the architecture and flags need is
 * present with the shape m->hp implies and a type slm can compute with. Also settles the
 * structural flags that only the tensors tell (tied output, qkv bias, fused qkv / gate_up).
 * On failure the message names the tensor. */
slm_status slm_model_bind(slm_model *m, slm_tensor_lookup_fn lookup, void *source, slm_error *err);

/* Check the hyper-parameters are self-consistent and within sane limits (before binding). */
slm_status slm_hparams_validate(const slm_hparams *hp, slm_error *err);

#endif
