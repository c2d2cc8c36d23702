"""The Keras model (model.predict and a direct call) in the same table as the runtime's
artifacts, so a user sees what moving off TensorFlow buys. Training side: needs TensorFlow.

    python benchmarks/keras_vs_runtime.py [--models DIR] [--threads N] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from train.quiet import quiet_tensorflow  # noqa: E402

quiet_tensorflow()

import numpy as np  # noqa: E402

from runtime.apps.bench import BATCH_SIZES, BenchRow, bench_models, format_report, peak_rss_mib  # noqa: E402
from runtime.evaluate.timing import timings  # noqa: E402
from runtime.store.folder import ModelsFolder  # noqa: E402
from runtime.store.bundles import load_reference  # noqa: E402

KERAS_PREDICT_RUNS = 50
"""model.predict costs tens of milliseconds per call; fewer samples suffice."""
KERAS_CALL_RUNS = 500


def bench_keras(models: Path) -> tuple:
    """Measured in this process, after the runtime's children: its peak memory includes
    TensorFlow. Returns the row and the seconds that importing Keras (and TensorFlow) took."""
    start = time.perf_counter()
    import keras

    import_s = time.perf_counter() - start
    keras_entry = ModelsFolder.open(models).manifest.keras
    start = time.perf_counter()
    model = keras.models.load_model(models / keras_entry.path, compile=False, safe_mode=True)
    load_s = time.perf_counter() - start
    x = keras_entry.contract.model_input(load_reference(models).images)
    while len(x) < max(BATCH_SIZES):
        x = np.concatenate([x, x])
    start = time.perf_counter()
    model.predict(x[:1], verbose=0)
    first_s = time.perf_counter() - start
    predict = timings(load_s, first_s, lambda: model.predict(x[:1], verbose=0),
                      {b: (lambda b=b: model.predict(x[:b], verbose=0)) for b in BATCH_SIZES}, KERAS_PREDICT_RUNS)
    start = time.perf_counter()
    model(x[:1], training=False)
    first_call_s = time.perf_counter() - start
    call = timings(load_s, first_call_s, lambda: model(x[:1], training=False),
                   {b: (lambda b=b: model(x[:b], training=False)) for b in BATCH_SIZES}, KERAS_CALL_RUNS)
    row = BenchRow(
        artifact=keras_entry.path, precision="float32", backend=f"keras {keras.__version__}",
        bytes=(models / keras_entry.path).stat().st_size,
        timings={"model.predict": predict, "model(x)": call}, peak_rss_mib=peak_rss_mib(),
    )
    return row, import_s


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="models", metavar="DIR", help="folder with manifest.json (default: models)")
    parser.add_argument("--threads", type=int, default=None, metavar="N", help="interpreter threads")
    parser.add_argument("--runs", type=int, default=2000, metavar="N", help="single-image samples per runtime row")
    parser.add_argument("--json", action="store_true", help="print JSON instead of the table")
    args = parser.parse_args(argv)
    models = Path(args.models)
    report = bench_models(models, threads=args.threads, runs=args.runs, startup=False,
                          log=None if args.json else (lambda line: print(line, file=sys.stderr, flush=True)))
    keras_row, import_s = bench_keras(models)
    report.rows.insert(0, keras_row)
    if args.json:
        print(json.dumps(dict(report.to_json(), keras_import_ms=import_s * 1000), indent=2))
    else:
        print(format_report(report))
        print(f"\nImporting keras (and TensorFlow) took {import_s * 1000:.0f} ms before the Keras row's load time.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
