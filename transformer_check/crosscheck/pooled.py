"""Pooling one prediction's per-seed verdicts into one verdict with a 95% interval (docs/
statistics.md, "Pooled verdicts").

Each seed's crosscheck decides the eight predictions (:mod:`.verdicts`); this module pools them.
For each prediction, :data:`RULES` (or :func:`rules_for` other thresholds) states the decision
rule in machine form: a threshold on the main statistic ``Verdict.value``, the side that holds
(``>=``, ``<=`` or ``<``), which 95% interval is used for the mean over seeds and why, and, for the
three compound predictions, the side condition that must hold beside it. The pooled verdict is

* *holds* when the interval lies entirely on the holding side of the threshold (and the side
  condition held in every seed that evaluated it),
* *fails* when the interval lies entirely on the other side (or the side condition failed in
  every seed that evaluated it),
* *undecided* otherwise, and always when fewer than two seeds decided the statistic.

With one seed the pooled verdict is that seed's verdict, marked ``single_seed`` and never given an
interval. Pure functions of the verdicts: no training, no files.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from theory.base.errors import InputError
from transformer_check.crosscheck.rules import (
    LEVEL,
    RULES,
    IntervalKind,
    Rule,
    SideCondition,
    _num,
    rules_for,
)
from transformer_check.crosscheck.verdict_base import Verdict

__all__ = [
    "SideCondition",
    "Rule",
    "rules_for",
    "RULES",
    "PooledVerdict",
    "clopper_pearson",
    "mean_interval",
    "interval_verdict",
    "seeds_needed",
    "pool_key",
    "pool_verdicts",
]

# Percentile bootstrap over seeds: B resamples from a fixed generator, so a pooled verdict is a
# pure function of the per-seed values (docs/statistics.md, "Pooled verdicts").
BOOTSTRAP_RESAMPLES = 10_000
BOOTSTRAP_SEED = 20_240_613


def clopper_pearson(k: int, n: int, level: float = LEVEL) -> tuple[float, float]:
    """Exact (Clopper-Pearson 1934) interval of a binomial proportion ``k / n``: beta quantiles
    ``B(a/2; k, n-k+1)`` and ``B(1-a/2; k+1, n-k)``, with 0 and 1 at the ends."""
    if n < 1 or not 0 <= k <= n:
        raise InputError(f"clopper_pearson: need 0 <= k <= n and n >= 1, got k={k}, n={n}")
    a = 1.0 - level
    lo = 0.0 if k == 0 else float(stats.beta.ppf(a / 2, k, n - k + 1))
    hi = 1.0 if k == n else float(stats.beta.ppf(1 - a / 2, k + 1, n - k))
    return lo, hi


def _mean(v: np.ndarray) -> float:
    """The mean, exactly the common value when all are equal (a sum of equal floats divided by
    their number can miss it by an ulp, and the degenerate interval would then not contain it)."""
    return float(v[0]) if v[0] == v[-1] else float(v.mean())


def mean_interval(
    values: Sequence[float], kind: IntervalKind, level: float = LEVEL
) -> tuple[float, float]:
    """The ``level`` interval of the mean of K >= 2 finite values, by ``kind``:

    "t": ``mean +- t_{(1+level)/2, K-1} sd / sqrt(K)`` (Student 1908); "bootstrap": percentile
    bootstrap of the mean (Efron & Tibshirani 1993, §13.3), :data:`BOOTSTRAP_RESAMPLES` resamples
    from :data:`BOOTSTRAP_SEED`. The values are sorted first: the seeds' order changes nothing.
    """
    v = np.sort(np.asarray(values, float))
    if v.size < 2 or not np.isfinite(v).all():
        raise InputError(f"values: need at least 2 finite values for an interval, got {list(v)}")
    if v[0] == v[-1]:
        return float(v[0]), float(v[0])  # no spread: every resample, every t interval is the point
    if kind == "t":
        h = float(stats.t.ppf(0.5 + level / 2, v.size - 1)) * float(v.std(ddof=1))
        return _mean(v) - h / math.sqrt(v.size), _mean(v) + h / math.sqrt(v.size)
    if kind != "bootstrap":
        raise InputError(f"interval: must be 't' or 'bootstrap', got {kind!r}")
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    means = v[rng.integers(0, v.size, size=(BOOTSTRAP_RESAMPLES, v.size))].mean(axis=1)
    lo, hi = np.quantile(means, [0.5 - level / 2, 0.5 + level / 2])
    return float(lo), float(hi)


def interval_verdict(lo: float, hi: float, rule: Rule) -> bool | None:
    """True when ``[lo, hi]`` lies on the holding side of the threshold, False when it lies
    entirely on the other side, None when it straddles (docs/statistics.md)."""
    thr = rule.threshold
    if rule.side == ">=":
        return True if lo >= thr else False if hi < thr else None
    if rule.side == "<=":
        return True if hi <= thr else False if lo > thr else None
    return True if hi < thr else False if lo >= thr else None


def seeds_needed(values: Sequence[float | None], rule: Rule, cap: int = 10**9) -> int | None:
    """Smallest K with ``t_{0.975,K-1} sd / sqrt(K) < |mean - threshold|``: about how many seeds a
    t interval needs to lie on one side, if the seeds' mean and sd stay as measured.

    None when fewer than two finite values (sd unknown) or the mean is on the threshold. For the
    bootstrap statistics it is conservative (their interval is narrower at small K).
    """
    v = np.asarray([x for x in values if x is not None and math.isfinite(x)], float)
    if v.size < 2:
        return None
    gap = abs(float(v.mean()) - rule.threshold)
    if gap == 0:
        return None
    sd = float(v.std(ddof=1))

    def enough(k: int) -> bool:
        return float(stats.t.ppf(0.975, k - 1)) * sd / math.sqrt(k) < gap

    if enough(2):
        return 2
    hi = 4
    while not enough(hi):  # t_{0.975,K-1}/sqrt(K) falls monotonically: double, then bisect
        if hi >= cap:
            return None
        hi *= 2
    lo = hi // 2  # not enough at lo, enough at hi
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if enough(mid) else (mid, hi)
    return hi


_LABEL = {True: "holds", False: "fails", None: "undecided"}


@dataclass(frozen=True)
class PooledVerdict:
    """One prediction over K seeds: per-seed values and verdicts, the mean with its 95% interval,
    the fraction of seeds where it holds with its Clopper-Pearson 95% interval, and the pooled
    verdict (``holds``: True/False/None) by the rule ``rule``.

    ``ci`` is None with fewer than two decided seeds (and always when ``single_seed``);
    ``fraction_ci`` is None when ``single_seed``. ``side_*`` report the compound condition.
    """

    key: str
    prediction: str
    statistic: str
    rule: str
    interval: str
    interval_why: str
    seeds: tuple[int, ...]
    values: tuple[float | None, ...]
    seed_holds: tuple[bool | None, ...]
    n_seeds: int
    n_decided: int
    n_holds: int
    mean: float | None
    sd: float | None
    ci: tuple[float, float] | None
    fraction_holding: float
    fraction_ci: tuple[float, float] | None
    statistic_verdict: bool | None
    side_condition: str | None
    side_values: tuple[float | None, ...]
    side_ok: tuple[bool | None, ...]
    side_verdict: bool | None
    holds: bool | None
    single_seed: bool
    seeds_needed: int | None
    threshold: float
    side: str
    reason: str = ""

    @property
    def label(self) -> str:
        return _LABEL[self.holds]

    @property
    def n_undecided(self) -> int:
        return self.n_seeds - self.n_decided

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict (non-finite floats as "inf"/"-inf"/"nan", as theory.base.io writes)."""
        out = {f: _jsonable(getattr(self, f)) for f in self.__dataclass_fields__}
        return out | {"label": self.label}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> PooledVerdict:
        """Inverse of :meth:`to_dict` (extra keys such as ``label`` are ignored)."""
        missing = [f for f in cls.__dataclass_fields__ if f not in d and f != "reason"]
        if missing:
            raise InputError(f"pooled verdict: missing keys {missing}; write it with to_dict()")
        kw = {f: d[f] for f in cls.__dataclass_fields__ if f in d}
        for f in ("ci", "fraction_ci"):
            kw[f] = None if kw[f] is None else (float(kw[f][0]), float(kw[f][1]))
        for f in ("values", "side_values"):
            kw[f] = tuple(_num(x) for x in kw[f])
        for f in ("seeds", "seed_holds", "side_ok"):
            kw[f] = tuple(kw[f])
        for f in ("mean", "sd", "threshold"):
            kw[f] = _num(kw[f])
        return cls(**kw)


def _jsonable(x: Any) -> Any:
    if isinstance(x, tuple | list):
        return [_jsonable(e) for e in x]
    if isinstance(x, float) and not math.isfinite(x):
        return "nan" if math.isnan(x) else ("inf" if x > 0 else "-inf")
    return x


def _unanimous(oks: Sequence[bool | None]) -> bool | None:
    """The side condition over seeds: True if it held in every seed that evaluated it, False if it
    failed in every one, None if mixed or evaluated in fewer than two seeds."""
    seen = [o for o in oks if o is not None]
    if len(seen) < 2:
        return None
    return True if all(seen) else False if not any(seen) else None


def _and3(a: bool | None, b: bool | None) -> bool | None:
    """Three-valued AND: False wins, then None (undecided), then True."""
    if a is False or b is False:
        return False
    return None if a is None or b is None else True


def pool_key(
    verdicts: Sequence[Verdict], rule: Rule | None = None, seeds: Sequence[int] | None = None
) -> PooledVerdict:
    """Pool one prediction's per-seed verdicts (all of key ``rule.key``) by ``rule``.

    ``seeds`` labels them (default 0..K-1). Values that are None or not finite count as undecided
    seeds: they are reported, not averaged.
    """
    if not verdicts:
        raise InputError("verdicts: no seeds to pool; pass one Verdict per seed")
    keys = {v.key for v in verdicts}
    if len(keys) != 1:
        raise InputError(f"verdicts: pool one prediction at a time, got keys {sorted(keys)}")
    key = next(iter(keys))
    rule = rule or RULES.get(key)
    if rule is None or rule.key != key:
        raise InputError(f"verdicts: no rule for key {key!r}; known: {sorted(RULES)}")
    k = len(verdicts)
    seeds = tuple(range(k)) if seeds is None else tuple(int(s) for s in seeds)
    if len(seeds) != k or len(set(seeds)) != k:
        raise InputError(f"seeds: need {k} distinct labels, one per verdict, got {list(seeds)}")

    values = tuple(None if v.value is None else float(v.value) for v in verdicts)
    # sorted: mean, sd and interval are then exactly independent of the order of the seeds
    decided = sorted(x for x in values if x is not None and math.isfinite(x))
    sc = rule.side_condition
    side_values = tuple(sc.value(v) for v in verdicts) if sc else ()
    side_ok = tuple(sc.ok(v) for v in verdicts) if sc else ()
    n_holds = sum(v.holds is True for v in verdicts)
    base = {
        "key": key,
        "prediction": verdicts[0].prediction,
        "statistic": rule.statistic,
        "rule": rule.statement,
        "interval": rule.interval,
        "interval_why": rule.why,
        "seeds": seeds,
        "values": values,
        "seed_holds": tuple(v.holds for v in verdicts),
        "n_seeds": k,
        "n_decided": len(decided),
        "n_holds": n_holds,
        "mean": _mean(np.asarray(decided)) if decided else None,
        "sd": float(np.std(decided, ddof=1)) if len(decided) > 1 else None,
        "fraction_holding": n_holds / k,
        "side_condition": sc.text if sc else None,
        "side_values": side_values,
        "side_ok": side_ok,
        "seeds_needed": seeds_needed(decided, rule),
        "threshold": rule.threshold,
        "side": rule.side,
    }
    if k == 1:
        # Never an interval from one seed: report the seed's own verdict, marked as such.
        return PooledVerdict(
            **base,
            ci=None,
            fraction_ci=None,
            statistic_verdict=None,
            side_verdict=side_ok[0] if sc else None,
            holds=verdicts[0].holds,
            single_seed=True,
            reason="one seed: the seed's own verdict, no interval",
        )
    reasons = []
    if len(decided) < 2:
        ci, stat = None, None
        reasons.append(f"{len(decided)} of {k} seeds decided the statistic; an interval needs 2")
    else:
        ci = mean_interval(decided, rule.interval)
        stat = interval_verdict(ci[0], ci[1], rule)
        if stat is None:
            reasons.append(f"the interval straddles {rule.threshold:g}")
    side = _unanimous(side_ok) if sc else True
    if sc and side is None:
        reasons.append(f"'{sc.text}' is mixed or evaluated in fewer than 2 seeds")
    if len(decided) < k:
        reasons.append(f"{k - len(decided)} seed(s) undecided")
    return PooledVerdict(
        **base,
        ci=ci,
        fraction_ci=clopper_pearson(n_holds, k),
        statistic_verdict=stat,
        side_verdict=side if sc else None,
        holds=_and3(stat, side),
        single_seed=False,
        reason="; ".join(reasons),
    )


def pool_verdicts(
    per_seed: Sequence[Sequence[Verdict]],
    rules: Mapping[str, Rule] | None = None,
    seeds: Sequence[int] | None = None,
) -> list[PooledVerdict]:
    """Pool every prediction: ``per_seed[i]`` is seed i's list of verdicts (one per key of
    ``rules``, default :data:`RULES`). Returns one :class:`PooledVerdict` per key, in rule order."""
    rules = RULES if rules is None else rules
    if not per_seed:
        raise InputError("per_seed: no seeds to pool; pass each seed's list of verdicts")
    by_key: dict[str, list[Verdict]] = {key: [] for key in rules}
    for i, vs in enumerate(per_seed):
        got = [v.key for v in vs]
        if sorted(got) != sorted(rules):
            raise InputError(
                f"per_seed[{i}]: verdict keys {got} are not one each of {list(rules)}; pass "
                "every seed's complete list from decide_all"
            )
        for v in vs:
            by_key[v.key].append(v)
    return [pool_key(by_key[key], rules[key], seeds) for key in rules]
