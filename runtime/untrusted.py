"""Text that comes from outside the toolkit (class names from a model file, a manifest, a labels
file or folder names; file names; messages of other libraries): checked once where it enters,
escaped once where it is shown.

- `check_labels`: the one rule for class names, whatever their source: text, not empty, at most
  MAX_LABEL_CHARS, no control character (a line break would forge an output line, an ESC a
  terminal command), no bidirectional override (it would show one name as another), distinct
  (a repeated name would merge two classes' probabilities).
- `for_terminal`, `for_html`, `for_markdown`, `markdown_code`: a string made inert where it is
  shown. `terminal_output()` guards a command's stdout and stderr as a whole: a control
  character that still reaches them (a file name, a library's warning) is written as an escape,
  and text the terminal's encoding cannot hold (a file name that is not UTF-8) as
  backslash escapes instead of stopping the command."""

from __future__ import annotations

import contextlib
import html
import sys
import unicodedata
from collections import Counter
from typing import Iterator

from .errors import ToolkitError

MAX_LABEL_CHARS = 200
"""A class name longer than this is refused: a name, not a document (ImageNet's longest is 120)."""
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
"""Embeddings, overrides and isolates: they reorder the text after them, so a name could read
as another. Right-to-left names need none of them."""
SHOWN_DUPLICATES = 10
"""A message names at most this many repeated class names."""


class LabelError(ToolkitError, ValueError):
    """Class names that cannot be used: one is empty, too long, holds a control character, or
    two are the same."""


def check_labels(labels, source: str) -> list:
    """The class names as a list of str, or LabelError naming `source` and the first bad name.
    Numbers are taken as their text (an .npz's class_names may hold them); anything else that
    is not text is refused."""
    names = []
    for k, label in enumerate(labels):
        if isinstance(label, bool) or not isinstance(label, (str, int, float)):
            raise LabelError(f"{source}: class name {k} is {type(label).__name__} {label!r:.40}, not text")
        name = str(label)
        if not name.strip():
            raise LabelError(f"{source}: class name {k} is empty; expected a name for every class")
        if len(name) > MAX_LABEL_CHARS:
            raise LabelError(f"{source}: class name {k} is {len(name):,} characters long; expected at most "
                             f"{MAX_LABEL_CHARS} (a name, not a text)")
        if "\n" in name or "\r" in name:
            raise LabelError(f"{source}: class name {k} ({name!r}) holds a line break; expected one line per name")
        bad = None if name.isprintable() else next(
            (c for c in name if unicodedata.category(c) == "Cc" or c in BIDI_CONTROLS), None)
        if bad is not None:
            kind = "a control character" if unicodedata.category(bad) == "Cc" else "a bidirectional override"
            raise LabelError(f"{source}: class name {k} ({name!r}) holds {kind} (U+{ord(bad):04X}), "
                             "which a terminal or a page would act on instead of showing it")
        names.append(name)
    repeated = [name for name, count in Counter(names).items() if count > 1]
    if repeated:
        shown = ", ".join(for_terminal(n) for n in sorted(repeated)[:SHOWN_DUPLICATES])
        more = f" and {len(repeated) - SHOWN_DUPLICATES:,} more" if len(repeated) > SHOWN_DUPLICATES else ""
        raise LabelError(f"{source}: class names must be distinct; repeated: {shown}{more}")
    return names


def for_terminal(text) -> str:
    """`text` as a terminal shows it literally: every character that is not printable (control
    characters, line and paragraph separators, format characters) as its escape, as repr()
    writes it; a byte of a file name that is not UTF-8 (a lone surrogate) as that byte, \\xff."""
    text = str(text)
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else _escape(c) for c in text)


def _escape(c: str) -> str:
    code = ord(c)
    if 0xDC80 <= code <= 0xDCFF:  # os.fsdecode's stand-in for a byte that is not UTF-8
        return f"\\x{code - 0xDC00:02x}"
    return repr(c)[1:-1]


def for_html(text) -> str:
    """`text` as HTML text or an attribute value (quotes included)."""
    return html.escape(str(text), quote=True)


_MARKDOWN = {ord(c): "\\" + c for c in "\\`*_[]"} | {ord("<"): "&lt;", ord(">"): "&gt;", ord("&"): "&amp;"}


def for_markdown(text) -> str:
    """`text` as Markdown text that renders as itself: no emphasis, link, code or HTML can start
    in it (the characters that would open one are escaped, or written as entities). In a
    table, a cell's `|` is escaped as well (the table's own business)."""
    return for_terminal(text).translate(_MARKDOWN)


def markdown_code(text) -> str:
    """`text` as a Markdown code span, shown literally: fenced by more backticks than it holds
    in a row, so none of its own can close the span."""
    text = for_terminal(text)
    run = longest = 0
    for c in text:
        run = run + 1 if c == "`" else 0
        longest = max(longest, run)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


_CONTROLS = {code: f"\\x{code:02x}" for code in [*range(0x20), 0x7F, *range(0x80, 0xA0)] if chr(code) not in "\t\n\r\b"}
"""What TerminalStream escapes: C0 controls but tab, line feed, carriage return and backspace
(progress bars redraw with them; none starts a terminal command), DEL and the C1 controls."""


class TerminalStream:
    """A text stream that writes every control character a terminal would act on (ESC starts
    its commands: a window title, the clipboard, a cleared screen) as an escape; the rest is
    the wrapped stream's."""

    def __init__(self, stream):
        self._stream = stream

    def write(self, text: str) -> int:
        self._stream.write(text.translate(_CONTROLS))
        return len(text)

    def writelines(self, lines) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name):
        return getattr(self._stream, name)


@contextlib.contextmanager
def terminal_output() -> Iterator[None]:
    """For a command's run: its stdout and stderr as TerminalStreams that write what their
    encoding cannot hold as backslash escapes; restored afterwards."""
    saved = sys.stdout, sys.stderr
    for stream in saved:
        with contextlib.suppress(AttributeError, ValueError, OSError):
            stream.reconfigure(errors="backslashreplace")
    sys.stdout, sys.stderr = (s if s is None or isinstance(s, TerminalStream) else TerminalStream(s) for s in saved)
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved
