/* POST /api/generate and /api/chat (Ollama's shapes): validate the request (400 on wrong types),
 * find the model (404), then generate on the model's context under its lock, streaming NDJSON
 * lines from a worker thread or answering with one object. The client hanging up stops the
 * generation between layers (abort callback) and between tokens (piece callback). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/error.h"
#include "sample/json_constrain.h"
#include "sample/stop.h"
#include "server/server_internal.h"

#define GEN_MAX_STOPS 16
#define GEN_MAX_MESSAGES 10000

typedef struct gen_job {
    slm_server *srv;
    srv_model *model;
    bool chat, raw, stream;
    char *prompt;    /* generate: the prompt; chat: the last user message */
    cJSON *history;  /* messages before it (array of {role, content}); NULL for raw */
    slm_sampler_params sp;
    int32_t n_predict;
    char *stops[GEN_MAX_STOPS];
    int n_stops;
    bool format_json;
    char *schema;    /* JSON Schema text for "format": {...} */
    double t0;       /* monotonic seconds when the request arrived */
    srv_out *out;
} gen_job;

static double mono_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void job_free(void *p) {
    gen_job *j = p;
    if (!j) return;
    srv_model_release(j->srv, j->model);
    free(j->prompt);
    cJSON_Delete(j->history);
    for (int i = 0; i < j->n_stops; i++) free(j->stops[i]);
    free(j->schema);
    free(j);
}

/* --- request parsing ----------------------------------------------------------------------- */

static bool get_num(const cJSON *opts, const char *key, double lo, double hi, double *out, char *why, size_t cap) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(opts, key);
    if (!v || cJSON_IsNull(v)) return true;
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || v->valuedouble < lo || v->valuedouble > hi) {
        snprintf(why, cap, "options.%s must be a number in [%g, %g]", key, lo, hi);
        return false;
    }
    *out = v->valuedouble;
    return true;
}

/* Sampler settings: the model's defaults, then a `slm create` model's own, then the request's. */
static bool parse_options(gen_job *j, const cJSON *body, char *why, size_t cap) {
    j->sp = chat_sampler_defaults(j->model->m);
    j->n_predict = -1;
    bool seed_set = false;
    cJSON *man = NULL;
    const cJSON *layers[2] = {NULL, cJSON_GetObjectItemCaseSensitive(body, "options")};
    if (layers[1] && !cJSON_IsObject(layers[1]) && !cJSON_IsNull(layers[1])) {
        snprintf(why, cap, "\"options\" must be an object");
        return false;
    }
    if (j->model->store_name[0] && slm_store_manifest_read(j->model->store_name, &man, NULL) == SLM_OK)
        layers[0] = cJSON_GetObjectItemCaseSensitive(man, "params");
    bool ok = true;
    for (int l = 0; l < 2 && ok; l++) {
        const cJSON *o = layers[l];
        if (!cJSON_IsObject(o)) continue;
        double v = NAN;
        if ((ok = get_num(o, "temperature", 0, 100, &v, why, cap)) && !isnan(v)) j->sp.temperature = (float)v, v = NAN;
        if (ok && (ok = get_num(o, "top_k", 0, 1 << 24, &v, why, cap)) && !isnan(v)) j->sp.top_k = (int32_t)v, v = NAN;
        if (ok && (ok = get_num(o, "top_p", 0, 1, &v, why, cap)) && !isnan(v)) j->sp.top_p = (float)v, v = NAN;
        if (ok && (ok = get_num(o, "min_p", 0, 1, &v, why, cap)) && !isnan(v)) j->sp.min_p = (float)v, v = NAN;
        if (ok && (ok = get_num(o, "typical_p", 0, 1, &v, why, cap)) && !isnan(v)) j->sp.typical_p = (float)v, v = NAN;
        if (ok && (ok = get_num(o, "repeat_penalty", 0.01, 100, &v, why, cap)) && !isnan(v))
            j->sp.repeat_penalty = (float)v, v = NAN;
        if (ok && (ok = get_num(o, "presence_penalty", -2, 2, &v, why, cap)) && !isnan(v))
            j->sp.presence_penalty = (float)v, v = NAN;
        if (ok && (ok = get_num(o, "frequency_penalty", -2, 2, &v, why, cap)) && !isnan(v))
            j->sp.frequency_penalty = (float)v, v = NAN;
        if (ok && (ok = get_num(o, "repeat_last_n", 0, 1 << 20, &v, why, cap)) && !isnan(v))
            j->sp.penalty_last_n = (int32_t)v, v = NAN;
        if (ok && (ok = get_num(o, "seed", -1, 9007199254740991.0, &v, why, cap)) && !isnan(v) && v >= 0)
            j->sp.seed = (uint64_t)v, seed_set = true, v = NAN;
        /* num_predict: -1 until the end of the turn, -2 until the context is full (the same here) */
        if (ok && (ok = get_num(o, "num_predict", -2, 1 << 24, &v, why, cap)) && !isnan(v))
            j->n_predict = v < 0 ? -1 : (int32_t)v;
        const cJSON *stop = cJSON_GetObjectItemCaseSensitive(o, "stop");
        if (ok && stop && !cJSON_IsNull(stop)) {
            const cJSON *one;
            bool single = cJSON_IsString(stop);
            if (!single && !cJSON_IsArray(stop)) ok = false;
            for (int i = 0; i < j->n_stops; i++) free(j->stops[i]);
            j->n_stops = 0;
            if (single) {
                j->stops[j->n_stops++] = strdup(stop->valuestring);
            } else {
                cJSON_ArrayForEach(one, stop) {
                    if (!cJSON_IsString(one) || j->n_stops == GEN_MAX_STOPS) {
                        ok = false;
                        break;
                    }
                    j->stops[j->n_stops++] = strdup(one->valuestring);
                }
            }
            if (!ok) snprintf(why, cap, "options.stop must be a string or an array of at most %d strings", GEN_MAX_STOPS);
        }
    }
    cJSON_Delete(man);
    for (int i = 0; ok && i < j->n_stops; i++)
        if (!j->stops[i]) ok = false, snprintf(why, cap, "out of memory");
    if (ok && !seed_set) {
        static unsigned counter;
        j->sp.seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32) ^
                     ((uint64_t)__atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED) * 0x9E3779B97F4A7C15ull);
    }
    return ok;
}

/* "format": "json" or a JSON Schema object; "" or null: free text. */
static bool parse_format(gen_job *j, const cJSON *body, char *why, size_t cap) {
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(body, "format");
    if (!f || cJSON_IsNull(f) || (cJSON_IsString(f) && !f->valuestring[0])) return true;
    if (cJSON_IsString(f) && !strcmp(f->valuestring, "json")) {
        j->format_json = true;
        return true;
    }
    if (cJSON_IsObject(f)) {
        j->schema = cJSON_PrintUnformatted(f);
        if (!j->schema) snprintf(why, cap, "out of memory");
        return j->schema != NULL;
    }
    snprintf(why, cap, "\"format\" must be \"json\" or a JSON Schema object");
    return false;
}

static bool get_bool(const cJSON *body, const char *key, bool dflt, bool *out, char *why, size_t cap) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(body, key);
    *out = dflt;
    if (!v || cJSON_IsNull(v)) return true;
    if (!cJSON_IsBool(v)) {
        snprintf(why, cap, "\"%s\" must be a boolean", key);
        return false;
    }
    *out = cJSON_IsTrue(v);
    return true;
}

/* Features this server does not have yet are refused rather than silently ignored. */
static bool refuse_unsupported(const cJSON *body, char *why, size_t cap) {
    static const char *const keys[] = {"images", "tools", "suffix", "template"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(body, keys[i]);
        bool empty = !v || cJSON_IsNull(v) || (cJSON_IsString(v) && !v->valuestring[0]) ||
                     (cJSON_IsArray(v) && cJSON_GetArraySize(v) == 0);
        if (!empty) {
            snprintf(why, cap, "\"%s\" is not supported by this server yet", keys[i]);
            return false;
        }
    }
    return true;
}

static cJSON *message(const char *role, const char *content) {
    cJSON *m = cJSON_CreateObject();
    if (!m) return NULL;
    cJSON_AddStringToObject(m, "role", role);
    cJSON_AddStringToObject(m, "content", content);
    return m;
}

/* chat: messages -> history + last user message. */
static bool parse_messages(gen_job *j, const cJSON *body, char *why, size_t cap) {
    const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(body, "messages");
    j->history = cJSON_CreateArray();
    if (!j->history) return snprintf(why, cap, "out of memory"), false;
    if (!msgs || cJSON_IsNull(msgs)) return true;
    if (!cJSON_IsArray(msgs)) return snprintf(why, cap, "\"messages\" must be an array"), false;
    int n = cJSON_GetArraySize(msgs);
    if (n > GEN_MAX_MESSAGES) return snprintf(why, cap, "at most %d messages", GEN_MAX_MESSAGES), false;
    int i = 0;
    const cJSON *m;
    cJSON_ArrayForEach(m, msgs) {
        const cJSON *role = cJSON_GetObjectItemCaseSensitive(m, "role");
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(m, "content");
        if (!cJSON_IsObject(m) || !cJSON_IsString(role))
            return snprintf(why, cap, "messages[%d] must be an object with a string \"role\"", i), false;
        const char *r = role->valuestring;
        if (strcmp(r, "system") && strcmp(r, "user") && strcmp(r, "assistant") && strcmp(r, "tool"))
            return snprintf(why, cap, "messages[%d].role must be system, user, assistant or tool", i), false;
        if (content && !cJSON_IsString(content) && !cJSON_IsNull(content))
            return snprintf(why, cap, "messages[%d].content must be a string", i), false;
        const cJSON *imgs = cJSON_GetObjectItemCaseSensitive(m, "images");
        if (cJSON_IsArray(imgs) && cJSON_GetArraySize(imgs) > 0)
            return snprintf(why, cap, "messages[%d]: images are not supported by this server yet", i), false;
        const char *text = cJSON_IsString(content) ? content->valuestring : "";
        if (i == n - 1) {
            if (strcmp(r, "user"))
                return snprintf(why, cap, "the last message must have role \"user\" (got \"%s\")", r), false;
            if (!(j->prompt = strdup(text))) return snprintf(why, cap, "out of memory"), false;
        } else {
            cJSON *copy = message(r, text);
            if (!copy) return snprintf(why, cap, "out of memory"), false;
            cJSON_AddItemToArray(j->history, copy);
        }
        i++;
    }
    return true;
}

/* generate: prompt (+ system) -> history + prompt, or a raw completion. */
static bool parse_generate(gen_job *j, const cJSON *body, char *why, size_t cap) {
    const cJSON *prompt = cJSON_GetObjectItemCaseSensitive(body, "prompt");
    const cJSON *system = cJSON_GetObjectItemCaseSensitive(body, "system");
    if (prompt && !cJSON_IsString(prompt) && !cJSON_IsNull(prompt))
        return snprintf(why, cap, "\"prompt\" must be a string"), false;
    if (system && !cJSON_IsString(system) && !cJSON_IsNull(system))
        return snprintf(why, cap, "\"system\" must be a string"), false;
    if (!get_bool(body, "raw", false, &j->raw, why, cap)) return false;
    /* Without a chat template the prompt is completed as is (Ollama's default template is the
     * bare prompt too). */
    if (!j->model->has_tmpl) j->raw = true;
    if (cJSON_IsString(prompt) && prompt->valuestring[0] && !(j->prompt = strdup(prompt->valuestring)))
        return snprintf(why, cap, "out of memory"), false;
    if (j->raw) return true;
    if (!(j->history = cJSON_CreateArray())) return snprintf(why, cap, "out of memory"), false;
    const char *sys = cJSON_IsString(system) && system->valuestring[0] ? system->valuestring : NULL;
    cJSON *man = NULL;
    if (!sys && j->model->store_name[0] && slm_store_manifest_read(j->model->store_name, &man, NULL) == SLM_OK) {
        const cJSON *s = cJSON_GetObjectItemCaseSensitive(man, "system"); /* `slm create --system` */
        if (cJSON_IsString(s) && s->valuestring[0]) sys = s->valuestring;
    }
    if (sys) cJSON_AddItemToArray(j->history, message("system", sys));
    cJSON_Delete(man);
    return true;
}

/* --- generation ---------------------------------------------------------------------------- */

static bool abort_cb(void *user) { return srv_out_cancelled(user); }

static cJSON *chunk_obj(const gen_job *j) {
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    char now[64];
    srv_now_rfc3339(now, sizeof now);
    cJSON_AddStringToObject(o, "model", j->model->name);
    cJSON_AddStringToObject(o, "created_at", now);
    return o;
}

static void add_text(const gen_job *j, cJSON *o, const char *text) {
    if (j->chat) {
        cJSON *m = message("assistant", text);
        if (m) cJSON_AddItemToObject(o, "message", m);
    } else {
        cJSON_AddStringToObject(o, "response", text);
    }
}

static bool on_piece(void *user, const char *text, size_t len) {
    gen_job *j = user;
    if (srv_out_cancelled(j->out)) return false;
    if (!j->stream || len == 0) return true;
    char *t = malloc(len + 1);
    cJSON *o = chunk_obj(j);
    if (!t || !o) {
        free(t);
        cJSON_Delete(o);
        return false;
    }
    memcpy(t, text, len);
    t[len] = 0;
    add_text(j, o, t);
    free(t);
    cJSON_AddBoolToObject(o, "done", false);
    return srv_out_line(j->out, o);
}

static cJSON *final_obj(const gen_job *j, const char *text, const chat_turn_stats *st, const char *reason) {
    cJSON *o = chunk_obj(j);
    if (!o) return NULL;
    add_text(j, o, text);
    cJSON_AddBoolToObject(o, "done", true);
    cJSON_AddStringToObject(o, "done_reason", reason);
    cJSON_AddNumberToObject(o, "total_duration", floor((mono_s() - j->t0) * 1e9));
    cJSON_AddNumberToObject(o, "load_duration", 0);
    if (st) {
        cJSON_AddNumberToObject(o, "prompt_eval_count", st->n_prompt);
        cJSON_AddNumberToObject(o, "prompt_eval_duration", floor(st->t_prompt * 1e9));
        cJSON_AddNumberToObject(o, "eval_count", st->n_gen);
        cJSON_AddNumberToObject(o, "eval_duration", floor(st->t_gen * 1e9));
    }
    return o;
}

static const char *done_reason(chat_stop_reason r) {
    return r == CHAT_STOP_LENGTH || r == CHAT_STOP_CONTEXT ? "length" : "stop";
}

/* Wait for the model (one generation at a time), giving up when the client leaves. */
static bool lock_model(gen_job *j) {
    while (pthread_mutex_trylock(&j->model->gen_mu) != 0) {
        if (srv_out_cancelled(j->out)) return false;
        usleep(5000);
    }
    return true;
}

static slm_status gen_run(gen_job *j, char **answer, chat_turn_stats *stats, slm_error *err) {
    *answer = NULL;
    memset(stats, 0, sizeof *stats);
    if (!lock_model(j)) return slm_fail(err, SLM_E_CANCELLED, "client gone");
    srv_model *m = j->model;
    slm_sampler *smp = NULL;
    slm_stop *stop = NULL;
    json_constraint *jc = NULL;
    slm_status st = chat_sampler_new(&j->sp, m->tok, slm_context_n_vocab(m->ctx), &smp, err);
    if (!st && j->n_stops) {
        st = slm_stop_new((const char *const *)j->stops, j->n_stops, &stop, err);
        if (!st) chat_session_set_stop(m->sess, stop);
    }
    if (!st && (j->format_json || j->schema)) {
        st = json_constraint_new(j->schema, m->tok, &jc, err);
        if (!st) st = chat_session_set_constraint(m->sess, jc, err);
    }
    slm_context_set_abort(m->ctx, abort_cb, j->out);
    if (!st && j->raw) {
        st = chat_session_complete(m->sess, j->prompt, strlen(j->prompt), smp, j->n_predict, on_piece, j, answer,
                                   stats, err);
    } else if (!st) {
        st = chat_session_set_messages(m->sess, j->history, err);
        if (!st) st = chat_session_respond(m->sess, j->prompt, smp, j->n_predict, on_piece, j, answer, stats, err);
    }
    slm_context_set_abort(m->ctx, NULL, NULL);
    chat_session_set_stop(m->sess, NULL);
    chat_session_set_constraint(m->sess, NULL, NULL);
    pthread_mutex_unlock(&m->gen_mu);
    json_constraint_free(jc);
    slm_stop_free(stop);
    slm_sampler_free(smp);
    if (!st && srv_out_cancelled(j->out)) st = slm_fail(err, SLM_E_CANCELLED, "client gone");
    if (st) {
        free(*answer);
        *answer = NULL;
    }
    return st;
}

static void gen_worker(srv_out *o, void *arg) {
    gen_job *j = arg;
    j->out = o;
    char *answer = NULL;
    chat_turn_stats stats;
    slm_error err = {0};
    slm_status st = gen_run(j, &answer, &stats, &err);
    if (st == SLM_E_CANCELLED || srv_out_cancelled(o)) {
        srv_log(j->srv, "%s: generation cancelled (client gone or server stopping)", j->model->name);
    } else if (st) {
        cJSON *e = cJSON_CreateObject();
        if (e) cJSON_AddStringToObject(e, "error", err.msg);
        srv_out_line(o, e);
    } else {
        srv_out_line(o, final_obj(j, "", &stats, done_reason(stats.stop)));
    }
    free(answer);
}

static enum MHD_Result handle(slm_server *s, struct MHD_Connection *c, const cJSON *body, bool chat) {
    char why[SLM_ERROR_MSG_MAX];
    const cJSON *mv = cJSON_GetObjectItemCaseSensitive(body, "model");
    if (mv && !cJSON_IsString(mv)) return srv_reply_error(c, 400, "\"model\" must be a string");
    const char *name = srv_body_model(body);
    if (!name) return srv_reply_error(c, 400, "\"model\" (a string) is required");
    bool stream;
    if (!get_bool(body, "stream", true, &stream, why, sizeof why)) return srv_reply_error(c, 400, "%s", why);
    if (!refuse_unsupported(body, why, sizeof why)) return srv_reply_error(c, 400, "%s", why);
    gen_job *j = calloc(1, sizeof *j);
    if (!j) return srv_reply_error(c, 500, "out of memory");
    j->srv = s;
    j->chat = chat;
    j->stream = stream;
    j->t0 = mono_s();
    slm_error err = {0};
    slm_status st = srv_model_acquire(s, name, &j->model, &err);
    if (st) {
        job_free(j);
        return srv_reply_error(c, srv_http_status(st), "%s", err.msg);
    }
    bool ok = parse_options(j, body, why, sizeof why) && parse_format(j, body, why, sizeof why) &&
              (chat ? parse_messages(j, body, why, sizeof why) : parse_generate(j, body, why, sizeof why));
    if (ok && chat && !j->model->has_tmpl)
        ok = false, snprintf(why, sizeof why, "model '%s' has no chat template (use /api/generate)", name);
    if (!ok) {
        job_free(j);
        return srv_reply_error(c, 400, "%s", why);
    }
    if (!j->prompt) { /* no prompt / no messages: Ollama's "load the model" request */
        cJSON *o = final_obj(j, "", NULL, "load");
        job_free(j);
        return srv_reply_json(c, 200, o);
    }
    if (stream) return srv_stream_start(s, c, gen_worker, j, job_free);
    srv_out o;
    srv_out_init_sync(&o, s, c);
    j->out = &o;
    char *answer = NULL;
    chat_turn_stats stats;
    st = gen_run(j, &answer, &stats, &err);
    enum MHD_Result ret;
    if (st == SLM_E_CANCELLED || srv_out_cancelled(&o)) {
        srv_log(s, "%s: generation cancelled (client gone or server stopping)", j->model->name);
        ret = MHD_NO;
    } else if (st) {
        ret = srv_reply_error(c, srv_http_status(st), "%s", err.msg);
    } else {
        ret = srv_reply_json(c, 200, final_obj(j, answer, &stats, done_reason(stats.stop)));
    }
    free(answer);
    job_free(j);
    return ret;
}

enum MHD_Result srv_api_generate(slm_server *s, struct MHD_Connection *c, const cJSON *body) {
    return handle(s, c, body, false);
}

enum MHD_Result srv_api_chat(slm_server *s, struct MHD_Connection *c, const cJSON *body) {
    return handle(s, c, body, true);
}
