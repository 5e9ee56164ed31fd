/* Loading a Hugging Face tokenizer.json (+ tokenizer_config.json): BPE model (vocab, merges,
 * byte_fallback, ignore_merges), added tokens, normalizer, pre-tokenizer, post-processor and
 * decoder. Anything outside the supported subset fails with SLM_E_UNSUPPORTED naming it, rather
 * than tokenizing differently from the reference. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/file.h"
#include "tokenizer/tok_internal.h"

#define TOK_JSON_MAX_BYTES ((size_t)512 << 20)
#define TOK_MAX_ID ((1 << 24) - 1)

static const char k_gpt2_regex[] = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

static bool json_int(const cJSON *v, int64_t lo, int64_t hi, int64_t *out) {
    if (!cJSON_IsNumber(v)) return false;
    double d = v->valuedouble;
    if (!(d >= (double)lo && d <= (double)hi) || d != floor(d)) return false;
    *out = (int64_t)d;
    return true;
}

static bool json_bool(const cJSON *obj, const char *key, bool dflt) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsBool(v) ? cJSON_IsTrue(v) : dflt;
}

static const char *json_str(const cJSON *obj, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* --- Normalizer --------------------------------------------------------------------------- */

static bool utf8_valid(const char *s) {
    size_t n = strlen(s);
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        int l = tok_utf8_next((const uint8_t *)s + i, n - i, &cp);
        if (l <= 0) return false;
        i += (size_t)l;
    }
    return true;
}

/* Normalizer strings end up inside the text the regexes run on, which must stay valid UTF-8. */
static slm_status add_norm(slm_tokenizer *t, tok_norm_kind kind, const char *from, const char *to, bool if_absent,
                           slm_error *err) {
    if ((from && !utf8_valid(from)) || (to && !utf8_valid(to)))
        return slm_fail(err, SLM_E_FORMAT, "normalizer string is not valid UTF-8");
    if (t->n_norm >= TOK_MAX_NORM) return slm_fail(err, SLM_E_UNSUPPORTED, "more than %d normalizer steps", TOK_MAX_NORM);
    tok_norm *n = &t->norm[t->n_norm];
    *n = (tok_norm){kind, from ? strdup(from) : NULL, to ? strdup(to) : NULL, if_absent, false};
    if ((from && !n->from) || (to && !n->to)) return slm_fail(err, SLM_E_NOMEM, "tokenizer: out of memory");
    t->n_norm++;
    return SLM_OK;
}

static slm_status load_normalizer(slm_tokenizer *t, const cJSON *n, slm_error *err) {
    if (!n || cJSON_IsNull(n)) return SLM_OK;
    const char *type = json_str(n, "type");
    if (!type) return slm_fail(err, SLM_E_FORMAT, "normalizer without a type");
    if (!strcmp(type, "Sequence")) {
        const cJSON *list = cJSON_GetObjectItemCaseSensitive(n, "normalizers"), *it;
        cJSON_ArrayForEach(it, list) {
            slm_status st = load_normalizer(t, it, err);
            if (st) return st;
        }
        return SLM_OK;
    }
    if (!strcmp(type, "NFC")) return add_norm(t, TN_NFC, NULL, NULL, false, err);
    if (!strcmp(type, "NFD")) return add_norm(t, TN_NFD, NULL, NULL, false, err);
    if (!strcmp(type, "NFKC")) return add_norm(t, TN_NFKC, NULL, NULL, false, err);
    if (!strcmp(type, "NFKD")) return add_norm(t, TN_NFKD, NULL, NULL, false, err);
    if (!strcmp(type, "Prepend")) {
        const char *p = json_str(n, "prepend");
        if (!p) return slm_fail(err, SLM_E_FORMAT, "Prepend normalizer without \"prepend\"");
        if (!strcmp(p, "\xe2\x96\x81")) t->space_prefix = true;
        return add_norm(t, TN_PREPEND, NULL, p, false, err);
    }
    if (!strcmp(type, "Replace")) {
        const char *from = json_str(cJSON_GetObjectItemCaseSensitive(n, "pattern"), "String");
        const char *to = json_str(n, "content");
        if (!from || !to) return slm_fail(err, SLM_E_UNSUPPORTED, "Replace normalizer with a regex pattern");
        return add_norm(t, TN_REPLACE, from, to, false, err);
    }
    return slm_fail(err, SLM_E_UNSUPPORTED, "normalizer type \"%s\"", type);
}

/* --- Pre-tokenizer ------------------------------------------------------------------------ */

static slm_status load_pretok(slm_tokenizer *t, const cJSON *p, slm_error *err) {
    if (!p || cJSON_IsNull(p)) return SLM_OK;
    const char *type = json_str(p, "type");
    if (!type) return slm_fail(err, SLM_E_FORMAT, "pre_tokenizer without a type");
    if (!strcmp(type, "Sequence")) {
        const cJSON *list = cJSON_GetObjectItemCaseSensitive(p, "pretokenizers"), *it;
        cJSON_ArrayForEach(it, list) {
            slm_status st = load_pretok(t, it, err);
            if (st) return st;
        }
        return SLM_OK;
    }
    if (!strcmp(type, "ByteLevel")) {
        t->byte_level = true;
        t->bl_prefix_space = json_bool(p, "add_prefix_space", false);
        if (json_bool(p, "use_regex", true)) {
            if (t->n_pretok == 0) snprintf(t->pre_name, sizeof t->pre_name, "gpt-2");
            return tok_pretok_add_regex(t, k_gpt2_regex, strlen(k_gpt2_regex), TS_ISOLATED, false, err);
        }
        return SLM_OK;
    }
    if (!strcmp(type, "Split")) {
        const cJSON *pat = cJSON_GetObjectItemCaseSensitive(p, "pattern");
        const char *rx = json_str(pat, "Regex"), *lit = json_str(pat, "String");
        const char *beh = json_str(p, "behavior");
        tok_split_kind kind;
        if (!beh || !strcmp(beh, "Isolated")) kind = TS_ISOLATED;
        else if (!strcmp(beh, "MergedWithPrevious")) kind = TS_MERGED_PREV;
        else if (!strcmp(beh, "MergedWithNext")) kind = TS_MERGED_NEXT;
        else if (!strcmp(beh, "Removed")) kind = TS_REMOVED;
        else return slm_fail(err, SLM_E_UNSUPPORTED, "Split behavior \"%s\"", beh);
        bool invert = json_bool(p, "invert", false);
        if (rx) {
            /* Known family patterns get their GGUF pre-tokenizer name (for export). */
            static const char *const llama3 = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| "
                                              "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
            static const char *const qwen2 = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| "
                                             "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
            if (kind == TS_ISOLATED && !invert && t->n_pretok == 0) {
                if (!strcmp(rx, llama3)) snprintf(t->pre_name, sizeof t->pre_name, "llama-bpe");
                else if (!strcmp(rx, qwen2)) snprintf(t->pre_name, sizeof t->pre_name, "qwen2");
            }
            return tok_pretok_add_regex(t, rx, strlen(rx), kind, invert, err);
        }
        if (!lit) return slm_fail(err, SLM_E_FORMAT, "Split pre-tokenizer without a pattern");
        if (!strcmp(lit, " ") && t->n_pretok == 0) t->pretok_space_split = true;
        /* Literal: escape every ASCII non-alphanumeric byte. */
        size_t n = strlen(lit);
        char *esc = malloc(n * 2 + 1);
        if (!esc) return slm_fail(err, SLM_E_NOMEM, "tokenizer: out of memory");
        size_t o = 0;
        for (size_t i = 0; i < n; i++) {
            unsigned char c = (unsigned char)lit[i];
            bool plain = c >= 0x80 || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
            if (!plain) esc[o++] = '\\';
            esc[o++] = (char)c;
        }
        slm_status st = tok_pretok_add_regex(t, esc, o, kind, invert, err);
        free(esc);
        return st;
    }
    if (!strcmp(type, "Digits")) {
        const char *rx = json_bool(p, "individual_digits", false) ? "\\p{N}" : "\\p{N}+";
        return tok_pretok_add_regex(t, rx, strlen(rx), TS_ISOLATED, false, err);
    }
    if (!strcmp(type, "Metaspace")) {
        const char *rep = json_str(p, "replacement");
        const char *scheme = json_str(p, "prepend_scheme");
        if (!rep) rep = "\xe2\x96\x81";
        slm_status st = add_norm(t, TN_REPLACE, " ", rep, false, err);
        if (!st && (!scheme || strcmp(scheme, "never"))) {
            st = add_norm(t, TN_PREPEND, NULL, rep, true, err);
            if (!st && scheme && !strcmp(scheme, "first")) t->norm[t->n_norm - 1].first_only = true;
        }
        if (!st && json_bool(p, "split", true)) st = tok_pretok_add_regex(t, "\\x{2581}", 8, TS_MERGED_NEXT, false, err);
        return st;
    }
    return slm_fail(err, SLM_E_UNSUPPORTED, "pre_tokenizer type \"%s\"", type);
}

/* --- Post-processor and decoder ------------------------------------------------------------ */

static slm_status load_post(slm_tokenizer *t, const cJSON *p, slm_error *err) {
    if (!p || cJSON_IsNull(p)) return SLM_OK;
    const char *type = json_str(p, "type");
    if (!type) return slm_fail(err, SLM_E_FORMAT, "post_processor without a type");
    if (!strcmp(type, "Sequence")) {
        const cJSON *list = cJSON_GetObjectItemCaseSensitive(p, "processors"), *it;
        cJSON_ArrayForEach(it, list) {
            slm_status st = load_post(t, it, err);
            if (st) return st;
        }
        return SLM_OK;
    }
    if (!strcmp(type, "ByteLevel")) return SLM_OK; /* only offsets: no ids added */
    if (strcmp(type, "TemplateProcessing")) return slm_fail(err, SLM_E_UNSUPPORTED, "post_processor type \"%s\"", type);
    const cJSON *single = cJSON_GetObjectItemCaseSensitive(p, "single"), *specials = cJSON_GetObjectItemCaseSensitive(p, "special_tokens");
    const cJSON *it;
    bool after = false;
    t->n_pp_pre = t->n_pp_post = 0;
    cJSON_ArrayForEach(it, single) {
        if (cJSON_GetObjectItemCaseSensitive(it, "Sequence")) { after = true; continue; }
        const char *name = json_str(cJSON_GetObjectItemCaseSensitive(it, "SpecialToken"), "id");
        if (!name) return slm_fail(err, SLM_E_FORMAT, "TemplateProcessing item is neither Sequence nor SpecialToken");
        const cJSON *ids = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(specials, name), "ids"), *idv;
        cJSON_ArrayForEach(idv, ids) {
            int64_t id;
            if (!json_int(idv, 0, t->n_vocab - 1, &id)) return slm_fail(err, SLM_E_FORMAT, "TemplateProcessing id out of range");
            if ((after ? t->n_pp_post : t->n_pp_pre) >= 4) return slm_fail(err, SLM_E_UNSUPPORTED, "more than 4 template tokens");
            if (after) t->pp_post[t->n_pp_post++] = (int32_t)id;
            else t->pp_pre[t->n_pp_pre++] = (int32_t)id;
        }
    }
    return SLM_OK;
}

static void load_decoder(slm_tokenizer *t, const cJSON *d) {
    if (!d || cJSON_IsNull(d)) return;
    const char *type = json_str(d, "type");
    if (!type) return;
    if (!strcmp(type, "Sequence")) {
        const cJSON *it;
        cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(d, "decoders")) load_decoder(t, it);
    } else if (!strcmp(type, "Strip")) {
        const char *c = json_str(d, "content");
        int64_t start = 0;
        json_int(cJSON_GetObjectItemCaseSensitive(d, "start"), 0, 1 << 20, &start);
        if (c && !strcmp(c, " ") && start > 0) t->strip_lead_space = true;
    } else if (!strcmp(type, "Metaspace")) {
        const char *scheme = json_str(d, "prepend_scheme");
        if (!scheme || strcmp(scheme, "never")) t->strip_lead_space = true;
    }
}

/* --- Model -------------------------------------------------------------------------------- */

static slm_status token_id_of(const slm_tokenizer *t, const cJSON *v, int32_t *out) {
    const char *s = cJSON_IsString(v) ? v->valuestring : json_str(v, "content");
    *out = s ? tok_lookup(t, s, strlen(s)) : -1;
    return SLM_OK;
}

static slm_status load_merges(slm_tokenizer *t, const cJSON *merges, slm_error *err) {
    size_t n = (size_t)cJSON_GetArraySize(merges);
    slm_status st = tok_merges_reserve(t, n, err);
    if (st) return st;
    char *buf = NULL;
    size_t cap = 0;
    int32_t rank = 0;
    const cJSON *m;
    cJSON_ArrayForEach(m, merges) {
        const char *a, *b;
        size_t la, lb;
        if (cJSON_IsString(m)) {
            const char *sp = strchr(m->valuestring, ' ');
            if (!sp || strchr(sp + 1, ' ')) { st = slm_fail(err, SLM_E_FORMAT, "merge %d is not \"a b\"", rank); break; }
            a = m->valuestring; la = (size_t)(sp - a);
            b = sp + 1; lb = strlen(b);
        } else if (cJSON_IsArray(m) && cJSON_GetArraySize(m) == 2 && cJSON_IsString(m->child) && cJSON_IsString(m->child->next)) {
            a = m->child->valuestring; la = strlen(a);
            b = m->child->next->valuestring; lb = strlen(b);
        } else {
            st = slm_fail(err, SLM_E_FORMAT, "merge %d is neither \"a b\" nor [a, b]", rank);
            break;
        }
        if (la + lb > cap) {
            cap = (la + lb) * 2 + 16;
            char *p = realloc(buf, cap);
            if (!p) { st = slm_fail(err, SLM_E_NOMEM, "tokenizer: out of memory"); break; }
            buf = p;
        }
        memcpy(buf, a, la);
        memcpy(buf + la, b, lb);
        int32_t ia = tok_lookup(t, a, la), ib = tok_lookup(t, b, lb), ic = tok_lookup(t, buf, la + lb);
        if (ia >= 0 && ib >= 0 && ic >= 0) tok_merge_add(t, ia, ib, rank, ic); /* HF rejects such files; skip */
        rank++;
    }
    free(buf);
    return st;
}

static slm_status load_model(slm_tokenizer **out, const cJSON *root, slm_error *err) {
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    const char *type = json_str(model, "type");
    if (!type) type = cJSON_GetObjectItemCaseSensitive(model, "merges") ? "BPE" : "?";
    if (strcmp(type, "BPE")) return slm_fail(err, SLM_E_UNSUPPORTED, "tokenizer model type \"%s\" (only BPE)", type);
    const char *cont = json_str(model, "continuing_subword_prefix"), *eow = json_str(model, "end_of_word_suffix");
    if ((cont && *cont) || (eow && *eow)) return slm_fail(err, SLM_E_UNSUPPORTED, "BPE with subword prefix/suffix");

    const cJSON *vocab = cJSON_GetObjectItemCaseSensitive(model, "vocab"), *added = cJSON_GetObjectItemCaseSensitive(root, "added_tokens"), *it;
    if (!cJSON_IsObject(vocab)) return slm_fail(err, SLM_E_FORMAT, "model.vocab is not an object");
    int64_t max_id = -1, id = 0;
    cJSON_ArrayForEach(it, vocab) {
        if (!json_int(it, 0, TOK_MAX_ID, &id)) return slm_fail(err, SLM_E_FORMAT, "vocab id of \"%.40s\" out of range", it->string);
        if (id > max_id) max_id = id;
    }
    cJSON_ArrayForEach(it, added) {
        if (!json_int(cJSON_GetObjectItemCaseSensitive(it, "id"), 0, TOK_MAX_ID, &id) || !json_str(it, "content"))
            return slm_fail(err, SLM_E_FORMAT, "added token without a valid id/content");
        if (id > max_id) max_id = id;
    }
    /* Ids must be (nearly) dense: a lying file must not make us allocate 2^24 entries. */
    int64_t n_entries = cJSON_GetArraySize(vocab) + cJSON_GetArraySize(added);
    if (max_id >= n_entries + 65536)
        return slm_fail(err, SLM_E_FORMAT, "token id %lld for only %lld tokens", (long long)max_id, (long long)n_entries);
    slm_tokenizer *t;
    slm_status st = tok_alloc(&t, (int32_t)(max_id + 1), err);
    if (st) return st;
    *out = t;
    t->algo = TOK_ALGO_BPE;
    for (int32_t i = 0; i <= max_id; i++) t->tokens[i].type = TOK_UNUSED; /* gaps */
    cJSON_ArrayForEach(it, vocab) {
        json_int(it, 0, TOK_MAX_ID, &id);
        t->tokens[id].type = TOK_NORMAL;
        if ((st = tok_set_text(t, (int32_t)id, it->string, strlen(it->string), err))) return st;
    }
    cJSON_ArrayForEach(it, added) {
        json_int(cJSON_GetObjectItemCaseSensitive(it, "id"), 0, TOK_MAX_ID, &id);
        const char *c = json_str(it, "content");
        tok_entry *e = &t->tokens[id];
        e->type = json_bool(it, "special", false) ? TOK_CONTROL : TOK_USER;
        e->flags = (uint8_t)((json_bool(it, "lstrip", false) ? TOK_F_LSTRIP : 0) | (json_bool(it, "rstrip", false) ? TOK_F_RSTRIP : 0) |
                             (json_bool(it, "single_word", false) ? TOK_F_SINGLE_WORD : 0));
        if ((st = tok_set_text(t, (int32_t)id, c, strlen(c), err))) return st;
    }
    if ((st = tok_build_vhash(t, err))) return st;
    cJSON_ArrayForEach(it, added) {
        json_int(cJSON_GetObjectItemCaseSensitive(it, "id"), 0, TOK_MAX_ID, &id);
        if ((st = tok_trie_add(t, (int32_t)id, err))) return st;
    }
    t->byte_fallback = json_bool(model, "byte_fallback", false);
    t->fuse_unk = json_bool(model, "fuse_unk", false);
    t->ignore_merges = json_bool(model, "ignore_merges", false);
    const char *unk = json_str(model, "unk_token");
    if (unk) t->unk = tok_lookup(t, unk, strlen(unk));
    return load_merges(t, cJSON_GetObjectItemCaseSensitive(model, "merges"), err);
}

static slm_status parse_file(const char *path, cJSON **out, slm_error *err) {
    char *data;
    size_t len;
    slm_status st = slm_file_read_all(path, TOK_JSON_MAX_BYTES, &data, &len, err);
    if (st) return slm_error_prefix(err, "%s", path);
    *out = cJSON_ParseWithLength(data, len);
    free(data);
    if (!*out) return slm_fail(err, SLM_E_FORMAT, "%s: not valid JSON", path);
    return SLM_OK;
}

static slm_status load_parsed(const cJSON *root, const cJSON *cfg, slm_tokenizer **out, slm_error *err) {
    slm_tokenizer *t = NULL;
    if (!cJSON_IsObject(root)) return slm_fail(err, SLM_E_FORMAT, "tokenizer.json is not a JSON object");
    slm_status st = load_model(&t, root, err);
    if (!st) st = load_normalizer(t, cJSON_GetObjectItemCaseSensitive(root, "normalizer"), err);
    if (!st) st = load_pretok(t, cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer"), err);
    if (!st) st = load_post(t, cJSON_GetObjectItemCaseSensitive(root, "post_processor"), err);
    if (!st) {
        load_decoder(t, cJSON_GetObjectItemCaseSensitive(root, "decoder"));
        tok_build_byte_ids(t);
        tok_build_space_split(t);
        st = tok_build_pieces(t, err);
    }
    if (st) {
        slm_tokenizer_free(t);
        return st;
    }
    /* Special ids: tokenizer_config names first, then the post-processor's tokens. */
    if (cJSON_IsObject(cfg)) {
        token_id_of(t, cJSON_GetObjectItemCaseSensitive(cfg, "bos_token"), &t->bos);
        token_id_of(t, cJSON_GetObjectItemCaseSensitive(cfg, "eos_token"), &t->eos);
        token_id_of(t, cJSON_GetObjectItemCaseSensitive(cfg, "pad_token"), &t->pad);
        int32_t unk;
        token_id_of(t, cJSON_GetObjectItemCaseSensitive(cfg, "unk_token"), &unk);
        if (unk >= 0) t->unk = unk;
    }
    if (t->bos < 0 && t->n_pp_pre > 0) t->bos = t->pp_pre[0];
    if (t->eos < 0 && t->n_pp_post > 0) t->eos = t->pp_post[0];
    tok_collect_eot(t);
    *out = t;
    return SLM_OK;
}

slm_status slm_tokenizer_load_json_mem(const char *json, size_t len, const char *config, size_t config_len,
                                       slm_tokenizer **out, slm_error *err) {
    *out = NULL;
    cJSON *root = cJSON_ParseWithLength(json, len), *cfg = NULL;
    if (!root) return slm_fail(err, SLM_E_FORMAT, "tokenizer.json: not valid JSON");
    if (config && !(cfg = cJSON_ParseWithLength(config, config_len))) {
        cJSON_Delete(root);
        return slm_fail(err, SLM_E_FORMAT, "tokenizer_config.json: not valid JSON");
    }
    slm_status st = load_parsed(root, cfg, out, err);
    cJSON_Delete(root);
    cJSON_Delete(cfg);
    return st;
}

slm_status slm_tokenizer_load_json(const char *json_path, const char *config_path, slm_tokenizer **out, slm_error *err) {
    *out = NULL;
    cJSON *root = NULL, *cfg = NULL;
    slm_status st = parse_file(json_path, &root, err);
    if (!st && config_path && slm_path_exists(config_path)) st = parse_file(config_path, &cfg, err);
    if (!st) {
        st = load_parsed(root, cfg, out, err);
        if (st) slm_error_prefix(err, "%s", json_path);
    }
    cJSON_Delete(root);
    cJSON_Delete(cfg);
    return st;
}
