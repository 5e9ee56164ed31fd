/* Writing a tokenizer as GGUF tokenizer.ggml.* metadata (for HF folder -> GGUF conversion).
 *
 * Byte-level BPE becomes model "gpt2" with its merges and the pre-tokenizer's GGUF name.
 * '▁'-style BPE (byte fallback) becomes model "llama": llama.cpp merges by token score, so each
 * token's score is minus the rank of the first merge that produces it, which makes
 * "best score first" follow the HF merge order (tokens no merge produces rank after all). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tok_internal.h"

#define KEY(x) "tokenizer.ggml." x

typedef struct merge_rec {
    int32_t rank, left, right, result;
} merge_rec;

static int cmp_rank(const void *a, const void *b) {
    const merge_rec *x = a, *y = b;
    return (x->rank > y->rank) - (x->rank < y->rank);
}

/* The merge table in rank order (malloc'd). */
static merge_rec *collect_merges(const slm_tokenizer *t, size_t *n) {
    merge_rec *m = malloc((t->n_merges + 1) * sizeof *m);
    if (!m) return NULL;
    size_t k = 0;
    for (size_t i = 0; t->mkeys && i <= t->mhash_mask; i++) {
        if (!t->mkeys[i]) continue;
        uint64_t key = t->mkeys[i] - 1;
        m[k++] = (merge_rec){t->mrank[i], (int32_t)(key >> 32), (int32_t)(uint32_t)key, t->mnew[i]};
    }
    qsort(m, k, sizeof *m, cmp_rank);
    *n = k;
    return m;
}

static slm_status write_merges(const slm_tokenizer *t, const merge_rec *m, size_t n, gguf_writer *w, slm_error *err) {
    gguf_str *strs = malloc((n + 1) * sizeof *strs);
    size_t total = 0;
    for (size_t i = 0; i < n; i++) total += t->tokens[m[i].left].text_len + t->tokens[m[i].right].text_len + 1;
    char *buf = malloc(total + 1);
    if (!strs || !buf) {
        free(strs);
        free(buf);
        return slm_fail(err, SLM_E_NOMEM, "tokenizer export: out of memory");
    }
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        const tok_entry *a = &t->tokens[m[i].left], *b = &t->tokens[m[i].right];
        strs[i].ptr = buf + o;
        memcpy(buf + o, t->strs + a->text_off, a->text_len);
        o += a->text_len;
        buf[o++] = ' ';
        memcpy(buf + o, t->strs + b->text_off, b->text_len);
        o += b->text_len;
        strs[i].len = (uint64_t)(buf + o - strs[i].ptr);
    }
    slm_status st = gguf_writer_add_arr_gstr(w, KEY("merges"), strs, n, err);
    free(strs);
    free(buf);
    return st;
}

slm_status slm_tokenizer_write_gguf(const slm_tokenizer *t, gguf_writer *w, slm_error *err) {
    bool bpe = t->byte_level;
    if (bpe && !t->pre_name[0])
        return slm_fail(err, SLM_E_UNSUPPORTED, "this byte-level pre-tokenizer has no tokenizer.ggml.pre name");
    /* Only pipelines the GGUF loader rebuilds identically. */
    bool ok;
    if (bpe) {
        ok = !t->bl_prefix_space && (t->n_norm == 0 || (t->n_norm == 1 && t->norm[0].kind == TN_NFC && !strcmp(t->pre_name, "qwen2")));
    } else {
        int k = 0;
        ok = t->n_pretok == 0 || (t->n_pretok == 1 && t->pretok_space_split);
        if (t->space_prefix) ok &= k < t->n_norm && t->norm[k].kind == TN_PREPEND && !t->norm[k].if_absent &&
                                    !t->norm[k].first_only && k++ == 0;
        ok &= k < t->n_norm && t->norm[k].kind == TN_REPLACE && !strcmp(t->norm[k].from, " ") &&
              !strcmp(t->norm[k].to, "\xe2\x96\x81") && k + 1 == t->n_norm;
        ok &= t->byte_fallback;
    }
    if (!ok) return slm_fail(err, SLM_E_UNSUPPORTED, "this normalizer / pre-tokenizer combination has no GGUF form");
    if (t->n_pp_pre > 1 || t->n_pp_post > 1 || (t->n_pp_pre && t->pp_pre[0] != t->bos) ||
        (t->n_pp_post && t->pp_post[0] != t->eos))
        return slm_fail(err, SLM_E_UNSUPPORTED, "post-processor cannot be written as add_bos/add_eos");
    size_t n = (size_t)t->n_vocab, n_merges = 0;
    gguf_str *toks = malloc(n * sizeof *toks);
    int32_t *types = malloc(n * sizeof *types);
    float *scores = malloc(n * sizeof *scores);
    char (*pad)[24] = calloc(n, sizeof *pad);
    merge_rec *m = collect_merges(t, &n_merges);
    slm_status st = SLM_OK;
    if (!toks || !types || !scores || !pad || !m) st = slm_fail(err, SLM_E_NOMEM, "tokenizer export: out of memory");
    for (size_t i = 0; !st && i < n; i++) {
        const tok_entry *e = &t->tokens[i];
        toks[i] = (gguf_str){t->strs + e->text_off, e->text_len};
        if (e->text_len == 0) { /* an id no token uses: a unique placeholder, as llama.cpp's converter */
            snprintf(pad[i], sizeof pad[i], "[PAD%zu]", i);
            toks[i] = (gguf_str){pad[i], strlen(pad[i])};
        }
        types[i] = e->type;
        scores[i] = -(float)(n_merges + i); /* refined below from the merges */
    }
    for (size_t k = n_merges; !st && k-- > 0;) scores[m[k].result] = -(float)m[k].rank;
    if (!st) st = gguf_writer_add_str(w, KEY("model"), bpe ? "gpt2" : "llama", err);
    if (!st && bpe) st = gguf_writer_add_str(w, KEY("pre"), t->pre_name, err);
    if (!st) st = gguf_writer_add_arr_gstr(w, KEY("tokens"), toks, n, err);
    if (!st) st = gguf_writer_add_arr(w, KEY("token_type"), GGUF_TYPE_INT32, types, n, err);
    if (!st && !bpe) st = gguf_writer_add_arr(w, KEY("scores"), GGUF_TYPE_FLOAT32, scores, n, err);
    if (!st && bpe) st = write_merges(t, m, n_merges, w, err);
    if (!st && t->bos >= 0) st = gguf_writer_add_u32(w, KEY("bos_token_id"), (uint32_t)t->bos, err);
    if (!st && t->eos >= 0) st = gguf_writer_add_u32(w, KEY("eos_token_id"), (uint32_t)t->eos, err);
    if (!st && t->unk >= 0) st = gguf_writer_add_u32(w, KEY("unknown_token_id"), (uint32_t)t->unk, err);
    if (!st && t->pad >= 0) st = gguf_writer_add_u32(w, KEY("padding_token_id"), (uint32_t)t->pad, err);
    if (!st) st = gguf_writer_add_bool(w, KEY("add_bos_token"), t->n_pp_pre > 0, err);
    if (!st) st = gguf_writer_add_bool(w, KEY("add_eos_token"), t->n_pp_post > 0, err);
    if (!st && !bpe) st = gguf_writer_add_bool(w, KEY("add_space_prefix"), t->space_prefix, err);
    free(toks);
    free(types);
    free(scores);
    free(pad);
    free(m);
    return st;
}
