/* Jinja evaluator: walks the AST with a chain of variable frames and writes text into arena
 * buffers. Also the public entry points jinja_parse / jinja_render (JSON -> values).

 * Scoping: see the comment above exec_for's section. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/error.h"
#include "chat/jinja_internal.h"

typedef struct jframe {
    struct jframe *parent;
    jdict *vars;
} jframe;

struct jrender {
    jarena *a;
    jctx_err *e;
    jframe *root;
    int depth, max_depth;
    uint64_t steps, max_steps;
    size_t max_output;
    int64_t now;
};

enum { FLOW_NORMAL = 0, FLOW_BREAK = 1, FLOW_CONTINUE = 2 };

jarena *jr_arena(jrender *r) { return r->a; }
jctx_err *jr_err(jrender *r) { return r->e; }
int64_t jr_now(jrender *r) { return r->now; }

void jr_put(jrender *r, int line, jbuf *b, const char *s, size_t n) {
    if (!jbuf_put(b, s, n)) jinja_throw(r->e, line, SLM_E_NOMEM, "template needs too much memory (limit %zu bytes)", b->limit);
}

void jr_step(jrender *r, int line) { jr_work(r, line, 1); }

void jr_work(jrender *r, int line, uint64_t units) {
    r->steps += units < r->max_steps ? units : r->max_steps;
    if (r->steps > r->max_steps)
        jinja_throw(r->e, line, SLM_E_RANGE, "template does too much work (limit %llu steps)", (unsigned long long)r->max_steps);
}

uint64_t jr_scan_cost(jv v) {
    switch (v.k) {
    case JV_STR: return 1 + v.u.s->len / 64;
    case JV_LIST: return 1 + v.u.l->n;
    case JV_DICT: case JV_NS: return 1 + v.u.d->n;
    default: return 1;
    }
}

bool jr_equal(jrender *r, int line, jv a, jv b) {
    uint64_t work = 0;
    bool eq = jv_equal_w(a, b, &work);
    jr_work(r, line, work);
    return eq;
}

static void enter(jrender *r, int line) {
    if (++r->depth > r->max_depth) jinja_throw(r->e, line, SLM_E_RANGE, "template recursion too deep (limit %d)", r->max_depth);
}

static jframe *frame_new(jrender *r, jframe *parent, int line) {
    jframe *f = jarena_alloc(r->a, r->e, line, sizeof *f);
    f->parent = parent;
    f->vars = jdict_new(r->a, r->e, line);
    return f;
}

static void frame_set(jrender *r, jframe *f, const char *name, jv v, int line) {
    jdict_set_s(r->a, r->e, line, f->vars, name, v);
}

static jv undef_hint(jrender *r, int line, const char *fmt, const char *arg) {
    char msg[300];
    snprintf(msg, sizeof msg, fmt, arg);
    jv s = jv_str(r->a, r->e, line, msg);
    jv u = jv_undef();
    u.u.s = s.u.s;
    return u;
}

_Noreturn static void throw_undefined(jrender *r, int line, jv u) {
    jinja_throw(r->e, line, SLM_E_INVALID_ARG, "%s", u.u.s ? u.u.s->s : "value is undefined");
}

static jv lookup(jrender *r, jframe *f, const char *name, int line) {
    for (; f; f = f->parent) {
        jv v;
        if (jdict_get_s(f->vars, name, &v)) return v;
    }
    int id = jinja_global_id(name);
    if (id) {
        jv v = jv_int(id);
        v.k = JV_BUILTIN;
        return v;
    }
    return undef_hint(r, line, "'%s' is undefined", name);
}

/* ---- attribute / item access (jinja2 environment.getattr / getitem) ------------------------- */
static size_t utf8_count(const char *s, size_t n) {
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80) c++;
    return c;
}

/* Byte offset of code point index ci (ci <= count). */
static size_t utf8_offset(const char *s, size_t n, size_t ci) {
    size_t c = 0, i = 0;
    for (; i < n; i++) {
        if (((unsigned char)s[i] & 0xC0) != 0x80) {
            if (c == ci) return i;
            c++;
        }
    }
    return n;
}

/* The byte offset of the code point after / before the one at byte offset i (i < n / i > 0). */
static size_t utf8_next(const char *s, size_t n, size_t i) {
    for (i++; i < n && ((unsigned char)s[i] & 0xC0) == 0x80; i++) {}
    return i;
}
static size_t utf8_prev(const char *s, size_t i) {
    for (i--; i > 0 && ((unsigned char)s[i] & 0xC0) == 0x80; i--) {}
    return i;
}

static jv method_value(jrender *r, int line, jv self, const char *name) {
    jmethod *m = jarena_alloc(r->a, r->e, line, sizeof *m);
    m->self = self;
    m->name = name;
    jv v = {0};
    v.k = JV_METHOD;
    v.u.m = m;
    return v;
}

jv jr_getattr(jrender *r, int line, jv obj, const char *name) {
    if (obj.k == JV_UNDEF) throw_undefined(r, line, obj);
    if ((obj.k == JV_DICT || obj.k == JV_STR || obj.k == JV_LIST) && jinja_has_method(obj, name))
        return method_value(r, line, obj, name);
    if (obj.k == JV_DICT || obj.k == JV_NS) {
        jv v;
        if (jdict_get_s(obj.u.d, name, &v)) return v;
        return undef_hint(r, line, obj.k == JV_NS ? "namespace has no attribute '%s'" : "'dict object' has no attribute '%s'", name);
    }
    return undef_hint(r, line, "object has no attribute '%s'", name);
}

jv jr_getitem(jrender *r, int line, jv obj, jv key) {
    if (obj.k == JV_UNDEF) throw_undefined(r, line, obj);
    if (obj.k == JV_DICT || obj.k == JV_NS) {
        jv v;
        if (jdict_get(obj.u.d, key, &v)) return v;
        if (key.k == JV_STR) return jr_getattr(r, line, obj, key.u.s->s);
        return undef_hint(r, line, "%s", "'dict object' has no such key");
    }
    if ((obj.k == JV_LIST || obj.k == JV_STR) && (key.k == JV_INT || key.k == JV_BOOL)) {
        int64_t i = key.k == JV_BOOL ? key.u.b : key.u.i;
        if (obj.k == JV_LIST) {
            int64_t n = (int64_t)obj.u.l->n;
            if (i < 0) i += n;
            if (i < 0 || i >= n) return undef_hint(r, line, "%s", "list index out of range");
            return obj.u.l->v[i];
        }
        jr_work(r, line, jr_scan_cost(obj)); /* code points are counted from the start */
        int64_t n = (int64_t)utf8_count(obj.u.s->s, obj.u.s->len);
        if (i < 0) i += n;
        if (i < 0 || i >= n) return undef_hint(r, line, "%s", "string index out of range");
        size_t b0 = utf8_offset(obj.u.s->s, obj.u.s->len, (size_t)i);
        size_t b1 = utf8_next(obj.u.s->s, obj.u.s->len, b0);
        return jv_str_n(r->a, r->e, line, obj.u.s->s + b0, b1 - b0);
    }
    if (key.k == JV_STR) return jr_getattr(r, line, obj, key.u.s->s);
    return undef_hint(r, line, "%s", "object is not subscriptable");
}

/* Python slice index normalization for a sequence of length n. */
static void slice_indices(int64_t n, jv start, jv stop, int64_t step, int64_t *s0, int64_t *s1) {
    int64_t lo = step < 0 ? -1 : 0, hi = step < 0 ? n - 1 : n;
    if (start.k == JV_NONE || start.k == JV_UNDEF) *s0 = step < 0 ? hi : lo;
    else {
        int64_t v = start.u.i;
        if (v < 0) { v += n; if (v < lo) v = lo; }
        else if (v > hi) v = hi;
        *s0 = v;
    }
    if (stop.k == JV_NONE || stop.k == JV_UNDEF) *s1 = step < 0 ? lo : hi;
    else {
        int64_t v = stop.u.i;
        if (v < 0) { v += n; if (v < lo) v = lo; }
        else if (v > hi) v = hi;
        *s1 = v;
    }
}

static jv eval(jrender *r, jframe *f, const jnode *n);

static jv eval_slice(jrender *r, jframe *f, const jnode *n) {
    jv obj = eval(r, f, n->a);
    jv parts[3];
    const jnode *pn[3] = {n->b, n->c, n->d};
    for (int i = 0; i < 3; i++) {
        parts[i] = pn[i] ? eval(r, f, pn[i]) : jv_none();
        if (parts[i].k == JV_BOOL) parts[i] = jv_int(parts[i].u.b);
        if (parts[i].k != JV_NONE && parts[i].k != JV_INT)
            jinja_throw(r->e, n->line, SLM_E_INVALID_ARG, "slice indices must be integers or None");
    }
    int64_t step = parts[2].k == JV_INT ? parts[2].u.i : 1;
    if (step == 0) jinja_throw(r->e, n->line, SLM_E_INVALID_ARG, "slice step cannot be zero");
    if (obj.k == JV_UNDEF) throw_undefined(r, n->line, obj);
    if (obj.k == JV_LIST) {
        int64_t s0, s1;
        slice_indices((int64_t)obj.u.l->n, parts[0], parts[1], step, &s0, &s1);
        jlist *l = jlist_new(r->a, r->e, n->line, 0);
        for (int64_t i = s0; step > 0 ? i < s1 : i > s1; i += step) jlist_push(r->a, r->e, n->line, l, obj.u.l->v[i]);
        l->tuple = obj.u.l->tuple;
        return jv_list(l);
    }
    if (obj.k == JV_STR) {
        const char *s = obj.u.s->s;
        size_t len = obj.u.s->len;
        jr_work(r, n->line, jr_scan_cost(obj));
        int64_t cnt = (int64_t)utf8_count(s, len), s0, s1;
        slice_indices(cnt, parts[0], parts[1], step, &s0, &s1);
        jbuf b;
        jbuf_init_arena(&b, r->a, len);
        /* one walk over the code points (locating each from the start made a slice of a long string
         * quadratic): off is the byte offset of code point i */
        size_t off = (step > 0 ? s0 < s1 : s0 > s1) ? utf8_offset(s, len, (size_t)s0) : len;
        for (int64_t i = s0; step > 0 ? i < s1 : i > s1; i += step) {
            const size_t end = utf8_next(s, len, off);
            if (!jbuf_put(&b, s + off, end - off)) jinja_throw(r->e, n->line, SLM_E_NOMEM, "template needs too much memory");
            jr_step(r, n->line);
            if (step > 0)
                for (int64_t k = 0; k < step && off < len; k++) off = utf8_next(s, len, off);
            else
                for (int64_t k = 0; k < -step && off > 0; k++) off = utf8_prev(s, off);
        }
        return jv_str_n(r->a, r->e, n->line, b.p ? b.p : "", b.len);
    }
    jinja_throw(r->e, n->line, SLM_E_INVALID_ARG, "'%s' object is not subscriptable", jv_type_name(obj));
}

jlist *jr_iterate(jrender *r, int line, jv v) {
    jlist *l;
    switch (v.k) {
    case JV_UNDEF: return jlist_new(r->a, r->e, line, 0);
    case JV_LIST: return v.u.l;
    case JV_DICT:
        l = jlist_new(r->a, r->e, line, v.u.d->n);
        for (size_t i = 0; i < v.u.d->n; i++) jlist_push(r->a, r->e, line, l, v.u.d->keys[i]);
        return l;
    case JV_STR: {
        const char *s = v.u.s->s;
        size_t n = v.u.s->len;
        l = jlist_new(r->a, r->e, line, 0);
        for (size_t i = 0; i < n;) {
            size_t j = i + 1;
            while (j < n && ((unsigned char)s[j] & 0xC0) == 0x80) j++;
            jlist_push(r->a, r->e, line, l, jv_str_n(r->a, r->e, line, s + i, j - i));
            i = j;
        }
        return l;
    }
    default: jinja_throw(r->e, line, SLM_E_INVALID_ARG, "'%s' object is not iterable", jv_type_name(v));
    }
}

/* ---- calls ---------------------------------------------------------------------------------- */
static int exec_block(jrender *r, jframe *f, const jnode *n, jbuf *out);

static jv render_to_string(jrender *r, jframe *f, const jnode *body, int line) {
    jbuf b;
    jbuf_init_arena(&b, r->a, r->max_output);
    exec_block(r, f, body, &b);
    return jv_str_n(r->a, r->e, line, b.p ? b.p : "", b.len);
}

static jv call_macro(jrender *r, int line, jmacro *m, const jargs *args, jv caller) {
    const jnode *def = m->node;
    enter(r, line);
    jr_step(r, line);
    jframe *f = frame_new(r, m->closure, line);
    int np = def->n_names;
    for (int i = 0; i < np; i++) {
        jv v = jv_undef();
        bool have = false;
        if (i < args->n_pos) {
            v = args->pos[i];
            have = true;
        }
        for (int k = 0; k < args->n_kw; k++)
            if (!strcmp(args->kw_names[k], def->names[i])) {
                v = args->kw[k];
                have = true;
            }
        if (!have && def->kids[i]) v = eval(r, f, def->kids[i]);
        else if (!have) v = undef_hint(r, line, "parameter '%s' was not provided", def->names[i]);
        frame_set(r, f, def->names[i], v, line);
    }
    if (args->n_pos > np) {
        jlist *va = jlist_new(r->a, r->e, line, 0);
        for (int i = np; i < args->n_pos; i++) jlist_push(r->a, r->e, line, va, args->pos[i]);
        va->tuple = true;
        frame_set(r, f, "varargs", jv_list(va), line);
    }
    if (caller.k != JV_UNDEF) frame_set(r, f, "caller", caller, line);
    jv out = render_to_string(r, f, def->b, line);
    r->depth--;
    return out;
}

jv jr_call_value(jrender *r, int line, jv callee, const jargs *args) {
    switch (callee.k) {
    case JV_MACRO: return call_macro(r, line, callee.u.mac, args, jv_undef());
    case JV_BUILTIN: return jinja_call_global(r, line, (int)callee.u.i, args);
    case JV_METHOD: return jinja_method(r, line, callee.u.m->self, callee.u.m->name, args);
    case JV_UNDEF: throw_undefined(r, line, callee);
    default: jinja_throw(r->e, line, SLM_E_INVALID_ARG, "'%s' object is not callable", jv_type_name(callee));
    }
}

static void eval_args(jrender *r, jframe *f, const jnode *n, jargs *out, jv extra_first, bool has_extra) {
    int np = 0, nk = 0;
    for (int i = 0; i < n->n_kids; i++) {
        if (n->names[i]) nk++;
        else np++;
    }
    if (has_extra) np++;
    out->pos = jarena_alloc(r->a, r->e, n->line, (size_t)(np + 1) * sizeof(jv));
    out->kw = jarena_alloc(r->a, r->e, n->line, (size_t)(nk + 1) * sizeof(jv));
    out->kw_names = jarena_alloc(r->a, r->e, n->line, (size_t)(nk + 1) * sizeof(char *));
    out->n_pos = out->n_kw = 0;
    if (has_extra) out->pos[out->n_pos++] = extra_first;
    for (int i = 0; i < n->n_kids; i++) {
        jv v = eval(r, f, n->kids[i]);
        if (n->names[i]) {
            out->kw_names[out->n_kw] = n->names[i];
            out->kw[out->n_kw++] = v;
        } else {
            out->pos[out->n_pos++] = v;
        }
    }
}

/* Apply a filter chain whose innermost operand is NULL (block set / filter block) to input. */
static jv apply_filters(jrender *r, jframe *f, const jnode *chain, jv input) {
    if (!chain) return input;
    jv v = chain->a ? apply_filters(r, f, chain->a, input) : input;
    jargs args;
    eval_args(r, f, chain, &args, jv_undef(), false);
    jr_step(r, chain->line);
    return jinja_filter(r, chain->line, chain->name, v, &args);
}

/* ---- expressions ---------------------------------------------------------------------------- */
static jv eval_inner(jrender *r, jframe *f, const jnode *n) {
    switch (n->type) {
    case N_LIT: return n->lit;
    case N_NAME: return lookup(r, f, n->name, n->line);
    case N_LIST: case N_TUPLE: {
        jlist *l = jlist_new(r->a, r->e, n->line, (size_t)n->n_kids);
        for (int i = 0; i < n->n_kids; i++) jlist_push(r->a, r->e, n->line, l, eval(r, f, n->kids[i]));
        l->tuple = n->type == N_TUPLE;
        return jv_list(l);
    }
    case N_DICT: {
        jdict *d = jdict_new(r->a, r->e, n->line);
        for (int i = 0; i + 1 < n->n_kids; i += 2) {
            jv k = eval(r, f, n->kids[i]);
            if (k.k == JV_LIST || k.k == JV_DICT || k.k == JV_NS)
                jinja_throw(r->e, n->line, SLM_E_INVALID_ARG, "unhashable type: '%s'", jv_type_name(k));
            jdict_set(r->a, r->e, n->line, d, k, eval(r, f, n->kids[i + 1]));
        }
        return jv_dict(d);
    }
    case N_ATTR: return jr_getattr(r, n->line, eval(r, f, n->a), n->name);
    case N_INDEX: {
        jv obj = eval(r, f, n->a);
        return jr_getitem(r, n->line, obj, eval(r, f, n->b));
    }
    case N_SLICE: return eval_slice(r, f, n);
    case N_CALL: {
        jv callee = eval(r, f, n->a);
        jargs args;
        eval_args(r, f, n, &args, jv_undef(), false);
        jr_step(r, n->line);
        return jr_call_value(r, n->line, callee, &args);
    }
    case N_FILTER: {
        jv v = eval(r, f, n->a);
        jargs args;
        eval_args(r, f, n, &args, jv_undef(), false);
        jr_step(r, n->line);
        return jinja_filter(r, n->line, n->name, v, &args);
    }
    case N_TEST: {
        jv v = eval(r, f, n->a);
        jargs args;
        eval_args(r, f, n, &args, jv_undef(), false);
        bool res = jinja_test(r, n->line, n->name, v, &args);
        return jv_bool(n->op ? !res : res);
    }
    case N_NEG: case N_POS: {
        jv v = eval(r, f, n->a);
        if (v.k == JV_BOOL) v = jv_int(v.u.b);
        if (v.k == JV_INT) return n->type == N_NEG ? jv_int(v.u.i == INT64_MIN ? v.u.i : -v.u.i) : v;
        if (v.k == JV_FLOAT) return n->type == N_NEG ? jv_float(-v.u.f) : v;
        if (v.k == JV_UNDEF) throw_undefined(r, n->line, v);
        jinja_throw(r->e, n->line, SLM_E_INVALID_ARG, "bad operand type for unary %c: '%s'", n->type == N_NEG ? '-' : '+',
                    jv_type_name(v));
    }
    case N_NOT: return jv_bool(!jv_truthy(eval(r, f, n->a)));
    case N_AND: {
        jv a = eval(r, f, n->a);
        return jv_truthy(a) ? eval(r, f, n->b) : a;
    }
    case N_OR: {
        jv a = eval(r, f, n->a);
        return jv_truthy(a) ? a : eval(r, f, n->b);
    }
    case N_BIN: {
        jv a = eval(r, f, n->a);
        jv b = eval(r, f, n->b);
        return jv_binop(r, n->line, n->op, a, b);
    }
    case N_COND:
        if (jv_truthy(eval(r, f, n->a))) return eval(r, f, n->b);
        return n->c ? eval(r, f, n->c) : jv_undef();
    default: jinja_throw(r->e, n->line, SLM_E_INVALID_ARG, "internal error: statement used as expression");
    }
}

static jv eval(jrender *r, jframe *f, const jnode *n) {
    enter(r, n->line);
    jr_step(r, n->line);
    jv v = eval_inner(r, f, n);
    r->depth--;
    return v;
}

/* ---- statements ----------------------------------------------------------------------------- */
/* Scoping: jinja2 gives every loop iteration a fresh scope (sets in the body neither leak out of the
 * loop nor carry over to the next iteration; namespaces are how templates carry state), `if` has
 * no scope of its own, and a macro body runs in a frame whose parent is where it was defined. */
static void out_put(jrender *r, jbuf *out, const char *s, size_t n, int line) {
    if (!jbuf_put(out, s, n)) jinja_throw(r->e, line, SLM_E_NOMEM, "rendered text too large (limit %zu bytes)", out->limit);
}

static void out_value(jrender *r, jbuf *out, jv v, int line) {
    if (v.k == JV_STR) {
        out_put(r, out, v.u.s->s, v.u.s->len, line);
        return;
    }
    if (!jv_write_str(out, v))
        jinja_throw(r->e, line, SLM_E_NOMEM, "value too deeply nested to print, or rendered text too large (limit %zu bytes)",
                    out->limit);
}

static void assign_targets(jrender *r, jframe *f, const jnode *n, jv v) {
    if (n->n_names == 1) {
        frame_set(r, f, n->names[0], v, n->line);
        return;
    }
    jlist *l = jr_iterate(r, n->line, v);
    if ((int)l->n != n->n_names)
        jinja_throw(r->e, n->line, SLM_E_INVALID_ARG, "%s values to unpack (expected %d, got %zu)",
                    (int)l->n > n->n_names ? "too many" : "not enough", n->n_names, l->n);
    for (int i = 0; i < n->n_names; i++) frame_set(r, f, n->names[i], l->v[i], n->line);
}

static void loop_set(jrender *r, jdict *d, const char *k, jv v, int line) { jdict_set_s(r->a, r->e, line, d, k, v); }

static int exec_for(jrender *r, jframe *f, const jnode *n, jbuf *out) {
    jv it = eval(r, f, n->a);
    jlist *items = jr_iterate(r, n->line, it);
    jframe *lf = frame_new(r, f, n->line);
    if (n->d) { /* loop filter: `for x in xs if cond` counts only the kept items */
        jlist *kept = jlist_new(r->a, r->e, n->line, 0);
        for (size_t i = 0; i < items->n; i++) {
            jr_step(r, n->line);
            assign_targets(r, lf, n, items->v[i]);
            if (jv_truthy(eval(r, lf, n->d))) jlist_push(r->a, r->e, n->line, kept, items->v[i]);
        }
        items = kept;
    }
    jdict *loop = jdict_new(r->a, r->e, n->line);
    loop->is_loop = true;
    jv loopv = {0};
    loopv.k = JV_DICT;
    loopv.u.d = loop;
    int64_t len = (int64_t)items->n;
    for (int64_t i = 0; i < len; i++) {
        jr_step(r, n->line);
        /* every iteration has its own scope: a `set` in the body is gone at the next iteration */
        jframe *it = frame_new(r, f, n->line);
        assign_targets(r, it, n, items->v[i]);
        loop_set(r, loop, "index", jv_int(i + 1), n->line);
        loop_set(r, loop, "index0", jv_int(i), n->line);
        loop_set(r, loop, "revindex", jv_int(len - i), n->line);
        loop_set(r, loop, "revindex0", jv_int(len - i - 1), n->line);
        loop_set(r, loop, "first", jv_bool(i == 0), n->line);
        loop_set(r, loop, "last", jv_bool(i == len - 1), n->line);
        loop_set(r, loop, "length", jv_int(len), n->line);
        loop_set(r, loop, "depth", jv_int(1), n->line);
        loop_set(r, loop, "depth0", jv_int(0), n->line);
        loop_set(r, loop, "previtem", i > 0 ? items->v[i - 1] : jv_undef(), n->line);
        loop_set(r, loop, "nextitem", i + 1 < len ? items->v[i + 1] : jv_undef(), n->line);
        frame_set(r, it, "loop", loopv, n->line);
        int flow = exec_block(r, it, n->b, out);
        if (flow == FLOW_BREAK) break;
    }
    if (len == 0 && n->c) return exec_block(r, f, n->c, out);
    return FLOW_NORMAL;
}

static int exec_stmt(jrender *r, jframe *f, const jnode *n, jbuf *out) {
    switch (n->type) {
    case N_TEXT: out_put(r, out, n->lit.u.s->s, n->lit.u.s->len, n->line); return FLOW_NORMAL;
    case N_OUTPUT: out_value(r, out, eval(r, f, n->a), n->line); return FLOW_NORMAL;
    case N_BLOCK: return exec_block(r, f, n, out);
    case N_IF:
        if (jv_truthy(eval(r, f, n->a))) return exec_block(r, f, n->b, out);
        if (n->c) return exec_stmt(r, f, n->c, out);
        return FLOW_NORMAL;
    case N_FOR: return exec_for(r, f, n, out);
    case N_SET: {
        jv v = eval(r, f, n->b);
        if (n->a) {
            jv ns = eval(r, f, n->a->a);
            if (ns.k != JV_NS)
                jinja_throw(r->e, n->line, SLM_E_INVALID_ARG, "cannot assign attribute on non-namespace object");
            jdict_set(r->a, r->e, n->line, ns.u.d, jv_str(r->a, r->e, n->line, n->a->name), v);
        } else {
            assign_targets(r, f, n, v);
        }
        return FLOW_NORMAL;
    }
    case N_SETBLOCK: {
        jv v = apply_filters(r, f, n->c, render_to_string(r, f, n->b, n->line));
        if (n->a) {
            jv ns = eval(r, f, n->a->a);
            if (ns.k != JV_NS)
                jinja_throw(r->e, n->line, SLM_E_INVALID_ARG, "cannot assign attribute on non-namespace object");
            jdict_set(r->a, r->e, n->line, ns.u.d, jv_str(r->a, r->e, n->line, n->a->name), v);
        } else {
            frame_set(r, f, n->names[0], v, n->line);
        }
        return FLOW_NORMAL;
    }
    case N_MACRO: {
        jmacro *m = jarena_alloc(r->a, r->e, n->line, sizeof *m);
        m->node = n;
        m->closure = f;
        jv v = {0};
        v.k = JV_MACRO;
        v.u.mac = m;
        frame_set(r, f, n->name, v, n->line);
        return FLOW_NORMAL;
    }
    case N_CALLBLOCK: {
        jv callee = eval(r, f, n->a->a);
        if (callee.k != JV_MACRO) jinja_throw(r->e, n->line, SLM_E_INVALID_ARG, "{%% call %%} target is not a macro");
        jmacro *cm = jarena_alloc(r->a, r->e, n->line, sizeof *cm);
        cm->node = n;
        cm->closure = f;
        jv caller = {0};
        caller.k = JV_MACRO;
        caller.u.mac = cm;
        jargs args;
        eval_args(r, f, n->a, &args, jv_undef(), false);
        out_value(r, out, call_macro(r, n->line, callee.u.mac, &args, caller), n->line);
        return FLOW_NORMAL;
    }
    case N_FILTERBLOCK:
        out_value(r, out, apply_filters(r, f, n->c, render_to_string(r, f, n->b, n->line)), n->line);
        return FLOW_NORMAL;
    case N_BREAK: return FLOW_BREAK;
    case N_CONTINUE: return FLOW_CONTINUE;
    case N_DO: eval(r, f, n->a); return FLOW_NORMAL;
    default: jinja_throw(r->e, n->line, SLM_E_INVALID_ARG, "internal error: expression used as statement");
    }
}

static int exec_block(jrender *r, jframe *f, const jnode *n, jbuf *out) {
    enter(r, n->line);
    int flow = FLOW_NORMAL;
    if (n->type != N_BLOCK) {
        flow = exec_stmt(r, f, n, out);
    } else {
        for (int i = 0; i < n->n_kids && flow == FLOW_NORMAL; i++) flow = exec_stmt(r, f, n->kids[i], out);
    }
    r->depth--;
    return flow;
}

/* ---- public API ----------------------------------------------------------------------------- */
struct jinja_template {
    jarena arena;
    jnode *root;
};

#define JINJA_MAX_SOURCE (8u << 20)

jinja_limits jinja_default_limits(void) {
    jinja_limits l = {.max_output = 16u << 20, .max_memory = 256u << 20, .max_depth = 500, .max_steps = 50000000};
    return l;
}

static void fill_error(slm_error *err, jinja_fail *fail, const jctx_err *e) {
    if (fail) {
        fail->line = e->line;
        fail->raised = e->raised;
        snprintf(fail->message, sizeof fail->message, "%s", e->msg);
    }
    if (e->line > 0) slm_fail(err, e->code, "template line %d: %s", e->line, e->msg);
    else slm_fail(err, e->code, "template: %s", e->msg);
}

slm_status jinja_parse(const char *src, size_t len, jinja_template **out, slm_error *err) {
    *out = NULL;
    if (!src && len) return slm_fail(err, SLM_E_INVALID_ARG, "template: no source");
    if (len > JINJA_MAX_SOURCE) return slm_fail(err, SLM_E_RANGE, "template too large (%zu bytes)", len);
    jinja_template *t = calloc(1, sizeof *t);
    if (!t) return slm_fail(err, SLM_E_NOMEM, "out of memory");
    jarena_init(&t->arena, 160u * len + (4u << 20)); /* tokens + nodes are ~150 bytes per source byte at worst */
    jctx_err e = {0};
    if (setjmp(e.jb)) {
        fill_error(err, NULL, &e);
        jinja_free(t);
        return e.code ? e.code : SLM_E_FORMAT;
    }
    /* jinja2 normalizes \r\n and \r to \n and drops one trailing newline */
    char *norm = jarena_alloc(&t->arena, &e, 0, len + 1);
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (src[i] == '\r') {
            norm[n++] = '\n';
            if (i + 1 < len && src[i + 1] == '\n') i++;
        } else {
            norm[n++] = src[i];
        }
    }
    if (n && norm[n - 1] == '\n') n--;
    norm[n] = 0;
    jtok *toks;
    size_t n_toks;
    jinja_lex(&t->arena, &e, norm, n, &toks, &n_toks);
    t->root = jinja_parse_tokens(&t->arena, &e, toks, n_toks);
    *out = t;
    return SLM_OK;
}

void jinja_free(jinja_template *t) {
    if (!t) return;
    jarena_free(&t->arena);
    free(t);
}

#define JSON_MAX_DEPTH 100

static jv from_json(jrender *r, const cJSON *j, int depth) {
    if (depth > JSON_MAX_DEPTH) jinja_throw(r->e, 0, SLM_E_RANGE, "variables nested too deeply");
    if (cJSON_IsNull(j)) return jv_none();
    if (cJSON_IsBool(j)) return jv_bool(cJSON_IsTrue(j));
    if (cJSON_IsNumber(j)) {
        double d = j->valuedouble;
        /* cJSON keeps only a double: integral values within 2^53 were (almost surely) ints */
        if (d > -9007199254740992.0 && d < 9007199254740992.0 && d == (double)(int64_t)d) return jv_int((int64_t)d);
        return jv_float(d);
    }
    if (cJSON_IsString(j)) return jv_str(r->a, r->e, 0, j->valuestring ? j->valuestring : "");
    if (cJSON_IsArray(j)) {
        jlist *l = jlist_new(r->a, r->e, 0, 0);
        for (const cJSON *c = j->child; c; c = c->next) jlist_push(r->a, r->e, 0, l, from_json(r, c, depth + 1));
        return jv_list(l);
    }
    if (cJSON_IsObject(j)) {
        jdict *d = jdict_new(r->a, r->e, 0);
        for (const cJSON *c = j->child; c; c = c->next)
            jdict_set(r->a, r->e, 0, d, jv_str(r->a, r->e, 0, c->string ? c->string : ""), from_json(r, c, depth + 1));
        return jv_dict(d);
    }
    return jv_none();
}

slm_status jinja_render(const jinja_template *t, const cJSON *vars, const jinja_render_opts *opts, char **out,
                        size_t *out_len, jinja_fail *fail, slm_error *err) {
    *out = NULL;
    if (out_len) *out_len = 0;
    if (!t) return slm_fail(err, SLM_E_INVALID_ARG, "template: none given");
    jinja_limits lim = jinja_default_limits();
    int64_t now = -1;
    if (opts) {
        now = opts->now;
        if (opts->limits.max_output) lim.max_output = opts->limits.max_output;
        if (opts->limits.max_memory) lim.max_memory = opts->limits.max_memory;
        if (opts->limits.max_depth) lim.max_depth = opts->limits.max_depth;
        if (opts->limits.max_steps) lim.max_steps = opts->limits.max_steps;
    }
    /* on the heap: a longjmp must not find it in an indeterminate automatic variable */
    jarena *arena = malloc(sizeof *arena);
    if (!arena) return slm_fail(err, SLM_E_NOMEM, "out of memory");
    jarena_init(arena, lim.max_memory);
    jctx_err *e = calloc(1, sizeof *e);
    jrender *r = calloc(1, sizeof *r);
    if (!e || !r) {
        free(arena);
        free(e);
        free(r);
        return slm_fail(err, SLM_E_NOMEM, "out of memory");
    }
    *r = (jrender){.a = arena, .e = e, .max_depth = lim.max_depth, .max_steps = lim.max_steps,
                   .max_output = lim.max_output, .now = now};
    slm_status st = SLM_OK;
    if (setjmp(e->jb)) {
        fill_error(err, fail, e);
        st = e->code ? e->code : SLM_E_INVALID_ARG;
        goto done;
    }
    r->root = frame_new(r, NULL, 0);
    if (vars && cJSON_IsObject(vars))
        for (const cJSON *c = vars->child; c; c = c->next)
            if (c->string) frame_set(r, r->root, c->string, from_json(r, c, 0), 0);
    jbuf b;
    jbuf_init_arena(&b, arena, lim.max_output);
    exec_block(r, r->root, t->root, &b);
    char *res = malloc(b.len + 1);
    if (!res) {
        st = slm_fail(err, SLM_E_NOMEM, "out of memory");
        goto done;
    }
    if (b.len) memcpy(res, b.p, b.len);
    res[b.len] = 0;
    *out = res;
    if (out_len) *out_len = b.len;
done:
    jarena_free(arena);
    free(arena);
    free(e);
    free(r);
    return st;
}

bool jinja_parse_iso8601(const char *s, int64_t *out) {
    int Y, M, D, h = 0, m = 0, sec = 0;
    char tail[8] = {0};
    int n = sscanf(s, "%4d-%2d-%2d%*[T ]%2d:%2d:%2d%7s", &Y, &M, &D, &h, &m, &sec, tail);
    if (n < 3 || M < 1 || M > 12 || D < 1 || D > 31 || h < 0 || h > 23 || m < 0 || m > 59 || sec < 0 || sec > 60)
        return false;
    if (tail[0] && strcmp(tail, "Z") && strcmp(tail, "+00:00")) return false;
    /* days from civil (proleptic Gregorian), no timezone database needed */
    int64_t y = Y - (M <= 2);
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (M + (M > 2 ? -3 : 9)) + 2) / 5 + D - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    int64_t days = era * 146097 + doe - 719468;
    *out = days * 86400 + h * 3600 + m * 60 + sec;
    return true;
}
