"""``python -m theory``: crossover, diagram and report subcommands (README, "CLI")."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import asdict

import numpy as np

from theory.base.cli import OccamArgumentParser, add_out_argument, arg_type, run_cli
from theory.base.errors import InputError, check_int, check_odd_prime, check_positive, check_range
from theory.base.io import save_figure, write_csv, write_json
from theory.base.provenance import run_metadata
from theory.crossover import crossover_n
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


def _cmd_crossover(args: argparse.Namespace) -> int:
    if args.dlambda is not None or args.dloss is not None:
        if args.dlambda is None or args.dloss is None:
            raise InputError(
                "--dlambda and --dloss go together: give both, or neither for paper 004's form"
            )
        cross = crossover_n(args.dlambda, args.dloss, args.dm)
        print(cross.message)
        for lo, hi, w in cross.intervals:
            print(f"  n in ({lo:.10g}, {hi:.10g}): {w}")
        write_json(
            args.out / "crossover.json",
            {
                "metadata": run_metadata("theory crossover", vars_config(args)),
                "crossover": asdict(cross),
            },
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


def _grid_values(name: str, lo: float, hi: float, num: int) -> np.ndarray:
    lo = check_positive(f"--{name}-min", lo)
    hi = check_positive(f"--{name}-max", hi)
    if hi <= lo:
        raise InputError(f"--{name}-max: must exceed --{name}-min ({lo:g}), got {hi:g}")
    return np.geomspace(lo, hi, num)


def _cmd_diagram(args: argparse.Namespace) -> int:
    betas = _grid_values("beta", args.beta_min, args.beta_max, args.num)
    eps = _grid_values("eps", args.eps_min, args.eps_max, args.num)
    for p in args.p:
        grid = crossover_grid(p, betas, eps)
        stem = args.out / f"crossover_diagram_p{p}"
        write_csv(stem.with_suffix(".csv"), grid.rows())
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
        description="Closed-form results of the Occam phase transition (SPEC §2).",
    )
    sub = parser.add_subparsers(title="subcommands", metavar="COMMAND")

    c = sub.add_parser(
        "crossover",
        help="solve the free-energy crossover n = a ln n (symbolic + numeric)",
        description="Paper 004's crossover for (p, beta, eps_gen), or a generic one with --dlambda/--dloss.",
    )
    c.add_argument("--p", type=_prime, default=97, help="odd prime modulus (default 97)")
    c.add_argument(
        "--beta", type=_pos, default=0.5, help="l0 prior strength beta > 0 (default 0.5)"
    )
    c.add_argument("--eps", type=_nonneg, default=1e-2, help="eps_gen >= 0 (default 0.01)")
    c.add_argument("--dlambda", type=_pos, help="generic: lambda_A - lambda_B > 0")
    c.add_argument("--dloss", type=_nonneg, help="generic: L_B - L_A >= 0")
    c.add_argument("--dm", type=arg_type(check_range), default=0.0, help="m_A - m_B (ln ln n term)")
    add_out_argument(c, "runs/theory-crossover")
    c.set_defaults(func=_cmd_crossover)

    d = sub.add_parser("diagram", help="n* over a (beta, eps_gen) grid: CSV + PNG/SVG")
    d.add_argument("--p", type=_prime, nargs="+", default=[97], help="one or more odd primes")
    d.add_argument("--beta-min", type=float, default=1e-3)
    d.add_argument("--beta-max", type=float, default=10.0)
    d.add_argument("--eps-min", type=float, default=1e-4)
    d.add_argument("--eps-max", type=float, default=1.0)
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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    return run_cli(build_parser, argv)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
