"""Claims: the theory's statements as executable properties, searched by Hypothesis (docs/claims.md).

A :class:`Claim` names one statement, the domain it ranges over (a Hypothesis strategy that
generates one valid case) and a ``check`` that raises :class:`ClaimFailed` when a case breaks it.
:func:`check_claim` runs the search within a :class:`Budget` and, on failure, reports the *shrunk*
minimal counterexample with the values that broke it. Catalogues are found through the
``occam.claims`` entry-point group (:func:`discover_claims`), so this module never imports a leg:
the layer rule "theory imports no other leg" holds (docs/architecture.md).
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import hypothesis
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis.database import DirectoryBasedExampleDatabase
from hypothesis.errors import Unsatisfiable
from hypothesis.strategies import SearchStrategy

__all__ = [
    "Budget",
    "Claim",
    "ClaimFailed",
    "ClaimResult",
    "claim",
    "check_claim",
    "discover_claims",
    "plot_results",
    "ENTRY_POINT_GROUP",
    "IDENTITY",
    "LAW",
]

ENTRY_POINT_GROUP = "occam.claims"
IDENTITY = "identity"  # must never fail: a counterexample is a bug
LAW = "law"  # an empirical statement: a counterexample is a result
_KINDS = (IDENTITY, LAW)


@dataclass(frozen=True)
class Budget:
    """How hard to search: at most ``examples`` generated cases and about ``seconds`` of generation.

    Shrinking a counterexample gets up to ``seconds`` more (then the smallest failure so far stands).
    """

    examples: int = 50
    seconds: float = 60.0

    def __post_init__(self) -> None:
        if not (isinstance(self.examples, int) and self.examples >= 1):
            raise ValueError(f"examples: must be an integer >= 1, got {self.examples!r}")
        if not (math.isfinite(self.seconds) and self.seconds > 0):
            raise ValueError(f"seconds: must be finite and > 0, got {self.seconds!r}")


class ClaimFailed(AssertionError):
    """A case broke a claim: ``message`` says how, ``values`` holds the numbers that show it."""

    def __init__(self, message: str, values: Mapping[str, Any]):
        super().__init__(message)
        self.message = message
        self.values = dict(values)


@dataclass(frozen=True)
class Claim:
    """One named, documented property (see the module docstring and docs/claims.md)."""

    name: str  # e.g. "sfm.stronger_gate_groks_earlier"
    statement: str  # exactly what it asserts, one or two sentences
    domain: str  # over which inputs, in words
    kind: str  # "identity" (must never fail) or "law" (may fail: the counterexample is the result)
    strategy: SearchStrategy  # generates ONE case (a value passed to check)
    check: Callable[[Any], Mapping[str, Any] | None]
    replay: Callable[[Any], str] | None = None  # one-line command reproducing a case
    budget: Budget = Budget()
    source: str = ""  # paper section / definitions § the claim comes from
    axes: tuple[str, str] | None = None  # two keys of the values to plot cases on (the figure)

    def __post_init__(self) -> None:
        if self.kind not in _KINDS:
            raise ValueError(f"kind: must be one of {_KINDS}, got {self.kind!r}")
        if not self.name:
            raise ValueError("name: a claim needs a name")


def claim(
    *,
    domain: SearchStrategy,
    name: str | None = None,
    statement: str | None = None,
    description: str = "",
    kind: str = LAW,
    budget: Budget = Budget(),
    replay: Callable[[Any], str] | None = None,
    source: str = "",
    axes: tuple[str, str] | None = None,
) -> Callable[[Callable], Claim]:
    """Decorator turning ``f(case)`` into a :class:`Claim` over the cases ``domain`` generates.

    ``f`` raises :class:`ClaimFailed` (or fails an ``assert``) when a case breaks the claim and may
    return a mapping of the values it computed. Its docstring is the statement unless
    ``statement`` is given; ``description`` describes the domain in words (default: the
    strategy's repr).
    """

    def wrap(f: Callable) -> Claim:
        text = statement or (f.__doc__ or "").strip() or f.__name__
        return Claim(
            name=name or f"{f.__module__}.{f.__name__}",
            statement=" ".join(text.split()),
            domain=description or repr(domain),
            kind=kind,
            strategy=domain,
            check=f,
            replay=replay,
            budget=budget,
            source=source,
            axes=axes,
        )

    return wrap


@dataclass
class ClaimResult:
    """What :func:`check_claim` found: held on ``n_cases`` cases, or the shrunk counterexample."""

    name: str
    kind: str
    held: bool
    n_cases: int
    seconds: float
    counterexample: Any | None
    values: Mapping[str, Any] | None
    message: str | None
    replay: str | None
    cases: list[dict] = field(default_factory=list)  # {"case", "values", "held"} per generated case

    @property
    def is_bug(self) -> bool:
        """An identity that failed: the code (or the formula it encodes) is wrong."""
        return self.kind == IDENTITY and not self.held

    def summary(self) -> str:
        """One line: ``held on N generated cases`` or ``FALSIFIED: <message>``."""
        if self.held:
            return f"held on {self.n_cases} generated cases ({self.seconds:.1f} s)"
        return f"FALSIFIED: {self.message}"


def _run_check(c: Claim, case: Any) -> Mapping[str, Any] | None:
    out = c.check(case)
    return dict(out) if isinstance(out, Mapping) else None


def _failure_values(exc: BaseException) -> tuple[str, dict]:
    if isinstance(exc, ClaimFailed):
        return exc.message, exc.values
    msg = str(exc) or type(exc).__name__
    return (msg if isinstance(exc, AssertionError) else f"{type(exc).__name__}: {msg}"), {}


def check_claim(
    c: Claim,
    budget: Budget | None = None,
    database: Path | None = None,
    seed: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> ClaimResult:
    """Search for a counterexample to ``c`` within ``budget`` (default: the claim's own).

    ``database``: a folder for Hypothesis's example database, so a falsification found once is
    replayed first (and exactly) next time. ``seed`` makes the generation reproducible.
    ``progress(n)`` is called after each generated case. Any exception in ``check`` counts as a
    failure (an identity that raises is a bug too).
    """
    budget = budget or c.budget
    cases: list[dict] = []
    failing: dict[str, Any] = {}  # repr(case) -> case, every case seen to fail
    last_failure: list[Any] = []
    t0 = time.monotonic()
    state = {"failed_at": None}

    def property_(case: Any) -> None:
        key = repr(case)
        now = time.monotonic() - t0
        if key not in failing:
            # Hypothesis cannot be told to stop, so once the time is spent every new case is
            # rejected: generation ends quickly, and a shrink in progress keeps its best so far.
            # A case already seen failing is never rejected, so the final replay stays reliable.
            if state["failed_at"] is None and now > budget.seconds:
                hypothesis.reject()
            if state["failed_at"] is not None and now - state["failed_at"] > budget.seconds:
                hypothesis.reject()
        try:
            values = _run_check(c, case)
        except BaseException as exc:
            if isinstance(exc, KeyboardInterrupt | SystemExit):
                raise
            if state["failed_at"] is None:
                state["failed_at"] = now
            failing[key] = case
            last_failure[:] = [case]
            if key not in {r["key"] for r in cases}:
                msg, vals = _failure_values(exc)
                cases.append({"key": key, "case": case, "values": vals, "held": False})
            raise
        if state["failed_at"] is None:  # cases tried while shrinking are not generated cases
            cases.append({"key": key, "case": case, "values": values or {}, "held": True})
            if progress is not None:
                progress(len(cases))

    # Distinguish the claims in the shared database: the wrapped function is the same for all.
    property_._hypothesis_internal_add_digest = c.name.encode()  # type: ignore[attr-defined]
    test = given(c.strategy)(property_)
    test = hsettings(
        max_examples=budget.examples,
        deadline=None,
        database=DirectoryBasedExampleDatabase(str(database)) if database is not None else None,
        suppress_health_check=list(HealthCheck),
        report_multiple_bugs=False,
        print_blob=False,
        derandomize=False,
    )(test)
    if seed is not None:
        test = hypothesis.seed(seed)(test)

    held, message, values, counterexample = True, None, None, None
    try:
        test()
    except Unsatisfiable:
        pass  # no case finished within the time: held on 0 cases, said as such below
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt | SystemExit):
            raise
        held = False
        if not last_failure:  # the domain itself broke (e.g. an invalid strategy): no case ran
            message = f"could not generate a case: {type(exc).__name__}: {exc}".splitlines()[0]
            values = {}
        else:
            counterexample = last_failure[0]  # Hypothesis replays the shrunk minimum last
            try:  # re-run the minimal example for its values and message
                _run_check(c, counterexample)
                message, values = "the shrunk case passed when re-run (a flaky check)", {}
            except BaseException as again:  # noqa: BLE001
                message, values = _failure_values(again)
    seconds = time.monotonic() - t0
    n_held = sum(1 for r in cases if r["held"])
    if held and n_held == 0:
        message = f"no case finished within {budget.seconds:g} s"
    for r in cases:
        r.pop("key", None)
    return ClaimResult(
        name=c.name,
        kind=c.kind,
        held=held,
        n_cases=n_held + (1 if (not held and last_failure) else 0),
        seconds=seconds,
        counterexample=counterexample,
        values=values,
        message=message,
        replay=c.replay(counterexample) if (c.replay and last_failure and not held) else None,
        cases=cases,
    )


def discover_claims(errors: list[str] | None = None) -> list[Claim]:
    """Every claim registered in the ``occam.claims`` entry-point group (theory's, sfm's, a user's).

    A catalogue that fails to load is reported as one line (appended to ``errors`` if given, else
    written to stderr) and skipped; the others still load. Entry points, not imports, reach the
    legs' catalogues, so theory imports no other leg.
    """
    found: list[Claim] = []
    seen: set[str] = set()
    for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        try:
            catalogue = ep.load()
            items = list(catalogue)
            bad = [x for x in items if not isinstance(x, Claim)]
            if bad:
                raise TypeError(f"{len(bad)} entries are not Claim objects")
        except Exception as exc:  # noqa: BLE001 - a plugin may fail any way: report it, load the rest
            line = (
                f"claims catalogue {ep.name!r} ({ep.value}) not loaded: {type(exc).__name__}: {exc}"
            )
            line = " ".join(line.split())
            if errors is not None:
                errors.append(line)
            else:
                sys.stderr.write(line + "\n")
            continue
        for c in items:
            if c.name not in seen:
                seen.add(c.name)
                found.append(c)
    return found


def _axes_for(c: Claim | None, rows: list[dict]) -> tuple[str | None, str | None]:
    if c is not None and c.axes is not None:
        return c.axes
    numeric = []
    for r in rows:
        for k, v in (r.get("values") or {}).items():
            if isinstance(v, int | float) and not isinstance(v, bool) and k not in numeric:
                numeric.append(k)
    return (numeric[0] if numeric else None, numeric[1] if len(numeric) > 1 else None)


def plot_results(results: list[ClaimResult], claims: Mapping[str, Claim] | None = None) -> Any:
    """One panel per claim: its generated cases on two of their values (the claim's ``axes``, else
    the first two numeric ones; the case index if there is one), counterexamples as red crosses."""
    import matplotlib.pyplot as plt

    claims = claims or {}
    n = max(len(results), 1)
    cols = min(n, 3)
    rows_n = math.ceil(n / cols)
    fig, axs = plt.subplots(rows_n, cols, figsize=(4.2 * cols, 3.4 * rows_n), squeeze=False)
    for ax in axs.flat[len(results) :]:
        ax.set_visible(False)
    for ax, res in zip(axs.flat, results, strict=False):
        xk, yk = _axes_for(claims.get(res.name), res.cases)
        for held, style in (
            (True, {"marker": ".", "color": "tab:blue", "alpha": 0.6}),
            (False, {"marker": "x", "color": "red", "s": 80}),
        ):
            pts = [(i, r) for i, r in enumerate(res.cases) if r["held"] == held]
            if not pts:
                continue

            def val(i: int, r: dict, k: str | None) -> float:
                v = (r.get("values") or {}).get(k) if k else None
                return float(v) if isinstance(v, int | float) else float("nan")

            xs = [val(i, r, xk) if xk else i for i, r in pts]
            ys = [val(i, r, yk) if yk else (val(i, r, xk) if xk and not yk else i) for i, r in pts]
            if xk and not yk:
                xs = [i for i, _ in pts]
            ax.scatter(xs, ys, label="held" if held else "counterexample", **style)
        ax.set_xlabel(xk if (xk and yk) else "case")
        ax.set_ylabel(yk if yk else (xk or "case"))
        outcome = f"held on {res.n_cases}" if res.held else "FALSIFIED"
        ax.set_title(f"{res.name}\n{res.kind}: {outcome}", fontsize=8)
        ax.tick_params(labelsize=7)
    fig.tight_layout()
    return fig
