/* Vocabulary tables: token texts and pieces, the text -> id hash, the merge-pair hash, the
 * added-token trie, the byte-level character map, UTF-8 helpers and the public accessors. */
#include <stdlib.h>
#include <string.h>

#include "base/checked.h"
#include "tokenizer/tok_internal.h"

/* --- UTF-8 -------------------------------------------------------------------------------- */

int tok_utf8_put(uint32_t cp, char *out) {
    if (cp < 0x80) { out[0] = (char)cp; return 1; }
    if (cp < 0x800) { out[0] = (char)(0xC0 | (cp >> 6)); out[1] = (char)(0x80 | (cp & 0x3F)); return 2; }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Strict UTF-8 (no overlongs, no surrogates, <= U+10FFFF), as Rust's str requires. */
int tok_utf8_next(const uint8_t *s, size_t n, uint32_t *cp) {
    if (n == 0) return 0;
    uint8_t b = s[0];
    if (b < 0x80) { *cp = b; return 1; }
    int len;
    uint32_t c;
    uint8_t lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
    if (b >= 0xC2 && b <= 0xDF) { len = 2; c = b & 0x1F; }
    else if (b >= 0xE0 && b <= 0xEF) {
        len = 3; c = b & 0x0F;
        if (b == 0xE0) lo = 0xA0;
        if (b == 0xED) hi = 0x9F;
    } else if (b >= 0xF0 && b <= 0xF4) {
        len = 4; c = b & 0x07;
        if (b == 0xF0) lo = 0x90;
        if (b == 0xF4) hi = 0x8F;
    } else return 0;
    if ((size_t)len > n) return 0;
    if (s[1] < lo || s[1] > hi) return 0;
    for (int i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        c = (c << 6) | (s[i] & 0x3F);
    }
    *cp = c;
    return len;
}

/* --- GPT-2 byte <-> printable char map ---------------------------------------------------- */
/* Bytes that are printable Latin-1 ('!'..'~', '¡'..'¬', '®'..'ÿ') map to themselves; the other 68
 * map to U+0100 + k in increasing byte order. */
static bool byte_is_printable(int b) { return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE); }

uint32_t tok_byte_to_cp(uint8_t b) {
    if (byte_is_printable(b)) return b;
    uint32_t k = 0;
    for (int i = 0; i < b; i++) k += !byte_is_printable(i);
    return 0x100 + k;
}

int tok_cp_to_byte(uint32_t cp) {
    if (cp < 0x100) return byte_is_printable((int)cp) ? (int)cp : -1;
    if (cp >= 0x100 + 68) return -1;
    uint32_t k = 0;
    for (int b = 0; b < 256; b++)
        if (!byte_is_printable(b) && k++ == cp - 0x100) return b;
    return -1;
}

/* --- Construction ------------------------------------------------------------------------- */

slm_status tok_alloc(slm_tokenizer **out, int32_t n_vocab, slm_error *err) {
    *out = NULL;
    if (n_vocab <= 0 || n_vocab > (1 << 24)) return slm_fail(err, SLM_E_FORMAT, "vocabulary size %d out of range", n_vocab);
    slm_tokenizer *t = calloc(1, sizeof *t);
    if (!t) return slm_fail(err, SLM_E_NOMEM, "tokenizer: out of memory");
    t->n_vocab = n_vocab;
    t->tokens = calloc((size_t)n_vocab, sizeof *t->tokens);
    if (!t->tokens) { free(t); return slm_fail(err, SLM_E_NOMEM, "tokenizer: out of memory"); }
    for (int32_t i = 0; i < n_vocab; i++) t->tokens[i].type = TOK_NORMAL;
    t->bos = t->eos = t->unk = t->pad = -1;
    for (int i = 0; i < 256; i++) t->byte_ids[i] = -1;
    t->strs_cap = 1 << 16; /* never NULL: texts are addressed as strs + offset */
    t->strs = malloc(t->strs_cap);
    if (!t->strs) { free(t->tokens); free(t); return slm_fail(err, SLM_E_NOMEM, "tokenizer: out of memory"); }
    *out = t;
    return SLM_OK;
}

static slm_status strs_append(slm_tokenizer *t, const char *s, size_t len, uint32_t *off, slm_error *err) {
    if (len > UINT32_MAX / 2) return slm_fail(err, SLM_E_FORMAT, "token text too long");
    size_t need;
    if (!ck_add_size(t->strs_len, len, &need) || need > UINT32_MAX)
        return slm_fail(err, SLM_E_NOMEM, "token texts exceed 4 GiB");
    if (need > t->strs_cap) {
        size_t cap = t->strs_cap ? t->strs_cap : 1 << 16;
        while (cap < need) cap *= 2;
        char *p = realloc(t->strs, cap);
        if (!p) return slm_fail(err, SLM_E_NOMEM, "tokenizer: out of memory");
        t->strs = p;
        t->strs_cap = cap;
    }
    if (len) memcpy(t->strs + t->strs_len, s, len);
    *off = (uint32_t)t->strs_len;
    t->strs_len = need;
    return SLM_OK;
}

slm_status tok_set_text(slm_tokenizer *t, int32_t id, const char *text, size_t len, slm_error *err) {
    uint32_t off;
    slm_status st = strs_append(t, text, len, &off, err);
    if (st) return st;
    t->tokens[id].text_off = t->tokens[id].piece_off = off;
    t->tokens[id].text_len = t->tokens[id].piece_len = (uint32_t)len;
    return SLM_OK;
}

slm_status tok_set_piece(slm_tokenizer *t, int32_t id, const char *piece, size_t len, slm_error *err) {
    uint32_t off;
    slm_status st = strs_append(t, piece, len, &off, err);
    if (st) return st;
    t->tokens[id].piece_off = off;
    t->tokens[id].piece_len = (uint32_t)len;
    return SLM_OK;
}

static uint64_t hash_bytes(const char *s, size_t n) {
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
    for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)s[i]) * 0x100000001b3ull;
    return h ^ (h >> 29);
}

slm_status tok_build_vhash(slm_tokenizer *t, slm_error *err) {
    size_t cap = 16;
    while (cap < (size_t)t->n_vocab * 2) cap *= 2;
    free(t->vhash);
    t->vhash = calloc(cap, sizeof *t->vhash);
    if (!t->vhash) return slm_fail(err, SLM_E_NOMEM, "tokenizer: out of memory");
    t->vhash_mask = cap - 1;
    for (int32_t id = 0; id < t->n_vocab; id++) {
        const tok_entry *e = &t->tokens[id];
        size_t i = hash_bytes(t->strs + e->text_off, e->text_len) & t->vhash_mask;
        bool dup = false;
        while (t->vhash[i]) {
            const tok_entry *o = &t->tokens[t->vhash[i] - 1];
            if (o->text_len == e->text_len && !memcmp(t->strs + o->text_off, t->strs + e->text_off, e->text_len)) {
                dup = true;
                break;
            }
            i = (i + 1) & t->vhash_mask;
        }
        if (!dup) t->vhash[i] = (uint32_t)id + 1;
    }
    return SLM_OK;
}

int32_t tok_lookup(const slm_tokenizer *t, const char *text, size_t len) {
    if (!t->vhash) return -1;
    size_t i = hash_bytes(text, len) & t->vhash_mask;
    while (t->vhash[i]) {
        const tok_entry *o = &t->tokens[t->vhash[i] - 1];
        if (o->text_len == len && !memcmp(t->strs + o->text_off, text, len)) return (int32_t)t->vhash[i] - 1;
        i = (i + 1) & t->vhash_mask;
    }
    return -1;
}

slm_status tok_merges_reserve(slm_tokenizer *t, size_t n, slm_error *err) {
    size_t cap = 16;
    while (cap < n * 2 + 2) {
        if (cap > ((size_t)1 << 40)) return slm_fail(err, SLM_E_NOMEM, "too many merges");
        cap *= 2;
    }
    t->mkeys = calloc(cap, sizeof *t->mkeys);
    t->mrank = malloc(cap * sizeof *t->mrank);
    t->mnew = malloc(cap * sizeof *t->mnew);
    if (!t->mkeys || !t->mrank || !t->mnew) return slm_fail(err, SLM_E_NOMEM, "tokenizer: out of memory");
    t->mhash_mask = cap - 1;
    return SLM_OK;
}

static size_t merge_slot(uint64_t key, size_t mask) {
    uint64_t h = key * 0x9E3779B97F4A7C15ull;
    return (size_t)(h ^ (h >> 31)) & mask;
}

/* The first (lowest-rank) entry for a pair wins, as in HF where a later duplicate would
 * overwrite... HF keeps the last; duplicates do not occur in real files, first is kept here. */
void tok_merge_add(slm_tokenizer *t, int32_t left, int32_t right, int32_t rank, int32_t new_id) {
    uint64_t key = (((uint64_t)(uint32_t)left << 32) | (uint32_t)right) + 1;
    size_t i = merge_slot(key, t->mhash_mask);
    while (t->mkeys[i]) {
        if (t->mkeys[i] == key) return;
        i = (i + 1) & t->mhash_mask;
    }
    if (t->n_merges + 1 > t->mhash_mask / 2 + 1) return; /* reserve() was too small: ignore */
    t->mkeys[i] = key;
    t->mrank[i] = rank;
    t->mnew[i] = new_id;
    t->n_merges++;
}

bool tok_merge_find(const slm_tokenizer *t, int32_t left, int32_t right, int32_t *rank, int32_t *new_id) {
    if (!t->mkeys) return false;
    uint64_t key = (((uint64_t)(uint32_t)left << 32) | (uint32_t)right) + 1;
    size_t i = merge_slot(key, t->mhash_mask);
    while (t->mkeys[i]) {
        if (t->mkeys[i] == key) {
            *rank = t->mrank[i];
            *new_id = t->mnew[i];
            return true;
        }
        i = (i + 1) & t->mhash_mask;
    }
    return false;
}

/* --- Added-token trie --------------------------------------------------------------------- */

static slm_status trie_node(slm_tokenizer *t, uint8_t byte, uint32_t *out, slm_error *err) {
    if (t->trie_n == t->trie_cap) {
        size_t cap = t->trie_cap ? t->trie_cap * 2 : 256;
        uint32_t *f = realloc(t->trie_first, cap * sizeof *f);
        if (f) t->trie_first = f;
        uint32_t *nx = realloc(t->trie_next, cap * sizeof *nx);
        if (nx) t->trie_next = nx;
        uint8_t *b = realloc(t->trie_byte, cap);
        if (b) t->trie_byte = b;
        int32_t *id = realloc(t->trie_id, cap * sizeof *id);
        if (id) t->trie_id = id;
        if (!f || !nx || !b || !id) return slm_fail(err, SLM_E_NOMEM, "tokenizer: out of memory");
        t->trie_cap = cap;
    }
    uint32_t n = (uint32_t)t->trie_n++;
    t->trie_first[n] = t->trie_next[n] = 0; /* 0 = none (the root is never a child) */
    t->trie_byte[n] = byte;
    t->trie_id[n] = -1;
    *out = n;
    return SLM_OK;
}

slm_status tok_trie_add(slm_tokenizer *t, int32_t id, slm_error *err) {
    slm_status st;
    uint32_t node;
    if (t->trie_n == 0 && (st = trie_node(t, 0, &node, err))) return st;
    const tok_entry *e = &t->tokens[id];
    if (e->text_len == 0) return SLM_OK; /* an empty token can never be matched */
    t->trie_start[(uint8_t)t->strs[e->text_off]] = true;
    node = 0;
    for (uint32_t i = 0; i < e->text_len; i++) {
        uint8_t c = (uint8_t)t->strs[e->text_off + i];
        uint32_t ch = t->trie_first[node];
        while (ch && t->trie_byte[ch] != c) ch = t->trie_next[ch];
        if (!ch) {
            if ((st = trie_node(t, c, &ch, err))) return st;
            t->trie_next[ch] = t->trie_first[node];
            t->trie_first[node] = ch;
        }
        node = ch;
    }
    if (t->trie_id[node] < 0) t->trie_id[node] = id;
    t->tokens[id].flags |= TOK_F_ADDED;
    return SLM_OK;
}

/* --- Pieces ------------------------------------------------------------------------------- */

static int parse_byte_token(const char *s, size_t n) {
    if (n != 6 || memcmp(s, "<0x", 3) || s[5] != '>') return -1;
    int v = 0;
    for (int i = 3; i < 5; i++) {
        char c = s[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (d < 0) return -1;
        v = v * 16 + d;
    }
    return v;
}

slm_status tok_build_pieces(slm_tokenizer *t, slm_error *err) {
    char *buf = NULL;
    size_t cap = 0;
    slm_status st = SLM_OK;
    for (int32_t id = 0; id < t->n_vocab && !st; id++) {
        tok_entry *e = &t->tokens[id];
        const char *s = t->strs + e->text_off;
        size_t n = e->text_len, o = 0;
        if (cap < n + 8) {
            cap = n * 2 + 8;
            char *p = realloc(buf, cap);
            if (!p) { st = slm_fail(err, SLM_E_NOMEM, "tokenizer: out of memory"); break; }
            buf = p;
        }
        int bv = parse_byte_token(s, n);
        if (bv >= 0 && (e->type == TOK_BYTE || (!t->byte_level && e->type == TOK_NORMAL))) {
            e->type = TOK_BYTE;
            buf[o++] = (char)bv;
        } else if (t->byte_level) {
            /* Unmap every char; if one is not a mapped byte char keep the raw text (HF ByteLevel). */
            size_t i = 0;
            while (i < n) {
                uint32_t cp;
                int l = tok_utf8_next((const uint8_t *)s + i, n - i, &cp);
                int b = l ? tok_cp_to_byte(cp) : -1;
                if (b < 0) break;
                buf[o++] = (char)b;
                i += (size_t)l;
            }
            if (i < n) { memcpy(buf, s, n); o = n; }
        } else {
            /* U+2581 (e2 96 81) -> ' ' */
            for (size_t i = 0; i < n;) {
                if (i + 3 <= n && !memcmp(s + i, "\xe2\x96\x81", 3)) { buf[o++] = ' '; i += 3; }
                else buf[o++] = s[i++];
            }
        }
        if (o != n || memcmp(buf, s, n)) st = tok_set_piece(t, id, buf, o, err);
    }
    free(buf);
    return st;
}

void tok_build_byte_ids(slm_tokenizer *t) {
    for (int b = 0; b < 256; b++) {
        char tmp[8];
        int32_t id;
        if (t->byte_level) {
            int l = tok_utf8_put(tok_byte_to_cp((uint8_t)b), tmp);
            memcpy(t->byte_chr[b], tmp, 2); /* every mapped char is below U+0800: 1 or 2 bytes */
            t->byte_chr_len[b] = (uint8_t)l;
            id = tok_lookup(t, tmp, (size_t)l);
        } else {
            static const char hex[] = "0123456789ABCDEF";
            memcpy(tmp, "<0x", 3);
            tmp[3] = hex[b >> 4];
            tmp[4] = hex[b & 15];
            tmp[5] = '>';
            id = tok_lookup(t, tmp, 6);
        }
        t->byte_ids[b] = id;
    }
}

void tok_build_space_split(slm_tokenizer *t) {
    t->space_split = false;
    t->n_pre_space = 0;
    if (t->byte_level || tok_lookup(t, "\xe2\x96\x81", 3) < 0) return;
    for (int32_t id = 0; id < t->n_vocab; id++) {
        const uint8_t *s = (const uint8_t *)t->strs + t->tokens[id].text_off;
        size_t n = t->tokens[id].text_len, i = 0;
        uint32_t prev = 0x2581;
        while (i < n) {
            uint32_t cp;
            int l = tok_utf8_next(s + i, n - i, &cp);
            if (l <= 0) break;
            if (cp == 0x2581 && prev != 0x2581) {
                bool seen = false;
                for (int k = 0; k < t->n_pre_space; k++) seen |= t->pre_space[k] == prev;
                if (!seen) {
                    if (t->n_pre_space == (int)(sizeof t->pre_space / sizeof t->pre_space[0])) return; /* give up */
                    t->pre_space[t->n_pre_space++] = prev;
                }
            }
            prev = cp;
            i += (size_t)l;
        }
    }
    t->space_split = true;
}

void tok_collect_eot(slm_tokenizer *t) {
    static const char *const names[] = {"<|eot_id|>", "<|im_end|>", "<end_of_turn>", "<|end|>", "<|endoftext|>",
                                        "<|end_of_text|>", "</s>", "<|eom_id|>", "<eos>", "<|return|>"};
    t->n_eot = 0;
    if (t->eos >= 0) t->eot[t->n_eot++] = t->eos;
    for (size_t i = 0; i < sizeof names / sizeof names[0] && t->n_eot < TOK_MAX_EOT; i++) {
        int32_t id = tok_lookup(t, names[i], strlen(names[i]));
        if (id < 0 || t->tokens[id].type == TOK_NORMAL) continue;
        bool seen = false;
        for (size_t k = 0; k < t->n_eot; k++) seen |= t->eot[k] == id;
        if (!seen) t->eot[t->n_eot++] = id;
    }
}

/* --- Public accessors --------------------------------------------------------------------- */

void slm_tokenizer_free(slm_tokenizer *t) {
    if (!t) return;
    for (int i = 0; i < t->n_norm; i++) {
        free(t->norm[i].from);
        free(t->norm[i].to);
    }
    for (int i = 0; i < t->n_pretok; i++) pcre2_code_free(t->pretok[i].re);
    free(t->tokens);
    free(t->strs);
    free(t->vhash);
    free(t->mkeys);
    free(t->mrank);
    free(t->mnew);
    free(t->trie_first);
    free(t->trie_next);
    free(t->trie_byte);
    free(t->trie_id);
    free(t);
}

void slm_tokens_free(slm_tokens *v) {
    if (!v) return;
    free(v->ids);
    v->ids = NULL;
    v->n = v->cap = 0;
}

slm_status slm_tokens_push(slm_tokens *v, int32_t id, slm_error *err) {
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 64;
        int32_t *p = realloc(v->ids, cap * sizeof *p);
        if (!p) return slm_fail(err, SLM_E_NOMEM, "token list: out of memory");
        v->ids = p;
        v->cap = cap;
    }
    v->ids[v->n++] = id;
    return SLM_OK;
}

int32_t slm_tokenizer_n_vocab(const slm_tokenizer *t) { return t->n_vocab; }
int32_t slm_tokenizer_bos(const slm_tokenizer *t) { return t->bos; }
int32_t slm_tokenizer_eos(const slm_tokenizer *t) { return t->eos; }
int32_t slm_tokenizer_pad(const slm_tokenizer *t) { return t->pad; }
int32_t slm_tokenizer_unk(const slm_tokenizer *t) { return t->unk; }

size_t slm_tokenizer_eot_ids(const slm_tokenizer *t, const int32_t **ids) {
    *ids = t->eot;
    return t->n_eot;
}

bool slm_tokenizer_is_eot(const slm_tokenizer *t, int32_t id) {
    for (size_t i = 0; i < t->n_eot; i++)
        if (t->eot[i] == id) return true;
    return false;
}

bool slm_tokenizer_is_special(const slm_tokenizer *t, int32_t id) {
    if (id < 0 || id >= t->n_vocab) return false;
    return t->tokens[id].type == TOK_CONTROL || t->tokens[id].type == TOK_UNKNOWN;
}

int32_t slm_tokenizer_find(const slm_tokenizer *t, const char *text, size_t len) { return tok_lookup(t, text, len); }

bool slm_token_text(const slm_tokenizer *t, int32_t id, const char **text, size_t *len) {
    if (id < 0 || id >= t->n_vocab) return false;
    *text = t->strs + t->tokens[id].text_off;
    *len = t->tokens[id].text_len;
    return true;
}

bool slm_token_piece(const slm_tokenizer *t, int32_t id, const char **piece, size_t *len) {
    if (id < 0 || id >= t->n_vocab) return false;
    *piece = t->strs + t->tokens[id].piece_off;
    *len = t->tokens[id].piece_len;
    return true;
}
