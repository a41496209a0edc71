"""The one record a training history is read through: logged steps, named series and events.

Both the transformer's training run and the singular feature machine produce a
:class:`Trajectory`, and the crosscheck's verdicts read nothing else (docs/architecture.md).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from theory.base.errors import InputError

__all__ = ["Trajectory"]


@dataclass(frozen=True)
class Trajectory:
    """A training history: ``steps[T]``, series ``name -> [T]`` floats (NaN where not logged), events.

    ``events`` maps an event name (``t_mem``, ``t_gen``, ...) to the step it happened at, or
    ``None`` when it never did (definitions §1.8, §4.3).

    Attributes
    ----------
    steps : numpy.ndarray
        Logged steps, one-dimensional.
    series : Mapping of str to numpy.ndarray
        Each of the shape of ``steps``.
    events : Mapping of str to float or None
        Event steps.

    Raises
    ------
    InputError
        If ``steps`` is not one-dimensional or a series has another shape.

    Examples
    --------
    >>> from theory.base import Trajectory
    >>> t = Trajectory.from_rows(
    ...     [{"step": 0, "loss": 1.0}, {"step": 10, "loss": 0.5, "acc": 1.0}], events={"t_gen": 10}
    ... )
    >>> len(t), list(t), t["loss"].tolist(), t["acc"].tolist(), t.t_gen, t.t_mem
    (2, ['loss', 'acc'], [1.0, 0.5], [nan, 1.0], 10, None)
    >>> t["llc"]
    Traceback (most recent call last):
    ...
    theory.base.errors.InputError: trajectory: no series 'llc'; logged: loss, acc
    """

    steps: np.ndarray
    series: Mapping[str, np.ndarray]
    events: Mapping[str, float | None] = field(default_factory=dict)

    def __post_init__(self) -> None:
        steps = np.asarray(self.steps, dtype=float)
        if steps.ndim != 1:
            raise InputError(f"trajectory: steps must be one-dimensional, got shape {steps.shape}")
        series = {}
        for name, values in self.series.items():
            arr = np.asarray(values, dtype=float)
            if arr.shape != steps.shape:
                raise InputError(
                    f"trajectory: series {name!r} has shape {arr.shape}, steps {steps.shape}"
                )
            series[name] = arr
        object.__setattr__(self, "steps", steps)
        object.__setattr__(self, "series", series)
        object.__setattr__(self, "events", dict(self.events))

    def __contains__(self, name: object) -> bool:
        return name in self.series

    def __getitem__(self, name: str) -> np.ndarray:
        try:
            return self.series[name]
        except KeyError:
            raise InputError(
                f"trajectory: no series {name!r}; logged: {', '.join(self.series)}"
            ) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self.series)

    def __len__(self) -> int:
        return len(self.steps)

    def get(self, name: str, default: np.ndarray | None = None) -> np.ndarray | None:
        """The series ``name``, or ``default`` when it was not logged."""
        return self.series.get(name, default)

    def series_or_nan(self, name: str) -> np.ndarray:
        """The series ``name``, or all-NaN when it was not logged (a verdict then says why)."""
        return self.series.get(name, np.full_like(self.steps, np.nan))

    @property
    def t_mem(self) -> float | None:
        return self.events.get("t_mem")

    @property
    def t_gen(self) -> float | None:
        return self.events.get("t_gen")

    @classmethod
    def from_rows(
        cls,
        rows: Sequence[Mapping[str, Any]],
        events: Mapping[str, float | None] | None = None,
        step_key: str = "step",
    ) -> Trajectory:
        """Rows of a metrics log (one dict per logged step) as aligned arrays.

        Keys whose values are all numbers (or missing) become series, NaN where a row lacks them;
        text columns are left out.
        """
        keys: dict[str, None] = {}
        for r in rows:
            keys.update(dict.fromkeys(r))
        series: dict[str, np.ndarray] = {}
        for k in keys:
            if k == step_key:
                continue
            vals = [r.get(k) for r in rows]
            if all(v is None or isinstance(v, int | float) for v in vals):
                series[k] = np.array([np.nan if v is None else float(v) for v in vals])
        steps = np.array([float(r[step_key]) for r in rows])
        return cls(steps, series, dict(events or {}))

    def to_rows(self) -> list[dict[str, float]]:
        """One dict per logged step (``step`` first), the inverse of :meth:`from_rows`."""
        names = list(self.series)
        return [
            {"step": float(s), **{n: float(self.series[n][i]) for n in names}}
            for i, s in enumerate(self.steps)
        ]
