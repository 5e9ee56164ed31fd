/* Jinja parser: tokens -> AST (jnode), recursive descent with jinja2's operator precedence:
 *
 *   cond:    or ['if' or ['else' cond]]
 *   or/and/not, compare (== != < <= > >= in, not in), + -, ~, * / // %, **, unary - +,
 *   then primary with postfix (.attr, [index], [a:b:c], (call)) and filters / tests (| f, is t).
 *
 * Field use per node type:
 *   N_LIT lit | N_NAME name | N_LIST/N_TUPLE kids | N_DICT kids = k0,v0,k1,v1.. | N_ATTR a.name
 *   N_INDEX a[b] | N_SLICE a[b:c:d] (NULL parts allowed) | N_CALL a(kids; names = kw names)
 *   N_FILTER a|name(kids) (a NULL: the body of a filter/set block) | N_TEST a is [not: op] name(kids)
 *   N_NEG/N_POS/N_NOT a | N_AND/N_OR/N_BIN a op b | N_COND b if a else c
 *   N_BLOCK kids | N_TEXT lit | N_OUTPUT a | N_IF a: b else c | N_FOR names in a if d: b else c
 *   N_SET names / a(attr target) = b | N_SETBLOCK names / a, body b, filters c
 *   N_MACRO name(names = kids defaults): b | N_CALLBLOCK call a, caller params names/kids, body b
 *   N_FILTERBLOCK filters c, body b | N_DO a
 */
#include <string.h>

#include "chat/jinja_internal.h"

#define PARSE_MAX_DEPTH 200

typedef struct parser {
    jarena *a;
    jctx_err *e;
    const jtok *t;
    size_t n, pos;
    int depth;      /* expression + block nesting, bounded */
    int loop_depth; /* for break/continue */
    int macro_depth;
} parser;

static const jtok *peek(parser *P) { return &P->t[P->pos < P->n ? P->pos : P->n - 1]; }
static const jtok *peek2(parser *P) { return &P->t[P->pos + 1 < P->n ? P->pos + 1 : P->n - 1]; }
static const jtok *next(parser *P) {
    const jtok *t = peek(P);
    if (P->pos < P->n - 1) P->pos++;
    return t;
}

static bool tok_is_op(const jtok *t, const char *op) { return t->type == T_OP && !strcmp(t->s, op); }
static bool tok_is_name(const jtok *t, const char *nm) { return t->type == T_NAME && !strcmp(t->s, nm); }
static bool is_op(parser *P, const char *op) { return tok_is_op(peek(P), op); }
static bool is_name(parser *P, const char *nm) { return tok_is_name(peek(P), nm); }

static const char *tok_desc(const jtok *t) {
    switch (t->type) {
    case T_EOF: return "end of template";
    case T_TEXT: return "text";
    case T_VAR_BEGIN: return "'{{'";
    case T_VAR_END: return "'}}'";
    case T_BLOCK_BEGIN: return "'{%'";
    case T_BLOCK_END: return "'%}'";
    case T_STRING: return "a string";
    case T_INT: case T_FLOAT: return "a number";
    default: return t->s;
    }
}

_Noreturn static void unexpected(parser *P, const char *expected) {
    const jtok *t = peek(P);
    if (t->type == T_NAME || t->type == T_OP)
        jinja_throw(P->e, t->line, SLM_E_FORMAT, "syntax error: unexpected '%s', expected %s", t->s, expected);
    jinja_throw(P->e, t->line, SLM_E_FORMAT, "syntax error: unexpected %s, expected %s", tok_desc(t), expected);
}

static void expect_op(parser *P, const char *op) {
    if (!is_op(P, op)) {
        char buf[16];
        buf[0] = '\'';
        strncpy(buf + 1, op, 8);
        buf[9] = 0;
        strcat(buf, "'");
        unexpected(P, buf);
    }
    next(P);
}

static void expect_type(parser *P, int type, const char *what) {
    if (peek(P)->type != type) unexpected(P, what);
    next(P);
}

static const char *expect_ident(parser *P) {
    if (peek(P)->type != T_NAME) unexpected(P, "a name");
    return next(P)->s;
}

static jnode *mk(parser *P, int type, int line) {
    jnode *n = jarena_alloc(P->a, P->e, line, sizeof *n);
    memset(n, 0, sizeof *n);
    n->type = (uint8_t)type;
    n->line = line;
    return n;
}

/* Growable child arrays built in the arena. */
typedef struct kidvec {
    jnode **v;
    const char **names;
    int n, cap;
} kidvec;

static void kid_push(parser *P, kidvec *k, jnode *n, const char *name) {
    if (k->n == k->cap) {
        int cap = k->cap ? k->cap * 2 : 4;
        jnode **nv = jarena_alloc(P->a, P->e, n ? n->line : 0, (size_t)cap * sizeof *nv);
        const char **nn = jarena_alloc(P->a, P->e, n ? n->line : 0, (size_t)cap * sizeof *nn);
        if (k->n) {
            memcpy(nv, k->v, (size_t)k->n * sizeof *nv);
            memcpy(nn, k->names, (size_t)k->n * sizeof *nn);
        }
        k->v = nv;
        k->names = nn;
        k->cap = cap;
    }
    k->v[k->n] = n;
    k->names[k->n] = name;
    k->n++;
}

static void enter(parser *P) {
    if (++P->depth > PARSE_MAX_DEPTH)
        jinja_throw(P->e, peek(P)->line, SLM_E_FORMAT, "syntax error: template nested too deeply (limit %d)", PARSE_MAX_DEPTH);
}
static void leave(parser *P) { P->depth--; }

static jnode *parse_expr(parser *P);
static jnode *parse_or(parser *P);
static jnode *parse_unary(parser *P, bool with_filter);
static jnode *parse_primary(parser *P);
static jnode *parse_postfix(parser *P, jnode *n);

/* ---- expressions ---------------------------------------------------------------------------- */
/* Call arguments after '(' up to and including ')'. */
static void parse_args(parser *P, jnode *n) {
    kidvec k = {0};
    expect_op(P, "(");
    while (!is_op(P, ")")) {
        if (k.n) expect_op(P, ",");
        if (is_op(P, ")")) break; /* trailing comma */
        if (is_op(P, "*") || is_op(P, "**")) unexpected(P, "an argument (*args/**kwargs are not supported)");
        const char *kw = NULL;
        if (peek(P)->type == T_NAME && tok_is_op(peek2(P), "=")) {
            kw = next(P)->s;
            next(P);
        }
        kid_push(P, &k, parse_expr(P), kw);
    }
    next(P);
    n->kids = k.v;
    n->names = k.names;
    n->n_kids = k.n;
}

static jnode *parse_filter_chain(parser *P, jnode *operand) {
    jnode *n = operand;
    while (is_op(P, "|")) {
        int line = next(P)->line;
        const char *name = expect_ident(P);
        while (is_op(P, ".")) { /* dotted filter names are not used by chat templates */
            unexpected(P, "a filter name");
        }
        jnode *f = mk(P, N_FILTER, line);
        f->a = n;
        f->name = name;
        if (is_op(P, "(")) parse_args(P, f);
        n = f;
    }
    return n;
}

static jnode *parse_filter_expr(parser *P, jnode *n) {
    for (;;) {
        if (is_op(P, "|")) {
            n = parse_filter_chain(P, n);
        } else if (is_name(P, "is")) {
            int line = next(P)->line;
            jnode *t = mk(P, N_TEST, line);
            if (is_name(P, "not")) {
                next(P);
                t->op = 1;
            }
            /* test names may be keywords: none, true, false, in */
            t->name = expect_ident(P);
            t->a = n;
            if (is_op(P, "(")) {
                parse_args(P, t);
            } else {
                const jtok *c = peek(P);
                bool arg_start = c->type == T_STRING || c->type == T_INT || c->type == T_FLOAT ||
                                 tok_is_op(c, "(") || tok_is_op(c, "[") || tok_is_op(c, "{") ||
                                 (c->type == T_NAME && !tok_is_name(c, "else") && !tok_is_name(c, "or") &&
                                  !tok_is_name(c, "and") && !tok_is_name(c, "if") && !tok_is_name(c, "in") &&
                                  !tok_is_name(c, "is") && !tok_is_name(c, "not"));
                if (arg_start) {
                    kidvec k = {0};
                    kid_push(P, &k, parse_postfix(P, parse_primary(P)), NULL);
                    t->kids = k.v;
                    t->names = k.names;
                    t->n_kids = 1;
                }
            }
            n = t;
        } else {
            return n;
        }
    }
}

static jnode *parse_primary(parser *P) {
    enter(P);
    const jtok *t = peek(P);
    jnode *n;
    if (t->type == T_NAME) {
        next(P);
        n = mk(P, N_LIT, t->line);
        if (!strcmp(t->s, "true") || !strcmp(t->s, "True")) n->lit = jv_bool(true);
        else if (!strcmp(t->s, "false") || !strcmp(t->s, "False")) n->lit = jv_bool(false);
        else if (!strcmp(t->s, "none") || !strcmp(t->s, "None")) n->lit = jv_none();
        else {
            n->type = N_NAME;
            n->name = t->s;
        }
    } else if (t->type == T_STRING) {
        next(P);
        n = mk(P, N_LIT, t->line);
        if (peek(P)->type == T_STRING) { /* adjacent literals concatenate */
            size_t total = t->len;
            for (size_t i = P->pos; i < P->n && P->t[i].type == T_STRING; i++) total += P->t[i].len;
            char *buf = jarena_alloc(P->a, P->e, t->line, total + 1);
            size_t o = 0;
            memcpy(buf, t->s, t->len);
            o = t->len;
            while (peek(P)->type == T_STRING) {
                const jtok *s = next(P);
                memcpy(buf + o, s->s, s->len);
                o += s->len;
            }
            n->lit = jv_str_n(P->a, P->e, t->line, buf, o);
        } else {
            n->lit = jv_str_n(P->a, P->e, t->line, t->s, t->len);
        }
    } else if (t->type == T_INT) {
        next(P);
        n = mk(P, N_LIT, t->line);
        n->lit = jv_int(t->i);
    } else if (t->type == T_FLOAT) {
        next(P);
        n = mk(P, N_LIT, t->line);
        n->lit = jv_float(t->f);
    } else if (tok_is_op(t, "(")) {
        next(P);
        if (is_op(P, ")")) {
            next(P);
            n = mk(P, N_TUPLE, t->line);
        } else {
            jnode *first = parse_expr(P);
            if (is_op(P, ",")) {
                kidvec k = {0};
                kid_push(P, &k, first, NULL);
                while (is_op(P, ",")) {
                    next(P);
                    if (is_op(P, ")")) break;
                    kid_push(P, &k, parse_expr(P), NULL);
                }
                n = mk(P, N_TUPLE, t->line);
                n->kids = k.v;
                n->n_kids = k.n;
            } else {
                n = first;
            }
            expect_op(P, ")");
        }
    } else if (tok_is_op(t, "[")) {
        next(P);
        kidvec k = {0};
        while (!is_op(P, "]")) {
            if (k.n) expect_op(P, ",");
            if (is_op(P, "]")) break;
            kid_push(P, &k, parse_expr(P), NULL);
        }
        next(P);
        n = mk(P, N_LIST, t->line);
        n->kids = k.v;
        n->n_kids = k.n;
    } else if (tok_is_op(t, "{")) {
        next(P);
        kidvec k = {0};
        while (!is_op(P, "}")) {
            if (k.n) expect_op(P, ",");
            if (is_op(P, "}")) break;
            kid_push(P, &k, parse_expr(P), NULL);
            expect_op(P, ":");
            kid_push(P, &k, parse_expr(P), NULL);
        }
        next(P);
        n = mk(P, N_DICT, t->line);
        n->kids = k.v;
        n->n_kids = k.n;
    } else {
        unexpected(P, "an expression");
    }
    leave(P);
    return n;
}

static jnode *parse_subscript(parser *P, jnode *obj, int line) {
    /* after '[' */
    jnode *parts[3] = {NULL, NULL, NULL};
    bool is_slice = false;
    int i = 0;
    for (;;) {
        if (is_op(P, "]")) break;
        if (is_op(P, ":")) {
            next(P);
            is_slice = true;
            if (++i > 2) unexpected(P, "']'");
            continue;
        }
        if (parts[i]) unexpected(P, "':' or ']'");
        parts[i] = parse_expr(P);
    }
    next(P);
    if (!is_slice) {
        if (!parts[0]) jinja_throw(P->e, line, SLM_E_FORMAT, "syntax error: empty subscript");
        jnode *n = mk(P, N_INDEX, line);
        n->a = obj;
        n->b = parts[0];
        return n;
    }
    jnode *n = mk(P, N_SLICE, line);
    n->a = obj;
    n->b = parts[0];
    n->c = parts[1];
    n->d = parts[2];
    return n;
}

static jnode *parse_postfix(parser *P, jnode *n) {
    for (;;) {
        const jtok *t = peek(P);
        if (tok_is_op(t, ".")) {
            next(P);
            const jtok *nm = peek(P);
            if (nm->type == T_INT) {
                next(P);
                jnode *x = mk(P, N_INDEX, t->line);
                x->a = n;
                x->b = mk(P, N_LIT, t->line);
                x->b->lit = jv_int(nm->i);
                n = x;
            } else {
                jnode *x = mk(P, N_ATTR, t->line);
                x->a = n;
                x->name = expect_ident(P);
                n = x;
            }
        } else if (tok_is_op(t, "[")) {
            next(P);
            n = parse_subscript(P, n, t->line);
        } else if (tok_is_op(t, "(")) {
            jnode *x = mk(P, N_CALL, t->line);
            x->a = n;
            parse_args(P, x);
            n = x;
        } else {
            return n;
        }
    }
}

static jnode *parse_unary(parser *P, bool with_filter) {
    enter(P);
    const jtok *t = peek(P);
    jnode *n;
    if (tok_is_op(t, "-") || tok_is_op(t, "+")) {
        next(P);
        n = mk(P, tok_is_op(t, "-") ? N_NEG : N_POS, t->line);
        n->a = parse_unary(P, false);
    } else {
        n = parse_postfix(P, parse_primary(P));
    }
    if (with_filter) n = parse_filter_expr(P, n);
    leave(P);
    return n;
}

static jnode *mk_bin(parser *P, int op, jnode *a, jnode *b, int line) {
    jnode *n = mk(P, N_BIN, line);
    n->op = (uint8_t)op;
    n->a = a;
    n->b = b;
    return n;
}

static jnode *parse_pow(parser *P) {
    jnode *n = parse_unary(P, true);
    while (is_op(P, "**")) {
        int line = next(P)->line;
        n = mk_bin(P, OP_POW, n, parse_unary(P, true), line);
    }
    return n;
}

static jnode *parse_math2(parser *P) {
    jnode *n = parse_pow(P);
    for (;;) {
        int op = is_op(P, "*") ? OP_MUL : is_op(P, "/") ? OP_DIV : is_op(P, "//") ? OP_FLOORDIV : is_op(P, "%") ? OP_MOD : -1;
        if (op < 0) return n;
        int line = next(P)->line;
        n = mk_bin(P, op, n, parse_pow(P), line);
    }
}

static jnode *parse_concat(parser *P) {
    jnode *n = parse_math2(P);
    while (is_op(P, "~")) {
        int line = next(P)->line;
        n = mk_bin(P, OP_CONCAT, n, parse_math2(P), line);
    }
    return n;
}

static jnode *parse_math1(parser *P) {
    jnode *n = parse_concat(P);
    for (;;) {
        int op = is_op(P, "+") ? OP_ADD : is_op(P, "-") ? OP_SUB : -1;
        if (op < 0) return n;
        int line = next(P)->line;
        n = mk_bin(P, op, n, parse_concat(P), line);
    }
}

/* Comparisons chain as in Python: a < b < c means (a < b) and (b < c), b evaluated twice (it is
 * a pure expression). */
static jnode *parse_compare(parser *P) {
    jnode *left = parse_math1(P), *result = NULL;
    for (;;) {
        const jtok *t = peek(P);
        int op = tok_is_op(t, "==") ? OP_EQ : tok_is_op(t, "!=") ? OP_NE : tok_is_op(t, "<") ? OP_LT
               : tok_is_op(t, "<=") ? OP_LE : tok_is_op(t, ">") ? OP_GT : tok_is_op(t, ">=") ? OP_GE
               : tok_is_name(t, "in") ? OP_IN : -1;
        if (op < 0 && tok_is_name(t, "not") && tok_is_name(peek2(P), "in")) {
            next(P);
            op = OP_NOTIN;
        }
        if (op < 0) return result ? result : left;
        next(P);
        jnode *right = parse_math1(P);
        jnode *cmp = mk_bin(P, op, left, right, t->line);
        if (!result) {
            result = cmp;
        } else {
            jnode *x = mk(P, N_AND, t->line);
            x->a = result;
            x->b = cmp;
            result = x;
        }
        left = right;
    }
}

static jnode *parse_not(parser *P) {
    if (is_name(P, "not")) {
        int line = next(P)->line;
        enter(P);
        jnode *n = mk(P, N_NOT, line);
        n->a = parse_not(P);
        leave(P);
        return n;
    }
    return parse_compare(P);
}

static jnode *parse_and(parser *P) {
    jnode *n = parse_not(P);
    while (is_name(P, "and")) {
        jnode *x = mk(P, N_AND, next(P)->line);
        x->a = n;
        x->b = parse_not(P);
        n = x;
    }
    return n;
}

static jnode *parse_or(parser *P) {
    jnode *n = parse_and(P);
    while (is_name(P, "or")) {
        jnode *x = mk(P, N_OR, next(P)->line);
        x->a = n;
        x->b = parse_and(P);
        n = x;
    }
    return n;
}

static jnode *parse_expr(parser *P) {
    enter(P);
    jnode *n = parse_or(P);
    while (is_name(P, "if")) {
        jnode *x = mk(P, N_COND, next(P)->line);
        x->b = n;
        x->a = parse_or(P);
        if (is_name(P, "else")) {
            next(P);
            x->c = parse_expr(P);
        }
        n = x;
    }
    leave(P);
    return n;
}

/* expr [, expr]* as a tuple when there is a comma (set a, b = 1, 2). */
static jnode *parse_tuple(parser *P, bool with_cond) {
    int line = peek(P)->line;
    jnode *first = with_cond ? parse_expr(P) : parse_or(P);
    if (!is_op(P, ",")) return first;
    kidvec k = {0};
    kid_push(P, &k, first, NULL);
    while (is_op(P, ",")) {
        next(P);
        kid_push(P, &k, with_cond ? parse_expr(P) : parse_or(P), NULL);
    }
    jnode *n = mk(P, N_TUPLE, line);
    n->kids = k.v;
    n->n_kids = k.n;
    return n;
}

/* ---- statements ----------------------------------------------------------------------------- */
static jnode *parse_block(parser *P, const char *const *ends, const char **which);

static void end_tag(parser *P) { expect_type(P, T_BLOCK_END, "'%}'"); }

static jnode *parse_if_rest(parser *P, int line) {
    jnode *n = mk(P, N_IF, line);
    n->a = parse_expr(P);
    end_tag(P);
    static const char *const ends[] = {"elif", "else", "endif", NULL};
    const char *which;
    n->b = parse_block(P, ends, &which);
    if (!strcmp(which, "elif")) {
        n->c = parse_if_rest(P, P->t[P->pos - 1].line);
    } else if (!strcmp(which, "else")) {
        end_tag(P);
        static const char *const ends2[] = {"endif", NULL};
        n->c = parse_block(P, ends2, &which);
        end_tag(P);
    } else {
        end_tag(P);
    }
    return n;
}

/* Target names of for / set: a, b, c (parenthesized tuples are not used by templates). */
static void parse_targets(parser *P, jnode *n) {
    kidvec k = {0};
    do {
        if (k.n) next(P);
        kid_push(P, &k, NULL, expect_ident(P));
    } while (is_op(P, ","));
    n->names = k.names;
    n->n_names = k.n;
}

static void parse_params(parser *P, jnode *n) {
    kidvec k = {0};
    expect_op(P, "(");
    while (!is_op(P, ")")) {
        if (k.n) expect_op(P, ",");
        if (is_op(P, ")")) break;
        const char *nm = expect_ident(P);
        jnode *def = NULL;
        if (is_op(P, "=")) {
            next(P);
            def = parse_expr(P);
        }
        kid_push(P, &k, def, nm);
    }
    next(P);
    n->kids = k.v;
    n->names = k.names;
    n->n_kids = n->n_names = k.n;
}

static jnode *parse_statement(parser *P) {
    const jtok *bt = next(P); /* {% */
    int line = bt->line;
    const char *tag = expect_ident(P);
    static const char *const end_for[] = {"else", "endfor", NULL}, *const end_for2[] = {"endfor", NULL},
                             *const end_set[] = {"endset", NULL}, *const end_macro[] = {"endmacro", NULL},
                             *const end_call[] = {"endcall", NULL}, *const end_filter[] = {"endfilter", NULL},
                             *const end_gen[] = {"endgeneration", NULL};
    const char *which;
    if (!strcmp(tag, "if")) return parse_if_rest(P, line);
    if (!strcmp(tag, "for")) {
        jnode *n = mk(P, N_FOR, line);
        parse_targets(P, n);
        if (!is_name(P, "in")) unexpected(P, "'in'");
        next(P);
        n->a = parse_tuple(P, false);
        if (is_name(P, "if")) {
            next(P);
            n->d = parse_expr(P);
        }
        if (is_name(P, "recursive")) unexpected(P, "'%}' (recursive loops are not supported)");
        end_tag(P);
        P->loop_depth++;
        n->b = parse_block(P, end_for, &which);
        P->loop_depth--;
        end_tag(P);
        if (!strcmp(which, "else")) {
            n->c = parse_block(P, end_for2, &which);
            end_tag(P);
        }
        return n;
    }
    if (!strcmp(tag, "set")) {
        jnode *n = mk(P, N_SET, line);
        const char *first = expect_ident(P);
        if (is_op(P, ".")) {
            next(P);
            jnode *t = mk(P, N_ATTR, line);
            t->a = mk(P, N_NAME, line);
            t->a->name = first;
            t->name = expect_ident(P);
            n->a = t;
        } else {
            kidvec k = {0};
            kid_push(P, &k, NULL, first);
            while (is_op(P, ",")) {
                next(P);
                kid_push(P, &k, NULL, expect_ident(P));
            }
            n->names = k.names;
            n->n_names = k.n;
        }
        if (is_op(P, "=")) {
            next(P);
            n->b = parse_tuple(P, true);
            end_tag(P);
            return n;
        }
        if (n->n_names > 1) unexpected(P, "'='");
        n->type = N_SETBLOCK;
        n->c = parse_filter_chain(P, NULL);
        end_tag(P);
        n->b = parse_block(P, end_set, &which);
        end_tag(P);
        return n;
    }
    if (!strcmp(tag, "macro")) {
        jnode *n = mk(P, N_MACRO, line);
        n->name = expect_ident(P);
        parse_params(P, n);
        end_tag(P);
        int saved_loop = P->loop_depth;
        P->loop_depth = 0;
        n->b = parse_block(P, end_macro, &which);
        P->loop_depth = saved_loop;
        if (peek(P)->type == T_NAME) next(P); /* {% endmacro name %} */
        end_tag(P);
        return n;
    }
    if (!strcmp(tag, "call")) {
        jnode *n = mk(P, N_CALLBLOCK, line);
        if (is_op(P, "(")) parse_params(P, n);
        n->a = parse_expr(P);
        if (n->a->type != N_CALL) jinja_throw(P->e, line, SLM_E_FORMAT, "syntax error: {%% call %%} needs a macro call");
        end_tag(P);
        n->b = parse_block(P, end_call, &which);
        end_tag(P);
        return n;
    }
    if (!strcmp(tag, "filter")) {
        jnode *n = mk(P, N_FILTERBLOCK, line);
        /* the chain starts with a bare filter name: fake the leading '|' */
        int line2 = peek(P)->line;
        jnode *f = mk(P, N_FILTER, line2);
        f->name = expect_ident(P);
        if (is_op(P, "(")) parse_args(P, f);
        n->c = parse_filter_chain(P, f);
        end_tag(P);
        n->b = parse_block(P, end_filter, &which);
        end_tag(P);
        return n;
    }
    if (!strcmp(tag, "break") || !strcmp(tag, "continue")) {
        if (!P->loop_depth) jinja_throw(P->e, line, SLM_E_FORMAT, "syntax error: '%s' outside of a loop", tag);
        end_tag(P);
        return mk(P, tag[0] == 'b' ? N_BREAK : N_CONTINUE, line);
    }
    if (!strcmp(tag, "do")) {
        jnode *n = mk(P, N_DO, line);
        n->a = parse_tuple(P, true);
        end_tag(P);
        return n;
    }
    if (!strcmp(tag, "generation")) { /* transformers' assistant-mask marker: renders its body */
        end_tag(P);
        jnode *n = parse_block(P, end_gen, &which);
        end_tag(P);
        return n;
    }
    jinja_throw(P->e, line, SLM_E_FORMAT, "syntax error: unknown or unexpected tag '%s'", tag);
}

/* Statements until a {% tag %} whose name is in ends (consumed up to the name; *which = the name),
 * or the end of the template when ends is NULL. */
static jnode *parse_block(parser *P, const char *const *ends, const char **which) {
    enter(P);
    jnode *blk = mk(P, N_BLOCK, peek(P)->line);
    kidvec k = {0};
    for (;;) {
        const jtok *t = peek(P);
        if (t->type == T_EOF) {
            if (ends) {
                int last = 0;
                while (ends[last + 1]) last++;
                jinja_throw(P->e, t->line, SLM_E_FORMAT, "syntax error: unexpected end of template, missing '{%% %s %%}'",
                            ends[last]);
            }
            break;
        }
        if (t->type == T_TEXT) {
            next(P);
            jnode *n = mk(P, N_TEXT, t->line);
            n->lit = jv_str_n(P->a, P->e, t->line, t->s, t->len);
            kid_push(P, &k, n, NULL);
        } else if (t->type == T_VAR_BEGIN) {
            next(P);
            jnode *n = mk(P, N_OUTPUT, t->line);
            n->a = parse_tuple(P, true);
            expect_type(P, T_VAR_END, "'}}'");
            kid_push(P, &k, n, NULL);
        } else if (t->type == T_BLOCK_BEGIN) {
            const jtok *nm = peek2(P);
            bool is_end = false;
            if (ends && nm->type == T_NAME)
                for (int i = 0; ends[i]; i++)
                    if (!strcmp(nm->s, ends[i])) {
                        is_end = true;
                        *which = ends[i];
                    }
            if (is_end) {
                next(P);
                next(P);
                break;
            }
            kid_push(P, &k, parse_statement(P), NULL);
        } else {
            unexpected(P, "text or a tag");
        }
    }
    blk->kids = k.v;
    blk->n_kids = k.n;
    leave(P);
    return blk;
}

jnode *jinja_parse_tokens(jarena *a, jctx_err *e, const jtok *toks, size_t n_toks) {
    parser P = {.a = a, .e = e, .t = toks, .n = n_toks, .pos = 0};
    return parse_block(&P, NULL, NULL);
}
