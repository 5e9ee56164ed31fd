/* A Hugging Face model folder as downloaded from the Hub:
 *   config.json                         required: architecture + hyper-parameters
 *   generation_config.json              optional: bos/eos ids, sampling defaults
 *   tokenizer.json, tokenizer_config.json  optional: read by src/tokenizer (we only keep the path
 *                                       and the parsed tokenizer_config)
 *   model.safetensors                   single file, OR
 *   model.safetensors.index.json + model-0000k-of-0000n.safetensors   sharded ("weight_map")
 *
 * hf_open parses the config into slm_hparams (model/model.h) and exposes every tensor under the
 * name llama.cpp's convert_hf_to_gguf.py gives it (token_embd.weight, blk.N.attn_q.weight, ...),
 * with its shape in GGUF order (ne[0] = last torch dim = fastest) and a zero-copy pointer into
 * the mapped shard. Tensors with no GGUF mapping stay listed with gguf_name == NULL.
 *
 * Supported architectures (config "architectures"[0], else "model_type"): LlamaForCausalLM, MistralForCausalLM
 * (arch llama), Qwen2ForCausalLM (qwen2), Qwen3ForCausalLM (qwen3), Gemma3ForCausalLM and
 * Gemma3ForConditionalGeneration's text_config (gemma3), Phi3ForCausalLM (phi3). Both the classic
 * config layout and the transformers 5.x one (rope_parameters, dtype) are accepted.
 */
#ifndef SLM_HF_HF_FOLDER_H
#define SLM_HF_HF_FOLDER_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "model/model.h"
#include "slm.h"

typedef struct hf_tensor {
    const char *gguf_name; /* e.g. "blk.0.attn_q.weight"; NULL if the HF name has no mapping */
    const char *hf_name;   /* e.g. "model.layers.0.self_attn.q_proj.weight" */
    int type;              /* slm_dtype: SLM_DT_F32 / SLM_DT_F16 / SLM_DT_BF16; -1 for other
                              safetensors dtypes (I64, U8, ...), which a model cannot use */
    int n_dims;            /* 0..4 */
    int64_t ne[4];         /* GGUF order: ne[0] = last torch dim; unused dims are 1 */
    const void *data;      /* in the shard's read-only mapping; valid until hf_close */
    uint64_t nbytes;
    int shard;             /* index of the shard file it lives in (0 for a single file) */
} hf_tensor;

typedef struct hf_folder hf_folder;

/* Open the folder dir. On success *out owns every mapping and parsed JSON; free with hf_close.
 * Errors: SLM_E_NOT_FOUND (no config.json / no safetensors / missing shard), SLM_E_FORMAT
 * (malformed JSON or safetensors, inconsistent index), SLM_E_UNSUPPORTED (unknown architecture,
 * named in the message), SLM_E_RANGE (absurd hyper-parameters). */
slm_status hf_open(const char *dir, hf_folder **out, slm_error *err);
/* hf_close(NULL) is a no-op. */
void hf_close(hf_folder *f);

/* Hyper-parameters from config.json (+ generation_config.json for bos/eos). The longrope factor
 * arrays (rope_short_factor / rope_long_factor) stay owned by the folder: a model that outlives
 * the folder must copy them. */
const slm_hparams *hf_hparams(const hf_folder *f);

/* Tensors across all shards, sorted by shard then data offset. */
size_t hf_n_tensors(const hf_folder *f);
const hf_tensor *hf_tensor_at(const hf_folder *f, size_t i);
/* By GGUF name ("blk.3.ffn_down.weight"); NULL if absent. */
const hf_tensor *hf_find(const hf_folder *f, const char *gguf_name);
/* By original HF name; NULL if absent. */
const hf_tensor *hf_find_hf(const hf_folder *f, const char *hf_name);

/* Parsed JSON documents, owned by the folder; NULL where the file is absent.
 * hf_config is the whole config.json (for Gemma3ForConditionalGeneration use hf_text_config). */
const cJSON *hf_config(const hf_folder *f);
/* The object the hyper-parameters came from: text_config for multimodal wrappers, else config. */
const cJSON *hf_text_config(const hf_folder *f);
const cJSON *hf_generation_config(const hf_folder *f);
const cJSON *hf_tokenizer_config(const hf_folder *f);

/* Absolute-or-as-given path of tokenizer.json, NULL if absent. Owned by the folder. */
const char *hf_tokenizer_json_path(const hf_folder *f);
/* Folder path as given to hf_open. */
const char *hf_dir(const hf_folder *f);
/* "architectures"[0] of config.json, e.g. "LlamaForCausalLM" (its model_type if the list is absent). */
const char *hf_architecture(const hf_folder *f);

/* All end-of-sequence ids (generation_config eos_token_id, else config's; a number or a list).
 * hparams.eos_id is the first of them. *n = 0 and NULL if none. Owned by the folder. */
const int64_t *hf_eos_ids(const hf_folder *f, size_t *n);

/* Sum of the sizes of all safetensors shard files, bytes. */
uint64_t hf_total_bytes(const hf_folder *f);
/* Number of shard files (1 for a single model.safetensors). */
size_t hf_n_shards(const hf_folder *f);

/* Map one HF tensor name to its GGUF name for architecture arch, writing into buf (size cap).
 * Returns false when the name has no mapping. Exposed for tests and the exporter. */
int hf_map_tensor_name(slm_arch arch, const char *hf_name, char *buf, size_t cap);

#endif
