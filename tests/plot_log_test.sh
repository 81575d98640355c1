#!/usr/bin/env bash
# tools/plot-log on a log written here in clnet's --log-json form (two
# runs, one with a validation split's test line): it must write an SVG
# that names both runs, and refuse a file that is not a log. Skips (77)
# when Debian's matplotlib is not installed.
set -euo pipefail
root=$1
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
if ! /usr/bin/python3 -c "import matplotlib" 2> /dev/null; then
    echo "python3-matplotlib is not installed: skipped"
    exit 77
fi
for r in 1 2; do
    for e in 1 2 3; do
        echo "{\"epoch\": $e, \"loss\": 0.$((9 - e - r)), \"accuracy\": 0.$((5 + e + r)), \"val_loss\": 0.$((8 - e)), \"val_accuracy\": 0.$((6 + e)), \"lr\": 0.001}"
    done > "$out/run$r.json"
done
echo '{"test_loss": 0.4, "test_accuracy": 0.91}' >> "$out/run2.json"
"$root/tools/plot-log" "$out/run1.json" "$out/run2.json" --label first \
    --label second --out "$out/c.svg"
grep -q "first train" "$out/c.svg" || { echo "no legend for run 1"; exit 1; }
grep -q "second test" "$out/c.svg" || { echo "no test mark for run 2"; exit 1; }
echo "not json" > "$out/bad.json"
if "$root/tools/plot-log" "$out/bad.json" --out "$out/d.svg" 2> "$out/err"; then
    echo "a file that is not a log was drawn"
    exit 1
fi
grep -q "bad.json:1: not JSON" "$out/err"
echo "plot-log: ok"
