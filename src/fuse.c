/* Inference fusion (fuse.h): finding the chains, creating each chain's
 * layer, folding the affine map into its weights, freeing them. The
 * inference pass (train.c) runs a chain's layer in place of its first
 * layer, writes the last one's output and skips the rest. */
#define _POSIX_C_SOURCE 200809L
#include "fuse.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends.h"

/* The index of the `activation` CHOICE setting of a kind, or -1. */
static int activation_setting(const clnet_plugin *kind)
{
    for (int k = 0; k < kind->nsettings; k++)
        if (!strcmp(kind->settings[k].key, "activation") &&
            kind->settings[k].type == CLNET_SET_CHOICE)
            return k;
    return -1;
}

/* The index of word among a CHOICE setting's words (as a topology file
 * would give it), or -1. */
static int choice_index(const clnet_setting_spec *spec, const char *word)
{
    clnet_value v;
    char msg[CLNET_ERRLEN];
    return clnet_parse_value(spec, word, &v, msg, sizeof msg) ? -1 : v.i[0];
}

/* The one layer that reads layer i's output as it is (not through an
 * alias such as flatten), with one input; -1 when none or several. */
static int sole_reader(const clnet_net *net, int i)
{
    if (net->layers[i].readers != 1)
        return -1;
    for (int j = i + 1; j < net->nlayers; j++) {
        const clnet_net_layer *R = &net->layers[j];
        for (int k = 0; k < R->ninputs; k++)
            if (R->inputs[k].named == i)
                return R->ninputs == 1 && R->plugin ? j : -1;
    }
    return -1;
}

/* A chain starting at layer i, into *f; 0 when there is none. */
static int find_chain(const clnet_net *net, int i, clnet_fusion *f)
{
    const clnet_net_layer *P = &net->layers[i];
    int as = P->plugin ? activation_setting(P->kind) : -1;
    if (as < 0 || !P->plan.folds || P->plan.nparams != 2 ||
        P->settings[as].i[0] !=
            choice_index(&P->kind->settings[as], "linear"))
        return 0;
    int b = sole_reader(net, i);
    if (b < 0 || !net->layers[b].plan.affine ||
        net->layers[b].bk != P->bk ||
        !net->layers[b].kind->def.inference_affine)
        return 0;
    *f = (clnet_fusion){.first = i, .affine = b, .act = -1, .last = b};
    memcpy(f->settings, P->settings, sizeof f->settings);
    int a = sole_reader(net, b);
    const clnet_net_layer *A = a >= 0 ? &net->layers[a] : NULL;
    int word = A && A->plan.activation_word && A->bk == P->bk
                   ? choice_index(&P->kind->settings[as],
                                  A->plan.activation_word)
                   : -1;
    if (word >= 0) {
        f->act = f->last = a;
        f->settings[as].i[0] = word;
    }
    return 1;
}

int clnet_net_plan_fusion(clnet_net *net, clnet_error *err)
{
    if (net->fuse_off)
        return CLNET_OK;
    for (int i = 0; i < net->nlayers; i++) {
        clnet_fusion f;
        if (net->layers[i].fused_into || !find_chain(net, i, &f))
            continue;
        clnet_fusion *grown = realloc(net->fusions, sizeof *grown *
                                                        (size_t)(net->nfusions + 1));
        if (!grown)
            return clnet_fail(err, CLNET_E_NOMEM, "out of memory");
        net->fusions = grown;
        clnet_fusion *g = &net->fusions[net->nfusions++];
        *g = f;
        clnet_net_layer *P = &net->layers[i];
        clnet_create_args args = clnet_net_layer_args(net, i);
        args.settings = g->settings;
        args.fuse_softmax_loss = 0;
        char perr[CLNET_ERRLEN] = "";
        if (P->plugin->create(&args, &g->state, perr)) {
            g->state = NULL;
            return clnet_fail(err, CLNET_E_PLUGIN,
                              "%s: its inference chain's layer: %s", P->name,
                              perr);
        }
        void *grads[CLNET_MAX_PARAMS] = {NULL};
        for (int k = 0; k < 2; k++)
            if (!(g->params[k] = clnet_backend_alloc(
                      net, P->bk, P->param_count[k] * sizeof(float), err)))
                return err ? err->status : CLNET_E_NOMEM;
        if (P->plugin->layer.bind &&
            P->plugin->layer.bind(g->state, g->params, grads))
            return clnet_fail(err, CLNET_E_NOMEM,
                              "%s: out of memory for its inference chain",
                              P->name);
        P->fusion = net->nfusions;
        net->layers[g->affine].fused_into = net->nfusions;
        if (g->act >= 0)
            net->layers[g->act].fused_into = net->nfusions;
    }
    return CLNET_OK;
}

/* kernel[..][c] * scale[c], bias[c] * scale[c] + shift[c]: the affine
 * map after the layer, moved into its weights. */
static int fold(clnet_net *net, clnet_fusion *f, clnet_error *err)
{
    const clnet_net_layer *P = &net->layers[f->first];
    const clnet_net_layer *B = &net->layers[f->affine];
    size_t C = (size_t)P->out.c, nk = P->param_count[0];
    size_t total = nk + 3 * C;
    for (int k = 0; k < B->plan.nparams; k++)
        total += B->param_count[k];
    float *buf = malloc(total * sizeof(float));
    if (!buf)
        return clnet_fail(err, CLNET_E_NOMEM, "out of memory");
    float *kernel = buf, *bias = kernel + nk, *scale = bias + C,
          *shift = scale + C, *next = shift + C;
    const float *bp[CLNET_MAX_PARAMS];
    int rc = clnet_net_param_read(net, P, 0, kernel, err);
    if (!rc)
        rc = clnet_net_param_read(net, P, 1, bias, err);
    for (int k = 0; k < B->plan.nparams && !rc; k++) {
        rc = clnet_net_param_read(net, B, k, next, err);
        bp[k] = next;
        next += B->param_count[k];
    }
    char perr[CLNET_ERRLEN] = "";
    if (!rc && B->kind->def.inference_affine(B->settings, bp, (int32_t)C,
                                             scale, shift, perr))
        rc = clnet_fail(err, CLNET_E_PLUGIN, "%s: %s", B->name, perr);
    if (!rc) {
        for (size_t i = 0; i < nk; i++)
            kernel[i] *= scale[i % C];
        for (size_t c = 0; c < C; c++)
            bias[c] = bias[c] * scale[c] + shift[c];
        clnet_backend *b = &net->backends[P->bk];
        float *host[2] = {kernel, bias};
        for (int k = 0; k < 2 && !rc; k++)
            if (b->ops->write(b->ctx, f->params[k], host[k],
                              P->param_count[k] * sizeof(float), perr))
                rc = clnet_fail(err, CLNET_E_IO, "%s: %s", b->name, perr);
    }
    free(buf);
    return rc;
}

int clnet_net_refold(clnet_net *net, clnet_error *err)
{
    if (!net->nfusions || (net->folded && net->folded_step == net->step &&
                           net->folded_writes == net->param_writes))
        return CLNET_OK;
    for (int i = 0; i < net->nfusions; i++) {
        int rc = fold(net, &net->fusions[i], err);
        if (rc)
            return rc;
    }
    net->folded = 1;
    net->folded_step = net->step;
    net->folded_writes = net->param_writes;
    return CLNET_OK;
}

void clnet_net_free_fusion(clnet_net *net)
{
    for (int i = 0; i < net->nfusions; i++) {
        clnet_fusion *f = &net->fusions[i];
        const clnet_net_layer *P = &net->layers[f->first];
        if (f->state)
            P->plugin->destroy(f->state);
        for (int k = 0; k < 2; k++)
            if (f->params[k])
                clnet_backend_release(net, P->bk, f->params[k]);
    }
    free(net->fusions);
    net->fusions = NULL;
    net->nfusions = 0;
}
