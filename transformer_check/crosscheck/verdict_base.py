"""What every verdict of the crosscheck is made of: its :class:`Thresholds` and the
:class:`Verdict` record (definitions §4.4; docs/crosscheck.md gives each threshold's reason).

Kept apart from the verdicts themselves so that the five definitions §4.4 verdicts (:mod:`.verdicts`)
and Zhang et al. (2026)'s condensation verdicts (:mod:`.condensation`) share them without a cycle.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from theory.base.errors import check_finite, check_range

__all__ = ["Thresholds", "Verdict"]


@dataclass(frozen=True)
class Thresholds:
    """Decision thresholds of the eight predictions (docs/crosscheck.md gives the reasons).

    ``rho_min``: Spearman rank correlation of a complexity measure with the test loss after t_mem;
    ``rise_min``/``fall_min``: rise from init to the memorised peak and fall from it to the end, as
    fractions of the measure's range; ``conc_min``: growth factor of the embedding's Fourier IPR
    from t_mem to the end; ``support_tol``: allowed factor between the SFM's final support ratio
    and the theory's p/p^2; ``gap_max``: largest allowed difference in rescaled time between
    matched events; ``llc_drop_min``: relative fall of the LLC from its memorised peak to the end.

    Zhang et al. (2026)'s condensations (docs/crosscheck.md, "Zhang et al. (2026)'s condensations"):
    ``ring_gain_min``: least rise of the embedding's ring score from t_mem to t_gen and after;
    ``bdm_drop_min``: least relative fall of K_BDM from its memorisation plateau to the end;
    ``bypass_gap_min``: least margin (in test accuracy) by which skipping the middle third costs
    less than skipping the cheaper of the first and last thirds, after generalisation;
    ``bypass_mem_min``: least train-accuracy cost of skipping any third at memorisation.
    """

    rho_min: float = 0.5
    rise_min: float = 0.05
    fall_min: float = 0.2
    conc_min: float = 1.5
    support_tol: float = 2.0
    gap_max: float = 0.5
    llc_drop_min: float = 0.2
    ring_gain_min: float = 0.2
    bdm_drop_min: float = 0.1
    bypass_gap_min: float = 0.3
    bypass_mem_min: float = 0.3

    def __post_init__(self) -> None:
        check_range("rho_min", self.rho_min, -1.0, 1.0)
        for name in ("rise_min", "fall_min", "llc_drop_min", "bdm_drop_min"):
            check_finite(name, getattr(self, name))
        check_range("conc_min", self.conc_min, 0.0, None, lo_open=True)
        check_range("support_tol", self.support_tol, 1.0, None)
        check_range("gap_max", self.gap_max, 0.0, None)
        # scores and accuracies live in [0, 1], so do their gains and costs
        for name in ("ring_gain_min", "bypass_gap_min", "bypass_mem_min"):
            check_range(name, getattr(self, name), -1.0, 1.0)


@dataclass
class Verdict:
    """One prediction, the statistic that decides it, its value, the threshold and the verdict.

    ``holds`` is ``None`` when the data cannot decide (an event never occurred): never a guess.
    """

    key: str
    prediction: str
    statistic: str
    value: float | None
    threshold: str
    holds: bool | None
    details: dict[str, Any] = field(default_factory=dict)
    reason: str = ""

    @property
    def label(self) -> str:
        return {True: "holds", False: "fails", None: "undecided"}[self.holds]
