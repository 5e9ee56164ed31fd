/* Private layout of a parsed GGUF file, shared by the reader (gguf_read.c), the accessors
 * (gguf.c) and the writer's copy_kv (gguf_write.c). Nothing outside src/gguf includes this. */
#ifndef SLM_GGUF_INTERNAL_H
#define SLM_GGUF_INTERNAL_H

#include "base/file.h"
#include "gguf/gguf.h"

#define GGUF_NONE UINT64_MAX

/* One array value (top-level or nested). Element i of a fixed-size array lives at
 * data_off + i * size; for STRING elements the file offset of string i's length field is
 * offs_pool[offs + i]; for ARRAY elements nested array i is node child + i (children are
 * reserved contiguously). */
typedef struct gguf_node {
    uint32_t type; /* element type */
    uint64_t n;
    uint64_t data_off; /* file offset of the first element */
    uint64_t offs;     /* index into gguf_file.offs_pool, or GGUF_NONE */
    uint64_t child;    /* index of the first child node, or GGUF_NONE */
} gguf_node;

typedef struct gguf_kv {
    const char *key;   /* NUL-terminated, in gguf_file.names */
    uint64_t key_len;
    uint64_t key_off;  /* file offset of the key bytes (before the names table exists) */
    uint32_t type;
    uint64_t val_off;  /* file offset of the serialized value (after the type field) */
    uint64_t val_size; /* bytes of the serialized value */
    uint64_t node;     /* for ARRAY values: node index, else GGUF_NONE */
} gguf_kv;

struct gguf_file {
    slm_mapped_file map; /* owned mapping (gguf_open), empty for gguf_open_memory */
    const uint8_t *base;
    uint64_t size;

    uint32_t version;
    uint64_t alignment;
    uint64_t data_offset;

    int64_t n_kv;
    gguf_kv *kv;
    int64_t n_tensors;
    gguf_tensor_info *tensors;
    uint64_t *tensor_name_off; /* file offset of each tensor's name bytes (parse time only) */

    char *names; /* all keys and tensor names, NUL-terminated, back to back */

    gguf_node *nodes;
    uint64_t n_nodes, cap_nodes;
    uint64_t *offs_pool;
    uint64_t n_offs, cap_offs;

    /* Open-addressing hash tables of indices (-1 = empty), capacity a power of two. */
    int64_t *kv_hash;
    uint64_t kv_hash_cap;
    int64_t *t_hash;
    uint64_t t_hash_cap;
};

uint64_t gguf_hash_bytes(const void *p, size_t n);

#endif
