/* libFuzzer target: the input is a Jinja template; parse it and render it against a fixed chat
 * context (messages with tool calls, tools, special tokens) under small limits. Any crash,
 * sanitizer report, leak or hang is a bug; template errors are fine. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "chat/jinja.h"

static const char k_context[] =
    "{\"bos_token\": \"<s>\", \"eos_token\": \"</s>\", \"add_generation_prompt\": true, \"n\": 3, \"f\": 0.5,"
    " \"messages\": [{\"role\": \"system\", \"content\": \"Be brief.\"},"
    "  {\"role\": \"user\", \"content\": \"What's 2+2? \\u00e9 <b>\"},"
    "  {\"role\": \"assistant\", \"content\": null, \"tool_calls\": [{\"id\": \"call_1\", \"type\": \"function\","
    "    \"function\": {\"name\": \"add\", \"arguments\": {\"a\": 2, \"b\": 2}}}]},"
    "  {\"role\": \"tool\", \"tool_call_id\": \"call_1\", \"content\": \"4\"}],"
    " \"tools\": [{\"type\": \"function\", \"function\": {\"name\": \"add\", \"description\": \"Add\","
    "   \"parameters\": {\"type\": \"object\", \"properties\": {\"a\": {\"type\": \"integer\"}}, \"required\": [\"a\"]}}}]}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static cJSON *ctx;
    if (!ctx) ctx = cJSON_Parse(k_context);
    jinja_template *t = NULL;
    slm_error err;
    if (jinja_parse((const char *)data, size, &t, &err) != SLM_OK) return 0;
    jinja_render_opts o = {.now = 1721952000,
                           .limits = {.max_output = 1u << 20, .max_memory = 32u << 20, .max_depth = 200, .max_steps = 200000}};
    char *out = NULL;
    size_t len = 0;
    jinja_fail fail;
    if (jinja_render(t, ctx, &o, &out, &len, &fail, &err) == SLM_OK) free(out);
    jinja_free(t);
    return 0;
}
