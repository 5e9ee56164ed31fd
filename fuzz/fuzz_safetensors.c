/* libFuzzer target: arbitrary bytes as a .safetensors file. The parser must reject or accept
 * without reading outside the buffer; accepted files are walked fully (every tensor's bytes
 * touched, every name looked up) so ASan sees any view that escapes the buffer. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "hf/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    st_file *f = NULL;
    slm_error err;
    if (safetensors_open_memory(data, size, &f, &err) != SLM_OK) return 0;
    volatile uint8_t sink = 0;
    for (size_t i = 0; i < st_n_tensors(f); i++) {
        const st_tensor *t = st_tensor_at(f, i);
        if (t->nbytes) sink ^= t->data[0] ^ t->data[t->nbytes - 1];
        if (st_find(f, t->name) != t) __builtin_trap();
    }
    for (size_t i = 0; i < st_n_metadata(f); i++) sink ^= (uint8_t)strlen(st_metadata_at(f, i)->value);
    (void)sink;
    st_close(f);
    return 0;
}
