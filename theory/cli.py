"""``python -m theory``: crossover, diagram, report and check subcommands (README, "CLI")."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import numpy as np

from theory.base.cli import OccamArgumentParser, add_out_argument, arg_type, run_cli
from theory.base.errors import InputError, check_int, check_odd_prime, check_positive, check_range
from theory.base.io import atomic_write_text, save_figure, write_json
from theory.base.provenance import run_metadata
from theory.check_cli import add_check_parser, list_claims_main
from theory.crossover import crossover_n, crossover_record
from theory.diagram import crossover_grid, plot_crossover_grid
from theory.report import (
    ReportConfig,
    crossover_summary,
    format_crossover,
    summary_lines,
    write_report,
)

_prime = arg_type(check_odd_prime)
_pos = arg_type(check_positive)
_nonneg = arg_type(check_positive, allow_zero=True)


_PAPER_FLAGS = {"p": 97, "beta": 0.5, "eps": 1e-2}


def _check_crossover_flags(args: argparse.Namespace) -> bool:
    """True for the generic form; refuse flags of the other form instead of ignoring them."""
    generic = args.dlambda is not None or args.dloss is not None
    if generic:
        if args.dlambda is None or args.dloss is None:
            raise InputError(
                "--dlambda and --dloss go together: give both, or neither for Zhang et al. (2026)'s form"
            )
        given = [f"--{k}" for k in _PAPER_FLAGS if getattr(args, k) is not None]
        if given:
            raise InputError(
                f"{', '.join(given)}: Zhang et al. (2026)'s flags do not apply to the generic crossover "
                "(--dlambda/--dloss); drop them, or drop --dlambda/--dloss for Zhang et al. (2026)'s form"
            )
        return True
    if args.dm is not None:
        raise InputError(
            "--dm: the ln ln n correction applies only to the generic form; give --dlambda and "
            "--dloss with it, or drop --dm"
        )
    for k, v in _PAPER_FLAGS.items():
        if getattr(args, k) is None:
            setattr(args, k, v)
    return False


def _cmd_crossover(args: argparse.Namespace) -> int:
    if _check_crossover_flags(args):
        cross = crossover_n(args.dlambda, args.dloss, args.dm or 0.0)
        rec = crossover_record(cross)
        print(cross.message)
        for name in ("n0", "n_minus1"):
            ex = cross.exact.get(name)
            if ex is not None:
                print(f"  {name} = {ex['decimal']}  (log10 {ex['log10']:.6f}; mpmath, 50 digits)")
        for lo, hi, w in rec["intervals"]:
            print(f"  n in ({_fmt(lo)}, {_fmt(hi)}): {w}")
        write_json(
            args.out / "crossover.json",
            {"metadata": run_metadata("theory crossover", vars_config(args)), "crossover": rec},
        )
        return 0
    summary = crossover_summary(args.p, args.beta, args.eps)
    print(format_crossover(summary))
    write_json(
        args.out / "crossover.json",
        {"metadata": run_metadata("theory crossover", vars_config(args)), "crossover": summary},
    )
    print(f"wrote {args.out / 'crossover.json'}")
    return 0


def _fmt(x: float | str) -> str:
    return x if isinstance(x, str) else f"{x:.10g}"


def _grid_values(name: str, lo: float, hi: float, num: int) -> np.ndarray:
    lo = check_positive(f"--{name}-min", lo)
    hi = check_positive(f"--{name}-max", hi)
    if hi <= lo:
        raise InputError(f"--{name}-max: must exceed --{name}-min ({lo:g}), got {hi:g}")
    return np.geomspace(lo, hi, num)


def _cmd_diagram(args: argparse.Namespace) -> int:
    betas = _grid_values("beta", args.beta_min, args.beta_max, args.num)
    eps = _grid_values("eps", args.eps_min, args.eps_max, args.num)
    dup = sorted({p for p in args.p if args.p.count(p) > 1})
    if dup:
        raise InputError(
            f"--p: {', '.join(map(str, dup))} given more than once; each p writes one set of files"
        )
    grids = [crossover_grid(p, betas, eps) for p in args.p]  # all checked before any file
    for p, grid in zip(args.p, grids, strict=True):
        stem = args.out / f"crossover_diagram_p{p}"
        atomic_write_text(stem.with_suffix(".csv"), grid.csv_text())
        save_figure(plot_crossover_grid(grid), stem)
        finite = grid.n_star[np.isfinite(grid.n_star)]
        rng = (
            f"{finite.min():.3g} .. {finite.max():.3g}"
            if finite.size
            else "none (a < e everywhere)"
        )
        print(f"p = {p}: n* over the grid spans {rng}; wrote {stem}.csv/.png/.svg")
    write_json(
        args.out / "diagram.json",
        {"metadata": run_metadata("theory diagram", vars_config(args)), "p": args.p},
    )
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    cfg = ReportConfig(p=args.p, beta=args.beta, eps_gen=args.eps, frac=args.frac, bits=args.bits)
    report = write_report(cfg, args.out)
    print("\n".join(summary_lines(report)))
    print(f"wrote {len(report['files'])} files to {args.out}")
    return 0


def vars_config(args: argparse.Namespace) -> dict:
    """The parsed arguments as a JSON-ready config (drops the dispatch function)."""
    return {k: v for k, v in vars(args).items() if k != "func"}


def build_parser() -> argparse.ArgumentParser:
    parser = OccamArgumentParser(
        prog="python -m theory",
        description="Closed-form results of the Occam phase transition (definitions §2).",
    )
    sub = parser.add_subparsers(title="subcommands", metavar="COMMAND")

    c = sub.add_parser(
        "crossover",
        help="solve the free-energy crossover n = a ln n (symbolic + numeric)",
        description="Zhang et al. (2026)'s crossover for (p, beta, eps_gen), or a generic one with --dlambda/--dloss.",
    )
    # Zhang et al. (2026)'s flags default to None so that mixing them with the generic form is refused.
    c.add_argument("--p", type=_prime, default=None, help="odd prime modulus (default 97)")
    c.add_argument(
        "--beta", type=_pos, default=None, help="l0 prior strength beta > 0 (default 0.5)"
    )
    c.add_argument("--eps", type=_nonneg, default=None, help="eps_gen >= 0 (default 0.01)")
    c.add_argument("--dlambda", type=_pos, help="generic: lambda_A - lambda_B > 0")
    c.add_argument("--dloss", type=_nonneg, help="generic: L_B - L_A >= 0")
    c.add_argument(
        "--dm",
        type=arg_type(check_range),
        default=None,
        help="generic only: m_A - m_B (ln ln n term; default 0)",
    )
    add_out_argument(c, "runs/theory-crossover")
    c.set_defaults(func=_cmd_crossover)

    d = sub.add_parser("diagram", help="n* over a (beta, eps_gen) grid: CSV + PNG/SVG")
    d.add_argument("--p", type=_prime, nargs="+", default=[97], help="one or more odd primes")
    d.add_argument("--beta-min", type=_pos, default=1e-3, help="smallest beta > 0 (1e-3)")
    d.add_argument("--beta-max", type=_pos, default=10.0, help="largest beta (10)")
    d.add_argument("--eps-min", type=_pos, default=1e-4, help="smallest eps_gen > 0 (1e-4)")
    d.add_argument("--eps-max", type=_pos, default=1.0, help="largest eps_gen (1)")
    d.add_argument(
        "--num", type=arg_type(check_int, 2, 2000), default=61, help="grid points per axis"
    )
    add_out_argument(d, "runs/theory-diagram")
    d.set_defaults(func=_cmd_diagram)

    r = sub.add_parser("report", help="every closed-form result for one p (the main job)")
    r.add_argument("--p", type=_prime, default=97, help="odd prime modulus (default 97)")
    r.add_argument("--beta", type=_pos, default=0.5)
    r.add_argument("--eps", type=_pos, default=1e-2, help="eps_gen > 0 (default 0.01)")
    r.add_argument(
        "--frac",
        type=arg_type(check_range, 0.0, 1.0, lo_open=True),
        default=0.3,
        help="training fraction f in (0, 1] (default 0.3)",
    )
    r.add_argument("--bits", type=arg_type(check_int, 1, 64), default=32, help="bits per real")
    add_out_argument(r, "runs/theory-report")
    r.set_defaults(func=_cmd_report)

    add_check_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    # --list writes nothing: answered before the run-folder policy makes a folder.
    given = list(sys.argv[1:] if argv is None else argv)
    if given[:1] == ["check"] and "--list" in given:
        return list_claims_main(build_parser(), given)
    return run_cli(build_parser, argv)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
