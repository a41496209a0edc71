"""The decision rule of each prediction in machine form, for pooling verdicts over seeds (docs/
statistics.md, "Pooled verdicts"; :mod:`.pooled` applies them).

A :class:`Rule` is a threshold on the main statistic ``Verdict.value``, the side that holds, the
95% interval used for the mean over seeds and why, and for compound predictions a
:class:`SideCondition` read from ``Verdict.details``. :func:`rules_for` gives all eight at given
thresholds, in the order of :func:`.verdicts.decide_all`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from transformer_check.crosscheck.verdict_base import Thresholds, Verdict

__all__ = ["Side", "IntervalKind", "LEVEL", "WHY", "SideCondition", "Rule", "rules_for", "RULES"]

Side = Literal[">=", "<=", "<"]
IntervalKind = Literal["t", "bootstrap"]

LEVEL = 0.95

# Why each statistic gets its interval (docs/statistics.md): the percentile bootstrap stays within
# the observed range, which a bounded, discrete statistic needs (a t interval of rho = -1, -1, -0.5
# runs past -1), but with few seeds it is narrow (its half-width is about 1.96 sqrt((K-1)/K) /
# t_{0.975,K-1} of the t one: 0.54 at K = 4); continuous statistics get the t interval.
WHY = {
    "bootstrap": "bounded and discrete: a percentile bootstrap stays inside the statistic's range",
    "t": "continuous: Student t is exact for normal seed-to-seed spread and honest at small K",
}


def _num(x: Any) -> float | None:
    """A float from a number, a bool or a JSON string such as "inf"; None otherwise."""
    try:
        return None if x is None else float(x)
    except (TypeError, ValueError):
        return None


@dataclass(frozen=True)
class SideCondition:
    """The second per-seed condition of a compound prediction: the number at ``path`` in
    ``Verdict.details`` (None: not evaluated in that seed) and the ``test`` it must pass."""

    text: str
    path: tuple[str, ...]
    test: Callable[[float], bool]

    def value(self, v: Verdict) -> float | None:
        d: Any = v.details
        for p in self.path:
            d = d.get(p) if isinstance(d, Mapping) else None
        return _num(d)

    def ok(self, v: Verdict) -> bool | None:
        x = self.value(v)
        return None if x is None else bool(self.test(x))


@dataclass(frozen=True)
class Rule:
    """The decision rule of one prediction in machine form (docs/statistics.md): the main statistic
    ``Verdict.value`` holds in one seed iff ``value <side> threshold``; ``interval`` names the 95%
    interval of its mean over seeds ("t" or "bootstrap"); ``side_condition`` the compound part."""

    key: str
    statistic: str
    threshold: float
    side: Side
    interval: IntervalKind
    side_condition: SideCondition | None = None

    @property
    def why(self) -> str:
        return WHY[self.interval]

    def holds(self, x: float) -> bool:
        """Whether one value lies on the holding side."""
        t = self.threshold
        return x >= t if self.side == ">=" else x <= t if self.side == "<=" else x < t

    @property
    def statement(self) -> str:
        """The rule in one sentence, as the report prints it."""
        t = f"{self.threshold:g}"
        zone = {">=": f"[{t}, +inf)", "<=": f"(-inf, {t}]", "<": f"(-inf, {t})"}[self.side]
        s = (
            f"holds if the {LEVEL:.0%} {self.interval} interval of the mean {self.statistic} over "
            f"seeds lies inside {zone}, fails if it lies wholly outside, else undecided"
        )
        if self.side_condition is not None:
            s += (
                f"; and needs '{self.side_condition.text}' in every seed that evaluated it "
                "(fails if it failed in every one)"
            )
        return s


def rules_for(th: Thresholds) -> dict[str, Rule]:
    """The eight rules at thresholds ``th``, in the order of :func:`.verdicts.decide_all`."""
    tol, gap = th.support_tol, th.gap_max
    ratio = SideCondition(
        f"SFM support ratio within x{tol:g} of 1/p",
        ("sfm_ratio_over_theory",),
        lambda f: 1.0 / tol <= f <= tol,
    )
    ordering = SideCondition(f"every collapse event in (0, 1+{gap:g}]", ("ordering_ok",), bool)
    rho_sfm = SideCondition("rho(beta, t_gen) of the SFM < 0", ("sfm", "rho"), lambda r: r < 0)
    above_null = SideCondition(
        "ring after t_gen above the null's 99% quantile", ("above_null",), lambda d: d > 0
    )
    beats_raw = SideCondition(
        "K_BDM falls more than the raw bz2 size", ("drop_minus_raw_drop",), lambda d: d > 0
    )
    essential = SideCondition(
        f"every third costs >= {th.bypass_mem_min:g} train accuracy at t_mem",
        ("min_train_cost_at_t_mem",),
        lambda c: c >= th.bypass_mem_min,
    )
    rules = [
        Rule("complexity_rise_fall", "fraction of measures that hold", 0.5, ">=", "bootstrap"),
        Rule("fourier_collapse", "IPR growth", th.conc_min, ">=", "t", ratio),
        Rule("event_timing", "largest rescaled-time gap", gap, "<=", "t", ordering),
        Rule("regularisation_earlier", "rho(weight decay, t_gen)", 0.0, "<", "bootstrap", rho_sfm),
        Rule("llc_falls", "relative LLC fall", th.llc_drop_min, ">=", "t"),
        Rule("ring", "ring-score gain from t_mem", th.ring_gain_min, ">=", "t", above_null),
        Rule("bdm_drop", "relative K_BDM fall", th.bdm_drop_min, ">=", "t", beats_raw),
        Rule("bypass", "middle-third bypass margin", th.bypass_gap_min, ">=", "t", essential),
    ]
    return {r.key: r for r in rules}


RULES: dict[str, Rule] = rules_for(Thresholds())
