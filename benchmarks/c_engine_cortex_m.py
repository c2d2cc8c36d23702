"""The C engine of `python -m convert micro` on emulated Cortex-M cores, beside TFLite Micro's
measured arena: flash and static RAM from arm-none-eabi-size (the plan holds the input
tensor, as TFLM's arena does), the stack an inference used,
instructions per inference (QEMU -icount), and whether its outputs equal TFLite Micro's on
the reference images, on this machine and on each core. Training side (TFLite Micro's
interpreter); needs Debian's gcc-arm-none-eabi, picolibc-arm-none-eabi and qemu-system-arm.

    python benchmarks/c_engine_cortex_m.py --models models [--images 100] [--json]

QEMU is not cycle-accurate: instructions are work done, not a board's time.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

CORES = ("cortex-m4f", "cortex-m3")


def measure(models: Path, images: int) -> list:
    import runtime
    from convert.c_engine import cortex_m, generate
    from runtime.backends.c_engine import EngineLibrary
    from runtime.store.folder import ModelsFolder

    folder = ModelsFolder.open(models)
    manifest = folder.manifest
    rows = []
    for entry in (a for a in manifest.artifacts if a.format == "c"):
        tflm = manifest.find(entry.extra["model"])
        data = folder.file(tflm.path).read_bytes()
        engine = generate(data, entry.extra["name"], tflm.path)
        if engine.source != folder.file(entry.extra["source"]).read_text():
            raise SystemExit(f"error: {entry.path} is not what {tflm.path} generates now: run python -m convert micro again")
        model = runtime.load(folder.file(tflm.path), backend="tflite-micro")
        x = model.pixels_to_input(model.contract.check_shape(folder.reference().images[:images]))
        tflm_out = model.backend.run(x).reshape(len(x), -1)
        host = EngineLibrary(engine.source, engine.header, engine.name).run(x)
        for core in CORES:
            with tempfile.TemporaryDirectory() as folder:
                built = cortex_m.build(engine, folder, core)
                run = cortex_m.run(built, x)
            ram = engine.arena_bytes + run.stack_bytes + engine.output.bytes  # the plan holds the input tensor
            rows.append({
                "engine": entry.path, "core": built.core.description, "images": len(x),
                "identical_to_tflite_micro_host": int((host == tflm_out).all(1).sum()),
                "identical_to_tflite_micro_core": int((run.outputs == tflm_out).all(1).sum()),
                "flash_bytes": built.engine.flash, "plan_bytes": engine.arena_bytes, "stack_bytes": run.stack_bytes,
                "output_bytes": engine.output.bytes, "ram_bytes": ram,
                "tflite_micro_arena_bytes": tflm.micro.arena["measured_bytes"], "tflite_micro_model_bytes": tflm.bytes,
                "instructions_per_inference": int(np.median(run.instructions)),
            })
    return rows


def table(rows: list) -> str:
    head = ("engine", "core", "same as TFLM", "flash", "RAM = plan + stack + output", "TFLM arena", "instructions")
    lines = [head]
    for r in rows:
        lines.append((r["engine"], r["core"],
                      f"{r['identical_to_tflite_micro_core']}/{r['images']} (host {r['identical_to_tflite_micro_host']})",
                      f"{r['flash_bytes']:,}", f"{r['ram_bytes']:,} = {r['plan_bytes']:,} + {r['stack_bytes']} + {r['output_bytes']:,}",
                      f"{r['tflite_micro_arena_bytes']:,}", f"{r['instructions_per_inference']:,}"))
    widths = [max(len(str(line[i])) for line in lines) for i in range(len(head))]
    out = ["  ".join(str(v).ljust(w) for v, w in zip(line, widths)).rstrip() for line in lines]
    out.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="models", help="a models folder after `python -m convert micro` (default: models)")
    parser.add_argument("--images", type=int, default=100, help="reference images run on each core (default: 100)")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    args = parser.parse_args()
    rows = measure(Path(args.models), args.images)
    if not rows:
        print(f"error: {args.models}/manifest.json lists no C engine: run python -m convert micro first", file=sys.stderr)
        return 2
    print(json.dumps(rows, indent=2) if args.json else table(rows))
    return 0 if all(r["identical_to_tflite_micro_core"] == r["images"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
