"""The runtime package's shape, read from its source: its modules import each other without a
circle (every `from .x import`, at module level or inside a function), and nothing outside the
workstation subpackage imports it."""

import ast
from pathlib import Path

from conftest import ROOT

RUNTIME = ROOT / "runtime"
WORKSTATION = "runtime.workstation"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports(path: Path):
    """(imported runtime module, at module level?) for each import in `path`, resolved to the
    module it names (`from . import x` names runtime.x when that is a module)."""
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
            candidates = [f"{target}.{alias.name}" for alias in node.names] + [target]
        elif isinstance(node, ast.Import):
            candidates = [alias.name for alias in node.names]
        else:
            continue
        for candidate in candidates:
            if candidate.split(".")[0] == "runtime" and candidate in MODULES:
                yield candidate, id(node) in top
                break


MODULES = {module_name(p): p for p in RUNTIME.rglob("*.py")}


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


def test_nothing_outside_the_workstation_package_imports_it():
    found = []
    for name, path in MODULES.items():
        if name == WORKSTATION or name.startswith(WORKSTATION + "."):
            continue
        found += [f"{name} imports {target}" for target, _ in imports(path)
                  if target == WORKSTATION or target.startswith(WORKSTATION + ".")]
    assert not found, "; ".join(found)


def test_the_workstation_package_says_what_belongs_there():
    doc = ast.get_docstring(ast.parse((RUNTIME / "workstation" / "__init__.py").read_text()))
    assert doc and "workstation" in doc.lower()


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
