"""verify's fallbacks for int8 files: when plain int8 is not verified (refused, or unproven),
the measured fixes are searched with conversion's own verdict as the judge
(convert/int8_fallback.py for TFLite and TFLite Micro, convert/onnx_fallback.py for ONNX), and
the variant to write comes back as another candidate for the same file: the cheapest verified
one, else the one with the best measured change (written as unproven, its verdict saying what
it would take), or nothing when no variant beats plain int8. verify judges it again through
the runtime that runs the file (TFLite Micro's interpreter for a microcontroller's model).

No search runs when none can help: when plain int8 is unproven, its measured change is within
the budget, and even a file that gives Keras's answer on every image could not be verified on
these images (only more images, or a wider --max-drop, can). Each variant tried is logged with
its time, and the search's total; the manifest entry records the search."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Optional

from runtime.errors import ToolkitError, one_line
from runtime.evaluate.parity import ParityResult, compare
from runtime.store.bundles import Reference
from runtime.store.files import atomic_path
from runtime.store.folder import ModelsFolder
from runtime.tables import plural
from runtime.verdict import UNPROVEN, VERIFIED, Limits, verifiable

from .int8_fallback import Int8Search, Judgement
from .int8_variants import Measured
from .verify import Candidate, Judged, measured_change, with_candidate

SEARCH_ERRORS = (ToolkitError, RuntimeError, ValueError, OSError)
"""What a converter, the debugger or onnxruntime's quantizer raise when a search cannot run."""


def judgement(result: ParityResult, limits: Limits) -> Judgement:
    """The search's view of one verdict: its outcome, its measured change, and whether the
    search may stop (verified, or nothing could be verified on these images and the measured
    change is within the budget)."""
    change = measured_change(result)
    verdict = result.verdict or {}
    images = int(verdict.get("images") or 0)
    hopeless = not verifiable(images, limits.max_drop, labelled=verdict.get("rule") == "accuracy")
    enough = result.status == VERIFIED or (result.status == UNPROVEN and hopeless and change >= -limits.max_drop)
    return Judgement(result.status, result.summary, change, enough)


def verdict_judge(name: str, reference: Reference, limits: Limits):
    """judge(probs) -> Judgement: conversion's verdict on a variant's outputs."""
    def judge(probs) -> Judgement:
        return judgement(compare(name, "int8", 0, probs, reference, limits), limits)

    return judge


def searchable(judged: Judged, limits: Limits, log) -> bool:
    """Whether a search can help the first candidate: a verdict on its outputs (not a failed
    check of another kind) that is not verified, and not one no variant could better; says why
    when it cannot."""
    result = judged.result
    if result.verdict.get("rule") not in ("accuracy", "agreement") or judged.probs is None:
        return False
    if judgement(result, limits).enough:
        images = int(result.verdict.get("images") or 0)
        log(f"  plain int8 is unproven, with a measured change within the budget; no fix is tried: on {images:,} "
            f"{plural(images, 'image')} not even a file that gives Keras's answer on every one could be verified "
            "(more images, or a wider --max-drop, would settle it)")
        return False
    return True


def plain_measured(judged: Judged, variant, tmp: Path) -> Measured:
    """Plain int8 as verify made and ran it, for the search's first try (not built again)."""
    return Measured(variant, tmp.read_bytes(), judged.probs, judged.result.agreement or 0.0, judged.ms_per_image)


def replacement(search: Int8Search, plain: Candidate, data: bytes, log, rebuild=None) -> Optional[Candidate]:
    """The candidate to judge in plain int8's place, with the search's record and a note
    (`rebuild(data)`: a candidate of its own for these bytes, else plain int8's writing `data`);
    None when no variant beats plain int8 (then verify writes or refuses plain int8 as judged)."""
    best = search.best
    seconds = f"{len(search.tried)} {plural(len(search.tried), 'variant')} in {search.seconds:.1f} s"
    if best is None:
        log(f"  no variant is listed: every one was refused or failed ({seconds})")
        return None
    if best is search.tried[0]:
        log(f"  no variant does better than plain int8 ({seconds}); it is written as judged")
        return None
    record = dict(best.to_json(), search={"tried": len(search.tried), "seconds": round(search.seconds, 1)})
    outcome = "verified" if best.passed else "unproven, the best measured change"
    log(f"  chose {best.variant.describe()} ({outcome}; {seconds})")
    note = (f"int8 fix: {best.variant.describe()} ({outcome} of {seconds}): {best.measured.size:,} bytes "
            f"({best.size_ratio:.2f}x plain int8's), {best.speed_ratio:.1f}x its time per image")
    changes = dict(extra={"quantization": record}, notes=(note,))
    if plain.calibration is not None and best.variant.per_channel != plain.calibration.per_channel:
        changes["calibration"] = dataclasses.replace(plain.calibration, per_channel=best.variant.per_channel)
    if rebuild is not None:
        # A fix the runtime cannot run is not written, and plain int8 stays (verify keeps it).
        return with_candidate(rebuild(data), errors_reject=True, **changes)
    return with_candidate(plain, write=lambda tmp: tmp.write_bytes(data), **changes)


def tflite_int8_fix(model, calibration, reference: Reference, limits: Limits, plain: Candidate, log, per_channel: bool,
                    embed=None, micro: bool = False, rebuild=None):
    """verify's fallback for int8 TFLite (`micro`: TFLite Micro's batch-1 model, int8 in and out,
    whose fixes keep every op integer: the other granularity, then 16x8): the search of
    convert/int8_fallback.best_int8. `embed(bytes) -> bytes` adds the metadata to what is
    written; `rebuild(bytes) -> Candidate` makes the fix a candidate of its own (micro's: its
    arena, C++ files and entry), which verify then judges on TFLite Micro."""
    from .int8_fallback import best_int8
    from .int8_variants import Variant

    def fallback(judged: Judged) -> Optional[Candidate]:
        if not searchable(judged, limits, log):
            return None
        log(f"  plain int8 is not verified ({judged.result.summary}); trying the measured fixes ...", flush=True)
        options = dict(float_ops=False, batch_size=1, output_type="int8") if micro else {}
        try:
            # A microcontroller's plain int8 was judged on TFLite Micro: the search runs every variant
            # on LiteRT, its own first too, so that their times compare.
            known = None if micro else plain_measured(judged, Variant(per_channel), judged.path)
            search = best_int8(model, calibration, reference, verdict_judge(plain.name, reference, limits),
                               judged.model.contract, per_channel, log=log, plain=known, **options)
        except SEARCH_ERRORS as err:
            log(f"  no fix could be measured: {type(err).__name__}: {one_line(err)[:300]}")
            return None
        best = search.best
        if best is None or best is search.tried[0]:
            return replacement(search, plain, b"", log)
        return replacement(search, plain, embed(best.measured.data) if embed else best.measured.data, log, rebuild)

    return fallback


def onnx_int8_fix(float_onnx, calibration, reference: Reference, limits: Limits, plain: Candidate, folder: ModelsFolder,
                  finish, log, per_channel: bool):
    """verify's fallback for int8 ONNX: the search of convert/onnx_fallback.best_onnx_int8 on
    the float ONNX export (`float_onnx.write(path)`); `finish(path)` makes the QDQ file a file to
    ship (convert/onnx_export.finish_onnx: pixel input, metadata)."""
    from .onnx_fallback import OnnxVariant, best_onnx_int8

    def fallback(judged: Judged) -> Optional[Candidate]:
        if not searchable(judged, limits, log):
            return None
        log(f"  plain int8 is not verified ({judged.result.summary}); trying the measured fixes ...", flush=True)
        try:
            with atomic_path(folder.file(".float-for-int8-fix.onnx")) as float_path:  # a scratch file, removed
                float_onnx.write(float_path)
                search = best_onnx_int8(float_path, calibration, reference, verdict_judge(plain.name, reference, limits),
                                        judged.model.contract, per_channel, log=log,
                                        plain=plain_measured(judged, OnnxVariant(per_channel), judged.path))
                float_path.unlink()
        except SEARCH_ERRORS as err:
            log(f"  no fix could be measured: {type(err).__name__}: {one_line(err)[:300]}")
            return None
        best = search.best
        data = b"" if best is None or best is search.tried[0] else best.measured.data
        candidate = replacement(search, plain, data, log)
        if candidate is None:
            return None

        def write(tmp: Path) -> None:
            tmp.write_bytes(data)
            finish(tmp)

        return with_candidate(candidate, write=write)

    return fallback
