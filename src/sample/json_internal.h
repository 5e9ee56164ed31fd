/* Internals of the JSON constraint engine (json_constrain.h): the compiled schema and the
 * byte-level prefix parser. Shared by json_schema.c, json_state.c and json_constrain.c. */
#ifndef SLM_SAMPLE_JSON_INTERNAL_H
#define SLM_SAMPLE_JSON_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "slm.h"

/* Kinds a schema node admits (bit set). INT is NUM without fraction. */
enum { JK_OBJ = 1, JK_ARR = 2, JK_STR = 4, JK_NUM = 8, JK_INT = 16, JK_BOOL = 32, JK_NULL = 64 };

#define JC_MAX_DEPTH 32        /* parser frames: nesting bound of generated documents */
#define JC_MAX_SCHEMA_DEPTH 24 /* nesting bound of accepted schemas */
#define JC_MAX_LITS 64         /* enum values, or properties of one object (bit masks) */
#define JC_MAX_NODES 4096
#define JC_DEFAULT_MAX_CHARS 64 /* strings without maxLength (keeps random models from rambling) */
#define JC_KEY_MAX_CHARS 32     /* keys of free-form objects ("any JSON" mode) */
#define JC_MAX_INT_DIGITS 12
#define JC_MAX_FRAC_DIGITS 6
#define JC_COST_INF ((int64_t)1 << 40) /* saturation of minimal lengths */

/* Literal bytes: enum/const values, keys written as `"name":`, and true/false/null. */
typedef struct jc_lit {
    int32_t off, len; /* into jc_schema.pool */
} jc_lit;

typedef struct jc_prop {
    int32_t lit;  /* literal `"name":` */
    int32_t node; /* value schema */
    bool required;
    int32_t next_req; /* index of the first required property >= this one, or n_props */
    int64_t req_cost; /* bytes of `,"k":<min value>` for every required property >= this one */
} jc_prop;

typedef struct jc_node {
    uint32_t kinds;
    int32_t lit_first, n_lits; /* n_lits > 0: only these literals (enum/const) */
    int32_t prop_first, n_props;
    bool free_keys; /* any-JSON object: free string keys, values of node `items` */
    int32_t items;  /* array element schema (and free object value schema) */
    int32_t min_items, max_items;
    int32_t min_chars, max_chars; /* string length in code points */
    int64_t min_bytes;            /* shortest valid serialization */
} jc_node;

typedef struct jc_schema {
    jc_node *nodes;
    int32_t n_nodes, cap_nodes;
    jc_prop *props;
    int32_t n_props, cap_props;
    jc_lit *lits;
    int32_t n_lits, cap_lits;
    char *pool;
    int32_t pool_len, pool_cap;
    int32_t root;
    int32_t any;     /* node: any JSON value */
    int32_t key_str; /* node: a free object key string */
} jc_schema;

/* Literal indices fixed at compile start. */
enum { JC_LIT_TRUE = 0, JC_LIT_FALSE = 1, JC_LIT_NULL = 2 };

/* schema text (NULL = any JSON) -> compiled schema. Unsupported keywords: SLM_E_UNSUPPORTED. */
slm_status jc_schema_compile(const char *text, size_t len, jc_schema *s, slm_error *err);
void jc_schema_free(jc_schema *s);

/* --- Prefix parser ------------------------------------------------------------------------ */
enum { FR_ROOT, FR_OBJ, FR_ARR, FR_STR, FR_NUM, FR_LIT };

typedef struct jc_frame {
    uint8_t type, phase;
    uint8_t esc;    /* string: a backslash is pending */
    uint8_t need;   /* string: UTF-8 continuation bytes pending */
    uint8_t lo, hi; /* string: allowed range of the next continuation byte */
    int32_t node;
    int32_t n;     /* obj: next property index; arr: items; str: chars; num: digits; lit: pos */
    int32_t cur;   /* obj: property whose value is open; lit: first literal index */
    uint64_t mask; /* lit: candidates still matching (bit i = literal cur + i) */
} jc_frame;

typedef struct jc_state {
    int32_t depth; /* frames in use (f[0] is the root) */
    jc_frame f[JC_MAX_DEPTH];
} jc_state;

void jc_state_init(jc_state *st, const jc_schema *s);
/* Feed one byte; false if it cannot continue a valid document (st is then unspecified). */
bool jc_state_step(jc_state *st, const jc_schema *s, uint8_t b);
/* The bytes so far form a complete valid document. */
bool jc_state_accepting(const jc_state *st, const jc_schema *s);
/* Fewest bytes that complete the document from here (0 when accepting). */
int64_t jc_state_rest(const jc_state *st, const jc_schema *s);
/* Copy only the frames in use (the parser copies a state per trie level). */
static inline void jc_state_copy(jc_state *dst, const jc_state *src) {
    dst->depth = src->depth;
    for (int32_t i = 0; i < src->depth; i++)
        dst->f[i] = src->f[i];
}

#endif
