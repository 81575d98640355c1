/* Keras-style training progress and the --log-json writer. */
#define _POSIX_C_SOURCE 200809L
#include "progress.h"

#include <errno.h>
#include <math.h>
#include <string.h>
#include <unistd.h>

#include "../internal.h"

#define BAR_WIDTH 30
#define REDRAW_SECONDS 0.1

void cli_progress_init(cli_progress *p, FILE *out, int32_t epochs, int quiet,
                       const char *json_path, int json_append)
{
    p->json_path = json_path;
    p->json_append = json_append;
    p->json_failed = 0;
    p->out = out;
    p->tty = isatty(fileno(out));
    p->quiet = quiet;
    p->epochs = epochs;
    p->last_draw = 0;
    p->last_tenth = -1;
    p->json = NULL;
    p->net = NULL;
}

/* " - lr: 0.001" when the optimizer has one, into out. */
static void lr_text(const cli_progress *p, char *out, size_t n)
{
    double lr = p->net ? clnet_net_learning_rate(p->net) : NAN;
    if (isfinite(lr))
        snprintf(out, n, " - lr: %.4g", lr);
    else
        out[0] = '\0';
}

int cli_progress_close(cli_progress *p)
{
    int bad = p->json_failed;
    if (p->json && fclose(p->json) != 0)
        bad = 1;
    p->json = NULL;
    return bad;
}

void cli_progress_step(int32_t epoch, int64_t step, int64_t steps, double loss,
                       double accuracy, double seconds, void *user)
{
    cli_progress *p = user;
    if (p->quiet)
        return;
    if (step == 1)
        fprintf(p->out, "Epoch %d/%d\n", epoch, p->epochs);
    if (!p->tty) {
        int64_t tenth = step * 10 / steps;
        if (tenth != p->last_tenth && tenth > 0 && step < steps) {
            p->last_tenth = tenth;
            char lr[32];
            lr_text(p, lr, sizeof lr);
            fprintf(p->out,
                    "%lld/%lld - %.0fs - loss: %.4f - accuracy: %.4f%s\n",
                    (long long)step, (long long)steps, seconds, loss, accuracy,
                    lr);
            fflush(p->out);
        }
        if (step == steps)
            p->last_tenth = -1;
        return;
    }
    double now = clnet_now();
    if (step != steps && now - p->last_draw < REDRAW_SECONDS)
        return;
    p->last_draw = now;
    int filled = (int)(BAR_WIDTH * step / steps);
    char bar[BAR_WIDTH + 1];
    for (int i = 0; i < BAR_WIDTH; i++)
        bar[i] = i < filled ? '=' : i == filled ? '>' : '.';
    bar[BAR_WIDTH] = '\0';
    double eta = seconds / (double)step * (double)(steps - step);
    char lr[32];
    lr_text(p, lr, sizeof lr);
    fprintf(p->out, "\r%lld/%lld [%s] - ETA: %3.0fs - loss: %.4f - accuracy: "
                    "%.4f%s ",
            (long long)step, (long long)steps, bar, eta, loss, accuracy, lr);
    if (step == steps)
        fprintf(p->out, "\r\033[K");
    fflush(p->out);
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
    if (p->quiet)
        fprintf(p->out, "Epoch %d/%d ", s->epoch, p->epochs);
    fprintf(p->out, "%.1fs - %.0f img/s - loss: %.4f - accuracy: %.4f", s->seconds,
            s->images_per_second, s->loss, s->accuracy);
    if (isfinite(s->val_loss))
        fprintf(p->out, " - val_loss: %.4f - val_accuracy: %.4f", s->val_loss,
                s->val_accuracy);
    if (isfinite(s->lr))
        fprintf(p->out, " - lr: %.4g", s->lr);
    fprintf(p->out, " - data wait: %.1f%%\n", 100 * s->data_wait);
    fflush(p->out);
    if (p->json_path && !p->json && !p->json_failed &&
        !(p->json = fopen(p->json_path, p->json_append ? "a" : "w"))) {
        fprintf(stderr, "clnet: cannot write %s: %s\n", p->json_path,
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
        json_number(p->json, "images_per_second", s->images_per_second, 1);
        fprintf(p->json, "}\n");
        fflush(p->json);
    }
}

void cli_progress_test(cli_progress *p, double loss, double accuracy)
{
    fprintf(p->out, "Test set: test_loss: %.4f - test_accuracy: %.4f\n", loss,
            accuracy);
    fflush(p->out);
    if (p->json) {
        fprintf(p->json, "{");
        json_number(p->json, "test_loss", loss, 0);
        json_number(p->json, "test_accuracy", accuracy, 1);
        fprintf(p->json, "}\n");
        fflush(p->json);
    }
}
