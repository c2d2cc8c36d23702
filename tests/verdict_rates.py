"""Exact outcome rates of a paired verdict rule: on n images, each image is lost (Keras right,
the file wrong) with probability p_lost, gained with p_gained, else neither; the multinomial of
(lost, gained) is enumerated, so the rates are exact, not simulated. Used by
tests/test_verdict.py and benchmarks/verdict_error_rates.py."""

from __future__ import annotations

import math

import numpy as np

TAIL_SDS = 12
"""The grid reaches this many standard deviations past the mean: what it leaves out is < 1e-15."""


def at_budget(budget: float, discordance: float) -> tuple:
    """(p_lost, p_gained) of a file that loses exactly `budget` with this share of images
    differing in being right: the hardest file for either claim. Below the budget's share,
    every differing image is a loss (the file loses `discordance`, within the budget)."""
    if discordance < budget:
        return discordance, 0.0
    return (discordance + budget) / 2, (discordance - budget) / 2


def outcome_rates(status_of, n: int, cases: list) -> list:
    """For each (p_lost, p_gained) in `cases`: {status: probability} over every (lost, gained)
    on n images, with "mass", the probability the grid holds (1 but for rounding).
    status_of(lost, gained, n) gives the status of each cell of broadcast arrays."""
    reach = [(_reach(n, p_lost), _reach(n, p_gained)) for p_lost, p_gained in cases]
    lost = np.arange(max(r[0] for r in reach) + 1)[:, None]
    gained = np.arange(max(r[1] for r in reach) + 1)[None, :]
    status = status_of(lost, gained, n)
    log_fact = np.concatenate([[0.0], np.cumsum(np.log(np.arange(1, n + 1)))])
    rates = []
    for (p_lost, p_gained), (top_lost, top_gained) in zip(cases, reach):
        b, c = lost[: top_lost + 1], gained[:, : top_gained + 1]
        rest = n - b - c
        with np.errstate(divide="ignore", invalid="ignore"):
            log_p = (log_fact[n] - log_fact[b] - log_fact[c] - log_fact[np.clip(rest, 0, None)]
                     + _x_log(b, p_lost) + _x_log(c, p_gained) + rest * math.log1p(-p_lost - p_gained))
        pmf = np.where(rest >= 0, np.exp(log_p), 0.0)
        cells = status[: top_lost + 1, : top_gained + 1]
        found = {str(s): float(pmf[cells == s].sum()) for s in np.unique(cells)}
        rates.append(dict(found, mass=float(pmf.sum())))
    return rates


def _reach(n: int, p: float) -> int:
    """The largest count worth enumerating for a cell of probability p."""
    return min(n, int(n * p + TAIL_SDS * math.sqrt(n * p) + 30))


def _x_log(count: np.ndarray, p: float) -> np.ndarray:
    """count * log(p), with 0 * log(0) = 0."""
    if p > 0:
        return count * math.log(p)
    return np.where(count > 0, -np.inf, 0.0)
