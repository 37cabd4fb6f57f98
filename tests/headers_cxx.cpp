// The public headers must compile as C++ and link against the C library.
#include <varflow.h>
#include <cstdio>

int main()
{
    vf_tape *t = vf_tape_new();
    const int64_t shape[1] = {1};
    vf_real x = 2;
    vf_var v = vf_input(t, &x, 1, shape);
    vf_var y = vf_exp(t, v);
    int ok = vf_tape_status(t) == VF_OK && vf_value(t, y) != nullptr;
    vf_tape_free(t);
    std::printf("%d passed, %d failed\n", ok ? 1 : 0, ok ? 0 : 1);
    return ok ? 0 : 1;
}
