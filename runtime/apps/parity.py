"""`python -m runtime parity`: every artifact of a manifest run on the reference images and
judged against the Keras model (runtime.evaluate.parity), printed as the parity table or as
JSON, with the HTML report and model card of --report; exit status 1 when any artifact fails."""

from __future__ import annotations

import json
import sys

from ..evaluate.parity import check_models, limits_from_options
from ..evaluate.platform_info import describe_platform
from ..tables import parity_table, plural
from .start import SETUP_ERRORS, fail


def run(args) -> int:
    limits = limits_from_options(args.max_drop, args.float_max_dp)
    if args.report:
        from .report import ReportDependencyError, ReportFolderError, check_report_folder, require_matplotlib

        try:
            require_matplotlib()  # before the work, so a device without it, or a folder of the user's, fails at once
            check_report_folder(args.report)
        except (ReportDependencyError, ReportFolderError) as err:
            return fail(err)
    try:
        report = check_models(args.models, limits, backend=args.backend, num_threads=args.threads,
                              verify_checksum=not args.no_verify, keep_outputs=bool(args.report), quiet=not args.verbose)
    except SETUP_ERRORS as err:
        return fail(err)
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        print("Platform: " + describe_platform(report.platform))
        labelled = "" if report.reference.has_labels else " (no labels: agreement only)"
        count = len(report.reference.images)
        print(f"Reference: {count} held-out {plural(count, 'image')} in {report.folder.reference_path}{labelled}\n")
        print(parity_table(report.results, report.reference, skipped=report.skipped))
        if not report.results:
            print("\nNo artifact could be run: install an interpreter package (see skipped).")
        else:
            print(f"\n{'PASS' if report.passed else 'FAIL'}: {sum(r.passed for r in report.results)} of {len(report.results)} {plural(len(report.results), 'artifact')} passed")
    if args.report:
        from .report import ReportOptions, write_report

        options = ReportOptions(limits=limits, num_threads=args.threads, verify_checksum=not args.no_verify)
        try:
            files = write_report(report, args.report, options)
        except (OSError, ValueError) + SETUP_ERRORS as err:
            return fail(f"report not written: {err}")
        print(f"Report: {files.html} ({len(files.figures)} figures beside it), model card: {files.card}",
              file=sys.stderr if args.json else sys.stdout)
    return 0 if report.passed else 1
