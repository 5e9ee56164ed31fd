/* Ollama's model-management endpoints over the local store: /api/version, /api/tags, /api/show,
 * /api/pull (NDJSON progress), /api/delete, /api/copy, /api/ps. Every name from a request is
 * checked as a store name first (slm_store_check_name: no '..', no absolute paths, a closed
 * character set), and the store escapes names into file names, so nothing outside it is touched. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/error.h"
#include "model/model.h"
#include "server/server_internal.h"

enum MHD_Result srv_api_version(slm_server *s, struct MHD_Connection *c, const cJSON *body) {
    cJSON *o = cJSON_CreateObject();
    if (o) cJSON_AddStringToObject(o, "version", slm_version());
    return srv_reply_json(c, 200, o);
}

/* "sha256-<hex>" file name at the end of a blob path -> "<hex>" ("" if not a blob). */
static const char *blob_digest(const char *blob_path) {
    const char *b = strrchr(blob_path, '/');
    b = b ? b + 1 : blob_path;
    return strncmp(b, "sha256-", 7) ? "" : b + 7;
}

enum MHD_Result srv_api_tags(slm_server *s, struct MHD_Connection *c, const cJSON *body) {
    slm_store_entry *v = NULL;
    size_t n = 0;
    slm_error err = {0};
    if (slm_store_list(&v, &n, &err)) return srv_reply_error(c, 500, "%s", err.msg);
    cJSON *o = cJSON_CreateObject();
    cJSON *arr = o ? cJSON_AddArrayToObject(o, "models") : NULL;
    for (size_t i = 0; arr && i < n; i++) {
        cJSON *m = cJSON_CreateObject();
        if (!m) break;
        char when[64];
        srv_time_rfc3339(v[i].modified, 0, when, sizeof when);
        cJSON_AddStringToObject(m, "name", v[i].name);
        cJSON_AddStringToObject(m, "model", v[i].name);
        cJSON_AddStringToObject(m, "modified_at", when);
        cJSON_AddNumberToObject(m, "size", (double)v[i].size);
        cJSON_AddStringToObject(m, "digest", blob_digest(v[i].blob_path));
        cJSON *d = srv_details_json(v[i].blob_path, v[i].quant, NULL);
        if (d) cJSON_AddItemToObject(m, "details", d);
        cJSON_AddItemToArray(arr, m);
    }
    free(v);
    return srv_reply_json(c, 200, o);
}

/* Ollama's model_info keys ("<arch>.block_count", ...) from the hyper-parameters. */
static cJSON *model_info_json(const slm_model *m, uint64_t n_params) {
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    const slm_hparams *hp = &m->hp;
    const char *a = hp->arch_name;
    char key[96];
    cJSON_AddStringToObject(o, "general.architecture", a);
    if (hp->name[0]) cJSON_AddStringToObject(o, "general.name", hp->name);
    if (n_params) cJSON_AddNumberToObject(o, "general.parameter_count", (double)n_params);
#define KV(suffix, val)                                                                                                \
    do {                                                                                                               \
        snprintf(key, sizeof key, "%s.%s", a, suffix);                                                                 \
        cJSON_AddNumberToObject(o, key, (double)(val));                                                                \
    } while (0)
    KV("context_length", hp->n_ctx_train);
    KV("embedding_length", hp->n_embd);
    KV("block_count", hp->n_layer);
    KV("feed_forward_length", hp->n_ff);
    KV("attention.head_count", hp->n_head);
    KV("attention.head_count_kv", hp->n_head_kv);
    KV("attention.key_length", hp->head_dim);
    KV("attention.layer_norm_rms_epsilon", hp->rms_eps);
    KV("rope.freq_base", hp->rope_theta);
    KV("rope.dimension_count", hp->n_rot);
    KV("vocab_size", hp->n_vocab);
#undef KV
    return o;
}

/* Modelfile-style text of the defaults a `slm create` model carries. */
static void add_defaults(cJSON *o, const cJSON *man) {
    const cJSON *sys = cJSON_GetObjectItemCaseSensitive(man, "system");
    if (cJSON_IsString(sys)) cJSON_AddStringToObject(o, "system", sys->valuestring);
    const cJSON *params = cJSON_GetObjectItemCaseSensitive(man, "params");
    char text[4096];
    size_t len = 0;
    text[0] = 0;
    const cJSON *p;
    cJSON_ArrayForEach(p, params) {
        /* a list value (stop) is one line per element */
        int n = cJSON_IsArray(p) ? cJSON_GetArraySize(p) : 1;
        for (int i = 0; i < n && len + 256 < sizeof text; i++) {
            const cJSON *one = cJSON_IsArray(p) ? cJSON_GetArrayItem(p, i) : p;
            if (cJSON_IsString(one))
                len += (size_t)snprintf(text + len, sizeof text - len, "%-30s \"%.200s\"\n", p->string, one->valuestring);
            else if (cJSON_IsNumber(one))
                len += (size_t)snprintf(text + len, sizeof text - len, "%-30s %g\n", p->string, one->valuedouble);
        }
    }
    if (len) cJSON_AddStringToObject(o, "parameters", text);
}

enum MHD_Result srv_api_show(slm_server *s, struct MHD_Connection *c, const cJSON *body) {
    const char *name = srv_body_model(body);
    if (!name) return srv_reply_error(c, 400, "\"model\" (a string) is required");
    srv_model *m = NULL;
    slm_error err = {0};
    slm_status st = srv_model_describe_open(s, name, &m, &err);
    if (st) return srv_reply_error(c, srv_http_status(st), "%s", err.msg);
    cJSON *o = cJSON_CreateObject();
    cJSON *man = NULL;
    char quant[32] = "";
    if (m->store_name[0] && slm_store_manifest_read(m->store_name, &man, NULL) == SLM_OK) {
        const cJSON *q = cJSON_GetObjectItemCaseSensitive(man, "quant");
        if (cJSON_IsString(q)) snprintf(quant, sizeof quant, "%s", q->valuestring);
        if (o) add_defaults(o, man);
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(man, "template");
        if (o && cJSON_IsString(t)) cJSON_AddStringToObject(o, "template", t->valuestring);
    }
    uint64_t n_params = 0;
    if (o) {
        char mf[SLM_STORE_PATH_MAX + 64];
        snprintf(mf, sizeof mf, "FROM %s\n", m->path);
        cJSON_AddStringToObject(o, "modelfile", mf);
        if (!cJSON_GetObjectItemCaseSensitive(o, "template"))
            cJSON_AddStringToObject(o, "template", m->has_tmpl ? m->tmpl.source : "");
        cJSON *d = srv_details_json(m->path, quant, &n_params);
        if (d) {
            cJSON *fam = cJSON_GetObjectItemCaseSensitive(d, "family");
            if (fam && cJSON_IsString(fam) && !fam->valuestring[0])
                cJSON_ReplaceItemInObjectCaseSensitive(d, "family", cJSON_CreateString(m->m->hp.arch_name));
            cJSON_AddItemToObject(o, "details", d);
        }
        cJSON *mi = model_info_json(m->m, n_params);
        if (mi) cJSON_AddItemToObject(o, "model_info", mi);
        cJSON *caps = cJSON_AddArrayToObject(o, "capabilities");
        if (caps) cJSON_AddItemToArray(caps, cJSON_CreateString("completion"));
        char when[64];
        int64_t mod = m->loaded_at;
        const cJSON *mt = cJSON_GetObjectItemCaseSensitive(man, "modified");
        if (cJSON_IsNumber(mt)) mod = (int64_t)mt->valuedouble;
        srv_time_rfc3339(mod, 0, when, sizeof when);
        cJSON_AddStringToObject(o, "modified_at", when);
    }
    cJSON_Delete(man);
    srv_model_release(s, m);
    return srv_reply_json(c, o ? 200 : 500, o);
}

/* --- pull ---------------------------------------------------------------------------------- */

typedef struct pull_job {
    char name[SLM_STORE_NAME_MAX + 1];
    srv_out *out;
    double last_emit; /* monotonic seconds of the last "downloading" line */
    bool stream;
} pull_job;

static double mono_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static cJSON *status_obj(const char *status) {
    cJSON *o = cJSON_CreateObject();
    if (o) cJSON_AddStringToObject(o, "status", status);
    return o;
}

/* Progress as Ollama words it: pulling manifest, pulling <digest> with total/completed, verifying
 * sha256 digest, (writing manifest, success after the pull returns). Download lines at most every
 * 100 ms, plus the last one. */
static void pull_progress(void *user, const slm_pull_progress *p) {
    pull_job *j = user;
    if (srv_out_cancelled(j->out)) return; /* the pull polls out->cancel and stops */
    if (!j->stream) return;
    switch (p->phase) {
    case SLM_PULL_RESOLVING: srv_out_line(j->out, status_obj("pulling manifest")); break;
    case SLM_PULL_DOWNLOADING: {
        double now = mono_s();
        if (now - j->last_emit < 0.1 && p->done != p->total) break;
        j->last_emit = now;
        char status[128], digest[80];
        const char *hex = p->digest && p->digest[0] ? p->digest : NULL;
        if (hex) snprintf(status, sizeof status, "pulling %.12s", hex);
        else snprintf(status, sizeof status, "downloading %.100s", p->file ? p->file : "");
        cJSON *o = status_obj(status);
        if (!o) break;
        if (hex) {
            snprintf(digest, sizeof digest, "sha256:%.64s", hex);
            cJSON_AddStringToObject(o, "digest", digest);
        }
        cJSON_AddNumberToObject(o, "total", (double)p->total);
        cJSON_AddNumberToObject(o, "completed", (double)p->done);
        srv_out_line(j->out, o);
        break;
    }
    case SLM_PULL_VERIFYING: srv_out_line(j->out, status_obj("verifying sha256 digest")); break;
    default: break;
    }
}

static slm_status run_pull(pull_job *j, slm_error *err) {
    const char *ms = getenv("SLM_PULL_RETRY_MS"); /* tests: short backoff, as `slm pull` */
    slm_pull_options opt = {.progress = pull_progress, .user = j, .cancel = &j->out->cancel};
    if (ms && *ms) opt.backoff_ms = atoi(ms) > 0 ? atoi(ms) : -1;
    srv_log(j->out->srv, "pulling %s", j->name);
    slm_status st = slm_store_pull(j->name, &opt, NULL, 0, err);
    if (st) srv_log(j->out->srv, "pull %s failed: %s", j->name, err->msg);
    return st;
}

static void pull_worker(srv_out *o, void *arg) {
    pull_job *j = arg;
    j->out = o;
    slm_error err = {0};
    slm_status st = run_pull(j, &err);
    if (st == SLM_E_CANCELLED || srv_out_cancelled(o)) return;
    if (st) {
        cJSON *e = cJSON_CreateObject();
        if (e) cJSON_AddStringToObject(e, "error", err.msg);
        srv_out_line(o, e);
        return;
    }
    srv_out_line(o, status_obj("writing manifest"));
    srv_out_line(o, status_obj("success"));
}

enum MHD_Result srv_api_pull(slm_server *s, struct MHD_Connection *c, const cJSON *body) {
    const char *name = srv_body_model(body);
    if (!name) return srv_reply_error(c, 400, "\"model\" (a string) is required");
    const cJSON *stream = cJSON_GetObjectItemCaseSensitive(body, "stream");
    if (stream && !cJSON_IsBool(stream)) return srv_reply_error(c, 400, "\"stream\" must be a boolean");
    slm_error err = {0};
    if (slm_store_check_name(name, &err)) return srv_reply_error(c, 400, "%s", err.msg);
    pull_job *j = calloc(1, sizeof *j);
    if (!j) return srv_reply_error(c, 500, "out of memory");
    snprintf(j->name, sizeof j->name, "%s", name);
    j->stream = !stream || cJSON_IsTrue(stream);
    if (j->stream) return srv_stream_start(s, c, pull_worker, j, free);
    srv_out o;
    srv_out_init_sync(&o, s, c);
    j->out = &o;
    slm_status st = run_pull(j, &err);
    free(j);
    if (st == SLM_E_CANCELLED || srv_out_cancelled(&o)) return MHD_NO;
    if (st) return srv_reply_error(c, srv_http_status(st), "%s", err.msg);
    return srv_reply_json(c, 200, status_obj("success"));
}

/* --- delete / copy / ps -------------------------------------------------------------------- */

enum MHD_Result srv_api_delete(slm_server *s, struct MHD_Connection *c, const cJSON *body) {
    const char *name = srv_body_model(body);
    if (!name) return srv_reply_error(c, 400, "\"model\" (a string) is required");
    slm_error err = {0};
    if (slm_store_check_name(name, &err)) return srv_reply_error(c, 400, "%s", err.msg);
    slm_status st = slm_store_remove(name, &err);
    if (st == SLM_E_NOT_FOUND) return srv_reply_error(c, 404, "model '%s' not found", name);
    if (st) return srv_reply_error(c, srv_http_status(st), "%s", err.msg);
    srv_model_unlist_store(s, name);
    srv_log(s, "deleted %s", name);
    return srv_reply_json(c, 200, cJSON_CreateObject());
}

enum MHD_Result srv_api_copy(slm_server *s, struct MHD_Connection *c, const cJSON *body) {
    const cJSON *src = cJSON_GetObjectItemCaseSensitive(body, "source");
    const cJSON *dst = cJSON_GetObjectItemCaseSensitive(body, "destination");
    if (!cJSON_IsString(src) || !cJSON_IsString(dst))
        return srv_reply_error(c, 400, "\"source\" and \"destination\" (strings) are required");
    slm_error err = {0};
    if (slm_store_check_name(src->valuestring, &err) || slm_store_check_name(dst->valuestring, &err))
        return srv_reply_error(c, 400, "%s", err.msg);
    cJSON *man = NULL;
    if (slm_store_manifest_read(src->valuestring, &man, NULL) != SLM_OK)
        return srv_reply_error(c, 404, "model '%s' not found", src->valuestring);
    cJSON_Delete(man);
    slm_status st = slm_store_copy(src->valuestring, dst->valuestring, &err);
    if (st) return srv_reply_error(c, srv_http_status(st), "%s", err.msg);
    return srv_reply_json(c, 200, cJSON_CreateObject());
}

enum MHD_Result srv_api_ps(slm_server *s, struct MHD_Connection *c, const cJSON *body) {
    cJSON *o = cJSON_CreateObject();
    cJSON *arr = o ? cJSON_AddArrayToObject(o, "models") : NULL;
    pthread_mutex_lock(&s->reg_mu);
    for (int i = 0; arr && i < s->n_models; i++) {
        const srv_model *m = s->models[i];
        cJSON *e = cJSON_CreateObject();
        if (!e) break;
        cJSON_AddStringToObject(e, "name", m->name);
        cJSON_AddStringToObject(e, "model", m->name);
        cJSON_AddNumberToObject(e, "size", (double)m->m->file_bytes);
        cJSON_AddStringToObject(e, "digest", blob_digest(m->path));
        cJSON *d = srv_details_json(m->path, "", NULL);
        if (d) cJSON_AddItemToObject(e, "details", d);
        /* kept loaded until the server stops: a far expiry, as Ollama shows keep_alive -1 */
        cJSON_AddStringToObject(e, "expires_at", "2318-01-01T00:00:00Z");
        cJSON_AddNumberToObject(e, "size_vram", 0);
        cJSON_AddNumberToObject(e, "context_length", slm_context_n_ctx(m->ctx));
        cJSON_AddItemToArray(arr, e);
    }
    pthread_mutex_unlock(&s->reg_mu);
    return srv_reply_json(c, 200, o);
}
