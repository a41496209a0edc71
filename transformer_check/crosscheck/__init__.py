"""The cross-check: theory, SFM and a trained transformer side by side, each prediction decided
(definitions §4.4; statistics and thresholds in docs/crosscheck.md).

``python -m transformer_check crosscheck`` runs, on defaults that finish in a few minutes on two
CPU cores: the theory's numbers for the task (theory/), the singular feature machine on the same
p, operation and train fraction (sfm/) with a sweep over its gate strength, and transformer training
with every measure plus a weight-decay sweep; then it decides the five predictions of §4.4 and
Zhang et al. (2026)'s three condensations, and writes ``crosscheck.json``, CSV series and the figure page
``crosscheck.png/.svg``.

Modules: :mod:`.config` (nested configs, presets as data), :mod:`.events`, :mod:`.verdicts` and
:mod:`.condensation` (pure statistics over Trajectories), :mod:`.rules` and :mod:`.pooled`
(pooling over seeds), :mod:`.run` (the legs and the writing), :mod:`.plots`, :mod:`.cli`.
"""

from __future__ import annotations

from transformer_check.crosscheck.cli import add_subparser
from transformer_check.crosscheck.condensation import (
    verdict_bdm_drop,
    verdict_bypass,
    verdict_ring,
)
from transformer_check.crosscheck.config import (
    PRESETS,
    CrosscheckConfig,
    ProgressSettings,
    SFMSettings,
    SGLDSettings,
    TrainSettings,
    make_config,
)
from transformer_check.crosscheck.events import (
    complexity_profile,
    crossing_time,
    rescaled_time,
    sfm_events,
    transformer_events,
)
from transformer_check.crosscheck.run import run_crosscheck
from transformer_check.crosscheck.verdicts import (
    CrosscheckData,
    Sweep,
    Sweeps,
    Thresholds,
    Verdict,
    decide_all,
    verdict_complexity,
    verdict_fourier,
    verdict_llc,
    verdict_regularisation,
    verdict_timing,
)

__all__ = [
    "CrosscheckConfig",
    "TrainSettings",
    "SGLDSettings",
    "ProgressSettings",
    "SFMSettings",
    "PRESETS",
    "make_config",
    "Thresholds",
    "Verdict",
    "Sweep",
    "Sweeps",
    "CrosscheckData",
    "rescaled_time",
    "crossing_time",
    "complexity_profile",
    "transformer_events",
    "sfm_events",
    "verdict_complexity",
    "verdict_fourier",
    "verdict_timing",
    "verdict_regularisation",
    "verdict_llc",
    "verdict_ring",
    "verdict_bdm_drop",
    "verdict_bypass",
    "decide_all",
    "run_crosscheck",
    "add_subparser",
]
