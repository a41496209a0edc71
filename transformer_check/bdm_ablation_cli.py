"""``python -m transformer_check bdm-ablation``: Zhang et al. (2026)'s ``K_BDM`` choices over checkpoints.

Reads every checkpoint of each run (``RUN`` folders of ``train``, a multi-seed run's ``seed_*/``,
or ``--runs-from SWEEP_DIR`` for every point of a sweep), measures the 8 variants of
:mod:`transformer_check.bdm_ablation` and the raw bz2 reference, and writes ``ablation.csv``,
``summary.csv``, ``ablation.json``, ``ablation.md`` and ``ablation.png/.svg`` into the run folder.
Every input is read and checked before anything is measured, so a refused input leaves no file.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from theory.base.cli import add_out_argument, list_of
from theory.base.errors import check_choice
from theory.base.io import atomic_write_text, save_figure, write_csv, write_json
from theory.base.provenance import run_metadata
from transformer_check.cli_common import add_threads_argument, set_threads

__all__ = ["add_subparser"]


def _variant(name: str, value: str) -> str:
    from transformer_check.bdm_ablation import VARIANT_NAMES

    return check_choice(name, value, VARIANT_NAMES)


def add_subparser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "bdm-ablation",
        help="K_BDM under 8 map/block/aggregation choices at every checkpoint of runs",
        description=(
            "For every checkpoint of every RUN, K_BDM under each map (quartile, median) x blocks "
            "(2d 4x4, 1d length 12) x aggregation (per_tensor, pooled) and the bz2 size of the "
            "raw weights; per run the init, plateau (t_mem <= step < t_gen), max and final "
            "values, rise and drop; over runs their mean and range. Writes ablation.csv, "
            "summary.csv, ablation.json, ablation.md and ablation.png/.svg."
        ),
    )
    p.add_argument(
        "runs", nargs="*", type=Path, metavar="RUN",
        help="run folders of `train` (checkpoints/ with step_* snapshots) or a multi-seed run",
    )  # fmt: skip
    p.add_argument(
        "--runs-from", action="append", type=Path, default=[], metavar="SWEEP_DIR",
        help="take every point folder of this sweep's runs/ (repeatable)",
    )  # fmt: skip
    p.add_argument(
        "--variants", type=list_of(_variant), default=None,
        help="comma-separated subset of the 8 variants, e.g. quartile-2d-per_tensor,median-1d-pooled "
        "(default: all)",
    )  # fmt: skip
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    add_threads_argument(p)
    add_out_argument(p, "runs/transformer_check-bdm-ablation")
    p.set_defaults(func=_cmd)


def _cmd(args: argparse.Namespace) -> int:
    from transformer_check import bdm_ablation as ab

    set_threads(args)
    variants = ab.parse_variants(args.variants)
    runs = ab.read_runs(args.runs, args.runs_from)  # every refusal happens here, before writing

    def say(msg: str) -> None:
        if not args.quiet:
            print(f"bdm-ablation: {msg}", file=sys.stderr, flush=True)

    t0 = time.perf_counter()
    results = [ab.ablate_run(r, variants, progress=say) for r in runs]
    wall = time.perf_counter() - t0
    names = [v.name for v in variants] + [ab.RAW]
    summaries = ab.summarise_variants([r.summaries for r in results], names)
    out = Path(args.out)
    config = {
        "runs": [str(r.path) for r in runs],
        "runs_from": [str(s) for s in args.runs_from],
        "variants": names,
    }
    write_csv(out / "ablation.csv", ab.value_rows(results))
    write_csv(out / "summary.csv", ab.summary_rows(summaries))
    write_json(
        out / "ablation.json",
        {
            "metadata": run_metadata("transformer_check bdm-ablation", config),
            "definitions": ab.DEFINITIONS,
            "wall_seconds": wall,
            "variants": summaries,
            "runs": [_run_record(r) for r in results],
        },
    )
    atomic_write_text(out / "ablation.md", ab.markdown_table(summaries))
    save_figure(ab.ablation_figure(results), out / "ablation")
    n_ck = sum(len(r.steps) for r in results)
    per = sum(r.seconds_per_checkpoint for r in results) / len(results)
    paper = next((s for s in summaries if s.variant == ab.PAPER_VARIANT), summaries[0])
    print(
        f"transformer_check bdm-ablation: {len(results)} run(s), {n_ck} checkpoints, "
        f"{per:.2f} s per checkpoint for {len(names)} measures; {paper.variant} rises then "
        f"falls in {paper.n_rises_then_falls}/{paper.n_runs} runs; wrote {out}/ablation.md"
    )
    return 0


def _run_record(res) -> dict:
    run = res.run
    return {
        "name": run.name,
        "path": str(run.path),
        "t_mem": run.t_mem,
        "t_gen": run.t_gen,
        "events_from": run.events_from,
        "checkpoints": [{"step": c.step, "file": c.path.name} for c in run.checkpoints],
        "seconds_per_checkpoint": res.seconds_per_checkpoint,
        "measured_tensors": res.measured_tensors,
        "summaries": res.summaries,
    }
