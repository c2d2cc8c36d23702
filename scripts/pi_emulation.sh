#!/usr/bin/env bash
# The device runtime on the Raspberry Pi's own architecture, without a Pi: a Raspberry Pi OS
# userland (Debian bookworm arm64, Python 3.11) run by qemu user-mode emulation on this machine.
#
#   scripts/pi_emulation.sh setup                    build the environment (cached; seconds when it is)
#   scripts/pi_emulation.sh run FLAVOUR ARG...       python3.11 ARG... on emulated arm64, e.g.
#       scripts/pi_emulation.sh run litert -m runtime parity --models models
#   scripts/pi_emulation.sh run-host FLAVOUR ARG...  the same packages and versions natively on this
#                                                    machine, to compare the two architectures
#   scripts/pi_emulation.sh clean                    delete the cache
#
# Flavours, as in the README's "On the Raspberry Pi" (the same extras of pyproject.toml):
#   tflite   numpy<2 + tflite-runtime + Pillow               (extras tflite-runtime,images)
#   litert   numpy 2 + ai-edge-litert + onnxruntime + Pillow (extras litert,onnxruntime,images)
# The runtime package itself comes from this checkout (on PYTHONPATH): it is pure Python, so
# edits are picked up without rebuilding anything.
#
# Environment:
#   PI_EMULATION_CACHE   cache folder (default ${XDG_CACHE_HOME:-$HOME/.cache}/edge-mnist/pi-emulation)
#   PI_EMULATION_CPU     qemu CPU model (default cortex-a72, a Pi 4; cortex-a76 is a Pi 5)
#   PI_EMULATION_MIRROR  Debian mirror for the arm64 root (default: the one this machine's apt uses)
#   PI_EMULATION_PYTHON  host Python 3.11 with pip, to fetch wheels (default: .venv/bin/python)
#
# Messages go to stderr, so the stdout of `run` is the emulated program's alone (e.g. --json).
# Needs root (or password-less sudo) only when qemu-user-static or debootstrap are missing.
set -euo pipefail

PROJECT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${PI_EMULATION_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/edge-mnist/pi-emulation}"
ROOTFS="$CACHE/rootfs"
PI_EXECUTABLE="$CACHE/bin/python3.11" # the emulated Python's sys.executable (see write_launcher)
SUITE=bookworm                        # Raspberry Pi OS 12 is Debian bookworm; its python3 is 3.11
PI_PYTHON=/usr/bin/python3.11
GLIBC_MINOR=36                        # bookworm's glibc 2.36: the newest manylinux tag it accepts
# Not qemu's default "max" CPU: with its SME extension LiteRT's int8 kernels give wrong answers
# under qemu 7.2 (10% accuracy). A Pi's Cortex-A72/A76 has no SME.
QEMU_CPU_MODEL="${PI_EMULATION_CPU:-cortex-a72}"
STAMP_VERSION=1                       # bump to rebuild everything after changing how it is built

FLAVOURS="tflite litert"

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
# Host tools: qemu-user-static runs arm64 binaries, debootstrap fetches the Debian root.

QEMU=""

find_qemu() {
    # Debian's qemu-user-static names it qemu-aarch64-static; newer releases also ship a static
    # qemu-aarch64.
    QEMU="$(command -v qemu-aarch64-static || command -v qemu-aarch64 || true)"
}

ensure_host_tools() {
    find_qemu
    if [ -n "$QEMU" ] && command -v debootstrap >/dev/null && command -v dpkg-deb >/dev/null; then
        return
    fi
    local packages="qemu-user-static debootstrap"
    local sudo=""
    if [ "$(id -u)" != 0 ]; then
        sudo -n true 2>/dev/null || die "qemu-aarch64-static or debootstrap is missing and this is not root." \
            "Install them once: sudo apt-get install $packages"
        sudo="sudo -n"
    fi
    command -v apt-get >/dev/null || die "qemu-aarch64-static or debootstrap is missing and there is no apt-get." \
        "Install qemu user-mode emulation (static) and debootstrap with this system's package manager."
    local log="$CACHE/apt.log"
    say "installing $packages (apt-get) ..."
    if ! { $sudo apt-get update && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends $packages; } >"$log" 2>&1; then
        die_with_log "$log" "could not install $packages with apt-get."
    fi
    find_qemu
    [ -n "$QEMU" ] || die "apt-get installed qemu-user-static but no qemu-aarch64-static is on PATH."
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
    mirror="$(python3_host - <<'EOF'
import glob, re

def entries():
    """(types, uris, components) of every enabled apt source, in apt's order."""
    for path in ["/etc/apt/sources.list"] + sorted(glob.glob("/etc/apt/sources.list.d/*.list")):
        try:
            lines = open(path).read().splitlines()
        except OSError:
            continue
        for line in lines:
            words = re.sub(r"\[[^]]*\]", " ", line.split("#")[0]).split()  # drop [options]
            if len(words) >= 3:
                yield [words[0]], [words[1]], words[3:]
    for path in sorted(glob.glob("/etc/apt/sources.list.d/*.sources")):
        for stanza in re.split(r"\n\s*\n", open(path).read()):
            fields = {}
            for line in stanza.splitlines():
                if ":" in line and not line.startswith(("#", " ", "\t")):
                    key, value = line.split(":", 1)
                    fields[key.strip().lower()] = value.split()
            if fields.get("enabled", ["yes"])[0].lower() != "no":
                yield fields.get("types", []), fields.get("uris", []), fields.get("components", [])

# A Debian archive: .../debian, or a snapshot of one (.../debian/20250520T000000Z).
for types, uris, components in entries():
    for uri in uris:
        if "deb" in types and "main" in components and re.search(r"/debian(/\d{8}T\d{6}Z)?/?$", uri):
            print(uri)
            raise SystemExit
EOF
)" || true
    [ -n "$mirror" ] || die "found no Debian mirror in /etc/apt/sources.list{,.d} to fetch the arm64 root from." \
        "Set PI_EMULATION_MIRROR to a Debian mirror URL (one that serves $SUITE for arm64)."
    echo "$mirror"
}

# ---------------------------------------------------------------------------------------------
# The arm64 root: bookworm's minimal base plus python3. `debootstrap --foreign` only downloads
# and unpacks; its second stage (running maintainer scripts inside the root) is not needed,
# because nothing here runs as a configured system: qemu only borrows the root's loader,
# libraries and Python (QEMU_LD_PREFIX). So every downloaded .deb is unpacked with dpkg -x.

rootfs_stamp() { echo "v$STAMP_VERSION $SUITE arm64 minbase python3 cpuinfo-pi4"; }

build_rootfs() {
    if [ "$(cat "$CACHE/rootfs.stamp" 2>/dev/null)" = "$(rootfs_stamp)" ] && [ -x "$ROOTFS$PI_PYTHON" ]; then
        return
    fi
    local mirror tmp="$CACHE/rootfs.partial" log="$CACHE/debootstrap.log"
    mirror="$(debian_mirror)"
    say "building the Debian $SUITE arm64 root in $ROOTFS (about 250 MB) ..."
    rm -rf "$tmp" "$ROOTFS" "$CACHE/rootfs.stamp"
    if ! debootstrap --arch=arm64 --foreign --variant=minbase --include=python3 "$SUITE" "$tmp" "$mirror" >"$log" 2>&1; then
        die_with_log "$log" "debootstrap could not fetch Debian $SUITE arm64 from the apt mirror $mirror."
    fi
    local deb
    for deb in "$tmp"/var/cache/apt/archives/*.deb; do
        dpkg-deb -x "$deb" "$tmp" || die "could not unpack $deb into the arm64 root."
    done
    rm -f "$tmp"/var/cache/apt/archives/*.deb
    write_cpuinfo "$tmp"
    [ -x "$tmp$PI_PYTHON" ] || die "the arm64 root has no $PI_PYTHON after unpacking; see $log."
    mv "$tmp" "$ROOTFS"
    rootfs_stamp >"$CACHE/rootfs.stamp"
}

# qemu-user passes the host's /proc/cpuinfo through. LiteRT and onnxruntime (through the cpuinfo
# library) find no ARM core in an x86 file and crash with SIGSEGV at start-up. qemu looks up
# absolute paths in QEMU_LD_PREFIX first, so a Raspberry Pi 4's file here is what they read.
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
# own path, so that it becomes sys.executable. Without it sys.executable is the arm64 binary,
# which this kernel cannot exec when qemu is not registered with binfmt_misc (as in containers):
# runtime.probe's child, which loads a file no manifest vouches for, would fail. The kernel runs
# a "#!/bin/sh" script natively, so a child started this way is emulated like its parent.
# PYTHONHOME: Python would otherwise look for its standard library next to this script.
write_launcher() {
    local text tmp="$PI_EXECUTABLE.partial"
    text="#!/bin/sh
# Written by scripts/pi_emulation.sh: Debian $SUITE arm64's $PI_PYTHON under qemu user mode.
export QEMU_LD_PREFIX=$(printf %q "$ROOTFS") QEMU_ARGV0=$(printf %q "$PI_EXECUTABLE") PYTHONHOME=$(printf %q "$ROOTFS/usr")
exec $(printf %q "$QEMU") $(printf %q "$ROOTFS$PI_PYTHON") \"\$@\""
    [ "$(cat "$PI_EXECUTABLE" 2>/dev/null)" = "$text" ] && return
    mkdir -p "$(dirname "$PI_EXECUTABLE")"
    echo "$text" >"$tmp"
    chmod +x "$tmp"
    mv "$tmp" "$PI_EXECUTABLE"
}

# ---------------------------------------------------------------------------------------------
# Site folders: the flavour's packages as aarch64 wheels, fetched and installed by the host's
# pip (pip under emulation would be slow). pip does not derive older manylinux tags from a
# given one, so every tag bookworm's glibc accepts is listed (tflite-runtime's only cp311
# aarch64 wheel is tagged manylinux_2_34).

python3_host() {
    local python="${PI_EMULATION_PYTHON:-}"
    if [ -z "$python" ]; then
        if [ -x "$PROJECT/.venv/bin/python" ]; then python="$PROJECT/.venv/bin/python"; else python=python3; fi
    fi
    "$python" "$@"
}

pip_host() { python3_host -m pip --disable-pip-version-check "$@"; }

aarch64_wheel_flags() {
    local minor
    echo --only-binary=:all: --implementation cp --python-version 3.11 --abi cp311
    for minor in $(seq "$GLIBC_MINOR" -1 17); do echo --platform "manylinux_2_${minor}_aarch64"; done
    echo --platform manylinux2014_aarch64
}

extras_of() {
    case "$1" in
        tflite) echo tflite-runtime images ;;
        litert) echo litert onnxruntime images ;;
        *) die "unknown flavour '$1'; expected one of: $FLAVOURS" ;;
    esac
}

# The project's dependencies plus the flavour's extras, one per line, read from pyproject.toml
# so the emulated Pi gets what `pip install ".[extras]"` gives a real one.
requirements_of() {
    local extras
    extras="$(extras_of "$1")"
    # shellcheck disable=SC2086  # one argument per extra
    python3_host - "$PROJECT/pyproject.toml" $extras <<'EOF' || die "could not read the requirements from pyproject.toml (needs Python 3.11+ for tomllib)."
import sys, tomllib
project = tomllib.load(open(sys.argv[1], "rb"))["project"]
print("\n".join(project["dependencies"] + [r for extra in sys.argv[2:] for r in project["optional-dependencies"][extra]]))
EOF
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
    say "fetching wheels for $name: $(tr '\n' ' ' <"$reqs")..."
    rm -rf "$site" "$site.partial" "$site.stamp" "$site.pins" "$wheels"
    if ! pip_host download --dest "$wheels" "$@" -r "$reqs" >"$log" 2>&1; then
        die_with_log "$log" "pip could not download the wheels for $name."
    fi
    say "installing them into $site ..."
    if ! pip_host install --no-index --find-links "$wheels" --target "$site.partial" "$@" -r "$reqs" >>"$log" 2>&1; then
        die_with_log "$log" "pip could not install the wheels for $name."
    fi
    rm -rf "$wheels" # pip's own cache keeps them
    mv "$site.partial" "$site"
    echo "$stamp" >"$site.stamp"
}

build_pi_site() {
    local flavour="$1" reqs="$CACHE/requirements-$1.txt"
    requirements_of "$flavour" >"$reqs.new"
    mv "$reqs.new" "$reqs"
    local site="$CACHE/site-$flavour"
    # shellcheck disable=SC2046  # a list of words
    build_site "'$flavour' (aarch64)" "$site" \
        "$(echo "v$STAMP_VERSION cp311 manylinux_2_${GLIBC_MINOR}_aarch64"; cat "$reqs")" "$reqs" $(aarch64_wheel_flags)
    # The exact versions installed, for the x86_64 twin below.
    [ -s "$site.pins" ] || pip_host freeze --path "$site" >"$site.pins"
}

# The twin on this machine's own architecture: the same pinned versions, so that a difference
# between `run` and `run-host` comes from the architecture, not from a package release.
build_host_site() {
    local flavour="$1" pins="$CACHE/site-$1.pins"
    build_site "'$flavour' ($(uname -m), pinned to the aarch64 versions)" "$CACHE/host-$flavour" \
        "$(echo "v$STAMP_VERSION"; python3_host -c 'import sys, platform; print(sys.version.split()[0], platform.machine())'; cat "$pins")" \
        "$pins" --only-binary=:all:
}

# ---------------------------------------------------------------------------------------------
# Running

# Paths given to the emulated program are the host's, except absolute paths that also exist in
# the arm64 root (/etc, /usr, /proc/cpuinfo ...): qemu opens those in the root (QEMU_LD_PREFIX).
emulate() {
    local flavour="$1"
    shift
    env -u VIRTUAL_ENV QEMU_CPU="$QEMU_CPU_MODEL" \
        PYTHONPATH="$CACHE/site-$flavour:$PROJECT" PYTHONNOUSERSITE=1 \
        "$PI_EXECUTABLE" "$@"
}

# -S: without site-packages, so the host Python's own packages cannot mix in.
run_host() {
    local flavour="$1"
    shift
    env -u VIRTUAL_ENV -u PYTHONHOME PYTHONPATH="$CACHE/host-$flavour:$PROJECT" PYTHONNOUSERSITE=1 \
        "$(python3_host -c 'import sys; print(sys.executable)')" -S "$@"
}

# Builds whatever is missing or out of date; with the cache in place this only compares stamps.
prepare() {
    mkdir -p "$CACHE"
    # One build at a time per cache: a test run and a user may start one together.
    exec 9>"$CACHE/.lock"
    flock 9
    ensure_host_tools
    build_rootfs
    write_launcher
    local flavour
    for flavour in $FLAVOURS; do
        build_pi_site "$flavour"
        build_host_site "$flavour"
    done
    exec 9>&-
}

# `setup` also starts Python and numpy in each flavour, so a broken cache shows up here, once,
# rather than in the middle of a test.
setup() {
    prepare
    local flavour machine
    for flavour in $FLAVOURS; do
        machine="$(emulate "$flavour" -c 'import platform, numpy; print(platform.machine())' 2>&1)" \
            || die "the '$flavour' flavour does not start under emulation:" "$machine"
        [ "$machine" = aarch64 ] || die "expected machine aarch64 under emulation, got: $machine"
    done
}

main() {
    local command="${1:-}"
    case "$command" in
        setup)
            local start=$SECONDS
            setup
            say "ready in $((SECONDS - start)) s: Debian $SUITE arm64 on $("$QEMU" --version | head -n 1)," \
                "CPU $QEMU_CPU_MODEL; flavours $FLAVOURS; cache $CACHE"
            ;;
        run | run-host)
            [ $# -ge 2 ] || die "usage: $0 $command FLAVOUR PYTHON-ARG..." "FLAVOUR: one of $FLAVOURS"
            local flavour="$2"
            extras_of "$flavour" >/dev/null
            shift 2
            prepare
            if [ "$command" = run ]; then emulate "$flavour" "$@"; else run_host "$flavour" "$@"; fi
            ;;
        clean)
            say "removing $CACHE"
            rm -rf "$CACHE"
            ;;
        -h | --help)
            sed -n '2,25p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
            ;;
        *)
            sed -n '2,25p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
            exit 2
            ;;
    esac
}

main "$@"
