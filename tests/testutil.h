/* Tiny test harness shared by tests/test_*.c: checks that count failures and keep going, and
 * paths to the fixtures and scratch directories from the environment CTest sets. */
#ifndef SLM_TESTUTIL_H
#define SLM_TESTUTIL_H

#include <stdio.h>

extern int tu_failures;
extern int tu_checks;

#define CHECK(cond, ...)                                                    \
    do {                                                                    \
        tu_checks++;                                                        \
        if (!(cond)) {                                                      \
            tu_failures++;                                                  \
            fprintf(stderr, "%s:%d: CHECK(%s) failed: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                   \
            fprintf(stderr, "\n");                                          \
        }                                                                   \
    } while (0)

/* Directory of ../shared/fixtures (SLM_FIXTURES), scratch dir (SLM_TMP), CLI path (SLM_BIN). */
const char *tu_fixtures(void);
const char *tu_tmpdir(void);
const char *tu_bin(void);
/* snprintf into a static rotating buffer: tu_path("%s/models/x", tu_fixtures()). */
const char *tu_path(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Print a summary and return the exit code for main(). */
int tu_finish(const char *name);

#endif
