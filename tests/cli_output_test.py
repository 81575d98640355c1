#!/usr/bin/python3
"""The clnet tool's reports, read as a user's program would read them.

  cli_output_test.py cli     bench --json parsed by Python's json module
                             (a network named we"ird.net; the host, clnet's
                             version and commit, threads, repeats and every
                             figure's min <= median <= max), tune's words
                             and the cache file it names, plugins' order
                             and its refused line
  cli_output_test.py report  tools/bench-report on bench files: the chart
                             (SVG and PNG), distinct run names, the share
                             of a given peak, speed-ups, --help; on clnet
                             check files: the compatibility matrix

Run by meson with CLNET_BINARY and CLNET_SOURCE_ROOT set; exits 77 (meson:
skipped) for `report` where Debian's matplotlib is missing.
"""
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile

CLNET = os.path.abspath(os.environ.get("CLNET_BINARY", "build/clnet"))
ROOT = os.path.abspath(os.environ.get("CLNET_SOURCE_ROOT", "."))
NET = ("input shape=12x12x1\n"
       "conv2d filters=8 kernel=3 activation=relu\n"
       "maxpool2d pool=2\nflatten\n"
       "dense units=4 activation=softmax\n"
       "train optimizer=adam lr=0.001 batch=8 epochs=1\n")
failures = []


def check(ok, what):
    if not ok:
        failures.append(what)
        print("FAIL: " + what)


def run(args, cwd, env=None, status=0):
    p = subprocess.run([CLNET] + args, cwd=cwd, env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       universal_newlines=True)
    if status is not None and p.returncode != status:
        sys.exit("clnet %s: exit %d, expected %d:\n%s" % (
            " ".join(args), p.returncode, status, p.stdout))
    return p


def bench_json(tmp, name, extra=()):
    net = os.path.join(tmp, name)
    with open(net, "w") as f:
        f.write(NET)
    out = os.path.join(tmp, "bench.json")
    run(["bench", name, "--steps", "1", "--repeats", "3", "--batch", "8",
         "--threads", "1", "--json", "bench.json"] + list(extra), tmp)
    with open(out, encoding="utf-8") as f:
        return json.load(f)  # fails on invalid JSON


def test_bench(tmp):
    doc = bench_json(tmp, 'we"ird.net')
    check(doc["network"] == 'we"ird.net', "network name: %r" % doc["network"])
    version = run(["--version"], tmp).stdout.split()[1]
    check(doc["clnet"]["version"] == version,
          "clnet version %r, --version says %r" % (doc["clnet"], version))
    commit = doc["clnet"]["commit"]
    check(re.fullmatch(r"[0-9a-f]{7,40}(-dirty)?|unknown", commit) is not None,
          "commit %r" % commit)
    if os.path.isdir(os.path.join(ROOT, ".git")) or \
            os.path.isfile(os.path.join(ROOT, ".git")):
        check(commit != "unknown", "a git checkout built commit 'unknown'")
    host = doc["host"]
    check(host["name"] == socket.gethostname(),
          "host name %r, not %r" % (host["name"], socket.gethostname()))
    check(isinstance(host["cpu"], str) and host["cpu"], "host cpu %r" % host)
    check(isinstance(host["cpu_flags"], list) and
          all(isinstance(x, str) for x in host["cpu_flags"]),
          "cpu_flags %r" % host.get("cpu_flags"))
    check(host["logical_cpus"] >= 1, "logical_cpus")
    check(doc["repeats"] == 3 and doc["steps"] == 1, "repeats, steps")
    check(len(doc["results"]) == 1, "one result")
    r = doc["results"][0]
    d = r["device"]
    check(d["label"] == "cpu:0" and d["type"] == "CPU", "device %r" % d)
    check(d["driver"].startswith("native, ") and len(d["driver"]) > 8,
          "the native backend's ISA as its driver: %r" % d["driver"])
    check(d["compute_units"] >= 1 and d["global_mem"] > 0, "device sizes")
    if os.path.exists("/proc/cpuinfo"):
        with open("/proc/cpuinfo") as f:
            info = f.read()
        m = re.search(r"^(vendor_id|CPU implementer)\s*: (.*)$", info, re.M)
        if m:
            check(d["vendor"] == m.group(2).strip(),
                  "vendor %r, /proc/cpuinfo %r" % (d["vendor"], m.group(2)))
        m = re.search(r"^model name\s*: (.*)$", info, re.M)
        if m:
            check(d["name"] == m.group(1).strip() == host["cpu"],
                  "cpu model %r / %r" % (d["name"], host["cpu"]))
    check(r["threads"] == 1 and r["batch"] == 8 and r["repeats"] == 3,
          "threads %r, batch %r, repeats %r" % (r.get("threads"),
                                                r.get("batch"),
                                                r.get("repeats")))
    figures = ["step_ms", "loss_ms", "update_ms", "train_images_per_second",
               "infer_images_per_second"]
    for k in figures:
        s = r["spread"][k]
        check(s["min"] <= s["median"] <= s["max"], "%s spread %r" % (k, s))
        check(abs(s["median"] - r[k]) <= 1e-5 * max(1, abs(r[k])),
              "%s %r is not its spread's median %r" % (k, r[k], s["median"]))
    check(r["step_ms"] > 0 and r["train_images_per_second"] > 0, "times > 0")
    names = [l["name"] for l in r["layers"]]
    check(names == ["input_1", "conv2d_1", "maxpool2d_1", "flatten_1",
                    "dense_1"], "layers %r" % names)
    for l in r["layers"]:
        for k in ("forward_ms", "backward_ms"):
            s = l["spread"][k]
            check(s["min"] <= s["median"] <= s["max"] and
                  abs(s["median"] - l[k]) <= 1e-5 * max(1, l[k]),
                  "%s %s spread %r, median %r" % (l["name"], k, s, l[k]))
        check(l["impl"] != "", "%s has no implementation" % l["name"])
    conv = r["layers"][1]
    check(conv["forward_ms"] > 0 and conv["forward_gflops"] > 0,
          "conv2d_1 timed: %r" % conv)
    # a bad --repeats is refused as bad input
    p = run(["bench", 'we"ird.net', "--repeats", "0"], tmp, status=2)
    check("--repeats takes a whole number" in p.stdout, p.stdout)


def test_tune(tmp):
    with open(os.path.join(tmp, "t.net"), "w") as f:
        f.write(NET)
    line = re.compile(
        r"^conv2d_1 \(12x12x1 -> 10x10x8, 3x3, on cpu\): "
        r"(?P<timed>(\S+ [0-9.]+ ms(, )?)+) -> (?P<choice>\S+) "
        r"\((its output matches \S+'s within 1e-3: relative error \S+|"
        r"the reference: the others' outputs were checked against it, "
        r"within 1e-3)\)$", re.M)
    for where in ("CLNET_CACHE_DIR", "XDG_CACHE_HOME"):
        env = dict(os.environ)
        env.pop("CLNET_CACHE_DIR", None)
        env.pop("XDG_CACHE_HOME", None)
        env[where] = os.path.join(tmp, where.lower())
        cache = env[where] if where == "CLNET_CACHE_DIR" else \
            os.path.join(env[where], "clnet")
        out = run(["tune", "t.net", "--steps", "1", "--batch", "8",
                   "--threads", "1"], tmp, env).stdout
        check(out.startswith("Tuning t.net on cpu: timing each "
                             "implementation"), "tune's first line:\n" + out)
        m = line.search(out)
        check(m is not None, "tune's conv2d_1 line, in words:\n" + out)
        if m:
            timed = [t.split()[0] for t in m.group("timed").split(", ")]
            check("gemm" in timed and "direct" in timed,
                  "gemm and direct timed: %r" % timed)
            check(m.group("choice") in timed, "the choice was timed")
        check("  cpu/winograd cannot run conv2d_1: " in out,
              "why winograd cannot run it:\n" + out)
        path = os.path.join(cache, "tune.tsv")
        check(("Wrote 1 choice to %s (" % path) in out,
              "where the cache went (%s):\n%s" % (path, out))
        check(os.path.exists(path), path + " was not written")


def test_plugins(tmp):
    bad = os.path.join(tmp, "bad-plugins")
    os.mkdir(bad, 0o755)
    with open(os.path.join(bad, "bogus.so"), "w") as f:
        f.write("not a shared object\n")
    os.chmod(bad, 0o755)
    os.chmod(os.path.join(bad, "bogus.so"), 0o644)
    env = dict(os.environ, CLNET_PLUGIN_PATH=bad)
    out = run(["plugins"], tmp, env).stdout.splitlines()
    check(out and out[0].split()[:3] == ["KIND", "BACKEND", "IMPLEMENTATION"],
          "header %r" % out[:1])
    rows = []
    for l in out[1:]:
        if l.startswith("refused"):
            continue
        f = l.split()
        # KIND BACKEND IMPL ABI PATH
        check(len(f) == 5, "row %r" % l)
        rows.append((f[0], f[1] != "(kind)", f[1], f[2]))
    check(len(rows) > 20, "%d plugins listed" % len(rows))
    check(rows == sorted(rows), "plugins are not sorted by kind, then "
          "definition, backend, implementation:\n" + "\n".join(out))
    kinds = [r[0] for r in rows]
    check("conv2d" in kinds, "no conv2d")
    conv = [r for r in rows if r[0] == "conv2d"]
    check(conv[0][1] is False, "conv2d's definition is not first: %r" % conv)
    refused = [l for l in out if "bogus.so" in l]
    check(len(refused) == 1, "bogus.so on %d lines" % len(refused))
    if refused:
        check(refused[0].startswith("refused: ") and
              refused[0].count("refused") == 1,
              "refused said once: %r" % refused[0])


def cli():
    tmp = tempfile.mkdtemp(prefix="clnet-cli-output.")
    try:
        test_bench(tmp)
        test_tune(tmp)
        test_plugins(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def report():
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        print("python3-matplotlib is not installed: skipped")
        sys.exit(77)
    tool = os.path.join(ROOT, "tools", "bench-report")
    tmp = tempfile.mkdtemp(prefix="clnet-bench-report.")
    try:
        doc = bench_json(tmp, "r.net")
        a, b, c = (os.path.join(tmp, n) for n in ("a.json", "b.json",
                                                  "c.json"))
        for path in (a, c):  # the same host and device twice
            with open(path, "w") as f:
                json.dump(doc, f)
        doc["host"]["name"] = "other-host"
        with open(b, "w") as f:
            json.dump(doc, f)
        svg, md = os.path.join(tmp, "r.svg"), os.path.join(tmp, "r.md")

        def tool_run(args, status=0):
            p = subprocess.run([tool] + args, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT,
                               universal_newlines=True)
            if p.returncode != status:
                sys.exit("bench-report %s: exit %d:\n%s" % (
                    " ".join(args), p.returncode, p.stdout))
            return p.stdout

        tool_run([a, b, c, "-o", md, "--chart", svg,
                  "--peak-gflops", "other-host=100"])
        with open(svg, encoding="utf-8") as f:
            text = f.read()
        check(text.lstrip().startswith("<?xml") and "</svg>" in text,
              "not an SVG")
        host = socket.gethostname()
        for want in ("%s cpu:0" % host, "[a.json]", "[c.json]",
                     "other-host cpu:0", "of peak", "forward", "backward",
                     "loss", "optimizer", "conv2d_1", "log scale",
                     doc["results"][0]["layers"][1]["impl"]):
            check(want in text, "%r not in the chart" % want)
        check("[b.json]" not in text, "a distinct run got its file's name")
        with open(md, encoding="utf-8") as f:
            table = f.read()
        check("| other-host cpu:0" in table and "r.svg" in table,
              "the Markdown:\n" + table)
        png = os.path.join(tmp, "s.png")
        tool_run([a, b, "--baseline", "other-host", "--chart", png])
        with open(png, "rb") as f:
            check(f.read(8) == b"\x89PNG\r\n\x1a\n", "not a PNG")
        # bad input is refused with the runs named
        out = tool_run([a, c, "--baseline", "nowhere"], status=1)
        check("--baseline nowhere matches no run" in out, out)
        out = tool_run([a, "--peak-gflops", "cpu"], status=1)
        check("--peak-gflops takes RUN=GFLOPS" in out, out)
        helptext = tool_run(["--help"])
        for opt in ("--output", "--chart", "--baseline", "--linear",
                    "--peak-gflops", "--title", "FILE.json"):
            check(opt in helptext, "--help does not describe " + opt)
        check("data sheet" in helptext, "--help does not say where peaks "
              "come from")
        # clnet check --json files: the compatibility matrix
        cj = os.path.join(tmp, "check.json")
        run(["check", "--small", "--json", cj], tmp)
        with open(cj, encoding="utf-8") as f:
            cdoc = json.load(f)
        check(cdoc["results"][0]["device"]["label"] == "cpu:0" and
              all(x["pass"] for x in cdoc["results"][0]["implementations"]),
              "check's JSON: %r" % cdoc)
        cdoc["host"] = "other-host"
        cdoc["results"][0]["implementations"][0]["pass"] = False
        cb = os.path.join(tmp, "check-b.json")
        with open(cb, "w") as f:
            json.dump(cdoc, f)
        msvg, mmd = os.path.join(tmp, "m.svg"), os.path.join(tmp, "m.md")
        tool_run([cj, cb, "-o", mmd, "--chart", msvg])
        with open(mmd, encoding="utf-8") as f:
            table = f.read()
        first = cdoc["results"][0]["implementations"][0]["impl"]
        check("| %s | pass" % first in table and "| FAIL (" in table and
              "other-host cpu:0" in table, "the matrix:\n" + table)
        with open(msvg, encoding="utf-8") as f:
            text = f.read()
        check("</svg>" in text and "conv2d/gemm" in text, "the matrix SVG")
        out = tool_run([cj, a], status=1)
        check("not both" in out, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] not in ("cli", "report"):
        sys.exit(__doc__)
    cli() if sys.argv[1] == "cli" else report()
    if failures:
        sys.exit("%d check%s failed" % (len(failures),
                                        "" if len(failures) == 1 else "s"))
    print("%s: ok" % sys.argv[1])
