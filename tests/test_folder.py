"""The models folder has one owner (runtime/store/folder.py): a command opens the folder once, so
`runtime predict IMAGE` and `runtime parity` read manifest.json once per run, and parity reads
the reference bundle once; no module outside runtime/store names the folder's own files. Counted
with Python's audit hook on every file a run opens, whatever code opens it."""

import ast
import json
import subprocess
import sys
import textwrap

from PIL import Image

from conftest import ROOT

COUNT_OPENS = textwrap.dedent(
    """
    import json, os, sys
    from pathlib import Path

    opened = {}

    def count(event, args):
        if event == "open" and isinstance(args[0], (str, bytes, os.PathLike)):
            name = Path(os.fsdecode(args[0])).name
            opened[name] = opened.get(name, 0) + 1

    sys.addaudithook(count)
    from runtime.__main__ import main

    status = main(sys.argv[2:])
    Path(sys.argv[1]).write_text(json.dumps({"status": status, "opened": opened}))
    """
)
OWN_FILES = ("MANIFEST_NAME", "REFERENCE_NAME", "CALIBRATION_NAME", "LOCK_NAME", "MANIFEST_LOCK_NAME")
"""The names of the folder's own files in runtime/store/layout.py: only the store uses them."""


def opened_by(tmp_path, *args) -> dict:
    """{"status", "opened": file name -> times opened} of `python -m runtime ARGS`, run whole."""
    out = tmp_path / "opened.json"
    result = subprocess.run([sys.executable, "-c", COUNT_OPENS, out, *map(str, args)], cwd=ROOT, capture_output=True,
                            text=True, timeout=300)
    assert out.is_file(), result.stderr[-2000:]
    return json.loads(out.read_text())


def digit_file(reference, tmp_path):
    path = tmp_path / "digit.png"
    image = reference.images[0]
    Image.fromarray(image.squeeze(-1) if image.ndim == 3 else image).save(path)
    return path


def test_predict_reads_the_manifest_once(pipeline, reference, tmp_path):
    digit = digit_file(reference, tmp_path)
    default = opened_by(tmp_path, "predict", digit, "--models", pipeline.models)  # the folder's default model
    assert default["status"] == 0 and default["opened"]["manifest.json"] == 1, default
    chosen = opened_by(tmp_path, "predict", digit, "--model", pipeline.models / "mnist_mlp_float32.onnx")
    assert chosen["status"] == 0 and chosen["opened"]["manifest.json"] == 1, chosen
    assert "digit.png" in chosen["opened"]  # the hook sees the files a run opens


def test_parity_reads_the_manifest_and_the_reference_bundle_once(pipeline, tmp_path):
    run = opened_by(tmp_path, "parity", "--models", pipeline.models, "--json")
    manifest = json.loads((pipeline.models / "manifest.json").read_text())
    assert len([a for a in manifest["artifacts"] if a["format"] != "keras"]) >= 4  # each one is loaded and judged
    assert run["opened"]["manifest.json"] == 1 and run["opened"]["reference.npz"] == 1, run


def test_only_the_store_names_the_folders_own_files():
    named = []
    for top in ("runtime", "convert", "train", "benchmarks"):
        for path in sorted((ROOT / top).rglob("*.py")):
            if path.is_relative_to(ROOT / "runtime" / "store"):
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.ImportFrom) and (node.module or "").endswith("layout"):
                    named += [f"{path.relative_to(ROOT)}: {a.name}" for a in node.names if a.name in OWN_FILES]
    assert named == [], "ask runtime.store.folder.ModelsFolder instead:\n" + "\n".join(named)
