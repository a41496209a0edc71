"""``python -m transformer_check decide RUN``: decide a finished crosscheck's predictions again
from the series its ``crosscheck.json`` keeps, with other thresholds, without training."""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from theory.base.cli import FlagSpec, add_config_flags, add_out_argument, overrides_from_args
from theory.base.configs import apply_overrides, config_from_dict
from theory.base.errors import InputError
from theory.base.io import read_json, write_csv, write_json
from theory.base.provenance import run_metadata
from transformer_check.crosscheck.verdict_base import Thresholds

__all__ = ["add_decide_subparser", "print_summary", "load_crosscheck", "decide_again"]

THRESHOLD_FLAGS: dict[str, FlagSpec] = {
    "rho_min": FlagSpec(help="(1) least Spearman rho of a complexity measure with test loss"),
    "rise_min": FlagSpec(help="(1) least rise to the memorised peak, share of the range"),
    "fall_min": FlagSpec(help="(1) least fall from the peak, share of the range"),
    "conc_min": FlagSpec(help="(2) least growth of the embedding's Fourier IPR"),
    "support_tol": FlagSpec(help="(2) allowed factor between the SFM support ratio and 1/p"),
    "gap_max": FlagSpec(help="(3) largest gap in rescaled time"),
    "llc_drop_min": FlagSpec(help="(5) least relative fall of the LLC"),
    "ring_gain_min": FlagSpec(help="(6) least gain of the embedding's ring score from t_mem"),
    "bdm_drop_min": FlagSpec(help="(7) least relative fall of K_BDM from its plateau"),
    "bypass_gap_min": FlagSpec(help="(8) least margin of the middle third's bypass"),
    "bypass_mem_min": FlagSpec(help="(8) least train-accuracy cost of any third at t_mem"),
}


def add_decide_subparser(sub: argparse._SubParsersAction) -> None:
    sp = sub.add_parser(
        "decide",
        help="decide a crosscheck's predictions again, with other thresholds, without training",
        description=(
            "Read RUN/crosscheck.json (every seed's series), decide the eight predictions per seed "
            "with the thresholds the run used, changed by the flags given, pool them over seeds "
            "and write decide.json and verdicts.csv. The run folder is left untouched."
        ),
    )
    sp.add_argument("run", metavar="RUN", help="a crosscheck run folder or its crosscheck.json")
    dests = add_config_flags(sp, Thresholds, THRESHOLD_FLAGS)
    add_out_argument(sp, "runs/transformer_check-decide")
    sp.set_defaults(func=_cmd, threshold_dests=dests)


def load_crosscheck(path: str | Path) -> tuple[dict[str, Any], Path]:
    """The parsed ``crosscheck.json`` of a run folder (or the file itself), checked to hold the
    per-seed series."""
    p = Path(path)
    file = p / "crosscheck.json" if p.is_dir() else p
    if not file.is_file():
        raise InputError(f"RUN: {file} does not exist; give a crosscheck run folder")
    try:
        rep = read_json(file)
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"RUN: {file} is not readable JSON ({type(exc).__name__})") from None
    if not isinstance(rep, dict) or not isinstance(rep.get("data"), dict):
        raise InputError(
            f"RUN: {file} holds no per-seed series ('data'); it was written by an older "
            "crosscheck: run the crosscheck again"
        )
    return rep, file


def _run_thresholds(rep: Mapping[str, Any], file: Path) -> Thresholds:
    try:
        th = rep["metadata"]["config"]["crosscheck"]["thresholds"]
        return config_from_dict(Thresholds, th, where=f"{file}: thresholds")
    except (KeyError, TypeError):
        raise InputError(
            f"RUN: {file} does not record its thresholds; is it a crosscheck?"
        ) from None


def decide_again(rep: Mapping[str, Any], th: Thresholds) -> tuple[list, list]:
    """``(per-seed verdicts, pooled verdicts)`` of a crosscheck report under ``th``."""
    from transformer_check.crosscheck.pooled import pool_verdicts, rules_for
    from transformer_check.crosscheck.run import data_from_json

    try:
        datas = data_from_json(rep["data"])
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(
            f"RUN: its 'data' block is damaged ({type(exc).__name__}: {exc})"
        ) from None
    per_seed = [d.decide(th) for d in datas]
    seeds = rep["data"].get("seeds") or list(range(len(datas)))
    return per_seed, pool_verdicts(per_seed, rules_for(th), seeds)


def print_summary(summary: Mapping[str, Mapping[str, Any]], seeds: Sequence[int]) -> None:
    """One line per prediction: pooled label, mean with its 95% interval, seeds holding."""
    k = len(seeds)
    print(f"{'prediction':26s} {'pooled':9s} {'mean':>8s}  {'95% CI over seeds':22s} holds in")
    for key, s in summary.items():
        mean = "n/a" if s.get("mean") is None else f"{s['mean']:.3g}"
        ci = s.get("ci")
        ci_text = f"[{ci[0]:.3g}, {ci[1]:.3g}]" if ci else ("none (1 seed)" if k == 1 else "n/a")
        need = s.get("seeds_needed")
        more = f"  (~{need} seeds would decide it)" if s["label"] == "undecided" and need else ""
        print(f"{key:26s} {s['label']:9s} {mean:>8s}  {ci_text:22s} {s['n_holds']}/{k}{more}")


def _cmd(args: argparse.Namespace) -> int:
    from transformer_check.crosscheck.run import decide_report, verdict_rows

    rep, file = load_crosscheck(args.run)
    th = apply_overrides(
        _run_thresholds(rep, file), overrides_from_args(args, args.threshold_dests)
    )
    per_seed, pooled = decide_again(rep, th)
    seeds = list(rep["data"].get("seeds") or range(len(per_seed)))
    out = Path(args.out)
    block = decide_report(per_seed, pooled, seeds)
    meta = run_metadata("transformer_check decide", {"thresholds": th}, extra={"run": str(file)})
    write_json(
        out / "decide.json", {"metadata": meta, "thresholds": dataclasses.asdict(th), **block}
    )
    write_csv(out / "verdicts.csv", verdict_rows(per_seed, pooled, seeds))
    print_summary(block["summary"], seeds)
    print(f"decided again: {out / 'decide.json'}")
    return 0
