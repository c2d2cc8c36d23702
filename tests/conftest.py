"""Shared fixtures: one real train + convert run (mnist-5k, default 5 epochs) per session,
driven through the CLI as a user runs it. Tests that change files work on a copy.

Under pytest-xdist (`-n 2`) the workers share that one run: the first to need it trains and
converts under a file lock, the others wait and read its folder and its CLI output."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from filelock import FileLock

ROOT = Path(__file__).resolve().parents[1]


def run_cli(*args, cwd=ROOT, env=None, timeout=600) -> subprocess.CompletedProcess:
    """`python -m <args>` in a subprocess, as a user would type it."""
    full_env = dict(os.environ, **(env or {}))
    return subprocess.run(
        [sys.executable, "-m", *map(str, args)], cwd=cwd, env=full_env,
        capture_output=True, text=True, timeout=timeout,
    )


def parity_exit(statuses) -> int:
    """`runtime parity`'s exit status for these outcomes: 0 all verified, 3 none refused but one
    unproven, 1 one refused (runtime/apps/parity.py)."""
    statuses = list(statuses)
    return 1 if "refused" in statuses else 3 if "unproven" in statuses else 0


def listed_statuses(models: Path) -> dict:
    """Each exported file's outcome, as the manifest in `models` records it."""
    manifest = json.loads((Path(models) / "manifest.json").read_text())
    return {a["path"]: a["metrics"]["verdict"]["status"] for a in manifest["artifacts"]
            if a["format"] not in ("keras", "c")}


@dataclass
class PipelineRun:
    models: Path
    train: subprocess.CompletedProcess
    convert: subprocess.CompletedProcess

    @property
    def manifest(self) -> dict:
        return json.loads((self.models / "manifest.json").read_text())

    def artifact(self, name: str) -> dict:
        return next(a for a in self.manifest["artifacts"] if a["path"] == name)

    def copy(self, dest: Path) -> Path:
        shutil.copytree(self.models, dest)
        return dest


def train_and_convert(models: Path) -> PipelineRun:
    train = run_cli("train", "--dataset", "mnist-5k", "--models", models)
    assert train.returncode == 0, train.stderr[-3000:]
    convert = run_cli("convert", "all", "--models", models)
    assert convert.returncode == 0, convert.stdout[-3000:] + convert.stderr[-3000:]
    return PipelineRun(models, train, convert)


def completed(record: dict) -> subprocess.CompletedProcess:
    return subprocess.CompletedProcess(record["args"], record["returncode"], record["stdout"], record["stderr"])


def recorded(result: subprocess.CompletedProcess) -> dict:
    return {"args": [str(a) for a in result.args], "returncode": result.returncode,
            "stdout": result.stdout, "stderr": result.stderr}


@pytest.fixture(scope="session")
def pipeline(tmp_path_factory) -> PipelineRun:
    if "PYTEST_XDIST_WORKER" not in os.environ:
        return train_and_convert(tmp_path_factory.mktemp("models"))
    shared = tmp_path_factory.getbasetemp().parent  # this run's folder, common to its workers
    models, done = shared / "pipeline-models", shared / "pipeline-run.json"
    with FileLock(shared / "pipeline.lock"):
        if not done.exists():
            run = train_and_convert(models)
            done.write_text(json.dumps({"train": recorded(run.train), "convert": recorded(run.convert)}))
        runs = json.loads(done.read_text())
    return PipelineRun(models, completed(runs["train"]), completed(runs["convert"]))


@pytest.hookimpl(trylast=True)  # after -m has deselected what this run leaves out
def pytest_collection_modifyitems(items):
    """Under pytest-xdist each file goes to one worker, in collection order (pyproject.toml:
    --dist loadfile --no-loadscope-reorder). The first file that needs the trained model goes
    first and the files that do not come next, so one worker trains while the other runs them."""
    if "PYTEST_XDIST_WORKER" not in os.environ:
        return
    needs_model: dict[Path, bool] = {}
    for item in items:
        needs_model[item.path] = needs_model.get(item.path, False) or "pipeline" in item.fixturenames
    first = next((path for path, needs in needs_model.items() if needs), None)
    rank = {path: 0 if path == first else 2 if needs else 1 for path, needs in needs_model.items()}
    items.sort(key=lambda item: rank[item.path])  # stable: each file keeps its own order


@pytest.fixture(scope="session")
def reference(pipeline):
    from runtime.store.bundles import load_reference

    return load_reference(pipeline.models)
