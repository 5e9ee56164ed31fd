/* Byte-level prefix parser for compact JSON under a compiled schema (json_internal.h).
 *
 * A stack of frames, one per open value. Each byte either extends the top frame, completes it
 * (popping to the parent), or is refused. Numbers and bare literals have no end marker, so they
 * complete "before" the next byte, which is then handed to the parent. No whitespace is ever
 * accepted: documents are compact, so a model cannot loop on spaces.
 *
 * Objects of a schema emit their properties in schema order (a valid choice for a generator):
 * after property i the next key is one of i+1 .. the first required one, and `}` is allowed
 * only when no required property is left. Keys are matched as literals `"name":`. */
#include <string.h>

#include "sample/json_internal.h"

enum { R_START, R_IN, R_DONE };
enum { O_OPEN, O_START, O_KEY, O_COLON, O_VALUE_START, O_IN_VALUE, O_AFTER_VALUE, O_NEED_KEY };
enum { A_OPEN, A_START, A_IN, A_AFTER, A_NEED };
enum { S_OPEN, S_IN };
enum { N_FRESH, N_MINUS, N_INT0, N_INT, N_DOT, N_FRAC };
enum { ST_REJECT, ST_OK, ST_BEFORE }; /* ST_BEFORE: frame complete, byte belongs to the parent */

static int64_t add(int64_t a, int64_t b) {
    int64_t r = a + b;
    return r > JC_COST_INF ? JC_COST_INF : r;
}
static int64_t mul(int64_t a, int64_t k) {
    if (k <= 0 || a == 0) return 0;
    return a > JC_COST_INF / k ? JC_COST_INF : a * k;
}

void jc_state_init(jc_state *st, const jc_schema *s) {
    (void)s;
    memset(&st->f[0], 0, sizeof st->f[0]);
    st->f[0].type = FR_ROOT;
    st->f[0].phase = R_START;
    st->depth = 1;
}

static jc_frame *push(jc_state *st, uint8_t type, int32_t node) {
    if (st->depth >= JC_MAX_DEPTH) return NULL;
    jc_frame *f = &st->f[st->depth++];
    memset(f, 0, sizeof *f);
    f->type = type;
    f->node = node;
    return f;
}

/* Remove the top frame (its value is complete) and advance the parent. matched: the literal
 * candidate that completed (a property index for key literals), else -1. */
static void pop(jc_state *st, const jc_schema *s, int32_t matched) {
    st->depth--;
    jc_frame *p = &st->f[st->depth - 1];
    switch (p->type) {
    case FR_ROOT:
        p->phase = R_DONE;
        break;
    case FR_OBJ:
        if (p->phase == O_KEY) {
            if (s->nodes[p->node].free_keys) {
                p->phase = O_COLON;
            } else {
                p->cur = matched;
                p->phase = O_VALUE_START;
            }
        } else {
            p->phase = O_AFTER_VALUE;
            if (!s->nodes[p->node].free_keys) p->n = p->cur + 1;
        }
        break;
    case FR_ARR:
        p->n++;
        p->phase = A_AFTER;
        break;
    default:
        break;
    }
}

static uint64_t mask_all(int32_t n) { return n >= 64 ? ~(uint64_t)0 : (((uint64_t)1 << n) - 1); }

static bool begin_value(jc_state *st, const jc_schema *s, int32_t node, uint8_t b) {
    const jc_node *nd = &s->nodes[node];
    jc_frame *f = NULL;
    if (nd->n_lits) {
        if ((f = push(st, FR_LIT, node))) {
            f->cur = nd->lit_first;
            f->mask = mask_all(nd->n_lits);
        }
    } else if (b == '{' && (nd->kinds & JK_OBJ)) {
        f = push(st, FR_OBJ, node);
    } else if (b == '[' && (nd->kinds & JK_ARR)) {
        f = push(st, FR_ARR, node);
    } else if (b == '"' && (nd->kinds & JK_STR)) {
        f = push(st, FR_STR, node);
    } else if ((b == '-' || (b >= '0' && b <= '9')) && (nd->kinds & (JK_NUM | JK_INT))) {
        f = push(st, FR_NUM, node);
    } else if ((b == 't' || b == 'f') && (nd->kinds & JK_BOOL)) {
        if ((f = push(st, FR_LIT, node))) {
            f->cur = JC_LIT_TRUE;
            f->mask = 3;
        }
    } else if (b == 'n' && (nd->kinds & JK_NULL)) {
        if ((f = push(st, FR_LIT, node))) {
            f->cur = JC_LIT_NULL;
            f->mask = 1;
        }
    }
    return f && jc_state_step(st, s, b);
}

static bool start_key(jc_state *st, const jc_schema *s, jc_frame *f, int32_t i) {
    const jc_node *nd = &s->nodes[f->node];
    jc_frame *k;
    if (nd->free_keys) {
        k = push(st, FR_STR, s->key_str);
    } else {
        if (i >= nd->n_props) return false;
        int32_t lim = s->props[nd->prop_first + i].next_req;
        if (lim >= nd->n_props) lim = nd->n_props - 1;
        k = push(st, FR_LIT, f->node);
        if (k) {
            k->cur = s->props[nd->prop_first].lit;
            k->mask = mask_all(lim + 1) & ~mask_all(i);
        }
    }
    if (!k) return false;
    f->phase = O_KEY;
    return jc_state_step(st, s, '"');
}

static bool obj_step(jc_state *st, const jc_schema *s, jc_frame *f, uint8_t b) {
    const jc_node *nd = &s->nodes[f->node];
    bool free_keys = nd->free_keys;
    const jc_prop *pr = s->props ? s->props + nd->prop_first : NULL; /* NULL: no property anywhere */
    switch (f->phase) {
    case O_OPEN:
        if (b != '{') return false;
        f->phase = O_START;
        return true;
    case O_START:
        if (b == '}' && (free_keys || nd->n_props == 0 || pr[0].next_req == nd->n_props)) {
            pop(st, s, -1);
            return true;
        }
        return b == '"' && start_key(st, s, f, 0);
    case O_NEED_KEY:
        return b == '"' && start_key(st, s, f, f->n);
    case O_COLON:
        if (b != ':') return false;
        f->phase = O_VALUE_START;
        return true;
    case O_VALUE_START:
        f->phase = O_IN_VALUE;
        return begin_value(st, s, free_keys ? s->any : pr[f->cur].node, b);
    case O_AFTER_VALUE:
        if (b == ',' && (free_keys || f->n < nd->n_props)) {
            f->phase = O_NEED_KEY;
            return true;
        }
        if (b == '}' && (free_keys || f->n >= nd->n_props || pr[f->n].next_req == nd->n_props)) {
            pop(st, s, -1);
            return true;
        }
        return false;
    default:
        return false;
    }
}

static bool arr_step(jc_state *st, const jc_schema *s, jc_frame *f, uint8_t b) {
    const jc_node *nd = &s->nodes[f->node];
    switch (f->phase) {
    case A_OPEN:
        if (b != '[') return false;
        f->phase = A_START;
        return true;
    case A_START:
        if (b == ']' && nd->min_items == 0) {
            pop(st, s, -1);
            return true;
        }
        if (nd->max_items == 0) return false;
        f->phase = A_IN;
        return begin_value(st, s, nd->items, b);
    case A_AFTER:
        if (b == ',' && f->n < nd->max_items) {
            f->phase = A_NEED;
            return true;
        }
        if (b == ']' && f->n >= nd->min_items) {
            pop(st, s, -1);
            return true;
        }
        return false;
    case A_NEED:
        f->phase = A_IN;
        return begin_value(st, s, nd->items, b);
    default:
        return false;
    }
}

/* Strings: strict UTF-8 (no overlongs, surrogates or code points above U+10FFFF), the short
 * escapes only (no \u, whose surrogate pairs could be left unpaired), length in code points. */
static bool str_step(jc_state *st, const jc_schema *s, jc_frame *f, uint8_t b) {
    const jc_node *nd = &s->nodes[f->node];
    if (f->phase == S_OPEN) {
        if (b != '"') return false;
        f->phase = S_IN;
        return true;
    }
    if (f->need) {
        if (b < f->lo || b > f->hi) return false;
        f->need--;
        f->lo = 0x80;
        f->hi = 0xBF;
        return true;
    }
    if (f->esc) {
        if (!b || !strchr("\"\\/bfnrt", b)) return false;
        f->esc = 0;
        return true;
    }
    if (b == '"') {
        if (f->n < nd->min_chars) return false;
        pop(st, s, -1);
        return true;
    }
    if (f->n >= nd->max_chars || b < 0x20) return false;
    if (b == '\\') {
        f->esc = 1;
    } else if (b >= 0x80) {
        f->lo = 0x80;
        f->hi = 0xBF;
        if (b >= 0xC2 && b <= 0xDF)
            f->need = 1;
        else if (b >= 0xE0 && b <= 0xEF) {
            f->need = 2;
            if (b == 0xE0) f->lo = 0xA0;
            if (b == 0xED) f->hi = 0x9F;
        } else if (b >= 0xF0 && b <= 0xF4) {
            f->need = 3;
            if (b == 0xF0) f->lo = 0x90;
            if (b == 0xF4) f->hi = 0x8F;
        } else {
            return false;
        }
    }
    f->n++;
    return true;
}

static int num_step(const jc_schema *s, jc_frame *f, uint8_t b) {
    uint32_t k = s->nodes[f->node].kinds;
    bool int_only = (k & JK_INT) && !(k & JK_NUM);
    bool digit = b >= '0' && b <= '9';
    switch (f->phase) {
    case N_FRESH:
        if (b == '-') {
            f->phase = N_MINUS;
            return ST_OK;
        }
        /* fall through */
    case N_MINUS:
        if (!digit) return ST_REJECT;
        f->phase = b == '0' ? N_INT0 : N_INT;
        f->n = 1;
        return ST_OK;
    case N_INT0:
    case N_INT:
        if (digit && f->phase == N_INT && f->n < JC_MAX_INT_DIGITS) {
            f->n++;
            return ST_OK;
        }
        if (b == '.' && !int_only) {
            f->phase = N_DOT;
            return ST_OK;
        }
        return ST_BEFORE;
    case N_DOT:
        if (!digit) return ST_REJECT;
        f->phase = N_FRAC;
        f->n = 1;
        return ST_OK;
    case N_FRAC:
        if (digit && f->n < JC_MAX_FRAC_DIGITS) {
            f->n++;
            return ST_OK;
        }
        return ST_BEFORE;
    default:
        return ST_REJECT;
    }
}

/* Lowest candidate of the mask whose literal is complete at the frame's position, or -1. */
static int32_t lit_complete(const jc_schema *s, const jc_frame *f) {
    for (uint64_t m = f->mask; m; m &= m - 1) {
        int32_t i = __builtin_ctzll(m);
        if (s->lits[f->cur + i].len == f->n) return i;
    }
    return -1;
}

static int lit_step(jc_state *st, const jc_schema *s, jc_frame *f, uint8_t b) {
    uint64_t nm = 0;
    for (uint64_t m = f->mask; m; m &= m - 1) {
        int32_t i = __builtin_ctzll(m);
        const jc_lit *l = &s->lits[f->cur + i];
        if (l->len > f->n && (uint8_t)s->pool[l->off + f->n] == b) nm |= (uint64_t)1 << i;
    }
    if (!nm) return lit_complete(s, f) >= 0 ? ST_BEFORE : ST_REJECT;
    f->mask = nm;
    f->n++;
    /* literals ending in a delimiter (strings, containers, keys) complete at once */
    for (uint64_t m = nm; m; m &= m - 1)
        if (s->lits[f->cur + __builtin_ctzll(m)].len != f->n) return ST_OK;
    pop(st, s, __builtin_ctzll(nm));
    return ST_OK;
}

bool jc_state_step(jc_state *st, const jc_schema *s, uint8_t b) {
    for (;;) {
        jc_frame *f = &st->f[st->depth - 1];
        int r;
        switch (f->type) {
        case FR_ROOT:
            if (f->phase != R_START) return false;
            f->phase = R_IN;
            return begin_value(st, s, s->root, b);
        case FR_OBJ:
            return obj_step(st, s, f, b);
        case FR_ARR:
            return arr_step(st, s, f, b);
        case FR_STR:
            return str_step(st, s, f, b);
        case FR_NUM:
            r = num_step(s, f, b);
            if (r != ST_BEFORE) return r == ST_OK;
            pop(st, s, -1);
            break;
        case FR_LIT: {
            int32_t done = lit_complete(s, f);
            r = lit_step(st, s, f, b);
            if (r != ST_BEFORE) return r == ST_OK;
            pop(st, s, done);
            break;
        }
        default:
            return false;
        }
    }
}

bool jc_state_accepting(const jc_state *st, const jc_schema *s) {
    if (st->depth == 1) return st->f[0].phase == R_DONE;
    if (st->depth != 2) return false;
    const jc_frame *f = &st->f[1];
    if (f->type == FR_NUM) return f->phase == N_INT0 || f->phase == N_INT || f->phase == N_FRAC;
    if (f->type == FR_LIT) return lit_complete(s, f) >= 0;
    return false;
}

/* --- Shortest completion ------------------------------------------------------------------ */

static int64_t req_from(const jc_schema *s, const jc_node *nd, int32_t i) {
    return i < nd->n_props ? s->props[nd->prop_first + i].req_cost : 0;
}

/* Object, choosing property j next whose key literal is matched up to pos: rest of the key,
 * its smallest value, the required properties after it, and `}`. */
static int64_t obj_key_cost(const jc_schema *s, const jc_node *nd, int32_t j, int32_t pos) {
    const jc_prop *p = &s->props[nd->prop_first + j];
    int64_t c = s->lits[p->lit].len - pos;
    return add(add(c, s->nodes[p->node].min_bytes), add(req_from(s, nd, j + 1), 1));
}

static int64_t obj_next_key_cost(const jc_schema *s, const jc_node *nd, int32_t i) {
    int64_t best = JC_COST_INF;
    if (i >= nd->n_props) return best;
    int32_t lim = s->props[nd->prop_first + i].next_req;
    if (lim >= nd->n_props) lim = nd->n_props - 1;
    for (int32_t j = i; j <= lim; j++) {
        int64_t c = obj_key_cost(s, nd, j, 0);
        if (c < best) best = c;
    }
    return best;
}

static int64_t arr_more(const jc_node *nd, int32_t have, int64_t m) {
    int64_t missing = (int64_t)nd->min_items - have;
    return missing > 0 ? mul(m + 1, missing) : 0;
}

/* Bytes that finish frame f when it is the top frame (no child open). */
static int64_t own_rest(const jc_schema *s, const jc_frame *f) {
    const jc_node *nd = &s->nodes[f->node];
    switch (f->type) {
    case FR_ROOT:
        return f->phase == R_START ? s->nodes[s->root].min_bytes : 0;
    case FR_OBJ:
        if (nd->free_keys) {
            static const int8_t fk[] = {[O_OPEN] = 2,        [O_START] = 1,    [O_KEY] = 3,         [O_COLON] = 3,
                                        [O_VALUE_START] = 2, [O_IN_VALUE] = 1, [O_AFTER_VALUE] = 1, [O_NEED_KEY] = 5};
            return fk[f->phase];
        }
        switch (f->phase) {
        case O_OPEN:
        case O_START: {
            int64_t c = nd->n_props && s->props[nd->prop_first].next_req < nd->n_props ? req_from(s, nd, 0) : 1;
            return f->phase == O_OPEN ? add(c, 1) : c;
        }
        case O_VALUE_START:
            return add(s->nodes[s->props[nd->prop_first + f->cur].node].min_bytes, add(req_from(s, nd, f->cur + 1), 1));
        case O_AFTER_VALUE:
            return add(req_from(s, nd, f->n), 1);
        case O_NEED_KEY:
            return obj_next_key_cost(s, nd, f->n);
        default:
            return 0;
        }
    case FR_ARR: {
        int64_t m = s->nodes[nd->items].min_bytes;
        switch (f->phase) {
        case A_OPEN:
            return add(nd->min_items ? mul(m + 1, nd->min_items) : 1, 1);
        case A_START:
            return nd->min_items ? mul(m + 1, nd->min_items) : 1;
        case A_AFTER:
            return add(arr_more(nd, f->n, m), 1);
        case A_NEED:
            return add(add(m, arr_more(nd, f->n + 1, m)), 1);
        default:
            return 0;
        }
    }
    case FR_STR: {
        if (f->phase == S_OPEN) return 2 + nd->min_chars;
        int64_t c = f->esc + f->need + 1;
        return f->n < nd->min_chars ? c + nd->min_chars - f->n : c;
    }
    case FR_NUM:
        return f->phase == N_FRESH || f->phase == N_MINUS || f->phase == N_DOT ? 1 : 0;
    case FR_LIT: {
        int64_t best = JC_COST_INF;
        for (uint64_t m = f->mask; m; m &= m - 1) {
            int64_t c = s->lits[f->cur + __builtin_ctzll(m)].len - f->n;
            if (c < best) best = c;
        }
        return best;
    }
    default:
        return 0;
    }
}

/* Bytes that finish frame f once its open child is complete. */
static int64_t after_child_rest(const jc_schema *s, const jc_frame *f) {
    const jc_node *nd = &s->nodes[f->node];
    switch (f->type) {
    case FR_OBJ:
        if (nd->free_keys) return f->phase == O_KEY ? 3 : 1;
        return add(req_from(s, nd, f->cur + 1), 1);
    case FR_ARR:
        return add(arr_more(nd, f->n + 1, s->nodes[nd->items].min_bytes), 1);
    default:
        return 0;
    }
}

int64_t jc_state_rest(const jc_state *st, const jc_schema *s) {
    int32_t d = st->depth - 1;
    const jc_frame *f = &st->f[d];
    int64_t total;
    if (f->type == FR_LIT && d >= 1 && st->f[d - 1].type == FR_OBJ && st->f[d - 1].phase == O_KEY) {
        /* key literal: the choice of key decides the value still owed */
        const jc_node *nd = &s->nodes[st->f[d - 1].node];
        total = JC_COST_INF;
        for (uint64_t m = f->mask; m; m &= m - 1) {
            int64_t c = obj_key_cost(s, nd, __builtin_ctzll(m), f->n);
            if (c < total) total = c;
        }
        d -= 2;
    } else {
        total = own_rest(s, f);
        d--;
    }
    for (; d >= 0; d--)
        total = add(total, after_child_rest(s, &st->f[d]));
    return total;
}
