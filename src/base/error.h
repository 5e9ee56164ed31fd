/* Error reporting helpers for library code: set a status and a formatted message. */
#ifndef SLM_BASE_ERROR_H
#define SLM_BASE_ERROR_H

#include "slm.h"

/* Fill *err (may be NULL) with code and a printf-style message; returns code so that callers
 * can write `return slm_fail(err, SLM_E_FORMAT, "...")`. */
slm_status slm_fail(slm_error *err, slm_status code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prepend context to an existing message: "context: old message". Returns err->code. */
slm_status slm_error_prefix(slm_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Reset to SLM_OK with an empty message. */
void slm_error_clear(slm_error *err);

#endif
