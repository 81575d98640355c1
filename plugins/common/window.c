/* Sliding-window geometry and the convolution plan; see window.h. */
#include "window.h"

#include <stdio.h>

int window_geometry(clnet_shape in, int32_t kh, int32_t kw, int32_t sh,
                    int32_t sw, int same, const char *what, clnet_window *g,
                    char *err)
{
    g->H = in.h;
    g->W = in.w;
    g->C = in.c;
    g->KH = kh;
    g->KW = kw;
    g->SH = sh;
    g->SW = sw;
    if (!same && (kh > in.h || kw > in.w)) {
        snprintf(err, CLNET_ERRLEN,
                 "%s %dx%d is larger than its %dx%dx%d input%s", what, kh, kw,
                 in.h, in.w, in.c,
                 what[0] == 'k' ? "; use a smaller kernel or padding=same"
                                : "");
        return -1;
    }
    /* 64 bits: in.h + sh - 1 passes INT32_MAX for the tallest inputs */
    int64_t oh = same ? ((int64_t)in.h + sh - 1) / sh
                      : ((int64_t)in.h - kh) / sh + 1;
    int64_t ow = same ? ((int64_t)in.w + sw - 1) / sw
                      : ((int64_t)in.w - kw) / sw + 1;
    g->OH = (int32_t)oh;
    g->OW = (int32_t)ow;
    int64_t th = (oh - 1) * sh + kh - in.h, tw = (ow - 1) * sw + kw - in.w;
    g->PT = same && th > 0 ? (int32_t)(th / 2) : 0;
    g->PL = same && tw > 0 ? (int32_t)(tw / 2) : 0;
    return 0;
}

clnet_window window_transposed(const clnet_window *g, int32_t F)
{
    return (clnet_window){.H = g->OH, .W = g->OW, .C = F, .KH = g->KH,
                          .KW = g->KW, .SH = 1, .SW = 1, .OH = g->H,
                          .OW = g->W, .PT = g->KH - 1 - g->PT,
                          .PL = g->KW - 1 - g->PL};
}
