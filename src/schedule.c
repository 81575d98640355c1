/* Learning-rate schedules (schedule.h): parsing and the factor at each
 * update. The formulas are Keras's (ExponentialDecay, CosineDecay with
 * its warm-up, a per-epoch step decay as Keras's LearningRateScheduler
 * examples write it) and PyTorch's OneCycleLR (cosine annealing, two
 * phases), all counted in updates so that they move within an epoch. */
#define _POSIX_C_SOURCE 200809L
#include "schedule.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define SCHED_PI 3.14159265358979323846

static const char *const names[] = {"constant", "step", "exponential",
                                    "cosine", "onecycle", NULL};

/* key, the schedule it belongs to (-1: all but onecycle; -2: all), the
 * range of its value */
static const struct {
    const char *key;
    int owner;
    double lo, hi;
    int lo_open;
} keys[] = {
    {"schedule", -2, 0, 0, 0},
    {"warmup", -1, 0, 1e6, 0},
    {"drop", CLNET_SCHED_STEP, 0, 1, 1},
    {"every", CLNET_SCHED_STEP, 0, 1e6, 1},
    {"decay", CLNET_SCHED_EXPONENTIAL, 0, 1, 1},
    {"alpha", CLNET_SCHED_COSINE, 0, 1, 0},
    {"pct_start", CLNET_SCHED_ONECYCLE, 0, 1, 1},
    {"div_factor", CLNET_SCHED_ONECYCLE, 1, 1e12, 0},
    {"final_div_factor", CLNET_SCHED_ONECYCLE, 1, 1e12, 0},
};
enum { NKEYS = sizeof keys / sizeof keys[0] };

void clnet_schedule_default(clnet_schedule *s)
{
    *s = (clnet_schedule){.kind = CLNET_SCHED_CONSTANT,
                          .drop = 0.5,
                          .every = 10,
                          .decay = 0.9,
                          .alpha = 0,
                          .pct_start = 0.3,
                          .div_factor = 25,
                          .final_div_factor = 1e4};
}

int clnet_schedule_key(const char *key)
{
    for (int k = 0; k < NKEYS; k++)
        if (!strcmp(keys[k].key, key))
            return 1;
    return 0;
}

int clnet_schedule_set(clnet_schedule *s, const char *key, const char *value,
                       char *msg, size_t msglen)
{
    int k = 0;
    while (k < NKEYS && strcmp(keys[k].key, key))
        k++;
    if (k == NKEYS)
        return 1;
    if (k == 0) {
        for (int i = 0; names[i]; i++)
            if (!strcmp(names[i], value)) {
                s->kind = (clnet_schedule_kind)i;
                s->set |= 1u;
                return 0;
            }
        snprintf(msg, msglen,
                 "unknown schedule '%s'; expected constant, step, "
                 "exponential, cosine or onecycle",
                 value);
        return -1;
    }
    char *end;
    errno = 0;
    double v = strtod(value, &end);
    int below = keys[k].lo_open ? !(v > keys[k].lo) : !(v >= keys[k].lo);
    if (end == value || *end || errno || below || !(v <= keys[k].hi)) {
        snprintf(msg, msglen, "%s=%s: expected a number %s %g and at most %g",
                 key, value, keys[k].lo_open ? "above" : "of at least",
                 keys[k].lo, keys[k].hi);
        return -1;
    }
    double *dest[] = {NULL,      &s->warmup,    &s->drop,
                      &s->every, &s->decay,     &s->alpha,
                      &s->pct_start, &s->div_factor, &s->final_div_factor};
    *dest[k] = v;
    s->set |= 1u << k;
    return 0;
}

int clnet_schedule_parse(clnet_schedule *s, const char *spec,
                         clnet_error *err)
{
    clnet_schedule n;
    clnet_schedule_default(&n);
    char *copy = strdup(spec ? spec : "");
    if (!copy)
        return clnet_fail(err, CLNET_E_NOMEM, "out of memory");
    int rc = CLNET_OK, first = 1;
    char *save = NULL;
    for (char *tok = strtok_r(copy, ",", &save); tok && !rc;
         tok = strtok_r(NULL, ",", &save), first = 0) {
        char *eq = strchr(tok, '=');
        const char *key = "schedule", *value = tok;
        if (eq) {
            *eq = '\0';
            key = tok;
            value = eq + 1;
        } else if (!first) {
            rc = clnet_fail(err, CLNET_E_ARG,
                            "schedule '%s': '%s' is no KEY=VALUE setting",
                            spec, tok);
            break;
        }
        char msg[CLNET_ERRLEN - 64];
        int r = clnet_schedule_set(&n, key, value, msg, sizeof msg);
        if (r > 0)
            rc = clnet_fail(err, CLNET_E_ARG,
                            "schedule '%s': unknown setting '%s'", spec, key);
        else if (r < 0)
            rc = clnet_fail(err, CLNET_E_ARG, "schedule '%s': %s", spec, msg);
    }
    if (!rc && !(n.set & 1u))
        rc = clnet_fail(err, CLNET_E_ARG,
                        "schedule '%s' names no schedule (constant, step, "
                        "exponential, cosine or onecycle)",
                        spec);
    free(copy);
    if (!rc)
        *s = n;
    return rc;
}

int clnet_schedule_check(const clnet_schedule *s, int32_t epochs,
                         const char **bad_key, clnet_error *err)
{
    if (bad_key)
        *bad_key = NULL;
    for (int k = 1; k < NKEYS; k++) {
        if (!(s->set & (1u << k)))
            continue;
        int owner = keys[k].owner;
        int ok = owner == -2 || (owner == -1 && s->kind != CLNET_SCHED_ONECYCLE) ||
                 owner == (int)s->kind;
        if (!ok && bad_key)
            *bad_key = keys[k].key;
        if (!ok)
            return clnet_fail(err, CLNET_E_ARG,
                              "%s does not apply to schedule=%s%s", keys[k].key,
                              names[s->kind],
                              s->kind == CLNET_SCHED_ONECYCLE
                                  ? " (its first pct_start of the run is its "
                                    "warm-up)"
                                  : "");
    }
    if (s->warmup > 0 && s->warmup >= epochs)
        return clnet_fail(err, CLNET_E_ARG,
                          "warmup=%g epochs leaves none of the run's %d for "
                          "the schedule",
                          s->warmup, (int)epochs);
    return CLNET_OK;
}

/* PyTorch's _annealing_cos: from start at pct 0 to end at pct 1. */
static double anneal(double start, double end, double pct)
{
    return end + (start - end) / 2.0 * (cos(SCHED_PI * pct) + 1.0);
}

double clnet_schedule_factor(const clnet_schedule *s, uint64_t update,
                             int64_t steps, int32_t epochs)
{
    if (steps < 1 || epochs < 1)
        return 1.0;
    double u = (double)update, spe = (double)steps;
    if (s->kind == CLNET_SCHED_ONECYCLE) {
        /* OneCycleLR(max_lr=lr, total_steps=epochs*steps): its two phases
         * end at steps pct_start*total - 1 and total - 1 */
        double total = spe * epochs, initial = 1.0 / s->div_factor;
        double end1 = s->pct_start * total - 1.0, end2 = total - 1.0;
        double min = initial / s->final_div_factor;
        if (u <= end1)
            return anneal(initial, 1.0, end1 > 0 ? u / end1 : 1.0);
        double pct = end2 > end1 ? (u - end1) / (end2 - end1) : 1.0;
        return anneal(1.0, min, pct > 1 ? 1 : pct);
    }
    double warm = s->warmup * spe;
    if (u < warm) /* Keras's warm-up: linear from 0 */
        return u / warm;
    double d = u - warm, epochs_in = d / spe;
    switch (s->kind) {
    case CLNET_SCHED_STEP:
        return pow(s->drop, floor(epochs_in / s->every + 1e-9));
    case CLNET_SCHED_EXPONENTIAL:
        return pow(s->decay, epochs_in);
    case CLNET_SCHED_COSINE: {
        double span = (epochs - s->warmup) * spe;
        double t = span > 0 ? (d < span ? d : span) / span : 1.0;
        return (1.0 - s->alpha) * 0.5 * (1.0 + cos(SCHED_PI * t)) + s->alpha;
    }
    default:
        return 1.0;
    }
}

void clnet_schedule_describe(const clnet_schedule *s, char *out, size_t n)
{
    int w = 0;
    switch (s->kind) {
    case CLNET_SCHED_STEP:
        w = snprintf(out, n, "step (x%g every %g epochs)", s->drop, s->every);
        break;
    case CLNET_SCHED_EXPONENTIAL:
        w = snprintf(out, n, "exponential (x%g an epoch)", s->decay);
        break;
    case CLNET_SCHED_COSINE:
        w = snprintf(out, n, "cosine (to %g of lr)", s->alpha);
        break;
    case CLNET_SCHED_ONECYCLE:
        w = snprintf(out, n, "onecycle (peak at %g of the run, from lr/%g)",
                     s->pct_start, s->div_factor);
        break;
    default:
        w = snprintf(out, n, "constant");
    }
    if (s->warmup > 0 && w > 0 && (size_t)w < n)
        snprintf(out + w, n - (size_t)w, ", warm-up %g epoch%s", s->warmup,
                 s->warmup == 1 ? "" : "s");
}
