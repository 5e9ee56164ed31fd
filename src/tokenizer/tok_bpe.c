/* Word-level models: HF BPE (merge the adjacent pair of lowest merge rank, leftmost first; byte
 * fallback and unk handling as HF `tokenizers`) and llama.cpp's SentencePiece-style merging (merge
 * the adjacent pair whose concatenation is the best-scored token, leftmost first).
 *
 * Both keep the word as a doubly linked list of symbols over an array and a binary heap of
 * candidate merges with lazy invalidation: O(n log n) per word. */
#include <stdlib.h>
#include <string.h>

#include "base/checked.h"
#include "tokenizer/tok_internal.h"

typedef struct sym {
    int32_t id;       /* token id (BPE), or -1 */
    int32_t prev, next;
    uint32_t off, n;  /* bytes of the word covered (SPM); n == 0 means merged away */
} sym;

/* Heap entry. BPE: key = rank (lower first). SPM: key = -score (lower first). Ties: lower pos. */
typedef struct cand {
    float key;
    int32_t rank;
    uint32_t pos;
    int32_t new_id; /* BPE: id the merge produces; SPM: size of the merged text in bytes */
    int32_t right;  /* SPM: right symbol index */
} cand;

static bool cand_less(const cand *a, const cand *b, bool by_rank) {
    if (by_rank) {
        if (a->rank != b->rank) return a->rank < b->rank;
    } else if (a->key != b->key) {
        return a->key < b->key;
    }
    return a->pos < b->pos;
}

typedef struct heap {
    cand *v;
    size_t n, cap;
    bool by_rank;
} heap;

static bool heap_push(heap *h, cand c) {
    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 64;
        cand *v = realloc(h->v, cap * sizeof *v);
        if (!v) return false;
        h->v = v;
        h->cap = cap;
    }
    size_t i = h->n++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!cand_less(&c, &h->v[p], h->by_rank)) break;
        h->v[i] = h->v[p];
        i = p;
    }
    h->v[i] = c;
    return true;
}

static cand heap_pop(heap *h) {
    cand top = h->v[0], last = h->v[--h->n];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        const cand *best = &last;
        if (l < h->n && cand_less(&h->v[l], best, h->by_rank)) { m = l; best = &h->v[l]; }
        if (r < h->n && cand_less(&h->v[r], best, h->by_rank)) { m = r; }
        if (m == i) break;
        h->v[i] = h->v[m];
        i = m;
    }
    if (h->n) h->v[i] = last;
    return top;
}

static slm_status oom(slm_error *err) { return slm_fail(err, SLM_E_NOMEM, "tokenizer: out of memory"); }

/* --- HF BPE ------------------------------------------------------------------------------- */

static void bpe_add_pair(const slm_tokenizer *t, heap *h, const sym *s, int32_t pos, bool *ok) {
    if (pos < 0 || s[pos].next < 0) return;
    int32_t rank, new_id;
    if (!tok_merge_find(t, s[pos].id, s[s[pos].next].id, &rank, &new_id)) return;
    if (!heap_push(h, (cand){0, rank, (uint32_t)pos, new_id, 0})) *ok = false;
}

/* Initial symbols of a word for HF BPE. */
static slm_status bpe_initial(const slm_tokenizer *t, const char *w, size_t len, sym *s, size_t *n_out,
                              slm_error *err) {
    size_t n = 0;
    if (t->byte_level) {
        for (size_t i = 0; i < len; i++) {
            int32_t id = t->byte_ids[(uint8_t)w[i]];
            if (id < 0) id = t->unk;
            if (id < 0) continue;
            s[n++] = (sym){id, -1, -1, (uint32_t)i, 1};
        }
        *n_out = n;
        return SLM_OK;
    }
    size_t i = 0;
    while (i < len) {
        uint32_t cp;
        int l = tok_utf8_next((const uint8_t *)w + i, len - i, &cp);
        if (l <= 0) l = 1; /* cannot happen: text is validated */
        int32_t id = tok_lookup(t, w + i, (size_t)l);
        if (id >= 0) {
            s[n++] = (sym){id, -1, -1, (uint32_t)i, (uint32_t)l};
        } else {
            bool all = t->byte_fallback;
            for (int k = 0; k < l && all; k++) all = t->byte_ids[(uint8_t)w[i + k]] >= 0;
            if (all) {
                for (int k = 0; k < l; k++) s[n++] = (sym){t->byte_ids[(uint8_t)w[i + k]], -1, -1, (uint32_t)(i + k), 1};
            } else if (t->unk >= 0) {
                if (t->fuse_unk && n > 0 && s[n - 1].id == t->unk) s[n - 1].n += (uint32_t)l;
                else s[n++] = (sym){t->unk, -1, -1, (uint32_t)i, (uint32_t)l};
            } else {
                return slm_fail(err, SLM_E_FORMAT, "character at offset %zu has no token and no unk token exists", i);
            }
        }
        i += (size_t)l;
    }
    *n_out = n;
    return SLM_OK;
}

static slm_status bpe_word(const slm_tokenizer *t, const char *w, size_t len, slm_tokens *out, slm_error *err) {
    if (t->ignore_merges) {
        int32_t id = -1;
        if (t->byte_level) {
            char stackbuf[256] = {0}, *m = len * 2 <= sizeof stackbuf ? stackbuf : calloc(len * 2, 1);
            if (!m) return oom(err);
            size_t o = 0;
            for (size_t i = 0; i < len; i++) {
                uint8_t c = (uint8_t)w[i];
                m[o] = t->byte_chr[c][0];
                m[o + 1] = t->byte_chr[c][1];
                o += t->byte_chr_len[c];
            }
            id = tok_lookup(t, m, o);
            if (m != stackbuf) free(m);
        } else {
            id = tok_lookup(t, w, len);
        }
        if (id >= 0) return slm_tokens_push(out, id, err);
    }
    sym stack_syms[128];
    sym *s = len <= 128 ? stack_syms : malloc(len * sizeof *s);
    if (!s) return oom(err);
    size_t n = 0;
    slm_status st = bpe_initial(t, w, len, s, &n, err);
    heap h = {0};
    h.by_rank = true;
    bool ok = true;
    if (st == SLM_OK && n > 1) {
        for (size_t i = 0; i < n; i++) {
            s[i].prev = (int32_t)i - 1;
            s[i].next = i + 1 < n ? (int32_t)i + 1 : -1;
        }
        for (size_t i = 0; i + 1 < n; i++) bpe_add_pair(t, &h, s, (int32_t)i, &ok);
        while (h.n && ok) {
            cand c = heap_pop(&h);
            sym *a = &s[c.pos];
            if (a->n == 0 || a->next < 0) continue;
            sym *b = &s[a->next];
            int32_t rank, new_id;
            /* Stale entry: the pair at pos changed since it was queued (HF compares the result id). */
            if (!tok_merge_find(t, a->id, b->id, &rank, &new_id) || new_id != c.new_id) continue;
            a->id = c.new_id;
            a->n += b->n;
            b->n = 0;
            a->next = b->next;
            if (b->next >= 0) s[b->next].prev = (int32_t)c.pos;
            bpe_add_pair(t, &h, s, a->prev, &ok);
            bpe_add_pair(t, &h, s, (int32_t)c.pos, &ok);
        }
        if (!ok) st = oom(err);
    }
    for (size_t i = 0; st == SLM_OK && i < n; i++)
        if (s[i].n) st = slm_tokens_push(out, s[i].id, err);
    free(h.v);
    if (s != stack_syms) free(s);
    return st;
}

/* --- llama.cpp SPM ------------------------------------------------------------------------ */

static void spm_add_pair(const slm_tokenizer *t, heap *h, const sym *s, const char *w, int32_t left, int32_t right,
                         bool *ok) {
    if (left < 0 || right < 0) return;
    uint32_t size = s[left].n + s[right].n;
    int32_t id = tok_lookup(t, w + s[left].off, size);
    if (id < 0) return;
    cand c = {-t->tokens[id].score, 0, (uint32_t)left, (int32_t)size, right};
    if (!heap_push(h, c)) *ok = false;
}

static slm_status spm_word(const slm_tokenizer *t, const char *w, size_t len, slm_tokens *out, slm_error *err) {
    sym stack_syms[128];
    sym *s = len <= 128 ? stack_syms : malloc(len * sizeof *s);
    if (!s) return oom(err);
    size_t n = 0;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        int l = tok_utf8_next((const uint8_t *)w + i, len - i, &cp);
        if (l <= 0) l = 1;
        s[n] = (sym){-1, (int32_t)n - 1, -1, (uint32_t)i, (uint32_t)l};
        if (n) s[n - 1].next = (int32_t)n;
        n++;
        i += (size_t)l;
    }
    heap h = {0};
    h.by_rank = false;
    bool ok = true;
    for (size_t i = 1; i < n; i++) spm_add_pair(t, &h, s, w, (int32_t)i - 1, (int32_t)i, &ok);
    while (h.n && ok) {
        cand c = heap_pop(&h);
        sym *a = &s[c.pos], *b = &s[c.right];
        if (a->n == 0 || b->n == 0 || a->n + b->n != (uint32_t)c.new_id) continue;
        a->n += b->n;
        b->n = 0;
        a->next = b->next;
        if (b->next >= 0) s[b->next].prev = (int32_t)c.pos;
        spm_add_pair(t, &h, s, w, a->prev, (int32_t)c.pos, &ok);
        spm_add_pair(t, &h, s, w, (int32_t)c.pos, a->next, &ok);
    }
    slm_status st = ok ? SLM_OK : oom(err);
    /* Every merged symbol is a token; a single char that is not becomes byte tokens. */
    for (size_t i = 0; st == SLM_OK && i < n; i = s[i].next < 0 ? n : (size_t)s[i].next) {
        int32_t id = tok_lookup(t, w + s[i].off, s[i].n);
        if (id >= 0) {
            st = slm_tokens_push(out, id, err);
            continue;
        }
        for (uint32_t k = 0; k < s[i].n && st == SLM_OK; k++) {
            int32_t b = t->byte_ids[(uint8_t)w[s[i].off + k]];
            if (b < 0) b = t->unk;
            if (b >= 0) st = slm_tokens_push(out, b, err);
        }
    }
    free(h.v);
    if (s != stack_syms) free(s);
    return st;
}

slm_status tok_encode_word(const slm_tokenizer *t, const char *word, size_t len, slm_tokens *out, slm_error *err) {
    if (len == 0) return SLM_OK;
    if (len > UINT32_MAX / 2) return slm_fail(err, SLM_E_RANGE, "word of %zu bytes is too long", len);
    return t->algo == TOK_ALGO_SPM ? spm_word(t, word, len, out, err) : bpe_word(t, word, len, out, err);
}
