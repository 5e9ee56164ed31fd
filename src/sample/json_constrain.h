/* Structured output: constrain generation to valid JSON, or to a JSON Schema subset.
 *
 * A constraint keeps a prefix parser over the bytes generated so far. Before each sampling step,
 * json_constraint_mask sets the logit of every token whose bytes cannot continue a valid
 * document to -INFINITY; after the step, json_constraint_accept feeds the chosen token.
 *
 * Output is compact JSON (no whitespace at all), object properties in schema order, strings of
 * at most maxLength code points (64 by default), integers of at most 12 digits, fractions of at
 * most 6. Budget: with budget_left tokens still allowed, a token is allowed only if the shortest
 * completion after it (in bytes; every byte has a single-byte token in byte-level BPE and in
 * SentencePiece vocabularies) still fits in budget_left - 1 tokens, so the document is always
 * complete when the budget runs out. End-of-generation tokens are allowed only once the document
 * is complete; once nothing can extend it they are the only tokens allowed.
 *
 * Supported schema keywords: see json_schema.c (type, properties, required,
 * additionalProperties, enum, const, items, minItems, maxItems, minLength, maxLength, anyOf/oneOf
 * over distinct types); others fail with SLM_E_UNSUPPORTED naming the keyword.
 *
 * Cost per step: a walk of a byte trie of the vocabulary that prunes every subtree whose prefix
 * is refused; no allocation after creation. */
#ifndef SLM_SAMPLE_JSON_CONSTRAIN_H
#define SLM_SAMPLE_JSON_CONSTRAIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "slm.h"
#include "tokenizer/tokenizer.h"

/* The vocabulary as a byte trie, built once per tokenizer and shared (read-only) by any number of
 * constraints. Only the ids of tok are kept, not tok itself (pieces are copied). */
typedef struct json_vocab json_vocab;
slm_status json_vocab_new(const slm_tokenizer *tok, json_vocab **out, slm_error *err);
void json_vocab_free(json_vocab *v);

typedef struct json_constraint json_constraint;

/* schema: JSON Schema text (NUL-terminated), or NULL for "any valid JSON". Builds its own
 * vocabulary from tok. *out is owned by the caller (json_constraint_free). */
slm_status json_constraint_new(const char *schema, const slm_tokenizer *tok, json_constraint **out, slm_error *err);
/* Same with a shared vocabulary (which must outlive the constraint); v may be NULL for a
 * byte-level constraint (json_constraint_feed only; mask allows nothing). */
slm_status json_constraint_new_vocab(const char *schema, const json_vocab *v, json_constraint **out, slm_error *err);
void json_constraint_free(json_constraint *c);

/* Set logits (n_vocab floats, in place) of disallowed tokens to -INFINITY. budget_left: tokens
 * that may still be generated, this one included. Returns the number of allowed tokens (0 only
 * when the document is complete and the tokenizer has no end-of-generation token). */
int32_t json_constraint_mask(json_constraint *c, float *logits, int32_t n_vocab, int32_t budget_left);

/* Feed the sampled token. SLM_E_INVALID_ARG (state unchanged) if it would break the document. An
 * end-of-generation token is accepted only when the document is complete. */
slm_status json_constraint_accept(json_constraint *c, int32_t token);

/* Feed raw bytes (tests, fuzzing); false (state unchanged) if they break the document. */
bool json_constraint_feed(json_constraint *c, const char *bytes, size_t len);

/* The document so far is complete and valid. */
bool json_constraint_done(const json_constraint *c);
/* Fewest tokens (bytes) that complete the document from the current state. */
int64_t json_constraint_min_tokens(const json_constraint *c);
/* Bytes accepted so far (not NUL-terminated; valid until the next accept/feed). */
const char *json_constraint_text(const json_constraint *c, size_t *len);
/* Back to the empty document. */
void json_constraint_reset(json_constraint *c);

#endif
