/* Jinja2 subset for chat templates: parse once, render many times with JSON variables.
 *
 * Semantics follow jinja2 3.1 as transformers configures it (ImmutableSandboxedEnvironment,
 * trim_blocks=True, lstrip_blocks=True, loop controls, one trailing newline of the source dropped)
 * plus transformers' globals raise_exception(msg) and strftime_now(fmt), and its tojson filter
 * (json.dumps with ensure_ascii=False: no HTML escaping). Values print the way Python prints them.
 *
 * Every template is untrusted: parse depth, render recursion, loop work, memory and output size
 * are bounded (jinja_limits) and exceeding a bound is an ordinary error, never a hang or crash.
 */
#ifndef SLM_CHAT_JINJA_H
#define SLM_CHAT_JINJA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "slm.h"

typedef struct jinja_template jinja_template;

typedef struct jinja_limits {
    size_t max_output; /* bytes of rendered text (default 16 MiB) */
    size_t max_memory; /* bytes of values a render may create (default 256 MiB) */
    int max_depth;     /* nesting of macro calls / expressions (default 200) */
    uint64_t max_steps; /* loop iterations + calls + filters (default 20 million) */
} jinja_limits;

jinja_limits jinja_default_limits(void);

/* Parse a template. src need not be NUL-terminated. *out is owned by the caller (jinja_free).
 * Syntax errors: SLM_E_FORMAT, message "template line N: ...". */
slm_status jinja_parse(const char *src, size_t len, jinja_template **out, slm_error *err);
void jinja_free(jinja_template *t);

/* How a failed render failed, for callers that need more than the message. */
typedef struct jinja_fail {
    int line;                   /* template line (1-based), 0 if unknown */
    bool raised;                /* the template called raise_exception(msg) */
    char message[SLM_ERROR_MSG_MAX]; /* the bare message (for raise_exception: exactly msg) */
} jinja_fail;

typedef struct jinja_render_opts {
    int64_t now;          /* strftime_now() instant, Unix seconds UTC; < 0: read the clock */
    jinja_limits limits;  /* zero fields take the defaults */
} jinja_render_opts;

/* Render t with the members of the JSON object vars as template variables (JSON null -> None).
 * On success *out is a malloc'd NUL-terminated string (caller frees), *out_len its length.
 * On failure err holds "template line N: message" and, if fail is not NULL, its parts. */
slm_status jinja_render(const jinja_template *t, const cJSON *vars, const jinja_render_opts *opts,
                        char **out, size_t *out_len, jinja_fail *fail, slm_error *err);

/* Parse "YYYY-MM-DD[THH:MM[:SS]]" (UTC) into Unix seconds; false if malformed. */
bool jinja_parse_iso8601(const char *s, int64_t *out);

#endif
