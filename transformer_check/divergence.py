"""Training that diverges stops: the error it raises and the one line that says what to change."""

from __future__ import annotations

from pathlib import Path

from theory.base.errors import InputError
from transformer_check.config import TrainConfig
from transformer_check.run_state import NonFiniteLoss

__all__ = ["TrainingDiverged", "diverged_error"]


class TrainingDiverged(InputError):
    """The training loss became NaN or infinite at :attr:`step`; the run stopped there, its
    metrics so far written and its last finite checkpoint kept."""

    def __init__(self, message: str, step: int) -> None:
        super().__init__(message)
        self.step = step


def diverged_error(
    cfg: TrainConfig, exc: NonFiniteLoss, where: Path, saved_step: int | None, n_seeds: int
) -> TrainingDiverged:
    """The error for a run of ``cfg`` in ``where`` whose loss left the finite numbers."""
    knobs = [f"--lr (now {cfg.lr:g})"]
    for flag, v in (("--weight-noise", cfg.weight_noise), ("--spectral-reg", cfg.spectral_reg)):
        if v > 0:
            knobs.append(f"{flag} (now {v:g})")
    if cfg.model.init_scale is not None:
        knobs.append(f"--init-scale (now {cfg.model.init_scale:g})")
    seed = f" of seed {exc.seed}" if exc.seed is not None and n_seeds > 1 else ""
    kept = (
        f"the last finite checkpoint (step {saved_step}) is in checkpoints/last"
        if saved_step is not None
        else "no checkpoint was written"
    )
    return TrainingDiverged(
        f"train: training diverged: the training loss{seed} is NaN or infinite at step "
        f"{exc.step} of {cfg.steps}; lower {' or '.join(knobs)} and start a fresh run "
        f"(--overwrite); the metrics logged before it are in {where}, {kept}",
        exc.step,
    )
