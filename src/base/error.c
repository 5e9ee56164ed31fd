#include "base/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *slm_status_name(slm_status s) {
    switch (s) {
    case SLM_OK: return "ok";
    case SLM_E_INVALID_ARG: return "invalid argument";
    case SLM_E_IO: return "i/o error";
    case SLM_E_FORMAT: return "format error";
    case SLM_E_UNSUPPORTED: return "unsupported";
    case SLM_E_NOMEM: return "out of memory";
    case SLM_E_RANGE: return "out of range";
    case SLM_E_CANCELLED: return "cancelled";
    case SLM_E_NOT_FOUND: return "not found";
    }
    return "unknown error";
}

const char *slm_version(void) { return SLM_VERSION; }

slm_status slm_fail(slm_error *err, slm_status code, const char *fmt, ...) {
    if (err) {
        err->code = code;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return code;
}

slm_status slm_error_prefix(slm_error *err, const char *fmt, ...) {
    if (!err) return SLM_E_INVALID_ARG;
    char prefix[SLM_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    char old[SLM_ERROR_MSG_MAX];
    memcpy(old, err->msg, sizeof old);
    snprintf(err->msg, sizeof err->msg, "%s: %s", prefix, old);
    return err->code;
}

void slm_error_clear(slm_error *err) {
    if (!err) return;
    err->code = SLM_OK;
    err->msg[0] = '\0';
}
