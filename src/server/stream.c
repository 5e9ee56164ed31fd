/* NDJSON streams: a worker thread produces lines, the connection thread sends them as they come
 * (chunked), and whichever side finishes last frees the stream. The connection thread polls the
 * client's socket while it waits, so a client that hangs up cancels the worker within ~50 ms even
 * when no line is being written (e.g. during a long prompt). */
#define _GNU_SOURCE /* POLLRDHUP */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/server_internal.h"

#define STREAM_WAIT_MS 50

typedef struct srv_stream {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    char *buf; /* pending bytes [off, len) */
    size_t len, off, cap;
    bool done; /* the worker has finished: after the pending bytes, end of stream */
    int refs;  /* worker + response */
    srv_out out;
    srv_work_fn fn;
    void *arg;
    void (*arg_free)(void *);
} srv_stream;

static int connection_fd(struct MHD_Connection *c) {
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    return ci ? ci->connect_fd : -1;
}

/* The peer closed or reset the connection. A request was read completely and HTTP clients do not
 * pipeline on a connection waiting for an answer, so readable data means nothing else. */
static bool peer_gone(int fd) {
    if (fd < 0) return false;
    struct pollfd p = {.fd = fd, .events = POLLRDHUP};
    if (poll(&p, 1, 0) <= 0) return false;
    return (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)) != 0;
}

void srv_out_init_sync(srv_out *o, slm_server *s, struct MHD_Connection *c) {
    memset(o, 0, sizeof *o);
    o->srv = s;
    o->fd = connection_fd(c);
}

bool srv_out_cancelled(srv_out *o) {
    if (__atomic_load_n(&o->cancel, __ATOMIC_RELAXED)) return true;
    /* o->cancel is also what a pull polls (slm_pull_options.cancel), so every reason sets it */
    if (__atomic_load_n(&o->srv->stopping, __ATOMIC_RELAXED)) {
        __atomic_store_n(&o->cancel, 1, __ATOMIC_RELAXED);
        return true;
    }
    /* synchronous: this thread owns the connection, so it polls the socket itself */
    if (!o->stream && peer_gone(o->fd)) {
        __atomic_store_n(&o->cancel, 1, __ATOMIC_RELAXED);
        return true;
    }
    return false;
}

static void stream_unref(srv_stream *st) {
    pthread_mutex_lock(&st->mu);
    int left = --st->refs;
    pthread_mutex_unlock(&st->mu);
    if (left) return;
    pthread_mutex_destroy(&st->mu);
    pthread_cond_destroy(&st->cv);
    free(st->buf);
    free(st);
}

bool srv_out_line(srv_out *o, cJSON *obj) {
    srv_stream *st = o->stream;
    char *txt = obj ? cJSON_PrintUnformatted(obj) : NULL;
    cJSON_Delete(obj);
    if (!st || !txt) {
        free(txt);
        return false;
    }
    size_t n = strlen(txt);
    bool ok = false;
    pthread_mutex_lock(&st->mu);
    if (!o->cancel) {
        if (st->off == st->len) st->off = st->len = 0;
        if (st->len + n + 1 > st->cap) {
            size_t cap = st->cap ? st->cap : 4096;
            while (cap < st->len + n + 1) cap *= 2;
            char *nb = realloc(st->buf, cap);
            if (nb) st->buf = nb, st->cap = cap;
        }
        if (st->len + n + 1 <= st->cap) {
            memcpy(st->buf + st->len, txt, n);
            st->buf[st->len + n] = '\n';
            st->len += n + 1;
            ok = true;
            pthread_cond_signal(&st->cv);
        }
    }
    pthread_mutex_unlock(&st->mu);
    free(txt);
    return ok;
}

/* MHD content reader: blocks (thread-per-connection mode allows it) until bytes, the end, or a
 * hang-up. */
static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max) {
    srv_stream *st = cls;
    pthread_mutex_lock(&st->mu);
    for (;;) {
        if (st->len > st->off) {
            size_t n = st->len - st->off < max ? st->len - st->off : max;
            memcpy(buf, st->buf + st->off, n);
            st->off += n;
            pthread_mutex_unlock(&st->mu);
            return (ssize_t)n;
        }
        if (st->done) {
            pthread_mutex_unlock(&st->mu);
            return MHD_CONTENT_READER_END_OF_STREAM;
        }
        if (st->out.cancel || __atomic_load_n(&st->out.srv->stopping, __ATOMIC_RELAXED) || peer_gone(st->out.fd)) {
            __atomic_store_n(&st->out.cancel, 1, __ATOMIC_RELAXED);
            pthread_mutex_unlock(&st->mu);
            return MHD_CONTENT_READER_END_WITH_ERROR;
        }
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += STREAM_WAIT_MS * 1000000L;
        if (ts.tv_nsec >= 1000000000L) ts.tv_sec++, ts.tv_nsec -= 1000000000L;
        pthread_cond_timedwait(&st->cv, &st->mu, &ts);
    }
}

/* The response is gone (sent, or the connection closed): a worker still running must stop. */
static void stream_response_free(void *cls) {
    srv_stream *st = cls;
    __atomic_store_n(&st->out.cancel, 1, __ATOMIC_RELAXED);
    stream_unref(st);
}

static void *stream_worker(void *p) {
    srv_stream *st = p;
    st->fn(&st->out, st->arg);
    if (st->arg_free) st->arg_free(st->arg);
    slm_server *s = st->out.srv;
    pthread_mutex_lock(&st->mu);
    st->done = true;
    pthread_cond_signal(&st->cv);
    pthread_mutex_unlock(&st->mu);
    stream_unref(st);
    pthread_mutex_lock(&s->work_mu);
    s->n_workers--;
    pthread_cond_broadcast(&s->work_cv);
    pthread_mutex_unlock(&s->work_mu);
    return NULL;
}

enum MHD_Result srv_stream_start(slm_server *s, struct MHD_Connection *c, srv_work_fn fn, void *arg,
                                 void (*arg_free)(void *)) {
    srv_stream *st = calloc(1, sizeof *st);
    if (!st) {
        if (arg_free) arg_free(arg);
        return srv_reply_error(c, 500, "out of memory");
    }
    pthread_mutex_init(&st->mu, NULL);
    pthread_cond_init(&st->cv, NULL);
    st->refs = 2;
    st->out.srv = s;
    st->out.stream = st;
    st->out.fd = connection_fd(c);
    st->fn = fn;
    st->arg = arg;
    st->arg_free = arg_free;
    struct MHD_Response *r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, stream_read, st,
                                                               stream_response_free);
    if (!r) {
        if (arg_free) arg_free(arg);
        st->refs = 1;
        stream_unref(st);
        return srv_reply_error(c, 500, "out of memory");
    }
    MHD_add_response_header(r, "Content-Type", "application/x-ndjson");
    pthread_mutex_lock(&s->work_mu);
    s->n_workers++;
    pthread_mutex_unlock(&s->work_mu);
    pthread_attr_t at;
    pthread_attr_init(&at);
    pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
    pthread_t th;
    int e = pthread_create(&th, &at, stream_worker, st);
    pthread_attr_destroy(&at);
    if (e != 0) {
        pthread_mutex_lock(&s->work_mu);
        s->n_workers--;
        pthread_cond_broadcast(&s->work_cv);
        pthread_mutex_unlock(&s->work_mu);
        if (arg_free) arg_free(arg);
        st->done = true;
        st->refs = 1; /* only the response's */
        MHD_destroy_response(r); /* calls stream_response_free */
        return srv_reply_error(c, 503, "cannot start a worker thread: %s", strerror(e));
    }
    enum MHD_Result ret = MHD_queue_response(c, 200, r);
    MHD_destroy_response(r);
    return ret;
}
