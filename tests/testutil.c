#include "testutil.h"

#include <stdarg.h>
#include <stdlib.h>

int tu_failures = 0;
int tu_checks = 0;

static const char *env_or(const char *name, const char *fallback) {
    const char *v = getenv(name);
    return v && *v ? v : fallback;
}

const char *tu_fixtures(void) { return env_or("SLM_FIXTURES", "../shared/fixtures"); }
const char *tu_tmpdir(void) { return env_or("SLM_TMP", "/tmp"); }
const char *tu_bin(void) { return env_or("SLM_BIN", "./build/slm"); }

const char *tu_path(const char *fmt, ...) {
    static char bufs[8][4096];
    static int next = 0;
    char *b = bufs[next++ & 7];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b, 4096, fmt, ap);
    va_end(ap);
    return b;
}

int tu_finish(const char *name) {
    printf("%s: %d checks, %d failures\n", name, tu_checks, tu_failures);
    return tu_failures ? 1 : 0;
}
