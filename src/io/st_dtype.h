/* st_dtype.h — the safetensors dtype names, their sizes and how to convert them (not installed). */
#ifndef VF_IO_ST_DTYPE_H
#define VF_IO_ST_DTYPE_H

#include "io_internal.h"

typedef struct vf__st_dtype_info {
    const char *name;       /* as written in the header: "F32" */
    size_t size;            /* bytes per element */
    vf_st_dtype dtype;      /* public tag */
    int convertible;        /* 1 if elem below converts to vf_real */
    vf__elem elem;
} vf__st_dtype_info;

/* Info for a header dtype string of length n, or NULL if unknown. */
const vf__st_dtype_info *vf__st_dtype_lookup(const char *name, size_t n);

#endif
