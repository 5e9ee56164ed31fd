/* libFuzzer: the Hub file listing parser and the name/quant matching pull runs on its output. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    hub_file *v = NULL;
    size_t n = 0;
    if (store_parse_listing((const char *)data, size, &v, &n, NULL) == SLM_OK) {
        const char **names = calloc(n ? n : 1, sizeof *names);
        if (names) {
            for (size_t i = 0; i < n; i++) names[i] = v[i].path;
            (void)slm_catalog_pick_file(names, n, "Q4_K_M");
            free(names);
        }
        free(v);
    }
    /* The same bytes as a model name and a catalog name. */
    char name[256];
    size_t k = size < sizeof name - 1 ? size : sizeof name - 1;
    memcpy(name, data, k);
    name[k] = 0;
    (void)slm_store_check_name(name, NULL);
    const slm_catalog_entry *e;
    char q[32];
    (void)slm_catalog_lookup(name, &e, q, sizeof q);
    return 0;
}
