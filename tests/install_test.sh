#!/usr/bin/env bash
# Installs the build into a staging prefix (meson install --destdir) and
# checks it as a user of the installed library would: an external program
# built with only `pkg-config --cflags --libs clnet` trains and evaluates;
# the installed clnet runs without LD_LIBRARY_PATH and finds its own
# plugins; the models and the man page are there.
# Usage: tests/install_test.sh SOURCE_ROOT BUILD_ROOT
set -euo pipefail
src=$1 build=$2
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
unset LD_LIBRARY_PATH CLNET_PLUGIN_PATH
meson install -C "$build" --destdir "$stage" --no-rebuild --quiet
pc=$(find "$stage" -name clnet.pc -print -quit)
[ -n "$pc" ] || { echo "install_test: no clnet.pc was installed"; exit 1; }
export PKG_CONFIG_PATH=$(dirname "$pc")
case "$(pkg-config --variable=prefix clnet)" in
    '${pcfiledir}'*|"$stage"*) ;;
    *) # clnet.pc names its prefix from where it lies only when the
       # build was set up with pkgconfig.relocatable (meson.build's
       # default_options, which an older build folder lacks)
       echo "install_test: $build's clnet.pc is not relocatable; run" \
            "meson configure $build -Dpkgconfig.relocatable=true"
       exit 1 ;;
esac
cflags=$(pkg-config --cflags clnet)
libs=$(pkg-config --libs clnet)
libdir=$(realpath "$(pkg-config --variable=libdir clnet)")
prefix=$(realpath "$(pkg-config --variable=prefix clnet)")
echo "install_test: pkg-config gives: $cflags $libs"
# the run finds libclnet through the rpath pkg-config's libdir names
sanitize=()
[ "${CLNET_SANITIZE:-none}" != none ] && sanitize=(-fsanitize="$CLNET_SANITIZE")
"${CC:-cc}" -std=c11 -Wall -Werror "${sanitize[@]}" $cflags \
    "$src/tests/install/external.c" $libs -Wl,-rpath,"$libdir" \
    -o "$stage/external"
# clnet.h alone does not expose the plugin ABI
if printf '#include <clnet/clnet.h>\nconst clnet_plugin *p;\n' |
   "${CC:-cc}" -std=c11 -fsyntax-only $cflags -x c - 2> /dev/null; then
    echo "install_test: clnet.h exposes the plugin ABI (clnet_plugin)"
    exit 1
fi
"$stage/external"
clnet="$prefix/bin/clnet"
"$clnet" --version
plugins=$("$clnet" plugins)
if echo "$plugins" | awk 'NR > 1 && $NF !~ /^\// {bad = 1} END {exit !bad}' ||
   ! echo "$plugins" | grep -q "$libdir/clnet/plugins/"; then
    echo "install_test: the installed clnet loads plugins from elsewhere:"
    echo "$plugins" | head -5
    exit 1
fi
"$clnet" summary "$prefix/share/clnet/models/mnist.net" |
    grep -q "Total params: 280,010"
man=$(find "$stage" -path '*/man1/clnet.1' -print -quit)
[ -n "$man" ] || { echo "install_test: no man page"; exit 1; }
# the man page lists every option --help lists
for opt in $("$clnet" --help | grep -o '^  --[a-z-]*' | sort -u); do
    # roff writes each '-' of the name as '\-'
    name=$(printf '%s' "${opt#--}" | sed 's/-/\\\\-/g')
    grep -q -- "^\.B \\\\-\\\\-$name\( \|\$\)" "$man" ||
        { echo "install_test: $opt is in --help, not in clnet.1"; exit 1; }
done
echo "install_test: ok"
