"""The report's folder: the report writes only files it owns there. DIR/.parity-report.json
records each file an earlier report wrote, with its sha256; a file in DIR that it does not list,
or that changed since, is the user's and is never replaced or removed. A new report is drawn in
a hidden folder inside DIR first and moved into place only when every file of it is written, so
a report that fails half-way leaves the earlier one whole."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import stat
import tempfile
from pathlib import Path
from typing import Iterator

from ...errors import ToolkitError
from ...store.files import sha256_file, write_bytes_atomic
from .common import CARD_NAME, GENERATOR, HTML_NAME

RECORD_NAME = ".parity-report.json"
"""The files the last report wrote into its folder, and their sha256."""
STAGING_PREFIX = ".parity-report-"
"""The hidden folder a report is drawn in, inside DIR; one left by a killed run is removed."""


class ReportFolderError(ToolkitError, ValueError):
    """The report's folder holds a file of the user's where the report would write one."""


class ReportFolder:
    """DIR and what earlier reports wrote into it."""

    def __init__(self, folder):
        self.path = Path(folder)
        self.owned = self._read_record()
        """File name -> sha256 of each file an earlier report wrote (and that is still as written)."""

    def _read_record(self) -> dict:
        try:
            data = json.loads((self.path / RECORD_NAME).read_text())
        except FileNotFoundError:
            return self._earlier_version()
        except (OSError, UnicodeDecodeError, ValueError):
            return {}
        files = data.get("files") if isinstance(data, dict) else None
        if not isinstance(files, dict):
            return {}
        return {name: digest for name, digest in files.items()
                if isinstance(name, str) and isinstance(digest, str) and _plain_name(name)}

    def _earlier_version(self) -> dict:
        """A report written before the record existed: its index.html names its generator and
        its figures, which (with the card beside it) are the report's; nothing else is."""
        try:
            page = (self.path / HTML_NAME).read_text(errors="replace")
        except OSError:
            return {}
        if GENERATOR not in page:
            return {}
        names = {HTML_NAME, CARD_NAME} | set(re.findall(r'src="(fig_[A-Za-z0-9_]+\.png)"', page))
        owned = {}
        for name in names:
            with contextlib.suppress(OSError):
                if stat.S_ISREG(os.lstat(self.path / name).st_mode):
                    owned[name] = sha256_file(self.path / name)
        return owned

    def is_ours(self, name: str) -> bool:
        """Whether DIR/name is missing, or is a regular file an earlier report wrote and nobody changed."""
        path = self.path / name
        try:
            mode = os.lstat(path).st_mode
        except FileNotFoundError:
            return True
        except OSError:
            return False
        return stat.S_ISREG(mode) and name in self.owned and sha256_file(path) == self.owned[name]

    def check_free(self, names) -> None:
        """ReportFolderError naming the files of `names` that DIR holds and the report does not own."""
        if self.path.exists() and not self.path.is_dir():
            raise ReportFolderError(f"{self.path} exists and is not a folder; give --report a folder")
        taken = [name for name in names if not self.is_ours(name)]
        if taken:
            shown = ", ".join(taken[:5]) + (f" and {len(taken) - 5} more" if len(taken) > 5 else "")
            raise ReportFolderError(f"{self.path} holds {shown}, which no earlier report wrote (or which changed since): "
                                    "nothing was replaced; move them away, or give --report an empty or new folder")

    @contextlib.contextmanager
    def staging(self) -> Iterator[Path]:
        """A new hidden folder inside DIR to draw the report in; removed at the end of the block."""
        self.path.mkdir(parents=True, exist_ok=True)
        for stale in self.path.glob(STAGING_PREFIX + "*"):
            shutil.rmtree(stale, ignore_errors=True)
        staged = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=self.path))
        try:
            yield staged
        finally:
            shutil.rmtree(staged, ignore_errors=True)

    def commit(self, staged: Path, names: list) -> None:
        """Moves the staged files `names` into DIR, removes the files of the earlier report that
        the new one does not have (only those still as that report wrote them), and records
        the new set."""
        self.check_free(names)
        written = {name: sha256_file(staged / name) for name in names}
        for name in names:
            os.replace(staged / name, self.path / name)
        for name in sorted(set(self.owned) - set(names)):
            if self.is_ours(name):
                with contextlib.suppress(FileNotFoundError):
                    (self.path / name).unlink()
        write_bytes_atomic(self.path / RECORD_NAME, (json.dumps({"files": written}, indent=1) + "\n").encode())
        self.owned = written


def check_report_folder(folder) -> None:
    """Before any work: ReportFolderError when DIR's index.html or model_card.md is the user's."""
    ReportFolder(folder).check_free([HTML_NAME, CARD_NAME])


def _plain_name(name: str) -> bool:
    """A file name directly in DIR (a record that names ../x must not make the report remove it)."""
    return bool(name) and "/" not in name and "\\" not in name and name not in (".", "..") and "\0" not in name
