/* Stop-string matcher with hold-back; see stop.h. */
#define _GNU_SOURCE /* memmem */
#include "sample/stop.h"

#include <stdlib.h>
#include <string.h>

#include "base/error.h"

#define STOP_MAX_COUNT 64
#define STOP_MAX_LEN 4096

struct slm_stop {
    char **stops;
    size_t *lens;
    int n;
    size_t max_len;
    char *buf;       /* held text followed by the newest piece */
    size_t len, cap;
    size_t out_off;  /* text handed out last call starts here; dropped at the next call */
    bool stopped;
};

void slm_stop_free(slm_stop *s) {
    if (!s) return;
    for (int i = 0; i < s->n; i++) free(s->stops[i]);
    free(s->stops);
    free(s->lens);
    free(s->buf);
    free(s);
}

slm_status slm_stop_new(const char *const *stops, int n, slm_stop **out, slm_error *err) {
    *out = NULL;
    if (n < 0 || n > STOP_MAX_COUNT || (n && !stops))
        return slm_fail(err, SLM_E_INVALID_ARG, "stop strings: at most %d", STOP_MAX_COUNT);
    slm_stop *s = calloc(1, sizeof *s);
    if (!s) return slm_fail(err, SLM_E_NOMEM, "out of memory");
    s->stops = calloc((size_t)(n ? n : 1), sizeof *s->stops);
    s->lens = calloc((size_t)(n ? n : 1), sizeof *s->lens);
    if (!s->stops || !s->lens) {
        slm_stop_free(s);
        return slm_fail(err, SLM_E_NOMEM, "out of memory");
    }
    for (int i = 0; i < n; i++) {
        size_t l = stops[i] ? strlen(stops[i]) : 0;
        if (l == 0) continue;
        if (l >= STOP_MAX_LEN) {
            slm_stop_free(s);
            return slm_fail(err, SLM_E_INVALID_ARG, "stop string %d is too long (%zu bytes, limit %d)", i, l, STOP_MAX_LEN - 1);
        }
        s->stops[s->n] = malloc(l + 1);
        if (!s->stops[s->n]) {
            slm_stop_free(s);
            return slm_fail(err, SLM_E_NOMEM, "out of memory");
        }
        memcpy(s->stops[s->n], stops[i], l + 1);
        s->lens[s->n++] = l;
        if (l > s->max_len) s->max_len = l;
    }
    s->cap = 2 * s->max_len + 256;
    s->buf = malloc(s->cap);
    if (!s->buf) {
        slm_stop_free(s);
        return slm_fail(err, SLM_E_NOMEM, "out of memory");
    }
    *out = s;
    return SLM_OK;
}

void slm_stop_reset(slm_stop *s) {
    s->len = s->out_off = 0;
    s->stopped = false;
}

bool slm_stop_hit(const slm_stop *s) { return s->stopped; }

/* Length of the longest suffix of buf[0..len) that is a proper prefix of some stop string. */
static size_t partial_suffix(const slm_stop *s, const char *buf, size_t len) {
    size_t best = 0;
    for (int i = 0; i < s->n; i++) {
        size_t max = s->lens[i] - 1 < len ? s->lens[i] - 1 : len;
        for (size_t k = max; k > best; k--) {
            if (!memcmp(buf + len - k, s->stops[i], k)) {
                best = k;
                break;
            }
        }
    }
    return best;
}

bool slm_stop_feed(slm_stop *s, const char *piece, size_t len, const char **text, size_t *text_len) {
    *text = s->buf;
    *text_len = 0;
    if (s->stopped) return true;
    /* drop what was handed out last time: keep only the held-back tail */
    if (s->out_off) {
        memmove(s->buf, s->buf + s->out_off, s->len - s->out_off);
        s->len -= s->out_off;
        s->out_off = 0;
    }
    if (s->len + len > s->cap) {
        size_t cap = s->cap * 2;
        while (cap < s->len + len) cap *= 2;
        char *nb = realloc(s->buf, cap);
        if (!nb) { /* cannot hold: release everything unchecked rather than lose text */
            *text = piece;
            *text_len = len;
            return false;
        }
        s->buf = nb;
        s->cap = cap;
    }
    if (len) memcpy(s->buf + s->len, piece, len);
    size_t old = s->len;
    s->len += len;
    *text = s->buf;
    /* a new match must end inside the new piece, so it starts at most max_len-1 bytes earlier */
    size_t from = old > s->max_len ? old - s->max_len : 0;
    size_t hit = (size_t)-1;
    for (int i = 0; i < s->n; i++) {
        const char *p = memmem(s->buf + from, s->len - from, s->stops[i], s->lens[i]);
        if (p && (size_t)(p - s->buf) < hit) hit = (size_t)(p - s->buf);
    }
    if (hit != (size_t)-1) {
        s->stopped = true;
        *text_len = hit;
        s->out_off = 0;
        s->len = 0;
        return true;
    }
    size_t keep = partial_suffix(s, s->buf, s->len);
    *text_len = s->len - keep;
    s->out_off = s->len - keep;
    return false;
}

void slm_stop_flush(slm_stop *s, const char **text, size_t *text_len) {
    if (s->out_off) {
        memmove(s->buf, s->buf + s->out_off, s->len - s->out_off);
        s->len -= s->out_off;
        s->out_off = 0;
    }
    *text = s->buf;
    *text_len = s->stopped ? 0 : s->len;
    s->len = 0;
}
