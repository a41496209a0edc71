"""sfm: the singular feature machine of Zhang et al. (2026) as a fast batched simulator (definitions §1)."""

from theory.base.version import __version__

from .basis import FourierBasis, LogBasis, make_basis, primitive_root
from .dynamics import RunResult, SFMConfig, simulate, simulate_one
from .observables import Curves, Events
from .schedules import SCHEDULE_DEFAULTS, SCHEDULES
from .task import Task, exact_interpolant, interpolant_support, make_task

__all__ = [
    "__version__",
    "FourierBasis",
    "LogBasis",
    "make_basis",
    "primitive_root",
    "RunResult",
    "SFMConfig",
    "simulate",
    "simulate_one",
    "Curves",
    "Events",
    "SCHEDULES",
    "SCHEDULE_DEFAULTS",
    "Task",
    "exact_interpolant",
    "interpolant_support",
    "make_task",
]
