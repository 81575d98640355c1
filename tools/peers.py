"""Side-by-side benchmark of a clnet topology (--net, default the seed
model models/mnist.net) in clnet, PyTorch and Keras 3 on TensorFlow, on
this machine, in one run.

Run through tools/bench-peers, which provides the frameworks. Every
framework trains the same network, built from the topology file by
tools/topology.py, with the train line's optimizer, on the real images
of --data (MNIST or Fashion-MNIST, IDX files), with the same batch and
thread count; images/s are measured after warm-up steps.
"""
import argparse
import gzip
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

import topology

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLNET = os.path.join(ROOT, "build", "clnet")
NET = os.path.join(ROOT, "models", "mnist.net")


def load(data, prefix):
    def read(name, offset):
        path = os.path.join(data, name)
        opener = gzip.open if os.path.exists(path + ".gz") else open
        with opener(path + (".gz" if opener is gzip.open else ""), "rb") as f:
            return np.frombuffer(f.read(), np.uint8, offset=offset)
    raw = read(prefix + "-images-idx3-ubyte", 0)
    rows, cols = int.from_bytes(raw[8:12], "big"), int.from_bytes(raw[12:16], "big")
    x = raw[16:].reshape(-1, rows, cols, 1)
    y = read(prefix + "-labels-idx1-ubyte", 8).astype(np.int64)
    return x, y


def clnet_bench(device, args):
    with tempfile.NamedTemporaryFile(suffix=".json") as f:
        subprocess.run([CLNET, "bench", NET, "--device", device, "--steps",
                        str(args.steps), "--batch", str(args.batch),
                        "--threads", str(args.threads), "--json", f.name],
                       check=True, stdout=subprocess.DEVNULL)
        train = json.load(open(f.name))["results"][0]["train_images_per_second"]
        subprocess.run([CLNET, "bench", NET, "--device", device, "--steps",
                        str(max(3, args.steps // 4)), "--batch", "1000",
                        "--threads", str(args.threads), "--json", f.name],
                       check=True, stdout=subprocess.DEVNULL)
        infer = json.load(open(f.name))["results"][0]["infer_images_per_second"]
    return train, infer


def clnet_params():
    out = subprocess.run([CLNET, "summary", NET], check=True,
                         capture_output=True, text=True).stdout
    for line in out.splitlines():
        if line.startswith("Total params:"):
            return int(line.split()[2].replace(",", ""))
    return None


def clnet_time_to(device, args, target):
    with tempfile.TemporaryDirectory() as d:
        log = os.path.join(d, "log.json")
        subprocess.run([CLNET, "train", NET, "--device", device, "--data",
                        args.data, "--threads", str(args.threads), "--epochs",
                        str(args.max_epochs), "--stop-at", str(target),
                        "--quiet", "--log-json", log, "--out",
                        os.path.join(d, "m.ckpt")],
                       check=True, stdout=subprocess.DEVNULL)
        total = 0.0
        for line in open(log):
            e = json.loads(line)
            total += e["seconds"] + e.get("eval_seconds", 0.0)
            if e["val_accuracy"] >= target:
                return total, e["epoch"]
    return None, args.max_epochs


def torch_bench(args, xtr, ytr, xte, yte, target):
    import torch
    torch.set_num_threads(args.threads)
    torch.manual_seed(1)
    model, train_line = topology.torch_model(NET)
    opt = topology.torch_optimizer(model, train_line)
    lossf = torch.nn.CrossEntropyLoss()
    x = torch.from_numpy(xtr.transpose(0, 3, 1, 2).astype(np.float32) / 255)
    y = torch.from_numpy(ytr)
    xt = torch.from_numpy(xte.transpose(0, 3, 1, 2).astype(np.float32) / 255)

    def step(i):
        s = (i * args.batch) % (len(x) - args.batch)
        opt.zero_grad()
        loss = lossf(model(x[s:s + args.batch]), y[s:s + args.batch])
        loss.backward()
        opt.step()

    model.train()
    for i in range(3):
        step(i)
    t = time.time()
    for i in range(args.steps):
        step(i)
    train = args.steps * args.batch / (time.time() - t)
    model.eval()
    with torch.no_grad():
        model(xt[:1000])
        n = max(3, args.steps // 4)
        t = time.time()
        for i in range(n):
            model(xt[(i % 10) * 1000:(i % 10 + 1) * 1000])
        infer = n * 1000 / (time.time() - t)
    result = {"train": train, "infer": infer,
              "params": sum(p.numel() for p in model.parameters()) +
              sum(b.numel() for n, b in model.named_buffers()
                  if n.endswith(("running_mean", "running_var")))}
    if target:
        torch.manual_seed(1)
        model, _ = topology.torch_model(NET)
        opt = topology.torch_optimizer(model, train_line)
        total, epoch = 0.0, 0
        while epoch < args.max_epochs:
            epoch += 1
            t = time.time()
            model.train()
            perm = torch.randperm(len(x))
            for s in range(0, len(x), args.batch):
                idx = perm[s:s + args.batch]
                opt.zero_grad()
                lossf(model(x[idx]), y[idx]).backward()
                opt.step()
            model.eval()
            with torch.no_grad():
                pred = torch.cat([model(xt[i:i + 1000]).argmax(1)
                                  for i in range(0, len(xt), 1000)])
            total += time.time() - t
            acc = (pred.numpy() == yte).mean()
            if acc >= target:
                break
        result["time_to"] = total if acc >= target else None
        result["epochs_to"] = epoch
    return result


def keras_bench(args, xtr, ytr, xte, yte, target):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf
    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    import keras

    def model():
        keras.utils.set_random_seed(1)
        m, train_line = topology.keras_model(NET)
        m.compile(optimizer=topology.keras_optimizer(train_line),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        return m

    x = xtr.astype(np.float32) / 255
    xt = xte.astype(np.float32) / 255
    m = model()
    m.fit(x[:3 * args.batch], ytr[:3 * args.batch], batch_size=args.batch,
          epochs=1, verbose=0)
    n = args.steps * args.batch
    t = time.time()
    m.fit(x[:n], ytr[:n], batch_size=args.batch, epochs=1, verbose=0,
          shuffle=False)
    train = n / (time.time() - t)
    m.predict(xt[:1000], batch_size=1000, verbose=0)
    k = max(3, args.steps // 4)
    t = time.time()
    m.predict(xt[:1000 * min(k, 10)], batch_size=1000, verbose=0)
    infer = 1000 * min(k, 10) / (time.time() - t)
    result = {"train": train, "infer": infer, "params": m.count_params()}
    if target:
        m = model()
        total, epoch = 0.0, 0
        while epoch < args.max_epochs:
            epoch += 1
            t = time.time()
            h = m.fit(x, ytr, batch_size=args.batch, epochs=1, verbose=0,
                      validation_data=(xt, yte))
            total += time.time() - t
            if h.history["val_accuracy"][-1] >= target:
                break
        ok = h.history["val_accuracy"][-1] >= target
        result["time_to"] = total if ok else None
        result["epochs_to"] = epoch
    return result


def augment(x, train_line, rng):
    """The train line's random_crop, translate and flip as clnet draws
    them (src/augment.c): per image a zero-filled shift of up to crop +
    round(translate * size) pixels each way and a left-right flip with
    probability 1/2; numpy's generator, so the same distribution, not the
    same draws. x: N x H x W x C bytes."""
    crop = int(train_line.get("random_crop", 0))
    tr = float(train_line.get("translate", 0))
    flip = train_line.get("flip", "none") == "horizontal"
    if not crop and not tr and not flip:
        return x
    n, h, w, _ = x.shape
    ty, tx = int(tr * h + 0.5), int(tr * w + 0.5)
    dy = rng.integers(-crop, crop + 1, n) + rng.integers(-ty, ty + 1, n)
    dx = rng.integers(-crop, crop + 1, n) + rng.integers(-tx, tx + 1, n)
    fl = rng.integers(0, 2, n) if flip else np.zeros(n, int)
    out = np.zeros_like(x)
    for i in range(n):
        img = x[i, :, ::-1] if fl[i] else x[i]
        sy, sx = dy[i], dx[i]
        ys, yd = (slice(sy, h), slice(0, h - sy)) if sy >= 0 else \
            (slice(0, h + sy), slice(-sy, h))
        xs, xd = (slice(sx, w), slice(0, w - sx)) if sx >= 0 else \
            (slice(0, w + sx), slice(-sx, w))
        out[i, yd, xd] = img[ys, xs]
    return out


def keras_fit(args, xtr, ytr, xte, yte):
    """--fit keras: the topology trained for --epochs with its train
    line's whole recipe (optimizer, batch, schedule, augmentation), each
    epoch's figures printed and, with --log-json, written as clnet's log
    writes them."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf
    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    import keras
    keras.utils.set_random_seed(args.seed)
    m, train_line = topology.keras_model(NET)
    if args.schedule:
        # as clnet train --schedule: replaces the train line's schedule
        for k in ("schedule", "warmup", "drop", "every", "decay", "alpha",
                  "pct_start", "div_factor", "final_div_factor"):
            train_line.pop(k, None)
        for i, part in enumerate(args.schedule.split(",")):
            k, _, v = part.partition("=") if "=" in part else ("schedule", "",
                                                                part)
            train_line[k] = v
    batch = int(train_line.get("batch", 32)) if args.fit_batch is None \
        else args.fit_batch
    epochs = args.epochs or int(train_line.get("epochs", 1))
    steps = -(-len(xtr) // batch)
    m.compile(optimizer=topology.keras_optimizer(train_line, steps, epochs),
              loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    xt = xte.astype(np.float32) / 255
    rng = np.random.default_rng(args.seed)
    log = open(args.log_json, "w") if args.log_json else None
    for e in range(1, epochs + 1):
        x = augment(xtr, train_line, rng).astype(np.float32) / 255
        t = time.time()
        h = m.fit(x, ytr, batch_size=batch, epochs=1, verbose=0,
                  shuffle=True)
        seconds = time.time() - t
        vl, va = m.evaluate(xt, yte, batch_size=500, verbose=0)
        rec = {"epoch": e, "loss": h.history["loss"][-1],
               "accuracy": h.history["accuracy"][-1], "val_loss": vl,
               "val_accuracy": va, "seconds": seconds,
               "lr": float(keras.ops.convert_to_numpy(
                   m.optimizer.learning_rate)),
               "images_per_second": len(x) / seconds}
        print("Epoch %d/%d %.1fs - loss: %.4f - accuracy: %.4f - val_loss: "
              "%.4f - val_accuracy: %.4f - lr: %.4g" %
              (e, epochs, seconds, rec["loss"], rec["accuracy"], vl, va,
               rec["lr"]), flush=True)
        if log:
            log.write(json.dumps(rec) + "\n")
            log.flush()


def main():
    global NET
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True)
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--accuracy", action="store_true",
                   help="also measure the time to 99.0%% test accuracy")
    p.add_argument("--max-epochs", type=int, default=15)
    p.add_argument("--frameworks", default="clnet,opencl,torch,keras")
    p.add_argument("--net", default=NET,
                   help="the topology file (default models/mnist.net)")
    p.add_argument("--target", type=float, default=0.99,
                   help="the test accuracy --accuracy times (default 0.99)")
    p.add_argument("--fit", choices=["keras"],
                   help="instead of the benchmark: train the topology with "
                   "its train line's recipe (schedule included) for "
                   "--epochs, validating on the test set each epoch")
    p.add_argument("--epochs", type=int, default=0,
                   help="--fit's epochs (default: the train line's)")
    p.add_argument("--seed", type=int, default=1, help="--fit's seed")
    p.add_argument("--fit-batch", type=int, default=None,
                   help="--fit's batch (default: the train line's)")
    p.add_argument("--log-json", help="--fit: one JSON object per epoch")
    p.add_argument("--schedule", help="--fit: as clnet train --schedule")
    args = p.parse_args()
    NET = os.path.abspath(args.net)
    if args.fit:
        xtr, ytr = load(args.data, "train")
        xte, yte = load(args.data, "t10k")
        keras_fit(args, xtr, ytr, xte, yte)
        return
    target = args.target if args.accuracy else None
    want = args.frameworks.split(",")
    xtr, ytr = load(args.data, "train")
    xte, yte = load(args.data, "t10k")
    rows = []
    if "clnet" in want:
        tr, inf = clnet_bench("cpu", args)
        r = {"name": "clnet cpu", "train": tr, "infer": inf,
             "params": clnet_params()}
        if target:
            r["time_to"], r["epochs_to"] = clnet_time_to("cpu", args, target)
        rows.append(r)
    if "opencl" in want:
        try:
            tr, inf = clnet_bench("opencl", args)
            r = {"name": "clnet opencl", "train": tr, "infer": inf,
                 "params": clnet_params()}
            if target:
                r["time_to"], r["epochs_to"] = clnet_time_to("opencl", args,
                                                             target)
            rows.append(r)
        except subprocess.CalledProcessError:
            print("clnet opencl: no OpenCL device, left out", file=sys.stderr)
    if "torch" in want:
        import torch
        r = torch_bench(args, xtr, ytr, xte, yte, target)
        r["name"] = "PyTorch %s" % torch.__version__
        rows.append(r)
    if "keras" in want:
        r = keras_bench(args, xtr, ytr, xte, yte, target)
        import keras
        import tensorflow as tf
        r["name"] = "Keras %s / TF %s" % (keras.__version__, tf.__version__)
        rows.append(r)
    base = rows[0]
    print("%s, batch %d, %d threads, %d timed training steps, "
          "inference in batches of 1000" % (os.path.relpath(NET, ROOT),
                                            args.batch, args.threads,
                                            args.steps))
    head = "| framework | params | train img/s | x clnet | infer img/s | x clnet |"
    if target:
        head += " time to %.1f%% | epochs |" % (100 * target)
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    for r in rows:
        line = "| %s | %s | %.0f | %.2f | %.0f | %.2f |" % (
            r["name"], r.get("params", "-"), r["train"],
            r["train"] / base["train"], r["infer"],
            r["infer"] / base["infer"])
        if target:
            tt = r.get("time_to")
            line += " %s | %s |" % ("%.0f s" % tt if tt else "not reached",
                                    r.get("epochs_to", "-"))
        print(line)


if __name__ == "__main__":
    main()
