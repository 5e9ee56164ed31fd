/* Decoding ids to text, whole (as HF `decode(skip_special_tokens=False)`) and streaming. */
#include <stdlib.h>
#include <string.h>

#include "base/checked.h"
#include "tokenizer/tok_internal.h"

static const char k_repl[3] = {'\xEF', '\xBF', '\xBD'}; /* U+FFFD */

/* Length of the sequence at s if it is a valid but truncated prefix of a UTF-8 character (the
 * bytes present are all right, more are needed); 0 otherwise. */
static size_t utf8_incomplete(const uint8_t *s, size_t n) {
    uint8_t b = s[0];
    size_t len;
    uint8_t lo = 0x80, hi = 0xBF;
    if (b >= 0xC2 && b <= 0xDF) len = 2;
    else if (b >= 0xE0 && b <= 0xEF) { len = 3; if (b == 0xE0) lo = 0xA0; if (b == 0xED) hi = 0x9F; }
    else if (b >= 0xF0 && b <= 0xF4) { len = 4; if (b == 0xF0) lo = 0x90; if (b == 0xF4) hi = 0x8F; }
    else return 0;
    if (n >= len) return 0;
    if (n >= 2 && (s[1] < lo || s[1] > hi)) return 0;
    for (size_t i = 2; i < n; i++)
        if ((s[i] & 0xC0) != 0x80) return 0;
    return len;
}

/* Bytes replaced by one U+FFFD at an invalid position (Rust from_utf8_lossy: the maximal prefix
 * of a valid sequence, at least 1). */
static size_t utf8_invalid_len(const uint8_t *s, size_t n) {
    uint8_t b = s[0];
    size_t len;
    uint8_t lo = 0x80, hi = 0xBF;
    if (b >= 0xC2 && b <= 0xDF) len = 2;
    else if (b >= 0xE0 && b <= 0xEF) { len = 3; if (b == 0xE0) lo = 0xA0; if (b == 0xED) hi = 0x9F; }
    else if (b >= 0xF0 && b <= 0xF4) { len = 4; if (b == 0xF0) lo = 0x90; if (b == 0xF4) hi = 0x8F; }
    else return 1;
    size_t j = 1;
    if (j < n && s[1] >= lo && s[1] <= hi) {
        j = 2;
        while (j < len && j < n && (s[j] & 0xC0) == 0x80) j++;
    }
    return j;
}

/* Copy src to dst (room for 3 * n bytes) replacing invalid UTF-8 with U+FFFD. If hold is set, a
 * truncated sequence at the very end is not written; its length goes to *held. Returns bytes
 * written. */
static size_t utf8_sanitize(const uint8_t *src, size_t n, char *dst, bool hold, size_t *held) {
    size_t i = 0, o = 0;
    if (held) *held = 0;
    while (i < n) {
        uint32_t cp;
        int l = tok_utf8_next(src + i, n - i, &cp);
        if (l > 0) {
            memcpy(dst + o, src + i, (size_t)l);
            o += (size_t)l;
            i += (size_t)l;
            continue;
        }
        if (hold && utf8_incomplete(src + i, n - i)) {
            *held = n - i;
            break;
        }
        memcpy(dst + o, k_repl, 3);
        o += 3;
        i += utf8_invalid_len(src + i, n - i);
    }
    return o;
}

typedef struct obuf {
    char *p;
    size_t n, cap;
} obuf;

static bool obuf_reserve(obuf *b, size_t extra) {
    size_t need;
    if (!ck_add_size(b->n, extra, &need) || !ck_add_size(need, 1, &need)) return false;
    if (need <= b->cap) return true;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        if (!ck_mul_size(cap, 2, &cap)) return false;
    char *p = realloc(b->p, cap);
    if (!p) return false;
    b->p = p;
    b->cap = cap;
    return true;
}

slm_status slm_detokenize_alloc(const slm_tokenizer *t, const int32_t *ids, size_t n, char **out, size_t *out_len,
                                slm_error *err) {
    *out = NULL;
    *out_len = 0;
    obuf raw = {0};
    for (size_t i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= t->n_vocab) {
            free(raw.p);
            return slm_fail(err, SLM_E_RANGE, "token id %d at position %zu is outside the vocabulary (0..%d)", ids[i], i,
                            t->n_vocab - 1);
        }
        const tok_entry *e = &t->tokens[ids[i]];
        if (e->type == TOK_BYTE && !t->byte_level) {
            /* A run of byte tokens: kept if it is valid UTF-8, else one U+FFFD per byte (HF ByteFallback). */
            size_t j = i;
            while (j < n && ids[j] >= 0 && ids[j] < t->n_vocab && t->tokens[ids[j]].type == TOK_BYTE) j++;
            if (!obuf_reserve(&raw, (j - i) * 3)) goto oom;
            size_t start = raw.n;
            for (size_t k = i; k < j; k++) raw.p[raw.n++] = t->strs[t->tokens[ids[k]].piece_off];
            size_t pos = start;
            bool valid = true;
            while (pos < raw.n && valid) {
                uint32_t cp;
                int l = tok_utf8_next((const uint8_t *)raw.p + pos, raw.n - pos, &cp);
                if (l <= 0) valid = false;
                else pos += (size_t)l;
            }
            if (!valid) {
                raw.n = start;
                for (size_t k = i; k < j; k++) {
                    memcpy(raw.p + raw.n, k_repl, 3);
                    raw.n += 3;
                }
            }
            i = j - 1;
            continue;
        }
        if (!obuf_reserve(&raw, e->piece_len)) goto oom;
        memcpy(raw.p + raw.n, t->strs + e->piece_off, e->piece_len);
        raw.n += e->piece_len;
    }
    /* Byte-level pieces may split characters: the joined bytes are read lossily (HF ByteLevel). */
    obuf res = {0};
    if (!obuf_reserve(&res, raw.n * 3)) goto oom;
    res.n = utf8_sanitize((const uint8_t *)raw.p, raw.n, res.p, false, NULL);
    free(raw.p);
    size_t skip = t->strip_lead_space && res.n && res.p[0] == ' ' ? 1 : 0;
    if (skip) memmove(res.p, res.p + 1, res.n - 1);
    res.n -= skip;
    res.p[res.n] = 0;
    *out = res.p;
    *out_len = res.n;
    return SLM_OK;
oom:
    free(raw.p);
    return slm_fail(err, SLM_E_NOMEM, "detokenize: out of memory");
}

slm_status slm_detokenize(const slm_tokenizer *t, const int32_t *ids, size_t n, char *buf, size_t *len, slm_error *err) {
    char *s;
    size_t sl;
    slm_status st = slm_detokenize_alloc(t, ids, n, &s, &sl, err);
    if (st) return st;
    if (sl > *len || (!buf && sl)) {
        *len = sl;
        free(s);
        return slm_fail(err, SLM_E_RANGE, "detokenize: buffer of %zu bytes too small (%zu needed)", *len, sl);
    }
    if (sl) memcpy(buf, s, sl);
    *len = sl;
    free(s);
    return SLM_OK;
}

/* --- Streaming ---------------------------------------------------------------------------- */

void slm_detok_stream_init(slm_detok_stream *s, const slm_tokenizer *tok) {
    memset(s, 0, sizeof *s);
    s->tok = tok;
}

void slm_detok_stream_free(slm_detok_stream *s) {
    free(s->heap);
    s->heap = NULL;
    s->heap_cap = 0;
}

slm_status slm_detok_stream_push(slm_detok_stream *s, int32_t id, const char **text, size_t *len, slm_error *err) {
    *text = s->out;
    *len = 0;
    const slm_tokenizer *t = s->tok;
    if (id < 0 || id >= t->n_vocab)
        return slm_fail(err, SLM_E_RANGE, "token id %d is outside the vocabulary (0..%d)", id, t->n_vocab - 1);
    const tok_entry *e = &t->tokens[id];
    const uint8_t *piece = (const uint8_t *)t->strs + e->piece_off;
    size_t pl = e->piece_len;
    if (!s->started && pl) {
        s->started = true;
        if (t->strip_lead_space && piece[0] == ' ') { piece++; pl--; }
    }
    size_t total = s->n_pend + pl;
    uint8_t small[64];
    uint8_t *src = small;
    char *dst = s->out;
    if (total > sizeof small) {
        src = malloc(total);
        if (!src) return slm_fail(err, SLM_E_NOMEM, "detokenize: out of memory");
    }
    if (total * 3 > sizeof s->out) {
        if (s->heap_cap < total * 3) {
            char *h = realloc(s->heap, total * 3);
            if (!h) {
                if (src != small) free(src);
                return slm_fail(err, SLM_E_NOMEM, "detokenize: out of memory");
            }
            s->heap = h;
            s->heap_cap = total * 3;
        }
        dst = s->heap;
    }
    memcpy(src, s->pend, s->n_pend);
    if (pl) memcpy(src + s->n_pend, piece, pl);
    size_t held;
    size_t o = utf8_sanitize(src, total, dst, true, &held);
    memcpy(s->pend, src + total - held, held);
    s->n_pend = (uint32_t)held;
    if (src != small) free(src);
    *text = dst;
    *len = o;
    return SLM_OK;
}

void slm_detok_stream_flush(slm_detok_stream *s, const char **text, size_t *len) {
    *text = s->out;
    *len = 0;
    if (s->n_pend) {
        memcpy(s->out, k_repl, 3);
        *len = 3;
        s->n_pend = 0;
    }
}
