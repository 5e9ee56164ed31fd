/* The HTTP side of `slm serve`: libmicrohttpd daemon, request bodies, the checks every request
 * passes (API key, Host header, body size, JSON), routing, and reply helpers. */
#include <arpa/inet.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/error.h"
#include "server/server_internal.h"

#define SRV_DEFAULT_MAX_BODY ((size_t)8 << 20)

void srv_log(slm_server *s, const char *fmt, ...) {
    if (!s->cfg.log) return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    s->cfg.log(s->cfg.log_user, line);
}

/* --- replies ------------------------------------------------------------------------------- */

static enum MHD_Result reply_bytes(struct MHD_Connection *c, unsigned status, const char *type, const char *data,
                                   size_t len) {
    struct MHD_Response *r = MHD_create_response_from_buffer(len, (void *)data, MHD_RESPMEM_MUST_COPY);
    if (!r) return MHD_NO;
    MHD_add_response_header(r, "Content-Type", type);
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

enum MHD_Result srv_reply_json(struct MHD_Connection *c, unsigned status, cJSON *obj) {
    char *txt = obj ? cJSON_PrintUnformatted(obj) : NULL;
    cJSON_Delete(obj);
    if (!txt) return reply_bytes(c, 500, "application/json", "{\"error\":\"out of memory\"}", 25);
    enum MHD_Result ret = reply_bytes(c, status, "application/json; charset=utf-8", txt, strlen(txt));
    free(txt);
    return ret;
}

enum MHD_Result srv_reply_error(struct MHD_Connection *c, unsigned status, const char *fmt, ...) {
    char msg[SLM_ERROR_MSG_MAX + 128];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    cJSON *o = cJSON_CreateObject();
    if (o) cJSON_AddStringToObject(o, "error", msg);
    return srv_reply_json(c, status, o);
}

unsigned srv_http_status(slm_status st) {
    switch (st) {
    case SLM_OK: return 200;
    case SLM_E_INVALID_ARG:
    case SLM_E_RANGE:
    case SLM_E_UNSUPPORTED: return 400;
    case SLM_E_NOT_FOUND: return 404;
    case SLM_E_NOMEM: return 503; /* out of memory or of model slots: try again later */
    default: return 500;
    }
}

const char *srv_body_model(const cJSON *body) {
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(body, "model");
    if (cJSON_IsString(m) && m->valuestring[0]) return m->valuestring;
    m = cJSON_GetObjectItemCaseSensitive(body, "name");
    if (cJSON_IsString(m) && m->valuestring[0]) return m->valuestring;
    return NULL;
}

/* --- checks -------------------------------------------------------------------------------- */

/* Constant-time comparison, so the key cannot be guessed byte by byte from response times. */
static bool same_secret(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    unsigned char diff = (unsigned char)(la != lb);
    for (size_t i = 0; i < la; i++) diff |= (unsigned char)(a[i] ^ b[i % (lb ? lb : 1)]);
    return diff == 0;
}

static bool authorized(const slm_server *s, struct MHD_Connection *c) {
    if (!s->api_key) return true;
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    if (!h || strncasecmp(h, "Bearer ", 7)) return false;
    h += 7;
    while (*h == ' ') h++;
    return same_secret(h, s->api_key);
}

static bool is_loopback_name(const char *h) {
    size_t n = strlen(h);
    return !strcasecmp(h, "localhost") || (n > 10 && !strcasecmp(h + n - 10, ".localhost")) ||
           !strncmp(h, "127.", 4) || !strcmp(h, "::1");
}

/* Host header -> host name without port or brackets. False if malformed. */
static bool host_of(const char *hdr, char *out, size_t cap) {
    size_t n;
    if (hdr[0] == '[') {
        const char *e = strchr(hdr, ']');
        if (!e) return false;
        n = (size_t)(e - hdr - 1);
        hdr++;
    } else {
        const char *colon = strchr(hdr, ':');
        n = colon ? (size_t)(colon - hdr) : strlen(hdr);
    }
    if (n == 0 || n >= cap) return false;
    memcpy(out, hdr, n);
    out[n] = 0;
    return true;
}

/* DNS rebinding: a web page at evil.example whose name resolves to 127.0.0.1 sends requests with
 * "Host: evil.example"; only names that mean this machine are accepted. */
static bool host_allowed(const slm_server *s, struct MHD_Connection *c) {
    if (!s->check_host) return true;
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Host");
    if (!h) return true; /* HTTP/1.0 clients send none; a browser always does */
    char name[256];
    if (!host_of(h, name, sizeof name)) return false;
    return is_loopback_name(name) || !strcasecmp(name, s->host);
}

/* --- requests ------------------------------------------------------------------------------ */

typedef struct srv_request {
    char *body;
    size_t len, cap;
    bool too_large;
} srv_request;

typedef enum MHD_Result (*route_fn)(slm_server *s, struct MHD_Connection *c, const cJSON *body);

typedef struct route {
    const char *method, *path;
    route_fn fn;
    bool has_body;
} route;

static enum MHD_Result api_health(slm_server *s, struct MHD_Connection *c, const cJSON *body) {
    cJSON *o = cJSON_CreateObject();
    if (o) cJSON_AddStringToObject(o, "status", "ok");
    return srv_reply_json(c, 200, o);
}

static enum MHD_Result api_root(slm_server *s, struct MHD_Connection *c, const cJSON *body) {
    static const char k_text[] = "slm is running";
    return reply_bytes(c, 200, "text/plain; charset=utf-8", k_text, sizeof k_text - 1);
}

static const route k_routes[] = {
    {"GET", "/", api_root, false},
    {"HEAD", "/", api_root, false},
    {"GET", "/health", api_health, false},
    {"GET", "/api/version", srv_api_version, false},
    {"GET", "/api/tags", srv_api_tags, false},
    {"GET", "/api/ps", srv_api_ps, false},
    {"POST", "/api/show", srv_api_show, true},
    {"POST", "/api/pull", srv_api_pull, true},
    {"DELETE", "/api/delete", srv_api_delete, true},
    {"POST", "/api/copy", srv_api_copy, true},
    {"POST", "/api/generate", srv_api_generate, true},
    {"POST", "/api/chat", srv_api_chat, true},
};

static enum MHD_Result dispatch(slm_server *s, struct MHD_Connection *c, const char *url, const char *method,
                                srv_request *rq) {
    srv_log(s, "%s %.200s", method, url);
    const route *r = NULL;
    bool path_known = false;
    for (size_t i = 0; i < sizeof k_routes / sizeof k_routes[0]; i++) {
        if (strcmp(k_routes[i].path, url)) continue;
        path_known = true;
        if (!strcmp(k_routes[i].method, method)) r = &k_routes[i];
    }
    if (!r) {
        if (path_known) return srv_reply_error(c, 405, "method %s not allowed on %s", method, url);
        return srv_reply_error(c, 404, "no endpoint %s", url);
    }
    if (rq->too_large)
        return srv_reply_error(c, 413, "request body larger than %zu bytes", s->cfg.max_body);
    if (!r->has_body) return r->fn(s, c, NULL);
    if (!rq->len) return srv_reply_error(c, 400, "missing request body (a JSON object)");
    const char *end = NULL;
    cJSON *body = cJSON_ParseWithLengthOpts(rq->body, rq->len, &end, false);
    if (!body) {
        size_t at = end && end >= rq->body ? (size_t)(end - rq->body) : 0;
        return srv_reply_error(c, 400, "invalid JSON in the request body near byte %zu", at);
    }
    for (; end && (size_t)(end - rq->body) < rq->len; end++) {
        if (*end != ' ' && *end != '\n' && *end != '\r' && *end != '\t') {
            cJSON_Delete(body);
            return srv_reply_error(c, 400, "invalid JSON: trailing data after the object");
        }
    }
    if (!cJSON_IsObject(body)) {
        cJSON_Delete(body);
        return srv_reply_error(c, 400, "the request body must be a JSON object");
    }
    enum MHD_Result ret = r->fn(s, c, body);
    cJSON_Delete(body);
    return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **con_cls) {
    slm_server *s = cls;
    srv_request *rq = *con_cls;
    if (!rq) { /* headers only so far: check before reading any body */
        if (!host_allowed(s, c)) return srv_reply_error(c, 403, "Host header not allowed");
        if (!authorized(s, c)) {
            static const char k_unauth[] = "{\"error\":\"unauthorized\"}";
            struct MHD_Response *r =
                MHD_create_response_from_buffer(sizeof k_unauth - 1, (void *)k_unauth, MHD_RESPMEM_PERSISTENT);
            if (!r) return MHD_NO;
            MHD_add_response_header(r, "Content-Type", "application/json");
            MHD_add_response_header(r, "WWW-Authenticate", "Bearer");
            enum MHD_Result ret = MHD_queue_response(c, 401, r);
            MHD_destroy_response(r);
            return ret;
        }
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
        if (cl && strtoull(cl, NULL, 10) > s->cfg.max_body)
            return srv_reply_error(c, 413, "request body larger than %zu bytes", s->cfg.max_body);
        rq = calloc(1, sizeof *rq);
        if (!rq) return MHD_NO;
        *con_cls = rq;
        return MHD_YES;
    }
    if (*upload_data_size) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (rq->too_large || n > s->cfg.max_body - rq->len) {
            rq->too_large = true; /* keep reading (and dropping) it; 413 at the end */
            return MHD_YES;
        }
        if (rq->len + n + 1 > rq->cap) {
            size_t cap = rq->cap ? rq->cap : 4096;
            while (cap < rq->len + n + 1) cap *= 2;
            char *nb = realloc(rq->body, cap);
            if (!nb) return MHD_NO;
            rq->body = nb;
            rq->cap = cap;
        }
        memcpy(rq->body + rq->len, upload_data, n);
        rq->len += n;
        rq->body[rq->len] = 0;
        return MHD_YES;
    }
    return dispatch(s, c, url, method, rq);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe) {
    srv_request *rq = *con_cls;
    if (rq) {
        free(rq->body);
        free(rq);
        *con_cls = NULL;
    }
}

static void mhd_log(void *cls, const char *fmt, va_list ap) {
    slm_server *s = cls;
    if (!s->cfg.log) return;
    char line[512];
    vsnprintf(line, sizeof line, fmt, ap);
    size_t n = strlen(line);
    while (n && line[n - 1] == '\n') line[--n] = 0;
    s->cfg.log(s->cfg.log_user, line);
}

/* --- life cycle ---------------------------------------------------------------------------- */

slm_status slm_server_new(const slm_server_config *cfg, slm_server **out, slm_error *err) {
    *out = NULL;
    slm_server *s = calloc(1, sizeof *s);
    if (!s) return slm_fail(err, SLM_E_NOMEM, "out of memory");
    s->cfg = *cfg;
    if (!s->cfg.max_body) s->cfg.max_body = SRV_DEFAULT_MAX_BODY;
    if (s->cfg.max_models <= 0) s->cfg.max_models = 8;
    if (s->cfg.max_models > SRV_MAX_MODELS) s->cfg.max_models = SRV_MAX_MODELS;
    s->host = strdup(cfg->host && *cfg->host ? cfg->host : "127.0.0.1");
    s->api_key = cfg->api_key && *cfg->api_key ? strdup(cfg->api_key) : NULL;
    if (!s->host || (cfg->api_key && *cfg->api_key && !s->api_key)) {
        free(s->host);
        free(s);
        return slm_fail(err, SLM_E_NOMEM, "out of memory");
    }
    s->cfg.host = s->host;
    s->cfg.api_key = s->api_key;
    s->check_host = !cfg->host_given || is_loopback_name(s->host);
    pthread_mutex_init(&s->reg_mu, NULL);
    pthread_mutex_init(&s->load_mu, NULL);
    pthread_mutex_init(&s->work_mu, NULL);
    pthread_cond_init(&s->work_cv, NULL);
    *out = s;
    return SLM_OK;
}

slm_status slm_server_add_model(slm_server *s, const char *name, const char *path, const char *store_name,
                                slm_error *err) {
    return srv_model_load(s, name, path, store_name, err);
}

slm_status slm_server_start(slm_server *s, slm_error *err) {
    struct addrinfo hints = {0}, *ai = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    char port[16];
    snprintf(port, sizeof port, "%d", s->cfg.port);
    int gai = getaddrinfo(s->host, port, &hints, &ai);
    if (gai != 0 || !ai) return slm_fail(err, SLM_E_INVALID_ARG, "cannot resolve host '%s': %s", s->host, gai_strerror(gai));
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ERROR_LOG;
    if (ai->ai_family == AF_INET6) flags |= MHD_USE_IPv6;
    s->daemon = MHD_start_daemon(flags, (uint16_t)s->cfg.port, NULL, NULL, on_request, s,
                                 MHD_OPTION_EXTERNAL_LOGGER, mhd_log, s, /* first, or MHD warns */
                                 MHD_OPTION_SOCK_ADDR, ai->ai_addr,
                                 MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
                                 MHD_OPTION_CONNECTION_LIMIT, (unsigned)256,
                                 MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)600, /* idle seconds (slow clients) */
                                 MHD_OPTION_END);
    freeaddrinfo(ai);
    if (!s->daemon) return slm_fail(err, SLM_E_IO, "cannot listen on %s port %d (in use?)", s->host, s->cfg.port);
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
    s->port = info ? info->port : s->cfg.port;
    return SLM_OK;
}

int slm_server_port(const slm_server *s) { return s->port; }

void slm_server_free(slm_server *s) {
    if (!s) return;
    __atomic_store_n(&s->stopping, 1, __ATOMIC_SEQ_CST);
    if (s->daemon) MHD_stop_daemon(s->daemon); /* joins the connection threads */
    pthread_mutex_lock(&s->work_mu);
    while (s->n_workers > 0) pthread_cond_wait(&s->work_cv, &s->work_mu);
    pthread_mutex_unlock(&s->work_mu);
    srv_models_free_all(s);
    pthread_mutex_destroy(&s->reg_mu);
    pthread_mutex_destroy(&s->load_mu);
    pthread_mutex_destroy(&s->work_mu);
    pthread_cond_destroy(&s->work_cv);
    free(s->host);
    free(s->api_key);
    free(s);
}
