/* HF tokenizer folder -> GGUF tokenizer metadata, written as llama.cpp's convert_hf_to_gguf.py
 * (Feb-2025) writes it, so that llama.cpp (and slm's GGUF tokenizer) read the same vocabulary.
 *
 * Three shapes, chosen from tokenizer.json and config.json's architecture:
 *  - byte-level BPE (no byte fallback, ByteLevel decoder): model "gpt2", as get_vocab_base():
 *    ids up to config vocab_size ("[PADi]" UNUSED for holes), added tokens CONTROL when special
 *    or looking special, else USER_DEFINED; merges verbatim; "pre" identified like llama.cpp, by
 *    hashing the ids of its probe text (our tokenizer, BOS included as HF encode() adds it), with
 *    the pre-tokenizer regex as a fallback when the hash is unknown.
 *  - BPE with byte fallback for the Llama/Mistral architectures: model "llama", as LlamaHfVocab:
 *    base vocab then added ids, BYTE for <0xXX>, CONTROL for the special tokens, and every score
 *    -1000 (llama.cpp's placeholder; slm's GGUF loader recognises the flat scores).
 *  - BPE with byte fallback elsewhere (Gemma 3, Phi-3 with an HF-only tokenizer, which that
 *    converter could not handle): model "llama" with real scores, score(t) = -(rank of the first
 *    merge producing t), so that llama.cpp's best-score-first merging follows the HF merge order;
 *    add_space_prefix from the normalizer.
 * Special ids, add_bos/add_eos and the chat template follow gguf-py's SpecialVocab: names from
 * tokenizer_config.json resolved through tokenizer.json's added_tokens, then config.json's
 * *_token_id for the ones still unset. Everything read is untrusted: ids are range-checked,
 * sizes bounded. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/file.h"
#include "base/sha256.h"
#include "convert/convert.h"
#include "gguf/gguf.h"
#include "tokenizer/tokenizer.h"

#define KEY(x) "tokenizer.ggml." x
#define JSON_MAX_BYTES ((size_t)512 << 20) /* tokenizer.json of 256k-vocab models is ~35 MB */
#define CFG_MAX_BYTES ((size_t)16 << 20)
#define MAX_VOCAB (1 << 24)                 /* ids above this are rejected as lies */
#define MAX_HOLES (1 << 20) /* ids without a token ("[PADi]"): real models have a few hundred */

/* gguf.TokenType */
enum { TT_NORMAL = 1, TT_UNKNOWN = 2, TT_CONTROL = 3, TT_USER = 4, TT_UNUSED = 5, TT_BYTE = 6 };

typedef enum vocab_kind { VK_GPT2, VK_LLAMA_HF, VK_SPM_SCORED } vocab_kind;

/* One id of the vocabulary as the HF files describe it (strings borrowed from the cJSON trees). */
typedef struct id_info {
    const char *text;  /* NULL: no token has this id */
    bool in_base;      /* in model.vocab */
    bool added;        /* in added_tokens */
    bool special;      /* added token with "special": true */
} id_info;

typedef struct export_ctx {
    const char *dir;
    char *tok_buf, *cfg_buf;
    size_t tok_len, cfg_len;
    cJSON *tok, *cfg, *mcfg; /* tokenizer.json, tokenizer_config.json, config.json (last two may be NULL) */
    const cJSON *model;      /* tokenizer.json "model" */
    const cJSON *added;      /* tokenizer.json "added_tokens" (array or NULL) */
    id_info *ids;
    int64_t n_ids;           /* table size: max id + 1 */
    int64_t n_base;          /* entries of model.vocab (HF vocab_size) */
    vocab_kind kind;
    /* the vocabulary to write */
    int64_t n;
    gguf_str *texts;
    char **owned; /* per id: malloc'd text replacing ids[i].text, or NULL */
    int32_t *types;
    float *scores;
} export_ctx;

/* ---- Reading the files ----------------------------------------------------------------------- */

static slm_status read_json(const char *dir, const char *name, size_t max, bool required, char **buf, size_t *len,
                            cJSON **out, slm_error *err) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    *out = NULL;
    if (!slm_path_exists(path))
        return required ? slm_fail(err, SLM_E_NOT_FOUND, "%s: no %s in this folder", dir, name) : SLM_OK;
    char *data;
    size_t n;
    slm_status st = slm_file_read_all(path, max, &data, &n, err);
    if (st) return st;
    *out = cJSON_ParseWithLength(data, n);
    if (!*out || !cJSON_IsObject(*out)) {
        free(data);
        cJSON_Delete(*out);
        *out = NULL;
        return slm_fail(err, SLM_E_FORMAT, "%s: not a JSON object", path);
    }
    if (buf) {
        *buf = data;
        *len = n;
    } else {
        free(data);
    }
    return SLM_OK;
}

static const cJSON *obj_get(const cJSON *o, const char *k) {
    return cJSON_IsObject(o) ? cJSON_GetObjectItemCaseSensitive(o, k) : NULL;
}

/* A JSON number that is an integer in [lo, hi]. */
static bool json_int(const cJSON *v, int64_t lo, int64_t hi, int64_t *out) {
    if (!cJSON_IsNumber(v)) return false;
    double d = v->valuedouble;
    if (!(d >= (double)lo && d <= (double)hi) || d != (double)(int64_t)d) return false;
    *out = (int64_t)d;
    return true;
}

static const char *json_str(const cJSON *o, const char *k) {
    const cJSON *v = obj_get(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static bool json_true(const cJSON *o, const char *k) { return cJSON_IsTrue(obj_get(o, k)); }

/* config.json's vocab_size (top level, else text_config), or -1. */
static int64_t config_vocab_size(const cJSON *mcfg) {
    int64_t v;
    if (json_int(obj_get(mcfg, "vocab_size"), 1, MAX_VOCAB, &v)) return v;
    if (json_int(obj_get(obj_get(mcfg, "text_config"), "vocab_size"), 1, MAX_VOCAB, &v)) return v;
    return -1;
}

/* The id table from model.vocab and added_tokens; the largest id sizes it. */
static slm_status build_id_table(export_ctx *c, int64_t min_size, slm_error *err) {
    const cJSON *vocab = obj_get(c->model, "vocab");
    if (!cJSON_IsObject(vocab)) return slm_fail(err, SLM_E_FORMAT, "tokenizer.json: model.vocab is not an object");
    int64_t max_id = -1, id = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, vocab) {
        if (!json_int(it, 0, MAX_VOCAB - 1, &id))
            return slm_fail(err, SLM_E_FORMAT, "tokenizer.json: id of vocab entry \"%.40s\" is not in 0..%d", it->string,
                            MAX_VOCAB - 1);
        if (id > max_id) max_id = id;
        c->n_base++;
    }
    cJSON_ArrayForEach(it, c->added) {
        if (!json_int(obj_get(it, "id"), 0, MAX_VOCAB - 1, &id) || !json_str(it, "content"))
            return slm_fail(err, SLM_E_FORMAT, "tokenizer.json: an added_tokens entry has no valid id/content");
        if (id > max_id) max_id = id;
    }
    c->n_ids = max_id + 1 > min_size ? max_id + 1 : min_size;
    c->ids = calloc((size_t)(c->n_ids ? c->n_ids : 1), sizeof *c->ids);
    if (!c->ids) return slm_fail(err, SLM_E_NOMEM, "tokenizer export: out of memory");
    cJSON_ArrayForEach(it, vocab) {
        json_int(it, 0, MAX_VOCAB - 1, &id);
        c->ids[id].text = it->string;
        c->ids[id].in_base = true;
    }
    /* Added tokens win over a base entry of the same id, as in HF's get_vocab(). */
    cJSON_ArrayForEach(it, c->added) {
        json_int(obj_get(it, "id"), 0, MAX_VOCAB - 1, &id);
        c->ids[id].text = json_str(it, "content");
        c->ids[id].added = true;
        c->ids[id].special = json_true(it, "special");
    }
    int64_t n_real = 0;
    for (int64_t i = 0; i < c->n_ids; i++) n_real += c->ids[i].text != NULL;
    if (c->n_ids - n_real > MAX_HOLES)
        return slm_fail(err, SLM_E_FORMAT, "%lld ids but only %lld tokens (tokenizer.json ids or config.json vocab_size)",
                        (long long)c->n_ids, (long long)n_real);
    return SLM_OK;
}

/* ---- Token texts and types ------------------------------------------------------------------- */

static bool starts_ends(const char *s, size_t n, const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    return n >= la && n >= lb && !memcmp(s, a, la) && !memcmp(s + n - lb, b, lb);
}

/* llama.cpp's does_token_look_special: added tokens some models forget to mark special. */
static bool looks_special(const char *s) {
    size_t n = strlen(s);
    static const char *const exact[] = {"<pad>", "<mask>", "<2mass>", "[@BOS@]"};
    for (size_t i = 0; i < sizeof exact / sizeof *exact; i++)
        if (!strcmp(s, exact[i])) return true;
    return starts_ends(s, n, "<|", "|>") || starts_ends(s, n, "<\xef\xbd\x9c", "\xef\xbd\x9c>") || /* <｜ ｜> */
           starts_ends(s, n, "<unused", ">");
}

static bool is_byte_token(const char *s) {
    static const char hex[] = "0123456789abcdefABCDEF";
    return strlen(s) == 6 && !memcmp(s, "<0x", 3) && s[5] == '>' && strchr(hex, s[3]) && strchr(hex, s[4]);
}

/* Copy of s with every U+2581 replaced by a space (user-defined tokens are stored pre-normalized). */
static char *unescape_spaces(const char *s) {
    char *o = malloc(strlen(s) + 1);
    if (!o) return NULL;
    size_t k = 0;
    for (const char *p = s; *p;) {
        if (!memcmp(p, "\xe2\x96\x81", 3)) {
            o[k++] = ' ';
            p += 3;
        } else {
            o[k++] = *p++;
        }
    }
    o[k] = 0;
    return o;
}

static slm_status alloc_vocab(export_ctx *c, int64_t n, slm_error *err) {
    c->n = n;
    size_t m = (size_t)(n ? n : 1);
    c->texts = calloc(m, sizeof *c->texts);
    c->owned = calloc(m, sizeof *c->owned);
    c->types = calloc(m, sizeof *c->types);
    c->scores = calloc(m, sizeof *c->scores);
    if (!c->texts || !c->owned || !c->types || !c->scores)
        return slm_fail(err, SLM_E_NOMEM, "tokenizer export: out of memory for %lld tokens", (long long)n);
    return SLM_OK;
}

/* Set entry i's text: borrowed, or owned (NULL own means out of memory). */
static slm_status set_text(export_ctx *c, int64_t i, const char *text, char *own, slm_error *err) {
    if (own) c->owned[i] = own;
    else if (!text) return slm_fail(err, SLM_E_NOMEM, "tokenizer export: out of memory");
    const char *s = own ? own : text;
    c->texts[i] = (gguf_str){s, strlen(s)};
    return SLM_OK;
}

static slm_status set_pad(export_ctx *c, int64_t i, slm_error *err) {
    char buf[32];
    snprintf(buf, sizeof buf, "[PAD%lld]", (long long)i);
    c->types[i] = TT_UNUSED;
    return set_text(c, i, NULL, strdup(buf), err);
}

/* Added token i: CONTROL when special or special-looking, else USER_DEFINED with spaces restored. */
static slm_status set_added(export_ctx *c, int64_t i, slm_error *err) {
    const id_info *e = &c->ids[i];
    if (e->special || looks_special(e->text)) {
        c->types[i] = TT_CONTROL;
        return set_text(c, i, e->text, NULL, err);
    }
    c->types[i] = TT_USER;
    return set_text(c, i, NULL, unescape_spaces(e->text), err);
}

/* get_vocab_base(): byte-level BPE. n is config vocab_size (or the table size). Added tokens with
 * "normalized": false are written as they are: llama.cpp round-trips them through encode/decode,
 * which gives them back unchanged for byte-level vocabularies. */
static slm_status vocab_gpt2(export_ctx *c, slm_error *err) {
    for (int64_t i = 0; i < c->n; i++) {
        const id_info *e = &c->ids[i];
        slm_status st;
        if (!e->text) st = set_pad(c, i, err);
        else if (e->added) st = set_added(c, i, err);
        else {
            c->types[i] = TT_NORMAL;
            st = set_text(c, i, e->text, NULL, err);
        }
        if (st) return st;
    }
    return SLM_OK;
}

/* Id of the token named by tokenizer_config's X_token (string or {"content": ...}) among
 * tokenizer.json's added_tokens (first match), or -1. */
static int64_t config_token_id(const export_ctx *c, const char *typ) {
    char k[32];
    snprintf(k, sizeof k, "%s_token", typ);
    const cJSON *v = obj_get(c->cfg, k);
    const char *name = cJSON_IsString(v) ? v->valuestring : json_str(v, "content");
    if (!name) return -1;
    const cJSON *it;
    int64_t id;
    cJSON_ArrayForEach(it, c->added) {
        const char *s = json_str(it, "content");
        if (s && !strcmp(s, name) && json_int(obj_get(it, "id"), 0, MAX_VOCAB - 1, &id)) return id;
    }
    return -1;
}

static const char *const k_special_types[] = {"bos", "eos", "unk", "sep", "pad", "cls", "mask"};
#define N_SPECIAL_TYPES 7

/* Ids of the tokenizer's special tokens (transformers' all_special_ids): the named ones plus
 * additional_special_tokens. Marks them in is_special (n_ids entries). */
static void mark_all_special(const export_ctx *c, bool *is_special) {
    for (int k = 0; k < N_SPECIAL_TYPES; k++) {
        int64_t id = config_token_id(c, k_special_types[k]);
        if (id >= 0 && id < c->n_ids) is_special[id] = true;
    }
    const cJSON *extra = obj_get(c->cfg, "additional_special_tokens"), *it;
    if (!cJSON_IsArray(extra)) extra = NULL;
    cJSON_ArrayForEach(it, extra) {
        const char *name = cJSON_IsString(it) ? it->valuestring : json_str(it, "content");
        for (int64_t i = 0; name && i < c->n_ids; i++)
            if (c->ids[i].added && !strcmp(c->ids[i].text, name)) is_special[i] = true;
    }
}

/* LlamaHfVocab: base ids, then added ids beyond the base vocabulary; scores all -1000. */
static slm_status vocab_llama_hf(export_ctx *c, slm_error *err) {
    int64_t n = c->n_ids;
    bool *special = calloc((size_t)(n ? n : 1), 1);
    slm_status st = special ? alloc_vocab(c, n, err) : slm_fail(err, SLM_E_NOMEM, "tokenizer export: out of memory");
    if (!st) mark_all_special(c, special);
    for (int64_t i = 0; !st && i < n; i++) {
        const id_info *e = &c->ids[i];
        c->scores[i] = -1000.0f;
        if (!e->text) {
            st = set_pad(c, i, err); /* a hole in the ids: keep later ids where they belong */
        } else if (i >= c->n_base && e->added && !special[i]) {
            c->types[i] = TT_USER;
            st = set_text(c, i, e->text, NULL, err);
        } else {
            c->types[i] = is_byte_token(e->text) ? TT_BYTE : special[i] ? TT_CONTROL : TT_NORMAL;
            st = set_text(c, i, e->text, NULL, err);
        }
    }
    free(special);
    return st;
}

/* A merge rule "a b" (string form) or ["a", "b"] (pair form) as the concatenation a+b, or NULL. */
static char *merge_result(const cJSON *m) {
    const char *a, *b;
    size_t la, lb;
    if (cJSON_IsString(m)) {
        const char *s = m->valuestring, *sp = s[0] ? strchr(s + 1, ' ') : NULL;
        if (!sp) return NULL;
        a = s, la = (size_t)(sp - s), b = sp + 1, lb = strlen(sp + 1);
    } else if (cJSON_IsArray(m) && cJSON_GetArraySize(m) == 2 && cJSON_IsString(cJSON_GetArrayItem(m, 0)) &&
               cJSON_IsString(cJSON_GetArrayItem(m, 1))) {
        a = cJSON_GetArrayItem(m, 0)->valuestring, b = cJSON_GetArrayItem(m, 1)->valuestring;
        la = strlen(a), lb = strlen(b);
    } else {
        return NULL;
    }
    char *r = malloc(la + lb + 1);
    if (!r) return NULL;
    memcpy(r, a, la);
    memcpy(r + la, b, lb);
    r[la + lb] = 0;
    return r;
}

typedef struct text_id {
    const char *s;
    int64_t id;
} text_id;

static int cmp_text_id(const void *x, const void *y) { return strcmp(((const text_id *)x)->s, ((const text_id *)y)->s); }

/* SentencePiece-style vocabulary with scores derived from the merge ranks (see the top). */
static slm_status vocab_spm_scored(export_ctx *c, slm_error *err) {
    const cJSON *merges = obj_get(c->model, "merges");
    int64_t n_merges = cJSON_IsArray(merges) ? cJSON_GetArraySize(merges) : 0;
    const char *unk = json_str(c->model, "unk_token");
    for (int64_t i = 0; i < c->n; i++) {
        const id_info *e = &c->ids[i];
        slm_status st;
        c->scores[i] = -(float)(n_merges + i); /* after every merge product, in id order */
        if (!e->text) {
            st = set_pad(c, i, err);
        } else if (e->added) {
            c->scores[i] = -1000.0f;
            st = set_added(c, i, err);
        } else {
            c->types[i] = is_byte_token(e->text) ? TT_BYTE : unk && !strcmp(e->text, unk) ? TT_UNKNOWN : TT_NORMAL;
            st = set_text(c, i, e->text, NULL, err);
        }
        if (st) return st;
    }
    if (!n_merges) return SLM_OK;
    /* Texts -> ids through a sorted index; merges in an array (cJSON arrays are lists); then the
     * merges from the last rank to the first, so that each product keeps its best rank. */
    text_id *ti = malloc((size_t)c->n * sizeof *ti);
    const cJSON **rules = malloc((size_t)n_merges * sizeof *rules);
    if (!ti || !rules) {
        free(ti);
        free(rules);
        return slm_fail(err, SLM_E_NOMEM, "tokenizer export: out of memory");
    }
    int64_t n_ti = 0, r = 0;
    for (int64_t i = 0; i < c->n; i++)
        if (c->ids[i].text && !c->ids[i].added) ti[n_ti++] = (text_id){c->ids[i].text, i};
    qsort(ti, (size_t)n_ti, sizeof *ti, cmp_text_id);
    const cJSON *it;
    cJSON_ArrayForEach(it, merges) if (r < n_merges) rules[r++] = it;
    for (r = n_merges - 1; r >= 0; r--) {
        char *prod = merge_result(rules[r]);
        if (!prod) continue; /* a malformed rule produces nothing */
        text_id key = {prod, 0};
        const text_id *hit = bsearch(&key, ti, (size_t)n_ti, sizeof *ti, cmp_text_id);
        if (hit) c->scores[hit->id] = -(float)r;
        free(prod);
    }
    free(ti);
    free(rules);
    return SLM_OK;
}

/* ---- Merges, pre-tokenizer name -------------------------------------------------------------- */

/* tokenizer.json merges as gpt2 strings "a b". The pair form (transformers >= 4.45) is joined
 * with one space after turning spaces inside a part into U+0120, as gguf-py does. */
static slm_status write_merges(const export_ctx *c, gguf_writer *w, slm_error *err) {
    const cJSON *merges = obj_get(c->model, "merges");
    int64_t n = cJSON_IsArray(merges) ? cJSON_GetArraySize(merges) : 0;
    if (!n) return SLM_OK; /* gguf-py writes no key (and warns) */
    gguf_str *strs = malloc((size_t)n * sizeof *strs);
    size_t cap = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, merges) {
        if (cJSON_IsArray(it))
            for (const cJSON *p = it->child; p; p = p->next)
                if (cJSON_IsString(p)) cap += strlen(p->valuestring) * 2 + 1; /* ' ' -> 2 bytes */
    }
    char *buf = malloc(cap + 1), *o = buf;
    if (!strs || !buf) {
        free(strs);
        free(buf);
        return slm_fail(err, SLM_E_NOMEM, "tokenizer export: out of memory for %lld merges", (long long)n);
    }
    int64_t k = 0;
    slm_status st = SLM_OK;
    cJSON_ArrayForEach(it, merges) {
        if (k >= n) break;
        if (cJSON_IsString(it)) {
            strs[k++] = (gguf_str){it->valuestring, strlen(it->valuestring)};
            continue;
        }
        if (!cJSON_IsArray(it) || cJSON_GetArraySize(it) != 2 || !cJSON_IsString(it->child) ||
            !cJSON_IsString(it->child->next)) {
            st = slm_fail(err, SLM_E_FORMAT, "tokenizer.json: merge %lld is neither \"a b\" nor [\"a\", \"b\"]",
                          (long long)k);
            break;
        }
        char *start = o;
        for (const cJSON *p = it->child; p; p = p->next) {
            if (p != it->child) *o++ = ' ';
            for (const char *s = p->valuestring; *s; s++) {
                if (*s == ' ') {
                    *o++ = (char)0xC4; /* U+0120 */
                    *o++ = (char)0xA0;
                } else {
                    *o++ = *s;
                }
            }
        }
        strs[k++] = (gguf_str){start, (uint64_t)(o - start)};
    }
    if (!st) st = gguf_writer_add_arr_gstr(w, KEY("merges"), strs, (uint64_t)k, err);
    free(strs);
    free(buf);
    return st;
}

/* llama.cpp's chkhsh table: sha256 of str(ids) of its probe text -> tokenizer.ggml.pre. */
static const struct {
    const char *hash, *name;
} k_pre_hashes[] = {
    {"0ef9807a4087ebef797fc749390439009c3b9eda9ad1a097abbe738f486c01e5", "llama-bpe"},
    {"049ecf7629871e3041641907f3de7c733e4dbfdc736f57d882ba0b0845599754", "deepseek-llm"},
    {"347715f544604f9118bb75ed199f68779f423cabb20db6de6f31b908d04d7821", "deepseek-coder"},
    {"8aeee3860c56296a157a1fe2fad249ec40aa59b1bb5709f4ade11c4e6fe652ed", "falcon"},
    {"9d032fcbd5501f4a38150912590928bfb36091efb5df11b8e2124b0390e3fb1e", "falcon3"},
    {"0876d13b50744004aa9aeae05e7b0647eac9d801b5ba4668afc01e709c15e19f", "jina-v2-en"},
    {"8e62295832751ca1e8f92f2226f403dea30dc5165e448b5bfa05af5340c64ec7", "bert-bge-large"},
    {"b6dc8df998e1cfbdc4eac8243701a65afe638679230920b50d6f17d81c098166", "olmo"},
    {"35d91631860c815f952d711435f48d356ebac988362536bed955d43bfa436e34", "starcoder"},
    {"3ce83efda5659b07b1ad37ca97ca5797ea4285d9b9ab0dc679e4a720c9da7454", "gpt-2"},
    {"32d85c31273f8019248f2559fed492d929ea28b17e51d81d3bb36fff23ca72b3", "stablelm2"},
    {"6221ad2852e85ce96f791f476e0b390cf9b474c9e3d1362f53a24a06dc8220ff", "refact"},
    {"9c2227e4dd922002fb81bde4fc02b0483ca4f12911410dee2255e4987644e3f8", "command-r"},
    {"e636dc30a262dcc0d8c323492e32ae2b70728f4df7dfe9737d9f920a282b8aea", "qwen2"},
    {"a8594e3edff7c29c003940395316294b2c623e09894deebbc65f33f1515df79e", "dbrx"},
    {"c7699093ba4255a91e702aa38a596aa81669f3525dae06c2953267dde580f448", "jina-v1-en"},
    {"171aeeedd6fb548d418a7461d053f11b6f1f1fc9b387bd66640d28a4b9f5c643", "jina-v2-es"},
    {"27949a2493fc4a9f53f5b9b029c82689cfbe5d3a1929bb25e043089e28466de6", "jina-v2-de"},
    {"c136ed14d01c2745d4f60a9596ae66800e2b61fa45643e72436041855ad4089d", "smaug-bpe"},
    {"c7ea5862a53e4272c035c8238367063e2b270d51faa48c0f09e9d5b54746c360", "poro-chat"},
    {"7967bfa498ade6b757b064f31e964dddbb80f8f9a4d68d4ba7998fcf281c531a", "jina-v2-code"},
    {"b6e8e1518dc4305be2fe39c313ed643381c4da5db34a98f6a04c093f8afbe99b", "chatglm-bpe"},
    {"81d72c7348a9f0ebe86f23298d37debe0a5e71149e29bd283904c02262b27516", "chatglm-bpe"},
    {"7fc505bd3104ca1083b150b17d088b59534ede9bde81f0dd2090967d7fe52cee", "viking"},
    {"b53802fb28e26d645c3a310b34bfe07da813026ec7c7716883404d5e0f8b1901", "jais"},
    {"7b3e7548e4308f52a76e8229e4e6cc831195d0d1df43aed21ac6c93da05fec5f", "codeshell"},
    {"63b97e4253352e6f357cc59ea5b583e3a680eaeaf2632188c2b952de2588485e", "tekken"},
    {"855059429035d75a914d1eda9f10a876752e281a054a7a3d421ef0533e5b6249", "smollm"},
    {"3c30d3ad1d6b64202cd222813e7736c2db6e1bd6d67197090fc1211fbc612ae7", "bloom"},
    {"bc01ce58980e1db43859146dc51b1758b3b88729b217a74792e9f8d43e479d21", "gpt3-finnish"},
    {"4e2b24cc4770243d65a2c9ec19770a72f08cffc161adbb73fcbb6b7dd45a0aae", "exaone"},
    {"fcace8b9cac38ce847670c970cd5892031a753a1ef381abd1d9af00f713da085", "phi-2"},
    {"60824e3c0d9401f89943cbb2fff727f0e2d4c545ba4df2d6e4f09a6db0f5b450", "chameleon"},
    {"1431a23e583c97432bc230bff598d103ddb5a1f89960c8f1d1051aaa944d0b35", "minerva-7b"},
    {"8b5a93ed704057481f240da0be7e7dca721d7f8f4755263b6807227a2cbeae65", "roberta-bpe"},
    {"ad851be1dba641f2e3711822f816db2c265f788b37c63b4e1aeacb9ee92de8eb", "gigachat"},
    {"d4c8f286ea6b520b3d495c4455483cfa2302c0cfcd4be05d781b6a8a0a7cdaf1", "megrez"},
    {"877081d19cf6996e2c4ff0e1236341e9b7bde288f5311a56a937f0afbbb3aeb5", "deepseek-v3"},
    {"b3f499bb4255f8ca19fccd664443283318f2fd2414d5e0b040fbdd0cc195d6c5", "deepseek-r1-qwen"},
};

/* llama.cpp's probe text (convert_hf_to_gguf.py chktxt), UTF-8. */
static const char k_chktxt[] =
    "\n \n\n \n\n\n \t \t\t \t\n  \n   \n    \n     \n\xf0\x9f\x9a\x80 (normal) \xf0\x9f\x98\xb6\xe2\x80\x8d"
    "\xf0\x9f\x8c\xab\xef\xb8\x8f (multiple emojis concatenated) \xe2\x9c\x85 \xf0\x9f\xa6\x99\xf0\x9f\xa6"
    "\x99 3 33 333 3333 33333 333333 3333333 33333333 3.3 3..3 3...3 \xe1\x9e\x80\xe1\x9e\xb6\xe1\x9e\x93"
    "\xe1\x9f\x8b\xe1\x9e\x8f\xe1\x9f\x82\xe1\x9e\x96\xe1\x9e\xb7\xe1\x9e\x9f\xe1\x9f\x81\xe1\x9e\x9f\xe1"
    "\x9e\xa2\xe1\x9e\xb6\xe1\x9e\x85\xf0\x9f\x98\x81 ?\xe6\x88\x91\xe6\x83\xb3\xe5\x9c\xa8" "apple\xe5\xb7"
    "\xa5\xe4\xbd\x9c" "1314151\xe5\xa4\xa9\xef\xbd\x9e ------======= \xd0\xbd\xd0\xb5\xd1\x89\xd0\xbe \xd0"
    "\xbd\xd0\xb0 \xd0\x91\xd1\x8a\xd0\xbb\xd0\xb3\xd0\xb0\xd1\x80\xd1\x81\xd0\xba\xd0\xb8 ''''''```````\"\""
    "\"\"......!!!!!!?????? I've been 'told he's there, 'RE you sure? 'M not sure I'll make it, 'D you like "
    "some tea? We'Ve a'lL";

/* sha256 of Python's str() of the probe text's ids, e.g. "[128000, 198, 4815]". */
static slm_status probe_hash(const export_ctx *c, char hex[65], slm_error *err) {
    slm_tokenizer *tok = NULL;
    slm_status st = slm_tokenizer_load_json_mem(c->tok_buf, c->tok_len, c->cfg_buf, c->cfg_len, &tok, err);
    if (st) return st;
    slm_tokens ids = {0};
    st = slm_tokenize(tok, k_chktxt, sizeof k_chktxt - 1, (slm_tokenize_flags){true, true}, &ids, err);
    slm_tokenizer_free(tok);
    if (st) return st;
    slm_sha256 h;
    slm_sha256_init(&h);
    slm_sha256_update(&h, "[", 1);
    for (size_t i = 0; i < ids.n; i++) {
        char num[24];
        int len = snprintf(num, sizeof num, i ? ", %d" : "%d", (int)ids.ids[i]);
        slm_sha256_update(&h, num, (size_t)len);
    }
    slm_sha256_update(&h, "]", 1);
    uint8_t d[32];
    slm_sha256_final(&h, d);
    slm_sha256_to_hex(d, hex);
    slm_tokens_free(&ids);
    return SLM_OK;
}

/* The pre-tokenizer's Split regex (first Split step), or NULL. */
static const char *split_regex(const cJSON *pre) {
    if (!cJSON_IsObject(pre)) return NULL;
    const char *type = json_str(pre, "type");
    if (type && !strcmp(type, "Split")) return json_str(obj_get(pre, "pattern"), "Regex");
    const cJSON *list = obj_get(pre, "pretokenizers"), *it;
    if (!cJSON_IsArray(list)) list = NULL;
    cJSON_ArrayForEach(it, list) {
        const char *r = split_regex(it);
        if (r) return r;
    }
    return NULL;
}

/* tokenizer.ggml.pre: llama.cpp's hash table first; if our ids of the probe text hash to nothing
 * known, the Split regex of the common families (same pre-tokenization in llama.cpp). */
static slm_status detect_pre(const export_ctx *c, const char **name, slm_error *err) {
    char hex[65] = "";
    slm_error e2 = {0};
    if (!probe_hash(c, hex, &e2))
        for (size_t i = 0; i < sizeof k_pre_hashes / sizeof *k_pre_hashes; i++)
            if (!strcmp(hex, k_pre_hashes[i].hash)) {
                *name = k_pre_hashes[i].name;
                return SLM_OK;
            }
    static const struct {
        const char *regex, *name;
    } k_regexes[] = {
        {"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
         "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
         "llama-bpe"},
        {"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
         "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
         "qwen2"},
    };
    const char *re = split_regex(obj_get(c->tok, "pre_tokenizer"));
    for (size_t i = 0; re && i < sizeof k_regexes / sizeof *k_regexes; i++)
        if (!strcmp(re, k_regexes[i].regex)) {
            *name = k_regexes[i].name;
            return SLM_OK;
        }
    const cJSON *pre = obj_get(c->tok, "pre_tokenizer");
    const char *type = json_str(pre, "type");
    if (type && !strcmp(type, "ByteLevel") && cJSON_IsTrue(obj_get(pre, "use_regex"))) {
        *name = "gpt-2";
        return SLM_OK;
    }
    return slm_fail(err, SLM_E_UNSUPPORTED,
                    "BPE pre-tokenizer not recognized (probe hash %s%s%s): llama.cpp has no name for it", hex,
                    e2.code ? ": " : "", e2.code ? e2.msg : "");
}

/* ---- Special tokens, chat template ------------------------------------------------------------ */

/* gguf-py SpecialVocab.add_to_gguf for ids, add_bos/add_eos and the chat template. n_vocab < 0:
 * no range check (the gpt2 path passes none). */
static slm_status write_special(const export_ctx *c, int64_t n_vocab, gguf_writer *w, slm_error *err) {
    static const char *const keys[N_SPECIAL_TYPES] = {KEY("bos_token_id"), KEY("eos_token_id"),
                                                      KEY("unknown_token_id"), KEY("seperator_token_id"),
                                                      KEY("padding_token_id"), NULL /* cls: no writer */,
                                                      KEY("mask_token_id")};
    int64_t ids[N_SPECIAL_TYPES];
    int order[2 * N_SPECIAL_TYPES], n_order = 0;
    for (int k = 0; k < N_SPECIAL_TYPES; k++) {
        ids[k] = config_token_id(c, k_special_types[k]);
        if (ids[k] >= 0 && n_vocab >= 0 && ids[k] >= n_vocab) ids[k] = -1;
        if (ids[k] >= 0) order[n_order++] = k;
    }
    for (int k = 0; k < N_SPECIAL_TYPES; k++) { /* config.json fills the ones still unset, after */
        char name[32];
        snprintf(name, sizeof name, "%s_token_id", k_special_types[k]);
        int64_t id;
        if (ids[k] >= 0 || !json_int(obj_get(c->mcfg, name), 0, MAX_VOCAB - 1, &id)) continue;
        if (n_vocab >= 0 && id >= n_vocab) continue;
        ids[k] = id;
        order[n_order++] = k;
    }
    slm_status st = SLM_OK;
    for (int i = 0; !st && i < n_order; i++)
        if (keys[order[i]]) st = gguf_writer_add_u32(w, keys[order[i]], (uint32_t)ids[order[i]], err);
    for (int k = 0; !st && k < 2; k++) { /* add_bos_token, add_eos_token: only when the config says */
        const cJSON *v = obj_get(c->cfg, k ? "add_eos_token" : "add_bos_token");
        if (cJSON_IsBool(v)) st = gguf_writer_add_bool(w, k ? KEY("add_eos_token") : KEY("add_bos_token"), cJSON_IsTrue(v), err);
    }
    return st;
}

/* A template name with every non-alphanumeric byte turned into '_' (as gguf-py). */
static void clean_template_name(const char *name, char out[128]) {
    size_t k = 0;
    for (const char *p = name; *p && k + 1 < 128; p++)
        out[k++] = ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9')) ? *p : '_';
    out[k] = 0;
}

#define MAX_NAMED_TEMPLATES 32

/* tokenizer_config.json's chat_template: a string, or a list of {name, template} (the "default"
 * one becomes tokenizer.chat_template, the others tokenizer.chat_template.NAME, listed in
 * tokenizer.chat_templates). Without one, a chat_template.jinja file next to it (where newer
 * transformers save it). */
static slm_status write_chat_template(const export_ctx *c, gguf_writer *w, slm_error *err) {
    const cJSON *t = obj_get(c->cfg, "chat_template");
    if (cJSON_IsString(t)) return gguf_writer_add_str(w, "tokenizer.chat_template", t->valuestring, err);
    slm_status st = SLM_OK;
    if (cJSON_IsArray(t)) {
        const char *dflt = NULL;
        char names[MAX_NAMED_TEMPLATES][128];
        const char *ptrs[MAX_NAMED_TEMPLATES];
        int n_names = 0;
        const cJSON *it;
        cJSON_ArrayForEach(it, t) {
            const char *name = json_str(it, "name"), *tpl = json_str(it, "template");
            if (!name || !name[0] || !tpl) continue;
            char clean[128], key[192];
            clean_template_name(name, clean);
            if (!strcmp(clean, "default")) {
                dflt = tpl;
                continue;
            }
            snprintf(key, sizeof key, "tokenizer.chat_template.%s", clean);
            if ((st = gguf_writer_add_str(w, key, tpl, err))) return st;
            if (n_names < MAX_NAMED_TEMPLATES) {
                memcpy(names[n_names], clean, sizeof clean);
                ptrs[n_names] = names[n_names];
                n_names++;
            }
        }
        if (n_names && (st = gguf_writer_add_arr_str(w, "tokenizer.chat_templates", ptrs, (uint64_t)n_names, err)))
            return st;
        return dflt ? gguf_writer_add_str(w, "tokenizer.chat_template", dflt, err) : SLM_OK;
    }
    if (t && !cJSON_IsNull(t)) return SLM_OK; /* gguf-py ignores a chat_template of another type */
    char path[4096], *data;
    size_t len;
    snprintf(path, sizeof path, "%s/chat_template.jinja", c->dir);
    if (!slm_path_exists(path)) return SLM_OK;
    if ((st = slm_file_read_all(path, CFG_MAX_BYTES, &data, &len, err))) return st;
    st = gguf_writer_add_strn(w, "tokenizer.chat_template", data, len, err);
    free(data);
    return st;
}

/* ---- Driver ---------------------------------------------------------------------------------- */

/* Architectures whose llama.cpp converter class (LlamaModel) reads an HF-only byte-fallback
 * tokenizer with LlamaHfVocab and honours tokenizer_config's add_prefix_space. */
static bool is_llama_family(const cJSON *mcfg) {
    const cJSON *a = obj_get(mcfg, "architectures");
    const char *arch = cJSON_IsArray(a) && cJSON_IsString(cJSON_GetArrayItem(a, 0)) ? cJSON_GetArrayItem(a, 0)->valuestring : "";
    static const char *const names[] = {"LLaMAForCausalLM", "LlamaForCausalLM", "MistralForCausalLM", "MixtralForCausalLM"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (!strcmp(arch, names[i])) return true;
    return false;
}

/* Does the tokenizer prepend U+2581 to the text (Prepend normalizer or a Metaspace step)? */
static bool prepends_space(const cJSON *step) {
    const char *type = json_str(step, "type");
    if (!type) return false;
    if (!strcmp(type, "Prepend")) return true;
    if (!strcmp(type, "Metaspace")) {
        const char *scheme = json_str(step, "prepend_scheme");
        return scheme ? strcmp(scheme, "never") != 0 : json_true(step, "add_prefix_space");
    }
    const cJSON *list = obj_get(step, "normalizers"), *it;
    if (!cJSON_IsArray(list)) list = obj_get(step, "pretokenizers");
    if (!cJSON_IsArray(list)) list = NULL;
    cJSON_ArrayForEach(it, list) if (prepends_space(it)) return true;
    return false;
}

static void ctx_free(export_ctx *c) {
    for (int64_t i = 0; c->owned && i < c->n; i++) free(c->owned[i]);
    free(c->owned);
    free(c->texts);
    free(c->types);
    free(c->scores);
    free(c->ids);
    cJSON_Delete(c->tok);
    cJSON_Delete(c->cfg);
    cJSON_Delete(c->mcfg);
    free(c->tok_buf);
    free(c->cfg_buf);
}

static slm_status export_vocab(export_ctx *c, gguf_writer *w, slm_error *err) {
    slm_status st;
    const char *type = json_str(c->model, "type");
    if (!type || strcmp(type, "BPE"))
        return slm_fail(err, SLM_E_UNSUPPORTED, "tokenizer.json: model type \"%s\" cannot be exported (BPE only)",
                        type ? type : "?");
    const char *dec = json_str(obj_get(c->tok, "decoder"), "type");
    bool byte_fallback = json_true(c->model, "byte_fallback"), llama = is_llama_family(c->mcfg);
    if (!byte_fallback && dec && !strcmp(dec, "ByteLevel")) c->kind = VK_GPT2;
    else if (byte_fallback) c->kind = llama ? VK_LLAMA_HF : VK_SPM_SCORED;
    else return slm_fail(err, SLM_E_UNSUPPORTED, "tokenizer.json: BPE that is neither byte-level nor byte-fallback");

    int64_t nv = config_vocab_size(c->mcfg);
    const char *pre = "default";
    if (c->kind == VK_GPT2 && (st = detect_pre(c, &pre, err))) return st;
    /* Up to config vocab_size in every shape: the embedding has that many rows (LlamaHfVocab
     * alone would stop at the tokenizer's size and give llama.cpp a file it refuses). */
    if ((st = build_id_table(c, nv < 0 ? 0 : nv, err))) return st;
    if (c->kind == VK_GPT2 && nv > 0 && c->n_ids > nv)
        return slm_fail(err, SLM_E_FORMAT, "tokenizer has id %lld but config.json vocab_size is %lld",
                        (long long)c->n_ids - 1, (long long)nv);
    if (c->kind == VK_LLAMA_HF) {
        st = vocab_llama_hf(c, err);
    } else {
        st = alloc_vocab(c, nv > 0 ? nv : c->n_ids, err); /* ids >= config vocab_size are dropped */
        if (!st) st = c->kind == VK_GPT2 ? vocab_gpt2(c, err) : vocab_spm_scored(c, err);
    }
    if (st) return st;

    bool spm = c->kind != VK_GPT2;
    uint64_t n = (uint64_t)c->n;
    if ((st = gguf_writer_add_str(w, KEY("model"), spm ? "llama" : "gpt2", err))) return st;
    if ((st = gguf_writer_add_str(w, KEY("pre"), pre, err))) return st;
    if ((st = gguf_writer_add_arr_gstr(w, KEY("tokens"), c->texts, n, err))) return st;
    if (spm && (st = gguf_writer_add_arr(w, KEY("scores"), GGUF_TYPE_FLOAT32, c->scores, n, err))) return st;
    if ((st = gguf_writer_add_arr(w, KEY("token_type"), GGUF_TYPE_INT32, c->types, n, err))) return st;
    if (!spm && (st = write_merges(c, w, err))) return st;
    if ((st = write_special(c, spm ? c->n : -1, w, err))) return st;
    if ((st = write_chat_template(c, w, err))) return st;
    if (llama) { /* LlamaModel.set_vocab, whatever the vocabulary */
        const cJSON *v = obj_get(c->cfg, "add_prefix_space");
        if (cJSON_IsBool(v)) return gguf_writer_add_bool(w, KEY("add_space_prefix"), cJSON_IsTrue(v), err);
    } else if (c->kind == VK_SPM_SCORED) {
        bool prepend = prepends_space(obj_get(c->tok, "normalizer")) || prepends_space(obj_get(c->tok, "pre_tokenizer"));
        return gguf_writer_add_bool(w, KEY("add_space_prefix"), prepend, err);
    }
    return SLM_OK;
}

slm_status slm_tokenizer_export_gguf(const char *hf_dir, gguf_writer *w, slm_error *err) {
    export_ctx c = {.dir = hf_dir};
    slm_status st = read_json(hf_dir, "tokenizer.json", JSON_MAX_BYTES, true, &c.tok_buf, &c.tok_len, &c.tok, err);
    if (!st) st = read_json(hf_dir, "tokenizer_config.json", CFG_MAX_BYTES, false, &c.cfg_buf, &c.cfg_len, &c.cfg, err);
    if (!st) st = read_json(hf_dir, "config.json", CFG_MAX_BYTES, false, NULL, NULL, &c.mcfg, err);
    if (!st) {
        c.model = obj_get(c.tok, "model");
        c.added = cJSON_IsArray(obj_get(c.tok, "added_tokens")) ? obj_get(c.tok, "added_tokens") : NULL;
        st = export_vocab(&c, w, err);
    }
    ctx_free(&c);
    return st;
}
