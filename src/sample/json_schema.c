/* JSON Schema subset -> compiled node table (json_internal.h).
 *
 * Supported: type (string or list), properties, required, additionalProperties (accepted; only
 * listed properties are generated, which satisfies any value of it), enum, const, items (one
 * schema), minItems, maxItems, minLength, maxLength, anyOf/oneOf whose branches are told apart
 * by their first byte (distinct JSON kinds, or all enum/const), and annotations (title,
 * description, default, examples, $schema, $id, $comment). Anything else is refused with
 * SLM_E_UNSUPPORTED naming the keyword, so a schema is never silently half-enforced. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "sample/json_internal.h"

#define JC_MAX_SCHEMA_BYTES (1 << 20)
#define JC_MAX_LIT_BYTES 4096
#define JC_MAX_MIN_ITEMS 256
#define JC_MAX_MIN_CHARS 4096
#define JC_MAX_MIN_DOC (1 << 16) /* bytes: the budget logic must be able to close it */

static int64_t cost_add(int64_t a, int64_t b) {
    int64_t r = a + b; /* both are <= JC_COST_INF, no overflow */
    return r > JC_COST_INF ? JC_COST_INF : r;
}
static int64_t cost_mul(int64_t a, int64_t k) {
    if (k == 0 || a == 0) return 0;
    return a > JC_COST_INF / k ? JC_COST_INF : a * k;
}

/* Grow one of the schema arrays by one element; -1 on failure or limit. */
static int32_t grow(void **arr, int32_t *n, int32_t *cap, size_t elem, int32_t limit) {
    if (*n >= limit) return -1;
    if (*n == *cap) {
        int32_t nc = *cap ? *cap * 2 : 16;
        void *p = realloc(*arr, (size_t)nc * elem);
        if (!p) return -1;
        *arr = p;
        *cap = nc;
    }
    memset((char *)*arr + (size_t)*n * elem, 0, elem);
    return (*n)++;
}

static int32_t lit_add(jc_schema *s, const char *bytes, size_t len, slm_error *err) {
    if (len == 0 || len > JC_MAX_LIT_BYTES) {
        slm_fail(err, SLM_E_UNSUPPORTED, "JSON schema literal of %zu bytes (limit %d)", len, JC_MAX_LIT_BYTES);
        return -1;
    }
    if ((int64_t)s->pool_len + (int64_t)len > (1 << 26)) {
        slm_fail(err, SLM_E_NOMEM, "JSON schema literals too large");
        return -1;
    }
    /* bytes may point into the pool itself (anyOf copies literals): keep it as an offset */
    uintptr_t at = (uintptr_t)bytes, base = (uintptr_t)s->pool;
    int64_t self_off = s->pool && at >= base && at < base + (uintptr_t)s->pool_len ? (int64_t)(at - base) : -1;
    while (s->pool_len + (int32_t)len > s->pool_cap) {
        int32_t nc = s->pool_cap ? s->pool_cap * 2 : 256;
        char *p = realloc(s->pool, (size_t)nc);
        if (!p) {
            slm_fail(err, SLM_E_NOMEM, "out of memory");
            return -1;
        }
        s->pool = p;
        s->pool_cap = nc;
    }
    int32_t i = grow((void **)&s->lits, &s->n_lits, &s->cap_lits, sizeof(jc_lit), 1 << 20);
    if (i < 0) {
        slm_fail(err, SLM_E_NOMEM, "too many JSON schema literals");
        return -1;
    }
    if (self_off >= 0) bytes = s->pool + self_off;
    memcpy(s->pool + s->pool_len, bytes, len);
    s->lits[i].off = s->pool_len;
    s->lits[i].len = (int32_t)len;
    s->pool_len += (int32_t)len;
    return i;
}

/* Compact serialization of a JSON value as a literal (enum/const value or `"key":`). */
static int32_t lit_add_json(jc_schema *s, const cJSON *v, bool as_key, slm_error *err) {
    char *txt = cJSON_PrintUnformatted(v);
    if (!txt) {
        slm_fail(err, SLM_E_NOMEM, "cannot serialize JSON schema value");
        return -1;
    }
    size_t n = strlen(txt);
    int32_t r;
    if (as_key) {
        char *k = malloc(n + 2);
        if (!k) {
            free(txt);
            slm_fail(err, SLM_E_NOMEM, "out of memory");
            return -1;
        }
        memcpy(k, txt, n);
        k[n] = ':';
        r = lit_add(s, k, n + 1, err);
        free(k);
    } else {
        r = lit_add(s, txt, n, err);
    }
    free(txt);
    return r;
}

static int32_t node_add(jc_schema *s, slm_error *err) {
    int32_t i = grow((void **)&s->nodes, &s->n_nodes, &s->cap_nodes, sizeof(jc_node), JC_MAX_NODES);
    if (i < 0) slm_fail(err, SLM_E_UNSUPPORTED, "JSON schema has too many nodes (limit %d)", JC_MAX_NODES);
    return i;
}

/* Shortest serialization of node i, and the per-property required suffix costs. */
static void node_finish(jc_schema *s, int32_t i) {
    jc_node *n = &s->nodes[i];
    for (int32_t j = n->n_props - 1; j >= 0; j--) {
        jc_prop *p = &s->props[n->prop_first + j];
        const jc_prop *nx = j + 1 < n->n_props ? p + 1 : NULL;
        p->next_req = p->required ? j : nx ? nx->next_req : n->n_props;
        int64_t own = p->required ? cost_add(1 + s->lits[p->lit].len, s->nodes[p->node].min_bytes) : 0;
        p->req_cost = cost_add(own, nx ? nx->req_cost : 0);
    }
    int64_t best = JC_COST_INF;
    if (n->n_lits > 0) {
        for (int32_t k = 0; k < n->n_lits; k++)
            if (s->lits[n->lit_first + k].len < best) best = s->lits[n->lit_first + k].len;
        n->min_bytes = best;
        return;
    }
    if (n->kinds & (JK_NULL | JK_BOOL)) best = 4;
    if (n->kinds & (JK_NUM | JK_INT)) best = 1;
    if (n->kinds & JK_STR) best = best < 2 + n->min_chars ? best : 2 + n->min_chars;
    if (n->kinds & JK_ARR) {
        int64_t m = n->items == i ? 1 : s->nodes[n->items].min_bytes;
        int64_t c = n->min_items ? cost_add(cost_mul(m + 1, n->min_items), 1) : 2;
        best = best < c ? best : c;
    }
    if (n->kinds & JK_OBJ) {
        int64_t c = n->n_props && s->props[n->prop_first].next_req < n->n_props
                        ? cost_add(s->props[n->prop_first].req_cost, 1)
                        : 2;
        best = best < c ? best : c;
    }
    n->min_bytes = best;
}

static bool get_count(const cJSON *o, const char *key, int32_t dflt, int32_t *out, slm_error *err) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    *out = dflt;
    if (!v) return true;
    if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble != floor(v->valuedouble)) {
        slm_fail(err, SLM_E_FORMAT, "JSON schema '%s' must be a non-negative integer", key);
        return false;
    }
    *out = v->valuedouble > 1e9 ? 1000000000 : (int32_t)v->valuedouble;
    return true;
}

static uint32_t kind_of_name(const char *t) {
    static const struct {
        const char *name;
        uint32_t k;
    } names[] = {{"object", JK_OBJ},  {"array", JK_ARR},    {"string", JK_STR}, {"number", JK_NUM},
                 {"integer", JK_INT}, {"boolean", JK_BOOL}, {"null", JK_NULL}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!strcmp(t, names[i].name)) return names[i].k;
    return 0;
}

static uint32_t kind_of_value(const cJSON *v) {
    if (cJSON_IsObject(v)) return JK_OBJ;
    if (cJSON_IsArray(v)) return JK_ARR;
    if (cJSON_IsString(v)) return JK_STR;
    if (cJSON_IsBool(v)) return JK_BOOL;
    if (cJSON_IsNull(v)) return JK_NULL;
    if (cJSON_IsNumber(v))
        return v->valuedouble == floor(v->valuedouble) && fabs(v->valuedouble) < 1e15 ? JK_NUM | JK_INT : JK_NUM;
    return 0;
}

static bool keyword_known(const char *k) {
    static const char *const ok[] = {"type",     "properties", "required",    "additionalProperties",
                                     "enum",     "const",      "items",       "minItems",
                                     "maxItems", "minLength",  "maxLength",   "anyOf",
                                     "oneOf",    "title",      "description", "default",
                                     "examples", "$schema",    "$id",         "$comment"};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        if (!strcmp(k, ok[i])) return true;
    return false;
}

static int32_t compile_node(jc_schema *s, const cJSON *j, int depth, slm_error *err);

/* anyOf / oneOf: one node whose branches are told apart by the first byte of the value. */
static bool lit_equal(const jc_schema *s, int32_t a, int32_t b) {
    return s->lits[a].len == s->lits[b].len &&
           !memcmp(s->pool + s->lits[a].off, s->pool + s->lits[b].off, (size_t)s->lits[a].len);
}

/* oneOf over enum/const branches: a value listed by two branches matches both, so never valid. */
static bool lit_in_other_branch(const jc_schema *s, const int32_t *br, int32_t nb, int32_t self, int32_t lit) {
    for (int32_t i = 0; i < nb; i++) {
        if (i == self) continue;
        const jc_node *o = &s->nodes[br[i]];
        for (int32_t k = 0; k < o->n_lits; k++)
            if (lit_equal(s, o->lit_first + k, lit)) return true;
    }
    return false;
}

static int32_t compile_union(jc_schema *s, const cJSON *arr, bool one_of, int depth, slm_error *err) {
    if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) < 1 || cJSON_GetArraySize(arr) > JC_MAX_LITS) {
        slm_fail(err, SLM_E_FORMAT, "JSON schema anyOf/oneOf must be a non-empty array (at most %d)", JC_MAX_LITS);
        return -1;
    }
    int32_t br[JC_MAX_LITS], nb = 0, n_lit_br = 0;
    const cJSON *b;
    cJSON_ArrayForEach(b, arr) {
        int32_t k = compile_node(s, b, depth + 1, err);
        if (k < 0) return -1;
        if (s->nodes[k].n_lits) n_lit_br++;
        br[nb++] = k;
    }
    if (nb == 1) return br[0];
    int32_t u = node_add(s, err);
    if (u < 0) return -1;
    if (n_lit_br == nb) {
        /* all enum/const: one literal set (copied so it is contiguous) */
        int32_t first = s->n_lits, total = 0;
        for (int32_t i = 0; i < nb; i++) {
            jc_node src = s->nodes[br[i]];
            for (int32_t k = 0; k < src.n_lits; k++) {
                if (one_of && lit_in_other_branch(s, br, nb, i, src.lit_first + k)) continue;
                jc_lit l = s->lits[src.lit_first + k];
                if (++total > JC_MAX_LITS) {
                    slm_fail(err, SLM_E_UNSUPPORTED, "JSON schema anyOf/oneOf with more than %d enum values",
                             JC_MAX_LITS);
                    return -1;
                }
                if (lit_add(s, s->pool + l.off, (size_t)l.len, err) < 0) return -1;
            }
        }
        if (total == 0) {
            slm_fail(err, SLM_E_UNSUPPORTED, "JSON schema oneOf whose every value is listed by two branches");
            return -1;
        }
        s->nodes[u].lit_first = first;
        s->nodes[u].n_lits = total;
        node_finish(s, u);
        return u;
    }
    if (n_lit_br) {
        slm_fail(err, SLM_E_UNSUPPORTED, "JSON schema anyOf/oneOf mixing enum/const and typed branches");
        return -1;
    }
    jc_node un = s->nodes[u];
    for (int32_t i = 0; i < nb; i++) {
        jc_node src = s->nodes[br[i]];
        uint32_t g = src.kinds & JK_INT ? (src.kinds | JK_NUM) : src.kinds;
        uint32_t have = un.kinds & JK_INT ? (un.kinds | JK_NUM) : un.kinds;
        if (g & have) {
            slm_fail(err, SLM_E_UNSUPPORTED,
                     "JSON schema anyOf/oneOf branches overlap in type (each branch must be "
                     "a different JSON type)");
            return -1;
        }
        un.kinds |= src.kinds;
        if (src.kinds & JK_OBJ) {
            un.prop_first = src.prop_first;
            un.n_props = src.n_props;
            un.free_keys = src.free_keys;
        }
        if (src.kinds & JK_ARR) {
            un.items = src.items == br[i] ? s->any : src.items;
            un.min_items = src.min_items;
            un.max_items = src.max_items;
        }
        if (src.kinds & JK_STR) {
            un.min_chars = src.min_chars;
            un.max_chars = src.max_chars;
        }
    }
    s->nodes[u] = un;
    node_finish(s, u);
    return u;
}

static int32_t compile_object_props(jc_schema *s, const cJSON *j, int32_t self, int depth, slm_error *err) {
    const cJSON *props = cJSON_GetObjectItemCaseSensitive(j, "properties");
    const cJSON *req = cJSON_GetObjectItemCaseSensitive(j, "required");
    if (props && !cJSON_IsObject(props))
        return slm_fail(err, SLM_E_FORMAT, "JSON schema 'properties' must be an object");
    if (req && !cJSON_IsArray(req)) return slm_fail(err, SLM_E_FORMAT, "JSON schema 'required' must be an array");
    int32_t np = props ? cJSON_GetArraySize(props) : 0;
    if (np > JC_MAX_LITS)
        return slm_fail(err, SLM_E_UNSUPPORTED, "JSON schema object with %d properties (limit %d)", np, JC_MAX_LITS);
    /* children first (they append props of their own), then this object's contiguous block */
    int32_t child[JC_MAX_LITS], klit[JC_MAX_LITS], i = 0;
    const cJSON *p;
    cJSON_ArrayForEach(p, props) {
        for (const cJSON *q = props->child; q != p; q = q->next)
            if (p->string && q->string && !strcmp(p->string, q->string))
                return slm_fail(err, SLM_E_FORMAT, "JSON schema property '%.100s' listed twice", p->string);
        child[i] = compile_node(s, p, depth + 1, err);
        if (child[i] < 0) return err->code;
        i++;
    }
    /* key literals of one object are contiguous (the parser indexes them as first + k) */
    i = 0;
    cJSON_ArrayForEach(p, props) {
        cJSON *key = cJSON_CreateString(p->string ? p->string : "");
        if (!key) return slm_fail(err, SLM_E_NOMEM, "out of memory");
        klit[i] = lit_add_json(s, key, true, err);
        cJSON_Delete(key);
        if (klit[i] < 0) return err->code;
        i++;
    }
    int32_t first = s->n_props;
    for (int32_t k = 0; k < np; k++) {
        int32_t pi = grow((void **)&s->props, &s->n_props, &s->cap_props, sizeof(jc_prop), 1 << 20);
        if (pi < 0) return slm_fail(err, SLM_E_NOMEM, "out of memory");
        s->props[pi].lit = klit[k];
        s->props[pi].node = child[k];
    }
    const cJSON *r;
    cJSON_ArrayForEach(r, req) {
        if (!cJSON_IsString(r)) return slm_fail(err, SLM_E_FORMAT, "JSON schema 'required' entries must be strings");
        int32_t k = 0;
        cJSON_ArrayForEach(p, props) {
            if (p->string && !strcmp(p->string, r->valuestring)) break;
            k++;
        }
        if (k >= np)
            return slm_fail(err, SLM_E_UNSUPPORTED,
                            "JSON schema requires property '%.100s' that is not in 'properties'", r->valuestring);
        s->props[first + k].required = true;
    }
    s->nodes[self].prop_first = first;
    s->nodes[self].n_props = np;
    return SLM_OK;
}

static int32_t compile_node(jc_schema *s, const cJSON *j, int depth, slm_error *err) {
    if (depth > JC_MAX_SCHEMA_DEPTH) {
        slm_fail(err, SLM_E_UNSUPPORTED, "JSON schema nested deeper than %d", JC_MAX_SCHEMA_DEPTH);
        return -1;
    }
    if (cJSON_IsTrue(j)) return s->any;
    if (!cJSON_IsObject(j)) {
        slm_fail(err, cJSON_IsFalse(j) ? SLM_E_UNSUPPORTED : SLM_E_FORMAT, "JSON schema must be an object or true");
        return -1;
    }
    const cJSON *kw;
    cJSON_ArrayForEach(kw, j) {
        if (!kw->string || !keyword_known(kw->string)) {
            slm_fail(err, SLM_E_UNSUPPORTED, "JSON schema keyword '%.100s' is not supported",
                     kw->string ? kw->string : "");
            return -1;
        }
    }
    const cJSON *any_of = cJSON_GetObjectItemCaseSensitive(j, "anyOf");
    const cJSON *one_of = cJSON_GetObjectItemCaseSensitive(j, "oneOf");
    if (any_of || one_of) {
        cJSON_ArrayForEach(kw, j) {
            if (strcmp(kw->string, "anyOf") && strcmp(kw->string, "oneOf") && strcmp(kw->string, "title") &&
                strcmp(kw->string, "description") && strcmp(kw->string, "$comment") && strcmp(kw->string, "default") &&
                strcmp(kw->string, "examples") && strcmp(kw->string, "$schema") && strcmp(kw->string, "$id")) {
                slm_fail(err, SLM_E_UNSUPPORTED, "JSON schema keyword '%.100s' next to anyOf/oneOf is not supported",
                         kw->string);
                return -1;
            }
        }
        if (any_of && one_of) {
            slm_fail(err, SLM_E_UNSUPPORTED, "JSON schema with both anyOf and oneOf");
            return -1;
        }
        return compile_union(s, any_of ? any_of : one_of, one_of != NULL, depth, err);
    }

    uint32_t kinds = 0;
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(j, "type");
    if (type) {
        const cJSON *t = cJSON_IsArray(type) ? type->child : type;
        for (; t; t = cJSON_IsArray(type) ? t->next : NULL) {
            uint32_t k = cJSON_IsString(t) ? kind_of_name(t->valuestring) : 0;
            if (!k) {
                slm_fail(err, SLM_E_FORMAT, "JSON schema 'type' must name JSON types");
                return -1;
            }
            kinds |= k;
        }
        if (!kinds) {
            slm_fail(err, SLM_E_FORMAT, "JSON schema 'type' list is empty");
            return -1;
        }
        if ((kinds & JK_INT) && (kinds & JK_NUM)) kinds &= ~(uint32_t)JK_INT;
    } else {
#define HAS(k) (cJSON_GetObjectItemCaseSensitive(j, k) != NULL)
        if (HAS("properties") || HAS("required") || HAS("additionalProperties")) kinds |= JK_OBJ;
        if (HAS("items") || HAS("minItems") || HAS("maxItems")) kinds |= JK_ARR;
        if (HAS("minLength") || HAS("maxLength")) kinds |= JK_STR;
#undef HAS
    }
    const cJSON *en = cJSON_GetObjectItemCaseSensitive(j, "enum");
    const cJSON *cn = cJSON_GetObjectItemCaseSensitive(j, "const");
    if (!kinds && !en && !cn) return s->any;

    int32_t self = node_add(s, err);
    if (self < 0) return -1;
    jc_node n = {0};
    n.kinds = kinds;
    n.items = s->any;
    if (en || cn) {
        if (en && (!cJSON_IsArray(en) || cJSON_GetArraySize(en) < 1)) {
            slm_fail(err, SLM_E_FORMAT, "JSON schema 'enum' must be a non-empty array");
            return -1;
        }
        if (en && cJSON_GetArraySize(en) > JC_MAX_LITS) {
            slm_fail(err, SLM_E_UNSUPPORTED, "JSON schema 'enum' with more than %d values", JC_MAX_LITS);
            return -1;
        }
        static const char *const other[] = {"properties", "required", "additionalProperties",
                                            "items",      "minItems", "maxItems",
                                            "minLength",  "maxLength"};
        for (size_t k = 0; k < sizeof other / sizeof other[0]; k++)
            if (cJSON_GetObjectItemCaseSensitive(j, other[k])) {
                slm_fail(err, SLM_E_UNSUPPORTED, "JSON schema enum/const combined with '%s' is not supported",
                         other[k]);
                return -1;
            }
        n.lit_first = s->n_lits;
        const cJSON *v = en ? en->child : cn;
        for (; v; v = en ? v->next : NULL) {
            uint32_t vk = kind_of_value(v);
            if (kinds && !(vk & kinds)) continue; /* a value the type forbids can never validate */
            if (cn && en && !cJSON_Compare(v, cn, true)) continue;
            if (lit_add_json(s, v, false, err) < 0) return -1;
            n.n_lits++;
        }
        if (n.n_lits == 0) {
            slm_fail(err, SLM_E_FORMAT, "JSON schema enum/const has no value of the allowed type");
            return -1;
        }
        s->nodes[self] = n;
        node_finish(s, self);
        return self;
    }
    if (!get_count(j, "minItems", 0, &n.min_items, err) || !get_count(j, "maxItems", 1 << 20, &n.max_items, err) ||
        !get_count(j, "minLength", 0, &n.min_chars, err) || !get_count(j, "maxLength", -1, &n.max_chars, err))
        return -1;
    if (n.max_chars < 0) n.max_chars = n.min_chars > JC_DEFAULT_MAX_CHARS ? n.min_chars : JC_DEFAULT_MAX_CHARS;
    if (n.min_items > n.max_items || n.min_chars > n.max_chars) {
        slm_fail(err, SLM_E_FORMAT, "JSON schema minimum above maximum (minItems/maxItems or minLength/maxLength)");
        return -1;
    }
    if (n.min_items > JC_MAX_MIN_ITEMS || n.min_chars > JC_MAX_MIN_CHARS) {
        slm_fail(err, SLM_E_UNSUPPORTED, "JSON schema minItems above %d or minLength above %d", JC_MAX_MIN_ITEMS,
                 JC_MAX_MIN_CHARS);
        return -1;
    }
    if (kinds & JK_ARR) {
        const cJSON *it = cJSON_GetObjectItemCaseSensitive(j, "items");
        if (it && cJSON_IsArray(it)) {
            slm_fail(err, SLM_E_UNSUPPORTED, "JSON schema 'items' as an array (tuple form) is not supported");
            return -1;
        }
        if (it) {
            int32_t k = compile_node(s, it, depth + 1, err);
            if (k < 0) return -1;
            n.items = k;
        }
    }
    s->nodes[self] = n;
    if (kinds & JK_OBJ) {
        if (compile_object_props(s, j, self, depth, err) != SLM_OK) return -1;
    }
    node_finish(s, self);
    return self;
}

slm_status jc_schema_compile(const char *text, size_t len, jc_schema *s, slm_error *err) {
    memset(s, 0, sizeof *s);
    slm_error dummy;
    if (!err) err = &dummy;
    /* fixed literals and the two built-in nodes */
    if (lit_add(s, "true", 4, err) < 0 || lit_add(s, "false", 5, err) < 0 || lit_add(s, "null", 4, err) < 0) goto fail;
    s->any = node_add(s, err);
    s->key_str = node_add(s, err);
    if (s->any < 0 || s->key_str < 0) goto fail;
    s->nodes[s->any] = (jc_node){.kinds = JK_OBJ | JK_ARR | JK_STR | JK_NUM | JK_BOOL | JK_NULL,
                                 .free_keys = true,
                                 .items = s->any,
                                 .max_items = 1 << 20,
                                 .max_chars = JC_DEFAULT_MAX_CHARS,
                                 .min_bytes = 1};
    s->nodes[s->key_str] = (jc_node){.kinds = JK_STR, .items = s->any, .max_chars = JC_KEY_MAX_CHARS, .min_bytes = 2};
    if (!text) {
        s->root = s->any;
        return SLM_OK;
    }
    if (len > JC_MAX_SCHEMA_BYTES) {
        slm_fail(err, SLM_E_UNSUPPORTED, "JSON schema of %zu bytes (limit %d)", len, JC_MAX_SCHEMA_BYTES);
        goto fail;
    }
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithLengthOpts(text, len, &end, false);
    while (j && end && end < text + len && strchr(" \t\r\n", *end) && *end)
        end++;
    if (j && end != text + len) {
        cJSON_Delete(j);
        j = NULL;
    }
    if (!j) {
        slm_fail(err, SLM_E_FORMAT, "JSON schema is not valid JSON");
        goto fail;
    }
    s->root = compile_node(s, j, 0, err);
    cJSON_Delete(j);
    if (s->root < 0) goto fail;
    if (s->nodes[s->root].min_bytes > JC_MAX_MIN_DOC) {
        slm_fail(err, SLM_E_UNSUPPORTED, "JSON schema's smallest valid document is over %d bytes", JC_MAX_MIN_DOC);
        goto fail;
    }
    return SLM_OK;
fail:
    jc_schema_free(s);
    return err->code ? err->code : SLM_E_NOMEM;
}

void jc_schema_free(jc_schema *s) {
    if (!s) return;
    free(s->nodes);
    free(s->props);
    free(s->lits);
    free(s->pool);
    memset(s, 0, sizeof *s);
}
