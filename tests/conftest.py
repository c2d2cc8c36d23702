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


MEASURED = """
import json, resource, subprocess, sys
timeout, command = float(sys.argv[1]), sys.argv[2:]
try:
    child = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    returncode, stdout, stderr = child.returncode, child.stdout, child.stderr
except subprocess.TimeoutExpired as err:
    returncode, stdout, stderr = "timeout", str(err.stdout or ""), str(err.stderr or "")
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
print(json.dumps({"returncode": returncode, "stdout": stdout, "stderr": stderr, "peak_mib": peak}))
"""


def run_cli_measured(*args, cwd=ROOT, env=None, timeout=600) -> tuple:
    """(the CompletedProcess of `python -m <args>`, its peak resident memory in MiB, its
    children's included): run from a small process of its own, whose RUSAGE_CHILDREN holds
    this command alone (the test process's holds every child it ever waited for). A command
    that outlives `timeout` has returncode "timeout"."""
    full_env = dict(os.environ, **(env or {}))
    wrapper = subprocess.run([sys.executable, "-c", MEASURED, str(timeout), sys.executable, "-m", *map(str, args)],
                             cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout + 60)
    data = json.loads(wrapper.stdout)
    result = subprocess.CompletedProcess(args, data["returncode"], data["stdout"], data["stderr"])
    return result, data["peak_mib"]


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


def once_per_run(tmp_path_factory, name: str, make) -> tuple:
    """(folder, record): `make(folder)` fills the new folder and returns a JSON record, once per
    test run. Under pytest-xdist the workers share it: the first to need it makes it under a file
    lock, the others wait and read the folder and the record."""
    if "PYTEST_XDIST_WORKER" not in os.environ:
        folder = tmp_path_factory.mktemp(name) / "models"
        return folder, make(folder)
    shared = tmp_path_factory.getbasetemp().parent  # this run's folder, common to its workers
    folder, done = shared / f"{name}-models", shared / f"{name}-run.json"
    with FileLock(shared / f"{name}.lock"):
        if not done.exists():
            done.write_text(json.dumps(make(folder)))
        return folder, json.loads(done.read_text())


@pytest.fixture(scope="session")
def pipeline(tmp_path_factory) -> PipelineRun:
    def make(models: Path) -> dict:
        run = train_and_convert(models)
        return {"train": recorded(run.train), "convert": recorded(run.convert)}

    models, runs = once_per_run(tmp_path_factory, "pipeline", make)
    return PipelineRun(models, completed(runs["train"]), completed(runs["convert"]))


@pytest.fixture(scope="session")
def micro_models(pipeline, tmp_path_factory) -> tuple:
    """A copy of the pipeline's folder after `python -m convert micro --npu ethos-u55-128`
    (TFLite Micro's files, the C engine, Vela's file): (folder, convert's CLI result)."""
    def make(models: Path) -> dict:
        pipeline.copy(models)
        result = run_cli("convert", "micro", "--models", models, "--npu", "ethos-u55-128")
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
        return {"convert": recorded(result)}

    models, runs = once_per_run(tmp_path_factory, "micro", make)
    return models, completed(runs["convert"])


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
