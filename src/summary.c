/* The Keras-style table `clnet summary` prints, with the memory plan. */
#include <stdio.h>
#include <string.h>

#include "net.h"

static void group_thousands(int64_t v, char *buf, size_t len)
{
    char digits[32];
    snprintf(digits, sizeof digits, "%lld", (long long)v);
    size_t n = strlen(digits), o = 0;
    for (size_t i = 0; i < n && o + 1 < len; i++) {
        if (i > 0 && (n - i) % 3 == 0 && o + 1 < len)
            buf[o++] = ',';
        buf[o++] = digits[i];
    }
    buf[o] = '\0';
}

/* Keras 3's readable_memory_size: "1.07 MB". */
static void keras_size(double bytes, char *buf, size_t len)
{
    static const char *units[] = {"B", "KB", "MB", "GB", "TB", "PB"};
    int u = 0;
    while (u < 5 && bytes / 1024 >= 1) {
        bytes /= 1024;
        u++;
    }
    snprintf(buf, len, "%.2f %s", bytes, units[u]);
}

/* Whether some layer reads other than the line above it: the table then
 * has Keras's "Connected to" column, as for a functional model. */
static int branches(const clnet_net *net)
{
    for (int i = 1; i < net->nlayers; i++)
        if (net->layers[i].ninputs != 1 ||
            net->layers[i].inputs[0].named != i - 1)
            return 1;
    return 0;
}

static void connected_to(const clnet_net *net, const clnet_net_layer *L,
                         char *buf, size_t len)
{
    buf[0] = '\0';
    for (int k = 0; k < L->ninputs; k++) {
        size_t used = strlen(buf);
        snprintf(buf + used, len - used, "%s%s", k ? ", " : "",
                 net->layers[L->inputs[k].named].name);
    }
}

int clnet_net_summary(const clnet_net *net, FILE *out, clnet_error *err)
{
    if (!net || !out)
        return clnet_fail(err, CLNET_E_ARG, "clnet_net_summary: NULL argument");
    const char *rule = "==========================================="
                       "===========================================";
    int graph = branches(net);
    fprintf(out, "Model: \"%s\"\n", net->file);
    /* where each layer's backend was chosen, as wide as the longest */
    int wc = 9;
    for (int i = 0; i < net->nlayers; i++) {
        int n = (int)strlen(net->layers[i].chosen_by);
        wc = n > wc ? n : wc;
    }
    fprintf(out, "%-28s %-22s %12s  %-24s  %-*s%s\n", "Layer (type)",
            "Output Shape", "Param #", "Backend/implementation", graph ? wc : 0,
            "Chosen by", graph ? "  Connected to" : "");
    fprintf(out, "%s\n", rule);
    int fallbacks = 0;
    for (int i = 0; i < net->nlayers; i++) {
        const clnet_net_layer *L = &net->layers[i];
        char label[96], shape[48], params[32], impl[128], conn[256];
        snprintf(label, sizeof label, "%s (%s)", L->name, L->kind->kind);
        if (L->out.h == 1 && L->out.w == 1)
            snprintf(shape, sizeof shape, "(None, %d)", L->out.c);
        else
            snprintf(shape, sizeof shape, "(None, %d, %d, %d)", L->out.h,
                     L->out.w, L->out.c);
        size_t np = 0;
        for (int k = 0; k < L->plan.nparams; k++)
            np += L->param_count[k];
        group_thousands((int64_t)np, params, sizeof params);
        if (L->plugin)
            snprintf(impl, sizeof impl, "%s/%s%s", L->plugin->backend,
                     L->plugin->impl, L->fallback ? " (fallback)" : "");
        else
            snprintf(impl, sizeof impl, "%s (its input's buffer)",
                     net->backends[L->bk].name);
        fallbacks += L->fallback;
        connected_to(net, L, conn, sizeof conn);
        const char *by = L->chosen_by[0] ? L->chosen_by : "default";
        if (graph)
            fprintf(out, "%-28s %-22s %12s  %-24s  %-*s  %s\n", label, shape,
                    params, impl, wc, by, conn);
        else
            fprintf(out, "%-28s %-22s %12s  %-24s  %s\n", label, shape,
                    params, impl, by);
    }
    char total[32], trainable[32], frozen[32], sz[3][32];
    size_t nt = net->total_params - net->trainable_params;
    group_thousands((int64_t)net->total_params, total, sizeof total);
    group_thousands((int64_t)net->trainable_params, trainable,
                    sizeof trainable);
    group_thousands((int64_t)nt, frozen, sizeof frozen);
    keras_size(4.0 * (double)net->total_params, sz[0], sizeof sz[0]);
    keras_size(4.0 * (double)net->trainable_params, sz[1], sizeof sz[1]);
    keras_size(4.0 * (double)nt, sz[2], sizeof sz[2]);
    fprintf(out, "%s\n", rule);
    fprintf(out, "Total params: %s (%s)\n", total, sz[0]);
    fprintf(out, "Trainable params: %s (%s)\n", trainable, sz[1]);
    fprintf(out, "Non-trainable params: %s (%s)\n", frozen, sz[2]);
    if (net->nfusions) {
        fprintf(out, "Fused in inference, one call each, batchnorm folded "
                     "into the weights (--no-fuse: apart):\n ");
        for (int f = 0; f < net->nfusions; f++) {
            const clnet_fusion *c = &net->fusions[f];
            fprintf(out, "%s %s + %s%s%s", f ? "," : "",
                    net->layers[c->first].name, net->layers[c->affine].name,
                    c->act >= 0 ? " + " : "",
                    c->act >= 0 ? net->layers[c->act].name : "");
        }
        fprintf(out, "\n");
    }
    int in_place = 0;
    for (int i = 0; i < net->nlayers; i++) {
        const clnet_net_layer *L = &net->layers[i];
        if (!L->in_place)
            continue;
        if (!in_place++)
            fprintf(out, "Written over their input, in place (each input's "
                         "only reader; keep_outputs: apart):\n ");
        fprintf(out, "%s %s over %s", in_place > 1 ? "," : "", L->name,
                net->layers[L->inputs[0].src].name);
    }
    if (in_place)
        fprintf(out, "\n");
    if (fallbacks)
        fprintf(out, "(fallback): the chosen backend has no implementation of "
                     "the kind, so the layer runs on the native CPU, with "
                     "copies in between; --strict refuses this\n");
    char sched[96];
    clnet_schedule_describe(&net->schedule, sched, sizeof sched);
    fprintf(out, "Training: optimizer %s, loss %s (%s)%s, batch %d, epochs "
                 "%d, learning-rate schedule %s\n",
            net->optimizer_kind, net->loss->kind, net->loss->backend,
            net->fused ? ", fused with the final softmax" : "",
            net->default_batch, net->default_epochs, sched);
    for (int b = 0; b < net->nbackends; b++)
        fprintf(out, "Device: %s:%d %s\n", net->backends[b].name,
                net->backends[b].index, net->backends[b].info.name);
    /* the plan clnet_net_build checked, without the plugins' own
     * workspace (the plugin ABI does not report it) */
    for (int m = 0; m < net->nmem; m++) {
        const clnet_mem_need *n = &net->mem[m];
        char total[32], limit[32], p[32], g[32], s[32], a[32], o[32];
        clnet_format_bytes(n->total, total, sizeof total);
        clnet_format_bytes(n->limit, limit, sizeof limit);
        clnet_format_bytes(n->params, p, sizeof p);
        clnet_format_bytes(n->grads, g, sizeof g);
        clnet_format_bytes(n->slots, s, sizeof s);
        clnet_format_bytes(n->acts, a, sizeof a);
        clnet_format_bytes(n->stage + n->host + n->eval, o, sizeof o);
        fprintf(out, "Memory: %s on %s at batch %d (parameters %s, "
                     "gradients %s, optimizer state %s, activations %s, "
                     "staging, batch and evaluation buffers %s); limit %s "
                     "(%s)\n",
                total, n->where, net->max_batch, p, g, s, a, o, limit,
                n->limit_from);
    }
    return CLNET_OK;
}
