#include "model/arch.h"

#include <string.h>

static const slm_arch_desc k_archs[] = {
    /* arch             name     neox   qk_norm post   gelu   embd_sc swa rope_local */
    {SLM_ARCH_LLAMA, "llama", false, false, false, false, false, 0, 0},
    {SLM_ARCH_QWEN2, "qwen2", true, false, false, false, false, 0, 0},
    {SLM_ARCH_QWEN3, "qwen3", true, true, false, false, false, 0, 0},
    {SLM_ARCH_GEMMA3, "gemma3", true, true, true, true, true, 6, 10000.0f},
    {SLM_ARCH_PHI3, "phi3", true, false, false, false, false, 0, 0},
};
#define N_ARCHS (sizeof k_archs / sizeof k_archs[0])

const slm_arch_desc *slm_arch_find(const char *name) {
    for (size_t i = 0; i < N_ARCHS; i++)
        if (!strcmp(k_archs[i].name, name)) return &k_archs[i];
    return NULL;
}

const slm_arch_desc *slm_arch_get(slm_arch arch) {
    for (size_t i = 0; i < N_ARCHS; i++)
        if (k_archs[i].arch == arch) return &k_archs[i];
    return NULL;
}

const char *slm_arch_list(void) { return "llama, qwen2, qwen3, gemma3, phi3"; }

void slm_arch_apply_defaults(const slm_arch_desc *d, slm_hparams *hp) {
    hp->arch = d->arch;
    strncpy(hp->arch_name, d->name, sizeof hp->arch_name - 1);
    hp->has_qk_norm = d->qk_norm;
    hp->post_norms = d->post_norms;
    hp->gelu_mlp = d->gelu_mlp;
    hp->embd_scale = d->embd_scale;
    hp->swa_pattern = d->swa_pattern;
    hp->rope_theta_local = d->rope_theta_local;
    hp->rope_theta = 10000.0f;
    hp->rope_attn_factor = 1.0f;
    hp->bos_id = -1;
    hp->eos_id = -1;
}

bool slm_layer_is_sliding(const slm_hparams *hp, int64_t il) {
    if (hp->sliding_window <= 0) return false;
    if (hp->swa_pattern <= 0) return true;
    return il % hp->swa_pattern != hp->swa_pattern - 1;
}
