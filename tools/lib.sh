# Shared settings for tools/*. Sourced, not run.
# The cache lives outside the work tree so a clean clone on the same machine reuses builds.
IPVS_RS_CACHE=${IPVS_RS_CACHE:-/var/cache/ipvs-rs}
KSRC_TARBALL=/usr/src/linux-source-6.12.tar.xz
REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# Debian's rustc-web has rust-src; rustup's rustc on PATH does not.
RUSTC_BIN=/usr/bin/rustc
RUST_LIB_SRC=/usr/lib/rustlib/src/rust/library
BINDGEN_BIN=${BINDGEN_BIN:-$HOME/.cargo/bin/bindgen}
export LIBCLANG_PATH=/usr/lib/llvm-19/lib
# clang, lld and the LLVM binutils of a flavour whose fragment says "#@toolchain llvm" (kasan):
# the kernel's LLVM=<prefix>/ form, so the unsuffixed names of Debian's llvm-19 are used.
LLVM_PREFIX=/usr/lib/llvm-19/bin/

# A flavour's fragment (tools/config/FLAVOUR.config) may start with directives, which Kconfig
# and merge_config.sh read as comments:
#   #@include NAME.config   merge that fragment too (after base.config, before this one)
#   #@toolchain llvm        build with clang/lld (LLVM=1) instead of gcc
flavor_fragments() {   # FLAVOUR: the fragments in merge order, one path a line
    local own=$REPO_ROOT/tools/config/$1.config inc
    echo "$REPO_ROOT/tools/config/base.config"
    for inc in $(sed -n 's/^#@include[[:space:]]\{1,\}//p' "$own"); do
        echo "$REPO_ROOT/tools/config/$inc"
    done
    echo "$own"
}
flavor_uses_llvm() { grep -qx '#@toolchain llvm' "$REPO_ROOT/tools/config/$1.config"; }

# The compiler part of the kernel's (and the module's) make command line for FLAVOUR.
kmake_cc() {
    if flavor_uses_llvm "$1"; then echo "LLVM=$LLVM_PREFIX"; else echo "CC=gcc"; fi
}
kmake_vars() {   # FLAVOUR
    echo "$(kmake_cc "$1") RUSTC=$RUSTC_BIN BINDGEN=$BINDGEN_BIN RUST_LIB_SRC=$RUST_LIB_SRC"
}

die() { echo "error: $*" >&2; exit 1; }

# Version of Debian's linux-source package: part of every cache key. Fails (printing nothing)
# if the package is not installed.
ksrc_version() {
    local v
    v=$(dpkg-query -W -f='${db:Status-Abbrev}${Version}' linux-source-6.12 2>/dev/null | sed -n 's/^ii //p')
    [ -n "$v" ] && printf '%s' "$v"
}

# Cache key of one kernel flavour: source version, fragments, toolchain versions (the C compiler
# is gcc, or clang for an LLVM flavour). Dies if one of them is not installed yet: a key made of a
# missing tool's empty version would name a build that no installed toolchain made.
# (For gcc flavours the hashed bytes are exactly what they were before flavours could include
# fragments or use clang: the cached test and bench kernels keep their keys.)
kernel_key() {
    local flavor=$1 ksrc rustc bindgen cc cc_name=gcc
    flavor_uses_llvm "$flavor" && cc_name=${LLVM_PREFIX}clang
    ksrc=$(ksrc_version) && rustc=$("$RUSTC_BIN" --version) && bindgen=$("$BINDGEN_BIN" --version) &&
        cc=$("$cc_name" --version | head -n1) && [ -n "$cc" ] ||
        die "linux-source-6.12, $RUSTC_BIN, $BINDGEN_BIN and $cc_name must be installed first: run tools/setup"
    {
        printf '%s' "$ksrc"
        # shellcheck disable=SC2046
        cat $(flavor_fragments "$flavor")
        printf '%s\n' "$rustc" "$bindgen" "$cc"
    } | sha256sum | cut -c1-16
}

# Both are meant for "$(...)", where a failure ends the subshell and, under set -e, the caller.
kernel_src_dir() {
    local v
    v=$(ksrc_version) || die "linux-source-6.12 is not installed: run tools/setup first"
    echo "$IPVS_RS_CACHE/src-$v"
}
kernel_out_dir() {
    local key
    key=$(kernel_key "$1") || exit 1
    echo "$IPVS_RS_CACHE/kbuild-$1-$key"
}

# vm_lock: takes the machine-wide guest lock (one tools/vm-run at a time) for the calling shell
# until it exits; the tools/vm-run it starts then know it is held (IPVS_RS_VM_LOCK_HELD).
# Nothing to do when a caller of ours holds it already.
vm_lock() {
    [ -z "${IPVS_RS_VM_LOCK_HELD:-}" ] || return 0
    mkdir -p "$IPVS_RS_CACHE"
    exec 8>"$IPVS_RS_CACHE/.vm-lock"
    flock 8
    export IPVS_RS_VM_LOCK_HELD=1
}

# Replaces the calling shell with virtme-ng's `vng` (so a `timeout` around the shell reaches
# QEMU), whether or not pip put its script on PATH.
exec_vng() {
    if command -v vng >/dev/null 2>&1; then
        exec vng "$@"
    fi
    exec python3 -c 'import sys; from virtme_ng.run import main; sys.argv[0] = "vng"; sys.exit(main())' "$@"
}
