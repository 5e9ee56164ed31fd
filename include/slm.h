/* slm: small language models on the CPU. Public C API.
 *
 * Conventions: every function that can fail returns an slm_status (SLM_OK == 0) and, where it
 * takes an slm_error*, fills it with a human-readable message naming what was wrong. The library
 * never prints and never exits. Objects are opaque; each `*_free(NULL)` is a no-op.
 */
#ifndef SLM_H
#define SLM_H

#ifdef __cplusplus
extern "C" {
#endif

typedef enum slm_status {
    SLM_OK = 0,
    SLM_E_INVALID_ARG = 1, /* caller passed something impossible */
    SLM_E_IO = 2,          /* open/read/write/mmap failed */
    SLM_E_FORMAT = 3,      /* a file or text is malformed, truncated or lies about sizes */
    SLM_E_UNSUPPORTED = 4, /* well-formed but not something slm can handle (yet) */
    SLM_E_NOMEM = 5,       /* allocation failed or a size limit would be exceeded */
    SLM_E_RANGE = 6,       /* a value is out of the allowed range (e.g. prompt longer than ctx) */
    SLM_E_CANCELLED = 7,   /* stopped by the caller between steps */
    SLM_E_NOT_FOUND = 8,   /* a named thing (tensor, key, file) does not exist */
} slm_status;

#define SLM_ERROR_MSG_MAX 512

/* Error report filled by failing calls. Plain struct so callers can keep it on the stack. */
typedef struct slm_error {
    slm_status code;
    char msg[SLM_ERROR_MSG_MAX];
} slm_error;

/* Name of a status code ("format error", ...); never NULL. */
const char *slm_status_name(slm_status s);

/* Version string of the library, e.g. "0.1.0". */
const char *slm_version(void);

#ifdef __cplusplus
}
#endif
#endif
