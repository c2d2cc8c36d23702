"""Which of onnxruntime's graph transformers change an ONNX file's answers, with the onnxruntime
installed here: each optimization level, then every optimization on with one transformer left
out at a time, each against ORT_DISABLE_ALL and against the Keras model (reference.npz), and the
runtime's own session (runtime/backends/onnx_runtime.py's onnx_session_options). Then the time of one image
and of the whole reference batch (one thread), onnxruntime's defaults against the runtime's
options, timed in alternation. Device side: needs only numpy and onnxruntime, so it runs on an emulated Pi too.

    python benchmarks/onnx_optimizers.py --models models
    PI_EMULATION_RELEASE=trixie PI_EMULATION_ARCH=armhf \\
        bash scripts/pi_emulation.sh run apt benchmarks/onnx_optimizers.py --models models

TRANSFORMERS are the ones that rewrite the seed's graphs (seen in the optimized models that
SessionOptions.optimized_model_filepath writes); a name this onnxruntime does not know changes
nothing.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from runtime.backends.native_output import filtered_stderr  # noqa: E402
from runtime.backends.onnx_runtime import onnx_session_options  # noqa: E402
from runtime.store.bundles import load_reference  # noqa: E402

LEVELS = ("ORT_ENABLE_BASIC", "ORT_ENABLE_EXTENDED", "ORT_ENABLE_ALL")
TRANSFORMERS = ("ConstantFolding", "QDQPropagationTransformer", "MatMulAddFusion", "GemmActivationFusion",
                "WeightBiasQuantization")
DISABLE_KEY = "optimization.disable_specified_optimizers"


def session(ort, path: Path, level: str = "ORT_ENABLE_ALL", left_out: str = "", options=None):
    """An InferenceSession at `level`, less the transformer `left_out`; or with `options`."""
    if options is None:
        options = ort.SessionOptions()
        options.graph_optimization_level = getattr(ort.GraphOptimizationLevel, level)
        if left_out:
            options.add_session_config_entry(DISABLE_KEY, left_out)
    with filtered_stderr():  # Debian's build: 567 lines of duplicate ONNX schemas at the first session
        return ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])


def outputs(s, images: np.ndarray) -> np.ndarray:
    return s.run(None, {s.get_inputs()[0].name: images})[0]


def median_ms(pair: dict, images: np.ndarray, runs: int) -> dict:
    """Median milliseconds of each session's run on `images`, the sessions called in turn."""
    times = {name: [] for name in pair}
    for _ in range(3):  # warm-up
        for s in pair.values():
            outputs(s, images)
    for _ in range(runs):
        for name, s in pair.items():
            start = time.perf_counter()
            outputs(s, images)
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) * 1000 for name, t in times.items()}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="models", metavar="DIR", help="folder with reference.npz (default: models)")
    parser.add_argument("--files", nargs="+", default=["mnist_mlp_float32.onnx", "mnist_mlp_int8.onnx"], metavar="NAME",
                        help="ONNX files in DIR (default: the seed's two)")
    parser.add_argument("--runs", type=int, default=None, metavar="N",
                        help="timed runs of one image (default: 200, 20 on 32-bit ARM); the batch gets a tenth, at least 5")
    args = parser.parse_args(argv)
    import onnxruntime as ort

    models = Path(args.models)
    reference = load_reference(models)
    runs = args.runs or (20 if platform.machine().startswith("arm") else 200)
    print(f"onnxruntime {ort.__version__} on {platform.machine()}, {len(reference.images)} reference images; "
          "max |Δp| against ORT_DISABLE_ALL and against Keras")
    for name in args.files:
        path = models / name
        off = outputs(session(ort, path, "ORT_DISABLE_ALL"), reference.images)
        print(f"\n{name}: ORT_DISABLE_ALL against Keras {np.abs(off - reference.probs).max():.2e}")
        rows = [(level, session(ort, path, level)) for level in LEVELS]
        rows += [(f"ORT_ENABLE_ALL less {t}", session(ort, path, left_out=t)) for t in TRANSFORMERS]
        rows.append(("the runtime's options", session(ort, path, options=onnx_session_options(ort))))
        for label, s in rows:
            probs = outputs(s, reference.images)
            print(f"  {label:48s} {np.abs(probs - off).max():.2e}  {np.abs(probs - reference.probs).max():.2e}")
        defaults = ort.SessionOptions()
        defaults.intra_op_num_threads = 1  # one thread each: steadier figures on a shared machine
        pair = {"defaults": session(ort, path, options=defaults),
                "runtime": session(ort, path, options=onnx_session_options(ort, num_threads=1))}
        for images, n in ((reference.images[:1], runs), (reference.images, max(5, runs // 10))):
            ms = median_ms(pair, images, n)
            print(f"  batch {len(images):4d}: onnxruntime's defaults {ms['defaults']:.3f} ms, the runtime's options "
                  f"{ms['runtime']:.3f} ms ({ms['runtime'] / ms['defaults']:.2f}x), median of {n}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
