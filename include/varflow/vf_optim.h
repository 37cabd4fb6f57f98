/* vf_optim.h — (being written) */
#ifndef VF_OPTIM_H
#define VF_OPTIM_H
#include "vf_ad.h"
#endif
