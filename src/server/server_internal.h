/* Internals of src/server shared by its files: the server, loaded models, NDJSON streams and
 * request helpers. */
#ifndef SLM_SERVER_INTERNAL_H
#define SLM_SERVER_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>
#include <microhttpd.h>

#include "chat/chat_session.h"
#include "chat/chat_template.h"
#include "server/server.h"
#include "store/store.h"
#include "tokenizer/tokenizer.h"

#define SRV_MAX_MODELS 64
#define SRV_NAME_MAX 256

/* A model loaded for generation. The registry holds one reference while it is listed; each
 * request holds one while it uses the model; the last release frees it. */
typedef struct srv_model {
    char name[SRV_NAME_MAX];                   /* as addressed in requests */
    char path[SLM_STORE_PATH_MAX];             /* file or folder loaded */
    char store_name[SLM_STORE_NAME_MAX + 1];   /* "" when loaded from a path */
    slm_model *m;
    slm_tokenizer *tok;
    chat_template_source tmpl;
    bool has_tmpl;
    slm_context *ctx;
    chat_session *sess;
    pthread_mutex_t gen_mu; /* one generation at a time on ctx/sess */
    int refs;               /* guarded by the server's reg_mu */
    int64_t loaded_at;      /* unix seconds */
} srv_model;

struct slm_server {
    slm_server_config cfg;
    char *host, *api_key;
    struct MHD_Daemon *daemon;
    int port;
    bool check_host; /* Host header must be localhost / the bound address */

    pthread_mutex_t reg_mu;  /* models[] and every refs */
    pthread_mutex_t load_mu; /* one load at a time (loads happen outside reg_mu) */
    srv_model *models[SRV_MAX_MODELS];
    int n_models;

    volatile int stopping;      /* set by slm_server_free: everything running cancels */
    pthread_mutex_t work_mu;    /* n_workers */
    pthread_cond_t work_cv;
    int n_workers;              /* stream worker threads alive */
};

void srv_log(slm_server *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* --- models.c ---------------------------------------------------------------------------- */
/* Load path as name (store_name may be NULL) and list it. */
slm_status srv_model_load(slm_server *s, const char *name, const char *path, const char *store_name, slm_error *err);
/* Find a listed model by name (also "x" for "x:latest" and the reverse), loading a store model on
 * first use. SLM_E_NOT_FOUND when neither listed nor stored; SLM_E_INVALID_ARG for a name that is
 * no valid store name. Release with srv_model_release. */
slm_status srv_model_acquire(slm_server *s, const char *name, srv_model **out, slm_error *err);
void srv_model_release(slm_server *s, srv_model *m);
/* For /api/show: a listed model as srv_model_acquire, else a stored one opened for its metadata
 * only (weights mapped, template read; no context, not listed, freed by srv_model_release), so
 * describing a model does not keep it loaded. */
slm_status srv_model_describe_open(slm_server *s, const char *name, srv_model **out, slm_error *err);
/* Unlist every model loaded from this store name (after /api/delete). */
void srv_model_unlist_store(slm_server *s, const char *store_name);
/* Unlist and free everything (shutdown, no requests left). */
void srv_models_free_all(slm_server *s);
/* Ollama's "details" object for a GGUF file or HF folder path (format, family, parameter_size,
 * quantization_level); quant may be "" (then read from the file). */
cJSON *srv_details_json(const char *path, const char *quant, uint64_t *n_params);
/* "2026-11-28T17:48:23.123456789Z"-style time (Ollama's RFC 3339 with fraction). */
void srv_time_rfc3339(int64_t sec, long nsec, char *out, size_t cap);
void srv_now_rfc3339(char *out, size_t cap);

/* --- stream.c: NDJSON answers written by a worker thread, sent by the connection thread ------ */
typedef struct srv_out srv_out;
typedef void (*srv_work_fn)(srv_out *o, void *arg);

/* Where a handler's output goes: a stream (worker thread) or nowhere yet (non-streamed: the
 * handler builds the reply itself). Either way `cancelled` says the client hung up or the server
 * is stopping. */
struct srv_out {
    slm_server *srv;
    struct srv_stream *stream; /* NULL: synchronous */
    int fd;                    /* client socket (-1 unknown) */
    volatile int cancel;       /* set once the client is gone */
};

/* Initialise o for a synchronous handler on connection c. */
void srv_out_init_sync(srv_out *o, slm_server *s, struct MHD_Connection *c);
/* True when the request should stop: the client hung up (the socket is polled) or the server is
 * stopping. Cheap enough to call between layers. */
bool srv_out_cancelled(srv_out *o);
/* Append one JSON object as a line to the stream (obj is deleted). False if the client is gone. */
bool srv_out_line(srv_out *o, cJSON *obj);

/* Run fn(o, arg) in a new worker thread and reply 200 with what it writes (NDJSON, chunked).
 * arg_free(arg) runs when the worker ends. On failure (no thread) arg_free runs at once and an
 * error reply is queued. */
enum MHD_Result srv_stream_start(slm_server *s, struct MHD_Connection *c, srv_work_fn fn, void *arg,
                                 void (*arg_free)(void *));

/* --- http.c: replies ----------------------------------------------------------------------- */
enum MHD_Result srv_reply_json(struct MHD_Connection *c, unsigned status, cJSON *obj); /* deletes obj */
enum MHD_Result srv_reply_error(struct MHD_Connection *c, unsigned status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* HTTP status for a library status. */
unsigned srv_http_status(slm_status st);
/* body["model"], else body["name"] (Ollama accepts both); NULL if neither is a string. */
const char *srv_body_model(const cJSON *body);

/* --- api_store.c / api_generate.c: endpoints (body is the parsed JSON object or NULL) -------- */
enum MHD_Result srv_api_version(slm_server *s, struct MHD_Connection *c, const cJSON *body);
enum MHD_Result srv_api_tags(slm_server *s, struct MHD_Connection *c, const cJSON *body);
enum MHD_Result srv_api_show(slm_server *s, struct MHD_Connection *c, const cJSON *body);
enum MHD_Result srv_api_pull(slm_server *s, struct MHD_Connection *c, const cJSON *body);
enum MHD_Result srv_api_delete(slm_server *s, struct MHD_Connection *c, const cJSON *body);
enum MHD_Result srv_api_copy(slm_server *s, struct MHD_Connection *c, const cJSON *body);
enum MHD_Result srv_api_ps(slm_server *s, struct MHD_Connection *c, const cJSON *body);
enum MHD_Result srv_api_generate(slm_server *s, struct MHD_Connection *c, const cJSON *body);
enum MHD_Result srv_api_chat(slm_server *s, struct MHD_Connection *c, const cJSON *body);

#endif
