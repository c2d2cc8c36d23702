"""The README stays short and the docs site builds: `mkdocs build --strict` with link and anchor
validation as warnings (mkdocs.yml), so a broken link, a missing anchor or a page left out of
the nav fails the suite; and every docs page (and anchor) the README links to exists."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
MAX_README_LINES = 300
"""Issue 24: a README a newcomer finishes; the rest lives in docs/."""
MIN_PAGES = 5
LINK = re.compile(r"\]\(([^)\s]+)\)")


def mkdocs_build(config: Path, site: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file", str(config), "--site-dir", str(site)],
        capture_output=True, text=True, timeout=120,
    )


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """The docs site, built once from the checkout's mkdocs.yml."""
    out = tmp_path_factory.mktemp("site")
    result = mkdocs_build(ROOT / "mkdocs.yml", out)
    assert result.returncode == 0, result.stderr[-3000:]
    return out


def built_page(site: Path, page: str) -> Path:
    """Where mkdocs (use_directory_urls) writes docs/<page>."""
    stem = page[: -len(".md")]
    return site / "index.html" if stem == "index" else site / stem / "index.html"


def test_docs_build_strict_and_every_page_is_built(site):
    pages = sorted(p.name for p in (ROOT / "docs").glob("*.md"))
    assert len(pages) >= MIN_PAGES, pages
    for page in pages:
        assert built_page(site, page).is_file(), f"docs/{page} was not built"


def test_a_broken_link_fails_the_build(tmp_path):
    """The strictness is real: the same config with one broken link and one missing anchor fails."""
    shutil.copytree(ROOT / "docs", tmp_path / "docs")
    shutil.copy(ROOT / "mkdocs.yml", tmp_path / "mkdocs.yml")
    with open(tmp_path / "docs" / "index.md", "a") as page:
        page.write("\n[gone](no-such-page.md) and [nowhere](training.md#no-such-anchor)\n")
    result = mkdocs_build(tmp_path / "mkdocs.yml", tmp_path / "site")
    assert result.returncode != 0
    assert "no-such-page.md" in result.stderr and "no-such-anchor" in result.stderr, result.stderr[-3000:]


def test_readme_is_short():
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= MAX_README_LINES, f"README.md has {len(lines)} lines; at most {MAX_README_LINES}, the rest in docs/"


def test_every_link_of_the_readme_exists(site):
    links = [link for link in LINK.findall(README.read_text(encoding="utf-8")) if "://" not in link]
    docs_links = [link for link in links if link.startswith("docs/")]
    assert len({link.split("#")[0] for link in docs_links}) >= MIN_PAGES, docs_links
    for link in links:
        target, _, anchor = link.partition("#")
        assert (ROOT / target).exists(), f"README.md links to {target}, which does not exist"
        if anchor and target.startswith("docs/") and target.endswith(".md"):
            html = built_page(site, target[len("docs/"):]).read_text(encoding="utf-8")
            assert f'id="{anchor}"' in html, f"README.md links to {link}: {target} has no heading with the anchor #{anchor}"
