"""`python -m runtime bench` on real architectures: the runtime against the bare interpreter,
and each benchmark child's peak memory, on tests/zoo.py's MobileNetV2, ResNet, EfficientNetB0
and separable CNN and on MobileNetV3Small (keras.applications, weights=None), each trained on
the zoo's shapes at 96x96 and converted with `python -m convert all` (float32 and int8, TFLite
and ONNX). Training side; slow (about 15 minutes to build the zoo, 2 minutes a model to bench):
run it niced.

    nice python benchmarks/zoo_bench.py [--models mobilenet_v2,mobilenet_v3_small,...]
        [--repeats 2] [--work DIR] [--json]

Built models are kept in --work and reused. Each model's folder is benched --repeats times;
the summary gives, per artifact, the range over the runs of `bench`'s two ratios (one image:
the runtime's median latency over the bare interpreter's, target <= 2x; the largest batch: its
throughput over the bare's, target >= 0.9x) and the highest peak (target < 1.5 GB, 1,536 MiB).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

SIZE = 96
MODELS = ("mobilenet_v2", "mobilenet_v3_small", "efficientnet_b0", "resnet", "separable")
PEAK_TARGET_MIB = 1536
DATA_PER_CLASS = 50
"""`convert --data` pictures per class (3 classes: 150 images, which calibrate and judge)."""


def mobilenet_v3_small(size: int):
    import keras

    inputs = keras.Input((size, size, 3), name="image")
    backbone = keras.applications.MobileNetV3Small(input_shape=(size, size, 3), include_top=False, weights=None,
                                                   pooling="avg", include_preprocessing=True)
    outputs = keras.layers.Dense(3, activation="softmax")(keras.layers.Dropout(0.2)(backbone(inputs)))
    return keras.Model(inputs, outputs, name="mobilenet_v3_small")


def train(name: str, work: Path) -> tuple:
    """The trained model's path, its --input-scale and channels (built once, then reused)."""
    import zoo

    path = work / f"{name}_{SIZE}.keras"
    if name == "mobilenet_v3_small":  # its own preprocessing layer takes 0..255 pixels
        if not path.exists():
            import keras
            import numpy as np

            x, y = zoo.shape_data(3, zoo.TRAIN_PER_CLASS, zoo.SEED, SIZE)
            keras.utils.set_random_seed(zoo.SEED)
            model = mobilenet_v3_small(SIZE)
            for layer in zoo.all_layers(model):
                if isinstance(layer, keras.layers.BatchNormalization):
                    layer.momentum = zoo.BATCH_NORM_MOMENTUM
            model.compile(optimizer=keras.optimizers.Adam(zoo.LEARNING_RATE), loss="sparse_categorical_crossentropy")
            model.fit(x.astype(np.float32), y, epochs=6, batch_size=zoo.BATCH_SIZE, verbose=0)
            model.save(path)
        return path, 1.0, 3
    if not path.exists():
        zoo.train_zoo_model(name, work, SIZE)
    return path, zoo.INPUT_SCALE[name], zoo.CHANNELS[name]


def models_folder(name: str, work: Path) -> Path:
    """`python -m convert all` of the trained model into work/models_<name> (once)."""
    import zoo

    from runtime.store.folder import ModelsFolder

    folder = work / f"models_{name}"
    if ModelsFolder.holds_manifest(folder):
        return folder
    path, scale, channels = train(name, work)
    data = zoo.write_npz(work / f"{name}_data.npz", channels, DATA_PER_CLASS, seed=7, size=SIZE)
    result = subprocess.run([sys.executable, "-m", "convert", "all", "--keras", str(path), "--data", str(data),
                             "--models", str(folder), "--input-scale", f"{scale:g}"],
                            cwd=ROOT, capture_output=True, text=True)
    if result.returncode not in (0, 3):  # 3: a file is listed as unproven, which bench measures like any other
        raise SystemExit(f"convert all of {name} failed ({result.returncode}): {result.stderr[-2000:]}")
    return folder


def bench(folder: Path) -> dict:
    result = subprocess.run([sys.executable, "-m", "runtime", "bench", "--models", str(folder), "--no-startup", "--json"],
                            cwd=ROOT, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"bench of {folder} failed ({result.returncode}): {result.stderr[-2000:]}")
    return json.loads(result.stdout)


def ratios(row: dict) -> dict:
    ours, bare = row["timings"]["runtime"], row["timings"]["bare"]
    top = str(max(row["batch_sizes"]))
    return {"artifact": row["artifact"], "batch": int(top), "peak_mib": row["peak_rss_mib"],
            "one_image": ours["p50_us"] / bare["p50_us"], "largest_batch": ours["images_per_s"][top] / bare["images_per_s"][top]}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default=",".join(MODELS), help=f"comma-separated, from {', '.join(MODELS)}")
    parser.add_argument("--repeats", type=int, default=2, help="runs of bench per model (default 2)")
    parser.add_argument("--work", type=Path, help="where the trained and converted zoo is kept (default: a temporary folder)")
    parser.add_argument("--json", action="store_true", help="print every run's ratios as JSON")
    args = parser.parse_args(argv)
    names = [n for n in args.models.split(",") if n]
    unknown = sorted(set(names) - set(MODELS))
    if unknown or args.repeats < 1:
        parser.error(f"unknown model {', '.join(unknown)}" if unknown else "--repeats: expected a whole number >= 1")
    with tempfile.TemporaryDirectory() as scratch:
        work = args.work or Path(scratch)
        work.mkdir(parents=True, exist_ok=True)
        runs = []
        for name in names:
            folder = models_folder(name, work)
            for repeat in range(args.repeats):
                print(f"bench {name}, run {repeat + 1} of {args.repeats} ...", file=sys.stderr, flush=True)
                report = bench(folder)
                runs += [dict(ratios(row), model=name, run=repeat) for row in report["rows"]]
    if args.json:
        print(json.dumps(runs, indent=1))
        return 0
    print(f"{'artifact':36s}  {'largest batch':>13s}  {'one image':>11s}  {'batch':>11s}  {'peak MiB':>9s}")
    missed = 0
    for artifact in dict.fromkeys(r["artifact"] for r in runs):
        mine = [r for r in runs if r["artifact"] == artifact]
        one = [r["one_image"] for r in mine]
        many = [r["largest_batch"] for r in mine]
        peak = max(r["peak_mib"] for r in mine)
        missed += max(one) > 2.0 or min(many) < 0.9 or peak >= PEAK_TARGET_MIB
        batches = sorted({r["batch"] for r in mine})
        print(f"{artifact:36s}  {'/'.join(map(str, batches)):>13s}  {min(one):.2f}-{max(one):.2f}x  "
              f"{min(many):.2f}-{max(many):.2f}x  {peak:9.0f}")
    print(f"targets: one image <= 2x the bare time, largest batch >= 0.9x its throughput, peak < {PEAK_TARGET_MIB} MiB; "
          f"{missed} of {len(set(r['artifact'] for r in runs))} artifacts missed one in at least one run")
    return 0


if __name__ == "__main__":
    sys.exit(main())
