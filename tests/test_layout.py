"""The models folder's names are spelled in runtime/store/layout.py only: a folder that train and
convert made holds nothing else, and no module spells one of them on its own."""

import ast

from conftest import ROOT
from runtime.store import layout

SPELLED_ONCE = [layout.MANIFEST_NAME, layout.REFERENCE_NAME, layout.CALIBRATION_NAME, layout.LOCK_NAME,
                layout.MANIFEST_LOCK_NAME, layout.WEB_CONFIG_NAME]
"""Names that are nothing but a models folder's file names (unlike "web" or "micro", also commands)."""
NOT_YET = ()
"""Folders not yet converted to runtime.store.layout (none)."""


def test_a_made_folder_holds_only_the_layouts_names(pipeline):
    manifest = pipeline.manifest
    expected = {layout.MANIFEST_NAME, layout.REFERENCE_NAME, layout.CALIBRATION_NAME, layout.LOCK_NAME,
                layout.MANIFEST_LOCK_NAME, layout.keras_name(manifest["model"])}
    expected |= {layout.artifact_name(manifest["model"], a["precision"], a["format"])
                 for a in manifest["artifacts"] if a["format"] != "keras"}
    found = {p.name for p in pipeline.models.iterdir()}
    assert found <= expected and {layout.MANIFEST_NAME, layout.REFERENCE_NAME, layout.CALIBRATION_NAME} <= found, found
    assert {a["path"] for a in manifest["artifacts"]} <= expected


def test_the_docstring_lists_every_name():
    for name in [*SPELLED_ONCE, layout.MICRO_FOLDER + "/", layout.WEB_FOLDER + "/", layout.WEB_INDEX_NAME]:
        assert name in layout.__doc__, name
    for suffix, name in zip(("_model_data.cc", "_model_data.h", "_ops.h"), layout.micro_files("m").values()):
        assert name == f"{layout.MICRO_FOLDER}/m{suffix}" and f"<name>{suffix}" in layout.__doc__


def test_no_module_spells_a_folder_name_itself():
    spelled = []
    for top in ("runtime", "convert", "train", "benchmarks"):
        for path in sorted((ROOT / top).rglob("*.py")):
            relative = path.relative_to(ROOT).as_posix()
            if relative == "runtime/store/layout.py" or relative.startswith(NOT_YET):
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Constant) and node.value in SPELLED_ONCE:
                    spelled.append(f"{relative}:{node.lineno}: {node.value!r}")
    assert spelled == [], "import it from runtime.store.layout:\n" + "\n".join(spelled)
