/* `slm serve`: an HTTP server (libmicrohttpd) speaking Ollama's API over the library: the model
 * store (/api/tags, /api/pull, /api/delete, /api/copy, /api/show), loaded models (/api/ps) and
 * generation (/api/generate, /api/chat, NDJSON streaming or one JSON object).
 *
 * Threads: libmicrohttpd runs one thread per connection. A streamed answer or pull runs in a
 * worker thread of its own that writes NDJSON lines into a buffer the connection thread sends;
 * a non-streamed request runs in the connection thread. Each loaded model has one context and
 * generates for one request at a time (others wait for its lock). A client that hangs up cancels
 * its generation or pull at once: the socket is polled between layers / while waiting.
 *
 * Security: binds 127.0.0.1 unless told otherwise; optional API key (Authorization: Bearer) on
 * every endpoint; the Host header must name localhost or the bound address unless the server was
 * bound to a non-loopback address on purpose (DNS rebinding); bodies over max_body are refused
 * (413); model names from requests are store names only (checked by slm_store_check_name), never
 * paths, so no request reads or writes a file outside the store.
 *
 * The library never prints: log lines go to cfg.log.
 */
#ifndef SLM_SERVER_H
#define SLM_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "slm.h"

typedef void (*slm_server_log_fn)(void *user, const char *line);

typedef struct slm_server_config {
    const char *host;    /* address to bind, numeric or a name getaddrinfo resolves; NULL: 127.0.0.1 */
    int port;            /* 0: any free port (see slm_server_port) */
    bool host_given;     /* the user chose host: a non-loopback host then turns the Host check off */
    const char *api_key; /* NULL or "": no key; else required as "Authorization: Bearer KEY" */
    int32_t n_threads;   /* per generation; 0: physical cores */
    int32_t n_ctx;       /* context of each loaded model; 0: min(training context, 4096) */
    size_t max_body;     /* request body limit in bytes; 0: 8 MiB */
    int max_models;      /* models kept loaded at once; 0: 8 */
    slm_server_log_fn log; /* may be NULL */
    void *log_user;
} slm_server_config;

typedef struct slm_server slm_server;

/* The config's strings are copied. */
slm_status slm_server_new(const slm_server_config *cfg, slm_server **out, slm_error *err);

/* Load and validate a model, addressed in requests as name. path: a GGUF file or HF folder;
 * store_name: the store name it came from (NULL for a path). */
slm_status slm_server_add_model(slm_server *s, const char *name, const char *path, const char *store_name,
                                slm_error *err);

/* Start listening (returns at once; requests are served by libmicrohttpd's threads). */
slm_status slm_server_start(slm_server *s, slm_error *err);
/* The port listened on (after start). */
int slm_server_port(const slm_server *s);

/* Stop: cancel running generations and pulls, wait for them, close every connection, free all. */
void slm_server_free(slm_server *s);

#endif
