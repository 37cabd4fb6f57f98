/* vf_io.h — (being written) */
#ifndef VF_IO_H
#define VF_IO_H
#include "vf_ad.h"
#endif
