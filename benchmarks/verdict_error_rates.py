"""The exact error rates of the verdict's paired rule (runtime/verdict.py) against the number of
reference images and the share of images on which Keras and the file differ in being right.

For a file that loses exactly the budget (the hardest case): how often it is verified (the
limit of a false pass, for a file that loses a hair more) and how often it is refused (a false
refusal: it is within the budget). Below the budget's share, every differing image is a loss
and only refusal can be wrong. The multinomial of (lost, gained) is enumerated, not sampled.

    python benchmarks/verdict_error_rates.py [--budget 1] [--rule verdict|before-32|agresti-min|tango]
    python benchmarks/verdict_error_rates.py --scan [--budget 0.25,0.5,1,2,5,10]   # every n, minutes

`before-32` is the rule before issue 32 (Agresti and Min's adjusted Wald interval; refused only
when a loss is shown beyond zero and its estimate is beyond the budget, else listed);
`agresti-min` is that interval recast as the same two one-sided claims; `tango` is Tango's
score without Laud's corrections.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import numpy as np  # noqa: E402

from runtime.verdict import REFUSED, UNPROVEN, VERIFIED, Z_95, paired_status  # noqa: E402
from verdict_rates import at_budget, outcome_rates  # noqa: E402

SIZES = (30, 50, 100, 200, 300, 500, 1000, 2000, 5000)
DISCORDANCE = (0.005, 0.01, 0.02, 0.03, 0.05, 0.1, 0.2)


def agresti_min(lost, gained, n, budget):
    """Half an image added to each cell; the bounds of the adjusted Wald interval."""
    b, c, m = np.asarray(lost) + 0.5, np.asarray(gained) + 0.5, n + 2
    centre = (c - b) / m
    spread = np.sqrt(np.maximum((b + c) / m - centre**2, 0) / m)
    lower, upper = centre - Z_95 * spread, centre + Z_95 * spread
    return np.where(lower >= -budget, VERIFIED, np.where(upper < -budget, REFUSED, UNPROVEN))


def before_32(lost, gained, n, budget):
    """The rule before issue 32: refused when the Agresti-Min upper bound is below zero and the
    estimate beyond the budget, else passed (listed: counted here as verified)."""
    b, c, m = np.asarray(lost) + 0.5, np.asarray(gained) + 0.5, n + 2
    centre = (c - b) / m
    upper = centre + Z_95 * np.sqrt(np.maximum((b + c) / m - centre**2, 0) / m)
    shown = (upper < 0) & (np.asarray(lost) - np.asarray(gained) > budget * n)
    return np.where(shown, REFUSED, VERIFIED)


def tango(lost, gained, n, budget):
    """Tango's score at Δ = -budget, no skewness, variance or continuity correction."""
    b, c, d0 = np.asarray(lost, np.float64), np.asarray(gained, np.float64), -budget
    quad_b = d0 * (2 * n + b - c) - (b + c)
    p_lost = (-quad_b + np.sqrt(np.maximum(quad_b**2 + 8 * n * b * d0 * (1 - d0), 0))) / (4 * n)
    score = (c - b - n * d0) / np.sqrt(n * (2 * p_lost + d0 - d0 * d0))
    return np.where(score >= Z_95, VERIFIED, np.where(score <= -Z_95, REFUSED, UNPROVEN))


RULES = {"verdict": paired_status, "before-32": before_32, "agresti-min": agresti_min, "tango": tango}


def errors(rule, n: int, budget: float, discordance) -> list:
    """(share differing, P(verified) or None, P(refused)) for the file at the budget."""
    rates = outcome_rates(lambda b, c, m: rule(b, c, m, budget), n, [at_budget(budget, q) for q in discordance])
    return [(q, r.get(VERIFIED, 0.0) if q >= budget else None, r.get(REFUSED, 0.0)) for q, r in zip(discordance, rates)]


def table(rule, budget: float) -> str:
    head = "  ".join(f"{q:>6.1%}" for q in DISCORDANCE)
    lines = [f"budget {budget * 100:g} pp; a file that loses exactly the budget, by share of images that differ",
             f"{'images':>6s}  verified (false pass, at the limit): {head}",
             f"{'':6s}  refused (false refusal):            {head}"]
    for n in SIZES:
        rows = errors(rule, n, budget, DISCORDANCE)
        passes = "  ".join("     -" if v is None else f"{v:6.2%}" for _, v, _ in rows)
        refusals = "  ".join(f"{r:6.2%}" for _, _, r in rows)
        lines += [f"{n:6d}  {'':37s}{passes}", f"{'':6s}  {'':37s}{refusals}"]
    return "\n".join(lines)


def scan(rule, budget: float) -> str:
    """The worst of either error over every n from 10 to 1,200, then every 50 to 5,000, and
    shares from the budget's to 35%."""
    shares = sorted({budget * k for k in (1, 1.02, 1.05, 1.1, 1.2, 1.3, 1.5, 1.75, 2, 2.5, 3, 4, 6, 10, 20)}
                    | {0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3})
    shares = [q for q in shares if 0 < q <= 0.35]
    worst_pass, worst_refusal = (0.0, 0, 0.0), (0.0, 0, 0.0)
    for n in [*range(10, 1201), *range(1250, 5001, 50)]:
        for q, verified, refused in errors(rule, n, budget, shares):
            if verified is not None and verified > worst_pass[0]:
                worst_pass = (verified, n, q)
            if refused > worst_refusal[0]:
                worst_refusal = (refused, n, q)
    return (f"budget {budget * 100:g} pp: worst false pass {worst_pass[0]:.2%} (n={worst_pass[1]}, {worst_pass[2]:.2%} "
            f"differ); worst false refusal {worst_refusal[0]:.2%} (n={worst_refusal[1]}, {worst_refusal[2]:.2%} differ)")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--budget", default=None, metavar="PP",
                        help="--max-drop in percentage points, comma-separated (default: 1; with --scan: 0.25,0.5,1,2,5,10)")
    parser.add_argument("--rule", choices=sorted(RULES), default="verdict", help="default: %(default)s")
    parser.add_argument("--scan", action="store_true", help="the worst case over every n and share (slow)")
    args = parser.parse_args(argv)
    text = args.budget or ("0.25,0.5,1,2,5,10" if args.scan else "1")
    try:
        budgets = [float(b) / 100 for b in text.split(",") if b]
    except ValueError:
        parser.error(f"--budget: got {text!r}, expected percentage points, e.g. 1 or 0.5,1,2")
    if not budgets or not all(0 < b < 0.5 and math.isfinite(b) for b in budgets):
        parser.error(f"--budget: got {text!r}, expected percentage points between 0 and 50")
    rule = RULES[args.rule]
    print(f"rule: {args.rule}")
    for budget in budgets:
        print(scan(rule, budget) if args.scan else table(rule, budget), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
