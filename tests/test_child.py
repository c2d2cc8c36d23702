"""runtime/backends/child.py, the one protocol of the runtime's child processes, on real children: a
timeout kills the child, a crash is named by its signal, the answer is the last JSON line."""

import pytest

from runtime.backends.child import ERROR_STATUS, ChildResult, ChildTimeoutError, run_module


def test_a_child_that_hangs_is_killed_at_its_timeout():
    with pytest.raises(ChildTimeoutError, match=r"did not finish within 1 s"):
        run_module("timeit", ["-n", "1", "-r", "1", "import time; time.sleep(60)"], timeout=1)


def test_a_child_that_crashes_is_named_by_its_signal(tmp_path, monkeypatch):
    (tmp_path / "crashes.py").write_text("import os, signal\nos.kill(os.getpid(), signal.SIGSEGV)\n")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))  # after this package's folder, which run_module puts first
    child = run_module("crashes", [], timeout=60)
    assert child.signal == "SIGSEGV" and child.reply() is None


def test_a_child_error_comes_back_as_one_json_line(tmp_path):
    child = run_module("runtime.backends.probe", [tmp_path / "missing.tflite", "litert"], timeout=60)
    assert child.returncode == ERROR_STATUS and child.signal is None
    assert "missing.tflite" in child.reply()["error"] and "Traceback" not in child.stdout + child.stderr


def test_the_answer_is_the_last_json_object_among_an_interpreters_own_lines():
    assert ChildResult(0, 'INFO: created\n{"ok": true}\n[1, 2]\nnot json\n', "").reply() == {"ok": True}
    assert ChildResult(1, "INFO: created\n", "boom\nlast words\n").reply() is None
    assert ChildResult(1, "", "boom\nlast words\n").last_stderr_line() == "last words"
    assert ChildResult(0, "", "").signal is None
