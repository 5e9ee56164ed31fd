#include "model/loader.h"

#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/file.h"
#include "gguf/gguf.h"
#include "hf/hf_folder.h"
#include "model/load_internal.h"

slm_status slm_model_load(const char *path, slm_model **out, slm_error *err) {
    *out = NULL;
    if (!path || !*path) return slm_fail(err, SLM_E_INVALID_ARG, "no model path given");
    if (!slm_path_exists(path)) return slm_fail(err, SLM_E_NOT_FOUND, "'%s' does not exist", path);
    slm_model *m = calloc(1, sizeof *m);
    if (!m) return slm_fail(err, SLM_E_NOMEM, "out of memory");
    m->source_path = strdup(path);
    if (!m->source_path) {
        free(m);
        return slm_fail(err, SLM_E_NOMEM, "out of memory");
    }
    slm_status st = slm_path_is_dir(path) ? slm_load_hf(path, m, err) : slm_load_gguf(path, m, err);
    if (st) {
        slm_model_free(m);
        return st;
    }
    *out = m;
    return SLM_OK;
}

void slm_model_free(slm_model *m) {
    if (!m) return;
    if (m->source_kind == SLM_SOURCE_GGUF) gguf_close(m->source);
    if (m->source_kind == SLM_SOURCE_HF) hf_close(m->source);
    free(m->hp.rope_short_factor);
    free(m->hp.rope_long_factor);
    free(m->layers);
    free(m->x16_arena);
    free(m->source_path);
    free(m);
}

struct gguf_file *slm_model_gguf(const slm_model *m) {
    return m && m->source_kind == SLM_SOURCE_GGUF ? m->source : NULL;
}

struct hf_folder *slm_model_hf(const slm_model *m) {
    return m && m->source_kind == SLM_SOURCE_HF ? m->source : NULL;
}

static uint64_t weight_elems(const slm_weight *w) {
    if (!w->data) return 0;
    uint64_t n = 1;
    for (int i = 0; i < 4; i++) n *= (uint64_t)w->ne[i];
    return n;
}

uint64_t slm_model_n_params(const slm_model *m) {
    uint64_t n = weight_elems(&m->tok_embd) + weight_elems(&m->output_norm);
    if (!m->hp.tied_output) n += weight_elems(&m->output);
    for (int64_t il = 0; il < m->hp.n_layer; il++) {
        const slm_weight *w = (const slm_weight *)&m->layers[il];
        for (size_t k = 0; k < sizeof(slm_layer) / sizeof(slm_weight); k++) n += weight_elems(&w[k]);
    }
    return n;
}
