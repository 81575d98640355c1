/* Sliding-window geometry and the convolution plan; see window.h. */
#include "window.h"

#include <stdio.h>

int window_geometry(clnet_shape in, int32_t kh, int32_t kw, int32_t sh,
                    int32_t sw, int same, const char *what, clnet_window *g,
                    char *err)
{
    return window_geometry_dilated(in, kh, kw, sh, sw, 1, 1, same, what, g,
                                   err);
}

int window_geometry_dilated(clnet_shape in, int32_t kh, int32_t kw,
                            int32_t sh, int32_t sw, int32_t dh, int32_t dw,
                            int same, const char *what, clnet_window *g,
                            char *err)
{
    g->H = in.h;
    g->W = in.w;
    g->C = in.c;
    g->KH = kh;
    g->KW = kw;
    g->SH = sh;
    g->SW = sw;
    g->DH = dh;
    g->DW = dw;
    /* the span of the dilated window, in 64 bits (1024 x 1024 at most) */
    int64_t eh = (int64_t)dh * (kh - 1) + 1, ew = (int64_t)dw * (kw - 1) + 1;
    if (!same && (eh > in.h || ew > in.w)) {
        if (dh == 1 && dw == 1)
            snprintf(err, CLNET_ERRLEN,
                     "%s %dx%d is larger than its %dx%dx%d input%s", what,
                     kh, kw, in.h, in.w, in.c,
                     what[0] == 'k' ? "; use a smaller kernel or "
                                      "padding=same"
                                    : "");
        else
            snprintf(err, CLNET_ERRLEN,
                     "%s %dx%d dilated %dx%d spans %lldx%lld, more than its "
                     "%dx%dx%d input; use a smaller dilation or "
                     "padding=same",
                     what, kh, kw, dh, dw, (long long)eh, (long long)ew, in.h,
                     in.w, in.c);
        return -1;
    }
    kh = (int32_t)eh;
    kw = (int32_t)ew;
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
                          .PL = g->KW - 1 - g->PL, .DH = 1, .DW = 1};
}
