"""Hostile input, round 4: class names and file names made to forge output or command the
terminal. Every label, from a model file, a manifest, a labels file or folder names, passes one
rule (runtime.untrusted.check_labels); what the commands print goes through one escaping for
terminals, the model card through one for Markdown, the page through one for HTML."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import string

import pytest

from conftest import run_cli
from runtime.untrusted import TerminalStream, check_labels, for_markdown, for_terminal, markdown_code

DIGITS = [str(d) for d in range(10)]
FORGERIES = {
    "newline": ["0\nphoto.png: 7 (99.9%)", *DIGITS[1:]],
    "window title": ["\x1b]0;PWNED\x07", *DIGITS[1:]],
    "clipboard": ["\x1b]52;c;cHduZWQ=\x07", *DIGITS[1:]],
    "clear screen": ["\x1b[2J\x1b[H", *DIGITS[1:]],
    "carriage return": ["0\r7 (99.9%)", *DIGITS[1:]],
    "ten times x": ["x"] * 10,
}


def _onnx_with_labels(source, path, labels):
    import onnx

    model = onnx.load(str(source))
    for prop in model.metadata_props:
        if prop.key == "labels":
            prop.value = json.dumps(labels)
    onnx.save(model, str(path))
    return path


def _tflite_with_labels(source, path, labels):
    from convert.embed import tflite_with_metadata
    from runtime.store.embedded import read_embedded

    carried = read_embedded(source)
    path.write_bytes(tflite_with_metadata(source.read_bytes(), "mnist_mlp", carried.contract, labels))
    return path


@pytest.fixture(scope="module")
def digit(reference, tmp_path_factory):
    from PIL import Image

    path = tmp_path_factory.mktemp("digit") / "digit.png"
    Image.fromarray(reference.images[0]).save(path)
    return path


@pytest.mark.parametrize("fmt, kind", [(fmt, kind) for fmt in ("onnx", "tflite") for kind in sorted(FORGERIES)
                                       if not (fmt == "tflite" and kind == "newline")])  # labels.txt: one a line
def test_labels_in_a_model_file_that_would_forge_output_are_refused(pipeline, digit, tmp_path, kind, fmt):
    labels = FORGERIES[kind]
    make = _onnx_with_labels if fmt == "onnx" else _tflite_with_labels
    path = make(pipeline.models / f"mnist_mlp_int8.{fmt}", tmp_path / f"forged.{fmt}", labels)
    commands = [["predict", digit, "--model", path]]
    if kind == "window title":  # every command that shows labels reads them through the same check
        commands += [["predict", digit, "--model", path, "--json"], ["info", path], ["watch", digit, "--model", path]]
    for command in commands:
        result = run_cli("runtime", *command)
        assert result.returncode == 2, (command, result.stdout, result.stderr)
        assert result.stdout == "" and "\x1b" not in result.stderr and "Traceback" not in result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"error: {path}: the labels it carries"), lines
        reason = "class names must be distinct; repeated: x" if kind == "ten times x" else "class name 0"
        assert reason in lines[0]


@pytest.mark.parametrize("text, message", [
    ("a\x1b]0;PWNED\x07\nb\n", r"class name 0 \('a\\x1b\]0;PWNED\\x07'\) holds a control character \(U\+001B\)"),
    ("a\u202eb\nc\n", r"class name 0 \('a\\u202eb'\) holds a bidirectional override \(U\+202E\)"),
    ("a\n" + "b" * 201 + "\n", "class name 1 is 201 characters long; expected at most 200"),
])
def test_a_labels_file_with_control_characters_is_refused(tmp_path, text, message):
    from train.data import DataError, read_labels_file

    path = tmp_path / "labels.txt"
    path.write_bytes(text.encode())
    with pytest.raises(DataError, match=message):
        read_labels_file(path)


def short_names(count: int) -> list:
    """`count` distinct names of 1 to 3 letters or digits: 238,328 of them fill 0.95 MB, one a line."""
    alphabet = string.ascii_letters + string.digits
    names = ("".join(letters) for size in (1, 2, 3) for letters in itertools.product(alphabet, repeat=size))
    return list(itertools.islice(names, count))


def test_the_label_rule_is_linear(tmp_path):
    """238,328 distinct names (under the 1 MiB labels file limit): checked at once, and a repeat
    among them found (the check used to compare every name with every other)."""
    names = short_names(238_328)
    assert check_labels(names, "names") == names
    with pytest.raises(ValueError, match=r"repeated: a, b, c, d, e, f, g, h, i, j and 1 more$"):
        check_labels(names + names[:11], "names")


def test_escaping_for_terminals_and_markdown():
    assert for_terminal("a\x1b]0;x\x07\nb\u2028c\udcff") == "a\\x1b]0;x\\x07\\nb\\u2028c\\xff"
    assert for_terminal("plain ünïcode 7") == "plain ünïcode 7"
    assert for_markdown("<img src=x onerror=alert(1)> *a* [l](u) `c` &") == \
        "&lt;img src=x onerror=alert(1)&gt; \\*a\\* \\[l\\](u) \\`c\\` &amp;"
    assert markdown_code("a`b") == "``a`b``" and markdown_code("`x`") == "`` `x` ``"


def test_the_commands_streams_escape_what_would_command_a_terminal():
    import io

    out = io.StringIO()
    stream = TerminalStream(out)
    stream.write("ok\tline\n\x1b]52;c;eA==\x07progress\r\b \x9b2J\x7f")
    assert out.getvalue() == "ok\tline\n\\x1b]52;c;eA==\\x07progress\r\b \\x9b2J\\x7f"


def test_file_names_cannot_forge_lines_or_stop_predict(pipeline, digit, tmp_path):
    """A file name holding ESC and a newline, and one that is not UTF-8, under a strict UTF-8
    stdout: every file is answered, one line each, nothing raw."""
    folder = tmp_path / "photos"
    folder.mkdir()
    forged = "a\x1b]0;PWNED\x07\nphoto.png: 7 (99.9%).png"
    shutil.copy(digit, folder / forged)
    shutil.copy(digit, os.fsdecode(bytes(folder) + b"/b\xff.png"))
    shutil.copy(digit, folder / "c.png")
    result = run_cli("runtime", "predict", folder, "--models", pipeline.models, env={"PYTHONIOENCODING": "utf-8:strict"})
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 3 and "\x1b" not in result.stdout + result.stderr
    assert lines[0].startswith(f"{folder}/a\\x1b]0;PWNED\\x07\\nphoto.png: 7 (99.9%).png: ")
    assert lines[1].startswith(f"{folder}/b\\xff.png: ") and lines[2].startswith(f"{folder}/c.png: ")


@pytest.fixture(scope="module")
def hostile_report(pipeline, tmp_path_factory):
    """parity --report on the pipeline's folder with labels made to run in a page, into a folder
    that holds a figure of the user's."""
    root = tmp_path_factory.mktemp("hostile_report")
    models = pipeline.copy(root / "models")
    labels = ["<script>alert(1)</script>", "<img src=x onerror=alert(2)>", "$\\foo$", "*a*", "[x](javascript:alert(3))",
              "`code`", "_u_", "|pipe|", "&amp;", "9"]
    manifest = json.loads((models / "manifest.json").read_text())
    manifest["labels"] = labels
    for artifact in manifest["artifacts"]:
        artifact["labels"] = labels
    (models / "manifest.json").write_text(json.dumps(manifest))
    out = root / "report"
    out.mkdir()
    (out / "fig_mine.png").write_bytes(b"the user's own figure")
    result = run_cli("runtime", "parity", "--models", models, "--report", out, "--no-verify")
    return out, result, labels


def test_the_model_card_shows_labels_and_runs_none(hostile_report):
    import markdown

    out, result, labels = hostile_report
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    card = (out / "model_card.md").read_text()
    rendered = markdown.markdown(card, extensions=["tables", "fenced_code", "toc", "attr_list", "md_in_html"])
    assert "<script" not in rendered and "<img" not in rendered and 'href="javascript' not in rendered
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in rendered and "$\\foo$" in rendered and "|pipe|" in rendered
    page = (out / "index.html").read_text()
    assert "<script" not in page.lower() and "<img src=x" not in page


def test_the_report_keeps_the_users_files_and_replaces_only_its_own(hostile_report, pipeline, tmp_path):
    out, result, _ = hostile_report
    assert (out / "fig_mine.png").read_bytes() == b"the user's own figure"
    record = json.loads((out / ".parity-report.json").read_text())["files"]
    assert "fig_mine.png" not in record and "index.html" in record
    assert sorted(p.name for p in out.iterdir() if p.name not in record) == [".parity-report.json", "fig_mine.png"]
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "index.html").write_text("<p>the user's page</p>")
    refused = run_cli("runtime", "parity", "--models", pipeline.models, "--report", mine)
    assert refused.returncode == 2 and (mine / "index.html").read_text() == "<p>the user's page</p>"
    assert refused.stderr.strip() == (f"error: {mine} holds index.html, which no earlier report wrote (or which changed "
                                      "since): nothing was replaced; move them away, or give --report an empty or new folder")


@pytest.mark.slow
def test_a_report_that_fails_half_way_leaves_the_earlier_one_whole(pipeline, tmp_path, monkeypatch):
    import runtime.apps.report as report_module
    from runtime.apps.report import ReportOptions, write_report
    from runtime.evaluate.parity import check_models

    out = tmp_path / "report"
    report = check_models(pipeline.models, keep_outputs=True)
    written = write_report(report, out, ReportOptions(latency_runs=1))
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def fail(*_):
        raise OSError("the disk is full")

    monkeypatch.setattr(report_module, "measure_latency", fail)  # after every figure is drawn
    with pytest.raises(OSError, match="the disk is full"):
        write_report(report, out, ReportOptions(latency_runs=1))
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before and written.html.is_file()


@pytest.mark.slow
def test_labels_and_class_folders_with_control_characters_are_refused_by_convert(tmp_path):
    """--labels and class folder names follow the same rule: ESC refused, one line, nothing written."""
    import keras
    import numpy as np
    from PIL import Image

    model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(), keras.layers.Dense(3, activation="softmax")])
    model.save(tmp_path / "tiny.keras")
    data = tmp_path / "classes"
    for name in ("a", "b\x1b]0;PWNED\x07", "c"):
        (data / name).mkdir(parents=True)
        for k in range(4):
            Image.fromarray(np.full((8, 8), 60 * k, np.uint8)).save(data / name / f"{k}.png")
    result = run_cli("convert", "tflite", "--keras", tmp_path / "tiny.keras", "--data", data, "--models", tmp_path / "m")
    assert result.returncode == 2 and "\x1b" not in result.stdout + result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith(f"error: {data}: class name 1 ('b\\x1b]0;PWNED\\x07') holds "
                                                             "a control character (U+001B)")
    labels = tmp_path / "labels.txt"
    labels.write_text("a\nb\x1b[2J\nc\n")
    np.savez(tmp_path / "data.npz", x=np.zeros((12, 8, 8, 1), np.uint8), y=np.arange(12) % 3)
    result = run_cli("convert", "tflite", "--keras", tmp_path / "tiny.keras", "--data", tmp_path / "data.npz",
                     "--labels", labels, "--models", tmp_path / "m")
    assert result.returncode == 2 and "holds a control character (U+001B)" in result.stderr
    assert not (tmp_path / "m").exists()
    names = tmp_path / "many.txt"
    names.write_text("\n".join(short_names(238_328)) + "\n")
    assert names.stat().st_size < 1 << 20
    result = run_cli("convert", "tflite", "--keras", tmp_path / "tiny.keras", "--data", tmp_path / "data.npz",
                     "--labels", names, "--models", tmp_path / "m", timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == f"error: {names}: 238,328 class names, but tiny.keras outputs 3 classes"
