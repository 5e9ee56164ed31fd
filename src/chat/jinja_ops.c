/* Jinja operators and methods with Python semantics: + - * / // % ** ~, comparisons, `in`,
 * str methods (startswith, split, strip, format, ...), dict methods (get, items, ...). Error
 * messages are Python's, since template authors know those. */
#define _GNU_SOURCE /* memmem */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <utf8proc.h>

#include "chat/jinja_internal.h"

#define A jr_arena(r)
#define E jr_err(r)

jv jarg(const jargs *a, int pos, const char *kw, jv def) {
    if (kw)
        for (int i = 0; i < a->n_kw; i++)
            if (!strcmp(a->kw_names[i], kw)) return a->kw[i];
    if (pos >= 0 && pos < a->n_pos) return a->pos[pos];
    return def;
}

jv jr_str(jrender *r, int line, jv v) { return jv_to_str(A, E, line, v); }

size_t jstr_ncodepoints(const jstr *s) {
    size_t c = 0;
    for (size_t i = 0; i < s->len; i++)
        if (((unsigned char)s->s[i] & 0xC0) != 0x80) c++;
    return c;
}

_Noreturn static void undefined_error(jrender *r, int line, jv u) {
    jinja_throw(E, line, SLM_E_INVALID_ARG, "%s", u.u.s ? u.u.s->s : "value is undefined");
}

/* ---- arithmetic ----------------------------------------------------------------------------- */
static jv concat(jrender *r, int line, const char *a, size_t na, const char *b, size_t nb) {
    size_t n;
    if (__builtin_add_overflow(na, nb, &n)) jinja_throw(E, line, SLM_E_NOMEM, "string too long");
    jv v = jv_str_n(A, E, line, "", 0);
    jstr *s = jarena_alloc(A, E, line, sizeof(jstr) + n + 1);
    memcpy(s->s, a, na);
    memcpy(s->s + na, b, nb);
    s->s[n] = 0;
    s->len = n;
    v.u.s = s;
    return v;
}

static jv repeat(jrender *r, int line, jv seq, int64_t times) {
    if (times < 0) times = 0;
    /* An empty operand gives an empty result whatever the count: without this, "" * 10**15 would
     * loop 10**15 times copying nothing (the size check passes at 0 bytes). */
    size_t seq_len = seq.k == JV_STR ? seq.u.s->len : seq.u.l->n;
    if (seq_len == 0) times = 0;
    if (seq.k == JV_STR) {
        size_t n;
        if (__builtin_mul_overflow(seq.u.s->len, (uint64_t)times, &n) || n > A->limit)
            jinja_throw(E, line, SLM_E_NOMEM, "string repetition too large");
        jstr *s = jarena_alloc(A, E, line, sizeof(jstr) + n + 1);
        for (int64_t i = 0; i < times; i++) memcpy(s->s + (size_t)i * seq.u.s->len, seq.u.s->s, seq.u.s->len);
        s->s[n] = 0;
        s->len = n;
        jv v = {0};
        v.k = JV_STR;
        v.u.s = s;
        return v;
    }
    size_t n;
    if (__builtin_mul_overflow(seq.u.l->n, (uint64_t)times, &n) || n > A->limit / sizeof(jv))
        jinja_throw(E, line, SLM_E_NOMEM, "list repetition too large");
    jlist *l = jlist_new(A, E, line, n);
    for (int64_t i = 0; i < times; i++)
        for (size_t j = 0; j < seq.u.l->n; j++) jlist_push(A, E, line, l, seq.u.l->v[j]);
    return jv_list(l);
}

static const char *op_sym(int op) {
    static const char *const s[] = {"+", "-", "*", "/", "//", "%", "**", "~", "==", "!=", "<", "<=", ">", ">=", "in", "not in"};
    return s[op];
}

_Noreturn static void bad_operands(jrender *r, int line, int op, jv a, jv b) {
    if (op == OP_ADD && a.k == JV_STR)
        jinja_throw(E, line, SLM_E_INVALID_ARG, "can only concatenate str (not \"%s\") to str", jv_type_name(b));
    if (op == OP_ADD && a.k == JV_LIST)
        jinja_throw(E, line, SLM_E_INVALID_ARG, "can only concatenate list (not \"%s\") to list", jv_type_name(b));
    jinja_throw(E, line, SLM_E_INVALID_ARG, "unsupported operand type(s) for %s: '%s' and '%s'", op_sym(op),
                jv_type_name(a), jv_type_name(b));
}

static int64_t as_int(jv v) { return v.k == JV_BOOL ? v.u.b : v.u.i; }
static bool is_intlike(jv v) { return v.k == JV_INT || v.k == JV_BOOL; }

/* printf-style `"%s" % x` with %s %d %i %f %r %%. */
static jv percent_format(jrender *r, int line, jv fmt, jv args) {
    jlist *l = args.k == JV_LIST && args.u.l->tuple ? args.u.l : NULL;
    size_t ai = 0;
    jbuf b;
    jbuf_init_arena(&b, A, A->limit);
    const char *s = fmt.u.s->s;
    bool ok = true;
    for (size_t i = 0; i < fmt.u.s->len && ok; i++) {
        if (s[i] != '%' || i + 1 >= fmt.u.s->len) {
            ok = jbuf_put(&b, s + i, 1);
            continue;
        }
        char c = s[++i];
        if (c == '%') {
            ok = jbuf_put(&b, "%", 1);
            continue;
        }
        jv v = l ? (ai < l->n ? l->v[ai] : jv_undef()) : (ai == 0 ? args : jv_undef());
        ai++;
        if (v.k == JV_UNDEF) jinja_throw(E, line, SLM_E_INVALID_ARG, "not enough arguments for format string");
        char tmp[400];
        if (c == 'd' || c == 'i' || c == 'f') {
            double fv = jv_num(v);
            if (!jv_is_num(v) || ((c != 'f') && !(isfinite(fv) && fabs(fv) < 9.2e18)))
                jinja_throw(E, line, SLM_E_INVALID_ARG, "%%%c format: a real number is required, not %s", c, jv_type_name(v));
            if (c == 'f') snprintf(tmp, sizeof tmp, "%f", fv);
            else snprintf(tmp, sizeof tmp, "%lld", (long long)(v.k == JV_FLOAT ? (int64_t)fv : as_int(v)));
            ok = jbuf_put(&b, tmp, strlen(tmp));
        } else if (c == 'r') {
            ok = jv_write_repr(&b, v);
        } else {
            ok = jv_write_str(&b, v);
        }
    }
    if (!ok) jinja_throw(E, line, SLM_E_NOMEM, "formatted string too large");
    return jv_str_n(A, E, line, b.p ? b.p : "", b.len);
}

jv jv_binop(jrender *r, int line, int op, jv a, jv b) {
    switch (op) {
    case OP_EQ: return jv_bool(jr_equal(r, line, a, b));
    case OP_NE: return jv_bool(!jr_equal(r, line, a, b));
    case OP_LT: return jv_bool(jv_compare(r, line, a, b) < 0);
    case OP_LE: return jv_bool(jv_compare(r, line, a, b) <= 0);
    case OP_GT: return jv_bool(jv_compare(r, line, a, b) > 0);
    case OP_GE: return jv_bool(jv_compare(r, line, a, b) >= 0);
    case OP_IN: return jv_bool(jv_contains(r, line, b, a));
    case OP_NOTIN: return jv_bool(!jv_contains(r, line, b, a));
    case OP_CONCAT: {
        jv sa = jr_str(r, line, a), sb = jr_str(r, line, b);
        return concat(r, line, sa.u.s->s, sa.u.s->len, sb.u.s->s, sb.u.s->len);
    }
    default: break;
    }
    if (a.k == JV_UNDEF) undefined_error(r, line, a);
    if (b.k == JV_UNDEF) undefined_error(r, line, b);
    bool num = jv_is_num(a) && jv_is_num(b), ints = is_intlike(a) && is_intlike(b);
    int64_t x = ints ? as_int(a) : 0, y = ints ? as_int(b) : 0, z;
    switch (op) {
    case OP_ADD:
        if (ints && !__builtin_add_overflow(x, y, &z)) return jv_int(z);
        if (num) return jv_float(jv_num(a) + jv_num(b));
        if (a.k == JV_STR && b.k == JV_STR) {
            if (a.markup != b.markup) { /* Markup + str escapes the plain side (markupsafe) */
                if (!a.markup) a = jstr_escape(r, line, a);
                if (!b.markup) b = jstr_escape(r, line, b);
            }
            jv res = concat(r, line, a.u.s->s, a.u.s->len, b.u.s->s, b.u.s->len);
            res.markup = a.markup;
            return res;
        }
        if (a.k == JV_LIST && b.k == JV_LIST) {
            jlist *l = jlist_new(A, E, line, a.u.l->n + b.u.l->n);
            for (size_t i = 0; i < a.u.l->n; i++) jlist_push(A, E, line, l, a.u.l->v[i]);
            for (size_t i = 0; i < b.u.l->n; i++) jlist_push(A, E, line, l, b.u.l->v[i]);
            l->tuple = a.u.l->tuple;
            return jv_list(l);
        }
        break;
    case OP_SUB:
        if (ints && !__builtin_sub_overflow(x, y, &z)) return jv_int(z);
        if (num) return jv_float(jv_num(a) - jv_num(b));
        break;
    case OP_MUL:
        if (ints && !__builtin_mul_overflow(x, y, &z)) return jv_int(z);
        if (num) return jv_float(jv_num(a) * jv_num(b));
        if ((a.k == JV_STR || a.k == JV_LIST) && is_intlike(b)) return repeat(r, line, a, as_int(b));
        if ((b.k == JV_STR || b.k == JV_LIST) && is_intlike(a)) return repeat(r, line, b, as_int(a));
        break;
    case OP_DIV:
        if (num) {
            if (jv_num(b) == 0.0) jinja_throw(E, line, SLM_E_INVALID_ARG, "division by zero");
            return jv_float(jv_num(a) / jv_num(b));
        }
        break;
    case OP_FLOORDIV: case OP_MOD:
        if (a.k == JV_STR && op == OP_MOD) return percent_format(r, line, a, b);
        if (!num) break;
        if (jv_num(b) == 0.0)
            jinja_throw(E, line, SLM_E_INVALID_ARG, ints ? "integer division or modulo by zero" : "float division by zero");
        if (ints) {
            if (x == INT64_MIN && y == -1) return op == OP_MOD ? jv_int(0) : jv_float(-(double)x);
            int64_t q = x / y, m = x % y;
            if (m != 0 && ((m < 0) != (y < 0))) {
                q--;
                m += y;
            }
            return jv_int(op == OP_MOD ? m : q);
        } else {
            double fa = jv_num(a), fb = jv_num(b), m = fmod(fa, fb);
            if (m != 0 && ((m < 0) != (fb < 0))) m += fb;
            return jv_float(op == OP_MOD ? m : floor((fa - m) / fb + 0.5));
        }
    case OP_POW:
        if (ints && y >= 0) {
            int64_t res = 1, base = x;
            bool ovf = false;
            for (int64_t e = y; e > 0 && !ovf; e >>= 1) {
                if (e & 1) ovf |= __builtin_mul_overflow(res, base, &res);
                if (e > 1) ovf |= __builtin_mul_overflow(base, base, &base);
            }
            if (!ovf) return jv_int(res);
            return jv_float(pow((double)x, (double)y));
        }
        if (num) return jv_float(pow(jv_num(a), jv_num(b)));
        break;
    default: break;
    }
    bad_operands(r, line, op, a, b);
}

static int compare_d(jrender *r, int line, jv a, jv b, int depth);

int jv_compare(jrender *r, int line, jv a, jv b) { return compare_d(r, line, a, b, 0); }

static int compare_d(jrender *r, int line, jv a, jv b, int depth) {
    if (depth > 200) jinja_throw(E, line, SLM_E_RANGE, "values nested too deeply to compare");
    jr_work(r, line, 1);
    if (jv_is_num(a) && jv_is_num(b)) {
        if (is_intlike(a) && is_intlike(b)) return as_int(a) < as_int(b) ? -1 : as_int(a) > as_int(b);
        double x = jv_num(a), y = jv_num(b);
        return x < y ? -1 : x > y;
    }
    if (a.k == JV_STR && b.k == JV_STR) {
        size_t n = a.u.s->len < b.u.s->len ? a.u.s->len : b.u.s->len;
        jr_work(r, line, n / 64);
        int c = memcmp(a.u.s->s, b.u.s->s, n);
        if (c) return c < 0 ? -1 : 1;
        return a.u.s->len < b.u.s->len ? -1 : a.u.s->len > b.u.s->len;
    }
    if (a.k == JV_LIST && b.k == JV_LIST) {
        for (size_t i = 0; i < a.u.l->n && i < b.u.l->n; i++) {
            if (jr_equal(r, line, a.u.l->v[i], b.u.l->v[i])) continue;
            return compare_d(r, line, a.u.l->v[i], b.u.l->v[i], depth + 1);
        }
        return a.u.l->n < b.u.l->n ? -1 : a.u.l->n > b.u.l->n;
    }
    if (a.k == JV_UNDEF) undefined_error(r, line, a);
    if (b.k == JV_UNDEF) undefined_error(r, line, b);
    jinja_throw(E, line, SLM_E_INVALID_ARG, "'<' not supported between instances of '%s' and '%s'", jv_type_name(a),
                jv_type_name(b));
}

bool jv_contains(jrender *r, int line, jv c, jv item) {
    switch (c.k) {
    case JV_UNDEF: return false;
    case JV_STR:
        if (item.k != JV_STR)
            jinja_throw(E, line, SLM_E_INVALID_ARG, "'in <string>' requires string as left operand, not %s", jv_type_name(item));
        if (item.u.s->len == 0) return true;
        jr_work(r, line, jr_scan_cost(c));
        return memmem(c.u.s->s, c.u.s->len, item.u.s->s, item.u.s->len) != NULL;
    case JV_LIST:
        for (size_t i = 0; i < c.u.l->n; i++)
            if (jr_equal(r, line, c.u.l->v[i], item)) return true;
        return false;
    case JV_DICT: case JV_NS: {
        jv tmp;
        return jdict_get(c.u.d, item, &tmp);
    }
    default: jinja_throw(E, line, SLM_E_INVALID_ARG, "argument of type '%s' is not iterable", jv_type_name(c));
    }
}

jv jstr_escape(jrender *r, int line, jv v) {
    v = jr_str(r, line, v);
    jbuf b;
    jbuf_init_arena(&b, A, A->limit);
    for (size_t i = 0; i < v.u.s->len; i++) {
        char c = v.u.s->s[i];
        const char *rep = c == '&' ? "&amp;" : c == '<' ? "&lt;" : c == '>' ? "&gt;" : c == '"' ? "&#34;" : c == '\'' ? "&#39;" : NULL;
        if (!(rep ? jbuf_put(&b, rep, strlen(rep)) : jbuf_put(&b, &c, 1)))
            jinja_throw(E, line, SLM_E_NOMEM, "escape output too large");
    }
    jv out = jv_str_n(A, E, line, b.p ? b.p : "", b.len);
    out.markup = 1;
    return out;
}

/* First occurrence of needle in hay, or NULL. A plain loop rather than memmem: sanitizer
 * interceptors re-check the whole haystack per memmem call, which makes replace/split loops
 * quadratic under ASan. */
static const char *find_sub(const char *hay, size_t n, const char *needle, size_t m) {
    if (m == 0) return hay;
    if (m > n) return NULL;
    for (size_t i = 0; i + m <= n; i++)
        if (hay[i] == needle[0] && !memcmp(hay + i, needle, m)) return hay + i;
    return NULL;
}

/* ---- strings -------------------------------------------------------------------------------- */
static bool py_space(int32_t c) {
    return c == ' ' || (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x1F) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

/* Decode one code point at s[i..n); invalid bytes decode as themselves (one byte). */
static size_t decode(const char *s, size_t n, size_t i, int32_t *cp) {
    utf8proc_int32_t c;
    utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)s + i, (utf8proc_ssize_t)(n - i), &c);
    if (k <= 0) {
        *cp = (unsigned char)s[i];
        return 1;
    }
    *cp = c;
    return (size_t)k;
}

static void put_cp(jrender *r, int line, jbuf *b, int32_t cp) {
    utf8proc_uint8_t tmp[4];
    utf8proc_ssize_t k = utf8proc_encode_char(cp, tmp);
    jr_put(r, line, b, (const char *)tmp, (size_t)k);
}

jv jstr_case(jrender *r, int line, jv sv, int mode) {
    sv = jr_str(r, line, sv);
    const char *s = sv.u.s->s;
    size_t n = sv.u.s->len;
    jbuf b;
    jbuf_init_arena(&b, A, A->limit);
    bool word_start = true;
    for (size_t i = 0; i < n;) {
        int32_t c;
        size_t k = decode(s, n, i, &c);
        int32_t o = c;
        if (mode == JCASE_LOWER) o = utf8proc_tolower(c);
        else if (mode == JCASE_UPPER) o = utf8proc_toupper(c);
        else if (mode == JCASE_CAPITALIZE) o = i == 0 ? utf8proc_toupper(c) : utf8proc_tolower(c);
        else o = word_start ? utf8proc_toupper(c) : utf8proc_tolower(c);
        if (mode == JCASE_TITLE) /* jinja's title: words begin after whitespace, '-', brackets */
            word_start = py_space(c) || c == '-' || c == '(' || c == '{' || c == '[' || c == '<';
        if (k == 1 && (unsigned char)s[i] >= 0x80) jr_put(r, line, &b, s + i, 1);
        else put_cp(r, line, &b, o);
        i += k;
    }
    return jv_str_n(A, E, line, b.p ? b.p : "", b.len);
}

static bool in_chars(int32_t c, jv chars) {
    if (chars.k != JV_STR) return py_space(c);
    const char *s = chars.u.s->s;
    size_t n = chars.u.s->len;
    for (size_t i = 0; i < n;) {
        int32_t x;
        i += decode(s, n, i, &x);
        if (x == c) return true;
    }
    return false;
}

jv jstr_strip(jrender *r, int line, jv sv, jv chars, int which) {
    sv = jr_str(r, line, sv);
    const char *s = sv.u.s->s;
    size_t n = sv.u.s->len, b0 = 0, b1 = n;
    if (which & 1) {
        while (b0 < n) {
            int32_t c;
            size_t k = decode(s, n, b0, &c);
            if (!in_chars(c, chars)) break;
            b0 += k;
        }
    }
    if (which & 2) {
        while (b1 > b0) {
            size_t st = b1 - 1;
            while (st > b0 && ((unsigned char)s[st] & 0xC0) == 0x80) st--;
            int32_t c;
            decode(s, b1, st, &c);
            if (!in_chars(c, chars)) break;
            b1 = st;
        }
    }
    if (b0 == 0 && b1 == n) return sv;
    return jv_str_n(A, E, line, s + b0, b1 - b0);
}

jv jstr_replace(jrender *r, int line, jv sv, jv old, jv rep, int64_t count) {
    sv = jr_str(r, line, sv);
    old = jr_str(r, line, old);
    rep = jr_str(r, line, rep);
    const char *s = sv.u.s->s;
    size_t n = sv.u.s->len, on = old.u.s->len;
    jbuf b;
    jbuf_init_arena(&b, A, A->limit);
    size_t i = 0;
    int64_t done = 0;
    bool ok = true;
    if (on == 0) { /* Python inserts rep between every character */
        while (ok && (count < 0 || done < count) && i <= n) {
            ok = jbuf_put(&b, rep.u.s->s, rep.u.s->len);
            done++;
            if (i == n) { i++; break; }
            size_t k = 1;
            while (i + k < n && ((unsigned char)s[i + k] & 0xC0) == 0x80) k++;
            ok = ok && jbuf_put(&b, s + i, k);
            i += k;
        }
        if (i <= n) ok = ok && jbuf_put(&b, s + i, n - i);
    } else {
        while (ok && i < n) {
            const char *hit = (count < 0 || done < count) ? find_sub(s + i, n - i, old.u.s->s, on) : NULL;
            if (!hit) break;
            size_t at = (size_t)(hit - s);
            jr_step(r, line);
            ok = jbuf_put(&b, s + i, at - i) && jbuf_put(&b, rep.u.s->s, rep.u.s->len);
            i = at + on;
            done++;
        }
        ok = ok && jbuf_put(&b, s + i, n - i);
    }
    if (!ok) jinja_throw(E, line, SLM_E_NOMEM, "replace result too large");
    return jv_str_n(A, E, line, b.p ? b.p : "", b.len);
}

jlist *jstr_split(jrender *r, int line, jv sv, jv sep, int64_t maxsplit) {
    sv = jr_str(r, line, sv);
    const char *s = sv.u.s->s;
    size_t n = sv.u.s->len;
    jlist *l = jlist_new(A, E, line, 0);
    if (sep.k == JV_STR) {
        size_t sn = sep.u.s->len, i = 0;
        if (sn == 0) jinja_throw(E, line, SLM_E_INVALID_ARG, "empty separator");
        int64_t done = 0;
        for (;;) {
            const char *hit = (maxsplit < 0 || done < maxsplit) ? find_sub(s + i, n - i, sep.u.s->s, sn) : NULL;
            if (!hit) break;
            size_t at = (size_t)(hit - s);
            jr_step(r, line);
            jlist_push(A, E, line, l, jv_str_n(A, E, line, s + i, at - i));
            i = at + sn;
            done++;
        }
        jlist_push(A, E, line, l, jv_str_n(A, E, line, s + i, n - i));
        return l;
    }
    /* whitespace split: runs of whitespace separate, no empty strings */
    size_t i = 0;
    int64_t done = 0;
    while (i < n) {
        int32_t c;
        size_t k;
        while (i < n && (k = decode(s, n, i, &c), py_space(c))) i += k;
        if (i >= n) break;
        if (maxsplit >= 0 && done >= maxsplit) {
            size_t e2 = n;
            while (e2 > i) { /* Python keeps the rest but strips its trailing whitespace */
                size_t st = e2 - 1;
                while (st > i && ((unsigned char)s[st] & 0xC0) == 0x80) st--;
                decode(s, e2, st, &c);
                if (!py_space(c)) break;
                e2 = st;
            }
            jlist_push(A, E, line, l, jv_str_n(A, E, line, s + i, e2 - i));
            break;
        }
        size_t st = i;
        while (i < n && (k = decode(s, n, i, &c), !py_space(c))) i += k;
        jlist_push(A, E, line, l, jv_str_n(A, E, line, s + st, i - st));
        done++;
    }
    return l;
}

/* ---- methods -------------------------------------------------------------------------------- */
static const char *const k_str_methods[] = {"startswith", "endswith", "strip", "lstrip", "rstrip", "split", "upper",
                                            "lower", "title", "capitalize", "replace", "format", "find", "count",
                                            "join", "splitlines", "isdigit", "isalpha", "isspace", "islower",
                                            "isupper", "isalnum", "rsplit", NULL};
static const char *const k_dict_methods[] = {"get", "items", "keys", "values", "pop", "update", "copy", "setdefault",
                                             "clear", "popitem", NULL};
static const char *const k_list_methods[] = {"append", "extend", "pop", "insert", "remove", "clear", "sort",
                                             "reverse", "index", "count", "copy", NULL};

static bool in_list(const char *const *l, const char *name) {
    for (int i = 0; l[i]; i++)
        if (!strcmp(l[i], name)) return true;
    return false;
}

bool jinja_has_method(jv self, const char *name) {
    if (self.k == JV_STR) return in_list(k_str_methods, name);
    if (self.k == JV_DICT) return in_list(k_dict_methods, name) || (self.u.d->is_loop && !strcmp(name, "cycle"));
    if (self.k == JV_LIST) return in_list(k_list_methods, name);
    return false;
}

static bool affix_match(jv s, jv p, bool end) {
    if (p.k != JV_STR || p.u.s->len > s.u.s->len) return false;
    size_t off = end ? s.u.s->len - p.u.s->len : 0;
    return !memcmp(s.u.s->s + off, p.u.s->s, p.u.s->len);
}

static jv str_format(jrender *r, int line, jv self, const jargs *args) {
    const char *s = self.u.s->s;
    size_t n = self.u.s->len;
    jbuf b;
    jbuf_init_arena(&b, A, A->limit);
    int auto_i = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '{' && i + 1 < n && s[i + 1] == '{') { jr_put(r, line, &b, "{", 1); i++; continue; }
        if (s[i] == '}' && i + 1 < n && s[i + 1] == '}') { jr_put(r, line, &b, "}", 1); i++; continue; }
        if (s[i] != '{') { jr_put(r, line, &b, s + i, 1); continue; }
        const char *close = memchr(s + i, '}', n - i);
        if (!close) jinja_throw(E, line, SLM_E_INVALID_ARG, "Single '{' encountered in format string");
        char field[64];
        size_t fl = (size_t)(close - (s + i + 1));
        if (fl >= sizeof field) fl = sizeof field - 1;
        memcpy(field, s + i + 1, fl);
        field[fl] = 0;
        char *colon = strchr(field, ':');
        if (colon) *colon = 0; /* format specs are ignored */
        jv v;
        if (!field[0]) v = jarg(args, auto_i++, NULL, jv_undef());
        else if (field[0] >= '0' && field[0] <= '9') v = jarg(args, atoi(field), NULL, jv_undef());
        else v = jarg(args, -1, field, jv_undef());
        if (v.k == JV_UNDEF) jinja_throw(E, line, SLM_E_INVALID_ARG, "format: no argument for '{%s}'", field);
        if (!jv_write_str(&b, v)) jinja_throw(E, line, SLM_E_NOMEM, "formatted string too large");
        i = (size_t)(close - s);
    }
    return jv_str_n(A, E, line, b.p ? b.p : "", b.len);
}

static jv str_method(jrender *r, int line, jv self, const char *name, const jargs *args) {
    jr_work(r, line, jr_scan_cost(self)); /* every string method reads the string at most a few times */
    jv a0 = jarg(args, 0, NULL, jv_none());
    if (!strcmp(name, "startswith") || !strcmp(name, "endswith")) {
        bool end = name[0] == 'e';
        if (a0.k == JV_LIST) {
            for (size_t i = 0; i < a0.u.l->n; i++)
                if (affix_match(self, a0.u.l->v[i], end)) return jv_bool(true);
            return jv_bool(false);
        }
        if (a0.k != JV_STR)
            jinja_throw(E, line, SLM_E_INVALID_ARG, "%s first arg must be str or a tuple of str, not %s", name, jv_type_name(a0));
        return jv_bool(affix_match(self, a0, end));
    }
    if (!strcmp(name, "strip")) return jstr_strip(r, line, self, a0, 3);
    if (!strcmp(name, "lstrip")) return jstr_strip(r, line, self, a0, 1);
    if (!strcmp(name, "rstrip")) return jstr_strip(r, line, self, a0, 2);
    if (!strcmp(name, "split") || !strcmp(name, "rsplit")) {
        jv ms = jarg(args, 1, "maxsplit", jv_int(-1));
        jv sep = jarg(args, 0, "sep", jv_none());
        if (!strcmp(name, "rsplit") && ms.k == JV_INT && ms.u.i >= 0)
            jinja_throw(E, line, SLM_E_UNSUPPORTED, "rsplit with maxsplit is not supported");
        return jv_list(jstr_split(r, line, self, sep, ms.k == JV_INT ? ms.u.i : -1));
    }
    if (!strcmp(name, "upper")) return jstr_case(r, line, self, JCASE_UPPER);
    if (!strcmp(name, "lower")) return jstr_case(r, line, self, JCASE_LOWER);
    if (!strcmp(name, "title")) return jstr_case(r, line, self, JCASE_TITLE);
    if (!strcmp(name, "capitalize")) return jstr_case(r, line, self, JCASE_CAPITALIZE);
    if (!strcmp(name, "replace")) {
        jv c = jarg(args, 2, "count", jv_int(-1));
        return jstr_replace(r, line, self, a0, jarg(args, 1, NULL, jv_str(A, E, line, "")), c.k == JV_INT ? c.u.i : -1);
    }
    if (!strcmp(name, "format")) return str_format(r, line, self, args);
    if (!strcmp(name, "find") || !strcmp(name, "count")) {
        if (a0.k != JV_STR) jinja_throw(E, line, SLM_E_INVALID_ARG, "must be str, not %s", jv_type_name(a0));
        const char *s = self.u.s->s;
        size_t n = self.u.s->len, pn = a0.u.s->len;
        if (name[0] == 'f') {
            const char *hit = pn ? find_sub(s, n, a0.u.s->s, pn) : s;
            if (!hit) return jv_int(-1);
            int64_t cp = 0;
            for (const char *p = s; p < hit; p++)
                if (((unsigned char)*p & 0xC0) != 0x80) cp++;
            return jv_int(cp);
        }
        if (!pn) return jv_int((int64_t)jstr_ncodepoints(self.u.s) + 1);
        int64_t c = 0;
        for (size_t i = 0; i + pn <= n;) {
            const char *hit = find_sub(s + i, n - i, a0.u.s->s, pn);
            if (!hit) break;
            c++;
            i = (size_t)(hit - s) + pn;
        }
        return jv_int(c);
    }
    if (!strcmp(name, "join")) {
        jlist *l = jr_iterate(r, line, a0);
        jr_work(r, line, l->n); /* empty items make a long list cheap to build and slow to join */
        jbuf b;
        jbuf_init_arena(&b, A, A->limit);
        for (size_t i = 0; i < l->n; i++) {
            if (l->v[i].k != JV_STR)
                jinja_throw(E, line, SLM_E_INVALID_ARG, "sequence item %zu: expected str instance, %s found", i, jv_type_name(l->v[i]));
            if (i) jr_put(r, line, &b, self.u.s->s, self.u.s->len);
            jr_put(r, line, &b, l->v[i].u.s->s, l->v[i].u.s->len);
        }
        return jv_str_n(A, E, line, b.p ? b.p : "", b.len);
    }
    if (!strcmp(name, "splitlines")) {
        jlist *l = jlist_new(A, E, line, 0);
        const char *s = self.u.s->s;
        size_t n = self.u.s->len, st = 0;
        for (size_t i = 0; i < n; i++) {
            if (s[i] == '\n' || s[i] == '\r') {
                jlist_push(A, E, line, l, jv_str_n(A, E, line, s + st, i - st));
                if (s[i] == '\r' && i + 1 < n && s[i + 1] == '\n') i++;
                st = i + 1;
            }
        }
        if (st < n) jlist_push(A, E, line, l, jv_str_n(A, E, line, s + st, n - st));
        return jv_list(l);
    }
    /* is* predicates: true when non-empty and every code point matches */
    const char *s = self.u.s->s;
    size_t n = self.u.s->len;
    if (n == 0) return jv_bool(false);
    bool all = true, any_cased = false;
    for (size_t i = 0; i < n && all;) {
        int32_t c;
        i += decode(s, n, i, &c);
        utf8proc_category_t cat = utf8proc_category(c);
        bool alpha = cat >= UTF8PROC_CATEGORY_LU && cat <= UTF8PROC_CATEGORY_LO;
        bool digit = cat == UTF8PROC_CATEGORY_ND;
        if (!strcmp(name, "isdigit")) all = digit;
        else if (!strcmp(name, "isalpha")) all = alpha;
        else if (!strcmp(name, "isalnum")) all = alpha || digit;
        else if (!strcmp(name, "isspace")) all = py_space(c);
        else if (!strcmp(name, "islower")) { if (cat == UTF8PROC_CATEGORY_LU) all = false; if (cat == UTF8PROC_CATEGORY_LL) any_cased = true; }
        else if (!strcmp(name, "isupper")) { if (cat == UTF8PROC_CATEGORY_LL) all = false; if (cat == UTF8PROC_CATEGORY_LU) any_cased = true; }
    }
    if (!strcmp(name, "islower") || !strcmp(name, "isupper")) return jv_bool(all && any_cased);
    return jv_bool(all);
}

jv jinja_method(jrender *r, int line, jv self, const char *name, const jargs *args) {
    if (self.k == JV_STR) return str_method(r, line, self, name, args);
    if (self.k == JV_DICT) {
        jdict *d = self.u.d;
        if (!strcmp(name, "cycle") && d->is_loop) {
            jv idx;
            if (args->n_pos == 0) jinja_throw(E, line, SLM_E_INVALID_ARG, "no items for cycling given");
            if (!jdict_get_s(d, "index0", &idx)) idx = jv_int(0);
            return args->pos[idx.u.i % args->n_pos];
        }
        if (!strcmp(name, "get")) {
            jv v;
            if (jdict_get(d, jarg(args, 0, NULL, jv_none()), &v)) return v;
            return jarg(args, 1, NULL, jv_none());
        }
        if (!strcmp(name, "items") || !strcmp(name, "keys") || !strcmp(name, "values")) {
            jlist *l = jlist_new(A, E, line, d->n);
            for (size_t i = 0; i < d->n; i++) {
                if (name[0] == 'k') jlist_push(A, E, line, l, d->keys[i]);
                else if (name[0] == 'v') jlist_push(A, E, line, l, d->vals[i]);
                else {
                    jlist *t = jlist_new(A, E, line, 2);
                    jlist_push(A, E, line, t, d->keys[i]);
                    jlist_push(A, E, line, t, d->vals[i]);
                    t->tuple = true;
                    jlist_push(A, E, line, l, jv_list(t));
                }
            }
            return jv_list(l);
        }
        if (!strcmp(name, "copy")) {
            jdict *c = jdict_new(A, E, line);
            for (size_t i = 0; i < d->n; i++) jdict_set(A, E, line, c, d->keys[i], d->vals[i]);
            return jv_dict(c);
        }
    }
    if (self.k == JV_LIST) {
        jlist *l = self.u.l;
        jv a0 = jarg(args, 0, NULL, jv_none());
        if (!strcmp(name, "index") || !strcmp(name, "count")) {
            int64_t c = 0;
            for (size_t i = 0; i < l->n; i++) {
                if (!jr_equal(r, line, l->v[i], a0)) continue;
                if (name[0] == 'i') return jv_int((int64_t)i);
                c++;
            }
            if (name[0] == 'i') jinja_throw(E, line, SLM_E_INVALID_ARG, "x not in list");
            return jv_int(c);
        }
        if (!strcmp(name, "copy")) {
            jlist *c = jlist_new(A, E, line, l->n);
            for (size_t i = 0; i < l->n; i++) jlist_push(A, E, line, c, l->v[i]);
            return jv_list(c);
        }
    }
    /* mutating methods: the sandbox is immutable, as in transformers */
    jinja_throw(E, line, SLM_E_INVALID_ARG, "access to attribute '%s' of '%s' object is unsafe", name, jv_type_name(self));
}
