/* Jinja filters (x | name(args)), tests (x is name) and global functions (range, namespace,
 * raise_exception, strftime_now, dict), with jinja2 3.1's defaults and transformers' tojson. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "chat/jinja_internal.h"

#define A jr_arena(r)
#define E jr_err(r)

static jv S(jrender *r, int line, const char *s) { return jv_str(A, E, line, s); }

static jv str_from_buf(jrender *r, int line, const jbuf *b) { return jv_str_n(A, E, line, b->p ? b->p : "", b->len); }

static int64_t arg_int(jrender *r, int line, jv v, const char *what) {
    if (v.k == JV_INT) return v.u.i;
    if (v.k == JV_BOOL) return v.u.b;
    if (v.k == JV_FLOAT && isfinite(v.u.f) && fabs(v.u.f) < 9.2e18) return (int64_t)v.u.f;
    jinja_throw(E, line, SLM_E_INVALID_ARG, "%s must be an integer, not %s", what, jv_type_name(v));
}

/* Follow a dotted attribute path ("a.b", "0") the way jinja's make_attrgetter does. */
static jv get_path(jrender *r, int line, jv v, jv path) {
    if (path.k == JV_INT) return jr_getitem(r, line, v, path);
    if (path.k != JV_STR) return v;
    const char *p = path.u.s->s;
    while (*p) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        jv key = jv_str_n(A, E, line, p, n);
        bool digits = n > 0;
        for (size_t i = 0; i < n; i++)
            if (p[i] < '0' || p[i] > '9') digits = false;
        if (digits) key = jv_int(atoll(key.u.s->s));
        if (v.k == JV_UNDEF) return v;
        v = jr_getitem(r, line, v, key);
        p += n;
        if (*p == '.') p++;
    }
    return v;
}

/* ---- sorting -------------------------------------------------------------------------------- */
typedef struct sort_ctx {
    jrender *r;
    int line;
    bool case_sensitive;
} sort_ctx;

static int cmp_keys(const sort_ctx *c, jv a, jv b) {
    if (!c->case_sensitive && a.k == JV_STR && b.k == JV_STR) {
        a = jstr_case(c->r, c->line, a, JCASE_LOWER);
        b = jstr_case(c->r, c->line, b, JCASE_LOWER);
    }
    return jv_compare(c->r, c->line, a, b);
}

/* Stable merge sort of items by keys (parallel arrays). */
static void merge_sort(const sort_ctx *c, jv *keys, jv *items, jv *tk, jv *ti, size_t n, bool reverse) {
    if (n < 2) return;
    size_t h = n / 2;
    merge_sort(c, keys, items, tk, ti, h, reverse);
    merge_sort(c, keys + h, items + h, tk, ti, n - h, reverse);
    size_t i = 0, j = h, o = 0;
    while (i < h && j < n) {
        int cmp = cmp_keys(c, keys[j], keys[i]);
        bool take_right = reverse ? cmp > 0 : cmp < 0;
        if (take_right) { tk[o] = keys[j]; ti[o++] = items[j++]; }
        else { tk[o] = keys[i]; ti[o++] = items[i++]; }
    }
    while (i < h) { tk[o] = keys[i]; ti[o++] = items[i++]; }
    while (j < n) { tk[o] = keys[j]; ti[o++] = items[j++]; }
    memcpy(keys, tk, n * sizeof(jv));
    memcpy(items, ti, n * sizeof(jv));
}

static jlist *sorted(jrender *r, int line, jlist *in, jv attr, bool reverse, bool case_sensitive, bool by_value_of_pair) {
    size_t n = in->n;
    jv *keys = jarena_alloc(A, E, line, (n + 1) * sizeof(jv)), *items = jarena_alloc(A, E, line, (n + 1) * sizeof(jv));
    jv *tk = jarena_alloc(A, E, line, (n + 1) * sizeof(jv)), *ti = jarena_alloc(A, E, line, (n + 1) * sizeof(jv));
    for (size_t i = 0; i < n; i++) {
        items[i] = in->v[i];
        keys[i] = by_value_of_pair ? in->v[i].u.l->v[attr.u.i] : get_path(r, line, in->v[i], attr);
    }
    sort_ctx c = {r, line, case_sensitive};
    merge_sort(&c, keys, items, tk, ti, n, reverse);
    jlist *out = jlist_new(A, E, line, n);
    for (size_t i = 0; i < n; i++) jlist_push(A, E, line, out, items[i]);
    return out;
}

/* ---- select / reject / map ------------------------------------------------------------------ */
/* args from index first on: test name, then test arguments. */
static jlist *select_items(jrender *r, int line, jv v, const jargs *args, int first, bool by_attr, bool want) {
    /* jinja2 checks `if value:` first, so None and empty values select nothing */
    jlist *in = jv_truthy(v) ? jr_iterate(r, line, v) : jlist_new(A, E, line, 0), *out = jlist_new(A, E, line, 0);
    jv attr = by_attr ? jarg(args, 0, NULL, jv_undef()) : jv_undef();
    jv test = jarg(args, first, NULL, jv_undef());
    if (test.k != JV_UNDEF && test.k != JV_STR) jinja_throw(E, line, SLM_E_INVALID_ARG, "test name must be a string");
    jargs targs = {0};
    if (args->n_pos > first + 1) {
        targs.pos = args->pos + first + 1;
        targs.n_pos = args->n_pos - first - 1;
    }
    for (size_t i = 0; i < in->n; i++) {
        jr_step(r, line);
        jv x = by_attr ? get_path(r, line, in->v[i], attr) : in->v[i];
        bool ok = test.k == JV_STR ? jinja_test(r, line, test.u.s->s, x, &targs) : jv_truthy(x);
        if (ok == want) jlist_push(A, E, line, out, in->v[i]);
    }
    return out;
}

static jlist *map_items(jrender *r, int line, jv v, const jargs *args) {
    jlist *in = jv_truthy(v) ? jr_iterate(r, line, v) : jlist_new(A, E, line, 0), *out = jlist_new(A, E, line, in->n);
    jv attr = jarg(args, -1, "attribute", jv_undef());
    jv def = jarg(args, -1, "default", jv_undef());
    jv fname = jarg(args, 0, NULL, jv_undef());
    jargs fargs = {0};
    if (args->n_pos > 1) {
        fargs.pos = args->pos + 1;
        fargs.n_pos = args->n_pos - 1;
    }
    for (size_t i = 0; i < in->n; i++) {
        jr_step(r, line);
        jv x;
        if (attr.k != JV_UNDEF) {
            x = get_path(r, line, in->v[i], attr);
            if (x.k == JV_UNDEF && def.k != JV_UNDEF) x = def;
        } else if (fname.k == JV_STR) {
            x = jinja_filter(r, line, fname.u.s->s, in->v[i], &fargs);
        } else {
            jinja_throw(E, line, SLM_E_INVALID_ARG, "map needs a filter name or attribute=");
        }
        jlist_push(A, E, line, out, x);
    }
    return out;
}

/* ---- filters -------------------------------------------------------------------------------- */
static jv f_tojson(jrender *r, int line, jv v, const jargs *args) {
    /* transformers' signature: tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False);
     * ensure_ascii=True is not supported (templates do not ask for it) */
    jv ind = jarg(args, -1, "indent", jv_none());
    jjson_opts o = {.indent = ind.k == JV_INT ? (int)(ind.u.i < 0 ? 0 : ind.u.i > 64 ? 64 : ind.u.i) : -1};
    jv seps = jarg(args, -1, "separators", jv_none());
    if (seps.k == JV_LIST && seps.u.l->n == 2 && seps.u.l->v[0].k == JV_STR && seps.u.l->v[1].k == JV_STR) {
        o.item_sep = seps.u.l->v[0].u.s->s;
        o.key_sep = seps.u.l->v[1].u.s->s;
    }
    o.sort_keys = jv_truthy(jarg(args, -1, "sort_keys", jv_bool(false)));
    jbuf b;
    jbuf_init_arena(&b, A, A->limit);
    const char *bad = NULL;
    if (!jv_write_json(&b, v, &o, 0, &bad)) {
        if (bad) jinja_throw(E, line, SLM_E_INVALID_ARG, "Object of type %s is not JSON serializable", bad);
        jinja_throw(E, line, SLM_E_NOMEM, "tojson output too large");
    }
    return str_from_buf(r, line, &b);
}

static jv f_indent(jrender *r, int line, jv v, const jargs *args) {
    jv w = jarg(args, 0, "width", jv_int(4));
    bool first = jv_truthy(jarg(args, 1, "first", jv_bool(false)));
    bool blank = jv_truthy(jarg(args, 2, "blank", jv_bool(false)));
    jv pad;
    if (w.k == JV_STR) pad = w;
    else {
        int64_t n = arg_int(r, line, w, "width");
        if (n < 0) n = 0;
        if (n > 1024) n = 1024;
        char sp[1025];
        memset(sp, ' ', (size_t)n);
        sp[n] = 0;
        pad = S(r, line, sp);
    }
    v = jr_str(r, line, v);
    const char *s = v.u.s->s;
    size_t n = v.u.s->len;
    jbuf b;
    jbuf_init_arena(&b, A, A->limit);
    bool ok = true;
    size_t st = 0;
    bool first_line = true;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && s[i] != '\n') continue;
        bool empty = i == st;
        bool do_pad = first_line ? first : (blank || !empty);
        if (first_line && first && !blank && empty && n == 0) do_pad = true;
        if (do_pad) ok = ok && jbuf_put(&b, pad.u.s->s, pad.u.s->len);
        ok = ok && jbuf_put(&b, s + st, i - st);
        if (i < n) ok = ok && jbuf_put(&b, "\n", 1);
        st = i + 1;
        first_line = false;
    }
    if (!ok) jinja_throw(E, line, SLM_E_NOMEM, "indent output too large");
    return str_from_buf(r, line, &b);
}

static jv f_join(jrender *r, int line, jv v, const jargs *args) {
    jlist *l = jr_iterate(r, line, v);
    jv sep = jr_str(r, line, jarg(args, 0, "d", S(r, line, "")));
    jv attr = jarg(args, 1, "attribute", jv_undef());
    jbuf b;
    jbuf_init_arena(&b, A, A->limit);
    for (size_t i = 0; i < l->n; i++) {
        jv x = attr.k != JV_UNDEF ? get_path(r, line, l->v[i], attr) : l->v[i];
        bool ok = (!i || jbuf_put(&b, sep.u.s->s, sep.u.s->len)) && jv_write_str(&b, x);
        if (!ok) jinja_throw(E, line, SLM_E_NOMEM, "join output too large");
    }
    return str_from_buf(r, line, &b);
}

static jv to_number(jrender *r, int line, jv v, bool want_int, jv def) {
    if (v.k == JV_INT) return want_int ? v : jv_float((double)v.u.i);
    if (v.k == JV_BOOL) return want_int ? jv_int(v.u.b) : jv_float(v.u.b);
    if (v.k == JV_FLOAT) {
        if (!want_int) return v;
        if (!isfinite(v.u.f) || fabs(v.u.f) > 9.2e18) return def;
        return jv_int((int64_t)v.u.f);
    }
    if (v.k == JV_STR) {
        const char *s = v.u.s->s;
        char *end;
        if (strchr(s, 'x') || strchr(s, 'X') || strchr(s, 'p') || strchr(s, 'P')) return def; /* no C hex floats */
        if (want_int) {
            long long x = strtoll(s, &end, 10);
            while (*end == ' ' || *end == '\n' || *end == '\t') end++;
            if (end != s && !*end) return jv_int(x);
        }
        double d = strtod(s, &end);
        while (*end == ' ' || *end == '\n' || *end == '\t') end++;
        if (end != s && !*end) return want_int ? (isfinite(d) && fabs(d) < 9.2e18 ? jv_int((int64_t)d) : def) : jv_float(d);
    }
    (void)r;
    (void)line;
    return def;
}

static jv f_round(jrender *r, int line, jv v, const jargs *args) {
    int64_t prec = arg_int(r, line, jarg(args, 0, "precision", jv_int(0)), "precision");
    jv m = jarg(args, 1, "method", S(r, line, "common"));
    if (!jv_is_num(v)) jinja_throw(E, line, SLM_E_INVALID_ARG, "round needs a number, not %s", jv_type_name(v));
    const char *method = m.k == JV_STR ? m.u.s->s : "common";
    if (v.k != JV_FLOAT && !strcmp(method, "common") && prec >= 0) return v; /* Python's round(int) is the int */
    if (prec < -300) prec = -300;
    if (prec > 300) prec = 300;
    double x = jv_num(v), p = pow(10.0, (double)prec), y = x * p;
    const char *ms = m.k == JV_STR ? m.u.s->s : "common";
    if (!strcmp(ms, "floor")) y = floor(y);
    else if (!strcmp(ms, "ceil")) y = ceil(y);
    else y = nearbyint(y); /* Python's round(): half to even */
    return jv_float(y / p);
}

/* Filters that read a list or dict in O(1); the others are charged its length. */
static bool filter_is_o1(const char *name) {
    static const char *const k[] = {"length", "count", "first", "last", "default", "d", "attr", NULL};
    for (int i = 0; k[i]; i++)
        if (!strcmp(name, k[i])) return true;
    return false;
}

jv jinja_filter(jrender *r, int line, const char *name, jv v, const jargs *args) {
    jr_work(r, line, v.k == JV_STR || !filter_is_o1(name) ? jr_scan_cost(v) : 1);
    if (!strcmp(name, "default") || !strcmp(name, "d")) {
        bool boolean = jv_truthy(jarg(args, 1, "boolean", jv_bool(false)));
        if (v.k == JV_UNDEF || (boolean && !jv_truthy(v))) return jarg(args, 0, "default_value", S(r, line, ""));
        return v;
    }
    if (!strcmp(name, "safe")) {
        v = jr_str(r, line, v);
        v.markup = 1;
        return v;
    }
    if (!strcmp(name, "tojson")) return f_tojson(r, line, v, args);
    if (!strcmp(name, "trim")) return jstr_strip(r, line, v, jarg(args, 0, "chars", jv_none()), 3);
    if (!strcmp(name, "string")) return jr_str(r, line, v);
    if (!strcmp(name, "upper")) return jstr_case(r, line, v, JCASE_UPPER);
    if (!strcmp(name, "lower")) return jstr_case(r, line, v, JCASE_LOWER);
    if (!strcmp(name, "title")) return jstr_case(r, line, v, JCASE_TITLE);
    if (!strcmp(name, "capitalize")) return jstr_case(r, line, v, JCASE_CAPITALIZE);
    if (!strcmp(name, "escape") || !strcmp(name, "e") || !strcmp(name, "forceescape")) return v.k == JV_STR && v.markup ? v : jstr_escape(r, line, v);
    if (!strcmp(name, "indent")) return f_indent(r, line, v, args);
    if (!strcmp(name, "join")) return f_join(r, line, v, args);
    if (!strcmp(name, "pprint")) {
        jbuf b;
        jbuf_init_arena(&b, A, A->limit);
        if (!jv_write_repr(&b, v)) jinja_throw(E, line, SLM_E_NOMEM, "pprint output too large");
        return str_from_buf(r, line, &b);
    }
    if (!strcmp(name, "replace")) {
        jv c = jarg(args, 2, "count", jv_none());
        return jstr_replace(r, line, v, jarg(args, 0, "old", S(r, line, "")), jarg(args, 1, "new", S(r, line, "")),
                            c.k == JV_INT ? c.u.i : -1);
    }
    if (!strcmp(name, "length") || !strcmp(name, "count")) {
        switch (v.k) {
        case JV_UNDEF: return jv_int(0);
        case JV_STR: return jv_int((int64_t)jstr_ncodepoints(v.u.s));
        case JV_LIST: return jv_int((int64_t)v.u.l->n);
        case JV_DICT: case JV_NS: return jv_int((int64_t)v.u.d->n);
        default: jinja_throw(E, line, SLM_E_INVALID_ARG, "object of type '%s' has no len()", jv_type_name(v));
        }
    }
    if (!strcmp(name, "wordcount")) return jv_int((int64_t)jstr_split(r, line, v, jv_none(), -1)->n);
    if (!strcmp(name, "items")) {
        if (v.k == JV_UNDEF) return jv_list(jlist_new(A, E, line, 0));
        if (v.k != JV_DICT && v.k != JV_NS) jinja_throw(E, line, SLM_E_INVALID_ARG, "Can only get item pairs from a mapping.");
        jv d = v;
        d.k = JV_DICT;
        return jinja_method(r, line, d, "items", args);
    }
    if (!strcmp(name, "dictsort")) {
        if (v.k != JV_DICT) jinja_throw(E, line, SLM_E_INVALID_ARG, "dictsort needs a mapping, not %s", jv_type_name(v));
        jargs none = {0};
        jlist *pairs = jinja_method(r, line, v, "items", &none).u.l;
        bool cs = jv_truthy(jarg(args, 0, "case_sensitive", jv_bool(false)));
        jv by = jarg(args, 1, "by", S(r, line, "key"));
        bool rev = jv_truthy(jarg(args, 2, "reverse", jv_bool(false)));
        bool by_value = by.k == JV_STR && !strcmp(by.u.s->s, "value");
        return jv_list(sorted(r, line, pairs, jv_int(by_value ? 1 : 0), rev, cs, true));
    }
    if (!strcmp(name, "list")) {
        jlist *l = jr_iterate(r, line, v), *c = jlist_new(A, E, line, l->n);
        for (size_t i = 0; i < l->n; i++) jlist_push(A, E, line, c, l->v[i]);
        return jv_list(c);
    }
    if (!strcmp(name, "first") || !strcmp(name, "last")) {
        jlist *l = jr_iterate(r, line, v);
        if (!l->n) return jv_undef();
        return name[0] == 'f' ? l->v[0] : l->v[l->n - 1];
    }
    if (!strcmp(name, "reverse")) {
        if (v.k == JV_STR) {
            jlist *chars = jr_iterate(r, line, v);
            jbuf b;
            jbuf_init_arena(&b, A, A->limit);
            for (size_t i = chars->n; i-- > 0;) jr_put(r, line, &b, chars->v[i].u.s->s, chars->v[i].u.s->len);
            return str_from_buf(r, line, &b);
        }
        jlist *l = jr_iterate(r, line, v), *c = jlist_new(A, E, line, l->n);
        for (size_t i = l->n; i-- > 0;) jlist_push(A, E, line, c, l->v[i]);
        return jv_list(c);
    }
    if (!strcmp(name, "sort")) {
        bool rev = jv_truthy(jarg(args, 0, "reverse", jv_bool(false)));
        bool cs = jv_truthy(jarg(args, 1, "case_sensitive", jv_bool(false)));
        return jv_list(sorted(r, line, jr_iterate(r, line, v), jarg(args, 2, "attribute", jv_none()), rev, cs, false));
    }
    if (!strcmp(name, "unique")) {
        bool cs = jv_truthy(jarg(args, 0, "case_sensitive", jv_bool(false)));
        jv attr = jarg(args, 1, "attribute", jv_none());
        jlist *l = jr_iterate(r, line, v), *out = jlist_new(A, E, line, 0), *seen = jlist_new(A, E, line, 0);
        for (size_t i = 0; i < l->n; i++) {
            jr_step(r, line);
            jv k = get_path(r, line, l->v[i], attr);
            if (!cs && k.k == JV_STR) k = jstr_case(r, line, k, JCASE_LOWER);
            bool dup = false;
            for (size_t j = 0; j < seen->n && !dup; j++) dup = jr_equal(r, line, seen->v[j], k);
            if (dup) continue;
            jlist_push(A, E, line, seen, k);
            jlist_push(A, E, line, out, l->v[i]);
        }
        return jv_list(out);
    }
    if (!strcmp(name, "min") || !strcmp(name, "max")) {
        jlist *l = sorted(r, line, jr_iterate(r, line, v), jarg(args, 2, "attribute", jv_none()), false,
                          jv_truthy(jarg(args, 0, "case_sensitive", jv_bool(false))), false);
        if (!l->n) return jv_undef();
        return name[1] == 'i' ? l->v[0] : l->v[l->n - 1];
    }
    if (!strcmp(name, "sum")) {
        jv attr = jarg(args, 0, "attribute", jv_none());
        jv acc = jarg(args, 1, "start", jv_int(0));
        jlist *l = jr_iterate(r, line, v);
        for (size_t i = 0; i < l->n; i++) acc = jv_binop(r, line, OP_ADD, acc, get_path(r, line, l->v[i], attr));
        return acc;
    }
    if (!strcmp(name, "batch")) {
        int64_t size = arg_int(r, line, jarg(args, 0, "linecount", jv_int(1)), "linecount");
        if (size <= 0) jinja_throw(E, line, SLM_E_INVALID_ARG, "batch size must be positive");
        jv fill = jarg(args, 1, "fill_with", jv_undef());
        jlist *l = jr_iterate(r, line, v), *out = jlist_new(A, E, line, 0), *cur = NULL;
        for (size_t i = 0; i < l->n; i++) {
            if (!cur || (int64_t)cur->n == size) {
                cur = jlist_new(A, E, line, 0);
                jlist_push(A, E, line, out, jv_list(cur));
            }
            jlist_push(A, E, line, cur, l->v[i]);
        }
        if (cur && fill.k != JV_UNDEF)
            while ((int64_t)cur->n < size) jlist_push(A, E, line, cur, fill);
        return jv_list(out);
    }
    if (!strcmp(name, "int")) return to_number(r, line, v, true, jarg(args, 0, "default", jv_int(0)));
    if (!strcmp(name, "float")) return to_number(r, line, v, false, jarg(args, 0, "default", jv_float(0.0)));
    if (!strcmp(name, "abs")) {
        if (v.k == JV_INT) return jv_int(v.u.i < 0 && v.u.i != INT64_MIN ? -v.u.i : v.u.i);
        if (v.k == JV_FLOAT) return jv_float(fabs(v.u.f));
        if (v.k == JV_BOOL) return jv_int(v.u.b);
        jinja_throw(E, line, SLM_E_INVALID_ARG, "bad operand type for abs(): '%s'", jv_type_name(v));
    }
    if (!strcmp(name, "round")) return f_round(r, line, v, args);
    if (!strcmp(name, "select") || !strcmp(name, "reject"))
        return jv_list(select_items(r, line, v, args, 0, false, name[0] == 's'));
    if (!strcmp(name, "selectattr") || !strcmp(name, "rejectattr"))
        return jv_list(select_items(r, line, v, args, 1, true, name[0] == 's'));
    if (!strcmp(name, "map")) return jv_list(map_items(r, line, v, args));
    if (!strcmp(name, "attr")) {
        jv nm = jarg(args, 0, NULL, jv_undef());
        if (nm.k != JV_STR) jinja_throw(E, line, SLM_E_INVALID_ARG, "attr needs a name");
        return jr_getattr(r, line, v, nm.u.s->s);
    }
    if (!strcmp(name, "center")) {
        v = jr_str(r, line, v);
        int64_t w = arg_int(r, line, jarg(args, 0, "width", jv_int(80)), "width");
        int64_t len = (int64_t)jstr_ncodepoints(v.u.s);
        if (w > 4096) w = 4096;
        if (w <= len) return v;
        int64_t left = (w - len) / 2 + ((w - len) & w & 1), right = w - len - left;
        jbuf b;
        jbuf_init_arena(&b, A, A->limit);
        for (int64_t i = 0; i < left; i++) jr_put(r, line, &b, " ", 1);
        jr_put(r, line, &b, v.u.s->s, v.u.s->len);
        for (int64_t i = 0; i < right; i++) jr_put(r, line, &b, " ", 1);
        return str_from_buf(r, line, &b);
    }
    if (!strcmp(name, "truncate")) { /* jinja2: length=255, killwords=False, end='...', leeway=5 */
        v = jr_str(r, line, v);
        int64_t length = arg_int(r, line, jarg(args, 0, "length", jv_int(255)), "length");
        bool killwords = jv_truthy(jarg(args, 1, "killwords", jv_bool(false)));
        jv end = jr_str(r, line, jarg(args, 2, "end", S(r, line, "...")));
        int64_t leeway = arg_int(r, line, jarg(args, 3, "leeway", jv_int(5)), "leeway");
        int64_t n_end = (int64_t)jstr_ncodepoints(end.u.s), n = (int64_t)jstr_ncodepoints(v.u.s);
        if (length < n_end) jinja_throw(E, line, SLM_E_INVALID_ARG, "expected length >= %lld, got %lld", (long long)n_end, (long long)length);
        if (leeway < 0) jinja_throw(E, line, SLM_E_INVALID_ARG, "expected leeway >= 0, got %lld", (long long)leeway);
        if (n <= length + leeway) return v;
        jlist *chars = jr_iterate(r, line, v);
        jbuf b;
        jbuf_init_arena(&b, A, A->limit);
        for (int64_t i = 0; i < length - n_end; i++) jr_put(r, line, &b, chars->v[i].u.s->s, chars->v[i].u.s->len);
        if (!killwords) { /* drop the last partial word: rsplit(" ", 1)[0] */
            size_t cut = b.len;
            while (cut > 0 && b.p[cut - 1] != ' ') cut--;
            if (cut > 0) b.len = cut - 1;
        }
        jr_put(r, line, &b, end.u.s->s, end.u.s->len);
        return str_from_buf(r, line, &b);
    }
    if (!strcmp(name, "format")) {
        jlist *t = jlist_new(A, E, line, (size_t)args->n_pos);
        for (int i = 0; i < args->n_pos; i++) jlist_push(A, E, line, t, args->pos[i]);
        t->tuple = true;
        return jv_binop(r, line, OP_MOD, jr_str(r, line, v), jv_list(t));
    }
    jinja_throw(E, line, SLM_E_UNSUPPORTED, "no filter named '%s'", name);
}

/* ---- tests ---------------------------------------------------------------------------------- */
static const char *const k_tests[] = {"defined", "undefined", "none", "string", "number", "integer", "float", "mapping",
                                      "iterable", "sequence", "boolean", "true", "false", "callable", "equalto", "eq",
                                      "==", "ne", "!=", "sameas", "in", "odd", "even", "divisibleby", "lower", "upper",
                                      "gt", "greaterthan", ">", "ge", ">=", "lt", "lessthan", "<", "le", "<=",
                                      "escaped", "filter", "test", NULL};

bool jinja_test_exists(const char *name) {
    for (int i = 0; k_tests[i]; i++)
        if (!strcmp(k_tests[i], name)) return true;
    return false;
}

bool jinja_test(jrender *r, int line, const char *name, jv v, const jargs *args) {
    jv a0 = jarg(args, 0, NULL, jv_undef());
    if (!strcmp(name, "defined")) return v.k != JV_UNDEF;
    if (!strcmp(name, "undefined")) return v.k == JV_UNDEF;
    if (!strcmp(name, "none")) return v.k == JV_NONE;
    if (!strcmp(name, "string")) return v.k == JV_STR;
    if (!strcmp(name, "number")) return v.k == JV_INT || v.k == JV_FLOAT || v.k == JV_BOOL;
    if (!strcmp(name, "integer")) return v.k == JV_INT;
    if (!strcmp(name, "float")) return v.k == JV_FLOAT;
    if (!strcmp(name, "boolean")) return v.k == JV_BOOL;
    if (!strcmp(name, "true")) return v.k == JV_BOOL && v.u.b;
    if (!strcmp(name, "false")) return v.k == JV_BOOL && !v.u.b;
    if (!strcmp(name, "mapping")) return v.k == JV_DICT;
    if (!strcmp(name, "iterable")) return v.k == JV_STR || v.k == JV_LIST || v.k == JV_DICT || v.k == JV_UNDEF;
    if (!strcmp(name, "sequence")) return v.k == JV_STR || v.k == JV_LIST || v.k == JV_DICT;
    if (!strcmp(name, "callable")) return v.k == JV_MACRO || v.k == JV_BUILTIN || v.k == JV_METHOD;
    if (!strcmp(name, "escaped")) return false;
    if (!strcmp(name, "equalto") || !strcmp(name, "eq") || !strcmp(name, "==")) return jr_equal(r, line, v, a0);
    if (!strcmp(name, "ne") || !strcmp(name, "!=")) return !jr_equal(r, line, v, a0);
    if (!strcmp(name, "sameas")) {
        if (v.k != a0.k) return false;
        if (v.k == JV_NONE || v.k == JV_UNDEF) return true;
        if (v.k == JV_BOOL) return v.u.b == a0.u.b;
        if (v.k == JV_INT) return v.u.i == a0.u.i; /* small ints are shared objects in CPython */
        if (v.k == JV_STR) return v.u.s == a0.u.s;
        return v.u.l == a0.u.l;
    }
    if (!strcmp(name, "in")) return jv_contains(r, line, a0, v);
    if (!strcmp(name, "odd") || !strcmp(name, "even") || !strcmp(name, "divisibleby")) {
        if (v.k != JV_INT && v.k != JV_BOOL) jinja_throw(E, line, SLM_E_INVALID_ARG, "'%s' test needs an integer", name);
        int64_t x = v.k == JV_BOOL ? v.u.b : v.u.i;
        if (name[0] == 'o') return (x % 2) != 0;
        if (name[0] == 'e') return (x % 2) == 0;
        int64_t d = arg_int(r, line, a0, "divisor");
        if (d == 0) jinja_throw(E, line, SLM_E_INVALID_ARG, "integer division or modulo by zero");
        return d == -1 || x % d == 0;
    }
    if (!strcmp(name, "lower") || !strcmp(name, "upper")) {
        if (v.k != JV_STR) return false;
        jv conv = jstr_case(r, line, v, name[0] == 'l' ? JCASE_LOWER : JCASE_UPPER);
        return jr_equal(r, line, conv, v);
    }
    if (!strcmp(name, "gt") || !strcmp(name, "greaterthan") || !strcmp(name, ">")) return jv_compare(r, line, v, a0) > 0;
    if (!strcmp(name, "ge") || !strcmp(name, ">=")) return jv_compare(r, line, v, a0) >= 0;
    if (!strcmp(name, "lt") || !strcmp(name, "lessthan") || !strcmp(name, "<")) return jv_compare(r, line, v, a0) < 0;
    if (!strcmp(name, "le") || !strcmp(name, "<=")) return jv_compare(r, line, v, a0) <= 0;
    jinja_throw(E, line, SLM_E_UNSUPPORTED, "no test named '%s'", name);
}

/* ---- globals -------------------------------------------------------------------------------- */
enum { G_NONE, G_RANGE, G_NAMESPACE, G_DICT, G_RAISE, G_STRFTIME };

int jinja_global_id(const char *name) {
    if (!strcmp(name, "range")) return G_RANGE;
    if (!strcmp(name, "namespace")) return G_NAMESPACE;
    if (!strcmp(name, "dict")) return G_DICT;
    if (!strcmp(name, "raise_exception")) return G_RAISE;
    if (!strcmp(name, "strftime_now")) return G_STRFTIME;
    return G_NONE;
}

#define RANGE_MAX 10000000

jv jinja_call_global(jrender *r, int line, int id, const jargs *args) {
    switch (id) {
    case G_RANGE: {
        int64_t a = 0, b, step = 1;
        if (args->n_pos == 1) b = arg_int(r, line, args->pos[0], "range() argument");
        else if (args->n_pos >= 2) {
            a = arg_int(r, line, args->pos[0], "range() argument");
            b = arg_int(r, line, args->pos[1], "range() argument");
            if (args->n_pos >= 3) step = arg_int(r, line, args->pos[2], "range() argument");
        } else jinja_throw(E, line, SLM_E_INVALID_ARG, "range expected at least 1 argument, got 0");
        if (step == 0) jinja_throw(E, line, SLM_E_INVALID_ARG, "range() arg 3 must not be zero");
        double count = ceil(((double)b - (double)a) / (double)step);
        if (count > RANGE_MAX) jinja_throw(E, line, SLM_E_RANGE, "range too large (limit %d items)", RANGE_MAX);
        jlist *l = jlist_new(A, E, line, count > 0 ? (size_t)count : 0);
        for (int64_t x = a; step > 0 ? x < b : x > b; x += step) {
            jlist_push(A, E, line, l, jv_int(x));
            if ((step > 0 && x > INT64_MAX - step) || (step < 0 && x < INT64_MIN - step)) break;
        }
        return jv_list(l);
    }
    case G_NAMESPACE: case G_DICT: {
        jdict *d = jdict_new(A, E, line);
        if (args->n_pos >= 1 && (args->pos[0].k == JV_DICT || args->pos[0].k == JV_NS))
            for (size_t i = 0; i < args->pos[0].u.d->n; i++) jdict_set(A, E, line, d, args->pos[0].u.d->keys[i], args->pos[0].u.d->vals[i]);
        for (int i = 0; i < args->n_kw; i++) jdict_set(A, E, line, d, S(r, line, args->kw_names[i]), args->kw[i]);
        jv v = jv_dict(d);
        if (id == G_NAMESPACE) v.k = JV_NS;
        return v;
    }
    case G_RAISE: {
        jv msg = jr_str(r, line, jarg(args, 0, NULL, S(r, line, "")));
        E->raised = true;
        jinja_throw(E, line, SLM_E_INVALID_ARG, "%s", msg.u.s->s);
    }
    case G_STRFTIME: {
        jv fmt = jarg(args, 0, NULL, jv_undef());
        if (fmt.k != JV_STR) jinja_throw(E, line, SLM_E_INVALID_ARG, "strftime_now needs a format string");
        if (fmt.u.s->len > 200) jinja_throw(E, line, SLM_E_RANGE, "strftime_now format too long");
        time_t t;
        struct tm tm;
        if (jr_now(r) >= 0) {
            t = (time_t)jr_now(r);
            gmtime_r(&t, &tm);
        } else {
            t = time(NULL);
            localtime_r(&t, &tm);
        }
        char buf[1024];
        size_t n = fmt.u.s->len ? strftime(buf, sizeof buf, fmt.u.s->s, &tm) : 0;
        return jv_str_n(A, E, line, buf, n);
    }
    default: jinja_throw(E, line, SLM_E_INVALID_ARG, "unknown function");
    }
}
