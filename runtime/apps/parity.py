"""`python -m runtime parity`: every artifact of a manifest run on the reference images and
judged against the Keras model (runtime.evaluate.parity), printed as the parity table or as
JSON, with the HTML report and model card of --report. The exit status says the outcome: 0
every file verified, 1 a file refused (or none could run), 3 when none is refused
but a file is unproven, 2 when the check could not start. `parity FILE` checks one file with
its own golden set instead (parity_file)."""

from __future__ import annotations

import json
import sys

from ..evaluate.parity import check_models, limits_from_options
from ..evaluate.platform_info import describe_platform
from ..tables import outcome_line, parity_table, plural
from .start import EXIT_STATUS, SETUP_ERRORS, fail


def run(args) -> int:
    if args.file:  # one file, checked with the golden set it carries
        from .parity_file import run as run_file

        return run_file(args)
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
            print("\n" + outcome_line(report.results))
    if args.report:
        from .report import ReportOptions, write_report

        options = ReportOptions(limits=limits, num_threads=args.threads, verify_checksum=not args.no_verify)
        try:
            files = write_report(report, args.report, options)
        except (OSError, ValueError) + SETUP_ERRORS as err:
            return fail(f"report not written: {err}")
        print(f"Report: {files.html} ({len(files.figures)} figures beside it), model card: {files.card}",
              file=sys.stderr if args.json else sys.stdout)
    return EXIT_STATUS[report.status]
