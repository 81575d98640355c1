# What the MPI tests share (sourced by mpi_test.sh and mpi_netns_test.sh,
# after `src`, `build` and `tmp` are set): the skips, Open MPI's
# environment, and the workload both train, a small IDX set and a
# conv-dense network with dropout in $tmp; sets `clnet` and `common`.

# mpi_require NAME: skipped (77) without mpirun or the MPI plugin
mpi_require() {
    command -v mpirun > /dev/null ||
        { echo "$1: no mpirun (Debian: openmpi-bin): skipped"; exit 77; }
    [ -e "$build/plugins/communicator-mpi.so" ] ||
        { echo "$1: the MPI plugin was not built (Debian: libopenmpi-dev, then set up the build again): skipped"; exit 77; }
}

mpi_setup() {
    # CI runs as root; a shared test machine may have fewer cores than ranks
    export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
    export OMPI_MCA_rmaps_base_oversubscribe=1
    # components stay mapped, so leak reports name them (tests/lsan.supp)
    export OMPI_MCA_mca_base_component_disable_dlclose=1
    # under tools/sanitize.sh: whole stacks (Open MPI has no frame
    # pointers), so that tests/lsan.supp can tell its allocations from
    # clnet's
    if [ -n "${ASAN_OPTIONS:-}" ]; then
        export ASAN_OPTIONS="$ASAN_OPTIONS:fast_unwind_on_malloc=0"
    fi
    python3 "$src/tests/mpi_data.py" "$tmp/data" 1024 256
    cat > "$tmp/a.net" <<'NET'
input      shape=28x28x1
conv2d     filters=8 kernel=3x3 activation=relu
maxpool2d  pool=2x2
flatten
dense      units=32 activation=relu
dropout    rate=0.25
dense      units=10 activation=softmax
train      optimizer=adam lr=0.002 loss=sparse_categorical_crossentropy batch=64 epochs=2
NET
    clnet=$build/clnet
    common=(--data "$tmp/data" --threads 1 --quiet)
}
