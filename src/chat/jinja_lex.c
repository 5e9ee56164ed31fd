/* Jinja lexer: template text -> tokens, applying the whitespace rules while splitting.
 *
 * Rules (jinja2 with trim_blocks=True, lstrip_blocks=True):
 *   `{%-` / `{{-` / `{#-`  strip all whitespace (newlines included) before the tag;
 *   `-%}` / `-}}` / `-#}`  strip all whitespace after it;
 *   lstrip_blocks: spaces/tabs between the start of a line and a `{%` or `{#` tag are dropped
 *                  (not before `{{`; `{%+` opts out);
 *   trim_blocks:   the first newline right after a `%}` or `#}` is dropped (`+%}` opts out).
 * Inside a tag, `}}` / `%}` only end it when no bracket is open (so `{{ {'a': {}} }}` works).
 */
#include <stdio.h>
#include <string.h>

#include "chat/jinja_internal.h"

typedef struct lexer {
    jarena *a;
    jctx_err *e;
    const char *src;
    size_t len, pos;
    int line;
    jtok *toks;
    size_t n, cap;
} lexer;

static void emit(lexer *L, jtok t) {
    if (L->n == L->cap) {
        size_t cap = L->cap ? L->cap * 2 : 256;
        jtok *nt = jarena_alloc(L->a, L->e, L->line, cap * sizeof(jtok));
        if (L->n) memcpy(nt, L->toks, L->n * sizeof(jtok));
        L->toks = nt;
        L->cap = cap;
    }
    L->toks[L->n++] = t;
}

static char *dup_n(lexer *L, const char *s, size_t n) {
    char *p = jarena_alloc(L->a, L->e, L->line, n + 1);
    if (n) memcpy(p, s, n);
    p[n] = 0;
    return p;
}

static void emit_text(lexer *L, size_t from, size_t to, int line) {
    if (to <= from) return;
    jtok t = {0};
    t.type = T_TEXT;
    t.line = line;
    t.s = dup_n(L, L->src + from, to - from);
    t.len = to - from;
    emit(L, t);
}

static bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }
static bool is_name_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
static bool is_digit(char c) { return c >= '0' && c <= '9'; }

static bool starts(const lexer *L, size_t at, const char *s) {
    size_t n = strlen(s);
    return at + n <= L->len && !memcmp(L->src + at, s, n);
}

static void count_lines(lexer *L, size_t from, size_t to) {
    for (size_t i = from; i < to; i++)
        if (L->src[i] == '\n') L->line++;
}

/* After a tag that ended at L->pos: `-` strips all whitespace, otherwise trim_blocks eats one
 * newline (block and comment tags only). */
static void after_tag(lexer *L, char sign, bool is_block) {
    if (sign == '-') {
        size_t p = L->pos;
        while (p < L->len && is_space(L->src[p])) p++;
        count_lines(L, L->pos, p);
        L->pos = p;
    } else if (sign != '+' && is_block && L->pos < L->len && L->src[L->pos] == '\n') {
        L->pos++;
        L->line++;
    }
}

/* Decode a Python-style string literal body src[from, to) (escapes included). */
static void lex_string(lexer *L, char quote) {
    int line0 = L->line;
    size_t p = L->pos + 1;
    /* find the closing quote first: the decoded text is never longer than the literal */
    size_t end = p;
    while (end < L->len && L->src[end] != quote) end += L->src[end] == '\\' ? 2 : 1;
    if (end > L->len) end = L->len;
    char *out = jarena_alloc(L->a, L->e, L->line, end - p + 1);
    size_t o = 0;
    for (;;) {
        if (p >= L->len) jinja_throw(L->e, line0, SLM_E_FORMAT, "syntax error: unterminated string");
        char c = L->src[p];
        if (c == quote) break;
        if (c == '\n') L->line++;
        if (c != '\\' || p + 1 >= L->len) {
            out[o++] = c;
            p++;
            continue;
        }
        char n = L->src[p + 1];
        p += 2;
        switch (n) {
        case 'n': out[o++] = '\n'; break;
        case 't': out[o++] = '\t'; break;
        case 'r': out[o++] = '\r'; break;
        case '0': out[o++] = '\0'; break;
        case 'a': out[o++] = '\a'; break;
        case 'b': out[o++] = '\b'; break;
        case 'f': out[o++] = '\f'; break;
        case 'v': out[o++] = '\v'; break;
        case '\\': out[o++] = '\\'; break;
        case '\'': out[o++] = '\''; break;
        case '"': out[o++] = '"'; break;
        case '\n': L->line++; break; /* line continuation */
        case 'x': case 'u': case 'U': {
            int nd = n == 'x' ? 2 : n == 'u' ? 4 : 8;
            unsigned long cp = 0;
            for (int i = 0; i < nd; i++) {
                char h = p + (size_t)i < L->len ? L->src[p + (size_t)i] : 0;
                int d = is_digit(h) ? h - '0' : (h >= 'a' && h <= 'f') ? h - 'a' + 10 : (h >= 'A' && h <= 'F') ? h - 'A' + 10 : -1;
                if (d < 0) jinja_throw(L->e, L->line, SLM_E_FORMAT, "syntax error: bad \\%c escape in string", n);
                cp = cp * 16 + (unsigned long)d;
            }
            p += (size_t)nd;
            if (cp > 0x10FFFF) jinja_throw(L->e, L->line, SLM_E_FORMAT, "syntax error: bad \\%c escape in string", n);
            /* UTF-8 encode; the output never grows past the escape's own length */
            if (cp < 0x80) out[o++] = (char)cp;
            else if (cp < 0x800) { out[o++] = (char)(0xC0 | (cp >> 6)); out[o++] = (char)(0x80 | (cp & 0x3F)); }
            else if (cp < 0x10000) {
                out[o++] = (char)(0xE0 | (cp >> 12)); out[o++] = (char)(0x80 | ((cp >> 6) & 0x3F));
                out[o++] = (char)(0x80 | (cp & 0x3F));
            } else {
                out[o++] = (char)(0xF0 | (cp >> 18)); out[o++] = (char)(0x80 | ((cp >> 12) & 0x3F));
                out[o++] = (char)(0x80 | ((cp >> 6) & 0x3F)); out[o++] = (char)(0x80 | (cp & 0x3F));
            }
            break;
        }
        default: out[o++] = '\\'; out[o++] = n; break; /* Python keeps unknown escapes */
        }
    }
    out[o] = 0;
    jtok t = {0};
    t.type = T_STRING;
    t.line = line0;
    t.s = out;
    t.len = o;
    emit(L, t);
    L->pos = p + 1;
}

static void lex_number(lexer *L) {
    size_t p = L->pos;
    bool is_float = false;
    while (p < L->len && (is_digit(L->src[p]) || L->src[p] == '_')) p++;
    if (p + 1 < L->len && L->src[p] == '.' && is_digit(L->src[p + 1])) {
        is_float = true;
        p++;
        while (p < L->len && (is_digit(L->src[p]) || L->src[p] == '_')) p++;
    }
    if (p < L->len && (L->src[p] == 'e' || L->src[p] == 'E')) {
        size_t q = p + 1;
        if (q < L->len && (L->src[q] == '+' || L->src[q] == '-')) q++;
        if (q < L->len && is_digit(L->src[q])) {
            is_float = true;
            p = q;
            while (p < L->len && is_digit(L->src[p])) p++;
        }
    }
    char buf[64];
    size_t o = 0;
    for (size_t i = L->pos; i < p && o < sizeof buf - 1; i++)
        if (L->src[i] != '_') buf[o++] = L->src[i];
    buf[o] = 0;
    jtok t = {0};
    t.line = L->line;
    if (is_float) {
        t.type = T_FLOAT;
        sscanf(buf, "%lf", &t.f);
    } else {
        t.type = T_INT;
        int64_t v = 0;
        for (size_t i = 0; i < o; i++) {
            if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, buf[i] - '0', &v))
                jinja_throw(L->e, L->line, SLM_E_FORMAT, "syntax error: integer literal too large");
        }
        t.i = v;
    }
    emit(L, t);
    L->pos = p;
}

static const char *const k_ops2[] = {"//", "**", "==", "!=", ">=", "<="};
static const char k_ops1[] = "+-*/%~<>=()[]{},.:|";

/* Lex the inside of a {{ }} or {% %} tag up to and including its end marker. */
static void lex_tag(lexer *L, bool is_block, int tag_line) {
    int depth = 0; /* open brackets */
    for (;;) {
        while (L->pos < L->len && is_space(L->src[L->pos])) {
            if (L->src[L->pos] == '\n') L->line++;
            L->pos++;
        }
        if (L->pos >= L->len)
            jinja_throw(L->e, tag_line, SLM_E_FORMAT, "syntax error: unterminated '%s' tag", is_block ? "{%" : "{{");
        if (depth == 0) {
            const char *end = is_block ? "%}" : "}}";
            char sign = 0;
            size_t at = L->pos;
            if ((L->src[at] == '-' || L->src[at] == '+') && starts(L, at + 1, end)) sign = L->src[at++];
            if (starts(L, at, end)) {
                jtok t = {0};
                t.type = is_block ? T_BLOCK_END : T_VAR_END;
                t.line = L->line;
                emit(L, t);
                L->pos = at + 2;
                after_tag(L, sign, is_block);
                return;
            }
        }
        char c = L->src[L->pos];
        if (c == '\'' || c == '"') { lex_string(L, c); continue; }
        if (is_digit(c)) { lex_number(L); continue; }
        if (is_name_start(c)) {
            size_t p = L->pos;
            while (p < L->len && (is_name_start(L->src[p]) || is_digit(L->src[p]))) p++;
            jtok t = {0};
            t.type = T_NAME;
            t.line = L->line;
            t.s = dup_n(L, L->src + L->pos, p - L->pos);
            t.len = p - L->pos;
            emit(L, t);
            L->pos = p;
            continue;
        }
        size_t oplen = 0;
        for (size_t i = 0; i < sizeof k_ops2 / sizeof k_ops2[0]; i++)
            if (starts(L, L->pos, k_ops2[i])) { oplen = 2; break; }
        if (!oplen && strchr(k_ops1, c) && c) oplen = 1;
        if (!oplen) jinja_throw(L->e, L->line, SLM_E_FORMAT, "syntax error: unexpected character '%c'", c);
        if (c == '(' || c == '[' || c == '{') depth++;
        if ((c == ')' || c == ']' || c == '}') && depth > 0) depth--;
        jtok t = {0};
        t.type = T_OP;
        t.line = L->line;
        t.s = dup_n(L, L->src + L->pos, oplen);
        t.len = oplen;
        emit(L, t);
        L->pos += oplen;
    }
}

/* `{% raw %}...{% endraw %}`: L->pos is just after "{%" (and its sign). Returns false if the tag
 * is not `raw`, leaving L untouched. */
static bool lex_raw(lexer *L) {
    size_t p = L->pos;
    while (p < L->len && is_space(L->src[p])) p++;
    if (!starts(L, p, "raw")) return false;
    p += 3;
    while (p < L->len && is_space(L->src[p])) p++;
    char sign = 0;
    if (p < L->len && (L->src[p] == '-' || L->src[p] == '+')) sign = L->src[p++];
    if (!starts(L, p, "%}")) return false;
    int line0 = L->line;
    count_lines(L, L->pos, p + 2);
    L->pos = p + 2;
    after_tag(L, sign, true);
    for (size_t q = L->pos; q + 1 < L->len; q++) {
        if (L->src[q] != '{' || L->src[q + 1] != '%') continue;
        size_t r = q + 2;
        char open_sign = 0;
        if (r < L->len && (L->src[r] == '-' || L->src[r] == '+')) open_sign = L->src[r++];
        while (r < L->len && is_space(L->src[r])) r++;
        if (!starts(L, r, "endraw")) continue;
        r += 6;
        while (r < L->len && is_space(L->src[r])) r++;
        char end_sign = 0;
        if (r < L->len && (L->src[r] == '-' || L->src[r] == '+')) end_sign = L->src[r++];
        if (!starts(L, r, "%}")) continue;
        size_t text_end = q;
        if (open_sign == '-')
            while (text_end > L->pos && is_space(L->src[text_end - 1])) text_end--;
        emit_text(L, L->pos, text_end, L->line);
        count_lines(L, L->pos, r + 2);
        L->pos = r + 2;
        after_tag(L, end_sign, true);
        return true;
    }
    jinja_throw(L->e, line0, SLM_E_FORMAT, "syntax error: unterminated raw block (missing endraw)");
}

void jinja_lex(jarena *a, jctx_err *e, const char *src, size_t len, jtok **toks, size_t *n_toks) {
    lexer L = {.a = a, .e = e, .src = src, .len = len, .pos = 0, .line = 1};
    while (L.pos < L.len) {
        size_t t = L.pos;
        while (t + 1 < L.len && !(src[t] == '{' && (src[t + 1] == '{' || src[t + 1] == '%' || src[t + 1] == '#'))) t++;
        if (t + 1 >= L.len) { /* no more tags */
            emit_text(&L, L.pos, L.len, L.line);
            count_lines(&L, L.pos, L.len);
            L.pos = L.len;
            break;
        }
        char kind = src[t + 1];
        char sign = t + 2 < L.len ? src[t + 2] : 0;
        size_t text_end = t;
        if (sign == '-') {
            while (text_end > L.pos && is_space(src[text_end - 1])) text_end--;
        } else if (sign != '+' && kind != '{') {
            size_t l = text_end;
            while (l > L.pos && src[l - 1] != '\n') l--;
            bool line_start = l > L.pos || L.pos == 0 || src[L.pos - 1] == '\n';
            bool blank = true;
            for (size_t i = l; i < text_end; i++)
                if (src[i] != ' ' && src[i] != '\t') { blank = false; break; }
            if (line_start && blank) text_end = l;
        }
        emit_text(&L, L.pos, text_end, L.line);
        count_lines(&L, L.pos, t);
        int tag_line = L.line;
        L.pos = t + 2 + (sign == '-' || sign == '+');
        if (kind == '#') {
            size_t q = L.pos;
            while (q + 1 < L.len && !(src[q] == '#' && src[q + 1] == '}')) q++;
            if (q + 1 >= L.len) jinja_throw(e, tag_line, SLM_E_FORMAT, "syntax error: unterminated comment");
            char esign = (q > L.pos && (src[q - 1] == '-' || src[q - 1] == '+')) ? src[q - 1] : 0;
            count_lines(&L, L.pos, q + 2);
            L.pos = q + 2;
            after_tag(&L, esign, true);
            continue;
        }
        if (kind == '%' && lex_raw(&L)) continue;
        jtok bt = {0};
        bt.type = kind == '%' ? T_BLOCK_BEGIN : T_VAR_BEGIN;
        bt.line = tag_line;
        emit(&L, bt);
        lex_tag(&L, kind == '%', tag_line);
    }
    jtok eof = {0};
    eof.type = T_EOF;
    eof.line = L.line;
    emit(&L, eof);
    *toks = L.toks;
    *n_toks = L.n;
}
