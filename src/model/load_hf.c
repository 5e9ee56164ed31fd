/* Hugging Face folder -> slm_model. src/hf already parsed config.json into slm_hparams and names
 * tensors the GGUF way, so this only binds. HF stores q/k in rotate_half order (rope_neox). */
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "hf/hf_folder.h"
#include "model/arch.h"
#include "model/bind.h"
#include "model/load_internal.h"

static bool lookup_hf(void *source, const char *name, slm_weight *out) {
    const hf_tensor *t = hf_find((const hf_folder *)source, name);
    if (!t || t->type < 0) return false;
    out->name = t->gguf_name;
    out->type = (uint32_t)t->type;
    out->n_dims = t->n_dims;
    for (int i = 0; i < 4; i++) out->ne[i] = t->ne[i];
    out->data = t->data;
    out->nbytes = t->nbytes;
    return true;
}

static float *dup_floats(const float *src, int64_t n) {
    if (!src || n <= 0) return NULL;
    float *p = malloc((size_t)n * sizeof *p);
    if (p) memcpy(p, src, (size_t)n * sizeof *p);
    return p;
}

slm_status slm_load_hf(const char *dir, slm_model *m, slm_error *err) {
    hf_folder *f = NULL;
    slm_status st = hf_open(dir, &f, err);
    if (st) return st;
    m->source_kind = SLM_SOURCE_HF;
    m->source = f;
    m->file_bytes = hf_total_bytes(f);
    m->hp = *hf_hparams(f);
    /* The model owns its longrope factors (the folder's copies die with it). */
    int64_t half = m->hp.n_rot / 2;
    const float *s = m->hp.rope_short_factor, *l = m->hp.rope_long_factor;
    m->hp.rope_short_factor = dup_floats(s, half);
    m->hp.rope_long_factor = dup_floats(l, half);
    if ((s && !m->hp.rope_short_factor) || (l && !m->hp.rope_long_factor))
        return slm_fail(err, SLM_E_NOMEM, "out of memory");
    return slm_model_bind(m, lookup_hf, f, err);
}
