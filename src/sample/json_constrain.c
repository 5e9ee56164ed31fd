/* Token masking for JSON constraints: vocabulary trie + the prefix parser (json_internal.h). */
#include "sample/json_constrain.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "sample/json_internal.h"

#define JV_MAX_PIECE 256 /* longer pieces are never allowed (single bytes always exist) */

/* Trie in preorder: node k holds byte[k] at depth[k] (0 = first byte of a piece); skip[k] is the
 * first node after k's subtree; the tokens whose piece ends at k are ids[tok_first[k] ..
 * tok_first[k] + tok_n[k]). */
struct json_vocab {
    int32_t n_vocab;
    int32_t n_nodes;
    uint8_t *byte;
    uint16_t *depth;
    int32_t *skip, *tok_first, *tok_n;
    int32_t *ids, n_ids;
    int32_t max_len;
    int32_t *eog, n_eog;
    char **piece; /* per id: its bytes (NULL when never allowed) */
    int32_t *piece_len;
    char *piece_pool;
};

struct json_constraint {
    jc_schema schema;
    const json_vocab *v;
    json_vocab *own_v;
    jc_state st;
    jc_state *levels;  /* max_len + 1 states for the trie walk */
    int32_t *allow_id; /* scratch: allowed ids and their completion costs */
    int64_t *allow_cost;
    float *saved;
    char *text;
    size_t text_len, text_cap;
};

typedef struct piece_ref {
    const char *p;
    int32_t len, id;
} piece_ref;

static int piece_cmp(const void *a, const void *b) {
    const piece_ref *x = a, *y = b;
    int32_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->p, y->p, (size_t)n);
    if (c) return c;
    if (x->len != y->len) return x->len < y->len ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

void json_vocab_free(json_vocab *v) {
    if (!v) return;
    free(v->byte);
    free(v->depth);
    free(v->skip);
    free(v->tok_first);
    free(v->tok_n);
    free(v->ids);
    free(v->eog);
    free(v->piece);
    free(v->piece_len);
    free(v->piece_pool);
    free(v);
}

slm_status json_vocab_new(const slm_tokenizer *tok, json_vocab **out, slm_error *err) {
    *out = NULL;
    if (!tok) return slm_fail(err, SLM_E_INVALID_ARG, "no tokenizer for the JSON constraint");
    int32_t nv = slm_tokenizer_n_vocab(tok);
    if (nv <= 0) return slm_fail(err, SLM_E_INVALID_ARG, "tokenizer has no vocabulary");
    json_vocab *v = calloc(1, sizeof *v);
    piece_ref *refs = calloc((size_t)nv, sizeof *refs);
    if (!v || !refs) goto nomem;
    v->n_vocab = nv;
    size_t total = 0;
    for (int32_t id = 0; id < nv; id++) {
        const char *p;
        size_t len;
        if (slm_tokenizer_is_special(tok, id) || !slm_token_piece(tok, id, &p, &len)) continue;
        if (len == 0 || len > JV_MAX_PIECE) continue;
        refs[v->n_ids++] = (piece_ref){p, (int32_t)len, id};
        total += len;
    }
    v->piece = calloc((size_t)nv, sizeof *v->piece);
    v->piece_len = calloc((size_t)nv, sizeof *v->piece_len);
    v->piece_pool = malloc(total ? total : 1);
    v->ids = malloc(((size_t)v->n_ids + 1) * sizeof *v->ids);
    v->byte = malloc(total + 1);
    v->depth = malloc((total + 1) * sizeof *v->depth);
    v->skip = malloc((total + 1) * sizeof *v->skip);
    v->tok_first = malloc((total + 1) * sizeof *v->tok_first);
    v->tok_n = malloc((total + 1) * sizeof *v->tok_n);
    if (!v->piece || !v->piece_len || !v->piece_pool || !v->ids || !v->byte || !v->depth || !v->skip || !v->tok_first ||
        !v->tok_n)
        goto nomem;
    qsort(refs, (size_t)v->n_ids, sizeof *refs, piece_cmp);
    int32_t path[JV_MAX_PIECE]; /* node at each depth of the current path */
    int32_t path_len = 0;
    size_t pool = 0;
    for (int32_t i = 0; i < v->n_ids; i++) {
        const piece_ref *r = &refs[i];
        memcpy(v->piece_pool + pool, r->p, (size_t)r->len);
        v->piece[r->id] = v->piece_pool + pool;
        v->piece_len[r->id] = r->len;
        pool += (size_t)r->len;
        v->ids[i] = r->id;
        int32_t l = 0; /* common prefix with the current path */
        if (i > 0) {
            const piece_ref *q = &refs[i - 1];
            int32_t n = q->len < r->len ? q->len : r->len;
            while (l < n && q->p[l] == r->p[l])
                l++;
        }
        for (int32_t d = path_len - 1; d >= l; d--)
            v->skip[path[d]] = v->n_nodes;
        path_len = l;
        for (int32_t d = l; d < r->len; d++) {
            int32_t k = v->n_nodes++;
            v->byte[k] = (uint8_t)r->p[d];
            v->depth[k] = (uint16_t)d;
            v->tok_first[k] = 0;
            v->tok_n[k] = 0;
            path[path_len++] = k;
        }
        int32_t last = path[r->len - 1];
        if (v->tok_n[last] == 0) v->tok_first[last] = i;
        v->tok_n[last]++;
        if (r->len > v->max_len) v->max_len = r->len;
    }
    for (int32_t d = path_len - 1; d >= 0; d--)
        v->skip[path[d]] = v->n_nodes;
    free(refs);
    refs = NULL;
    const int32_t *eot;
    size_t n_eot = slm_tokenizer_eot_ids(tok, &eot);
    v->eog = malloc((n_eot + 1) * sizeof *v->eog);
    if (!v->eog) goto nomem;
    int32_t eos = slm_tokenizer_eos(tok);
    if (eos >= 0) v->eog[v->n_eog++] = eos;
    for (size_t i = 0; i < n_eot; i++)
        if (eot[i] != eos && eot[i] >= 0 && eot[i] < nv) v->eog[v->n_eog++] = eot[i];
    *out = v;
    return SLM_OK;
nomem:
    free(refs);
    json_vocab_free(v);
    return slm_fail(err, SLM_E_NOMEM, "out of memory building the JSON constraint vocabulary");
}

/* --- Constraint --------------------------------------------------------------------------- */

slm_status json_constraint_new_vocab(const char *schema, const json_vocab *v, json_constraint **out, slm_error *err) {
    *out = NULL;
    json_constraint *c = calloc(1, sizeof *c);
    if (!c) return slm_fail(err, SLM_E_NOMEM, "out of memory");
    slm_status st = jc_schema_compile(schema, schema ? strlen(schema) : 0, &c->schema, err);
    if (st != SLM_OK) {
        free(c);
        return st;
    }
    c->v = v;
    if (v) {
        c->levels = malloc(((size_t)v->max_len + 1) * sizeof *c->levels);
        c->allow_id = malloc(((size_t)v->n_ids + (size_t)v->n_eog + 1) * sizeof *c->allow_id);
        c->allow_cost = malloc(((size_t)v->n_ids + 1) * sizeof *c->allow_cost);
        c->saved = malloc(((size_t)v->n_ids + (size_t)v->n_eog + 1) * sizeof *c->saved);
        if (!c->levels || !c->allow_id || !c->allow_cost || !c->saved) {
            json_constraint_free(c);
            return slm_fail(err, SLM_E_NOMEM, "out of memory");
        }
    }
    jc_state_init(&c->st, &c->schema);
    *out = c;
    return SLM_OK;
}

slm_status json_constraint_new(const char *schema, const slm_tokenizer *tok, json_constraint **out, slm_error *err) {
    *out = NULL;
    json_vocab *v;
    slm_status st = json_vocab_new(tok, &v, err);
    if (st != SLM_OK) return st;
    st = json_constraint_new_vocab(schema, v, out, err);
    if (st != SLM_OK) {
        json_vocab_free(v);
        return st;
    }
    (*out)->own_v = v;
    return SLM_OK;
}

void json_constraint_free(json_constraint *c) {
    if (!c) return;
    jc_schema_free(&c->schema);
    json_vocab_free(c->own_v);
    free(c->levels);
    free(c->allow_id);
    free(c->allow_cost);
    free(c->saved);
    free(c->text);
    free(c);
}

void json_constraint_reset(json_constraint *c) {
    jc_state_init(&c->st, &c->schema);
    c->text_len = 0;
}

bool json_constraint_done(const json_constraint *c) { return jc_state_accepting(&c->st, &c->schema); }

int64_t json_constraint_min_tokens(const json_constraint *c) { return jc_state_rest(&c->st, &c->schema); }

const char *json_constraint_text(const json_constraint *c, size_t *len) {
    *len = c->text_len;
    return c->text ? c->text : "";
}

static bool is_eog(const json_vocab *v, int32_t id) {
    for (int32_t i = 0; i < v->n_eog; i++)
        if (v->eog[i] == id) return true;
    return false;
}

bool json_constraint_feed(json_constraint *c, const char *bytes, size_t len) {
    jc_state tmp;
    jc_state_copy(&tmp, &c->st);
    for (size_t i = 0; i < len; i++)
        if (!jc_state_step(&tmp, &c->schema, (uint8_t)bytes[i])) return false;
    if (len == 0) return true;
    if (c->text_len + len > c->text_cap) {
        size_t nc = c->text_cap ? c->text_cap : 256;
        while (nc < c->text_len + len)
            nc *= 2;
        char *t = realloc(c->text, nc);
        if (!t) return false;
        c->text = t;
        c->text_cap = nc;
    }
    memcpy(c->text + c->text_len, bytes, len);
    c->text_len += len;
    jc_state_copy(&c->st, &tmp);
    return true;
}

slm_status json_constraint_accept(json_constraint *c, int32_t token) {
    const json_vocab *v = c->v;
    if (!v || token < 0 || token >= v->n_vocab) return SLM_E_INVALID_ARG;
    if (is_eog(v, token)) return json_constraint_done(c) ? SLM_OK : SLM_E_INVALID_ARG;
    if (!v->piece[token]) return SLM_E_INVALID_ARG;
    return json_constraint_feed(c, v->piece[token], (size_t)v->piece_len[token]) ? SLM_OK : SLM_E_INVALID_ARG;
}

int32_t json_constraint_mask(json_constraint *c, float *logits, int32_t n_vocab, int32_t budget_left) {
    const json_vocab *v = c->v;
    if (!v) {
        for (int32_t i = 0; i < n_vocab; i++)
            logits[i] = -INFINITY;
        return 0;
    }
    /* walk the trie; levels[d] is the state after the first d bytes of the current path */
    int32_t n_allow = 0;
    int64_t best = JC_COST_INF;
    jc_state_copy(&c->levels[0], &c->st);
    for (int32_t k = 0; k < v->n_nodes;) {
        int32_t d = v->depth[k];
        jc_state *nx = &c->levels[d + 1];
        jc_state_copy(nx, &c->levels[d]);
        if (!jc_state_step(nx, &c->schema, v->byte[k])) {
            k = v->skip[k];
            continue;
        }
        if (v->tok_n[k]) {
            int64_t cost = jc_state_rest(nx, &c->schema);
            if (cost < best) best = cost;
            for (int32_t t = 0; t < v->tok_n[k]; t++) {
                c->allow_id[n_allow] = v->ids[v->tok_first[k] + t];
                c->allow_cost[n_allow++] = cost;
            }
        }
        k++;
    }
    /* keep the tokens after which the document can still close within the budget; if none can
     * (budget already below the minimum), the ones closest to closing */
    bool done = json_constraint_done(c);
    if (done) best = 0; /* ending here costs nothing */
    int64_t limit = (int64_t)budget_left - 1;
    if (best > limit) limit = best;
    int32_t n = 0;
    for (int32_t i = 0; i < n_allow; i++)
        if (c->allow_cost[i] <= limit && c->allow_id[i] < n_vocab) c->allow_id[n++] = c->allow_id[i];
    if (done)
        for (int32_t i = 0; i < v->n_eog; i++)
            if (v->eog[i] < n_vocab) c->allow_id[n++] = v->eog[i];
    for (int32_t i = 0; i < n; i++)
        c->saved[i] = logits[c->allow_id[i]];
    for (int32_t i = 0; i < n_vocab; i++)
        logits[i] = -INFINITY;
    for (int32_t i = 0; i < n; i++)
        logits[c->allow_id[i]] = c->saved[i];
    return n;
}
