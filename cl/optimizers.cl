/* Parameter updates, one work-item per parameter; the step-dependent
 * factors are computed on the host, as the CPU plugins do. */

/* Adam, Keras's form: w -= decay w (AdamW's decoupled weight decay,
 * decay = lr weight_decay; 0 for Adam, which leaves its arithmetic as it
 * is); m += (g - m) c1; v += (g^2 - v) c2; w -= alpha m / (sqrt(v) + eps) */
__kernel void adam_update(__global float *w, __global const float *g,
                          __global float *m, __global float *v,
                          const float alpha, const float c1, const float c2,
                          const float eps, const float decay, const int n)
{
    const int i = get_global_id(0);
    if (i >= n)
        return;
    float wi = w[i];
    if (decay != 0.0f)
        wi -= wi * decay;
    const float gi = g[i];
    const float mi = m[i] + (gi - m[i]) * c1;
    const float vi = v[i] + (gi * gi - v[i]) * c2;
    m[i] = mi;
    v[i] = vi;
    w[i] = wi - alpha * mi / (sqrt(vi) + eps);
}

/* SGD, Keras's form: w -= decay w (decay = lr weight_decay); then
 * v = mu v - lr g; w += v, or with nesterov w += mu v - lr g (new v).
 * Without decay and nesterov it is the plain momentum step, bit for bit. */
__kernel void sgd_update(__global float *w, __global const float *g,
                         __global float *v, const float lr, const float mu,
                         const float decay, const int nesterov, const int n)
{
    const int i = get_global_id(0);
    if (i >= n)
        return;
    float wi = w[i];
    if (decay != 0.0f)
        wi -= wi * decay;
    const float vi = mu * v[i] - lr * g[i];
    v[i] = vi;
    w[i] = wi + (nesterov ? mu * vi - lr * g[i] : vi);
}

/* RMSprop in Keras's order: v = rho v + c g^2 (c = 1 - rho); centered:
 * a = rho a + c g and d = v - a^2 + eps, else d = v + eps;
 * inc = lr g / sqrt(d); with momentum m = mu m + inc, w -= m, else
 * w -= inc. m and a are only touched when their setting is on. */
__kernel void rmsprop_update(__global float *w, __global const float *g,
                             __global float *v, __global float *m,
                             __global float *a, const float lr,
                             const float rho, const float c, const float mu,
                             const float eps, const int centered,
                             const int with_momentum, const int n)
{
    const int i = get_global_id(0);
    if (i >= n)
        return;
    const float gi = g[i];
    const float vi = rho * v[i] + c * (gi * gi);
    v[i] = vi;
    float d;
    if (centered) {
        const float ai = rho * a[i] + c * gi;
        a[i] = ai;
        d = vi - ai * ai + eps;
    } else {
        d = vi + eps;
    }
    const float inc = lr * gi / sqrt(d);
    if (with_momentum) {
        const float mi = mu * m[i] + inc;
        m[i] = mi;
        w[i] -= mi;
    } else {
        w[i] -= inc;
    }
}
