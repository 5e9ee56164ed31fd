/* Internal representation shared by the tokenizer source files (not a public header). */
#ifndef SLM_TOK_INTERNAL_H
#define SLM_TOK_INTERNAL_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "base/error.h"
#include "tokenizer/tokenizer.h"

/* Token kinds, numbered like GGUF tokenizer.ggml.token_type. */
enum {
    TOK_NORMAL = 1,
    TOK_UNKNOWN = 2,
    TOK_CONTROL = 3,
    TOK_USER = 4,   /* added token matched in text even without parse_special */
    TOK_UNUSED = 5,
    TOK_BYTE = 6,   /* <0xNN> byte-fallback token */
};

/* Added-token matching flags (HF lstrip/rstrip/single_word). */
enum { TOK_F_LSTRIP = 1, TOK_F_RSTRIP = 2, TOK_F_SINGLE_WORD = 4, TOK_F_ADDED = 8 };

typedef struct tok_entry {
    uint32_t text_off, text_len;   /* vocabulary form in tok->strs */
    uint32_t piece_off, piece_len; /* decoded bytes in tok->strs */
    float score;
    uint8_t type;
    uint8_t flags;
} tok_entry;

/* Merge algorithm of the model. */
typedef enum tok_algo {
    TOK_ALGO_BPE = 1, /* HF BPE: merge the adjacent pair with the lowest merge rank */
    TOK_ALGO_SPM = 2, /* llama.cpp SPM: merge the adjacent pair whose result has the best score */
} tok_algo;

/* Normalizer steps, applied in order to each text segment between added tokens. */
typedef enum tok_norm_kind { TN_NFC, TN_NFD, TN_NFKC, TN_NFKD, TN_REPLACE, TN_PREPEND, TN_LOWER } tok_norm_kind;
typedef struct tok_norm {
    tok_norm_kind kind;
    char *from, *to; /* REPLACE: literal from -> to; PREPEND: to */
    bool if_absent;  /* PREPEND only when the text does not already start with `to` (Metaspace) */
    bool first_only; /* PREPEND only to the segment at the start of the text (Metaspace "first") */
} tok_norm;

/* Pre-tokenizer steps: each splits every current piece further. */
typedef enum tok_split_kind { TS_ISOLATED, TS_MERGED_PREV, TS_MERGED_NEXT, TS_REMOVED } tok_split_kind;
typedef struct tok_pretok {
    pcre2_code *re;
    tok_split_kind behavior;
    bool invert;
} tok_pretok;

#define TOK_MAX_NORM 8
#define TOK_MAX_PRETOK 8
#define TOK_MAX_EOT 16

struct slm_tokenizer {
    tok_algo algo;
    int32_t n_vocab;
    tok_entry *tokens;
    char *strs; /* all token texts and pieces */
    size_t strs_len, strs_cap;

    /* text -> id, open addressing; slots hold id + 1, 0 = empty. */
    uint32_t *vhash;
    size_t vhash_mask;

    /* (left id, right id) -> rank and merged id; keys hold (left << 32 | right) + 1, 0 = empty. */
    uint64_t *mkeys;
    int32_t *mrank, *mnew;
    size_t mhash_mask;
    size_t n_merges;

    bool byte_level;      /* bytes are mapped to printable chars (GPT-2 bytes_to_unicode) */
    bool byte_fallback;   /* unknown chars become <0xNN> tokens */
    bool fuse_unk;        /* consecutive unknowns become one unk */
    bool ignore_merges;   /* a whole word found in the vocabulary is one token */
    bool spm_space_prefix;/* llama.cpp SPM: ' ' before each text fragment after BOS/special/start */
    bool spm_escape;      /* llama.cpp SPM: ' ' -> U+2581 */
    bool bl_prefix_space; /* ByteLevel add_prefix_space */
    bool strip_lead_space;/* decoder removes one leading space of the whole output */
    int32_t byte_ids[256];/* initial symbol of each byte (byte-level char or <0xNN>), -1 if none */
    char byte_chr[256][2];/* byte-level: UTF-8 of the printable char standing for each byte */
    uint8_t byte_chr_len[256];

    /* Words of '▁'-style vocabularies are long (often the whole text). They may be cut before a
     * U+2581 that follows a char no token ever puts before U+2581 (none of pre_space[]): no
     * token spans that point, so no merge crosses it and the result is identical. */
    bool space_split;
    uint32_t pre_space[16];
    int n_pre_space;

    int n_norm;
    tok_norm norm[TOK_MAX_NORM];
    int n_pretok;
    tok_pretok pretok[TOK_MAX_PRETOK];

    /* Added / special tokens as a byte trie for leftmost-longest matching. Node 0 is the root.
     * Children are a singly linked sibling list (first_child / next_sibling). */
    uint32_t *trie_first, *trie_next;
    uint8_t *trie_byte;
    int32_t *trie_id; /* token id ending at this node, or -1 */
    size_t trie_n, trie_cap;
    bool trie_start[256]; /* bytes that begin some added token: a fast reject */

    char pre_name[32];    /* GGUF tokenizer.ggml.pre of the pre-tokenizer, "" if it has none */
    bool space_prefix;    /* '▁'-style: a U+2581 is prepended to each text segment */
    bool pretok_space_split; /* the only pre-tokenizer step is a split on the literal " " */

    int32_t bos, eos, unk, pad;
    /* Post-processor for add_special: ids put before / after the encoded text. */
    int32_t pp_pre[4], pp_post[4];
    int n_pp_pre, n_pp_post;
    int32_t eot[TOK_MAX_EOT];
    size_t n_eot;
};

/* --- tok_vocab.c: construction helpers ---------------------------------------------------- */
slm_status tok_alloc(slm_tokenizer **out, int32_t n_vocab, slm_error *err);
/* Set token id's text (copied); the piece defaults to the text. */
slm_status tok_set_text(slm_tokenizer *tok, int32_t id, const char *text, size_t len, slm_error *err);
slm_status tok_set_piece(slm_tokenizer *tok, int32_t id, const char *piece, size_t len, slm_error *err);
/* Build the text -> id hash once every text is set. Duplicate texts keep the lowest id. */
slm_status tok_build_vhash(slm_tokenizer *tok, slm_error *err);
int32_t tok_lookup(const slm_tokenizer *tok, const char *text, size_t len);
/* Merge table: reserve for n entries, then add pairs by rank. */
slm_status tok_merges_reserve(slm_tokenizer *tok, size_t n, slm_error *err);
void tok_merge_add(slm_tokenizer *tok, int32_t left, int32_t right, int32_t rank, int32_t new_id);
bool tok_merge_find(const slm_tokenizer *tok, int32_t left, int32_t right, int32_t *rank, int32_t *new_id);
/* Add token id to the added-token trie (matched in text). */
slm_status tok_trie_add(slm_tokenizer *tok, int32_t id, slm_error *err);
/* Fill pieces of every token from texts: byte-level unmapping or '▁' -> ' ' and <0xNN>. */
slm_status tok_build_pieces(slm_tokenizer *tok, slm_error *err);
/* Byte-level map: byte -> code point and back (-1 if not a mapped char). */
uint32_t tok_byte_to_cp(uint8_t b);
int tok_cp_to_byte(uint32_t cp);
/* byte_ids[] from the vocabulary (byte-level chars or <0xNN>). */
void tok_build_byte_ids(slm_tokenizer *tok);
/* Decide space_split / pre_space[] from the vocabulary (non byte-level tokenizers). */
void tok_build_space_split(slm_tokenizer *tok);
/* Fill the end-of-turn list from eos and well-known names. */
void tok_collect_eot(slm_tokenizer *tok);
/* Encode one code point as UTF-8 into out (4 bytes room); returns its length. */
int tok_utf8_put(uint32_t cp, char *out);
/* Length of the valid UTF-8 sequence at s[0..n), or 0 if invalid / truncated. *cp gets the value. */
int tok_utf8_next(const uint8_t *s, size_t n, uint32_t *cp);

/* --- tok_pretok.c ------------------------------------------------------------------------- */
/* Compile an HF/Rust-flavoured regex for PCRE2 (\s widened to Unicode White_Space). */
slm_status tok_regex_compile(const char *pattern, size_t len, pcre2_code **out, slm_error *err);
slm_status tok_pretok_add_regex(slm_tokenizer *tok, const char *pattern, size_t len, tok_split_kind behavior,
                                bool invert, slm_error *err);
/* Pre-tokenizer regexes of a GGUF tokenizer.ggml.pre name; ignore_merges per llama.cpp rules. */
slm_status tok_pretok_from_gguf_name(slm_tokenizer *tok, const char *pre, size_t len, slm_error *err);

/* A piece of the working string: [off, off + len). */
typedef struct tok_span {
    size_t off, len;
} tok_span;
typedef struct tok_spans {
    tok_span *v;
    size_t n, cap;
} tok_spans;
/* Split text[0..len) by the pre-tokenizer steps into *out (reset first). */
slm_status tok_pretokenize(const slm_tokenizer *tok, const char *text, size_t len, tok_spans *out,
                           tok_spans *scratch, slm_error *err);

/* --- tok_bpe.c ---------------------------------------------------------------------------- */
/* Encode one pre-tokenized word with the model; appends ids. */
slm_status tok_encode_word(const slm_tokenizer *tok, const char *word, size_t len, slm_tokens *out, slm_error *err);

/* --- tok_encode.c -------------------------------------------------------------------------- */
/* Run the normalizer over one text segment; at_start: the segment begins the whole text. */
slm_status tok_normalize(const slm_tokenizer *tok, const char *text, size_t len, bool at_start, char **out,
                         size_t *out_len, slm_error *err);

#endif
