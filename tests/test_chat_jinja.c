/* The Jinja engine feature by feature against jinja2 itself (tests/chat_jinja_cases.h, generated
 * by tests/gen_chat_jinja_cases.py with the transformers configuration), plus hostile templates
 * that must fail cleanly and quickly: syntax errors, deep nesting, runaway loops, recursion and
 * memory blow-ups. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "chat/jinja.h"
#include "testutil.h"

#include "chat_jinja_cases.h"

static void test_reference_cases(void) {
    cJSON *ctx = cJSON_Parse(k_jinja_context);
    CHECK(ctx != NULL, "context JSON");
    int64_t now = -1;
    CHECK(jinja_parse_iso8601(k_jinja_now, &now), "now");
    int n_ok = 0, n = (int)(sizeof k_jinja_cases / sizeof k_jinja_cases[0]);
    for (int i = 0; i < n; i++) {
        const jinja_case *c = &k_jinja_cases[i];
        jinja_template *t = NULL;
        slm_error err = {0};
        slm_status st = jinja_parse(c->tmpl, strlen(c->tmpl), &t, &err);
        CHECK(st == SLM_OK, "case %d parse: %s\n  template: %s", i, err.msg, c->tmpl);
        if (st) continue;
        char *out = NULL;
        size_t len = 0;
        jinja_fail fail = {0};
        jinja_render_opts o = {.now = now};
        st = jinja_render(t, ctx, &o, &out, &len, &fail, &err);
        if (c->expected) {
            bool ok = st == SLM_OK && len == strlen(c->expected) && !memcmp(out, c->expected, len);
            CHECK(ok, "case %d: %s\n  template: %s\n  got:  %s\n  want: %s", i, st ? err.msg : "differs", c->tmpl,
                  out ? out : "", c->expected);
            n_ok += ok;
        } else {
            bool ok = st != SLM_OK && fail.raised == (c->raised != 0) && (!c->raised || !strcmp(fail.message, c->error));
            CHECK(ok, "case %d: expected error '%s'%s, got %s\n  template: %s", i, c->error, c->raised ? " (raised)" : "",
                  st ? err.msg : "success", c->tmpl);
            CHECK(st == SLM_OK || strstr(err.msg, "template line 1: ") == err.msg, "case %d: message '%s' names no line", i,
                  err.msg);
            n_ok += ok;
        }
        free(out);
        jinja_free(t);
    }
    fprintf(stderr, "jinja reference cases: %d/%d\n", n_ok, n);
    cJSON_Delete(ctx);
}

/* Error messages name the line of the failing construct. */
static void test_error_lines(void) {
    const char *src = "line1\n{% if true %}\n  {{ 1 +\n}}{% endif %}";
    jinja_template *t = NULL;
    slm_error err = {0};
    CHECK(jinja_parse(src, strlen(src), &t, &err) == SLM_E_FORMAT, "syntax error expected");
    CHECK(strstr(err.msg, "template line 4:") != NULL, "syntax error line: %s", err.msg);
    jinja_free(t);

    src = "a\nb\n{% for x in [1] %}\n{{ x.y.z }}\n{% endfor %}";
    CHECK(jinja_parse(src, strlen(src), &t, &err) == SLM_OK, "%s", err.msg);
    char *out = NULL;
    jinja_fail fail = {0};
    CHECK(jinja_render(t, NULL, NULL, &out, NULL, &fail, &err) != SLM_OK, "runtime error expected");
    CHECK(fail.line == 4 && strstr(err.msg, "template line 4:") != NULL, "runtime error line %d: %s", fail.line, err.msg);
    free(out);
    jinja_free(t);
}

typedef struct hostile {
    const char *what;
    const char *src; /* NULL: built by the test */
    bool parse_fails;
} hostile;

static char *repeat_str(const char *a, int n, const char *mid, const char *b) {
    size_t la = strlen(a), lb = strlen(b), lm = strlen(mid);
    char *s = malloc((la + lb) * (size_t)n + lm + 1), *p = s;
    for (int i = 0; i < n; i++, p += la) memcpy(p, a, la);
    memcpy(p, mid, lm);
    p += lm;
    for (int i = 0; i < n; i++, p += lb) memcpy(p, b, lb);
    *p = 0;
    return s;
}

static void check_hostile(const char *what, const char *src, bool parse_fails) {
    clock_t t0 = clock();
    jinja_template *t = NULL;
    slm_error err = {0};
    slm_status st = jinja_parse(src, strlen(src), &t, &err);
    if (parse_fails) {
        CHECK(st != SLM_OK && err.msg[0], "%s: parse should fail", what);
    } else {
        CHECK(st == SLM_OK, "%s: parse failed: %s", what, err.msg);
        if (!st) {
            char *out = NULL;
            jinja_render_opts o = {.now = 0, .limits = {.max_steps = 2000000, .max_memory = 64u << 20, .max_output = 1u << 20}};
            st = jinja_render(t, NULL, &o, &out, NULL, NULL, &err);
            CHECK(st != SLM_OK && err.msg[0], "%s: render should fail", what);
            free(out);
        }
    }
    jinja_free(t);
    double secs = (double)(clock() - t0) / CLOCKS_PER_SEC;
    CHECK(secs < 10.0, "%s: took %.1f s", what, secs);
}

static void test_hostile(void) {
    static const hostile cases[] = {
        {"unterminated if", "{% if true %}never closed", true},
        {"unterminated for", "{% for x in y %}{% if x %}{% endif %}", true},
        {"unterminated variable", "{{ x ", true},
        {"unterminated comment", "{# abc", true},
        {"unterminated string", "{{ 'abc }}", true},
        {"unterminated raw", "{% raw %}abc", true},
        {"stray end tag", "{% endfor %}", true},
        {"break outside loop", "{% break %}", true},
        {"unknown tag", "{% frobnicate %}", true},
        {"bad escape", "{{ '\\u12' }}", true},
        {"huge int literal", "{{ 99999999999999999999999 }}", true},
        {"missing operand", "{{ 1 + }}", true},
        {"bad character", "{{ a ! b }}", true},
        {"unknown filter", "{{ 1 | nosuchfilter }}", false},
        {"unknown test", "{{ 1 is nosuchtest }}", false},
        {"nested loops", "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}", false},
        {"output bomb", "{% for i in range(1000000) %}xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx{% endfor %}", false},
        {"string repeat", "{{ 'x' * 1000000000000 }}", false},
        {"list repeat", "{{ [1, 2] * 1000000000000 }}", false},
        {"string doubling", "{% set ns = namespace(s='ab') %}{% for i in range(200) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}", false},
        {"huge range", "{{ range(100000000000) | length }}", false},
        {"infinite recursion", "{% macro m(n) %}{{ m(n + 1) }}{% endmacro %}{{ m(0) }}", false},
        {"mutual recursion", "{% macro a() %}{{ b() }}{% endmacro %}{% macro b() %}{{ a() }}{% endmacro %}{{ a() }}", false},
        {"raise", "{{ raise_exception('stop') }}", false},
        {"integer overflow pow", "{{ (2 ** 62) * (2 ** 62) * 10 ** 400 // 0 }}", false},
        {"slice step zero", "{{ [1, 2][::0] }}", false},
        {"replace bomb", "{% set ns = namespace(s='a') %}{% for i in range(64) %}{% set ns.s = ns.s.replace('a', 'aa') %}{% endfor %}", false},
        {"namespace holding itself", "{% set ns = namespace() %}{% set ns.me = ns %}{{ ns }}", false},
        {"deeply nested list print", "{% set ns = namespace(x=[]) %}{% for i in range(100000) %}{% set ns.x = [ns.x] %}{% endfor %}{{ ns.x }}", false},
        {"deeply nested list compare", "{% set ns = namespace(x=[]) %}{% for i in range(100000) %}{% set ns.x = [ns.x] %}{% endfor %}{{ ns.x < ns.x }}", false},
        {"deeply nested tojson", "{% set ns = namespace(x=[]) %}{% for i in range(100000) %}{% set ns.x = [ns.x] %}{% endfor %}{{ ns.x | tojson }}", false},
        {"long binary chain", NULL, false},
        /* work inside one step is charged: scans of big values in a loop, quadratic builtins */
        {"unique of many", "{{ range(1000000) | unique | length }}", false},
        {"substring scans", "{% set s = 'ab' * 10000000 %}{% for i in range(190000) %}{% if 'c' in s %}{% endif %}{% endfor %}", false},
        {"count scans", "{% set s = 'ab' * 1000000 %}{% for i in range(190000) %}{% set x = s.count('ba') %}{% endfor %}", false},
        {"list equality scans", "{% set l = range(1000000) | list %}{% for i in range(190000) %}{% if l == l %}{% endif %}{% endfor %}", false},
        {"string compare scans", "{% set s = 'ab' * 10000000 %}{% for i in range(190000) %}{% if s < s %}{% endif %}{% endfor %}", false},
        {"sort of many", "{{ range(1000000) | reverse | sort | first }}", false},
        {"join of many empties", "{% set big = [''] * 1000000 %}{% for i in range(190000) %}{{ ''.join(big) }}{% endfor %}", false},
        {"string index scans", "{% set s = 'a' * 10000000 %}{% for i in range(190000) %}{% set x = s[5] %}{% endfor %}", false},
        {"indent bomb", "{% set ns = namespace(s='a') %}{% for i in range(64) %}{% set ns.s = (ns.s ~ '\\n' ~ ns.s) | indent(8) %}{% endfor %}", false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        if (cases[i].src) check_hostile(cases[i].what, cases[i].src, cases[i].parse_fails);

    /* 1 + 1 + ... parses iteratively into a very deep tree: evaluation must stop at the depth limit */
    char *chain = repeat_str("1 + ", 50000, "1", "");
    char *src = malloc(strlen(chain) + 8);
    sprintf(src, "{{ %s }}", chain);
    check_hostile("long binary chain", src, false);
    free(src);
    free(chain);

    /* many string literals: parse time and memory stay linear in the template size */
    char *many = repeat_str("{{ 'abc' ~ \"def\" }}", 50000, "", "");
    clock_t t0 = clock();
    jinja_template *t = NULL;
    slm_error err = {0};
    CHECK(jinja_parse(many, strlen(many), &t, &err) == SLM_OK, "many strings: %s", err.msg);
    jinja_free(t);
    CHECK((double)(clock() - t0) / CLOCKS_PER_SEC < 5.0, "many strings: parse too slow");
    free(many);

    char *deep = repeat_str("(", 100000, "1", ")");
    src = malloc(strlen(deep) + 8);
    sprintf(src, "{{ %s }}", deep);
    check_hostile("deep parentheses", src, true);
    free(src);
    free(deep);
    deep = repeat_str("{% if true %}", 5000, "x", "{% endif %}");
    check_hostile("deep if nesting", deep, true);
    free(deep);
    deep = repeat_str("[", 100000, "", "]");
    src = malloc(strlen(deep) + 8);
    sprintf(src, "{{ %s }}", deep);
    check_hostile("deep list literal", src, true);
    free(src);
    free(deep);
    deep = repeat_str("not ", 100000, "x", "");
    src = malloc(strlen(deep) + 8);
    sprintf(src, "{{ %s }}", deep);
    check_hostile("deep not", src, true);
    free(src);
    free(deep);
    deep = repeat_str("-", 100000, "1", "");
    src = malloc(strlen(deep) + 8);
    sprintf(src, "{{ %s }}", deep);
    check_hostile("deep unary minus", src, true);
    free(src);
    free(deep);
    deep = repeat_str("x.", 100000, "y", "");
    src = malloc(strlen(deep) + 8);
    sprintf(src, "{{ %s }}", deep);
    /* a long attribute chain parses (it is not nested) but fails at run time on undefined */
    check_hostile("long attribute chain", src, false);
    free(src);
    free(deep);
}

/* Huge counts over empty operands are legal and cost nothing in jinja2 ("" * 10**15 is ""): they
 * must render jinja2's answer at once, not loop over the count (fuzzing found "" * N looping). */
static void test_huge_counts_of_nothing(void) {
    const char *src = "[{{ '' * 1000000000000000 }}|{{ ([] * 1000000000000000) | length }}|"
                      "{{ 1000000000000000 * '' }}|{{ (1000000000000000 * []) | length }}|{{ 'ab' * -5 }}]";
    clock_t t0 = clock();
    jinja_template *t = NULL;
    slm_error err = {0};
    CHECK(jinja_parse(src, strlen(src), &t, &err) == SLM_OK, "%s", err.msg);
    char *out = NULL;
    jinja_render_opts o = {.now = 0, .limits = {.max_steps = 2000000, .max_memory = 64u << 20, .max_output = 1u << 20}};
    CHECK(jinja_render(t, NULL, &o, &out, NULL, NULL, &err) == SLM_OK, "%s", err.msg);
    CHECK(out && !strcmp(out, "[|0||0|]"), "got '%s'", out ? out : "(null)");
    free(out);
    jinja_free(t);
    double secs = (double)(clock() - t0) / CLOCKS_PER_SEC;
    CHECK(secs < 1.0, "empty repetition took %.1f s", secs);

    /* a slice deep into a long string walks it once (it located every code point from the start) */
    src = "{% set s = 'a' * 10000000 %}{{ s[5000000:5100000] | length }}|{{ (s[::-1000]) | length }}";
    t0 = clock();
    t = NULL;
    CHECK(jinja_parse(src, strlen(src), &t, &err) == SLM_OK, "%s", err.msg);
    out = NULL;
    CHECK(jinja_render(t, NULL, &o, &out, NULL, NULL, &err) == SLM_OK, "%s", err.msg);
    CHECK(out && !strcmp(out, "100000|10000"), "got '%s'", out ? out : "(null)");
    free(out);
    jinja_free(t);
    secs = (double)(clock() - t0) / CLOCKS_PER_SEC;
    CHECK(secs < 2.0, "long slices took %.1f s", secs);
}

/* Limits are honoured, and a template within them renders the same every time. */
static void test_limits(void) {
    const char *src = "{% for i in range(1000) %}ab{% endfor %}";
    jinja_template *t = NULL;
    slm_error err = {0};
    CHECK(jinja_parse(src, strlen(src), &t, &err) == SLM_OK, "%s", err.msg);
    char *out = NULL;
    size_t len = 0;
    jinja_render_opts o = {.now = 0, .limits = {.max_output = 1999}};
    CHECK(jinja_render(t, NULL, &o, &out, &len, NULL, &err) != SLM_OK, "output limit 1999 < 2000 must fail");
    free(out);
    out = NULL;
    o.limits.max_output = 2000;
    CHECK(jinja_render(t, NULL, &o, &out, &len, NULL, &err) == SLM_OK && len == 2000, "exactly at the limit: %s", err.msg);
    free(out);
    jinja_free(t);

    /* the empty template and a lone newline (dropped, as jinja2 drops one trailing newline) */
    CHECK(jinja_parse("\n", 1, &t, &err) == SLM_OK, "%s", err.msg);
    out = NULL;
    CHECK(jinja_render(t, NULL, NULL, &out, &len, NULL, &err) == SLM_OK && len == 0, "newline-only template");
    free(out);
    jinja_free(t);
    CHECK(jinja_parse("a\r\nb\r\n\r\n", 8, &t, &err) == SLM_OK, "%s", err.msg);
    out = NULL;
    CHECK(jinja_render(t, NULL, NULL, &out, &len, NULL, &err) == SLM_OK && !strcmp(out, "a\nb\n"), "CRLF normalized: '%s'",
          out ? out : "");
    free(out);
    jinja_free(t);
}

static void test_iso8601(void) {
    int64_t s = 0;
    CHECK(jinja_parse_iso8601("1970-01-01T00:00:00", &s) && s == 0, "epoch");
    CHECK(jinja_parse_iso8601("2024-07-26T00:00:00", &s) && s == 1721952000, "2024-07-26: %lld", (long long)s);
    CHECK(jinja_parse_iso8601("2000-03-01", &s) && s == 951868800, "2000-03-01: %lld", (long long)s);
    CHECK(!jinja_parse_iso8601("2024-13-01", &s), "month 13");
    CHECK(!jinja_parse_iso8601("yesterday", &s), "garbage");
}

int main(void) {
    test_reference_cases();
    test_error_lines();
    test_hostile();
    test_limits();
    test_huge_counts_of_nothing();
    test_iso8601();
    return tu_finish("test_chat_jinja");
}
