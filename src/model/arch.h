/* Architectures as data: what each GGUF architecture name means for the forward pass. */
#ifndef SLM_MODEL_ARCH_H
#define SLM_MODEL_ARCH_H

#include "model/model.h"

typedef struct slm_arch_desc {
    slm_arch arch;
    const char *name;      /* GGUF general.architecture */
    bool gguf_rope_neox;   /* rotate_half pairs in GGUF files (false: adjacent pairs, q/k permuted) */
    bool qk_norm;          /* per-head RMSNorm of q and k */
    bool post_norms;       /* norms after attention and MLP (sandwich) */
    bool gelu_mlp;         /* gelu_tanh gate instead of silu */
    bool embd_scale;       /* embeddings times sqrt(n_embd) */
    int64_t swa_pattern;   /* every n-th layer global, others sliding; 0 = no pattern */
    float rope_theta_local;/* rope base of sliding layers; 0 = same as global */
} slm_arch_desc;

const slm_arch_desc *slm_arch_find(const char *name); /* NULL if unsupported */
const slm_arch_desc *slm_arch_get(slm_arch arch);      /* NULL for SLM_ARCH_UNKNOWN */
/* Names of all supported architectures, comma separated, for messages. */
const char *slm_arch_list(void);

/* Set hp->arch, arch_name and the architecture's flags and defaults (rope theta 10000, ids -1,
 * attention factor 1, ...) before a loader fills in what its source says. */
void slm_arch_apply_defaults(const slm_arch_desc *d, slm_hparams *hp);

/* True if layer il uses sliding-window attention. */
bool slm_layer_is_sliding(const slm_hparams *hp, int64_t il);

#endif
