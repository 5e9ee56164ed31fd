/* Loading the tokenizer.ggml.* metadata of a GGUF file ("gpt2" byte-level BPE with merges, "llama"
 * SentencePiece-style vocabularies with scores), following llama.cpp's reading of the keys; and
 * slm_tokenizer_load_path, which picks GGUF or tokenizer.json from a path. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/file.h"
#include "tokenizer/tok_internal.h"

#define KEY(x) "tokenizer.ggml." x

static void get_id(const gguf_file *f, const char *key, int32_t n_vocab, int32_t *out) {
    uint32_t v;
    if (gguf_get_u32(f, key, &v) && v < (uint32_t)n_vocab) *out = (int32_t)v;
}

static bool get_bool_or(const gguf_file *f, const char *key, bool dflt) {
    bool b;
    return gguf_get_bool(f, key, &b) ? b : dflt;
}

static slm_status load_merges(slm_tokenizer *t, const gguf_file *f, slm_error *err) {
    gguf_arr arr;
    if (!gguf_get_arr(f, KEY("merges"), &arr)) return slm_fail(err, SLM_E_FORMAT, "gpt2 tokenizer without tokenizer.ggml.merges");
    if (arr.type != GGUF_TYPE_STRING) return slm_fail(err, SLM_E_FORMAT, "tokenizer.ggml.merges is not a string array");
    slm_status st = tok_merges_reserve(t, (size_t)arr.n, err);
    if (st) return st;
    char *buf = NULL;
    size_t cap = 0;
    for (uint64_t i = 0; i < arr.n && i < INT32_MAX; i++) {
        gguf_str s;
        if (!gguf_arr_str(f, &arr, i, &s)) { st = slm_fail(err, SLM_E_FORMAT, "merge %llu unreadable", (unsigned long long)i); break; }
        /* "a b": the separator is the first space after the first byte (llama.cpp). */
        const char *sp = s.len > 1 ? memchr(s.ptr + 1, ' ', s.len - 1) : NULL;
        if (!sp) continue;
        size_t la = (size_t)(sp - s.ptr), lb = s.len - la - 1;
        if (la + lb > cap) {
            cap = (la + lb) * 2 + 16;
            char *p = realloc(buf, cap);
            if (!p) { st = slm_fail(err, SLM_E_NOMEM, "tokenizer: out of memory"); break; }
            buf = p;
        }
        memcpy(buf, s.ptr, la);
        memcpy(buf + la, sp + 1, lb);
        int32_t a = tok_lookup(t, s.ptr, la), b = tok_lookup(t, sp + 1, lb), c = tok_lookup(t, buf, la + lb);
        if (a >= 0 && b >= 0 && c >= 0) tok_merge_add(t, a, b, (int32_t)i, c);
    }
    free(buf);
    return st;
}

static slm_status add_norm_lit(slm_tokenizer *t, tok_norm_kind kind, const char *from, const char *to, slm_error *err) {
    if (t->n_norm >= TOK_MAX_NORM) return slm_fail(err, SLM_E_UNSUPPORTED, "too many normalizer steps");
    tok_norm *n = &t->norm[t->n_norm];
    *n = (tok_norm){kind, from ? strdup(from) : NULL, to ? strdup(to) : NULL, false, false};
    if ((from && !n->from) || (to && !n->to)) return slm_fail(err, SLM_E_NOMEM, "tokenizer: out of memory");
    t->n_norm++;
    return SLM_OK;
}

/* Token made only of U+2581, at least two of them. */
static bool is_space_run(const slm_tokenizer *t, int32_t id) {
    const tok_entry *e = &t->tokens[id];
    if (e->text_len < 6 || e->text_len % 3) return false;
    for (uint32_t k = 0; k < e->text_len; k += 3)
        if (memcmp(t->strs + e->text_off + k, "\xe2\x96\x81", 3)) return false;
    return true;
}

static slm_status load_gguf(slm_tokenizer **out, const gguf_file *f, slm_error *err) {
    gguf_str model, pre = {"default", 7};
    if (!gguf_get_str(f, KEY("model"), &model)) return slm_fail(err, SLM_E_NOT_FOUND, "GGUF has no tokenizer.ggml.model");
    bool spm = gguf_str_eq(model, "llama"), bpe = gguf_str_eq(model, "gpt2");
    if (!spm && !bpe)
        return slm_fail(err, SLM_E_UNSUPPORTED, "tokenizer.ggml.model \"%.*s\" (supported: llama, gpt2)",
                        (int)(model.len > 32 ? 32 : model.len), model.ptr);
    gguf_get_str(f, KEY("pre"), &pre);
    gguf_arr toks, types, scores;
    if (!gguf_get_arr(f, KEY("tokens"), &toks) || toks.type != GGUF_TYPE_STRING)
        return slm_fail(err, SLM_E_FORMAT, "tokenizer.ggml.tokens missing or not a string array");
    if (toks.n == 0 || toks.n > (1u << 24)) return slm_fail(err, SLM_E_FORMAT, "tokenizer.ggml.tokens has %llu entries", (unsigned long long)toks.n);
    bool has_types = gguf_get_arr(f, KEY("token_type"), &types) && types.n == toks.n;
    bool has_scores = gguf_get_arr(f, KEY("scores"), &scores) && scores.n == toks.n;

    slm_tokenizer *t;
    slm_status st = tok_alloc(&t, (int32_t)toks.n, err);
    if (st) return st;
    *out = t;
    t->algo = spm ? TOK_ALGO_SPM : TOK_ALGO_BPE;
    t->byte_level = bpe;
    bool same_scores = true, seen_normal = false;
    float first_score = 0;
    for (int32_t i = 0; i < t->n_vocab; i++) {
        gguf_str s;
        if (!gguf_arr_str(f, &toks, (uint64_t)i, &s)) return slm_fail(err, SLM_E_FORMAT, "token %d unreadable", i);
        if ((st = tok_set_text(t, i, s.ptr, s.len, err))) return st;
        int64_t ty = TOK_NORMAL;
        if (has_types && (!gguf_arr_get_i64(&types, (uint64_t)i, &ty) || ty < 1 || ty > 6)) ty = TOK_NORMAL;
        t->tokens[i].type = (uint8_t)ty;
        float sc = 0;
        if (has_scores) gguf_arr_get_f32(&scores, (uint64_t)i, &sc);
        t->tokens[i].score = sc;
        if (ty == TOK_NORMAL) {
            if (!seen_normal) first_score = sc;
            seen_normal = true;
            if (sc != first_score) same_scores = false;
        }
    }
    /* Some converters (HF BPE folders without tokenizer.model) write the same score for every
     * token. SentencePiece vocabularies are sorted best-first, except the runs of U+2581 that
     * Llama/Mistral models define with score -1e9; HF's merge ranks follow exactly that order.
     * So fall back to score = -id, with all-U+2581 tokens after every other (exact in float for
     * vocabularies under 2^23). */
    if (spm && same_scores)
        for (int32_t i = 0; i < t->n_vocab; i++) t->tokens[i].score = -(float)(i + (is_space_run(t, i) ? t->n_vocab : 0));
    if ((st = tok_build_vhash(t, err))) return st;

    for (int32_t i = 0; i < t->n_vocab; i++) {
        uint8_t ty = t->tokens[i].type;
        if ((ty == TOK_CONTROL || ty == TOK_USER || ty == TOK_UNKNOWN) && (st = tok_trie_add(t, i, err))) return st;
    }

    if (bpe) {
        char name[128];
        snprintf(name, sizeof name, "%.*s", (int)(pre.len > 100 ? 100 : pre.len), pre.ptr);
        if ((st = tok_pretok_from_gguf_name(t, pre.ptr, pre.len, err))) return st;
        snprintf(t->pre_name, sizeof t->pre_name, "%s", name);
        /* HF's Qwen2 tokenizer NFC-normalizes; llama.cpp does not. Follow HF (the model's own). */
        if (!strcmp(name, "qwen2") && (st = add_norm_lit(t, TN_NFC, NULL, NULL, err))) return st;
        if ((st = load_merges(t, f, err))) return st;
    } else {
        t->byte_fallback = true;
        if (get_bool_or(f, KEY("add_space_prefix"), true)) {
            t->space_prefix = true;
            if ((st = add_norm_lit(t, TN_PREPEND, NULL, "\xe2\x96\x81", err))) return st;
            t->strip_lead_space = true;
        }
        if ((st = add_norm_lit(t, TN_REPLACE, " ", "\xe2\x96\x81", err))) return st;
    }
    tok_build_byte_ids(t);
    tok_build_space_split(t);
    if ((st = tok_build_pieces(t, err))) return st;

    get_id(f, KEY("bos_token_id"), t->n_vocab, &t->bos);
    get_id(f, KEY("eos_token_id"), t->n_vocab, &t->eos);
    get_id(f, KEY("unknown_token_id"), t->n_vocab, &t->unk);
    get_id(f, KEY("padding_token_id"), t->n_vocab, &t->pad);
    bool llama3 = bpe && (gguf_str_eq(pre, "llama3") || gguf_str_eq(pre, "llama-v3") || gguf_str_eq(pre, "llama-bpe") ||
                          gguf_str_eq(pre, "falcon3"));
    if (get_bool_or(f, KEY("add_bos_token"), spm || llama3) && t->bos >= 0) t->pp_pre[t->n_pp_pre++] = t->bos;
    if (get_bool_or(f, KEY("add_eos_token"), false) && t->eos >= 0) t->pp_post[t->n_pp_post++] = t->eos;
    tok_collect_eot(t);
    int32_t extra = -1;
    get_id(f, KEY("eot_token_id"), t->n_vocab, &extra);
    if (extra >= 0 && !slm_tokenizer_is_eot(t, extra) && t->n_eot < TOK_MAX_EOT) t->eot[t->n_eot++] = extra;
    extra = -1;
    get_id(f, KEY("eom_token_id"), t->n_vocab, &extra);
    if (extra >= 0 && !slm_tokenizer_is_eot(t, extra) && t->n_eot < TOK_MAX_EOT) t->eot[t->n_eot++] = extra;
    return SLM_OK;
}

slm_status slm_tokenizer_load_gguf(const gguf_file *f, slm_tokenizer **out, slm_error *err) {
    *out = NULL;
    slm_tokenizer *t = NULL;
    slm_status st = load_gguf(&t, f, err);
    if (st) {
        slm_tokenizer_free(t);
        return st;
    }
    *out = t;
    return SLM_OK;
}

static bool file_is_gguf(const char *path) {
    FILE *fp = fopen(path, "rb");
    if (!fp) return false;
    char m[4] = {0};
    size_t n = fread(m, 1, 4, fp);
    fclose(fp);
    return n == 4 && !memcmp(m, GGUF_MAGIC, 4);
}

slm_status slm_tokenizer_load_path(const char *path, slm_tokenizer **out, slm_error *err) {
    *out = NULL;
    char json[4096], cfg[4096];
    if (slm_path_is_dir(path)) {
        snprintf(json, sizeof json, "%s/tokenizer.json", path);
        snprintf(cfg, sizeof cfg, "%s/tokenizer_config.json", path);
        if (!slm_path_exists(json)) return slm_fail(err, SLM_E_NOT_FOUND, "%s: no tokenizer.json in this folder", path);
        return slm_tokenizer_load_json(json, cfg, out, err);
    }
    if (!slm_path_exists(path)) return slm_fail(err, SLM_E_NOT_FOUND, "%s: no such file", path);
    if (file_is_gguf(path)) {
        gguf_file *f;
        slm_status st = gguf_open(path, &f, err);
        if (st) return st;
        st = slm_tokenizer_load_gguf(f, out, err);
        gguf_close(f);
        if (st) return slm_error_prefix(err, "%s", path);
        return SLM_OK;
    }
    /* A tokenizer.json: use the tokenizer_config.json next to it when present. */
    snprintf(cfg, sizeof cfg, "%s", path);
    char *slash = strrchr(cfg, '/');
    if (slash) snprintf(slash + 1, sizeof cfg - (size_t)(slash + 1 - cfg), "tokenizer_config.json");
    else snprintf(cfg, sizeof cfg, "tokenizer_config.json");
    return slm_tokenizer_load_json(path, cfg, out, err);
}
