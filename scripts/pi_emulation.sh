#!/usr/bin/env bash
# The device runtime on the Raspberry Pi's own architecture, without a Pi: a Raspberry Pi OS
# userland (Debian bookworm, Python 3.11, or today's Debian 13 trixie, Python 3.13, with
# PI_EMULATION_RELEASE=trixie) run by qemu user-mode emulation on this machine, as the 64-bit OS
# (arm64, the default) or the 32-bit one (armhf, PI_EMULATION_ARCH=armhf).
#
#   scripts/pi_emulation.sh setup                    build the environment (cached; seconds when it is)
#   scripts/pi_emulation.sh run FLAVOUR ARG...       python3 ARG... on the emulated Pi, e.g.
#       scripts/pi_emulation.sh run litert -m runtime parity --models models
#       PI_EMULATION_ARCH=armhf scripts/pi_emulation.sh run tflite -m runtime parity --models models
#   scripts/pi_emulation.sh run-host FLAVOUR ARG...  the same packages and versions natively on this
#                                                    machine, to compare the two architectures
#   scripts/pi_emulation.sh clean                    delete the cache (both architectures)
#
# Flavours, as in docs/raspberry-pi.md, "On the Raspberry Pi" (the same extras of pyproject.toml):
#   tflite   numpy<2 + tflite-runtime + Pillow               (extras tflite-runtime,images)
#   litert   numpy 2 + ai-edge-litert + onnxruntime + Pillow (extras litert,onnxruntime,images)
#   apt      Debian's python3-onnxruntime + python3-numpy + python3-pil   (extras onnxruntime,images)
# armhf has no ai-edge-litert or onnxruntime wheels, nor numpy or Pillow ones: there numpy and Pillow
# are Debian's, and pip adds tflite-runtime (as `pip install ".[tflite-runtime]"` in a venv made with
# --system-site-packages does on the Pi); on trixie onnxruntime is Debian's too, and pip adds nothing.
# The runtime package itself comes from this checkout (on PYTHONPATH): pure Python, no rebuild.
#
# Per release (PI_EMULATION_RELEASE):
#   bookworm arm64: tflite, litert     bookworm armhf: tflite
#   trixie arm64:   litert (tflite-runtime's last wheels are cp311, trixie's Python is 3.13)
#   trixie armhf:   apt (no interpreter has a cp313 armv7l wheel; Debian 13 builds onnxruntime), and
#                   Debian's gcc + libc6-dev, which `run` gives as CC (the runtime's `c` backend)
#
# Environment:
#   PI_EMULATION_RELEASE bookworm (default: Raspberry Pi OS 12, Python 3.11) or trixie (13, Python 3.13)
#   PI_EMULATION_ARCH    arm64 (default: 64-bit OS, aarch64) or armhf (32-bit OS, armv7l)
#   PI_EMULATION_CACHE   cache folder (default ${XDG_CACHE_HOME:-$HOME/.cache}/edge-mnist/pi-emulation);
#                        bookworm arm64 is built at its top, armhf in its armhf/ folder, trixie
#                        the same way in its trixie/ folder
#   PI_EMULATION_CPU     qemu CPU model (default cortex-a72, a Pi 4, on arm64; cortex-a76 is a Pi 5;
#                        default cortex-a7, a Pi 2, on armhf)
#   PI_EMULATION_MIRROR  Debian mirror for the root (default: the one this machine's apt uses)
#   PI_EMULATION_PYTHON  host Python 3.11+ with pip, to fetch wheels (default: .venv/bin/python)
#
# Messages go to stderr, so the stdout of `run` is the emulated program's alone (e.g. --json).
# Needs root (or password-less sudo) only when qemu-user-static or debootstrap are missing.
set -euo pipefail

PROJECT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${PI_EMULATION_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/edge-mnist/pi-emulation}"
HELPER="$PROJECT/scripts/pi_emulation_packages.py" # the steps written in Python (mirror, requirements, Debian's packages)
SUITE="${PI_EMULATION_RELEASE:-bookworm}"
case "$SUITE" in
    # Raspberry Pi OS 12 is Debian bookworm (python3 3.11, glibc 2.36); 13 is trixie (3.13, 2.41).
    # The glibc minor is the newest manylinux tag the release accepts.
    bookworm) PY_VERSION=3.11 GLIBC_MINOR=36 RELEASE_CACHE="$CACHE" ;;
    trixie) PY_VERSION=3.13 GLIBC_MINOR=41 RELEASE_CACHE="$CACHE/trixie" ;;
    *)
        echo "pi-emulation: ERROR: PI_EMULATION_RELEASE is '$SUITE'; expected bookworm (Raspberry Pi OS 12) or trixie (13)" >&2
        exit 2
        ;;
esac
PI_PYTHON=/usr/bin/python$PY_VERSION
CP_TAG="cp${PY_VERSION/./}"
STAMP_VERSION=1                       # bump to rebuild everything after changing how it is built
IMPORTS_TOO="" HAS_GCC=""             # modules `setup` imports besides numpy and PIL; gcc in the root

# Per architecture. Every arm64 path and stamp is what it was before armhf existed, so a cache
# built then stays valid; armhf lives beside it in armhf/.
ARCH="${PI_EMULATION_ARCH:-arm64}"
case "$ARCH" in
    arm64)
        ARCH_CACHE="$RELEASE_CACHE"
        QEMU_NAMES="qemu-aarch64-static qemu-aarch64" # Debian's names; newer releases also ship the plain one
        # Not qemu's default "max" CPU: with its SME extension LiteRT's int8 kernels give wrong
        # answers under qemu 7.2 (10% accuracy). A Pi's Cortex-A72/A76 has no SME.
        DEFAULT_CPU=cortex-a72
        MACHINE=aarch64                # platform.machine() there
        WHEEL_ARCH=aarch64             # the manylinux platform tags' suffix
        FLAVOURS="tflite litert"
        DEBIAN_PACKAGES=python3        # debootstrap --include
        ROOTFS_MB=250
        DEBIAN_PYTHON_PACKAGES=""      # Python packages taken from Debian instead of PyPI
        ;;
    armhf)
        ARCH_CACHE="$RELEASE_CACHE/armhf"
        QEMU_NAMES="qemu-arm-static qemu-arm"
        # A Pi 2's core. The Pi 3's, Zero 2 W's, 4's and 5's cores run the same armv7 code in
        # 32-bit mode; qemu-arm 7.2 emulates none of them (its "max" adds ARMv8's 32-bit
        # instructions). tflite-runtime's armv7l wheel is built for ARMv7-A with VFPv4 and NEON
        # (readelf -A), which the ARMv6 core of a Pi Zero or Pi 1 lacks.
        DEFAULT_CPU=cortex-a7
        MACHINE=armv7l
        WHEEL_ARCH=armv7l
        FLAVOURS="tflite"
        # PyPI has no armv7 wheels of numpy or Pillow, so a 32-bit Pi takes Debian's.
        DEBIAN_PACKAGES=python3,python3-numpy,python3-pil
        ROOTFS_MB=270
        DEBIAN_PYTHON_PACKAGES="numpy Pillow"
        if [ "$SUITE" = trixie ]; then # no cp313 armv7l wheel of any interpreter: Debian's onnxruntime
            # libre2-11 provides libonnxruntime1.21's virtual dependency, which debootstrap does not resolve.
            DEBIAN_PACKAGES=python3,python3-numpy,python3-pil,python3-onnxruntime,libre2-11,gcc,libc6-dev
            FLAVOURS="apt" ROOTFS_MB=440
            DEBIAN_PYTHON_PACKAGES="numpy Pillow onnxruntime" IMPORTS_TOO=", onnxruntime" HAS_GCC=1
        fi
        ;;
    *)
        echo "pi-emulation: ERROR: PI_EMULATION_ARCH is '$ARCH'; expected arm64 (64-bit Raspberry Pi OS) or armhf (32-bit)" >&2
        exit 2
        ;;
esac
[ "$SUITE" = trixie ] && [ "$ARCH" = arm64 ] && FLAVOURS="litert" # no cp313 wheels of tflite-runtime
ROOTFS="$ARCH_CACHE/rootfs"
PI_EXECUTABLE="$ARCH_CACHE/bin/python$PY_VERSION" # the emulated Python's sys.executable (see write_launcher)
QEMU_CPU_MODEL="${PI_EMULATION_CPU:-$DEFAULT_CPU}"

# ---------------------------------------------------------------------------------------------
# Messages

say() { echo "pi-emulation: $*" >&2; }

die() {
    {
        echo
        echo "################################################################################"
        echo "pi-emulation: ERROR: $1"
        shift
        for line in "$@"; do echo "pi-emulation:   $line"; done
        echo "################################################################################"
    } >&2
    exit 1
}

# Shows the end of a step's log when it fails, since the step ran quietly.
die_with_log() {
    local log="$1" message="$2"
    shift 2
    tail -n 25 "$log" | sed 's/^/    | /' >&2 || true
    die "$message" "full log: $log" "$@"
}

# ---------------------------------------------------------------------------------------------
# Host tools: qemu-user-static runs ARM binaries, debootstrap fetches the Debian root.

QEMU=""

find_qemu() {
    local name
    QEMU=""
    for name in $QEMU_NAMES; do
        QEMU="$(command -v "$name" || true)"
        [ -z "$QEMU" ] || return 0
    done
}

ensure_host_tools() {
    find_qemu
    if [ -n "$QEMU" ] && command -v debootstrap >/dev/null && command -v dpkg-deb >/dev/null; then
        return
    fi
    local packages="qemu-user-static debootstrap"
    local sudo=""
    if [ "$(id -u)" != 0 ]; then
        sudo -n true 2>/dev/null || die "${QEMU_NAMES%% *} or debootstrap is missing and this is not root." \
            "Install them once: sudo apt-get install $packages"
        sudo="sudo -n"
    fi
    command -v apt-get >/dev/null || die "${QEMU_NAMES%% *} or debootstrap is missing and there is no apt-get." \
        "Install qemu user-mode emulation (static) and debootstrap with this system's package manager."
    local log="$ARCH_CACHE/apt.log"
    say "installing $packages (apt-get) ..."
    if ! { $sudo apt-get update && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends $packages; } >"$log" 2>&1; then
        die_with_log "$log" "could not install $packages with apt-get."
    fi
    find_qemu
    [ -n "$QEMU" ] || die "apt-get installed qemu-user-static but no ${QEMU_NAMES%% *} is on PATH."
}

# ---------------------------------------------------------------------------------------------
# The Debian mirror: the one this machine's apt already uses, read at run time (one-line
# sources.list entries and deb822 .sources files), unless PI_EMULATION_MIRROR says otherwise.

debian_mirror() {
    if [ -n "${PI_EMULATION_MIRROR:-}" ]; then
        echo "$PI_EMULATION_MIRROR"
        return
    fi
    local mirror
    mirror="$(python3_host "$HELPER" mirror)" || true
    [ -n "$mirror" ] || die "found no Debian mirror in /etc/apt/sources.list{,.d} to fetch the $ARCH root from." \
        "Set PI_EMULATION_MIRROR to a Debian mirror URL (one that serves $SUITE for $ARCH)."
    echo "$mirror"
}

# ---------------------------------------------------------------------------------------------
# The root: the release's minimal base plus python3 (on armhf Debian's numpy, Pillow; trixie's onnxruntime).
# `debootstrap --foreign` only downloads and unpacks; its second stage (running maintainer scripts
# inside the root) is not needed, because nothing here runs as a configured system: qemu only
# borrows the root's loader, libraries and Python (QEMU_LD_PREFIX). So every downloaded .deb is
# unpacked with dpkg -x, and the few links maintainer scripts would make are made here.

rootfs_stamp() {
    case "$ARCH" in
        arm64) echo "v$STAMP_VERSION $SUITE arm64 minbase python3 cpuinfo-pi4" ;; # bookworm's stamp as before
        armhf) echo "v$STAMP_VERSION $SUITE armhf minbase $DEBIAN_PACKAGES blas-links" ;;
    esac
}

build_rootfs() {
    if [ "$(cat "$ARCH_CACHE/rootfs.stamp" 2>/dev/null)" = "$(rootfs_stamp)" ] && [ -x "$ROOTFS$PI_PYTHON" ]; then
        return
    fi
    local mirror tmp="$ARCH_CACHE/rootfs.partial" log="$ARCH_CACHE/debootstrap.log"
    mirror="$(debian_mirror)"
    say "building the Debian $SUITE $ARCH root in $ROOTFS (about $ROOTFS_MB MB) ..."
    rm -rf "$tmp" "$ROOTFS" "$ARCH_CACHE/rootfs.stamp"
    if ! debootstrap --arch="$ARCH" --foreign --variant=minbase --include="$DEBIAN_PACKAGES" "$SUITE" "$tmp" "$mirror" >"$log" 2>&1; then
        die_with_log "$log" "debootstrap could not fetch Debian $SUITE $ARCH from the apt mirror $mirror."
    fi
    local deb
    for deb in "$tmp"/var/cache/apt/archives/*.deb; do
        dpkg-deb -x "$deb" "$tmp" || die "could not unpack $deb into the $ARCH root."
    done
    rm -f "$tmp"/var/cache/apt/archives/*.deb
    if [ "$ARCH" = armhf ]; then link_blas "$tmp"; else write_cpuinfo "$tmp"; fi
    [ -x "$tmp$PI_PYTHON" ] || die "the $ARCH root has no $PI_PYTHON after unpacking; see $log."
    mv "$tmp" "$ROOTFS"
    rootfs_stamp >"$ARCH_CACHE/rootfs.stamp"
}

# numpy's modules load libblas.so.3 and liblapack.so.3, which Debian provides as alternatives:
# links that libblas3's and liblapack3's maintainer scripts (update-alternatives) would make. Made
# relative, so that they resolve inside the root when qemu opens them there.
link_blas() {
    local lib dir="$1/usr/lib/arm-linux-gnueabihf"
    for lib in blas/libblas.so.3 lapack/liblapack.so.3; do
        [ -e "$dir/$lib" ] || die "the armhf root has no $dir/$lib after unpacking (python3-numpy needs it)."
        ln -sfn "$lib" "$dir/${lib#*/}"
    done
}

# qemu-user passes the host's /proc/cpuinfo through. LiteRT and onnxruntime (through the cpuinfo
# library) find no ARM core in an x86 file and crash with SIGSEGV at start-up. qemu looks up
# absolute paths in QEMU_LD_PREFIX first, so a Raspberry Pi 4's file here is what they read.
# armhf needs none: tflite-runtime there opens neither /proc/cpuinfo nor /sys (seen with
# QEMU_STRACE=1); it takes the CPU's features from the auxiliary vector, which qemu fills in for
# the emulated core.
write_cpuinfo() {
    local root="$1" cpu
    mkdir -p "$root/proc"
    {
        for cpu in 0 1 2 3; do
            printf 'processor\t: %s\nBogoMIPS\t: 108.00\nFeatures\t: fp asimd evtstrm crc32 cpuid\n' "$cpu"
            printf 'CPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x0\nCPU part\t: 0xd08\nCPU revision\t: 3\n\n'
        done
        printf 'Hardware\t: BCM2835\nRevision\t: c03111\nModel\t\t: Raspberry Pi 4 Model B Rev 1.1\n'
    } >"$root/proc/cpuinfo"
}

# The emulated Python is started through this host script, and told (QEMU_ARGV0) that it is its
# own path, so that it becomes sys.executable. Without it sys.executable is the ARM binary,
# which this kernel cannot exec when qemu is not registered with binfmt_misc (as in containers):
# runtime.backends.probe's child, which loads a file no manifest vouches for, would fail. The kernel runs
# a "#!/bin/sh" script natively, so a child started this way is emulated like its parent.
# PYTHONHOME: Python would otherwise look for its standard library next to this script.
write_launcher() {
    local text tmp="$PI_EXECUTABLE.partial"
    text="#!/bin/sh
# Written by scripts/pi_emulation.sh: Debian $SUITE $ARCH's $PI_PYTHON under qemu user mode.
export QEMU_LD_PREFIX=$(printf %q "$ROOTFS") QEMU_ARGV0=$(printf %q "$PI_EXECUTABLE") PYTHONHOME=$(printf %q "$ROOTFS/usr")
exec $(printf %q "$QEMU") $(printf %q "$ROOTFS$PI_PYTHON") \"\$@\""
    [ "$(cat "$PI_EXECUTABLE" 2>/dev/null)" = "$text" ] && return
    mkdir -p "$(dirname "$PI_EXECUTABLE")"
    echo "$text" >"$tmp"
    chmod +x "$tmp"
    mv "$tmp" "$PI_EXECUTABLE"
}

# ---------------------------------------------------------------------------------------------
# Site folders: the flavour's packages as ARM wheels, fetched and installed by the host's pip
# (pip under emulation would be slow). pip does not derive older manylinux tags from a given one,
# so every tag the release's glibc accepts is listed (tflite-runtime's only cp311 aarch64 and armv7l
# wheels are tagged manylinux_2_34).

python3_host() {
    local python="${PI_EMULATION_PYTHON:-}"
    if [ -z "$python" ]; then
        if [ -x "$PROJECT/.venv/bin/python" ]; then python="$PROJECT/.venv/bin/python"; else python=python3; fi
    fi
    "$python" "$@"
}

pip_host() { python3_host -m pip --disable-pip-version-check "$@"; }

wheel_flags() {
    local minor
    echo --only-binary=:all: --implementation cp --python-version "$PY_VERSION" --abi "$CP_TAG"
    for minor in $(seq "$GLIBC_MINOR" -1 17); do echo --platform "manylinux_2_${minor}_$WHEEL_ARCH"; done
    echo --platform "manylinux2014_$WHEEL_ARCH"
}

extras_of() {
    case "$ARCH $1" in
        "arm64 tflite") echo tflite-runtime images ;;
        "arm64 litert") echo litert onnxruntime images ;;
        "armhf tflite") echo tflite-runtime images ;; # numpy and Pillow: Debian's python3-numpy, python3-pil
        "armhf apt") echo onnxruntime images ;; # all three from Debian (DEBIAN_PYTHON_PACKAGES)
        "armhf litert") die "the 'litert' flavour does not exist on armhf (32-bit Raspberry Pi OS):" \
            "ai-edge-litert and onnxruntime publish no armv7 wheels; use the 'tflite' flavour (bookworm) or 'apt' (trixie)." ;;
        *) die "unknown flavour '$1'; expected one of: $FLAVOURS" ;;
    esac
    case " $FLAVOURS " in
        *" $1 "*) ;;
        *) die "the '$1' flavour does not exist on Debian $SUITE $ARCH; expected one of: $FLAVOURS" \
            "(tflite-runtime's last wheels are cp311, not trixie's 3.13; Debian packages onnxruntime from trixie on)" ;;
    esac
}

# The project's dependencies plus the flavour's extras, one per line, read from pyproject.toml
# so the emulated Pi gets what `pip install ".[extras]"` gives a real one.
requirements_of() {
    local extras
    extras="$(extras_of "$1")"
    # shellcheck disable=SC2086  # one argument per extra
    python3_host "$HELPER" requirements "$PROJECT/pyproject.toml" $extras || die "could not read the requirements from pyproject.toml (needs Python 3.11+ for tomllib)."
}

# Of the requirements in REQS, prints those pip must install and writes to PINS the versions of
# DEBIAN_PYTHON_PACKAGES in the root (as `pip install` in a venv with --system-site-packages
# would take them), after checking that they satisfy the requirements that name them.
split_debian_provided() {
    local reqs="$1" pins="$2"
    # shellcheck disable=SC2086  # one argument per package
    python3_host "$HELPER" split-debian "$reqs" "$ROOTFS/usr/lib/python3/dist-packages" "$pins" $DEBIAN_PYTHON_PACKAGES
}

# After `pip install --no-deps`: every dependency of what pip installed into SITE must be met by
# SITE itself or by Debian's packages in the root.
check_dependencies() {
    local site="$1"
    python3_host "$HELPER" check-deps "$site" "$ROOTFS/usr/lib/python3/dist-packages" "$MACHINE"
}

# Builds SITE from wheels fetched into WHEELS with pip's FLAGS, unless SITE.stamp says it is
# already built from the same STAMP. A partial site never replaces a good one.
build_site() {
    local name="$1" site="$2" stamp="$3" reqs="$4"
    shift 4
    if [ "$(cat "$site.stamp" 2>/dev/null)" = "$stamp" ] && [ -d "$site" ]; then
        return
    fi
    local wheels="$site.wheels" log="$site.log"
    rm -rf "$site" "$site.partial" "$site.stamp" "$site.pins" "$wheels"
    if [ ! -s "$reqs" ]; then # everything comes from Debian (trixie armhf's apt flavour)
        mkdir -p "$site"
        echo "$stamp" >"$site.stamp"
        return
    fi
    say "fetching wheels for $name: $(tr '\n' ' ' <"$reqs")..."
    if ! pip_host download --dest "$wheels" "$@" -r "$reqs" >"$log" 2>&1; then
        die_with_log "$log" "pip could not download the wheels for $name."
    fi
    say "installing them into $site ..."
    # --ignore-requires-python: `download` chose them for the target's Python; pip's install
    # step would check them against the host's own.
    if ! pip_host install --no-index --find-links "$wheels" --target "$site.partial" --ignore-requires-python "$@" -r "$reqs" >>"$log" 2>&1; then
        die_with_log "$log" "pip could not install the wheels for $name."
    fi
    rm -rf "$wheels" # pip's own cache keeps them
    mv "$site.partial" "$site"
    echo "$stamp" >"$site.stamp"
}

build_pi_site() {
    local flavour="$1" reqs="$ARCH_CACHE/requirements-$1.txt" site="$ARCH_CACHE/site-$1"
    requirements_of "$flavour" >"$reqs.new"
    mv "$reqs.new" "$reqs"
    local pip_reqs="$reqs" debian_pins="" no_deps=""
    if [ -n "$DEBIAN_PYTHON_PACKAGES" ]; then
        # pip installs the rest, without dependencies (it would look for numpy wheels; checked below).
        pip_reqs="$reqs.pip" debian_pins="$ARCH_CACHE/debian-$flavour.pins" no_deps=--no-deps
        split_debian_provided "$reqs" "$debian_pins" >"$pip_reqs" \
            || die "Debian's Python packages in the $ARCH root do not meet pyproject.toml's requirements (above)."
    fi
    # shellcheck disable=SC2046,SC2086  # lists of words
    build_site "'$flavour' ($WHEEL_ARCH)" "$site" \
        "$(echo "v$STAMP_VERSION $CP_TAG manylinux_2_${GLIBC_MINOR}_$WHEEL_ARCH"; cat "$pip_reqs" $debian_pins)" \
        "$pip_reqs" $(wheel_flags) $no_deps
    # The exact versions installed, for the x86_64 twin below (build_site removes them when it rebuilds).
    if [ ! -s "$site.pins" ]; then
        if [ -n "$no_deps" ]; then
            check_dependencies "$site" || die "the '$flavour' flavour's packages lack a dependency on $ARCH (above)."
        fi
        # shellcheck disable=SC2086
        { pip_host freeze --path "$site"; cat $debian_pins; } >"$site.pins.new"
        mv "$site.pins.new" "$site.pins"
    fi
}

# The twin on this machine's own architecture: the same pinned versions, so that a difference
# between `run` and `run-host` comes from the architecture, not from a package release. It needs
# a host Python of the release's version (trixie: 3.13), or pip cannot install those versions.
host_python_matches() { [ "$(python3_host -c 'import sys; print("%d.%d" % sys.version_info[:2])')" = "$PY_VERSION" ]; }

build_host_site() {
    local flavour="$1" pins="$ARCH_CACHE/site-$1.pins"
    host_python_matches || return 0
    build_site "'$flavour' ($(uname -m), pinned to the $WHEEL_ARCH versions)" "$ARCH_CACHE/host-$flavour" \
        "$(echo "v$STAMP_VERSION"; python3_host -c 'import sys, platform; print(sys.version.split()[0], platform.machine())'; cat "$pins")" \
        "$pins" --only-binary=:all:
}

# ---------------------------------------------------------------------------------------------
# Running

# Paths given to the emulated program are the host's, except absolute paths that also exist in
# the ARM root (/etc, /usr, /proc/cpuinfo ...): qemu opens those in the root (QEMU_LD_PREFIX).
# Debian's own Python packages (armhf: numpy, Pillow) come from the root's dist-packages, after
# the flavour's site on sys.path.
emulate() {
    local flavour="$1"
    shift
    env -u VIRTUAL_ENV QEMU_CPU="$QEMU_CPU_MODEL" ${HAS_GCC:+"CC=$ARCH_CACHE/bin/cc"} \
        PYTHONPATH="$ARCH_CACHE/site-$flavour:$PROJECT" PYTHONNOUSERSITE=1 \
        "$PI_EXECUTABLE" "$@"
}

# -S: without site-packages, so the host Python's own packages cannot mix in.
run_host() {
    local flavour="$1"
    shift
    env -u VIRTUAL_ENV -u PYTHONHOME PYTHONPATH="$ARCH_CACHE/host-$flavour:$PROJECT" PYTHONNOUSERSITE=1 \
        "$(python3_host -c 'import sys; print(sys.executable)')" -S "$@"
}

# Builds whatever is missing or out of date; with the cache in place this only compares stamps.
prepare() {
    mkdir -p "$ARCH_CACHE"
    # One build at a time per cache and architecture: a test run and a user may start one together.
    exec 9>"$ARCH_CACHE/.lock"
    flock 9
    ensure_host_tools
    build_rootfs
    write_launcher # and the root's gcc as bin/cc, as the helper's `compiler` says why
    [ -z "$HAS_GCC" ] || python3_host "$HELPER" compiler "$ROOTFS" "$QEMU" "$ARCH_CACHE" "$QEMU_CPU_MODEL" "$SUITE $ARCH"
    local flavour
    for flavour in $FLAVOURS; do
        build_pi_site "$flavour"
        build_host_site "$flavour"
    done
    exec 9>&-
}

# `setup` also starts Python, numpy and Pillow in each flavour, so a broken cache shows up here, once,
# rather than in the middle of a test.
setup() {
    prepare
    local flavour machine
    for flavour in $FLAVOURS; do
        machine="$(emulate "$flavour" -c "import platform, numpy, PIL$IMPORTS_TOO; print(platform.machine())" 2>&1)" \
            || die "the '$flavour' flavour does not start under emulation:" "$machine"
        [ "$machine" = "$MACHINE" ] || die "expected machine $MACHINE under emulation, got: $machine"
    done
    [ -z "$HAS_GCC" ] || machine="$("$ARCH_CACHE/bin/cc" -dumpmachine 2>&1)" || die "gcc does not start under emulation:" "$machine"
}

# The comment at the top of this file, up to `set`.
usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -n 's/^# \{0,1\}//p'; }

main() {
    local command="${1:-}"
    case "$command" in
        setup)
            local start=$SECONDS
            setup
            say "ready in $((SECONDS - start)) s: Debian $SUITE $ARCH (Python $PY_VERSION) on $("$QEMU" --version | head -n 1)," \
                "CPU $QEMU_CPU_MODEL; flavours $FLAVOURS; cache $ARCH_CACHE"
            ;;
        run | run-host)
            [ $# -ge 2 ] || die "usage: $0 $command FLAVOUR PYTHON-ARG..." "FLAVOUR: one of $FLAVOURS"
            local flavour="$2"
            extras_of "$flavour" >/dev/null
            shift 2
            prepare
            if [ "$command" = run-host ] && ! host_python_matches; then
                die "run-host needs a host Python $PY_VERSION, like Debian $SUITE's (PI_EMULATION_PYTHON); $(python3_host --version) is not."
            fi
            if [ "$command" = run ]; then emulate "$flavour" "$@"; else run_host "$flavour" "$@"; fi
            ;;
        clean)
            say "removing $CACHE (every release and architecture)"
            rm -rf "$CACHE"
            ;;
        -h | --help)
            usage
            ;;
        *)
            usage >&2
            exit 2
            ;;
    esac
}

main "$@"
