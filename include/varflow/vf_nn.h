/* vf_nn.h — (being written) */
#ifndef VF_NN_H
#define VF_NN_H
#include "vf_ad.h"
#endif
