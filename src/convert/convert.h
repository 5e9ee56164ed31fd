/* Converting and quantizing models: GGUF -> GGUF (requantize to another file type) and Hugging
 * Face folder -> GGUF (llama.cpp's metadata keys and tensor names, q/k rows permuted for the
 * `llama` architecture, Gemma norms stored as 1 + w), with per-tensor types from the recipe. */
#ifndef SLM_CONVERT_CONVERT_H
#define SLM_CONVERT_CONVERT_H

#include <stdint.h>

#include "convert/recipe.h"
#include "slm.h"

typedef struct slm_convert_progress {
    int64_t tensor;       /* index of the tensor just finished (0-based) */
    int64_t n_tensors;
    const char *name;
    uint32_t type;        /* slm_dtype written */
    uint64_t bytes_done;  /* output tensor bytes written so far */
    uint64_t bytes_total; /* output tensor bytes in all */
} slm_convert_progress;

typedef struct slm_convert_opts {
    slm_ftype ftype;
    int n_threads;                /* <= 0: physical cores */
    void (*progress)(void *user, const slm_convert_progress *p); /* optional, called per tensor */
    void *progress_user;
} slm_convert_opts;

/* Llama 3 rope scaling as llama.cpp stores it (the rope_freqs tensor): hp->n_rot / 2 divisors, one
 * per rotated frequency pair, computed in float32 as llama.cpp's converter does (torch). */
void slm_llama3_rope_divisors(const slm_hparams *hp, float *out);

/* in: a .gguf file or a Hugging Face folder; out: the GGUF to write (atomically). */
slm_status slm_convert(const char *in, const char *out, const slm_convert_opts *opts, slm_error *err);

/* Tokenizer metadata for an HF folder (tokenizer.json, tokenizer_config.json, config.json):
 * tokenizer.ggml.* and the chat template, as llama.cpp's converter writes them
 * (src/convert/tokenizer_export.c). Adds the keys to w; nothing else is kept. */
struct gguf_writer;
slm_status slm_tokenizer_export_gguf(const char *hf_dir, struct gguf_writer *w, slm_error *err);

#endif
