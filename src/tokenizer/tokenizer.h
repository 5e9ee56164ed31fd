/* Tokenizers: byte-level BPE (GPT-2 / Llama 3 / Qwen), BPE with byte fallback (Llama 2 / Gemma 3
 * tokenizer.json), SentencePiece-style score merging (GGUF "llama" vocabularies), special and added
 * tokens, decoding and a streaming decoder.
 *
 * Sources: a Hugging Face tokenizer.json (+ optional tokenizer_config.json) or the tokenizer.ggml.*
 * metadata of a GGUF file. The goal is identical ids to HF `tokenizers` (JSON) and llama.cpp (GGUF).
 *
 * Safety: slm_tokenize's default flags (SLM_TOKENIZE_DEFAULT, all zero) neither add BOS/EOS nor
 * recognise control tokens written in the text, so user-supplied chat content cannot inject
 * `<|im_start|>system` and the like. Only template text should be tokenized with parse_special.
 * Non-special added tokens (HF "special": false / GGUF USER_DEFINED) are matched in both modes,
 * as both reference implementations do.
 *
 * Thread-safety: a loaded tokenizer is read-only; several threads may tokenize with it at once.
 */
#ifndef SLM_TOKENIZER_H
#define SLM_TOKENIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gguf/gguf.h"
#include "slm.h"

typedef struct slm_tokenizer slm_tokenizer;

/* Largest text accepted by slm_tokenize in one call, in bytes (a guard against runaway inputs). */
#define SLM_TOKENIZE_MAX_BYTES ((size_t)1 << 30)

typedef struct slm_tokenize_flags {
    bool add_special;   /* add BOS/EOS as the model's post-processor / add_bos_token says */
    bool parse_special; /* match control/special tokens written in the text */
} slm_tokenize_flags;

#define SLM_TOKENIZE_DEFAULT ((slm_tokenize_flags){false, false})

/* A growable array of token ids. Zero-initialise, pass to slm_tokenize (which appends), release
 * with slm_tokens_free. */
typedef struct slm_tokens {
    int32_t *ids;
    size_t n, cap;
} slm_tokens;

void slm_tokens_free(slm_tokens *t);
/* Append one id; SLM_E_NOMEM on allocation failure. */
slm_status slm_tokens_push(slm_tokens *t, int32_t id, slm_error *err);

/* --- Loading ------------------------------------------------------------------------------ */

/* Build from a tokenizer.json (and tokenizer_config.json for bos/eos names and add_bos/add_eos,
 * or NULL). *out is owned by the caller (slm_tokenizer_free). Unsupported models or pipeline
 * steps fail with SLM_E_UNSUPPORTED naming the step. */
slm_status slm_tokenizer_load_json(const char *json_path, const char *config_path, slm_tokenizer **out,
                                   slm_error *err);

/* Same from memory (config may be NULL). Nothing is kept of the buffers. */
slm_status slm_tokenizer_load_json_mem(const char *json, size_t len, const char *config, size_t config_len,
                                       slm_tokenizer **out, slm_error *err);

/* Build from the tokenizer.ggml.* metadata of an open GGUF file. Everything needed is copied:
 * the gguf_file may be closed afterwards. */
slm_status slm_tokenizer_load_gguf(const gguf_file *f, slm_tokenizer **out, slm_error *err);

/* Convenience for the CLI and tools: path is a .gguf file, a folder with tokenizer.json (and
 * tokenizer_config.json), or a tokenizer.json file. */
slm_status slm_tokenizer_load_path(const char *path, slm_tokenizer **out, slm_error *err);

void slm_tokenizer_free(slm_tokenizer *tok); /* NULL is a no-op */

/* Add the tokenizer.ggml.* keys (model, pre, tokens, token_type, scores or merges, special ids,
 * add_bos/add_eos/add_space_prefix) describing tok to w, so that slm_tokenizer_load_gguf gives
 * back a tokenizer with the same ids. Pipelines without a GGUF form: SLM_E_UNSUPPORTED. */
slm_status slm_tokenizer_write_gguf(const slm_tokenizer *tok, gguf_writer *w, slm_error *err);

/* --- Encoding ----------------------------------------------------------------------------- */

/* Tokenize len bytes of UTF-8 text (need not be NUL-terminated; may contain NUL) and APPEND the
 * ids to *out. Invalid UTF-8 fails with SLM_E_FORMAT naming the byte offset; *out then keeps what
 * it held before the call. */
slm_status slm_tokenize(const slm_tokenizer *tok, const char *text, size_t len, slm_tokenize_flags flags,
                        slm_tokens *out, slm_error *err);

/* --- Vocabulary ----------------------------------------------------------------------------- */

int32_t slm_tokenizer_n_vocab(const slm_tokenizer *tok);
/* Special ids, or -1 if the tokenizer has none. */
int32_t slm_tokenizer_bos(const slm_tokenizer *tok);
int32_t slm_tokenizer_eos(const slm_tokenizer *tok);
int32_t slm_tokenizer_pad(const slm_tokenizer *tok);
int32_t slm_tokenizer_unk(const slm_tokenizer *tok);
/* Ids that end a turn (eos, <|eot_id|>, <|im_end|>, <end_of_turn>, <|end|>, ... when present).
 * Returns the count; *ids points into the tokenizer. */
size_t slm_tokenizer_eot_ids(const slm_tokenizer *tok, const int32_t **ids);
bool slm_tokenizer_is_eot(const slm_tokenizer *tok, int32_t id);
/* Control / special tokens (HF "special": true, GGUF CONTROL/UNKNOWN): not produced from user
 * text with the default flags. */
bool slm_tokenizer_is_special(const slm_tokenizer *tok, int32_t id);
/* Id of a token by its vocabulary text (e.g. "<|im_end|>"), or -1. */
int32_t slm_tokenizer_find(const slm_tokenizer *tok, const char *text, size_t len);

/* The vocabulary text of id (as stored: byte-level / '▁' forms) in *text, *len; false if id is out
 * of range. Points into the tokenizer. */
bool slm_token_text(const slm_tokenizer *tok, int32_t id, const char **text, size_t *len);
/* The bytes id decodes to on its own (spaces restored, byte tokens as their byte, special tokens
 * as their text); false if id is out of range. May be an incomplete UTF-8 sequence. */
bool slm_token_piece(const slm_tokenizer *tok, int32_t id, const char **piece, size_t *len);

/* --- Decoding ----------------------------------------------------------------------------- */

/* Decode n ids into buf (capacity *len on entry; bytes written, without terminator, on exit) the
 * way HF `decode(ids, skip_special_tokens=False)` does: invalid UTF-8 becomes U+FFFD, the
 * decoder's leading-space strip applies. If buf is too small: SLM_E_RANGE and *len = bytes needed
 * (call with buf NULL, *len 0 to size). Out-of-range ids: SLM_E_RANGE. */
slm_status slm_detokenize(const slm_tokenizer *tok, const int32_t *ids, size_t n, char *buf, size_t *len,
                          slm_error *err);
/* Same into a malloc'd NUL-terminated string (*out, caller frees). */
slm_status slm_detokenize_alloc(const slm_tokenizer *tok, const int32_t *ids, size_t n, char **out,
                                size_t *out_len, slm_error *err);

/* Streaming decoder: push ids one at a time; each push yields the bytes that now form complete
 * UTF-8 characters (never a partial sequence), holding back an incomplete tail until the next id
 * completes it. Invalid bytes come out as U+FFFD. */
typedef struct slm_detok_stream {
    const slm_tokenizer *tok;
    bool started;     /* a non-empty piece has been produced (leading-space strip done) */
    uint8_t pend[8];  /* incomplete UTF-8 tail held back */
    uint32_t n_pend;
    char out[64];     /* the current chunk when it fits; longer pieces use heap */
    char *heap;
    size_t heap_cap;
} slm_detok_stream;

void slm_detok_stream_init(slm_detok_stream *s, const slm_tokenizer *tok);
/* Push one id; *text / *len receive the complete-UTF-8 bytes now available (valid until the next
 * call on s). SLM_E_RANGE for an out-of-range id. */
slm_status slm_detok_stream_push(slm_detok_stream *s, int32_t id, const char **text, size_t *len, slm_error *err);
/* End of stream: an incomplete tail becomes U+FFFD. */
void slm_detok_stream_flush(slm_detok_stream *s, const char **text, size_t *len);
void slm_detok_stream_free(slm_detok_stream *s);

#endif
