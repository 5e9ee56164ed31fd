/* An independent validator for the JSON Schema subset slm's constraint engine supports (type,
 * enum, const, anyOf/oneOf, minLength/maxLength in code points, items, minItems/maxItems,
 * properties, required, additionalProperties false). Written apart from src/sample/json_*.c so
 * the tests do not check the engine against itself. Header-only: used by
 * tests/test_json_constrain.c and fuzz/fuzz_json_schema.c. */
#ifndef SLM_TESTS_JSON_CONSTRAIN_VALIDATE_H
#define SLM_TESTS_JSON_CONSTRAIN_VALIDATE_H

#include <cjson/cJSON.h>
#include <math.h>
#include <stdbool.h>
#include <string.h>

static size_t utf8_chars(const char *s) {
    size_t n = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xC0) != 0x80) n++;
    return n;
}

static bool type_ok(const cJSON *v, const char *t) {
    if (!strcmp(t, "object")) return cJSON_IsObject(v);
    if (!strcmp(t, "array")) return cJSON_IsArray(v);
    if (!strcmp(t, "string")) return cJSON_IsString(v);
    if (!strcmp(t, "number")) return cJSON_IsNumber(v);
    if (!strcmp(t, "integer")) return cJSON_IsNumber(v) && v->valuedouble == floor(v->valuedouble);
    if (!strcmp(t, "boolean")) return cJSON_IsBool(v);
    if (!strcmp(t, "null")) return cJSON_IsNull(v);
    return false;
}

static bool validate(const cJSON *v, const cJSON *s) {
    if (cJSON_IsTrue(s)) return true;
    const cJSON *x;
    if ((x = cJSON_GetObjectItemCaseSensitive(s, "anyOf")) || (x = cJSON_GetObjectItemCaseSensitive(s, "oneOf"))) {
        int n = 0;
        const cJSON *b;
        cJSON_ArrayForEach(b, x) n += validate(v, b);
        if (cJSON_GetObjectItemCaseSensitive(s, "oneOf") ? n != 1 : n < 1) return false;
    }
    if ((x = cJSON_GetObjectItemCaseSensitive(s, "type"))) {
        bool ok = false;
        if (cJSON_IsString(x)) ok = type_ok(v, x->valuestring);
        const cJSON *t;
        if (cJSON_IsArray(x)) cJSON_ArrayForEach(t, x) ok |= type_ok(v, t->valuestring);
        if (!ok) return false;
    }
    if ((x = cJSON_GetObjectItemCaseSensitive(s, "enum"))) {
        bool ok = false;
        const cJSON *e;
        cJSON_ArrayForEach(e, x) ok |= cJSON_Compare(v, e, true);
        if (!ok) return false;
    }
    if ((x = cJSON_GetObjectItemCaseSensitive(s, "const")) && !cJSON_Compare(v, x, true)) return false;
    if (cJSON_IsString(v)) {
        size_t n = utf8_chars(v->valuestring);
        if ((x = cJSON_GetObjectItemCaseSensitive(s, "minLength")) && (double)n < x->valuedouble) return false;
        if ((x = cJSON_GetObjectItemCaseSensitive(s, "maxLength")) && (double)n > x->valuedouble) return false;
    }
    if (cJSON_IsArray(v)) {
        int n = cJSON_GetArraySize(v);
        if ((x = cJSON_GetObjectItemCaseSensitive(s, "minItems")) && (double)n < x->valuedouble) return false;
        if ((x = cJSON_GetObjectItemCaseSensitive(s, "maxItems")) && (double)n > x->valuedouble) return false;
        const cJSON *it = cJSON_GetObjectItemCaseSensitive(s, "items"), *e;
        if (it) cJSON_ArrayForEach(e, v) if (!validate(e, it)) return false;
    }
    if (cJSON_IsObject(v)) {
        const cJSON *props = cJSON_GetObjectItemCaseSensitive(s, "properties"), *e;
        const cJSON *addl = cJSON_GetObjectItemCaseSensitive(s, "additionalProperties");
        cJSON_ArrayForEach(e, v) {
            const cJSON *ps = props ? cJSON_GetObjectItemCaseSensitive(props, e->string) : NULL;
            if (ps ? !validate(e, ps) : cJSON_IsFalse(addl)) return false;
        }
        const cJSON *req = cJSON_GetObjectItemCaseSensitive(s, "required");
        if (req) cJSON_ArrayForEach(e, req) if (!cJSON_GetObjectItemCaseSensitive(v, e->valuestring)) return false;
    }
    return true;
}

#endif
