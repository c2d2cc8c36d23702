"""Shared fixtures: one real train + convert run (mnist-5k, default 5 epochs) per session,
driven through the CLI as a user runs it. Tests that change files work on a copy."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run_cli(*args, cwd=ROOT, env=None, timeout=600) -> subprocess.CompletedProcess:
    """`python -m <args>` in a subprocess, as a user would type it."""
    full_env = dict(os.environ, **(env or {}))
    return subprocess.run(
        [sys.executable, "-m", *map(str, args)], cwd=cwd, env=full_env,
        capture_output=True, text=True, timeout=timeout,
    )


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


@pytest.fixture(scope="session")
def pipeline(tmp_path_factory) -> PipelineRun:
    models = tmp_path_factory.mktemp("models")
    train = run_cli("train", "--dataset", "mnist-5k", "--models", models)
    assert train.returncode == 0, train.stderr[-3000:]
    convert = run_cli("convert", "all", "--models", models)
    assert convert.returncode == 0, convert.stdout[-3000:] + convert.stderr[-3000:]
    return PipelineRun(models, train, convert)


@pytest.fixture(scope="session")
def reference(pipeline):
    from runtime.parity import load_reference

    return load_reference(pipeline.models)
