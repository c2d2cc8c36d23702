"""`python -m runtime parity --report DIR`: the HTML page, its figures, the model card, and
matplotlib staying out of every process that does not ask for a report."""

import re
import subprocess
import sys
import textwrap
from html.parser import HTMLParser

import numpy as np
import pytest

import runtime
from runtime.evaluate.parity import check_models, compare
from runtime.tables import format_size
from runtime.apps.report import GALLERY_CAP, ReportOptions, analyse, write_report

from conftest import ROOT, listed_statuses, parity_exit, run_cli

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SYNTHETIC_DISAGREEMENTS = 40
"""Images whose probabilities the cap test rotates by one class, so their top-1 changes."""
SMALL_CAP = 5


class Node:
    def __init__(self, tag, attrs, parent=None):
        self.tag, self.attrs, self.parent, self.children, self.text = tag, dict(attrs), parent, [], ""

    def find_all(self, tag, css_class=None):
        for child in self.children:
            if child.tag == tag and (css_class is None or css_class in child.attrs.get("class", "").split()):
                yield child
            yield from child.find_all(tag, css_class)

    def all_text(self) -> str:
        return self.text + "".join(child.all_text() for child in self.children)


class Page(HTMLParser):
    """index.html as a small tree, enough to find sections, images, tables and figures."""

    VOID = {"img", "meta", "br", "link", "hr"}

    def __init__(self, text: str):
        super().__init__()
        self.root = self.node = Node("root", {})
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        node = Node(tag, attrs, self.node)
        self.node.children.append(node)
        if tag not in self.VOID:
            self.node = node

    def handle_endtag(self, tag):
        node = self.node
        while node is not self.root and node.tag != tag:
            node = node.parent
        if node is not self.root:
            self.node = node.parent

    def handle_data(self, data):
        self.node.text += data

    def section(self, section_id: str) -> Node:
        found = [s for s in self.root.find_all("section") if s.attrs.get("id") == section_id]
        assert len(found) == 1, f"section #{section_id}: found {len(found)}"
        return found[0]


def slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", name).strip("_")


def table_rows(table: Node) -> list:
    return [[cell.all_text().strip() for cell in row.find_all("td")] for row in table.find_all("tr")][1:]


@pytest.fixture(scope="module")
def report_run(pipeline, tmp_path_factory):
    out = tmp_path_factory.mktemp("report") / "report"
    result = run_cli("runtime", "parity", "--models", pipeline.models, "--report", out)
    assert result.returncode == parity_exit(listed_statuses(pipeline.models).values()), result.stdout + result.stderr
    return out, result


@pytest.fixture(scope="module")
def artifacts(pipeline):
    return [a for a in pipeline.manifest["artifacts"] if a["format"] != "keras"]


def test_report_page_is_self_contained_and_shows_every_figure(report_run, artifacts):
    out, result = report_run
    text = (out / "index.html").read_text()
    page = Page(text)
    sources = [img.attrs["src"] for img in page.root.find_all("img")]
    on_disk = sorted(p.name for p in out.glob("*.png"))
    assert sorted(set(sources)) == on_disk and len(sources) == len(on_disk)
    for name in on_disk:
        assert (out / name).read_bytes()[:8] == PNG_MAGIC, name
    assert "<script" not in text.lower()
    links = sources + [a.attrs.get("href", "") for a in page.root.find_all("a")]
    assert not [link for link in links if re.match(r"[a-z]+:|/", link)], links  # relative only, no network
    platform = re.search(r"^Platform: .*$", result.stdout, re.M).group(0)
    assert platform in page.root.all_text()
    parity = table_rows(next(page.root.find_all("table", "parity")))
    assert [row[0] for row in parity] == ["keras (reference)"] + [a["path"] for a in artifacts]
    recorded = {a["path"]: a["metrics"]["verdict"]["status"] for a in artifacts}
    assert all(row[-1] == recorded[row[0]] for row in parity[1:]), parity  # verified or unproven, as converted
    assert f"Report: {out / 'index.html'}" in result.stdout


def test_every_artifact_has_confusion_histogram_per_class_table_and_gallery(report_run, artifacts, pipeline, reference):
    out, _ = report_run
    page = Page((out / "index.html").read_text())
    keras = page.section("keras")
    assert len(list(keras.find_all("img", "confusion"))) == 1
    keras_top1 = reference.probs.argmax(1)
    for entry in artifacts:
        name = entry["path"]
        section = page.section(slug(name))
        assert len(list(section.find_all("img", "confusion"))) == 1, name
        assert len(list(section.find_all("img", "dp-histogram"))) == 1, name

        probs = runtime.load(pipeline.models / name).predict(reference.images)
        top1 = probs.argmax(1)
        rows = table_rows(next(section.find_all("table", "per-class")))
        assert [row[0] for row in rows] == [str(d) for d in range(10)] + ["all"]
        for digit in range(10):
            mine = reference.labels == digit
            assert rows[digit][3] == f"{np.mean(top1[mine] == digit):.1%}", (name, digit)
            assert rows[digit][4] == f"{np.mean(top1[mine] == keras_top1[mine]):.1%}", (name, digit)

        disagreements = int(np.sum(top1 != keras_top1))
        gallery = list(section.find_all("figure", "disagreement"))
        assert len(gallery) == min(disagreements, GALLERY_CAP), name
        heading = next(section.find_all("h3", "gallery-heading")).all_text()
        assert f"Disagreements with Keras: {disagreements} of {len(top1):,} images" in heading
        for figure in gallery:
            index = int(re.search(r"image #(\d+)", figure.all_text()).group(1))
            assert top1[index] != keras_top1[index]
            assert f"true {reference.labels[index]}" in figure.all_text()


def test_analysis_counts_every_image_once(reference):
    a = analyse("keras", reference.probs, reference)
    expected = np.zeros((10, 10), dtype=int)
    for truth, predicted in zip(reference.labels, reference.probs.argmax(1)):
        expected[truth, predicted] += 1
    assert np.array_equal(a.confusion, expected)
    assert a.accuracy == pytest.approx(reference.accuracy) and len(a.disagreements) == 0


@pytest.mark.slow
def test_gallery_is_capped_largest_dp_first_and_old_figures_go(pipeline, tmp_path):
    """An artifact made to disagree on 40 images shows SMALL_CAP of them, the largest |Δp|
    first; rewriting the same folder leaves no figure the new page does not show."""
    out = tmp_path / "report"
    report = check_models(pipeline.models, keep_outputs=True)
    write_report(report, out, ReportOptions(latency_runs=1))
    name = "mnist_mlp_int8.tflite"
    probs = report.outputs[name].copy()
    probs[:SYNTHETIC_DISAGREEMENTS] = np.roll(probs[:SYNTHETIC_DISAGREEMENTS], 1, axis=1)
    k = [r.artifact for r in report.results].index(name)
    report.results[k] = compare(name, "int8", report.results[k].bytes, probs, report.reference)
    report.results[k].backend = "litert"
    report.outputs[name] = probs
    write_report(report, out, ReportOptions(gallery_cap=SMALL_CAP, latency_runs=1))

    page = Page((out / "index.html").read_text())
    sources = sorted(img.attrs["src"] for img in page.root.find_all("img"))
    assert sources == sorted(p.name for p in out.glob("*.png"))
    section = page.section(slug(name))
    shown = [int(re.search(r"image #(\d+)", f.all_text()).group(1)) for f in section.find_all("figure", "disagreement")]
    differ = np.flatnonzero(probs.argmax(1) != report.reference.probs.argmax(1))
    assert len(differ) >= SYNTHETIC_DISAGREEMENTS and len(shown) == SMALL_CAP
    dp = np.abs(probs - report.reference.probs).max(1)
    assert set(shown) <= set(differ.tolist())
    assert min(dp[shown]) >= np.sort(dp[differ])[-SMALL_CAP]
    assert f"{len(differ)} of 1,000 images (showing {SMALL_CAP}, the largest |Δp| first)" in \
        next(section.find_all("h3", "gallery-heading")).all_text()
    assert "REFUSED" in next(page.root.find_all("table", "parity")).all_text()


def test_model_card_names_every_artifact_with_manifest_size_and_accuracy(report_run, pipeline):
    out, _ = report_run
    card = (out / "model_card.md").read_text()
    manifest = pipeline.manifest
    for entry in manifest["artifacts"]:
        row = re.search(rf"^\| `{re.escape(entry['path'])}` \|.*$", card, re.M)
        assert row, entry["path"]
        cells = [c.strip() for c in row.group(0).strip("|").split(" | ")]
        assert format_size(entry["bytes"]) in cells, (entry["path"], cells)
        assert f"{entry['metrics']['accuracy']:.4f}" in cells, (entry["path"], cells)
        if entry["format"] != "keras":
            assert f"{entry['metrics']['agreement']:.2%}" in cells, (entry["path"], cells)
            latency = next(c for c in cells if "µs" in c)
            assert 0 < float(latency.split()[0]) < 100_000, latency
    dataset = manifest["dataset"]
    assert f"`{dataset['name']}`" in card and f"{dataset['train']:,} training and {dataset['test']:,} test images" in card
    assert f"{manifest['training']['epochs']} epochs, batch size {manifest['training']['batch_size']}" in card
    assert "784 → Dense 64 relu → Dense 64 relu → Dense 10 softmax; 55,050 parameters" in card
    assert "python -m runtime parity --models models" in card
    assert re.search(r"python -m runtime predict digit\.jpg --model models/\S+\.(tflite|onnx)", card)


@pytest.mark.slow
def test_report_keeps_the_exit_status_of_a_failed_check(pipeline, tmp_path):
    out = tmp_path / "report"
    result = run_cli("runtime", "parity", "--models", pipeline.models, "--float-max-dp", "0", "--report", out)
    assert result.returncode == 1, result.stdout + result.stderr
    assert re.search(r"^FAIL: 2 of 4 artifacts refused \(mnist_mlp_float32\.tflite, mnist_mlp_float32\.onnx\); ",
                     result.stdout, re.M), result.stdout
    page = Page((out / "index.html").read_text())
    assert "REFUSED" in next(page.section(slug("mnist_mlp_float32.tflite")).find_all("h2")).all_text()
    assert re.search(r"^- FAIL `mnist_mlp_float32\.tflite`: max \|Δp\|", (out / "model_card.md").read_text(), re.M)


PARITY_WITHOUT_REPORT = textwrap.dedent(
    """
    import contextlib, importlib.util, io, sys
    assert importlib.util.find_spec("matplotlib") is not None, "matplotlib must be installed for this to prove anything"
    import runtime.apps.report  # the report module itself imports matplotlib only when it draws
    from runtime.__main__ import main
    codes = []
    with contextlib.redirect_stdout(io.StringIO()):
        codes.append(main(["parity", "--models", MODELS]))
        codes.append(main(["parity", "--models", MODELS, "--json"]))
    print(codes, sorted(m for m in sys.modules if m.split(".")[0] == "matplotlib"))
    """
)


def test_parity_without_report_never_imports_matplotlib(pipeline):
    script = f"MODELS = {str(pipeline.models)!r}\n" + PARITY_WITHOUT_REPORT
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[0, 0] []"


BLOCK_MATPLOTLIB = textwrap.dedent(
    """
    import sys
    class BlockMatplotlib:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] == "matplotlib":
                raise ImportError(f"test: {name} is not installed here")
    sys.meta_path.insert(0, BlockMatplotlib())
    from runtime.__main__ import main
    sys.exit(main(sys.argv[1:]))
    """
)


def test_report_without_matplotlib_is_a_one_line_error(pipeline, tmp_path):
    out = tmp_path / "report"
    result = subprocess.run([sys.executable, "-c", BLOCK_MATPLOTLIB, "parity", "--models", str(pipeline.models), "--report", str(out)],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 2, result.stdout + result.stderr
    lines = [line for line in result.stderr.strip().splitlines() if not line.startswith("INFO: ")]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "pip install matplotlib" in lines[0], result.stderr
    assert result.stdout == "" and not out.exists()  # it failed before checking anything


def test_parity_help_describes_the_report():
    result = run_cli("runtime", "parity", "--help")
    assert result.returncode == 0
    assert "--report DIR" in result.stdout and "python -m runtime parity --report report" in result.stdout
