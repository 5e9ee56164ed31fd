/* Chat session: conversation -> template -> tokens -> KV-cache prefix reuse -> sampling -> text.
 * See chat_session.h for the policies (tokenization of contents, context overflow). */
#include "chat/chat_session.h"
#include "sample/json_constrain.h"
#include "sample/stop.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/error.h"
#include "gguf/gguf.h"
#include "hf/hf_folder.h"
#include "model/loader.h"

#define CHAT_MAX_MESSAGES 100000
#define CHAT_MAX_EXTRA_EOS 16

struct chat_session {
    const slm_model *m;
    const slm_tokenizer *tok;
    const chat_template_source *tmpl;
    slm_context *ctx;
    cJSON *messages;        /* array of {"role","content"} */
    slm_tokens cache;       /* tokens of sequence 0 in the KV cache, positions 0 .. n-1 */
    slm_batch_entry *batch; /* n_ctx entries, for prompt decoding */
    int32_t n_ctx;
    int32_t extra_eos[CHAT_MAX_EXTRA_EOS]; /* eos ids from model metadata / generation_config */
    int n_extra_eos;
    json_constraint *jc; /* borrowed; output constraint of every turn, or NULL */
    slm_stop *stop;      /* borrowed; stop strings of every turn, or NULL */
    float *masked;       /* n_vocab logits, for the constraint's mask */
};

void chat_session_set_stop(chat_session *s, slm_stop *stop) { s->stop = stop; }

slm_status chat_session_set_constraint(chat_session *s, json_constraint *c, slm_error *err) {
    if (c && !s->masked) {
        s->masked = malloc((size_t)slm_context_n_vocab(s->ctx) * sizeof(float));
        if (!s->masked) return slm_fail(err, SLM_E_NOMEM, "out of memory");
    }
    s->jc = c;
    return SLM_OK;
}

const char *chat_stop_reason_name(chat_stop_reason r) {
    switch (r) {
    case CHAT_STOP_EOS:
        return "eos";
    case CHAT_STOP_LENGTH:
        return "length";
    case CHAT_STOP_CONTEXT:
        return "context";
    case CHAT_STOP_CANCELLED:
        return "cancelled";
    case CHAT_STOP_STRING:
        return "stop";
    }
    return "unknown";
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---- sampling defaults ------------------------------------------------------------------- */

static bool json_num(const cJSON *o, const char *key, double *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsNumber(v)) return false;
    *out = v->valuedouble;
    return true;
}

/* llama.cpp writes general.sampling.* as f32 / u32, other tools as f64 or i32: accept those. */
static bool gguf_num(const gguf_file *f, const char *key, double *out) {
    float f32;
    double f64;
    int32_t i32;
    uint32_t u32;
    if (gguf_get_f32(f, key, &f32))
        *out = f32;
    else if (gguf_get_f64(f, key, &f64))
        *out = f64;
    else if (gguf_get_i32(f, key, &i32))
        *out = i32;
    else if (gguf_get_u32(f, key, &u32))
        *out = u32;
    else
        return false;
    return true;
}

slm_sampler_params chat_sampler_defaults(const slm_model *m) {
    slm_sampler_params p = slm_sampler_default_params();
    p.temperature = 0.8f;
    p.top_k = 40;
    p.top_p = 0.9f;
    p.min_p = 0.05f;
    p.repeat_penalty = 1.0f;
    if (!m) return p;
    double v;
    const gguf_file *g = slm_model_gguf(m);
    const hf_folder *hf = slm_model_hf(m);
    if (g) {
        if (gguf_num(g, "general.sampling.temp", &v) && v >= 0 && v <= 100) p.temperature = (float)v;
        if (gguf_num(g, "general.sampling.top_k", &v) && v >= 0 && v <= 1e7) p.top_k = (int32_t)v;
        if (gguf_num(g, "general.sampling.top_p", &v) && v >= 0 && v <= 1) p.top_p = (float)v;
        if (gguf_num(g, "general.sampling.min_p", &v) && v >= 0 && v <= 1) p.min_p = (float)v;
        if (gguf_num(g, "general.sampling.penalty_repeat", &v) && v > 0 && v <= 100) p.repeat_penalty = (float)v;
    } else if (hf && hf_generation_config(hf)) {
        const cJSON *gc = hf_generation_config(hf);
        if (json_num(gc, "temperature", &v) && v >= 0 && v <= 100) p.temperature = (float)v;
        if (json_num(gc, "top_k", &v) && v >= 0 && v <= 1e7) p.top_k = (int32_t)v;
        if (json_num(gc, "top_p", &v) && v >= 0 && v <= 1) p.top_p = (float)v;
        if (json_num(gc, "min_p", &v) && v >= 0 && v <= 1) p.min_p = (float)v;
        if (json_num(gc, "repetition_penalty", &v) && v > 0 && v <= 100) p.repeat_penalty = (float)v;
        /* transformers samples only with do_sample true; otherwise generate() is greedy */
        if (cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(gc, "do_sample"))) p.temperature = 0;
    }
    return p;
}

slm_status chat_sampler_new(const slm_sampler_params *p, const slm_tokenizer *tok, int64_t n_vocab_model,
                            slm_sampler **out, slm_error *err) {
    *out = NULL;
    const int64_t n_tok = slm_tokenizer_n_vocab(tok);
    if (n_vocab_model < 1 || n_vocab_model > INT32_MAX || p->n_logit_bias < 0)
        return slm_fail(err, SLM_E_INVALID_ARG, "sampler: bad vocabulary size %lld", (long long)n_vocab_model);
    if (n_vocab_model <= n_tok) return slm_sampler_new(p, (int32_t)n_vocab_model, out, err);
    const int64_t n_ban = n_vocab_model - n_tok, n_all = n_ban + p->n_logit_bias;
    slm_logit_bias *bias = malloc((size_t)n_all * sizeof *bias);
    if (!bias) return slm_fail(err, SLM_E_NOMEM, "out of memory for the sampler");
    if (p->n_logit_bias) memcpy(bias, p->logit_bias, (size_t)p->n_logit_bias * sizeof *bias);
    for (int64_t i = 0; i < n_ban; i++)
        bias[p->n_logit_bias + i] = (slm_logit_bias){(int32_t)(n_tok + i), -INFINITY};
    slm_sampler_params q = *p;
    q.logit_bias = bias;
    q.n_logit_bias = (int32_t)n_all;
    slm_status st = slm_sampler_new(&q, (int32_t)n_vocab_model, out, err);
    free(bias);
    return st;
}

/* ---- life cycle ---------------------------------------------------------------------------- */

static void add_extra_eos(chat_session *s, double id) {
    if (id < 0 || id >= (double)slm_tokenizer_n_vocab(s->tok) || s->n_extra_eos >= CHAT_MAX_EXTRA_EOS) return;
    s->extra_eos[s->n_extra_eos++] = (int32_t)id;
}

slm_status chat_session_new(const slm_model *m, const slm_tokenizer *tok, const chat_template_source *tmpl,
                            slm_context *ctx, chat_session **out, slm_error *err) {
    *out = NULL;
    if (!m || !tok || !ctx)
        return slm_fail(err, SLM_E_INVALID_ARG, "chat session needs a model, tokenizer and context");
    chat_session *s = calloc(1, sizeof *s);
    if (!s) return slm_fail(err, SLM_E_NOMEM, "out of memory for the chat session");
    s->m = m;
    s->tok = tok;
    s->tmpl = tmpl;
    s->ctx = ctx;
    s->n_ctx = slm_context_n_ctx(ctx);
    s->messages = cJSON_CreateArray();
    s->batch = malloc((size_t)s->n_ctx * sizeof *s->batch);
    if (!s->messages || !s->batch) {
        int32_t n_ctx = s->n_ctx;
        chat_session_free(s);
        return slm_fail(err, SLM_E_NOMEM, "out of memory for the chat session (%d positions)", n_ctx);
    }
    /* generation_config.json may list eos ids the tokenizer does not mark as end of turn */
    if (m->hp.eos_id >= 0) add_extra_eos(s, (double)m->hp.eos_id);
    const hf_folder *hf = slm_model_hf(m);
    const cJSON *gc = hf ? hf_generation_config(hf) : NULL;
    const cJSON *e = gc ? cJSON_GetObjectItemCaseSensitive(gc, "eos_token_id") : NULL;
    if (cJSON_IsNumber(e))
        add_extra_eos(s, e->valuedouble);
    else if (cJSON_IsArray(e)) {
        const cJSON *it;
        cJSON_ArrayForEach(it, e) if (cJSON_IsNumber(it)) add_extra_eos(s, it->valuedouble);
    }
    slm_seq_remove(ctx, 0, 0, -1); /* the cache bookkeeping starts empty */
    *out = s;
    return SLM_OK;
}

void chat_session_free(chat_session *s) {
    if (!s) return;
    cJSON_Delete(s->messages);
    slm_tokens_free(&s->cache);
    free(s->batch);
    free(s->masked);
    free(s);
}

static bool is_eog(const chat_session *s, int32_t id) {
    if (slm_tokenizer_is_eot(s->tok, id)) return true;
    for (int i = 0; i < s->n_extra_eos; i++)
        if (s->extra_eos[i] == id) return true;
    return false;
}

/* ---- messages ------------------------------------------------------------------------------ */

static const char *msg_str(const cJSON *msg, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(msg, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static bool msg_is_system(const cJSON *msg) {
    const char *r = msg_str(msg, "role");
    return r && !strcmp(r, "system");
}

static cJSON *make_msg(const char *role, const char *content) {
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    if (!cJSON_AddStringToObject(o, "role", role) || !cJSON_AddStringToObject(o, "content", content)) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

const char *chat_session_system(const chat_session *s) {
    const cJSON *first = cJSON_GetArrayItem(s->messages, 0);
    return first && msg_is_system(first) ? msg_str(first, "content") : NULL;
}

slm_status chat_session_set_system(chat_session *s, const char *text, slm_error *err) {
    cJSON *first = cJSON_GetArrayItem(s->messages, 0);
    if (first && msg_is_system(first)) cJSON_DeleteItemFromArray(s->messages, 0);
    if (!text || !*text) return SLM_OK;
    cJSON *m = make_msg("system", text);
    if (!m || !cJSON_InsertItemInArray(s->messages, 0, m)) {
        cJSON_Delete(m);
        return slm_fail(err, SLM_E_NOMEM, "out of memory for the system prompt");
    }
    return SLM_OK;
}

void chat_session_clear(chat_session *s) {
    int n = cJSON_GetArraySize(s->messages);
    int keep = n > 0 && msg_is_system(cJSON_GetArrayItem(s->messages, 0)) ? 1 : 0;
    while (cJSON_GetArraySize(s->messages) > keep)
        cJSON_DeleteItemFromArray(s->messages, keep);
    slm_seq_remove(s->ctx, 0, 0, -1);
    s->cache.n = 0;
}

const cJSON *chat_session_messages(const chat_session *s) { return s->messages; }

int32_t chat_session_n_cached(const chat_session *s) { return (int32_t)s->cache.n; }

slm_status chat_session_set_messages(chat_session *s, const cJSON *messages, slm_error *err) {
    static const char *const roles[] = {"system", "user", "assistant", "tool"};
    if (!cJSON_IsArray(messages)) return slm_fail(err, SLM_E_FORMAT, "messages must be a JSON array");
    if (cJSON_GetArraySize(messages) > CHAT_MAX_MESSAGES)
        return slm_fail(err, SLM_E_FORMAT, "too many messages (limit %d)", CHAT_MAX_MESSAGES);
    cJSON *copy = cJSON_CreateArray();
    if (!copy) return slm_fail(err, SLM_E_NOMEM, "out of memory for messages");
    int i = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, messages) {
        const char *role = msg_str(it, "role"), *content = msg_str(it, "content");
        bool ok_role = false;
        for (size_t r = 0; role && r < sizeof roles / sizeof roles[0]; r++)
            ok_role |= !strcmp(role, roles[r]);
        if (!cJSON_IsObject(it) || !ok_role || !content) {
            cJSON_Delete(copy);
            return slm_fail(err, SLM_E_FORMAT,
                            "message %d: need \"role\" (system, user, assistant or tool) and a string \"content\"", i);
        }
        cJSON *m = make_msg(role, content);
        if (!m || !cJSON_AddItemToArray(copy, m)) {
            cJSON_Delete(m);
            cJSON_Delete(copy);
            return slm_fail(err, SLM_E_NOMEM, "out of memory for messages");
        }
        i++;
    }
    cJSON_Delete(s->messages);
    s->messages = copy;
    return SLM_OK;
}

/* ---- prompt tokenization ------------------------------------------------------------------- */

static const char *find_bytes(const char *hay, size_t n, const char *needle, size_t m) {
    if (m == 0 || m > n) return NULL;
    for (size_t i = 0; i + m <= n; i++) {
        const char *p = memchr(hay + i, needle[0], n - m - i + 1);
        if (!p) return NULL;
        if (!memcmp(p, needle, m)) return p;
        i = (size_t)(p - hay);
    }
    return NULL;
}

slm_status chat_tokenize_rendered(const slm_tokenizer *tok, const char *text, size_t len, const cJSON *messages,
                                  slm_tokens *out, slm_error *err) {
    const slm_tokenize_flags tmpl_flags = {false, true}, user_flags = {false, false};
    size_t cur = 0;
    const cJSON *it;
    slm_status st;
    cJSON_ArrayForEach(it, messages) {
        const char *c = msg_str(it, "content");
        if (!c || !*c) continue;
        size_t clen = strlen(c);
        const char *p = find_bytes(text + cur, len - cur, c, clen);
        if (!p) continue; /* rewritten by the template: stays part of the template text */
        size_t at = (size_t)(p - text);
        if (at > cur && (st = slm_tokenize(tok, text + cur, at - cur, tmpl_flags, out, err))) return st;
        if ((st = slm_tokenize(tok, p, clen, user_flags, out, err))) return st;
        cur = at + clen;
    }
    if (cur < len && (st = slm_tokenize(tok, text + cur, len - cur, tmpl_flags, out, err))) return st;
    return SLM_OK;
}

/* Render messages (+ add_generation_prompt) with the template; *text malloc'd. */
static slm_status render(const chat_session *s, const cJSON *messages, char **text, size_t *len, slm_error *err) {
    cJSON *req = cJSON_CreateObject();
    cJSON *msgs = cJSON_Duplicate(messages, true);
    if (!req || !msgs || !cJSON_AddBoolToObject(req, "add_generation_prompt", true)) {
        cJSON_Delete(req);
        cJSON_Delete(msgs);
        return slm_fail(err, SLM_E_NOMEM, "out of memory rendering the chat template");
    }
    if (!cJSON_AddItemToObject(req, "messages", msgs)) {
        cJSON_Delete(req);
        cJSON_Delete(msgs);
        return slm_fail(err, SLM_E_NOMEM, "out of memory rendering the chat template");
    }
    slm_status st = chat_template_apply(s->tmpl, req, -1, text, len, NULL, err);
    cJSON_Delete(req);
    if (st) slm_error_prefix(err, "chat template");
    return st;
}

/* Markers standing for message i in a second rendering: "\x02<i>\x03" (control characters that
 * neither templates nor chat text use). */
#define MARK_OPEN '\x02'
#define MARK_CLOSE '\x03'

/* Walk a marked rendering: calls seg(kind, bytes) for each template piece (kind 0) and each
 * message content (kind 1) in order. False if a marker is malformed. */
typedef bool (*seg_fn)(void *u, int kind, const char *p, size_t n);
static bool walk_marked(const char *m, size_t mlen, const cJSON *messages, seg_fn seg, void *u) {
    size_t i = 0, start = 0;
    while (i < mlen) {
        if (m[i] != MARK_OPEN) {
            i++;
            continue;
        }
        if (i > start && !seg(u, 0, m + start, i - start)) return false;
        size_t j = i + 1;
        long idx = 0;
        while (j < mlen && m[j] >= '0' && m[j] <= '9' && idx < 10000000)
            idx = idx * 10 + (m[j++] - '0');
        if (j == i + 1 || j >= mlen || m[j] != MARK_CLOSE) return false;
        const char *c = msg_str(cJSON_GetArrayItem(messages, (int)idx), "content");
        if (!c || !seg(u, 1, c, strlen(c))) return false;
        i = start = j + 1;
    }
    return start >= mlen || seg(u, 0, m + start, mlen - start);
}

/* Pass 1: the segments spell exactly the real rendering. */
typedef struct seg_check {
    const char *text;
    size_t len, at;
} seg_check;
static bool seg_compare(void *u, int kind, const char *p, size_t n) {
    seg_check *c = u;
    (void)kind;
    if (n > c->len - c->at || memcmp(c->text + c->at, p, n)) return false;
    c->at += n;
    return true;
}

/* Pass 2: tokenize each segment with its flags. */
typedef struct seg_tok {
    const slm_tokenizer *tok;
    slm_tokens *out;
    slm_error *err;
    slm_status st;
} seg_tok;
static bool seg_tokenize(void *u, int kind, const char *p, size_t n) {
    seg_tok *t = u;
    slm_tokenize_flags f = {false, kind == 0};
    t->st = slm_tokenize(t->tok, p, n, f, t->out, t->err);
    return t->st == SLM_OK;
}

/* Exact content spans from a second rendering with markers; *done false (nothing appended) when
 * the template looked inside the contents (the renderings disagree) or markers are unusable. */
static slm_status tokenize_marked(const chat_session *s, const cJSON *messages, const char *text, size_t len,
                                  slm_tokens *out, bool *done, slm_error *err) {
    *done = false;
    if (memchr(text, MARK_OPEN, len)) return SLM_OK;
    cJSON *marked = cJSON_Duplicate(messages, true);
    if (!marked) return slm_fail(err, SLM_E_NOMEM, "out of memory rendering the chat template");
    int i = 0;
    cJSON *it;
    cJSON_ArrayForEach(it, marked) {
        cJSON *c = cJSON_GetObjectItemCaseSensitive(it, "content");
        /* empty contents stay: a template may test them for truth */
        if (cJSON_IsString(c) && c->valuestring[0] && !strchr(c->valuestring, MARK_OPEN)) {
            char mark[24];
            snprintf(mark, sizeof mark, "%c%d%c", MARK_OPEN, i, MARK_CLOSE);
            cJSON *nc = cJSON_CreateString(mark);
            if (!nc || !cJSON_ReplaceItemInObjectCaseSensitive(it, "content", nc)) {
                cJSON_Delete(nc);
                cJSON_Delete(marked);
                return slm_fail(err, SLM_E_NOMEM, "out of memory rendering the chat template");
            }
        }
        i++;
    }
    char *m = NULL;
    size_t mlen = 0;
    slm_error ignore = {0};
    slm_status st = render(s, marked, &m, &mlen, &ignore);
    cJSON_Delete(marked);
    if (st) return SLM_OK; /* the template disliked the markers: fall back */
    seg_check chk = {text, len, 0};
    if (walk_marked(m, mlen, messages, seg_compare, &chk) && chk.at == len) {
        size_t n0 = out->n;
        seg_tok t = {s->tok, out, err, SLM_OK};
        walk_marked(m, mlen, messages, seg_tokenize, &t);
        if (t.st) out->n = n0;
        st = t.st;
        *done = st == SLM_OK;
    }
    free(m);
    return st;
}

slm_status chat_session_tokenize_prompt(const chat_session *s, const cJSON *messages, slm_tokens *out, slm_error *err) {
    if (!s->tmpl)
        return slm_fail(err, SLM_E_UNSUPPORTED, "the model has no chat template (use --raw for plain completion)");
    char *text = NULL;
    size_t len = 0;
    slm_status st = render(s, messages, &text, &len, err);
    if (st) return st;
    bool done = false;
    st = tokenize_marked(s, messages, text, len, out, &done, err);
    if (!st && !done) st = chat_tokenize_rendered(s->tok, text, len, messages, out, err);
    free(text);
    return st;
}

/* ---- generation ---------------------------------------------------------------------------- */

/* Growable text buffer for the answer. */
typedef struct text_buf {
    char *p;
    size_t n, cap;
    bool oom;
} text_buf;

static void text_append(text_buf *b, const char *s, size_t n) {
    if (b->oom || n == 0) return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n + 1)
            cap *= 2;
        char *np = realloc(b->p, cap);
        if (!np) {
            b->oom = true;
            return;
        }
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

/* After a failed or cancelled decode, the cache keeps only whole chunks: trust the context. */
static void cache_resync(chat_session *s) {
    int32_t n = slm_seq_pos_max(s->ctx, 0) + 1;
    if (n < 0) n = 0;
    if ((size_t)n < s->cache.n) s->cache.n = (size_t)n;
}

typedef struct gen_sink {
    chat_piece_fn fn;
    void *user;
    text_buf text;
    bool stopped; /* the callback asked to stop */
} gen_sink;

static void sink_emit(gen_sink *k, const char *t, size_t n) {
    if (n == 0) return;
    text_append(&k->text, t, n);
    if (k->fn && !k->stopped && !k->fn(k->user, t, n)) k->stopped = true;
}

/* Decode prompt (reusing the cached prefix), then sample until a stop. prime: feed the prompt to
 * the detokenizer first, so that a continuation is decoded as part of the prompt's text (leading
 * space handling) rather than as a fresh string. */
static slm_status generate(chat_session *s, const int32_t *prompt, size_t n_prompt, bool prime, slm_sampler *smp,
                           int32_t n_predict, gen_sink *sink, chat_turn_stats *st, slm_error *err) {
    const double t0 = now_s();
    if (n_prompt == 0) return slm_fail(err, SLM_E_INVALID_ARG, "the prompt is empty (no tokens)");
    if (n_prompt > (size_t)s->n_ctx)
        return slm_fail(err, SLM_E_RANGE, "the prompt is %zu tokens but the context holds %d (raise --ctx)", n_prompt,
                        s->n_ctx);
    st->n_prompt = (int32_t)n_prompt;
    size_t keep = 0;
    while (keep < s->cache.n && keep < n_prompt && s->cache.ids[keep] == prompt[keep])
        keep++;
    if (keep == n_prompt) keep--; /* the last prompt token must be decoded again for its logits */
    slm_seq_remove(s->ctx, 0, (int32_t)keep, -1);
    s->cache.n = keep;
    st->n_reused = (int32_t)keep;
    st->n_decoded = (int32_t)(n_prompt - keep);
    for (size_t i = keep; i < n_prompt; i++)
        s->batch[i - keep] = (slm_batch_entry){prompt[i], (int32_t)i, 0, i + 1 == n_prompt};
    slm_status rc = slm_decode(s->ctx, s->batch, (int32_t)(n_prompt - keep), err);
    st->t_prompt = now_s() - t0;
    if (rc == SLM_E_CANCELLED) {
        cache_resync(s);
        st->stop = CHAT_STOP_CANCELLED;
        return SLM_OK;
    }
    if (rc) {
        cache_resync(s);
        return rc;
    }
    for (size_t i = keep; i < n_prompt; i++)
        if ((rc = slm_tokens_push(&s->cache, prompt[i], err))) return rc;

    slm_detok_stream ds;
    slm_detok_stream_init(&ds, s->tok);
    const char *piece;
    size_t plen;
    if (prime)
        for (size_t i = 0; i < n_prompt; i++)
            slm_detok_stream_push(&ds, prompt[i], &piece, &plen, NULL);
    int32_t logits_i = (int32_t)(n_prompt - keep - 1);
    double t_gen0 = 0;
    if (s->jc) json_constraint_reset(s->jc);
    if (s->stop) slm_stop_reset(s->stop);
    st->stop = CHAT_STOP_LENGTH;
    for (;;) {
        if (n_predict >= 0 && st->n_gen >= n_predict) break;
        const float *lg = slm_context_logits(s->ctx, logits_i);
        if (!lg) {
            rc = slm_fail(err, SLM_E_INVALID_ARG, "no logits after decoding");
            break;
        }
        int32_t id;
        if (s->jc) {
            /* Constrained output: only tokens that keep a valid prefix which can still be closed
             * within the remaining budget; EOS only once the document is complete. */
            int32_t nv = slm_context_n_vocab(s->ctx);
            int32_t budget = n_predict >= 0 ? n_predict - st->n_gen : s->n_ctx - (int32_t)s->cache.n;
            memcpy(s->masked, lg, (size_t)nv * sizeof(float));
            if (json_constraint_mask(s->jc, s->masked, nv, budget) == 0) break;
            id = slm_sampler_sample(smp, s->masked);
            if (json_constraint_accept(s->jc, id) != SLM_OK) {
                rc = slm_fail(err, SLM_E_INVALID_ARG, "internal: sampled a token the constraint refused");
                break;
            }
        } else {
            id = slm_sampler_sample(smp, lg);
        }
        if (st->n_gen == 0) {
            t_gen0 = now_s();
            st->t_first_token = t_gen0 - t0;
        }
        slm_sampler_accept(smp, id);
        if (is_eog(s, id)) {
            st->stop = CHAT_STOP_EOS;
            break;
        }
        st->n_gen++;
        if ((rc = slm_detok_stream_push(&ds, id, &piece, &plen, err))) break;
        if (s->stop) {
            /* text that might start a stop string is held back until it cannot */
            const char *safe;
            size_t nsafe;
            bool hit = slm_stop_feed(s->stop, piece, plen, &safe, &nsafe);
            sink_emit(sink, safe, nsafe);
            if (hit) {
                st->stop = CHAT_STOP_STRING;
                break;
            }
        } else {
            sink_emit(sink, piece, plen);
        }
        if (sink->stopped) {
            st->stop = CHAT_STOP_CANCELLED;
            break;
        }
        if (n_predict >= 0 && st->n_gen >= n_predict) break;
        if (s->cache.n >= (size_t)s->n_ctx) {
            st->stop = CHAT_STOP_CONTEXT;
            break;
        }
        slm_batch_entry e = {id, (int32_t)s->cache.n, 0, true};
        rc = slm_decode(s->ctx, &e, 1, err);
        if (rc == SLM_E_CANCELLED) {
            rc = SLM_OK;
            cache_resync(s);
            st->stop = CHAT_STOP_CANCELLED;
            break;
        }
        if (rc) {
            cache_resync(s);
            break;
        }
        if ((rc = slm_tokens_push(&s->cache, id, err))) break;
        logits_i = 0;
    }
    slm_detok_stream_flush(&ds, &piece, &plen);
    if (s->stop && !slm_stop_hit(s->stop)) {
        const char *safe;
        size_t nsafe;
        bool hit = slm_stop_feed(s->stop, piece, plen, &safe, &nsafe);
        if (!rc) sink_emit(sink, safe, nsafe);
        if (hit) {
            st->stop = CHAT_STOP_STRING;
        } else {
            slm_stop_flush(s->stop, &safe, &nsafe); /* held-back text that never became a stop */
            if (!rc) sink_emit(sink, safe, nsafe);
        }
    } else if (!s->stop && !rc) {
        sink_emit(sink, piece, plen);
    }
    slm_detok_stream_free(&ds);
    if (st->n_gen > 0) st->t_gen = now_s() - t_gen0;
    if (!rc && sink->text.oom) rc = slm_fail(err, SLM_E_NOMEM, "out of memory for the answer text");
    return rc;
}

static slm_status finish_answer(gen_sink *sink, char **answer, slm_status rc) {
    if (answer) {
        *answer = NULL;
        if (!rc) {
            *answer = sink->text.p ? sink->text.p : calloc(1, 1);
            sink->text.p = NULL;
        }
    }
    free(sink->text.p);
    return rc;
}

slm_status chat_session_complete(chat_session *s, const char *text, size_t len, slm_sampler *smp, int32_t n_predict,
                                 chat_piece_fn on_piece, void *user, char **answer, chat_turn_stats *stats,
                                 slm_error *err) {
    chat_turn_stats local;
    if (!stats) stats = &local;
    memset(stats, 0, sizeof *stats);
    if (answer) *answer = NULL;
    slm_tokens toks = {0};
    slm_status rc = slm_tokenize(s->tok, text, len, (slm_tokenize_flags){true, true}, &toks, err);
    /* BOS written in the text and added by the tokenizer: keep one (as llama.cpp warns about) */
    const int32_t bos = slm_tokenizer_bos(s->tok);
    if (!rc && toks.n >= 2 && bos >= 0 && toks.ids[0] == bos && toks.ids[1] == bos) {
        memmove(toks.ids, toks.ids + 1, (toks.n - 1) * sizeof *toks.ids);
        toks.n--;
    }
    gen_sink sink = {on_piece, user, {0}, false};
    if (!rc) rc = generate(s, toks.ids, toks.n, true, smp, n_predict, &sink, stats, err);
    slm_tokens_free(&toks);
    return finish_answer(&sink, answer, rc);
}

/* Index of the first message after the system prompt and of the next user message after it:
 * [first, next) is the oldest turn. Returns false when only the newest user message is left. */
static bool oldest_turn(const cJSON *msgs, int *first, int *next) {
    int n = cJSON_GetArraySize(msgs);
    int f = n > 0 && msg_is_system(cJSON_GetArrayItem(msgs, 0)) ? 1 : 0;
    int j = f + 1;
    while (j < n) {
        const char *r = msg_str(cJSON_GetArrayItem(msgs, j), "role");
        if (r && !strcmp(r, "user")) break;
        j++;
    }
    if (j >= n) return false; /* the turn starting at f is the current one */
    *first = f;
    *next = j;
    return true;
}

slm_status chat_session_respond(chat_session *s, const char *user_text, slm_sampler *smp, int32_t n_predict,
                                chat_piece_fn on_piece, void *user, char **answer, chat_turn_stats *stats,
                                slm_error *err) {
    chat_turn_stats local;
    if (!stats) stats = &local;
    memset(stats, 0, sizeof *stats);
    if (answer) *answer = NULL;
    cJSON *um = make_msg("user", user_text ? user_text : "");
    if (!um || !cJSON_AddItemToArray(s->messages, um)) {
        cJSON_Delete(um);
        return slm_fail(err, SLM_E_NOMEM, "out of memory for the message");
    }
    /* room for the answer: a quarter of the context, or n_predict when that is smaller */
    int32_t reserve = s->n_ctx / 4;
    if (n_predict >= 0 && n_predict < reserve) reserve = n_predict;
    slm_tokens toks = {0};
    slm_status rc;
    for (;;) {
        toks.n = 0;
        if ((rc = chat_session_tokenize_prompt(s, s->messages, &toks, err))) break;
        if (toks.n + (size_t)reserve <= (size_t)s->n_ctx) break;
        int first, next;
        if (!oldest_turn(s->messages, &first, &next)) break; /* generate() reports a prompt too long */
        for (int i = first; i < next; i++)
            cJSON_DeleteItemFromArray(s->messages, first);
        stats->n_dropped_msgs += next - first;
    }
    gen_sink sink = {on_piece, user, {0}, false};
    if (!rc) {
        int32_t dropped = stats->n_dropped_msgs;
        rc = generate(s, toks.ids, toks.n, false, smp, n_predict, &sink, stats, err);
        stats->n_dropped_msgs = dropped;
    }
    slm_tokens_free(&toks);
    if (rc || (stats->stop == CHAT_STOP_CANCELLED && sink.text.n == 0)) {
        /* nothing to keep: the user message goes again (the cache keeps what it holds) */
        cJSON_DeleteItemFromArray(s->messages, cJSON_GetArraySize(s->messages) - 1);
    } else {
        cJSON *am = make_msg("assistant", sink.text.p ? sink.text.p : "");
        if (!am || !cJSON_AddItemToArray(s->messages, am)) {
            cJSON_Delete(am);
            rc = slm_fail(err, SLM_E_NOMEM, "out of memory for the answer");
        }
    }
    return finish_answer(&sink, answer, rc);
}
