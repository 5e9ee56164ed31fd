/* Pre-tokenization: split a normalized text segment into words with PCRE2 regexes (the HF
 * `Split` pre-tokenizer, the ByteLevel GPT-2 regex, and the per-family regex lists llama.cpp uses
 * for GGUF `tokenizer.ggml.pre` names). */
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tok_internal.h"

/* HF runs its regexes on Oniguruma (Rust `onig`), where \s is tab..CR, U+0085 and the Z
 * categories. PCRE2's UCP \s lacks U+0085 (NEL), so every \s gets \x{85} added. */
slm_status tok_regex_compile(const char *pat, size_t len, pcre2_code **out, slm_error *err) {
    size_t cap = len * 4 + 16;
    char *p = malloc(cap);
    if (!p) return slm_fail(err, SLM_E_NOMEM, "regex: out of memory");
    size_t o = 0;
    int in_class = 0;
    for (size_t i = 0; i < len; i++) {
        char c = pat[i];
        if (c == '\\' && i + 1 < len) {
            char d = pat[i + 1];
            if (d == 's') {
                const char *r = in_class ? "\\s\\x{85}" : "[\\s\\x{85}]";
                memcpy(p + o, r, strlen(r));
                o += strlen(r);
            } else if (d == 'S' && !in_class) {
                memcpy(p + o, "[^\\s\\x{85}]", 11);
                o += 11;
            } else {
                p[o++] = c;
                p[o++] = d;
            }
            i++;
            continue;
        }
        if (c == '[' && !in_class) {
            in_class = 1;
            p[o++] = c;
            /* A ']' or '^]' right after '[' is a literal. */
            if (i + 1 < len && pat[i + 1] == '^') p[o++] = pat[++i];
            if (i + 1 < len && pat[i + 1] == ']') p[o++] = pat[++i];
            continue;
        }
        if (c == ']' && in_class) in_class = 0;
        p[o++] = c;
    }
    int ecode;
    PCRE2_SIZE eoff;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)p, o, PCRE2_UTF | PCRE2_UCP, &ecode, &eoff, NULL); /* validates the pattern's UTF-8 */
    free(p);
    if (!re) {
        PCRE2_UCHAR msg[160];
        pcre2_get_error_message(ecode, msg, sizeof msg);
        return slm_fail(err, SLM_E_UNSUPPORTED, "pre-tokenizer regex does not compile (%s at offset %zu)", (char *)msg,
                        (size_t)eoff);
    }
    pcre2_jit_compile(re, PCRE2_JIT_COMPLETE); /* best effort: the interpreter is the fallback */
    *out = re;
    return SLM_OK;
}

slm_status tok_pretok_add_regex(slm_tokenizer *t, const char *pattern, size_t len, tok_split_kind behavior,
                                bool invert, slm_error *err) {
    if (t->n_pretok >= TOK_MAX_PRETOK) return slm_fail(err, SLM_E_UNSUPPORTED, "more than %d pre-tokenizer steps", TOK_MAX_PRETOK);
    pcre2_code *re;
    slm_status st = tok_regex_compile(pattern, len, &re, err);
    if (st) return st;
    t->pretok[t->n_pretok++] = (tok_pretok){re, behavior, invert};
    return SLM_OK;
}

/* --- GGUF tokenizer.ggml.pre -------------------------------------------------------------- */

#define RX_GPT2 "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"
#define RX_LLAMA3                                                                                         \
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| " \
    "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define RX_QWEN2                                                                                          \
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| "      \
    "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"

typedef struct pre_family {
    const char *names; /* '|'-separated tokenizer.ggml.pre values */
    bool ignore_merges;
    const char *rx[6];
} pre_family;

/* Regex lists as llama.cpp applies them (each regex splits the pieces of the previous one).
 * "smaug-bpe" uses the Llama 3 pre-tokenizer; its ignore_merges is set like llama3's because
 * llama.cpp's converter labels Llama 3 tokenizers without a BOS post-processor "smaug-bpe" and
 * HF tokenizes those with ignore_merges. */
static const pre_family k_families[] = {
    {"llama3|llama-v3|llama-bpe|falcon3|smaug-bpe|dbrx|pixtral", true, {RX_LLAMA3}},
    {"qwen2|deepseek-r1-qwen|stablelm2|megrez", false, {RX_QWEN2}},
    {"gpt-2|default|mpt|olmo|jais|phi-2|jina-es|jina-de|gigachat|jina-v1-en|jina-v2-es|jina-v2-de|jina-v2-code|"
     "roberta-bpe|gpt-neox|trillion",
     false, {RX_GPT2}},
    {"starcoder|refact|command-r|smollm|codeshell|exaone|minerva-7b", false, {"\\p{N}", RX_GPT2}},
    {"falcon", false, {"[\\p{P}\\$\\+<=>\\^~\\|`]+", RX_GPT2, "[0-9][0-9][0-9]"}},
    {"deepseek-coder", false, {"[\\r\\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", "[\\x{4E00}-\\x{9FA5}\\x{0800}-\\x{4E00}\\x{AC00}-\\x{D7FF}]+", "\\p{N}"}},
    /* Not covered by a reference test here (no fixture vocabulary): transcribed from llama.cpp. */
    {"deepseek-llm", false,
     {"[\\r\\n]",
      "\\s?[A-Za-z\u00b5\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u01ba\u01bc-\u01bf\u01c4-\u0293\u0295-\u02af\u0370-\u0373"
      "\u0376\u0377\u037b-\u037d\u037f\u0386\u0388-\u038a\u038c\u038e-\u03a1\u03a3-\u03f5\u03f7-\u0481"
      "\u048a-\u052f\u0531-\u0556\u10a0-\u10c5\u13a0-\u13f5\u13f8-\u13fd\u1c90-\u1cba\u1cbd-\u1cbf"
      "\u1d00-\u1d2b\u1d6b-\u1d77\u1d79-\u1d9a\u1e00-\u1f15\u1f18-\u1f1d\u1f20-\u1f45\u1f48-\u1f4d"
      "\u1f50-\u1f57\u1f59\u1f5b\u1f5d\u1f5f-\u1f7d\u1f80-\u1fb4\u1fb6-\u1fbc\u1fbe\u1fc2-\u1fc4"
      "\u1fc6-\u1fcc\u1fd0-\u1fd3\u1fd6-\u1fdb\u1fe0-\u1fec\u1ff2-\u1ff4\u1ff6-\u1ffc\u2102\u2107"
      "\u210a-\u2113\u2115\u2119-\u211d\u2124\u2126\u2128\u212a-\u212d\u212f-\u2134\u2139\u213c-\u213f"
      "\u2145-\u2149\u214e\u2183\u2184\u2c00-\u2c7b\u2c7e-\u2ce4\u2ceb-\u2cee\u2cf2\u2cf3\ua640-\ua66d"
      "\ua680-\ua69b\ua722-\ua76f\ua771-\ua787\ua78b-\ua78e\uab70-\uabbf\ufb00-\ufb06\ufb13-\ufb17"
      "\uff21-\uff3a\uff41-\uff5a\U00010400-\U0001044f\U000104b0-\U000104d3\U000104d8-\U000104fb"
      "\U00010c80-\U00010cb2\U00010cc0-\U00010cf2\U000118a0-\U000118df\U0001e900-\U0001e943]+",
      "\\s?[!-/:-~\uff01-\uff0f\uff1a-\uff5e\u2018-\u201f\u3000-\u3002]+",
      "\\s+\\z", /* std::regex '$' (end of the piece only) */
      "[\u4e00-\u9fa5\u0800-\u4e00\uac00-\ud7ff]+", "\\p{N}+"}},
    {"deepseek-v3", false,
     {"\\p{N}{1,3}", "[\u4e00-\u9fa5\u3040-\u309f\u30a0-\u30ff]+",
      "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\\r\\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| "
      "?[\\p{P}\\p{S}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"}},
    {"bloom|poro-chat|gpt3-finnish", false, {" ?[^(\\s|.,!?\\x{2026}\\x{3002}\\x{FF0C}\\x{3001}\\x{0964}\\x{06D4}\\x{060C})]+"}},
};

static bool name_in_list(const char *list, const char *name, size_t len) {
    const char *p = list;
    while (*p) {
        const char *e = strchr(p, '|');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n == len && !memcmp(p, name, len)) return true;
        if (!e) break;
        p = e + 1;
    }
    return false;
}

slm_status tok_pretok_from_gguf_name(slm_tokenizer *t, const char *pre, size_t len, slm_error *err) {
    for (size_t f = 0; f < sizeof k_families / sizeof k_families[0]; f++) {
        if (!name_in_list(k_families[f].names, pre, len)) continue;
        t->ignore_merges = k_families[f].ignore_merges;
        for (int i = 0; i < 6 && k_families[f].rx[i]; i++) {
            slm_status st = tok_pretok_add_regex(t, k_families[f].rx[i], strlen(k_families[f].rx[i]), TS_ISOLATED,
                                                 false, err);
            if (st) return st;
        }
        return SLM_OK;
    }
    return slm_fail(err, SLM_E_UNSUPPORTED, "unknown tokenizer.ggml.pre \"%.*s\"", (int)(len > 64 ? 64 : len), pre);
}

/* --- Splitting ---------------------------------------------------------------------------- */

static slm_status spans_push(tok_spans *s, size_t off, size_t len, slm_error *err) {
    if (len == 0) return SLM_OK;
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        tok_span *v = realloc(s->v, cap * sizeof *v);
        if (!v) return slm_fail(err, SLM_E_NOMEM, "pre-tokenizer: out of memory");
        s->v = v;
        s->cap = cap;
    }
    s->v[s->n++] = (tok_span){off, len};
    return SLM_OK;
}

/* Split one piece [off, off+len) of text by step p, appending the resulting pieces to out. */
static slm_status split_piece(const tok_pretok *p, const char *text, size_t off, size_t len, pcre2_match_data *md,
                              tok_spans *out, slm_error *err) {
    size_t pos = off, end = off + len;
    size_t pending_off = off; /* start of the piece being built (MERGED_* glue) */
    slm_status st = SLM_OK;
    while (pos < end) {
        int rc = pcre2_match(p->re, (PCRE2_SPTR)text, end, pos, PCRE2_NO_UTF_CHECK, md, NULL);
        if (rc == PCRE2_ERROR_NOMATCH) break;
        if (rc < 0) return slm_fail(err, SLM_E_RANGE, "pre-tokenizer regex failed (pcre2 error %d)", rc);
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        size_t ms = ov[0], me = ov[1];
        if (me <= ms) {
            /* Empty match: not a split point; step over one UTF-8 char. */
            pos = ms + 1;
            while (pos < end && ((uint8_t)text[pos] & 0xC0) == 0x80) pos++;
            continue;
        }
        /* gap = [pending_off, ms), match = [ms, me) */
        bool m_is_sep = !p->invert; /* with invert the gaps play the role of the matches */
        if (m_is_sep) {
            switch (p->behavior) {
            case TS_ISOLATED:
                if ((st = spans_push(out, pending_off, ms - pending_off, err))) return st;
                if ((st = spans_push(out, ms, me - ms, err))) return st;
                pending_off = me;
                break;
            case TS_REMOVED:
                if ((st = spans_push(out, pending_off, ms - pending_off, err))) return st;
                pending_off = me;
                break;
            case TS_MERGED_PREV:
                if ((st = spans_push(out, pending_off, me - pending_off, err))) return st;
                pending_off = me;
                break;
            case TS_MERGED_NEXT:
                if ((st = spans_push(out, pending_off, ms - pending_off, err))) return st;
                pending_off = ms;
                break;
            }
        } else {
            /* Inverted: the gap [pending_off, ms) is the separator, the match is content. */
            switch (p->behavior) {
            case TS_ISOLATED:
                if ((st = spans_push(out, pending_off, ms - pending_off, err))) return st;
                if ((st = spans_push(out, ms, me - ms, err))) return st;
                pending_off = me;
                break;
            case TS_REMOVED:
                if ((st = spans_push(out, ms, me - ms, err))) return st;
                pending_off = me;
                break;
            case TS_MERGED_PREV: /* gap joins the previous content piece: emit at next match */
            case TS_MERGED_NEXT:
                if ((st = spans_push(out, pending_off, me - pending_off, err))) return st;
                pending_off = me;
                break;
            }
        }
        pos = me;
    }
    if (p->invert && p->behavior == TS_REMOVED) return SLM_OK; /* trailing gap is a separator */
    return spans_push(out, pending_off, end - pending_off, err);
}

slm_status tok_pretokenize(const slm_tokenizer *t, const char *text, size_t len, tok_spans *out, tok_spans *scratch,
                           slm_error *err) {
    out->n = 0;
    slm_status st = spans_push(out, 0, len, err);
    if (st || t->n_pretok == 0) return st;
    pcre2_match_data *md = pcre2_match_data_create(1, NULL);
    if (!md) return slm_fail(err, SLM_E_NOMEM, "pre-tokenizer: out of memory");
    for (int k = 0; k < t->n_pretok && !st; k++) {
        scratch->n = 0;
        for (size_t i = 0; i < out->n && !st; i++)
            st = split_piece(&t->pretok[k], text, out->v[i].off, out->v[i].len, md, scratch, err);
        tok_spans tmp = *out;
        *out = *scratch;
        *scratch = tmp;
    }
    pcre2_match_data_free(md);
    return st;
}
