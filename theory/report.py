"""The theory report: every closed-form result of definitions §2 for one modulus, as files (definitions §5)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import mpmath
import numpy as np
import sympy

from theory.base.errors import check_odd_prime, check_positive, check_range
from theory.base.io import save_figure, write_csv, write_json
from theory.base.provenance import run_metadata
from theory.bound import generalisation_bound
from theory.crossover import (
    DPS,
    Crossover,
    crossover_record,
    lambert_roots_mpmath,
    lambert_roots_scipy,
    lambert_roots_sympy,
    paper004_crossover,
    symbolic_roots,
)
from theory.diagram import crossover_grid, plot_crossover_grid
from theory.energy import free_energy_gap
from theory.gates import occam_gate_threshold
from theory.kolmogorov import enumerative_code_bits, paper004_code_bits
from theory.rlct import lambda_gen, lambda_mem, rrr_rlct

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["ReportConfig", "solver_agreement", "crossover_summary", "write_report"]

RRR_CASES = [
    (1, 1, 1, 0),
    (3, 3, 3, 3),
    (5, 3, 3, 3),
    (3, 5, 3, 3),
    (4, 3, 2, 1),
    (10, 10, 5, 2),
    (2, 2, 10, 1),
]


@dataclass(frozen=True)
class ReportConfig:
    """Inputs of ``python -m theory report`` (defaults: the paper's p = 97).

    Attributes
    ----------
    p : int
        Odd prime modulus.
    beta : float
        Strength of the l0 prior, ``> 0``.
    eps_gen : float
        Excess loss of the generalising phase, ``> 0``.
    frac : float
        Train fraction, in ``(0, 1]``.
    eta : float
        Drift step of the ``prox`` gate, in ``(0, 2)``.
    bits : int
        Bits per real parameter of the code lengths.
    delta : float
        Failure probability of the generalisation bound.

    Raises
    ------
    InputError
        From ``__post_init__``, naming the first field out of range.

    Examples
    --------
    >>> from theory import ReportConfig
    >>> ReportConfig().p, ReportConfig(p=13).beta
    (97, 0.5)
    >>> ReportConfig(p=9)
    Traceback (most recent call last):
    ...
    theory.base.errors.InputError: p: must be an odd prime, got 9; try 7
    """

    p: int = 97
    beta: float = 0.5
    eps_gen: float = 1e-2
    frac: float = 0.3
    eta: float = 1.0
    bits: int = 32
    delta: float = 0.05

    def __post_init__(self) -> None:
        """Check every field; raises :class:`InputError`."""
        check_odd_prime("p", self.p)
        check_positive("beta", self.beta)
        check_positive("eps_gen", self.eps_gen)
        check_range("frac", self.frac, 0.0, 1.0, lo_open=True)
        check_range("eta", self.eta, 0.0, 2.0, lo_open=True, hi_open=True)


def solver_agreement(a: float | mpmath.mpf | str, dps: int = DPS) -> dict:
    """The two roots of ``n = a ln n`` from sympy, scipy and mpmath, and their relative differences.

    ``a`` may be an mpf beyond float64's range; a scipy root that overflows float64 is reported
    as ``None`` with ``scipy_note`` saying so (the mpmath and sympy roots are exact there).

    Parameters
    ----------
    a : float or mpmath.mpf or str
        ``dlambda / dloss``, ``>= e``.
    dps : int, default DPS
        Significant digits of the mpmath and sympy solves.

    Returns
    -------
    dict
        ``{"a", "dps", "roots": {"n_0": {...}, "n_-1": {...}}}``, each root with the three
        values, ``log10``, the relative differences to mpmath and mpmath's residual.

    References
    ----------
    Corless et al. (1996); definitions §2.1.

    Examples
    --------
    >>> from theory.report import solver_agreement
    >>> s = solver_agreement(10.0, dps=30)
    >>> r = s["roots"]["n_-1"]
    >>> r["mpmath"][:12], r["rel_diff_scipy_vs_mpmath"] < 1e-15, r["rel_diff_sympy_vs_mpmath"] < 1e-25
    ('35.771520639', True, True)
    """
    with mpmath.workdps(dps + 10):
        a_mp = mpmath.mpf(a)
    a_float = float(a_mp)
    sc = lambert_roots_scipy(a_float) if math.isfinite(a_float) else (math.inf, math.inf)
    mp = lambert_roots_mpmath(a_mp, dps)
    sy = lambert_roots_sympy(a_mp, dps)
    out = {"a": a_float if math.isfinite(a_float) else mpmath.nstr(a_mp, dps), "dps": dps}
    out["roots"] = {}
    with mpmath.workdps(dps):
        for i, name in enumerate(("n_0", "n_-1")):
            ref = mp[i]
            sym = mpmath.mpf(sympy.Float(sy[i], dps)._mpf_)
            fits = math.isfinite(sc[i])
            out["roots"][name] = {
                "scipy": sc[i] if fits else None,
                "mpmath": mpmath.nstr(ref, dps, strip_zeros=False),
                "log10": float(mpmath.log10(ref)),
                "sympy": mpmath.nstr(sym, dps, strip_zeros=False),
                "rel_diff_scipy_vs_mpmath": float(abs(sc[i] - ref) / ref) if fits else None,
                "rel_diff_sympy_vs_mpmath": float(abs(sym - ref) / ref),
                "residual_mpmath": float(abs(ref - a_mp * mpmath.log(ref)) / ref),
            }
            if not fits:
                out["roots"][name]["scipy_note"] = "beyond float64 (1.8e308): see mpmath"
    return out


def crossover_summary(p: int, beta: float, eps_gen: float) -> dict:
    """Symbolic solution, the roots and the phase that wins on each interval (definitions §2.1).

    Numbers beyond float64 (``a``, ``dlambda``, ``n_star``, interval edges) are exact decimal
    strings; ``n_star_exact`` always holds n* to 50 digits with its ``log10``.

    Parameters
    ----------
    p : int
        Odd prime modulus.
    beta : float
        Strength of the l0 prior.
    eps_gen : float
        Excess loss of the generalising phase.

    Returns
    -------
    dict
        The ``crossover`` block of ``report.json``; :func:`format_crossover` prints it.

    References
    ----------
    Zhang et al. (2026), Sec. 5; definitions §2.1.

    Examples
    --------
    >>> from theory.report import crossover_summary
    >>> c = crossover_summary(97, 0.5, 0.01)
    >>> round(c["n_star"], 3), c["equation"], [iv["winner"][0] for iv in c["intervals"]]
    (7361993.301, 'Eq(Delta_L*n, Delta_lambda*log(n))', ['A', 'B', 'A'])
    """
    res = paper004_crossover(beta, p, eps_gen)
    sym = symbolic_roots()
    cross: Crossover = res.crossover
    rec = crossover_record(cross)
    summary = {
        "p": p,
        "beta": beta,
        "eps_gen": eps_gen,
        "dlambda": rec["dlambda"],
        "dloss": cross.dloss,
        "a": rec["a"],
        "equation": sympy.sstr(sym["equation"]),
        "symbolic": {"n_0": sympy.sstr(sym["n_0"]), "n_-1": sympy.sstr(sym["n_-1"])},
        "latex": {"n_0": sympy.latex(sym["n_0"]), "n_-1": sympy.latex(sym["n_-1"])},
        "has_crossing": cross.has_crossing,
        "n0": rec["n0"],
        "n_star": rec["n_minus1"],
        "n_star_exact": res.n_star_exact,
        "exact": cross.exact,
        "intervals": [{"from": lo, "to": hi, "winner": w} for lo, hi, w in rec["intervals"]],
        "meaning": res.meaning,
    }
    if cross.has_crossing:
        a_exact = cross.exact["a"]["decimal"]
        a = a_exact if mpmath.mpf(a_exact) >= mpmath.e else cross.a
        summary["solvers"] = solver_agreement(a)
    return summary


def _num(x: float | str, spec: str) -> str:
    """Format a number of a summary: a float with ``spec``, an exact decimal string as it is."""
    return x if isinstance(x, str) else format(x, spec)


def _rel(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.1e}"


def format_crossover(summary: dict) -> str:
    """Human-readable text of :func:`crossover_summary`."""
    lines = [
        f"Free-energy crossover, Zhang et al. (2026) (p = {summary['p']}, beta = {summary['beta']:g}, "
        f"eps_gen = {summary['eps_gen']:g})",
        f"  solve  {summary['equation']}   with dlambda = beta (p^2 - p) = {_num(summary['dlambda'], 'g')}, "
        f"dL = eps_gen",
        f"  n_0  = {summary['symbolic']['n_0']}",
        f"  n_-1 = {summary['symbolic']['n_-1']}",
        f"  a = dlambda / dL = {_num(summary['a'], '.10g')}",
    ]
    if summary["has_crossing"]:
        roots = summary["solvers"]["roots"]
        for name in ("n_0", "n_-1"):
            r = roots[name]
            scipy_s = "overflows float64" if r["scipy"] is None else f"{r['scipy']:.17g}"
            lines.append(
                f"  {name:5s} = {r['mpmath']}  (log10 {r['log10']:.6f}; mpmath, 50 digits; "
                f"scipy {scipy_s}, rel. diff {_rel(r['rel_diff_scipy_vs_mpmath'])}; sympy rel. "
                f"diff {_rel(r['rel_diff_sympy_vs_mpmath'])})"
            )
    lines.append("  winning phase:")
    for iv in summary["intervals"]:
        lines.append(
            f"    n in ({_num(iv['from'], '.10g')}, {_num(iv['to'], '.10g')}):  {iv['winner']}"
        )
    lines.append(f"  {summary['meaning']}")
    return "\n".join(lines)


def _free_energy_figure(summary: dict) -> Figure:
    import matplotlib.pyplot as plt

    n_star = summary["n_star"]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    if isinstance(summary["dlambda"], str) or isinstance(n_star, str) or (n_star or 0) > 1e300:
        # The gap is a float64 curve; beyond its range only the exact n* can be stated.
        ex = summary["n_star_exact"]
        where = f"n* = {ex['decimal'][:14]}... (log10 n* = {ex['log10']:.4f})" if ex else ""
        ax.axis("off")
        ax.text(
            0.5,
            0.5,
            f"{where}\nbeyond float64: the gap is not drawn",
            ha="center",
            va="center",
        )
        return fig
    n_hi = n_star * 30 if n_star else 1e9
    n = np.geomspace(1.0 + 1e-9, n_hi, 600)
    gap = free_energy_gap(n, summary["dloss"], summary["dlambda"])
    ax.plot(n, gap, color="k", lw=1.5, label=r"$F_B - F_A = n\,\Delta L - \Delta\lambda \ln n$")
    ax.axhline(0, color="grey", lw=0.8)
    ax.fill_between(
        n, gap, 0, where=gap < 0, color="tab:green", alpha=0.25, label="simple phase B wins"
    )
    ax.fill_between(
        n, gap, 0, where=gap > 0, color="tab:red", alpha=0.2, label="accurate phase A wins"
    )
    if summary["n_star"]:
        ax.axvline(summary["n_star"], color="tab:red", ls="--", lw=1)
        ax.annotate(
            rf"$n^*=n_{{-1}}\approx{summary['n_star']:.3g}$",
            (summary["n_star"], 0),
            xytext=(6, 12),
            textcoords="offset points",
            color="tab:red",
        )
    ax.set_xscale("log")
    ax.set_yscale("symlog", linthresh=1.0)
    ax.set_xlabel("number of samples $n$")
    ax.set_ylabel("free-energy gap (nats)")
    ax.set_title(
        rf"Occam crossover, $p={summary['p']}$, $\beta={summary['beta']:g}$, "
        rf"$\epsilon_{{gen}}={summary['eps_gen']:g}$"
    )
    ax.legend(loc="upper left", fontsize=8)
    return fig


def _complexity_rows(p: int, bits: int) -> list[dict]:
    sizes = np.unique(np.round(np.geomspace(1, p * p, 60)).astype(int))
    sizes = np.union1d(sizes, [p, p * p])
    return [
        {
            "support": int(s),
            "lambda": s / 2,
            "K_enumerative_bits": enumerative_code_bits(p, int(s), bits),
            "K_paper004_bits": paper004_code_bits(s / 2, p, bits),
        }
        for s in sizes
    ]


def _complexity_figure(rows: list[dict], p: int, bits: int) -> Figure:
    import matplotlib.pyplot as plt

    s = np.array([r["support"] for r in rows])
    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax.plot(s, [r["K_enumerative_bits"] for r in rows], label="enumerative code (definitions §2.4)")
    ax.plot(
        s,
        [r["K_paper004_bits"] for r in rows],
        "--",
        label=r"Zhang et al. (2026): $\lambda(2\log_2 p + 2b)$",
    )
    for x, name in ((p, r"$|S|=p$ (generalising)"), (p * p, r"$|S|=p^2$ (memorising)")):
        ax.axvline(x, color="grey", lw=0.8, ls=":")
        ax.annotate(name, (x, ax.get_ylim()[0]), rotation=90, va="bottom", ha="right", fontsize=8)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("support size $|S|$")
    ax.set_ylabel("description length (bits)")
    ax.set_title(f"Kolmogorov proxies of a Hermitian SFM weight matrix, p = {p}, b = {bits}")
    ax.legend(fontsize=8)
    return fig


def write_report(cfg: ReportConfig, out: Path) -> dict:
    """Write ``report.json``, the CSVs and the figures for ``cfg`` into ``out``.

    Every closed-form result of definitions §2 for one modulus: the crossover with three solvers'
    agreement (§2.1), the RLCTs (§1.4, §2.2), the Occam gate (§1.7), the code lengths (§2.4) and
    the generalisation bound (§2.5). Files are written atomically (definitions §5).

    Parameters
    ----------
    cfg : ReportConfig
        The inputs.
    out : pathlib.Path
        Output folder (created if missing).

    Returns
    -------
    dict
        The content of ``report.json``; ``report["files"]`` lists what was written.

    References
    ----------
    Zhang et al. (2026); DeMoss et al. (2024); Aoyagi & Watanabe (2005); definitions §2.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from theory import ReportConfig, write_report
    >>> out = Path(tempfile.mkdtemp())
    >>> rep = write_report(ReportConfig(p=13), out)
    >>> rep["rlct"], rep["occam_gate"]["n_train"]
    ({'lambda_mem': 84.5, 'lambda_gen': 6.5}, 51)
    >>> rep["files"]
    ['complexity_vs_support.csv', 'complexity_vs_support.png', 'complexity_vs_support.svg', 'crossover_diagram.png', 'crossover_diagram.svg', 'crossover_grid.csv', 'free_energy_gap.png', 'free_energy_gap.svg', 'rrr_rlct.csv', 'report.json']
    >>> (out / "report.json").is_file()
    True
    >>> import shutil
    >>> shutil.rmtree(out)
    """
    out = Path(out)
    p = cfg.p
    n_train = max(1, round(cfg.frac * p * p))
    cross = crossover_summary(p, cfg.beta, cfg.eps_gen)
    k_mem = enumerative_code_bits(p, p * p, cfg.bits)
    k_gen = enumerative_code_bits(p, p, cfg.bits)
    bound_gen = generalisation_bound(0.0, k_gen, n_train, cfg.delta, unit="bits")
    bound_mem = generalisation_bound(0.0, k_mem, n_train, cfg.delta, unit="bits")
    report = {
        "metadata": run_metadata("theory report", asdict(cfg)),
        "crossover": cross,
        "rlct": {"lambda_mem": lambda_mem(p), "lambda_gen": lambda_gen(p)},
        "occam_gate": {
            "n_train": n_train,
            "tau_prox": occam_gate_threshold(cfg.beta, n_train, p, cfg.eta, "prox"),
            "tau_paper": occam_gate_threshold(cfg.beta, n_train, p, cfg.eta, "paper"),
        },
        "kolmogorov_bits": {
            "enumerative_mem": k_mem,
            "enumerative_gen": k_gen,
            "paper004_mem": paper004_code_bits(lambda_mem(p), p, cfg.bits),
            "paper004_gen": paper004_code_bits(lambda_gen(p), p, cfg.bits),
        },
        "generalisation_bound": {
            "generalising": asdict(bound_gen),
            "memorising": asdict(bound_mem),
        },
        "rrr_rlct": [asdict(rrr_rlct(*c)) for c in RRR_CASES],
    }
    betas = np.geomspace(1e-3, 10.0, 41)
    eps = np.geomspace(1e-4, 1.0, 41)
    grid = crossover_grid(p, betas, eps)
    write_csv(out / "crossover_grid.csv", grid.rows())
    save_figure(plot_crossover_grid(grid), out / "crossover_diagram")
    save_figure(_free_energy_figure(cross), out / "free_energy_gap")
    rows = _complexity_rows(p, cfg.bits)
    write_csv(out / "complexity_vs_support.csv", rows)
    save_figure(_complexity_figure(rows, p, cfg.bits), out / "complexity_vs_support")
    write_csv(out / "rrr_rlct.csv", report["rrr_rlct"])
    report["files"] = sorted(x.name for x in out.iterdir() if not x.name.startswith("."))
    report["files"].append("report.json")
    write_json(out / "report.json", report)
    return report


def summary_lines(report: dict) -> list[str]:
    """A short text summary for the terminal."""
    g = report["occam_gate"]
    k = report["kolmogorov_bits"]
    b = report["generalisation_bound"]
    return [
        format_crossover(report["crossover"]),
        f"RLCT: lambda_mem = {report['rlct']['lambda_mem']:g}, lambda_gen = {report['rlct']['lambda_gen']:g}",
        f"Occam gate at n = {g['n_train']}: tau_prox = {g['tau_prox']:.6g}, tau_paper = {g['tau_paper']:.6g}",
        f"K (bits): memorising {k['enumerative_mem']:.6g}, generalising {k['enumerative_gen']:.6g} "
        f"(Zhang et al. (2026) form: {k['paper004_mem']:.6g} / {k['paper004_gen']:.6g})",
        f"bound on test risk (R_hat = 0): generalising {b['generalising']['bound']:.4g}, "
        f"memorising {b['memorising']['bound']:.4g}",
    ]
