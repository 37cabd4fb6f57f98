/* target_plugin.c — "plugin:PATH[:ARG]": a target from a shared library with the ABI of docs/plugins.md,
 * loaded with dlopen (only in builds with <dlfcn.h>; elsewhere the spec gives VF_ERR_UNSUPPORTED).
 *
 *   int    varflow_target_dim(void *state);                                 required
 *   double varflow_target_log_prob(void *state, const double *x, double *grad);   required
 *   void  *varflow_target_init(const char *arg, char *err, unsigned long errlen); optional
 *   void   varflow_target_free(void *state);                                optional
 *   void   varflow_target_constrain(void *state, const double *x, double *out);  optional
 *   int    varflow_target_constrained_dim(void *state);                     optional (default: dim)
 *   int    varflow_target_log_prob_batch(void *state, long long n, const double *x, double *logp,
 *                                        double *grad);                     optional (0: success)
 *
 * A plugin needs varflow_target_log_prob or varflow_target_log_prob_batch; with the batch function
 * alone, single points go through it with n = 1.
 *
 * The library stays loaded until vf_target_free. Symbols are converted from dlsym's void * with
 * memcpy (ISO C has no cast between object and function pointers; POSIX guarantees they agree). */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "vi/vi_internal.h"

#if defined(VF_HAVE_DLOPEN) && VF_HAVE_DLOPEN
#include <dlfcn.h>

typedef int (*plugin_dim_fn)(void *);
typedef double (*plugin_log_prob_fn)(void *, const double *, double *);
typedef void *(*plugin_init_fn)(const char *, char *, unsigned long);
typedef void (*plugin_free_fn)(void *);
typedef void (*plugin_constrain_fn)(void *, const double *, double *);
typedef int (*plugin_batch_fn)(void *, long long, const double *, double *, double *);

typedef struct plugin_state {
    void *handle;
    void *user;                      /* what varflow_target_init returned */
    plugin_log_prob_fn log_prob;
    plugin_free_fn user_free;
    plugin_constrain_fn constrain;   /* NULL when the plugin has none */
    plugin_batch_fn batch;           /* NULL when the plugin has none */
} plugin_state;

static double plugin_log_prob(void *state, const double *x, double *grad)
{
    const plugin_state *p = state;
    return p->log_prob(p->user, x, grad);
}

/* A single point through the batch function (plugins without varflow_target_log_prob). */
static double plugin_log_prob_by_batch(void *state, const double *x, double *grad)
{
    const plugin_state *p = state;
    double lp;
    return p->batch(p->user, 1, x, &lp, grad) != 0 ? NAN : lp;
}

static int plugin_log_prob_batch(void *state, int64_t n, const double *x, double *logp, double *grad)
{
    const plugin_state *p = state;
    return p->batch(p->user, (long long)n, x, logp, grad);
}

static void plugin_constrain(void *state, const double *x, double *out)
{
    const plugin_state *p = state;
    p->constrain(p->user, x, out);
}

static void plugin_close(void *state)
{
    plugin_state *p = state;
    if (p->user_free) p->user_free(p->user);
    dlclose(p->handle);
    vf_free(p);
}

static void *symbol(void *handle, const char *name)
{
    dlerror();
    return dlsym(handle, name);
}

vf_status vf__target_plugin_open(const char *path_and_arg, vf_target *out)
{
    char path[4096];
    const char *colon = strchr(path_and_arg, ':');
    size_t len = colon ? (size_t)(colon - path_and_arg) : strlen(path_and_arg);
    if (len == 0) return vf__error(VF_ERR_ARG, "target plugin: empty PATH (plugin:PATH[:ARG])");
    if (len >= sizeof path) return vf__error(VF_ERR_ARG, "target plugin: PATH too long");
    memcpy(path, path_and_arg, len);
    path[len] = '\0';
    const char *arg = colon ? colon + 1 : NULL;

    /* dlopen searches the library path for a name without '/': a plugin is always a file here. */
    char local[4100];
    const char *open_name = path;
    if (!strchr(path, '/')) {
        memcpy(local, "./", 2);
        memcpy(local + 2, path, len + 1);
        open_name = local;
    }
    void *h = dlopen(open_name, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char *e = dlerror();
        return vf__error(VF_ERR_IO, "target plugin %s: cannot load: %s", path, e ? e : "unknown error");
    }
    void *s_dim = symbol(h, "varflow_target_dim"), *s_lp = symbol(h, "varflow_target_log_prob");
    void *s_init = symbol(h, "varflow_target_init"), *s_free = symbol(h, "varflow_target_free");
    void *s_batch = symbol(h, "varflow_target_log_prob_batch");
    if (!s_dim || (!s_lp && !s_batch)) {
        dlclose(h);
        return vf__error(VF_ERR_IO, "target plugin %s: missing the required symbol %s", path,
                         !s_dim ? "varflow_target_dim"
                                : "varflow_target_log_prob (or varflow_target_log_prob_batch)");
    }
    plugin_state *p = vf_malloc(sizeof *p);
    if (!p) {
        dlclose(h);
        return vf__error(VF_ERR_NOMEM, "target plugin: out of memory");
    }
    plugin_dim_fn dim_fn;
    plugin_init_fn init_fn = NULL;
    memcpy(&dim_fn, &s_dim, sizeof dim_fn);
    p->log_prob = NULL;
    p->batch = NULL;
    if (s_lp) memcpy(&p->log_prob, &s_lp, sizeof p->log_prob);
    if (s_batch) memcpy(&p->batch, &s_batch, sizeof p->batch);
    p->user_free = NULL;
    if (s_init) memcpy(&init_fn, &s_init, sizeof init_fn);
    if (s_free) memcpy(&p->user_free, &s_free, sizeof p->user_free);
    void *s_con = symbol(h, "varflow_target_constrain"), *s_cdim = symbol(h, "varflow_target_constrained_dim");
    p->constrain = NULL;
    if (s_con) memcpy(&p->constrain, &s_con, sizeof p->constrain);
    p->handle = h;
    p->user = NULL;
    if (init_fn) {
        char err[256] = "";
        p->user = init_fn(arg ? arg : "", err, sizeof err);
        if (!p->user) {
            err[sizeof err - 1] = '\0';
            vf_free(p);
            dlclose(h);
            return vf__error(VF_ERR_IO, "target plugin %s: init failed: %s", path, err[0] ? err : "(no message)");
        }
    }
    int d = dim_fn(p->user);
    if (d < 1) {
        plugin_close(p);
        return vf__error(VF_ERR_IO, "target plugin %s: varflow_target_dim returned %d (need >= 1)", path, d);
    }
    int cdim = d;
    if (p->constrain && s_cdim) {
        plugin_dim_fn cdim_fn;
        memcpy(&cdim_fn, &s_cdim, sizeof cdim_fn);
        cdim = cdim_fn(p->user);
        if (cdim < 1) {
            plugin_close(p);
            return vf__error(VF_ERR_IO, "target plugin %s: varflow_target_constrained_dim returned %d (need >= 1)",
                             path, cdim);
        }
    }
    out->dim = d;
    out->constrain = p->constrain ? plugin_constrain : NULL;
    out->constrained_dim = p->constrain ? cdim : 0;
    out->state = p;
    out->log_prob = p->log_prob ? plugin_log_prob : plugin_log_prob_by_batch;
    out->log_prob_batch = p->batch ? plugin_log_prob_batch : NULL;
    out->free = plugin_close;
    out->sample = NULL;
    snprintf(out->name, sizeof out->name, "plugin");
    return VF_OK;
}

#else

vf_status vf__target_plugin_open(const char *path_and_arg, vf_target *out)
{
    (void)path_and_arg;
    (void)out;
    return vf__error(VF_ERR_UNSUPPORTED, "target plugin: this build of varflow cannot load shared libraries (no dlopen)");
}

#endif
