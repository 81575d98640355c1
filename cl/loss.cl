/* Sparse categorical cross-entropy with the accuracy count, in one
 * work-group: each work-item takes samples i, i + WG, ... and writes their
 * gradient; the loss and the hit count are reduced in local memory and
 * work-item 0 writes them to out[0] and out[1], so only two numbers go
 * back to the host. Keras's clipping of probabilities to [1e-7, 1 - 1e-7].
 * With label smoothing ls the target is Keras's (1 - ls) onehot +
 * ls / classes; ls = 0 keeps the one-hot arithmetic as it was. */
#define CLIP_EPS 1e-7f

__kernel void scce(__global const float *pred, __global const int *labels,
                   const int batch, const int classes, const int fused,
                   const int want_grad, const float smoothing,
                   __global float *dpred, __global float *out,
                   __local float *part_loss, __local int *part_hits)
{
    const int lid = get_local_id(0), wg = get_local_size(0);
    const float inv_n = 1.0f / (float)batch;
    /* the target: lo everywhere, lo + hi at the label */
    const float lo = smoothing / (float)classes, hi = 1.0f - smoothing;
    float loss = 0.0f;
    int hits = 0;
    for (int b = lid; b < batch; b += wg) {
        __global const float *p = pred + b * classes;
        const int y = labels[b];
        int best = 0;
        for (int c = 1; c < classes; c++)
            if (p[c] > p[best])
                best = c;
        hits += best == y;
        const float py = p[y];
        const float clipped = clamp(py, CLIP_EPS, 1.0f - CLIP_EPS);
        __global float *d = dpred + b * classes;
        if (smoothing == 0.0f) {
            loss -= log(clipped);
        } else {
            for (int c = 0; c < classes; c++) {
                const float t = c == y ? lo + hi : lo;
                const float pc = clamp(p[c], CLIP_EPS, 1.0f - CLIP_EPS);
                loss -= t * log(pc);
                /* where the clip holds p, the loss does not move with it */
                if (want_grad && !fused)
                    d[c] = p[c] == pc ? -(t * inv_n) / pc : 0.0f;
            }
        }
        if (!want_grad)
            continue;
        if (fused) {
            for (int c = 0; c < classes; c++)
                d[c] = p[c] * inv_n - lo * inv_n;
            d[y] -= hi * inv_n;
        } else if (smoothing == 0.0f) {
            for (int c = 0; c < classes; c++)
                d[c] = 0.0f;
            if (py == clipped)
                d[y] = -inv_n / clipped;
        }
    }
    part_loss[lid] = loss;
    part_hits[lid] = hits;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int s = wg / 2; s > 0; s /= 2) {
        if (lid < s) {
            part_loss[lid] += part_loss[lid + s];
            part_hits[lid] += part_hits[lid + s];
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (lid == 0) {
        out[0] = part_loss[0];
        out[1] = (float)part_hits[0];
    }
}
