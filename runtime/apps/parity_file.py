"""`python -m runtime parity FILE`: one model file checked on this device with nothing but itself,
by the golden set it carries (runtime.evaluate.golden): what it rests on, how this device's
outputs differ from the workstation's and from Keras's, and the verdict. Exit status as
parity's: 0 verified, 3 unproven, 1 refused (a damaged or altered golden set
included), 2 when it could not start (no golden set, no interpreter, a file that does not load)."""

from __future__ import annotations

import json

from ..evaluate.golden import NoGoldenSetError, check_file
from ..evaluate.parity import limits_from_options
from ..evaluate.platform_info import describe_platform, platform_record
from ..verdict import REFUSED, UNPROVEN, VERIFIED
from .start import EXIT_STATUS, SETUP_ERRORS, fail

LAST_LINE = {VERIFIED: "PASS", UNPROVEN: "UNPROVEN", REFUSED: "FAIL"}


def run(args) -> int:
    if args.report:
        return fail("--report needs a models folder's reference bundle; a file alone is checked with its golden set "
                    "(drop FILE, or drop --report)")
    limits = limits_from_options(args.max_drop, args.float_max_dp)
    try:
        check = check_file(args.file, backend=args.backend, num_threads=args.threads, limits=limits, quiet=not args.verbose)
    except SETUP_ERRORS + (NoGoldenSetError,) as err:
        return fail(err)
    if args.json:
        print(json.dumps(check.to_json(), indent=2))
    elif not check.details:  # refused before it ran (its golden set): one line says why
        print(f"verdict {check.artifact}: {check.summary}")
        return 1
    else:
        name, version = check.backend.rsplit(" ", 1)
        print("Platform: " + describe_platform(dict(platform_record(), **{name: version})))
        for line in check.details:
            print(f"  {line}")
        print(f"\nverdict {check.artifact}: {check.summary}")
        for failure in check.failures[1:]:
            print(f"  also: {failure}")
        print(LAST_LINE.get(check.status, "FAIL"))
    return EXIT_STATUS.get(check.status, 1)
