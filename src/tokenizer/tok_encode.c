/* slm_tokenize: UTF-8 check -> added/special token matching (leftmost-longest) -> per text
 * segment: normalizer -> pre-tokenizer -> word model -> post-processor (BOS/EOS). */
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "base/checked.h"
#include "tokenizer/tok_internal.h"

/* --- Normalizer --------------------------------------------------------------------------- */

typedef struct sbuf {
    char *p;
    size_t n, cap;
} sbuf;

static bool sbuf_put(sbuf *b, const char *s, size_t n) {
    size_t need;
    if (!ck_add_size(b->n, n, &need)) return false;
    if (need + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < need + 1) {
            if (!ck_mul_size(cap, 2, &cap)) return false;
        }
        char *p = realloc(b->p, cap);
        if (!p) return false;
        b->p = p;
        b->cap = cap;
    }
    if (n) memcpy(b->p + b->n, s, n);
    b->n = need;
    b->p[b->n] = 0;
    return true;
}

static bool is_ascii(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if ((uint8_t)s[i] >= 0x80) return false;
    return true;
}

/* One normalizer step from cur (cur_n bytes) into a fresh buffer *out. */
static slm_status norm_step(const tok_norm *nm, const char *cur, size_t cur_n, bool at_start, sbuf *out,
                           slm_error *err) {
    out->n = 0;
    bool ok = true;
    switch (nm->kind) {
    case TN_NFC:
    case TN_NFD:
    case TN_NFKC:
    case TN_NFKD: {
        if (is_ascii(cur, cur_n)) { ok = sbuf_put(out, cur, cur_n); break; }
        int opt = UTF8PROC_STABLE;
        opt |= nm->kind == TN_NFC || nm->kind == TN_NFKC ? UTF8PROC_COMPOSE : UTF8PROC_DECOMPOSE;
        if (nm->kind == TN_NFKC || nm->kind == TN_NFKD) opt |= UTF8PROC_COMPAT;
        /* utf8proc composes a Hangul LV syllable with U+11A7 (the T-jamo base, which is not itself a
         * trailing consonant) and loses the character; Unicode says U+11A7 never composes. It is a
         * starter (ccc 0) that nothing combines with, so normalizing the text on either side of it
         * separately is exact. */
        static const char tbase[3] = {(char)0xe1, (char)0x86, (char)0xa7};
        size_t seg = 0;
        for (size_t i = 0; ok && i <= cur_n; i++) {
            bool cut = i + 3 <= cur_n && !memcmp(cur + i, tbase, 3);
            if (!cut && i < cur_n) continue;
            if (i > seg) {
                utf8proc_uint8_t *dst = NULL;
                utf8proc_ssize_t r =
                    utf8proc_map((const utf8proc_uint8_t *)cur + seg, (utf8proc_ssize_t)(i - seg), &dst, opt);
                if (r < 0) return slm_fail(err, SLM_E_FORMAT, "unicode normalization failed: %s", utf8proc_errmsg(r));
                ok = sbuf_put(out, (const char *)dst, (size_t)r);
                free(dst);
            }
            if (cut) {
                ok = ok && sbuf_put(out, tbase, 3);
                i += 2;
                seg = i + 1;
            }
        }
        break;
    }
    case TN_REPLACE: {
        size_t fl = strlen(nm->from), tl = strlen(nm->to);
        for (size_t i = 0; i < cur_n && ok;) {
            if (fl && i + fl <= cur_n && !memcmp(cur + i, nm->from, fl)) {
                ok = sbuf_put(out, nm->to, tl);
                i += fl;
            } else {
                ok = sbuf_put(out, cur + i, 1);
                i++;
            }
        }
        break;
    }
    case TN_PREPEND:
        if ((nm->first_only && !at_start) ||
            (nm->if_absent && cur_n >= strlen(nm->to) && !memcmp(cur, nm->to, strlen(nm->to)))) {
            ok = sbuf_put(out, cur, cur_n);
            break;
        }
        if (cur_n) ok = sbuf_put(out, nm->to, strlen(nm->to)) && sbuf_put(out, cur, cur_n);
        break;
    case TN_LOWER:
        return slm_fail(err, SLM_E_UNSUPPORTED, "lowercase normalizer");
    }
    if (!ok) return slm_fail(err, SLM_E_NOMEM, "normalizer: out of memory");
    return SLM_OK;
}

slm_status tok_normalize(const slm_tokenizer *t, const char *text, size_t len, bool at_start, char **out,
                         size_t *out_len, slm_error *err) {
    sbuf a = {0}, b = {0};
    if (!sbuf_put(&a, text, len)) return slm_fail(err, SLM_E_NOMEM, "normalizer: out of memory");
    for (int i = 0; i < t->n_norm; i++) {
        slm_status st = norm_step(&t->norm[i], a.p, a.n, at_start, &b, err);
        if (st) {
            free(a.p);
            free(b.p);
            return st;
        }
        sbuf tmp = a;
        a = b;
        b = tmp;
    }
    free(b.p);
    *out = a.p;
    *out_len = a.n;
    return SLM_OK;
}

/* --- Segments ----------------------------------------------------------------------------- */

/* Per-call cache of word -> ids (HF keeps one per model; per call keeps the tokenizer read-only
 * and thread-safe). Only for long inputs, where words repeat; reset when full. */
#define WC_SLOTS 65536
#define WC_MAX_WORD 256
typedef struct wc_slot {
    uint64_t h; /* 0 = empty */
    uint32_t woff, wlen, ioff, n;
} wc_slot;

typedef struct work {
    tok_spans words, scratch;
    wc_slot *slots;
    size_t used;
    sbuf words_buf;
    int32_t *ids;
    size_t ids_n, ids_cap;
} work;

static uint64_t wc_hash(const char *s, size_t n) {
    uint64_t h = 0x9E3779B97F4A7C15ull ^ n;
    for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)s[i]) * 0x100000001b3ull;
    return (h ^ (h >> 32)) | 1;
}

static void wc_free(work *w) {
    free(w->slots);
    free(w->words_buf.p);
    free(w->ids);
}

/* Encode one word through the cache. */
static slm_status encode_word_cached(const slm_tokenizer *t, work *w, const char *word, size_t len, slm_tokens *out,
                                     slm_error *err) {
    if (!w->slots || len > WC_MAX_WORD) return tok_encode_word(t, word, len, out, err);
    uint64_t h = wc_hash(word, len);
    size_t i = (size_t)h & (WC_SLOTS - 1);
    for (; w->slots[i].h; i = (i + 1) & (WC_SLOTS - 1)) {
        const wc_slot *e = &w->slots[i];
        if (e->h == h && e->wlen == len && !memcmp(w->words_buf.p + e->woff, word, len)) {
            for (uint32_t k = 0; k < e->n; k++) {
                slm_status st = slm_tokens_push(out, w->ids[e->ioff + k], err);
                if (st) return st;
            }
            return SLM_OK;
        }
    }
    size_t n0 = out->n;
    slm_status st = tok_encode_word(t, word, len, out, err);
    if (st) return st;
    size_t n = out->n - n0;
    if (w->used >= WC_SLOTS / 2) { /* full: start over */
        memset(w->slots, 0, WC_SLOTS * sizeof *w->slots);
        w->used = 0;
        w->words_buf.n = 0;
        w->ids_n = 0;
        i = (size_t)h & (WC_SLOTS - 1);
    }
    if (w->ids_n + n > w->ids_cap) {
        size_t cap = (w->ids_n + n) * 2 + 1024;
        int32_t *p = realloc(w->ids, cap * sizeof *p);
        if (!p) return SLM_OK; /* the cache is an optimisation only */
        w->ids = p;
        w->ids_cap = cap;
    }
    size_t woff = w->words_buf.n;
    if (!sbuf_put(&w->words_buf, word, len)) return SLM_OK;
    memcpy(w->ids + w->ids_n, out->ids + n0, n * sizeof *w->ids);
    w->slots[i] = (wc_slot){h, (uint32_t)woff, (uint32_t)len, (uint32_t)w->ids_n, (uint32_t)n};
    w->ids_n += n;
    w->used++;
    return SLM_OK;
}

/* Normalize, pre-tokenize and encode one text segment (no added tokens inside). */
static slm_status encode_segment(const slm_tokenizer *t, const char *s, size_t n, bool at_start, work *w,
                                 slm_tokens *out, slm_error *err) {
    if (n == 0) return SLM_OK;
    char *norm;
    size_t nn;
    slm_status st = tok_normalize(t, s, n, at_start, &norm, &nn, err);
    if (st) return st;
    if (t->bl_prefix_space && nn && norm[0] != ' ') {
        char *p = malloc(nn + 2);
        if (!p) { free(norm); return slm_fail(err, SLM_E_NOMEM, "tokenizer: out of memory"); }
        p[0] = ' ';
        memcpy(p + 1, norm, nn + 1);
        free(norm);
        norm = p;
        nn++;
    }
    st = tok_pretokenize(t, norm, nn, &w->words, &w->scratch, err);
    if (!w->slots && (nn > 16384)) w->slots = calloc(WC_SLOTS, sizeof *w->slots); /* NULL: no cache */
    for (size_t i = 0; st == SLM_OK && i < w->words.n; i++) {
        const char *wd = norm + w->words.v[i].off;
        size_t wl = w->words.v[i].len;
        if (!t->space_split) {
            st = encode_word_cached(t, w, wd, wl, out, err);
            continue;
        }
        size_t start = 0;
        uint32_t prev = 0x2581;
        for (size_t k = 0; k < wl && st == SLM_OK;) {
            uint32_t cp;
            int l = tok_utf8_next((const uint8_t *)wd + k, wl - k, &cp);
            if (l <= 0) l = 1, cp = 0xFFFD;
            if (cp == 0x2581 && prev != 0x2581 && k > start) {
                bool cut = true;
                for (int q = 0; q < t->n_pre_space; q++) cut &= t->pre_space[q] != prev;
                if (cut) {
                    st = encode_word_cached(t, w, wd + start, k - start, out, err);
                    start = k;
                }
            }
            prev = cp;
            k += (size_t)l;
        }
        if (st == SLM_OK) st = encode_word_cached(t, w, wd + start, wl - start, out, err);
    }
    free(norm);
    return st;
}

/* --- Added tokens ------------------------------------------------------------------------- */

static bool allowed(const slm_tokenizer *t, int32_t id, bool parse_special) {
    uint8_t ty = t->tokens[id].type;
    if (ty == TOK_CONTROL || ty == TOK_UNKNOWN) return parse_special;
    return true;
}

static bool is_space_at(const char *s, size_t n, size_t i, size_t *cl) {
    uint32_t cp;
    int l = tok_utf8_next((const uint8_t *)s + i, n - i, &cp);
    if (l <= 0) return false;
    *cl = (size_t)l;
    if (cp == ' ' || (cp >= 9 && cp <= 13) || cp == 0x85) return true;
    utf8proc_category_t c = utf8proc_category((utf8proc_int32_t)cp);
    return c == UTF8PROC_CATEGORY_ZS || c == UTF8PROC_CATEGORY_ZL || c == UTF8PROC_CATEGORY_ZP;
}

/* Rust regex \w (what HF's single_word checks): Alphabetic, marks, Nd, Pc and Join_Control.
 * Alphabetic is approximated by the letters, Nl and the circled/squared Latin letters (So). */
static bool is_word_cp(uint32_t cp) {
    if (cp == 0x200C || cp == 0x200D || (cp >= 0x24B6 && cp <= 0x24E9) || (cp >= 0x1F130 && cp <= 0x1F189)) return true;
    utf8proc_category_t c = utf8proc_category((utf8proc_int32_t)cp);
    return (c >= UTF8PROC_CATEGORY_LU && c <= UTF8PROC_CATEGORY_LO) || c == UTF8PROC_CATEGORY_ND ||
           c == UTF8PROC_CATEGORY_NL || (c >= UTF8PROC_CATEGORY_MN && c <= UTF8PROC_CATEGORY_ME) || c == UTF8PROC_CATEGORY_PC;
}

/* Longest allowed added token starting at text[i], or -1; *end gets its end. */
static int32_t match_at(const slm_tokenizer *t, const char *text, size_t len, size_t i, bool parse_special,
                        size_t *end) {
    if (!t->trie_n || !t->trie_start[(uint8_t)text[i]]) return -1;
    uint32_t node = 0;
    int32_t best = -1;
    for (size_t k = i; k < len; k++) {
        uint32_t ch = t->trie_first[node];
        while (ch && t->trie_byte[ch] != (uint8_t)text[k]) ch = t->trie_next[ch];
        if (!ch) break;
        node = ch;
        int32_t id = t->trie_id[node];
        if (id >= 0 && allowed(t, id, parse_special)) {
            best = id;
            *end = k + 1;
        }
    }
    return best;
}

static bool single_word_ok(const char *text, size_t len, size_t ms, size_t me) {
    if (ms > 0) {
        size_t b = ms - 1;
        while (b > 0 && ((uint8_t)text[b] & 0xC0) == 0x80) b--;
        uint32_t cp;
        if (tok_utf8_next((const uint8_t *)text + b, len - b, &cp) > 0 && is_word_cp(cp)) return false;
    }
    uint32_t cp;
    if (me < len && tok_utf8_next((const uint8_t *)text + me, len - me, &cp) > 0 && is_word_cp(cp)) return false;
    return true;
}

slm_status slm_tokenize(const slm_tokenizer *t, const char *text, size_t len, slm_tokenize_flags flags,
                        slm_tokens *out, slm_error *err) {
    if (!t || !out || (!text && len)) return slm_fail(err, SLM_E_INVALID_ARG, "slm_tokenize: NULL argument");
    if (len > SLM_TOKENIZE_MAX_BYTES) return slm_fail(err, SLM_E_RANGE, "text of %zu bytes is too long to tokenize", len);
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        int l = tok_utf8_next((const uint8_t *)text + i, len - i, &cp);
        if (l <= 0) return slm_fail(err, SLM_E_FORMAT, "invalid UTF-8 at byte offset %zu", i);
        i += (size_t)l;
    }
    size_t n0 = out->n;
    slm_status st = SLM_OK;
    work w = {0};
    for (int k = 0; flags.add_special && k < t->n_pp_pre && st == SLM_OK; k++) st = slm_tokens_push(out, t->pp_pre[k], err);

    size_t seg = 0; /* start of the pending raw text segment */
    for (size_t i = 0; i < len && st == SLM_OK;) {
        size_t me = 0;
        /* Matches start and end on character boundaries only, so that every text segment stays
         * valid UTF-8 even if a (hostile) added token holds a partial sequence. */
        int32_t id = ((uint8_t)text[i] & 0xC0) == 0x80 ? -1 : match_at(t, text, len, i, flags.parse_special, &me);
        if (id >= 0 && me < len && ((uint8_t)text[me] & 0xC0) == 0x80) id = -1;
        if (id < 0) {
            i++;
            continue;
        }
        if ((t->tokens[id].flags & TOK_F_SINGLE_WORD) && !single_word_ok(text, len, i, me)) {
            i = me; /* HF scans on after the rejected match: it stays plain text */
            continue;
        }
        size_t ms = i, cl;
        if (t->tokens[id].flags & TOK_F_LSTRIP) {
            /* Absorb whitespace before the token (back to the segment start). */
            size_t b = ms;
            while (b > seg) {
                size_t p = b - 1;
                while (p > seg && ((uint8_t)text[p] & 0xC0) == 0x80) p--;
                if (!is_space_at(text, len, p, &cl)) break;
                b = p;
            }
            ms = b;
        }
        if (t->tokens[id].flags & TOK_F_RSTRIP)
            while (me < len && is_space_at(text, len, me, &cl)) me += cl;
        st = encode_segment(t, text + seg, ms - seg, seg == 0, &w, out, err);
        if (st == SLM_OK) st = slm_tokens_push(out, id, err);
        i = seg = me;
    }
    if (st == SLM_OK) st = encode_segment(t, text + seg, len - seg, seg == 0, &w, out, err);
    for (int k = 0; flags.add_special && k < t->n_pp_post && st == SLM_OK; k++) st = slm_tokens_push(out, t->pp_post[k], err);
    free(w.words.v);
    free(w.scratch.v);
    wc_free(&w);
    if (st) out->n = n0;
    return st;
}
