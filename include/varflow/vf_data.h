/* vf_data.h — (being written) */
#ifndef VF_DATA_H
#define VF_DATA_H
#include "vf_ad.h"
#endif
