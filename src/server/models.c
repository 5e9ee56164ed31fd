/* Loaded models of `slm serve`: a small registry of named models, each with one context and one
 * chat session, reference counted so that /api/delete can unlist a model a request still uses. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>

#include "base/dtype.h"
#include "base/error.h"
#include "convert/recipe.h"
#include "gguf/gguf.h"
#include "model/loader.h"
#include "server/server_internal.h"

void srv_time_rfc3339(int64_t sec, long nsec, char *out, size_t cap) {
    time_t t = (time_t)sec;
    struct tm tm;
    gmtime_r(&t, &tm);
    char base[32];
    strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, cap, "%s.%09ldZ", base, nsec);
}

void srv_now_rfc3339(char *out, size_t cap) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    srv_time_rfc3339((int64_t)ts.tv_sec, ts.tv_nsec, out, cap);
}

/* Ollama writes parameter counts as "494.03M", "1.24B". */
static void param_size(uint64_t n, char *out, size_t cap) {
    if (n >= 1000000000ull) snprintf(out, cap, "%.2fB", n / 1e9);
    else if (n >= 1000000ull) snprintf(out, cap, "%.2fM", n / 1e6);
    else if (n >= 1000ull) snprintf(out, cap, "%.2fK", n / 1e3);
    else snprintf(out, cap, "%llu", (unsigned long long)n);
}

cJSON *srv_details_json(const char *path, const char *quant, uint64_t *n_params) {
    char family[64] = "", type[32] = "";
    const char *format = "gguf";
    uint64_t params = 0;
    struct stat sb;
    if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) {
        format = "safetensors";
    } else {
        gguf_file *f = NULL;
        if (gguf_open(path, &f, NULL) == SLM_OK) {
            uint64_t best = 0;
            for (int64_t i = 0; i < gguf_n_tensors(f); i++) {
                const gguf_tensor_info *t = gguf_tensor(f, i);
                params += t->n_elements;
                if (t->n_dims >= 2 && t->nbytes > best && slm_dtype_name(t->type)) {
                    best = t->nbytes;
                    snprintf(type, sizeof type, "%s", slm_dtype_name(t->type));
                }
            }
            uint32_t ft;
            if (gguf_get_u32(f, "general.file_type", &ft) && strcmp(slm_ftype_name((slm_ftype)ft), "?"))
                snprintf(type, sizeof type, "%s", slm_ftype_name((slm_ftype)ft));
            gguf_str a;
            if (gguf_get_str(f, "general.architecture", &a) && a.len < sizeof family) {
                memcpy(family, a.ptr, a.len);
                family[a.len] = 0;
            }
            gguf_close(f);
        }
    }
    if (n_params) *n_params = params;
    cJSON *d = cJSON_CreateObject();
    if (!d) return NULL;
    char ps[32] = "";
    if (params) param_size(params, ps, sizeof ps);
    cJSON_AddStringToObject(d, "parent_model", "");
    cJSON_AddStringToObject(d, "format", format);
    cJSON_AddStringToObject(d, "family", family);
    cJSON *fams = cJSON_AddArrayToObject(d, "families");
    if (fams && family[0]) cJSON_AddItemToArray(fams, cJSON_CreateString(family));
    cJSON_AddStringToObject(d, "parameter_size", ps);
    cJSON_AddStringToObject(d, "quantization_level", quant && quant[0] ? quant : type);
    return d;
}

/* --- registry ------------------------------------------------------------------------------ */

static void model_free(srv_model *m) {
    if (!m) return;
    chat_session_free(m->sess);
    slm_context_free(m->ctx);
    if (m->has_tmpl) chat_template_source_free(&m->tmpl);
    slm_tokenizer_free(m->tok);
    slm_model_free(m->m);
    pthread_mutex_destroy(&m->gen_mu);
    free(m);
}

/* Caller holds reg_mu. */
static srv_model *find_locked(slm_server *s, const char *name) {
    size_t n = strlen(name);
    for (int i = 0; i < s->n_models; i++) {
        const char *mn = s->models[i]->name;
        size_t ml = strlen(mn);
        if (!strcmp(mn, name)) return s->models[i];
        /* Ollama's implicit tag: "x" and "x:latest" are one model */
        if (n == ml + 7 && !strncmp(name, mn, ml) && !strcmp(name + ml, ":latest")) return s->models[i];
        if (ml == n + 7 && !strncmp(mn, name, n) && !strcmp(mn + n, ":latest")) return s->models[i];
    }
    return NULL;
}

static slm_status load_model(slm_server *s, const char *name, const char *path, const char *store_name,
                             srv_model **out, slm_error *err) {
    *out = NULL;
    if (strlen(name) >= SRV_NAME_MAX || strlen(path) >= SLM_STORE_PATH_MAX)
        return slm_fail(err, SLM_E_INVALID_ARG, "model name or path too long");
    srv_model *m = calloc(1, sizeof *m);
    if (!m) return slm_fail(err, SLM_E_NOMEM, "out of memory");
    pthread_mutex_init(&m->gen_mu, NULL);
    snprintf(m->name, sizeof m->name, "%s", name);
    snprintf(m->path, sizeof m->path, "%s", path);
    snprintf(m->store_name, sizeof m->store_name, "%s", store_name ? store_name : "");
    m->loaded_at = (int64_t)time(NULL);
    slm_status st = slm_model_load(path, &m->m, err);
    if (!st) st = slm_model_prepare(m->m, 0, err);
    if (!st) st = slm_tokenizer_load_path(path, &m->tok, err);
    if (!st) {
        slm_error terr = {0};
        m->has_tmpl = chat_template_load(path, &m->tmpl, &terr) == SLM_OK && m->tmpl.source && m->tmpl.len;
        if (!m->has_tmpl) chat_template_source_free(&m->tmpl);
        slm_context_params p = slm_context_default_params();
        int32_t n_ctx = s->cfg.n_ctx;
        if (n_ctx <= 0) {
            int64_t train = m->m->hp.n_ctx_train;
            n_ctx = train > 0 && train < 4096 ? (int32_t)train : 4096;
        }
        p.n_ctx = n_ctx;
        p.n_threads = s->cfg.n_threads;
        st = slm_context_new(m->m, &p, &m->ctx, err);
    }
    if (!st) st = chat_session_new(m->m, m->tok, m->has_tmpl ? &m->tmpl : NULL, m->ctx, &m->sess, err);
    if (st) {
        model_free(m);
        return st;
    }
    *out = m;
    return SLM_OK;
}

/* Caller holds reg_mu. */
static slm_status insert_locked(slm_server *s, srv_model *m, slm_error *err) {
    if (find_locked(s, m->name)) return slm_fail(err, SLM_E_INVALID_ARG, "a model named '%s' is already loaded", m->name);
    if (s->n_models >= s->cfg.max_models)
        return slm_fail(err, SLM_E_NOMEM, "%d models are loaded already (the limit)", s->n_models);
    s->models[s->n_models++] = m;
    return SLM_OK;
}

slm_status srv_model_load(slm_server *s, const char *name, const char *path, const char *store_name, slm_error *err) {
    srv_model *m = NULL;
    slm_status st = load_model(s, name, path, store_name, &m, err);
    if (st) return st;
    pthread_mutex_lock(&s->reg_mu);
    m->refs = 1; /* the registry's */
    st = insert_locked(s, m, err);
    pthread_mutex_unlock(&s->reg_mu);
    if (st) model_free(m);
    return st;
}

/* A request's model name -> store name (without an implicit ":latest") and blob path. */
static slm_status resolve_stored(const char *name, char sname[SLM_STORE_NAME_MAX + 1], char path[SLM_STORE_PATH_MAX],
                                 slm_error *err) {
    snprintf(sname, SLM_STORE_NAME_MAX + 1, "%s", name);
    slm_error e2 = {0};
    if (slm_store_check_name(sname, &e2)) return slm_fail(err, SLM_E_NOT_FOUND, "model '%s' not found", name);
    cJSON *man = NULL;
    slm_status st = slm_store_manifest_read(sname, &man, NULL);
    size_t nl = strlen(sname);
    if (st == SLM_E_NOT_FOUND && nl > 7 && !strcmp(sname + nl - 7, ":latest")) {
        sname[nl - 7] = 0;
        st = slm_store_manifest_read(sname, &man, NULL);
    }
    cJSON_Delete(man);
    if (st) return slm_fail(err, SLM_E_NOT_FOUND, "model '%s' not found", name);
    return slm_store_resolve(sname, path, SLM_STORE_PATH_MAX, err);
}

/* A reference to the loaded model called name, or NULL when none is loaded. */
static srv_model *ref_loaded(slm_server *s, const char *name) {
    pthread_mutex_lock(&s->reg_mu);
    srv_model *m = find_locked(s, name);
    if (m) m->refs++;
    pthread_mutex_unlock(&s->reg_mu);
    return m;
}

slm_status srv_model_describe_open(slm_server *s, const char *name, srv_model **out, slm_error *err) {
    srv_model *m = *out = ref_loaded(s, name);
    if (m) return SLM_OK;
    char sname[SLM_STORE_NAME_MAX + 1], path[SLM_STORE_PATH_MAX];
    slm_status st = resolve_stored(name, sname, path, err);
    if (st) return st;
    if (!(m = calloc(1, sizeof *m))) return slm_fail(err, SLM_E_NOMEM, "out of memory");
    pthread_mutex_init(&m->gen_mu, NULL);
    snprintf(m->name, sizeof m->name, "%s", sname);
    snprintf(m->path, sizeof m->path, "%s", path);
    snprintf(m->store_name, sizeof m->store_name, "%s", sname);
    m->loaded_at = (int64_t)time(NULL);
    m->refs = 1; /* the caller's only: never listed */
    if ((st = slm_model_load(path, &m->m, err)) || (st = slm_model_prepare(m->m, 0, err))) {
        model_free(m);
        return st;
    }
    m->has_tmpl = chat_template_load(path, &m->tmpl, NULL) == SLM_OK && m->tmpl.source && m->tmpl.len;
    if (!m->has_tmpl) chat_template_source_free(&m->tmpl);
    *out = m;
    return SLM_OK;
}

slm_status srv_model_acquire(slm_server *s, const char *name, srv_model **out, slm_error *err) {
    srv_model *m = *out = ref_loaded(s, name);
    if (m) return SLM_OK;
    /* Not loaded: a store name is loaded on first use. Never a path: requests name store models. */
    char sname[SLM_STORE_NAME_MAX + 1], path[SLM_STORE_PATH_MAX];
    slm_status st = resolve_stored(name, sname, path, err);
    if (st) return st;

    pthread_mutex_lock(&s->load_mu);
    pthread_mutex_lock(&s->reg_mu);
    m = find_locked(s, sname); /* loaded by another request meanwhile */
    if (m) m->refs++;
    pthread_mutex_unlock(&s->reg_mu);
    if (!m) {
        srv_log(s, "loading %s (%s)", sname, path);
        st = load_model(s, sname, path, sname, &m, err);
        if (!st) {
            pthread_mutex_lock(&s->reg_mu);
            m->refs = 2; /* registry + caller */
            st = insert_locked(s, m, err);
            pthread_mutex_unlock(&s->reg_mu);
            if (st) {
                model_free(m);
                m = NULL;
            }
        }
    }
    pthread_mutex_unlock(&s->load_mu);
    *out = m;
    return st;
}

void srv_model_release(slm_server *s, srv_model *m) {
    if (!m) return;
    pthread_mutex_lock(&s->reg_mu);
    int left = --m->refs;
    pthread_mutex_unlock(&s->reg_mu);
    if (left == 0) model_free(m);
}

void srv_model_unlist_store(slm_server *s, const char *store_name) {
    srv_model *gone[SRV_MAX_MODELS];
    int n_gone = 0;
    pthread_mutex_lock(&s->reg_mu);
    for (int i = 0; i < s->n_models;) {
        srv_model *m = s->models[i];
        if (m->store_name[0] && !strcmp(m->store_name, store_name)) {
            s->models[i] = s->models[--s->n_models];
            if (--m->refs == 0) gone[n_gone++] = m;
        } else {
            i++;
        }
    }
    pthread_mutex_unlock(&s->reg_mu);
    for (int i = 0; i < n_gone; i++) model_free(gone[i]);
}

void srv_models_free_all(slm_server *s) {
    pthread_mutex_lock(&s->reg_mu);
    int n = s->n_models;
    srv_model *all[SRV_MAX_MODELS];
    memcpy(all, s->models, (size_t)n * sizeof all[0]);
    s->n_models = 0;
    pthread_mutex_unlock(&s->reg_mu);
    for (int i = 0; i < n; i++) srv_model_release(s, all[i]);
}
