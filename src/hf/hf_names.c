/* HF tensor names -> the GGUF names llama.cpp's convert_hf_to_gguf.py writes, so that one loader
 * binds weights from either source. Per layer N: model.layers.N.<module>.<weight|bias> ->
 * blk.N.<gguf module>.<weight|bias>. */
#include <stdio.h>
#include <string.h>

#include "hf/hf_folder.h"

typedef struct name_rule {
    const char *hf;   /* module path inside a layer, without .weight/.bias */
    const char *gguf;
    int gemma3;       /* -1: any arch; 1: gemma3 only; 0: all but gemma3 */
} name_rule;

static const name_rule layer_rules[] = {
    {"input_layernorm", "attn_norm", -1},
    {"self_attn.q_proj", "attn_q", -1},
    {"self_attn.k_proj", "attn_k", -1},
    {"self_attn.v_proj", "attn_v", -1},
    {"self_attn.o_proj", "attn_output", -1},
    {"self_attn.qkv_proj", "attn_qkv", -1},   /* phi3: rows [q; k; v] */
    {"self_attn.q_norm", "attn_q_norm", -1},  /* qwen3, gemma3 */
    {"self_attn.k_norm", "attn_k_norm", -1},
    /* Gemma 3 sandwich norms: its post_attention_layernorm is applied to the attention output,
     * while in the other families it is the pre-MLP norm. */
    {"post_attention_layernorm", "post_attention_norm", 1},
    {"post_attention_layernorm", "ffn_norm", 0},
    {"pre_feedforward_layernorm", "ffn_norm", -1},
    {"post_feedforward_layernorm", "post_ffw_norm", -1},
    {"mlp.gate_proj", "ffn_gate", -1},
    {"mlp.up_proj", "ffn_up", -1},
    {"mlp.down_proj", "ffn_down", -1},
    {"mlp.gate_up_proj", "ffn_up", -1}, /* phi3: rows [gate; up], named as llama.cpp's phi3 does */
};

/* Strip the model prefix: "model." for causal LMs; Gemma 3 multimodal checkpoints nest the text
 * model as "language_model.model." (transformers 4.x) or "model.language_model." (5.x). */
static const char *strip_prefix(const char *n, int *is_lm_head) {
    static const char *const heads[] = {"lm_head.weight", "language_model.lm_head.weight"};
    static const char *const prefixes[] = {"model.language_model.", "language_model.model.", "model."};
    *is_lm_head = 0;
    for (size_t i = 0; i < sizeof heads / sizeof heads[0]; i++)
        if (!strcmp(n, heads[i])) {
            *is_lm_head = 1;
            return n;
        }
    for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++) {
        size_t l = strlen(prefixes[i]);
        if (!strncmp(n, prefixes[i], l)) return n + l;
    }
    return NULL;
}

static int put(char *buf, size_t cap, const char *s) {
    int w = snprintf(buf, cap, "%s", s);
    return w > 0 && (size_t)w < cap;
}

int hf_map_tensor_name(slm_arch arch, const char *hf_name, char *buf, size_t cap) {
    int lm_head;
    const char *r = strip_prefix(hf_name, &lm_head);
    if (lm_head) return put(buf, cap, "output.weight");
    if (!r) return 0;
    if (!strcmp(r, "embed_tokens.weight")) return put(buf, cap, "token_embd.weight");
    if (!strcmp(r, "norm.weight")) return put(buf, cap, "output_norm.weight");
    if (strncmp(r, "layers.", 7)) return 0;
    r += 7;
    /* Layer number: decimal, no sign, no leading zeros, bounded. */
    long layer = 0;
    const char *p = r;
    while (*p >= '0' && *p <= '9' && p - r < 6) layer = layer * 10 + (*p++ - '0');
    if (p == r || *p != '.' || (p - r > 1 && *r == '0')) return 0;
    const char *mod = p + 1;
    const char *suffix = NULL;
    size_t mlen = strlen(mod);
    if (mlen > 7 && !strcmp(mod + mlen - 7, ".weight")) suffix = "weight", mlen -= 7;
    else if (mlen > 5 && !strcmp(mod + mlen - 5, ".bias")) suffix = "bias", mlen -= 5;
    if (!suffix) return 0;
    int is_gemma3 = arch == SLM_ARCH_GEMMA3;
    for (size_t i = 0; i < sizeof layer_rules / sizeof layer_rules[0]; i++) {
        const name_rule *rule = &layer_rules[i];
        if (rule->gemma3 >= 0 && rule->gemma3 != is_gemma3) continue;
        if (strlen(rule->hf) == mlen && !strncmp(mod, rule->hf, mlen)) {
            int w = snprintf(buf, cap, "blk.%ld.%s.%s", layer, rule->gguf, suffix);
            return w > 0 && (size_t)w < cap;
        }
    }
    return 0;
}
