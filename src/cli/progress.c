/* Keras-style training progress and the --log-json writer. */

#define _POSIX_C_SOURCE 200809L
#include "progress.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

/* Seconds on the monotonic clock, for redraw pacing and ETAs. */
static double now_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* The bar is 30 columns where the terminal has room, down to 10 */
#define BAR_MAX 30
#define BAR_MIN 10
#define REDRAW_SECONDS 0.1
#define LINE_BYTES 512

void cli_progress_init(cli_progress *p, FILE *out, int32_t epochs, int quiet,
                       const char *json_path, int json_append)
{
    memset(p, 0, sizeof *p);
    p->json_path = json_path;
    p->json_append = json_append;
    p->out = out;
    p->tty = isatty(fileno(out));
    p->quiet = quiet;
    p->epochs = epochs;
    p->last_tenth = -1;
}

int cli_progress_close(cli_progress *p)
{
    int bad = p->json_failed;
    if (p->json && fclose(p->json) != 0)
        bad = 1;
    p->json = NULL;
    return bad;
}

/* The terminal's columns, read at every redraw so that a resize takes:
 * the output's window size, else $COLUMNS, else 80. */
static int term_width(const cli_progress *p)
{
    struct winsize ws;
    if (ioctl(fileno(p->out), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
        return ws.ws_col;
    const char *c = getenv("COLUMNS");
    char *end;
    long n = c ? strtol(c, &end, 10) : 0;
    if (c && *end == '\0' && n > 0 && n < 100000)
        return (int)n;
    return 80;
}

/* Appends to the line being built (cut at LINE_BYTES). */
static void add(char *b, const char *fmt, ...)
{
    size_t len = strlen(b);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b + len, LINE_BYTES - len, fmt, ap);
    va_end(ap);
}

/* Keras's ETA: 12s, 1:05, 1:02:03. */
static void eta_text(double s, char *out, size_t n)
{
    long t = isfinite(s) && s > 0 ? (long)(s + 0.5) : 0;
    if (t >= 3600)
        snprintf(out, n, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else if (t >= 60)
        snprintf(out, n, "%ld:%02ld", t / 60, t % 60);
    else
        snprintf(out, n, "%lds", t);
}

static void bar_text(int64_t done, int64_t total, int width, char *out)
{
    int filled = total > 0 ? (int)(width * done / total) : 0;
    for (int i = 0; i < width; i++)
        out[i] = i < filled ? '=' : i == filled ? '>' : '.';
    out[width] = '\0';
}

/* Writes line; on a terminal over what is on the screen, cut to the
 * width less one column so that the cursor never wraps, and ended (a
 * newline) or left to be redrawn. Lines are ASCII: a byte is a column. */
static void put(cli_progress *p, const char *line, int end)
{
    if (!p->tty) {
        fprintf(p->out, "%s%s", line, end ? "\n" : "");
    } else {
        int room = term_width(p) - 1;
        int len = (int)strlen(line);
        fprintf(p->out, "\r%.*s\033[K%s", len < room ? len : room, line,
                end ? "\n" : "");
        p->drawn = !end;
    }
    fflush(p->out);
}

/* Clears a redrawn line before a plain one. */
static void clear(cli_progress *p)
{
    if (p->drawn)
        fprintf(p->out, "\r\033[K");
    p->drawn = 0;
}

/* The first of the lines (each a shorter form than the one before) that
 * fits the terminal, else the last one (put cuts it). */
typedef void (*line_fn)(char *b, int level, const void *what);

static void fit(cli_progress *p, line_fn make, int levels, const void *what,
                int end)
{
    char b[LINE_BYTES];
    int room = p->tty ? term_width(p) - 1 : LINE_BYTES;
    for (int level = 0; level < levels; level++) {
        b[0] = '\0';
        make(b, level, what);
        if (b[0] && ((int)strlen(b) <= room || level == levels - 1))
            break;
    }
    put(p, b, end);
}

/* Bar width for a line of len columns without it (" [" and "]" more):
 * BAR_MAX where it fits, down to BAR_MIN; 0 where not even that does. */
static int bar_room(const char *b, int room)
{
    int w = room - (int)strlen(b) - 3;
    return w >= BAR_MIN ? (w < BAR_MAX ? w : BAR_MAX) : 0;
}

/* ---- the line redrawn at each training step ---- */
typedef struct {
    int64_t step, steps;
    double eta, loss, accuracy, lr;
    int room;
} step_line;

/* As the terminal narrows: the bar shrinks to BAR_MIN, then lr goes,
 * accuracy becomes acc, the bar goes, ETA goes, accuracy goes. */
static const struct {
    int bar, lr, long_names, eta, accuracy;
} step_levels[] = {{1, 1, 1, 1, 1}, {1, 0, 1, 1, 1}, {1, 0, 0, 1, 1},
                   {0, 0, 0, 1, 1}, {0, 0, 0, 0, 1}, {0, 0, 0, 0, 0}};

static void make_step(char *b, int level, const void *what)
{
    const step_line *s = what;
    char rest[LINE_BYTES] = "", eta[32], bar[BAR_MAX + 1];
    if (step_levels[level].eta) {
        eta_text(s->eta, eta, sizeof eta);
        add(rest, " - ETA: %s", eta);
    }
    add(rest, " - loss: %.4f", s->loss);
    if (step_levels[level].accuracy)
        add(rest, " - %s: %.4f",
            step_levels[level].long_names ? "accuracy" : "acc", s->accuracy);
    if (step_levels[level].lr && isfinite(s->lr))
        add(rest, " - lr: %.4g", s->lr);
    add(b, "%lld/%lld", (long long)s->step, (long long)s->steps);
    if (step_levels[level].bar) {
        char both[LINE_BYTES];
        snprintf(both, sizeof both, "%s%s", b, rest);
        int w = bar_room(both, s->room);
        if (!w) {
            b[0] = '\0'; /* does not fit: the next level */
            return;
        }
        bar_text(s->step, s->steps, w, bar);
        add(b, " [%s]", bar);
    }
    add(b, "%s", rest);
}

/* A new epoch's header, once, before its first step (a resumed epoch's
 * too). */
static void epoch_header(cli_progress *p, int32_t epoch, int64_t steps)
{
    if (p->epoch == epoch)
        return;
    p->epoch = epoch;
    p->steps = steps;
    p->last_draw = 0;
    p->last_tenth = -1;
    p->validating = 0;
    if (p->quiet)
        return;
    char h[64];
    snprintf(h, sizeof h, "Epoch %d/%d", epoch, p->epochs);
    put(p, h, 1);
}

void cli_progress_step(int32_t epoch, int64_t step, int64_t steps, double loss,
                       double accuracy, double seconds, void *user)
{
    cli_progress *p = user;
    epoch_header(p, epoch, steps);
    p->steps = steps;
    if (step == steps)
        p->validating = 1;
    if (p->quiet)
        return;
    double lr = p->net ? clnet_net_learning_rate(p->net) : NAN;
    if (!p->tty) {
        int64_t tenth = step * 10 / steps;
        if (tenth != p->last_tenth && tenth > 0 && step < steps) {
            p->last_tenth = tenth;
            fprintf(p->out, "%lld/%lld - %.0fs - loss: %.4f - accuracy: %.4f",
                    (long long)step, (long long)steps, seconds, loss,
                    accuracy);
            if (isfinite(lr))
                fprintf(p->out, " - lr: %.4g", lr);
            fprintf(p->out, "\n");
            fflush(p->out);
        }
        return;
    }
    double now = now_seconds();
    if (step != steps && p->drawn && now - p->last_draw < REDRAW_SECONDS)
        return;
    p->last_draw = now;
    double eta = seconds / (double)step * (double)(steps - step);
    step_line s = {step, steps, eta, loss, accuracy, lr, term_width(p) - 1};
    fit(p, make_step, (int)(sizeof step_levels / sizeof *step_levels), &s, 0);
}

/* ---- the line redrawn while a data set is evaluated ---- */
typedef struct {
    const char *what;
    int64_t done, total;
    double eta; /* NAN: not known yet */
    int room;
} eval_line;

/* The bar shrinks to BAR_MIN, then goes, then ETA goes. */
static void make_eval(char *b, int level, const void *what)
{
    const eval_line *e = what;
    char rest[64] = "", bar[BAR_MAX + 1];
    if (level < 2 && isfinite(e->eta)) {
        char eta[32];
        eta_text(e->eta, eta, sizeof eta);
        snprintf(rest, sizeof rest, " - ETA: %s", eta);
    }
    add(b, "%s %lld/%lld", e->what, (long long)e->done, (long long)e->total);
    if (level == 0) {
        char both[LINE_BYTES];
        snprintf(both, sizeof both, "%s%s", b, rest);
        int w = bar_room(both, e->room);
        if (!w) {
            b[0] = '\0';
            return;
        }
        bar_text(e->done, e->total, w, bar);
        add(b, " [%s]", bar);
    }
    add(b, "%s", rest);
}

void cli_progress_eval(int64_t done, int64_t total, void *user)
{
    cli_progress *p = user;
    if (p->quiet || !p->tty)
        return;
    double now = now_seconds();
    if (done == 0)
        p->eval_start = now;
    if (done >= total) {
        /* the validation pass's line gives way to the epoch's; the test
         * pass's is cleared for the test figures */
        if (!p->validating)
            clear(p);
        fflush(p->out);
        return;
    }
    if (done > 0 && now - p->last_draw < REDRAW_SECONDS)
        return;
    p->last_draw = now;
    double spent = now - p->eval_start;
    eval_line e = {p->validating ? "Validating" : "Testing", done, total,
                   done > 0 ? spent / (double)done * (double)(total - done)
                            : NAN,
                   term_width(p) - 1};
    fit(p, make_eval, 3, &e, 0);
}

/* ---- the epoch's line ---- */
typedef struct {
    const cli_progress *p;
    const clnet_epoch_stats *s;
} epoch_line;

/* "12s 25ms/step" as Keras writes a step's time */
static void step_time(double s, char *out, size_t n)
{
    if (s >= 1)
        snprintf(out, n, "%.0fs/step", s);
    else if (s >= 1e-3)
        snprintf(out, n, "%.0fms/step", s * 1e3);
    else
        snprintf(out, n, "%.0fus/step", s * 1e6);
}

/* As the terminal narrows: img/s goes, then data wait, lr, the long
 * names (acc, val_acc), the time per step, the epoch's time, val_loss,
 * loss and, where there is a val_acc, acc; the step count stays. */
static const struct {
    int rate, wait, lr, long_names, per_step, time, val_loss, loss, accuracy;
} epoch_levels[] = {
    {1, 1, 1, 1, 1, 1, 1, 1, 1}, {0, 1, 1, 1, 1, 1, 1, 1, 1},
    {0, 0, 1, 1, 1, 1, 1, 1, 1}, {0, 0, 0, 1, 1, 1, 1, 1, 1},
    {0, 0, 0, 0, 1, 1, 1, 1, 1}, {0, 0, 0, 0, 0, 1, 1, 1, 1},
    {0, 0, 0, 0, 0, 0, 1, 1, 1}, {0, 0, 0, 0, 0, 0, 0, 1, 1},
    {0, 0, 0, 0, 0, 0, 0, 0, 1}, {0, 0, 0, 0, 0, 0, 0, 0, 0}};

static void make_epoch(char *b, int level, const void *what)
{
    const epoch_line *l = what;
    const clnet_epoch_stats *s = l->s;
    int64_t steps = l->p->steps;
    int lng = epoch_levels[level].long_names;
    if (l->p->quiet)
        add(b, "Epoch %d/%d ", s->epoch, l->p->epochs);
    if (steps > 0)
        add(b, "%lld/%lld - ", (long long)steps, (long long)steps);
    if (epoch_levels[level].time) {
        add(b, s->seconds < 10 ? "%.1fs" : "%.0fs", s->seconds);
        if (epoch_levels[level].per_step && steps > 0) {
            char t[32];
            step_time(s->seconds / (double)steps, t, sizeof t);
            add(b, " %s", t);
        }
        add(b, " - ");
    }
    if (epoch_levels[level].rate)
        add(b, "%.0f img/s - ", s->images_per_second);
    int val = isfinite(s->val_loss);
    if (epoch_levels[level].loss)
        add(b, "loss: %.4f - ", s->loss);
    if (epoch_levels[level].accuracy || !val)
        add(b, "%s: %.4f%s", lng ? "accuracy" : "acc", s->accuracy,
            val ? " - " : "");
    if (val && epoch_levels[level].val_loss)
        add(b, "val_loss: %.4f - ", s->val_loss);
    if (val)
        add(b, "%s: %.4f", lng ? "val_accuracy" : "val_acc", s->val_accuracy);
    if (epoch_levels[level].lr && isfinite(s->lr))
        add(b, " - lr: %.4g", s->lr);
    if (epoch_levels[level].wait)
        add(b, " - data wait: %.1f%%", 100 * s->data_wait);
    if (epoch_levels[level].wait && s->comm_bytes > 0)
        add(b, " - all-reduce: %.1f%%", 100 * s->comm_wait);
}

static void json_number(FILE *f, const char *key, double v, int last)
{
    if (isfinite(v))
        fprintf(f, "\"%s\": %.6g%s", key, v, last ? "" : ", ");
    else
        fprintf(f, "\"%s\": null%s", key, last ? "" : ", ");
}

void cli_progress_epoch(const clnet_epoch_stats *s, void *user)
{
    cli_progress *p = user;
    epoch_line l = {p, s};
    fit(p, make_epoch, (int)(sizeof epoch_levels / sizeof *epoch_levels), &l,
        1);
    p->validating = 0;
    if (p->json_path && !p->json && !p->json_failed &&
        !(p->json = fopen(p->json_path, p->json_append ? "a" : "w"))) {
        fprintf(stderr, "clnet: %s: cannot write: %s\n", p->json_path,
                strerror(errno));
        p->json_failed = 1;
    }
    if (p->json) {
        fprintf(p->json, "{\"epoch\": %d, ", s->epoch);
        json_number(p->json, "loss", s->loss, 0);
        json_number(p->json, "accuracy", s->accuracy, 0);
        json_number(p->json, "val_loss", s->val_loss, 0);
        json_number(p->json, "val_accuracy", s->val_accuracy, 0);
        json_number(p->json, "seconds", s->seconds, 0);
        json_number(p->json, "eval_seconds", s->eval_seconds, 0);
        json_number(p->json, "lr", s->lr, 0);
        json_number(p->json, "data_wait", s->data_wait, 0);
        if (s->comm_bytes > 0) {
            json_number(p->json, "allreduce_wait", s->comm_wait, 0);
            json_number(p->json, "allreduce_imbalance", s->comm_imbalance, 0);
            json_number(p->json, "allreduce_bytes", s->comm_bytes, 0);
        }
        json_number(p->json, "images_per_second", s->images_per_second, 1);
        fprintf(p->json, "}\n");
        fflush(p->json);
    }
}

/* The test figures, shorter as the terminal narrows. */
static void make_test(char *b, int level, const void *what)
{
    const double *v = what;
    if (level < 3)
        add(b, "%stest_loss: %.4f - ", level == 0 ? "Test set: " : "", v[0]);
    add(b, "%s: %.4f", level < 2 ? "test_accuracy" : "test_acc", v[1]);
}

void cli_progress_test(cli_progress *p, double loss, double accuracy)
{
    double v[2] = {loss, accuracy};
    clear(p);
    fit(p, make_test, 4, v, 1);
    if (p->json) {
        fprintf(p->json, "{");
        json_number(p->json, "test_loss", loss, 0);
        json_number(p->json, "test_accuracy", accuracy, 1);
        fprintf(p->json, "}\n");
        fflush(p->json);
    }
}
