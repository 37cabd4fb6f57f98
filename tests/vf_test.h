/* vf_test.h — a tiny test harness. Each test program prints "N passed, N failed" and exits non-zero
 * on failure.
 *
 * Usage
 *   #include "vf_test.h"
 *   static void test_adds(void) { CHECK(1 + 1 == 2); CHECK_NEAR(0.1 + 0.2, 0.3, 1e-12); }
 *   int main(void) { RUN(test_adds); return vf_test_summary(); }
 */
#ifndef VF_TEST_H
#define VF_TEST_H

#include <math.h>
#include <stdio.h>
#include <string.h>

static int vf_test_passed, vf_test_failed, vf_test_current_failed;
static const char *vf_test_name = "";

#define CHECK(cond)                                                                               \
    do {                                                                                          \
        if (cond) {                                                                               \
        } else {                                                                                  \
            vf_test_current_failed++;                                                             \
            fprintf(stderr, "%s:%d: %s: CHECK(%s) failed\n", __FILE__, __LINE__, vf_test_name, #cond); \
        }                                                                                         \
    } while (0)

#define CHECK_MSG(cond, ...)                                                                      \
    do {                                                                                          \
        if (cond) {                                                                               \
        } else {                                                                                  \
            vf_test_current_failed++;                                                             \
            fprintf(stderr, "%s:%d: %s: ", __FILE__, __LINE__, vf_test_name);                     \
            fprintf(stderr, __VA_ARGS__);                                                         \
            fputc('\n', stderr);                                                                  \
        }                                                                                         \
    } while (0)

/* |a - b| <= tol (NaN fails). */
#define CHECK_NEAR(a, b, tol)                                                                     \
    do {                                                                                          \
        double va_ = (double)(a), vb_ = (double)(b), vt_ = (double)(tol);                         \
        if (!(fabs(va_ - vb_) <= vt_)) {                                                          \
            vf_test_current_failed++;                                                             \
            fprintf(stderr, "%s:%d: %s: %s = %.17g, %s = %.17g, |diff| %.3g > %.3g\n", __FILE__,  \
                    __LINE__, vf_test_name, #a, va_, #b, vb_, fabs(va_ - vb_), vt_);              \
        }                                                                                         \
    } while (0)

#define CHECK_STATUS(expr, expected)                                                              \
    do {                                                                                          \
        int got_ = (int)(expr);                                                                   \
        if (got_ != (int)(expected)) {                                                            \
            vf_test_current_failed++;                                                             \
            fprintf(stderr, "%s:%d: %s: %s returned %d, expected %d (%s)\n", __FILE__, __LINE__,  \
                    vf_test_name, #expr, got_, (int)(expected), vf_last_error());                 \
        }                                                                                         \
    } while (0)

/* CHECK_STATUS that also ends the (void) test function on failure: for a result the test goes on to use. */
#define REQUIRE_STATUS(expr, expected)                                                            \
    do {                                                                                          \
        int before_ = vf_test_current_failed;                                                     \
        CHECK_STATUS(expr, expected);                                                             \
        if (vf_test_current_failed != before_) return;                                            \
    } while (0)

#define RUN(fn)                                                                                   \
    do {                                                                                          \
        vf_test_name = #fn;                                                                       \
        vf_test_current_failed = 0;                                                               \
        fn();                                                                                     \
        if (vf_test_current_failed) {                                                             \
            vf_test_failed++;                                                                     \
            fprintf(stderr, "FAIL %s\n", #fn);                                                    \
        } else {                                                                                  \
            vf_test_passed++;                                                                     \
        }                                                                                         \
    } while (0)

static inline int vf_test_summary(void)
{
    printf("%d passed, %d failed\n", vf_test_passed, vf_test_failed);
    return vf_test_failed ? 1 : 0;
}

/* Path of a file in ../shared/data (tests run from the build folder; VF_SHARED_DATA overrides). */
#ifndef VF_SHARED_DATA_DIR
#define VF_SHARED_DATA_DIR "../shared/data"
#endif

#endif
