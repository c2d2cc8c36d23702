"""The runtime package's shape, read from its source: the rooms import each other in one
direction only (apps -> library -> backends -> store -> the shared vocabulary), without a circle
(every `from .x import`, at module level or inside a function); nothing outside the workstation
room imports it; no module of runtime imports TensorFlow or Keras; and each room's docstring
says what belongs there and what it may import."""

import ast
from pathlib import Path

from conftest import ROOT

RUNTIME = ROOT / "runtime"
WORKSTATION = "runtime.workstation"
LAYERS = (
    ("vocabulary", ("runtime.errors", "runtime.tables", "runtime.contract", "runtime.verdict", "runtime.untrusted")),
    ("store", ("runtime.store",)),
    ("backends", ("runtime.backends",)),
    ("library", ("runtime", "runtime.model", "runtime.prediction", "runtime.preprocess", "runtime.evaluate")),
    ("apps", ("runtime.__main__", "runtime.apps")),
)
"""The device package's rooms, lowest first: a module imports from its own layer or lower ones."""
BESIDE = {
    WORKSTATION: (("vocabulary", "store", "backends", "library"), ()),
    "runtime.doctor": ((), ("apps",)),
}
"""Rooms outside the line: (the layers they may import, the layers that may import them). The
workstation's code serves train/ and convert/, and nothing in runtime imports it; doctor runs
from the wheel before anything is installed, on the standard library alone, and `python -m
runtime doctor` runs it."""
MAX_TOP_LEVEL = 10
"""runtime/'s top level: the public API and the shared vocabulary, the rest in rooms."""
NEVER_IMPORTED = ("tensorflow", "keras", "tf_keras", "tf2onnx", "onnx")
"""What no module of runtime imports (the device has numpy and one interpreter package)."""


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports(path: Path):
    """(imported runtime module, at module level?) for each module an import in `path` names:
    `from . import a, b` names runtime.a and runtime.b when they are modules, `from .x import y`
    names runtime.x.y when that is a module, else runtime.x."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    tree = ast.parse(path.read_text(), str(path))
    top = set(map(id, tree.body))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            named = {f"{target}.{alias.name}" if f"{target}.{alias.name}" in MODULES else target for alias in node.names}
        elif isinstance(node, ast.Import):
            named = {alias.name for alias in node.names}
        else:
            continue
        for target in sorted(named):
            if target.split(".")[0] == "runtime" and target in MODULES:
                yield target, id(node) in top


def top_level_imports(path: Path) -> set:
    """The top-level package of every absolute import in `path`."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            found.add(node.module.split(".")[0])
    return found


MODULES = {module_name(p): p for p in RUNTIME.rglob("*.py")}


def room(name: str) -> str:
    """The layer (or the room beside them) a runtime module belongs to."""
    for beside in BESIDE:
        if name == beside or name.startswith(beside + "."):
            return beside
    matches = [(len(prefix), layer) for layer, prefixes in LAYERS for prefix in prefixes
               if name == prefix or name.startswith(prefix + ".")]
    assert matches, f"{name} is in no room of tests/test_structure.py's LAYERS"
    return max(matches)[1]


def allowed(importer: str, imported: str) -> bool:
    order = [layer for layer, _ in LAYERS]
    source, target = room(importer), room(imported)
    if source in BESIDE:
        return target == source or target in BESIDE[source][0]
    if target in BESIDE:
        return source in BESIDE[target][1]
    return order.index(target) <= order.index(source)


def graph() -> dict:
    """runtime module -> the runtime modules it imports (a package's own __init__ counted
    as what importing the package runs)."""
    edges = {}
    for name, path in MODULES.items():
        edges[name] = {target for target, _ in imports(path) if target != name}
    return edges


def find_cycle(edges: dict):
    """One import circle as a list of modules, or None."""
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(edges):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_the_runtime_modules_import_each_other_without_a_circle():
    edges = graph()
    assert "runtime.model" in edges and "runtime.backends" in edges["runtime.model"]  # the graph is read
    cycle = find_cycle(edges)
    assert cycle is None, " -> ".join(cycle)


def test_the_circle_finder_finds_one():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_the_rooms_import_in_one_direction():
    """apps -> library -> backends -> store -> vocabulary, at module level or inside a function:
    no list of exceptions."""
    edges = graph()
    assert "runtime.store.folder" in edges["runtime.model"]  # the graph is read
    wrong = [f"{name} ({room(name)}) imports {target} ({room(target)})"
             for name, targets in sorted(edges.items()) for target in sorted(targets) if not allowed(name, target)]
    assert not wrong, "; ".join(wrong)


def test_the_direction_rule_refuses_what_it_should():
    assert allowed("runtime.apps.predict", "runtime.store.folder") and allowed("runtime.model", "runtime.backends.tflite")
    assert not allowed("runtime.store.folder", "runtime.model")
    assert not allowed("runtime.backends.tflm", "runtime.evaluate.parity")
    assert not allowed("runtime.evaluate.parity", "runtime.apps.start")
    assert not allowed("runtime.contract", "runtime.store.files")
    assert not allowed("runtime.apps.parity", "runtime.workstation.downloads")
    assert allowed("runtime.workstation.page_constants", "runtime.preprocess.digits")
    assert not allowed("runtime.doctor", "runtime.errors")


def test_nothing_outside_the_workstation_package_imports_it():
    found = []
    for name, path in MODULES.items():
        if name == WORKSTATION or name.startswith(WORKSTATION + "."):
            continue
        found += [f"{name} imports {target}" for target, _ in imports(path)
                  if target == WORKSTATION or target.startswith(WORKSTATION + ".")]
    assert not found, "; ".join(found)


def test_no_runtime_module_imports_tensorflow_or_keras():
    found = {module_name(path): top_level_imports(path) & set(NEVER_IMPORTED) for path in RUNTIME.rglob("*.py")}
    assert "numpy" in top_level_imports(RUNTIME / "model.py")  # the imports are read
    assert not {name: packages for name, packages in found.items() if packages}


def test_each_room_says_what_belongs_there_and_what_it_may_import():
    rooms = sorted(path.parent for path in RUNTIME.glob("*/__init__.py"))
    assert [path.name for path in rooms] == ["apps", "backends", "evaluate", "preprocess", "store", "workstation"]
    for folder in rooms:
        doc = ast.get_docstring(ast.parse((folder / "__init__.py").read_text()))
        assert doc and "May import" in doc, folder
    top = ast.get_docstring(ast.parse((RUNTIME / "__init__.py").read_text()))
    assert all(f"{path.name}/" in top for path in rooms), "runtime/__init__.py names every room"


def test_the_top_level_holds_the_public_api_and_the_shared_vocabulary():
    modules = sorted(path.stem for path in RUNTIME.glob("*.py"))
    assert len(modules) <= MAX_TOP_LEVEL, modules
    vocabulary = dict(LAYERS)["vocabulary"]
    assert {f"runtime.{m}" for m in modules} <= {*vocabulary, *dict(LAYERS)["library"], "runtime.__init__",
                                                 "runtime.__main__", "runtime.doctor"}


def test_parity_and_the_manifest_share_the_five_metrics_and_old_entries_load_unchanged():
    from dataclasses import fields

    from runtime.evaluate.parity import ParityResult
    from runtime.store.manifest import Parity, ParityRecord

    five = [f.name for f in fields(Parity)]
    assert five == ["accuracy", "delta_accuracy", "agreement", "max_abs_dp", "mean_abs_dp"]
    assert [f.name for f in fields(ParityRecord)][:5] == five and "artifact" in [f.name for f in fields(ParityResult)]
    stored = {"accuracy": 0.9, "delta_accuracy": -0.01, "agreement": 0.98, "max_abs_dp": 0.2, "mean_abs_dp": 0.001,
              "reference_images": 1000, "verified_with": "litert 2.0", "verdict": {"rule": "x"}}
    assert ParityRecord(**stored).to_json() == stored  # a manifest's entry, as written before and after
    assert ParityRecord(**ParityRecord(**stored).parity(), reference_images=1000, verified_with="litert 2.0",
                   verdict={"rule": "x"}).to_json() == stored
    result = ParityResult(artifact="m.tflite", precision="int8", bytes=10, accuracy=0.9, agreement=0.98)
    assert result.parity() == {"accuracy": 0.9, "delta_accuracy": None, "agreement": 0.98,
                                       "max_abs_dp": None, "mean_abs_dp": None}
    assert list(result.to_json())[:4] == ["artifact", "precision", "bytes", "accuracy"]


MAX_LINES = 500
GENERATED = {"convert/tflite_metadata_schema/metadata_schema_py_generated.py"}
"""Written by flatc from metadata_schema.fbs and vendored whole (its header says so)."""
PACKAGES = ("runtime", "convert", "train")


def test_no_file_is_over_500_lines():
    long = []
    for folder in (*PACKAGES, "tests", "benchmarks", "scripts", "web"):
        for path in sorted((ROOT / folder).rglob("*")):
            if path.suffix not in (".py", ".js", ".sh") or "node_modules" in path.parts or not path.is_file():
                continue
            rel = path.relative_to(ROOT).as_posix()
            lines = path.read_text(errors="replace").count("\n")
            if rel not in GENERATED and lines > MAX_LINES:
                long.append(f"{rel}: {lines} lines")
    assert not long, "; ".join(long)


def test_no_module_imports_another_modules_private_names():
    ours = {module_name(p): p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")}
    found = []
    for name, path in ours.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.ImportFrom):
                continue
            base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
            target = ".".join(base + ([node.module] if node.module else []))
            if target in ours and target != name:
                found += [f"{name} imports {target}.{a.name}" for a in node.names
                          if a.name.startswith("_") and not a.name.startswith("__")]
    assert not found, "; ".join(found)
