"""`python -m runtime bench` on every emulated Raspberry Pi OS cell of scripts/pi_emulation.sh,
as relative figures only: emulation is 30-200x slower than a Pi and not evenly so (qemu
translates each instruction set its own way), so its timings are not a device's. What
survives emulation is a ratio measured in one process, on one emulated CPU: the runtime
against the bare interpreter doing the same work, and an int8 file against its float32 twin.

    python benchmarks/emulated_bench.py --models DIR [--cells bookworm-arm64-litert ...] [--json]

Per cell (release, architecture, flavour) it prints the line `bench` prints from `runtime
doctor` (what doctor recommends on that emulated device), then per artifact: one image's
time and the largest batch's throughput, the runtime's against the bare interpreter's, and
each int8 file's single-image speed and largest-batch throughput against its float32 twin's
on the same backend. Each cell's bench runs with --no-startup (a whole process under qemu
times its translation, not the device). About 2 minutes a cell here.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "pi_emulation.sh"
CELLS = ("bookworm-arm64-litert", "bookworm-arm64-tflite", "bookworm-armhf-tflite", "trixie-arm64-litert",
         "trixie-armhf-apt")
"""release-architecture-flavour: every flavour scripts/pi_emulation.sh builds."""


def bench_cell(cell: str, models: Path) -> dict:
    release, arch, flavour = cell.split("-")
    env = dict(os.environ, PI_EMULATION_RELEASE=release, PI_EMULATION_ARCH=arch)
    done = subprocess.run(["bash", str(SCRIPT), "run", flavour, "-m", "runtime", "bench", "--models", str(models),
                           "--no-startup", "--json"], env=env, capture_output=True, text=True, timeout=3600)
    if done.returncode not in (0, 1):  # 1: an artifact was skipped (no interpreter for it there), said in the JSON
        raise SystemExit(f"{cell}: bench failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return json.loads(done.stdout)


def relative(report: dict) -> list:
    """One row per artifact and backend: its ratios (see the module's docstring)."""
    rows = {}
    for row in report["rows"]:
        ours, bare = row["timings"]["runtime"], row["timings"]["bare"]
        top = str(max(row["batch_sizes"]))
        rows[(row["artifact"], row["backend"])] = {
            "artifact": row["artifact"], "backend": row["backend"], "largest_batch": int(top),
            "one_image_vs_bare": ours["p50_us"] / bare["p50_us"],
            "largest_batch_vs_bare": ours["images_per_s"][top] / bare["images_per_s"][top],
            "p50_us": ours["p50_us"], "images_per_s": ours["images_per_s"][top]}
    for (artifact, backend), row in rows.items():
        twin = rows.get((artifact.replace("_int8.", "_float32."), backend)) if "_int8." in artifact else None
        if twin:
            row["int8_one_image_speedup"] = twin["p50_us"] / row["p50_us"]
            row["int8_largest_batch_speedup"] = row["images_per_s"] / twin["images_per_s"]
    return [{k: v for k, v in row.items() if k not in ("p50_us", "images_per_s")} for row in rows.values()]


def markdown(cell: str, report: dict) -> str:
    lines = [f"**{cell}** ({report['machine']['machine']}, Python {report['machine']['python']}, numpy "
             f"{report['machine']['numpy']}); doctor recommends: {report.get('doctor') or '(not said)'}", "",
             "| artifact | backend | one image: runtime / bare time | largest batch: runtime / bare throughput | int8 / float32 speed: one image, largest batch |",
             "|---|---|---|---|---|"]
    for row in relative(report):
        speed = (f"{row['int8_one_image_speedup']:.2f}x, {row['int8_largest_batch_speedup']:.2f}x"
                 if "int8_one_image_speedup" in row else "")
        lines.append(f"| {row['artifact']} | {row['backend']} | {row['one_image_vs_bare']:.2f}x | "
                     f"{row['largest_batch_vs_bare']:.2f}x (b={row['largest_batch']}) | {speed} |")
    lines += [f"skipped {s['artifact']}: {s['reason']}" for s in report["skipped"]]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", required=True, type=Path, help="a models folder (manifest.json and its files)")
    parser.add_argument("--cells", nargs="+", choices=CELLS, default=list(CELLS), help="the emulated cells (default: all)")
    parser.add_argument("--json", action="store_true", help="print the relative figures as JSON")
    args = parser.parse_args(argv)
    results = {}
    for cell in args.cells:
        print(f"benchmarking {cell} ...", file=sys.stderr, flush=True)
        report = bench_cell(cell, args.models.resolve())
        results[cell] = {"doctor": report.get("doctor"), "machine": report["machine"], "rows": relative(report),
                         "skipped": report["skipped"]}
        if not args.json:
            print(markdown(cell, report) + "\n", flush=True)
    if args.json:
        print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
