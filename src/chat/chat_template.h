/* Chat formatting: find a model's chat template and render an OpenAI-style request with it.
 *
 * Sources, in the order `chat_template_load` tries them for a path:
 *   a directory   Hugging Face folder: tokenizer_config.json "chat_template" (a string, or the
 *                 list form [{"name": "default", "template": ...}]), else chat_template.jinja;
 *                 bos_token / eos_token from tokenizer_config.json (string or {"content": ...})
 *   a GGUF file   tokenizer.chat_template; bos/eos from tokenizer.ggml.{bos,eos}_token_id
 *   anything else the file itself is the template (a .jinja file), no special tokens
 */
#ifndef SLM_CHAT_CHAT_TEMPLATE_H
#define SLM_CHAT_CHAT_TEMPLATE_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "chat/jinja.h"
#include "slm.h"

typedef struct chat_template_source {
    char *source;    /* template text (malloc'd, NUL-terminated) */
    size_t len;
    char *bos_token; /* malloc'd, or NULL when the model has none */
    char *eos_token;
} chat_template_source;

/* Fill *out from path (see above). Caller frees with chat_template_source_free. */
slm_status chat_template_load(const char *path, chat_template_source *out, slm_error *err);
void chat_template_source_free(chat_template_source *s);

/* The variables a template sees for a request object (not modified), as transformers passes
 * them: every key of request, plus tools = None and documents = None when absent,
 * add_generation_prompt = true when absent, bos_token / eos_token from src when absent.
 * Errors: request not an object or without a "messages" array. Caller frees *out (cJSON_Delete). */
slm_status chat_template_vars(const cJSON *request, const chat_template_source *src, cJSON **out, slm_error *err);

/* Parse src->source and render it for request. now < 0: strftime_now reads the clock.
 * *out: malloc'd prompt text. fail (may be NULL) tells a raise_exception apart. */
slm_status chat_template_apply(const chat_template_source *src, const cJSON *request, int64_t now, char **out,
                               size_t *out_len, jinja_fail *fail, slm_error *err);

#endif
