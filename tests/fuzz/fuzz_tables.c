/* fuzz_tables.c — libFuzzer target: any bytes as a data table: parsed as CSV (from memory), read as
 * .npy, as an IDX file and as a safetensors file (every tensor fetched). Each reader must return a
 * table or an error, never crash, leak or read out of bounds. */
#include <string.h>
#include "varflow.h"
#include "fuzz_util.h"

static void read_safetensors(const unsigned char *data, size_t size)
{
    vf_st_file *f = NULL;
    if (vf_st_open_buffer("fuzz", data, size, &f) != VF_OK) return;
    for (int64_t i = 0; i < vf_st_count(f); i++) {
        vf_tensor t;
        memset(&t, 0, sizeof t);
        if (vf_st_get(f, vf_st_name(f, i), &t) == VF_OK) vf_tensor_free(&t);
    }
    for (int64_t i = 0; i < vf_st_meta_count(f); i++) (void)vf_st_meta(f, vf_st_meta_key(f, i));
    vf_st_close(f);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    vf_tensor t;
    vf_strlist names;
    vf_csv_options o = vf_csv_default_options();
    memset(&t, 0, sizeof t);
    memset(&names, 0, sizeof names);
    if (vf_parse_csv("fuzz.csv", (const char *)data, size, &o, &t, &names) == VF_OK) {
        vf_tensor_free(&t);
        vf_strlist_free(&names);
    }
    const char *path = fuzz_as_file(data, size, ".npy");
    if (path) {
        memset(&t, 0, sizeof t);
        if (vf_npy_read(path, &t) == VF_OK) vf_tensor_free(&t);
        memset(&t, 0, sizeof t);
        if (vf_idx_read(path, &t) == VF_OK) vf_tensor_free(&t);
        remove(path);
    }
    read_safetensors(data, size);
    vf_clear_error();
    return 0;
}
