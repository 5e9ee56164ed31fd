/* Internals of the Jinja engine shared by jinja_{arena,value,lex,parse,eval,builtins}.c.
 *
 * Memory: everything a template or a render creates lives in an arena (jarena) that is freed in
 * one go, so values are plain structs passed by value and may share pointers freely (the
 * template language cannot mutate lists or dicts; namespaces are the one mutable object).
 * The arena has a byte limit, which is what bounds memory on hostile templates.
 *
 * Errors: the lexer, parser and evaluator report errors with jinja_throw(), which longjmps to the
 * entry point (jinja_parse / jinja_render). This keeps a deep recursive interpreter readable
 * without an error check after every call; nothing outside the arena is held across a throw.
 */
#ifndef SLM_CHAT_JINJA_INTERNAL_H
#define SLM_CHAT_JINJA_INTERNAL_H

#include <setjmp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "chat/jinja.h"

/* ---- arena ---------------------------------------------------------------------------------- */
typedef struct jarena_block jarena_block;
typedef struct jarena {
    jarena_block *head;
    size_t used_total; /* bytes handed out, all blocks */
    size_t limit;      /* refuse to hand out more than this */
} jarena;

/* ---- error context -------------------------------------------------------------------------- */
typedef struct jctx_err {
    jmp_buf jb;
    int line;            /* template line of the failing construct (1-based), 0 if unknown */
    bool raised;         /* raise_exception() from the template */
    slm_status code;
    char msg[400];
} jctx_err;

_Noreturn void jinja_throw(jctx_err *e, int line, slm_status code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

void jarena_init(jarena *a, size_t limit);
void jarena_free(jarena *a);
/* 16-byte aligned memory or NULL when the limit would be exceeded. */
void *jarena_try_alloc(jarena *a, size_t n);
/* Same, but throws "template needs too much memory" through e. */
void *jarena_alloc(jarena *a, jctx_err *e, int line, size_t n);

/* ---- values --------------------------------------------------------------------------------- */
typedef enum jv_kind {
    JV_UNDEF = 0, JV_NONE, JV_BOOL, JV_INT, JV_FLOAT, JV_STR, JV_LIST, JV_DICT,
    JV_NS,      /* namespace(): a dict whose attributes may be assigned */
    JV_MACRO,   /* a {% macro %} (or the `caller` of a {% call %}) */
    JV_BUILTIN, /* a global function: range, namespace, raise_exception, ... (u.i = id) */
    JV_METHOD,  /* a bound method such as d.items (u.m) */
} jv_kind;

typedef struct jstr {
    size_t len;
    char s[]; /* NUL-terminated */
} jstr;

typedef struct jv jv;
typedef struct jlist jlist;
typedef struct jdict jdict;
typedef struct jmacro jmacro;
typedef struct jmethod jmethod;

struct jv {
    uint8_t k;
    uint8_t markup; /* JV_STR marked safe (Markup): `+` with a plain str HTML-escapes the other */
    union {
        bool b;
        int64_t i;
        double f;
        const jstr *s; /* JV_STR; for JV_UNDEF: an optional hint for error messages */
        jlist *l;
        jdict *d; /* JV_DICT, JV_NS */
        jmacro *mac;
        jmethod *m;
    } u;
};

struct jlist {
    size_t n, cap;
    jv *v;
    bool tuple; /* printed as (a, b) */
};

struct jdict {
    size_t n, cap;
    jv *keys;
    jv *vals;
    /* Hash index over keys (open addressing, entries are key index + 1, 0 = empty), built once a
     * dict passes a few keys so that lookups and sets stay O(1): a template looping d.update() or
     * d[k] over a big dict must not cost n^2 key compares. NULL for small dicts (linear scan). */
    uint32_t *slots;
    size_t n_slots; /* a power of two, > 2 n */
    bool is_loop; /* the `loop` variable of a for: supports loop.cycle() */
};

struct jmethod {
    jv self;
    const char *name;
};

struct jnode;
struct jframe;
struct jmacro {
    const struct jnode *node;   /* N_MACRO, or the N_CALLBLOCK for `caller` */
    struct jframe *closure;     /* frame it was defined in */
};

/* ---- AST ------------------------------------------------------------------------------------ */
typedef enum jnode_type {
    /* expressions */
    N_LIT, N_NAME, N_LIST, N_TUPLE, N_DICT, N_ATTR, N_INDEX, N_SLICE, N_CALL, N_FILTER, N_TEST,
    N_NEG, N_POS, N_NOT, N_AND, N_OR, N_BIN, N_COND,
    /* statements */
    N_BLOCK, N_TEXT, N_OUTPUT, N_IF, N_FOR, N_SET, N_SETBLOCK, N_MACRO, N_CALLBLOCK, N_FILTERBLOCK,
    N_BREAK, N_CONTINUE, N_DO,
} jnode_type;

/* Binary operators of N_BIN (comparisons included). */
enum { OP_ADD, OP_SUB, OP_MUL, OP_DIV, OP_FLOORDIV, OP_MOD, OP_POW, OP_CONCAT,
       OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE, OP_IN, OP_NOTIN };

/* One generic node; which fields mean what is listed per type in jinja_parse.c. */
typedef struct jnode {
    uint8_t type;
    uint8_t op;      /* N_BIN operator; N_TEST: 1 = negated ("is not") */
    int line;
    jv lit;          /* N_LIT value, N_TEXT text */
    const char *name;
    struct jnode *a, *b, *c, *d;
    struct jnode **kids;
    const char **names; /* per kid: keyword-argument name or NULL; for/set targets; macro params */
    int n_kids, n_names;
} jnode;

/* ---- lexer ---------------------------------------------------------------------------------- */
typedef enum jtok_type {
    T_EOF, T_TEXT, T_VAR_BEGIN, T_VAR_END, T_BLOCK_BEGIN, T_BLOCK_END,
    T_NAME, T_STRING, T_INT, T_FLOAT, T_OP,
} jtok_type;

typedef struct jtok {
    uint8_t type;
    int line;
    const char *s; /* T_TEXT, T_NAME, T_STRING (unescaped), T_OP: NUL-terminated in the arena */
    size_t len;
    int64_t i;
    double f;
} jtok;

/* Tokenize src (already newline-normalized) into *toks (arena), ending in T_EOF. */
void jinja_lex(jarena *a, jctx_err *e, const char *src, size_t len, jtok **toks, size_t *n_toks);

/* Parse the token stream into a N_BLOCK root. */
jnode *jinja_parse_tokens(jarena *a, jctx_err *e, const jtok *toks, size_t n_toks);

/* ---- values helpers (jinja_value.c) --------------------------------------------------------- */
typedef struct jbuf {
    char *p;
    size_t len, cap;
    size_t limit;  /* hard cap on len */
    jarena *arena; /* grow inside this arena (render buffers) or, when NULL, with realloc */
} jbuf;

typedef struct jrender jrender; /* evaluator state, defined in jinja_eval.c */

struct jinja_env_view {
    jarena *a;
    jctx_err *e;
};

static inline jv jv_undef(void) { jv v = {0}; v.k = JV_UNDEF; return v; }
static inline jv jv_none(void) { jv v = {0}; v.k = JV_NONE; return v; }
static inline jv jv_bool(bool b) { jv v = {0}; v.k = JV_BOOL; v.u.b = b; return v; }
static inline jv jv_int(int64_t i) { jv v = {0}; v.k = JV_INT; v.u.i = i; return v; }
static inline jv jv_float(double f) { jv v = {0}; v.k = JV_FLOAT; v.u.f = f; return v; }

jv jv_str_n(jarena *a, jctx_err *e, int line, const char *s, size_t n);
jv jv_str(jarena *a, jctx_err *e, int line, const char *s);
jlist *jlist_new(jarena *a, jctx_err *e, int line, size_t cap);
void jlist_push(jarena *a, jctx_err *e, int line, jlist *l, jv v);
jdict *jdict_new(jarena *a, jctx_err *e, int line);
void jdict_set(jarena *a, jctx_err *e, int line, jdict *d, jv key, jv val);
/* Set by C-string key, allocating the key only when it is new. */
void jdict_set_s(jarena *a, jctx_err *e, int line, jdict *d, const char *key, jv val);
/* Lookup by key; returns false if absent. */
bool jdict_get(const jdict *d, jv key, jv *out);
bool jdict_get_s(const jdict *d, const char *key, jv *out);
jv jv_list(jlist *l);
jv jv_dict(jdict *d);

bool jv_truthy(jv v);
bool jv_equal(jv a, jv b);
/* jv_equal that adds the number of values it visited to *work (deep lists and dicts cost more). */
bool jv_equal_w(jv a, jv b, uint64_t *work);
const char *jv_type_name(jv v); /* Python's name: 'NoneType', 'str', 'dict', ... */
bool jv_is_num(jv v);           /* int, float or bool */
double jv_num(jv v);

void jbuf_init(jbuf *b, size_t limit);
void jbuf_init_arena(jbuf *b, jarena *a, size_t limit);
void jbuf_free(jbuf *b);
/* Append; returns false when the limit would be exceeded or memory ran out. */
bool jbuf_put(jbuf *b, const char *s, size_t n);

/* str(v) as Python prints it (None, True, 1.5, lists/dicts as repr); appended to out. */
bool jv_write_str(jbuf *out, jv v);
/* repr(v). */
bool jv_write_repr(jbuf *out, jv v);
/* json.dumps(v, ensure_ascii=False, indent=indent (<0: None), separators, sort_keys) options. */
typedef struct jjson_opts {
    int indent;           /* < 0: None (one line) */
    const char *item_sep; /* NULL: ", " without indent, "," with */
    const char *key_sep;  /* NULL: ": " */
    bool sort_keys;
} jjson_opts;
/* Appends JSON to out; false on a non-serializable value (its Python type name in *bad) or the
 * buffer limit. */
bool jv_write_json(jbuf *out, jv v, const jjson_opts *o, int depth, const char **bad);
/* str(v) as a new arena string. */
jv jv_to_str(jarena *a, jctx_err *e, int line, jv v);

/* Python float repr into buf (>= 32 bytes). */
void jv_format_float(double f, char *buf, size_t n);

/* ---- builtins (jinja_builtins.c) ------------------------------------------------------------ */
/* Arguments of a filter / test / function / method call, evaluated. */
typedef struct jargs {
    jv *pos;
    int n_pos;
    const char **kw_names;
    jv *kw;
    int n_kw;
} jargs;

/* Evaluator services used by builtins (jinja_eval.c). */
jarena *jr_arena(jrender *r);
jctx_err *jr_err(jrender *r);
jv jr_call_value(jrender *r, int line, jv callee, const jargs *args);
jv jr_getattr(jrender *r, int line, jv obj, const char *name);
jv jr_getitem(jrender *r, int line, jv obj, jv key);
/* Frozen time for strftime_now, or -1 to use the clock. */
int64_t jr_now(jrender *r);
/* Iterate any iterable into a list (dict -> keys, str -> characters); throws if not iterable. */
jlist *jr_iterate(jrender *r, int line, jv v);
/* jbuf_put that throws "too much memory" instead of returning false. */
void jr_put(jrender *r, int line, jbuf *b, const char *s, size_t n);
/* Count one unit of work; throws past the render's step budget. */
void jr_step(jrender *r, int line);
/* Charge `units` steps for work done inside one step: a builtin that scans a long string or list
 * costs in proportion, so that a loop of such calls stays bounded by max_steps (each step being
 * cheap is what makes the step limit a time limit). */
void jr_work(jrender *r, int line, uint64_t units);
/* The work units of scanning v once: strings 1 per 64 bytes, lists and dicts 1 per item. */
uint64_t jr_scan_cost(jv v);
bool jr_equal(jrender *r, int line, jv a, jv b); /* jv_equal, charged */

jv jinja_filter(jrender *r, int line, const char *name, jv v, const jargs *args);
bool jinja_test(jrender *r, int line, const char *name, jv v, const jargs *args);
bool jinja_test_exists(const char *name);
jv jinja_method(jrender *r, int line, jv self, const char *name, const jargs *args);
/* True if `name` is a method of self's type (so obj.name gives a bound method). */
bool jinja_has_method(jv self, const char *name);
/* Global function by name: 0 if none, else an id for jinja_call_global. */
int jinja_global_id(const char *name);
jv jinja_call_global(jrender *r, int line, int id, const jargs *args);

/* Python-style helpers shared by filters and operators. */
jv jv_binop(jrender *r, int line, int op, jv a, jv b);
int jv_compare(jrender *r, int line, jv a, jv b); /* <0, 0, >0; throws if not orderable */
bool jv_contains(jrender *r, int line, jv container, jv item);

/* String helpers (jinja_ops.c), all on UTF-8 by code point like Python's str. */
enum { JCASE_LOWER, JCASE_UPPER, JCASE_TITLE, JCASE_CAPITALIZE };
jv jstr_case(jrender *r, int line, jv s, int mode);
/* which: 1 = lstrip, 2 = rstrip, 3 = strip; chars: JV_NONE/UNDEF = Python whitespace. */
jv jstr_strip(jrender *r, int line, jv s, jv chars, int which);
jv jstr_replace(jrender *r, int line, jv s, jv old, jv rep, int64_t count);
jlist *jstr_split(jrender *r, int line, jv s, jv sep, int64_t maxsplit);
size_t jstr_ncodepoints(const jstr *s);
/* Arguments: positional index pos or keyword kw, else def. */
jv jarg(const jargs *a, int pos, const char *kw, jv def);
/* HTML-escape like markupsafe.escape (& < > " ' ); returns a Markup string. */
jv jstr_escape(jrender *r, int line, jv v);
/* Python str() of v, as a jv string. */
jv jr_str(jrender *r, int line, jv v);

#endif
