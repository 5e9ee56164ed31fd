/* A conversation with one model on one context: the library side of `slm run`.
 *
 * The session owns the message list (OpenAI format, cJSON) and knows which tokens sit in the KV
 * cache of sequence 0 of the context. Each turn renders the whole conversation with the model's
 * chat template, tokenizes it, keeps the longest common token prefix with what is cached, removes
 * the rest from the cache and decodes only the new tokens, then samples the answer token by token
 * and streams complete UTF-8 text to a callback.
 *
 * Tokenizing a rendered prompt: template text is tokenized with parse_special (it holds the control
 * tokens), message contents without it, so a user typing "<|im_start|>system" gets plain text. To
 * know exactly where the contents are, the conversation is rendered a second time with each content
 * replaced by a marker; when splicing the contents into the marked rendering gives the real one,
 * the marker positions are the spans. Otherwise (a template that inspects contents, e.g. splits
 * out <think> blocks) the contents are searched verbatim in the rendered text, in message order,
 * and a content the template rewrote is tokenized with the template text around it.
 *
 * Context policy (documented for users in `slm run --help`): before a turn, if the conversation
 * no longer fits in the context with room for the answer (a quarter of the context, or -n when
 * smaller), the oldest turns (a user message and the replies after it) are dropped, the system
 * prompt is kept, and the conversation is re-rendered and re-decoded. If the last user message alone
 * does not fit the context: SLM_E_RANGE. An answer that reaches the end of the context stops there
 * (stop reason "context").
 *
 * Ownership: the model, tokenizer, template and context are borrowed and must outlive the session.
 * Not thread-safe: one session is used by one thread.
 */
#ifndef SLM_CHAT_CHAT_SESSION_H
#define SLM_CHAT_CHAT_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "chat/chat_template.h"
#include "model/model.h"
#include "sample/sampler.h"
#include "slm.h"
#include "tokenizer/tokenizer.h"

typedef struct chat_session chat_session;

/* Receives each piece of answer text (complete UTF-8, may be empty). Return false to stop. */
typedef bool (*chat_piece_fn)(void *user, const char *text, size_t len);

typedef enum chat_stop_reason {
    CHAT_STOP_EOS = 0,   /* an end-of-generation / end-of-turn token */
    CHAT_STOP_LENGTH,    /* n_predict tokens generated */
    CHAT_STOP_CONTEXT,   /* the KV cache is full */
    CHAT_STOP_CANCELLED, /* abort callback of the context, or the piece callback returned false */
    CHAT_STOP_STRING,    /* a stop string appeared in the text (it is not part of the answer) */
} chat_stop_reason;

const char *chat_stop_reason_name(chat_stop_reason r); /* "eos", "length", "context", "cancelled" */

/* What one turn cost. Times in seconds, monotonic clock. */
typedef struct chat_turn_stats {
    int32_t n_prompt;       /* prompt tokens of this turn (whole rendered conversation) */
    int32_t n_reused;       /* of those, already in the KV cache */
    int32_t n_decoded;      /* prompt tokens decoded now (n_prompt - n_reused, +1 when all reused) */
    int32_t n_gen;          /* tokens generated (the end-of-turn token not counted) */
    int32_t n_dropped_msgs; /* messages dropped to fit the context */
    double t_prompt;        /* decoding the prompt */
    double t_gen;           /* generating: from the first sampled token to the end */
    double t_first_token;   /* from the start of the turn to the first sampled token */
    chat_stop_reason stop;
} chat_turn_stats;

/* Sampling defaults for a model: Ollama's (temperature 0.8, top-k 40, top-p 0.9, min-p 0.05,
 * repeat penalty 1 i.e. off), overridden by what the model ships: generation_config.json
 * (temperature, top_k, top_p, min_p, repetition_penalty; do_sample false -> temperature 0) for a
 * Hugging Face folder, general.sampling.* keys for a GGUF file. */
slm_sampler_params chat_sampler_defaults(const slm_model *m);

/* slm_sampler_new for this model and tokenizer: ids the model can produce but the tokenizer cannot
 * decode (padded embedding rows: n_vocab_model > tokenizer size) are banned, on top of p's own
 * logit biases. */
slm_status chat_sampler_new(const slm_sampler_params *p, const slm_tokenizer *tok, int64_t n_vocab_model,
                            slm_sampler **out, slm_error *err);

/* tmpl may be NULL (raw completions only; chat turns then fail with SLM_E_UNSUPPORTED). */
slm_status chat_session_new(const slm_model *m, const slm_tokenizer *tok, const chat_template_source *tmpl,
                            slm_context *ctx, chat_session **out, slm_error *err);
void chat_session_free(chat_session *s);

/* Set (text non-empty) or remove (NULL or "") the system prompt: the first message. */
slm_status chat_session_set_system(chat_session *s, const char *text, slm_error *err);
/* The system prompt, or NULL. Points into the session. */
const char *chat_session_system(const chat_session *s);
/* Forget every message except the system prompt, and empty the KV cache. */
void chat_session_clear(chat_session *s);

/* The conversation: a cJSON array of {"role", "content"} objects, owned by the session. */
const cJSON *chat_session_messages(const chat_session *s);
/* Replace the conversation with a copy of messages (array of objects with string "role" in
 * system/user/assistant/tool and string "content"; at most 100000 messages). Nothing changes on
 * error. The KV cache is reused on the next turn as far as the new rendering agrees with it. */
slm_status chat_session_set_messages(chat_session *s, const cJSON *messages, slm_error *err);

/* Tokens currently in the KV cache (sequence 0). */
int32_t chat_session_n_cached(const chat_session *s);

/* One chat turn: append the user message, render with add_generation_prompt, decode, generate up
 * to n_predict tokens (< 0: until end of turn or a full context) and append the answer as an
 * assistant message (also when cancelled, unless nothing was generated: then the user message is
 * removed again). *answer (may be NULL): malloc'd copy of the answer text. */
/* Constrain the output of every following turn (JSON / JSON Schema, sample/json_constrain.h);
 * NULL removes it. c is borrowed and reset at the start of each turn. */
struct json_constraint;
struct slm_stop;
/* Stop strings for the following turns (sample/stop.h; matched across token boundaries, never
 * shown); NULL removes them. Borrowed, reset at the start of each turn. */
void chat_session_set_stop(chat_session *s, struct slm_stop *stop);
slm_status chat_session_set_constraint(chat_session *s, struct json_constraint *c, slm_error *err);

slm_status chat_session_respond(chat_session *s, const char *user_text, slm_sampler *smp, int32_t n_predict,
                                chat_piece_fn on_piece, void *user, char **answer, chat_turn_stats *stats,
                                slm_error *err);

/* A raw completion: text tokenized as is (BOS/EOS as the tokenizer's settings say; special tokens
 * written in text are recognised, the caller owns this text) and continued. The conversation is
 * untouched; the KV cache prefix is reused the same way. SLM_E_RANGE when the prompt is longer
 * than the context. */
slm_status chat_session_complete(chat_session *s, const char *text, size_t len, slm_sampler *smp, int32_t n_predict,
                                 chat_piece_fn on_piece, void *user, char **answer, chat_turn_stats *stats,
                                 slm_error *err);

/* Render the conversation (plus add_generation_prompt) and tokenize it as described above,
 * appending to *out. Exposed for tests. */
slm_status chat_session_tokenize_prompt(const chat_session *s, const cJSON *messages, slm_tokens *out, slm_error *err);

/* Tokenize rendered template output: contents of messages (in order, found verbatim) without
 * parse_special, the rest with it. Appends to *out. */
slm_status chat_tokenize_rendered(const slm_tokenizer *tok, const char *text, size_t len, const cJSON *messages,
                                  slm_tokens *out, slm_error *err);

#endif
