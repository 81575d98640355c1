"""A clnet topology file (models/*.net) read in Python and built as the
same network in Keras 3 and in PyTorch, for tools/bench-peers --net.

The line syntax is clnet's: a kind, key=value settings, `#` comments;
name=, inputs= and from= wire branches; one `train` line. Keras's names
and defaults are clnet's own, so the Keras model is a direct translation;
the PyTorch one works in NCHW and pads "same" windows as Keras does
(more at the bottom and right), and applies dense and flatten in NHWC
order so that shapes and parameter counts match.
"""
import math

ACTS = ("linear", "relu", "softmax", "sigmoid", "tanh", "leaky_relu",
        "elu", "gelu", "swish")


def parse(path):
    """[(kind, {settings}, line)], {train settings}"""
    layers, train = [], {}
    for n, raw in enumerate(open(path), 1):
        words = raw.split("#", 1)[0].split()
        if not words:
            continue
        kv = dict(w.split("=", 1) for w in words[1:])
        if words[0] == "train":
            train = kv
        else:
            layers.append((words[0], kv, n))
    return layers, train


def size2(v, default=None):
    if v is None:
        return default
    parts = [int(p) for p in v.split("x")]
    return (parts[0], parts[-1])


def wire(layers):
    """Names each layer as clnet does and lists each one's inputs."""
    names, counts, out = [], {}, []
    for kind, kv, _ in layers:
        counts[kind] = counts.get(kind, 0) + 1
        names.append(kv.get("name", "%s_%d" % (kind, counts[kind])))
    for i, (kind, kv, _) in enumerate(layers):
        if i == 0:
            ins = []
        elif "inputs" in kv:
            ins = [names.index(n) for n in kv["inputs"].split(",")]
        else:
            ins = [i - 1] + ([names.index(n) for n in kv["from"].split(",")]
                             if "from" in kv else [])
        out.append(ins)
    return names, out


def input_shape(layers):
    s = [int(p) for p in layers[0][1]["shape"].split("x")]
    return (s[0], s[1], s[2] if len(s) > 2 else 1)


# ---- Keras ----

def keras_model(path):
    import keras
    from keras import layers as L
    layers, train = parse(path)
    names, ins = wire(layers)
    h, w, c = input_shape(layers)
    t = [None] * len(layers)
    init = lambda kv: kv.get("kernel_initializer", "glorot_uniform")
    for i, (kind, kv, _) in enumerate(layers):
        x = [t[j] for j in ins[i]]
        act = kv.get("activation", "linear")
        nm = names[i]
        if kind == "input":
            t[i] = keras.Input((h, w, c), name=nm)
            continue
        if kind == "conv2d":
            k = size2(kv.get("kernel", kv.get("kernel_size")))
            f = L.Conv2D(int(kv["filters"]), k, strides=size2(kv.get("strides"), 1),
                         padding=kv.get("padding", "valid"), activation=act,
                         dilation_rate=size2(kv.get("dilation"), 1),
                         kernel_initializer=init(kv), name=nm)
        elif kind == "depthwise_conv2d":
            k = size2(kv.get("kernel", kv.get("kernel_size")))
            f = L.DepthwiseConv2D(k, strides=size2(kv.get("strides"), 1),
                                  padding=kv.get("padding", "valid"),
                                  depth_multiplier=int(kv.get("depth_multiplier", 1)),
                                  use_bias=kv.get("use_bias", "true") == "true",
                                  activation=act, name=nm)
        elif kind in ("maxpool2d", "avgpool2d"):
            p = size2(kv.get("pool", kv.get("pool_size")), (2, 2))
            cls = L.MaxPooling2D if kind == "maxpool2d" else L.AveragePooling2D
            f = cls(p, strides=size2(kv.get("strides")) or None,
                    padding=kv.get("padding", "valid"), name=nm)
        elif kind == "global_avgpool2d":
            f = L.GlobalAveragePooling2D(name=nm)
        elif kind == "global_maxpool2d":
            f = L.GlobalMaxPooling2D(name=nm)
        elif kind == "flatten":
            f = L.Flatten(name=nm)
        elif kind == "dense":
            f = L.Dense(int(kv["units"]), activation=act,
                        kernel_initializer=init(kv), name=nm)
        elif kind == "dropout":
            f = L.Dropout(float(kv["rate"]), name=nm)
        elif kind == "batchnorm":
            f = L.BatchNormalization(momentum=float(kv.get("momentum", 0.99)),
                                     epsilon=float(kv.get("epsilon", 1e-3)),
                                     center=kv.get("center", "true") == "true",
                                     scale=kv.get("scale", "true") == "true",
                                     name=nm)
        elif kind == "add":
            f = L.Add(name=nm)
        elif kind == "concat":
            f = L.Concatenate(name=nm)
        elif kind == "leaky_relu":
            f = L.LeakyReLU(float(kv.get("alpha", kv.get("negative_slope", 0.3))),
                            name=nm)
        elif kind == "elu":
            f = L.ELU(float(kv.get("alpha", 1.0)), name=nm)
        elif kind == "gelu":
            f = L.Activation(lambda v, a=kv.get("approximate", "false") == "true":
                             keras.activations.gelu(v, approximate=a), name=nm)
        elif kind in ACTS:
            f = L.Activation(kind, name=nm)
        else:
            raise SystemExit("%s: no Keras translation of '%s'" % (path, kind))
        t[i] = f(x if kind in ("add", "concat") else x[0])
    model = keras.Model(t[0], t[-1])
    return model, train


def keras_schedule(train, lr, steps, epochs):
    """The train line's schedule= as Keras's own schedule objects (counted
    in updates, as clnet's); lr itself for constant. steps: updates an
    epoch. Raises ValueError for a schedule Keras has no object for."""
    import keras
    kind = train.get("schedule", "constant")
    warm = float(train.get("warmup", 0)) * steps
    if kind == "constant" and not warm:
        return lr
    if kind == "cosine":
        decay = (epochs * steps) - warm
        alpha = float(train.get("alpha", 0))
        if warm:
            return keras.optimizers.schedules.CosineDecay(
                0.0, int(decay), alpha=alpha, warmup_target=lr,
                warmup_steps=int(warm))
        return keras.optimizers.schedules.CosineDecay(lr, int(decay),
                                                      alpha=alpha)
    if kind == "exponential" and not warm:
        return keras.optimizers.schedules.ExponentialDecay(
            lr, steps, float(train.get("decay", 0.9)))
    raise ValueError("schedule=%s%s has no Keras object here" %
                     (kind, " with warmup" if warm else ""))


def keras_optimizer(train, steps=None, epochs=None):
    """The train line's optimizer; with steps (updates an epoch) and
    epochs, its learning-rate schedule too."""
    import keras
    lr = float(train.get("lr", train.get("learning_rate", 0.001)))
    if steps:
        lr = keras_schedule(train, lr, steps, epochs)
    clip = {k: float(train[k]) for k in ("clipnorm", "global_clipnorm")
            if k in train}
    kind = train.get("optimizer", "adam")
    f = lambda k, d: float(train.get(k, d))
    if kind == "sgd":
        return keras.optimizers.SGD(
            lr, momentum=f("momentum", 0),
            nesterov=train.get("nesterov", "false") == "true",
            weight_decay=f("weight_decay", 0) or None, **clip)
    if kind == "rmsprop":
        return keras.optimizers.RMSprop(
            lr, rho=f("rho", 0.9), momentum=f("momentum", 0),
            epsilon=f("epsilon", 1e-7),
            centered=train.get("centered", "false") == "true", **clip)
    if kind not in ("adam", "adamw"):
        raise ValueError("optimizer=%s is not built in tools/topology.py"
                         % kind)
    cls = keras.optimizers.AdamW if kind == "adamw" else keras.optimizers.Adam
    extra = {"weight_decay": f("weight_decay", 0.004)} if kind == "adamw" \
        else {}
    return cls(lr, beta_1=f("beta1", 0.9), beta_2=f("beta2", 0.999),
               epsilon=f("epsilon", 1e-7), **extra, **clip)


# ---- PyTorch ----

def _same_pads(size, k, s, d=1):
    """Keras's "same": (before, after), more after."""
    ke = d * (k - 1) + 1
    out = math.ceil(size / s)
    total = max((out - 1) * s + ke - size, 0)
    return total // 2, total - total // 2


def torch_model(path):
    import torch
    from torch import nn
    import torch.nn.functional as F
    layers, train = parse(path)
    names, ins = wire(layers)
    h, w, c = input_shape(layers)

    def act_fn(a):
        return {"linear": lambda v: v, "relu": F.relu,
                "softmax": lambda v: v,  # the loss takes logits
                "sigmoid": torch.sigmoid, "tanh": torch.tanh,
                "leaky_relu": lambda v: F.leaky_relu(v, 0.2), "elu": F.elu,
                "gelu": F.gelu, "swish": F.silu}[a]

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.mods = nn.ModuleList()
            self.plan = []  # (kind, module index or None, extra)
            shapes = [None] * len(layers)  # (C, H, W) or (features,)
            for i, (kind, kv, _) in enumerate(layers):
                x = [shapes[j] for j in ins[i]]
                extra = {"act": act_fn(kv.get("activation", "linear"))}
                mod = None
                if kind == "input":
                    out = (c, h, w)
                elif kind in ("conv2d", "depthwise_conv2d"):
                    k = size2(kv.get("kernel", kv.get("kernel_size")))
                    s = size2(kv.get("strides"), (1, 1))
                    d = size2(kv.get("dilation"), (1, 1))
                    C, H, W = x[0]
                    if kind == "conv2d":
                        F_out, groups = int(kv["filters"]), 1
                    else:
                        F_out = C * int(kv.get("depth_multiplier", 1))
                        groups = C
                    bias = kv.get("use_bias", "true") == "true"
                    mod = nn.Conv2d(C, F_out, k, s, dilation=d, groups=groups,
                                    bias=bias)
                    if kv.get("padding", "valid") == "same":
                        pt, pb = _same_pads(H, k[0], s[0], d[0])
                        pl, pr = _same_pads(W, k[1], s[1], d[1])
                        extra["pad"] = (pl, pr, pt, pb)
                        H, W = math.ceil(H / s[0]), math.ceil(W / s[1])
                    else:
                        H = (H - d[0] * (k[0] - 1) - 1) // s[0] + 1
                        W = (W - d[1] * (k[1] - 1) - 1) // s[1] + 1
                    out = (F_out, H, W)
                elif kind in ("maxpool2d", "avgpool2d"):
                    p = size2(kv.get("pool", kv.get("pool_size")), (2, 2))
                    s = size2(kv.get("strides")) or p
                    C, H, W = x[0]
                    extra.update(pool=p, stride=s, max=kind == "maxpool2d")
                    if kv.get("padding", "valid") == "same":
                        extra["pad"] = _same_pads(W, p[1], s[1]) + \
                            _same_pads(H, p[0], s[0])
                        H, W = math.ceil(H / s[0]), math.ceil(W / s[1])
                    else:
                        H, W = (H - p[0]) // s[0] + 1, (W - p[1]) // s[1] + 1
                    out = (C, H, W)
                elif kind in ("global_avgpool2d", "global_maxpool2d"):
                    out = (x[0][0],)
                elif kind == "flatten":
                    out = (math.prod(x[0]),)
                elif kind == "dense":
                    mod = nn.Linear(x[0][0] if len(x[0]) == 3 else x[0][-1],
                                    int(kv["units"]))
                    out = (int(kv["units"]),) + tuple(x[0][1:]) \
                        if len(x[0]) == 3 else (int(kv["units"]),)
                elif kind == "dropout":
                    mod = nn.Dropout(float(kv["rate"]))
                    out = x[0]
                elif kind == "batchnorm":
                    mod = nn.BatchNorm2d(x[0][0], eps=float(kv.get("epsilon", 1e-3)),
                                         momentum=1 - float(kv.get("momentum", 0.99)))
                    out = x[0]
                elif kind == "concat":
                    out = (sum(s[0] for s in x),) + tuple(x[0][1:])
                else:
                    out = x[0]
                    if kind in ("leaky_relu", "elu"):
                        extra["alpha"] = float(kv.get("alpha", kv.get(
                            "negative_slope", 0.3 if kind == "leaky_relu" else 1.0)))
                shapes[i] = out
                if mod is not None:
                    self.mods.append(mod)
                self.plan.append((kind, len(self.mods) - 1 if mod is not None
                                  else None, extra))

        def forward(self, x):
            t = []
            for i, (kind, m, e) in enumerate(self.plan):
                xs = [t[j] for j in ins[i]]
                v = xs[0] if xs else x
                if kind in ("conv2d", "depthwise_conv2d"):
                    if "pad" in e:
                        v = F.pad(v, e["pad"])
                    v = e["act"](self.mods[m](v))
                elif kind in ("maxpool2d", "avgpool2d"):
                    if "pad" in e:
                        # padding never wins a max and is left out of
                        # averages, as Keras does
                        v = F.pad(v, e["pad"], value=-math.inf if e["max"]
                                  else 0.0)
                    if e["max"]:
                        v = F.max_pool2d(v, e["pool"], e["stride"])
                    else:
                        ones = torch.ones_like(v[:1, :1])
                        if "pad" in e:
                            ones = F.pad(torch.ones_like(xs[0][:1, :1]), e["pad"])
                        v = F.avg_pool2d(v, e["pool"], e["stride"]) / \
                            F.avg_pool2d(ones, e["pool"], e["stride"])
                elif kind == "global_avgpool2d":
                    v = v.mean((2, 3))
                elif kind == "global_maxpool2d":
                    v = v.amax((2, 3))
                elif kind == "flatten":
                    v = v.permute(0, 2, 3, 1).flatten(1) if v.dim() == 4 else v
                elif kind == "dense":
                    if v.dim() == 4:
                        v = self.mods[m](v.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
                    else:
                        v = self.mods[m](v)
                    v = e["act"](v)
                elif kind in ("dropout", "batchnorm"):
                    v = self.mods[m](v)
                elif kind == "add":
                    v = sum(xs)
                elif kind == "concat":
                    v = torch.cat(xs, 1)
                elif kind == "relu":
                    v = F.relu(v)
                elif kind == "leaky_relu":
                    v = F.leaky_relu(v, e["alpha"])
                elif kind == "elu":
                    v = F.elu(v, e["alpha"])
                elif kind in ("sigmoid", "tanh", "gelu", "swish"):
                    v = act_fn(kind)(v)
                elif kind in ("input", "softmax", "linear"):
                    pass
                else:
                    raise SystemExit("%s: no PyTorch translation of '%s'"
                                     % (path, kind))
                t.append(v)
            return t[-1]

    return Net(), train


def torch_optimizer(model, train):
    import torch
    lr = float(train.get("lr", train.get("learning_rate", 0.001)))
    kind = train.get("optimizer", "adam")
    f = lambda k, d: float(train.get(k, d))
    if kind == "sgd":
        # PyTorch's nesterov is Keras's; its weight_decay is L2 in the
        # gradient, not Keras's decoupled decay, so it is refused here
        if f("weight_decay", 0):
            raise ValueError("sgd weight_decay has no PyTorch equal")
        return torch.optim.SGD(model.parameters(), lr,
                               momentum=f("momentum", 0),
                               nesterov=train.get("nesterov", "false") == "true")
    if kind == "rmsprop":
        # PyTorch's eps sits outside the square root, Keras's inside
        return torch.optim.RMSprop(model.parameters(), lr, alpha=f("rho", 0.9),
                                   eps=f("epsilon", 1e-7),
                                   momentum=f("momentum", 0),
                                   centered=train.get("centered", "false") ==
                                   "true")
    if kind not in ("adam", "adamw"):
        raise ValueError("optimizer=%s is not built in tools/topology.py"
                         % kind)
    betas = (f("beta1", 0.9), f("beta2", 0.999))
    if kind == "adamw":
        return torch.optim.AdamW(model.parameters(), lr, betas=betas,
                                 eps=f("epsilon", 1e-7),
                                 weight_decay=f("weight_decay", 0.004))
    return torch.optim.Adam(model.parameters(), lr, betas=betas,
                            eps=f("epsilon", 1e-7))
