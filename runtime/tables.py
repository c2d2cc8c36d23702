"""Plain-text tables and the number formats every command prints (parity, convert, bench,
diagnose): one place, so the same figure reads the same everywhere."""

from __future__ import annotations


def plural(count: int, noun: str, many: str | None = None) -> str:
    """`noun` for a count of one, its plural (`many`, else noun + "s") for any other,
    so that no message reads "1 classes"."""
    return noun if count == 1 else (many or noun + "s")


def format_size(n: int) -> str:
    return f"{n / 1024:.1f} KiB" if n < 1 << 20 else f"{n / (1 << 20):.2f} MiB"


def format_percent(value, digits=2) -> str:
    """A share as a percentage; "-" when it was not measured (None or NaN)."""
    return "-" if value is None or value != value else f"{value:.{digits}%}"


def format_sci(value) -> str:
    """A difference in scientific notation; "-" when it was not measured."""
    return "-" if value is None else f"{value:.2e}"


def pp(value) -> str:
    """A share as signed percentage points, with a true minus sign: -0.0083 -> "−0.83 pp"; "-"
    when not measured (None)."""
    return "-" if value is None else f"{value * 100:+.2f} pp".replace("-", "−")


def text_table(header, rows, rule: bool = True) -> list:
    """Left-aligned columns as wide as their widest cell; a rule of dashes under the header."""
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]

    def line(row):
        return "  ".join(str(cell).ljust(w) for cell, w in zip(row, widths)).rstrip()

    lines = [line(header)]
    if rule:
        lines.append("  ".join("-" * w for w in widths))
    return lines + [line(row) for row in rows]


CHECK_WORDS = {"verified": "verified", "unproven": "unproven", "refused": "REFUSED"}
"""The check column's word for each outcome (runtime.verdict): a refused file in capitals."""


def check_word(status: str) -> str:
    return CHECK_WORDS.get(status, status)


def parity_table(results, reference, reference_name: str = "keras (reference)", skipped=()) -> str:
    """The parity summary: one row per artifact, the Keras model first, its outcome in the
    check column (verified, unproven or REFUSED), then every verdict, failure and skip with its
    reason."""
    header = ("artifact", "precision", "calibration", "size", "accuracy", "Δ acc", "agree", "max |Δp|", "mean |Δp|", "check")
    labelled = reference.has_labels
    rows = [(reference_name, "float32", "", "", f"{reference.accuracy:.4f}" if labelled else "-", "", "", "", "", "")]
    for r in results:
        rows.append((
            r.artifact, r.precision, r.calibration, format_size(r.bytes),
            "-" if r.accuracy is None else f"{r.accuracy:.4f}", pp(r.delta_accuracy),
            format_percent(r.agreement), format_sci(r.max_abs_dp), format_sci(r.mean_abs_dp), check_word(r.status),
        ))
    for artifact, precision, _ in skipped:
        rows.append((artifact, precision, "", "", "", "", "", "", "", "skipped"))
    lines = text_table(header, rows)
    judged = [r for r in results if r.summary]
    if judged:
        lines.append("")
        lines += [f"verdict {r.artifact}: {r.summary}" for r in judged]
    for r in results:
        lines += [f"note {r.artifact}: {note}" for note in r.notes]
        lines += [f"FAIL {r.artifact}: {failure}" for failure in r.failures]
    lines += [f"skipped {artifact}: {reason}" for artifact, _, reason in skipped]
    return "\n".join(lines)


def outcome_line(results) -> str:
    """The line under a parity table: PASS when every file is verified, UNPROVEN when none is
    refused but some are unproven, FAIL when any is refused (or none ran); with the counts and
    the files that are not verified."""
    total = f"{len(results)} {plural(len(results), 'artifact')}"
    named = {status: [r.artifact for r in results if r.status == status] for status in ("unproven", "refused")}
    verified = sum(r.status == "verified" for r in results)
    unproven = f"{len(named['unproven'])} unproven ({', '.join(named['unproven'])})"
    if named["refused"] or not results:
        also = f", {unproven}" if named["unproven"] else ""
        return f"FAIL: {len(named['refused'])} of {total} refused ({', '.join(named['refused'])}); {verified} verified{also}"
    if named["unproven"]:
        return f"UNPROVEN: {verified} of {total} verified, {unproven}, none refused"
    return f"PASS: {verified} of {total} verified"
