"""The ``nanda`` preset on a GPU: steps/s (1 seed and K vmapped seeds, bfloat16 autocast against
float32), the time it takes to grok, and the cost of every measure the crosscheck logs.

Ready for a GPU; this file claims no result. The ``nanda`` preset (``transformer_check/presets.
py``: Nanda et al. (2023), p 113, f 0.3, 1 layer, d_model 128, ReLU, AdamW lr 1e-3, wd 1, full
batch) is trained on CUDA in four throughput cases, {1 seed, ``--vmap-seeds`` seeds as one vmapped
model (``transformer_check.train.train_seeds``)} x {float32, bfloat16 autocast}, each for
``--steps`` steps after an untimed warm-up run, with no measure and no evaluation (the training
loop's own clock, so set-up and checkpoint I/O are reported apart). Then one float32 seed (the
preset as it is) trains in segments of ``--grok-every`` steps, the test accuracy checked after each,
until it reaches 0.99 (``transformer_check.events.GEN_TEST_ACC``: t_gen, definitions §4.4), the
``--grok-steps`` cap, or the ``--grok-wall-cap`` seconds; t_gen is then known to within one
segment. Last, every measure the crosscheck's main run logs (``transformer_check.crosscheck.
config.train_config``, with its options) is timed on that model, ``--measure-repeats`` times (the
first call pays CUDA's kernel warm-up).

Run it on a machine with CUDA, from the repository root, with the package installed::

    python benchmarks/gpu_bench.py                    # about 5 minutes on one H200 (estimate)
    python benchmarks/gpu_bench.py --save             # also copy gpu_bench.json to benchmarks/results/
    python benchmarks/gpu_bench.py --device cpu --tiny  # the CPU smoke run (tests/test_gpu_bench.py)

Writes ``gpu_bench.json`` into a new run folder under ``runs/bench-gpu/`` (rewritten after every
phase, so a killed run keeps what it finished): torch, CUDA and cuDNN versions, the device name,
every case's steps/s and peak CUDA memory (``torch.cuda.max_memory_allocated``), the speed-ups,
the grok record, each measure's seconds, and the provenance metadata.

Estimate behind the defaults (not a measurement; the first GPU run replaces it): the nanda model
has 0.23M parameters and a full batch of 3830 pairs x 3 tokens, about 6 x 0.23e6 x 11490 = 1.6e10
FLOP per seed and step (Kaplan et al. 2020 eq. 2.1), so one seed is bound by kernel launches, not
FLOPs (some hundreds of steps/s), and 8 vmapped seeds should cost little more per step than one.
Nanda et al. (2023) report grokking by about 10k steps, so the 25000-step cap (the preset's own
run) should be reached only if it fails; the 300 s wall cap bounds the run either way.

``--tiny`` (``bench_paper004.TINY``: 3 layers, d_model 32, p 23) is the smoke mode that runs the
same code on the CPU (``--device cpu`` needs it); ``--save`` refuses it, and a run without CUDA
refuses in one line before it touches anything.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _evidence import RESULTS, bench_parser, run_cli, save_results  # noqa: E402
from bench_paper004 import (  # noqa: E402
    GIB,
    TINY,
    TINY_P,
    Segment,
    _device_block,
    _rate,
    measure_model,
    train_segment,
)

from theory.base.cli import arg_type  # noqa: E402
from theory.base.errors import InputError, check_int, check_range  # noqa: E402
from theory.base.io import write_json  # noqa: E402
from theory.base.provenance import run_metadata  # noqa: E402
from transformer_check.config import TrainConfig  # noqa: E402
from transformer_check.crosscheck.config import CrosscheckConfig, train_config  # noqa: E402
from transformer_check.events import GEN_TEST_ACC  # noqa: E402
from transformer_check.measure_cli import measure_option_type  # noqa: E402
from transformer_check.measures import build_measures  # noqa: E402
from transformer_check.measures.basic import basic_metrics  # noqa: E402
from transformer_check.presets import preset  # noqa: E402
from transformer_check.train import resolve_device  # noqa: E402

__all__ = [
    "RESULT",
    "DEFAULT_STEPS",
    "DEFAULT_VMAP_SEEDS",
    "crosscheck_measures",
    "nanda_config",
    "refusal",
    "throughput",
    "time_to_grok",
    "time_measures",
    "build_parser",
    "main",
    "run",
]

NAME = "gpu_bench"
RESULT = "gpu_bench.json"
DEFAULT_STEPS = 1000  # per throughput case: seconds on a GPU (module docstring, "Estimate")
DEFAULT_VMAP_SEEDS = 8
DEFAULT_GROK_STEPS = 25_000  # the nanda preset's own run length
DEFAULT_GROK_EVERY = 250
DEFAULT_GROK_WALL_S = 300.0
WARMUP_STEPS = 20  # untimed: CUDA context, cuBLAS handles, allocator pools


def nanda_config(device: str, steps: int, *, tiny: bool = False, amp: bool = False) -> TrainConfig:
    """The ``nanda`` preset for ``steps`` on ``device`` with bfloat16 autocast ``amp``; no
    measure, evaluation or snapshot of its own (the benchmark checks the model itself)."""
    size: dict[str, Any] = {**TINY, "p": TINY_P} if tiny else {}
    return preset(
        "nanda",
        steps=steps,
        device=device,
        amp=amp,
        measures=(),
        eval_points=0,
        measure_points=0,
        checkpoint_every=0,
        snapshots=False,
        **size,
    )


def crosscheck_measures(cfg: TrainConfig) -> tuple[tuple[str, ...], dict[str, dict[str, Any]]]:
    """The measures the crosscheck's main run logs, and their options, at ``cfg``'s weight decay
    and depth (``transformer_check.crosscheck.config.train_config``)."""
    cc = dataclasses.replace(CrosscheckConfig(), p=cfg.task.p)
    tc = train_config(cc, cfg.weight_decay, with_measures=True)
    tc = dataclasses.replace(tc, model=cfg.model)
    return tc.measures, tc.measure_option_map()


def refusal(args: argparse.Namespace, cuda_available: bool) -> str | None:
    """Why this command must not run (one line), or ``None``: checked before anything is made."""
    if args.device == "cuda" and not cuda_available:
        return (
            "needs a CUDA device (torch.cuda.is_available() is False); run it on a GPU machine, "
            "or smoke-test the script with --device cpu --tiny"
        )
    if args.device == "cpu" and not args.tiny:
        return "--device cpu: this is a GPU benchmark; add --tiny for a CPU smoke run of the script"
    if args.save and (args.tiny or args.device == "cpu"):
        return (
            f"--save: a --tiny run is a smoke test and would replace {RESULTS / RESULT} with "
            "smoke numbers; run it on a GPU without --tiny to update it"
        )
    return None


# ---------------------------------------------------------------------------------------------
# The three phases


def throughput(cfg: TrainConfig, n_seeds: int, folder: Path) -> dict[str, Any]:
    """One throughput case: ``n_seeds`` seeds (vmapped when more than one) for ``cfg.steps``."""
    seeds = list(range(n_seeds))
    _, seg = train_segment(cfg, seeds, folder, 0, cfg.steps)
    gc.collect()
    shutil.rmtree(folder, ignore_errors=True)  # only the clock is wanted
    rate = _rate(cfg.steps, seg.update_s)
    return {
        "seeds": n_seeds,
        "vmapped": n_seeds > 1,
        "amp": cfg.amp,
        "bf16_autocast": bool(cfg.amp and resolve_device(cfg.device).type == "cuda"),
        "steps": cfg.steps,
        "update_s": seg.update_s,
        "wall_s": seg.wall_s,
        # one step updates every vmapped seed; "seed steps" counts each seed's update
        "steps_per_s": rate,
        "seed_steps_per_s": None if rate is None else n_seeds * rate,
        "steps_per_s_with_setup_and_io": _rate(cfg.steps, seg.wall_s),
        "peak_cuda_bytes": seg.peak_cuda_bytes,
    }


def speedups(cases: Sequence[dict[str, Any]]) -> dict[str, float | None]:
    """bfloat16 over float32 at each seed count, and K vmapped seeds over one (seed steps/s)."""
    rate = {(c["seeds"], c["amp"]): c["seed_steps_per_s"] for c in cases}

    def ratio(a: Any, b: Any) -> float | None:
        return a / b if a and b else None

    out: dict[str, float | None] = {}
    for k in sorted({c["seeds"] for c in cases}):
        out[f"bf16_over_fp32_{k}_seeds"] = ratio(rate.get((k, True)), rate.get((k, False)))
    k = max(c["seeds"] for c in cases)
    for amp, tag in ((False, "fp32"), (True, "bf16")):
        out[f"vmap_{k}_over_1_seed_{tag}"] = ratio(rate.get((k, amp)), rate.get((1, amp)))
    return out


def time_to_grok(
    cfg: TrainConfig, folder: Path, every: int, wall_cap: float | None
) -> tuple[dict[str, Any], torch.nn.Module, Any]:
    """Train seed 0 in segments of ``every`` steps until its test accuracy reaches
    ``GEN_TEST_ACC`` (t_gen, definitions §4.4), ``cfg.steps``, or ``wall_cap`` seconds; the
    record, the last model and its dataset."""
    device = resolve_device(cfg.device)
    t0 = time.perf_counter()
    checks: list[dict[str, Any]] = []
    segments: list[Segment] = []
    start, status = 0, "step_cap"
    while start < cfg.steps:
        stop = min(start + every, cfg.steps)
        results, seg = train_segment(cfg, [0], folder, start, stop)
        segments.append(seg)
        model, ds = results[0].model, results[0].dataset.to(device)
        model.eval()
        with torch.no_grad():
            m = basic_metrics(model, ds)
        checks.append({"step": stop, **{k: float(v) for k, v in m.items()}})
        start = stop
        if m["test_acc"] >= GEN_TEST_ACC:
            status = "grokked"
            break
        if wall_cap is not None and time.perf_counter() - t0 >= wall_cap:
            status = "wall_cap" if stop < cfg.steps else "step_cap"
            break
    update = sum(s.update_s for s in segments)
    grokked = status == "grokked"
    record = {
        "status": status,
        "gen_test_acc": GEN_TEST_ACC,
        "check_every": every,
        "step_cap": cfg.steps,
        "wall_cap_s": wall_cap,
        "steps_done": start,
        # t_gen lies in (previous check, this check]: the segment resolution
        "t_gen_upper": start if grokked else None,
        "t_gen_lower": (checks[-2]["step"] if len(checks) > 1 else 0) if grokked else None,
        "update_s": update,
        "wall_s": time.perf_counter() - t0,
        "steps_per_s": _rate(start, update),
        "peak_cuda_bytes": max((s.peak_cuda_bytes or 0 for s in segments), default=0)
        if device.type == "cuda"
        else None,
        "checks": checks,
    }
    return record, model, ds


def time_measures(
    model: torch.nn.Module,
    ds: Any,
    names: Sequence[str],
    options: dict[str, dict[str, Any]],
    device: torch.device,
    repeats: int,
) -> dict[str, Any]:
    """Every measure of ``names`` on ``model``, ``repeats`` times, each call timed."""
    fns = build_measures(tuple(names), options)
    calls = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        got = measure_model(model, ds, fns, device)
        peak = int(torch.cuda.max_memory_allocated(device)) if device.type == "cuda" else None
        calls.append({"seconds": got.seconds, "errors": got.errors, "peak_cuda_bytes": peak})
    per = {
        n: {
            "calls_s": [c["seconds"][n] for c in calls],
            "best_s": min(c["seconds"][n] for c in calls),
            "first_s": calls[0]["seconds"][n],
        }
        for n in calls[0]["seconds"]
    }
    errors = sorted({f"{n}: {e}" for c in calls for n, e in c["errors"].items()})
    return {
        "names": list(names),
        "options": options,
        "repeats": repeats,
        "per_measure": per,
        "total_best_s": sum(p["best_s"] for p in per.values()),
        "errors": errors,
        "peak_cuda_bytes": max((c["peak_cuda_bytes"] or 0 for c in calls), default=0)
        if device.type == "cuda"
        else None,
    }


# ---------------------------------------------------------------------------------------------
# The command


def build_parser() -> argparse.ArgumentParser:
    ap = bench_parser("gpu", __doc__.splitlines()[0], script="gpu_bench")
    ap.add_argument(
        "--steps",
        type=arg_type(check_int, 1),
        default=DEFAULT_STEPS,
        help=f"steps of every throughput case (default {DEFAULT_STEPS})",
    )
    ap.add_argument(
        "--vmap-seeds",
        type=arg_type(check_int, 2, 64),
        default=DEFAULT_VMAP_SEEDS,
        help=f"seeds of the vmapped throughput cases (default {DEFAULT_VMAP_SEEDS})",
    )
    ap.add_argument(
        "--grok-steps",
        type=arg_type(check_int, 0),
        default=DEFAULT_GROK_STEPS,
        help=f"step cap of the grok run; 0: no grok run (default {DEFAULT_GROK_STEPS})",
    )
    ap.add_argument(
        "--grok-every",
        type=arg_type(check_int, 1),
        default=DEFAULT_GROK_EVERY,
        help=f"steps between test-accuracy checks of the grok run (default {DEFAULT_GROK_EVERY})",
    )
    ap.add_argument(
        "--grok-wall-cap",
        type=arg_type(check_range, 0.0),
        default=DEFAULT_GROK_WALL_S,
        metavar="SECONDS",
        help="stop the grok run at the first check after this many seconds; 0: no cap "
        f"(default {DEFAULT_GROK_WALL_S:g})",
    )
    ap.add_argument(
        "--measure-repeats",
        type=arg_type(check_int, 0, 10),
        default=2,
        help="timed calls of every crosscheck measure; 0: none (default 2)",
    )
    ap.add_argument(
        "--measure-option",
        dest="measure_options",
        action="append",
        type=measure_option_type,
        default=None,
        metavar="NAME.FIELD=VALUE",
        help="one option of one measure, after the crosscheck's, e.g. llc.n_steps=50 (repeatable)",
    )
    ap.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    ap.add_argument(
        "--tiny",
        action="store_true",
        help=f"smoke mode: {TINY['n_layers']} layers, d_model {TINY['d_model']}, p {TINY_P} "
        "(the same code path; --device cpu needs it, --save refuses it)",
    )
    ap.set_defaults(func=run)
    return ap


def main(argv: Sequence[str] | None = None) -> int:
    """Refuse in one line, before any folder is made, what cannot run here; else run."""
    args = build_parser().parse_args(argv)
    why = refusal(args, torch.cuda.is_available())
    if why is not None:
        sys.stderr.write(f"{NAME}: {why}\n")
        return 2
    return run_cli(build_parser, argv)


def run(args: argparse.Namespace) -> int:
    t_start = time.perf_counter()
    device = resolve_device(args.device)
    base = nanda_config(args.device, args.steps, tiny=args.tiny)
    names, options = crosscheck_measures(base)
    for measure, key, value in args.measure_options or ():
        options.setdefault(measure, {})[key] = value
    build_measures(names, options)  # a bad --measure-option is refused before any training
    report: dict[str, Any] = {
        "benchmark": "gpu_nanda",
        "note": "the cost of the nanda preset and of the crosscheck's measures on one device; "
        "it reproduces no claim of Nanda et al. (2023)",
        "status": "running",
        "smoke": bool(args.tiny),
        "device": {
            **_device_block(device, dataclasses.replace(base, amp=True)),
            "cudnn": torch.backends.cudnn.version() if device.type == "cuda" else None,
        },
        "train_config": base.to_dict(),
        "throughput": [],
        "speedups": {},
        "grok": None,
        "measures": None,
        "metadata": run_metadata(
            "benchmarks/gpu_bench.py",
            {k: v for k, v in vars(args).items() if k != "func"} | {"out": str(args.out)},
            extra={"torch_threads": torch.get_num_threads()},
        ),
    }

    def write(status: str) -> None:
        report["status"] = status
        report["total_wall_s"] = time.perf_counter() - t_start
        peaks = [c["peak_cuda_bytes"] for c in report["throughput"]]
        peaks += [(report[k] or {}).get("peak_cuda_bytes") for k in ("grok", "measures")]
        peaks = [p for p in peaks if p is not None]
        report["peak_cuda_memory_bytes"] = max(peaks) if peaks else None
        write_json(args.out / RESULT, report)

    scratch = args.out / "train"
    warm = dataclasses.replace(base, steps=min(WARMUP_STEPS, args.steps))
    throughput(warm, args.vmap_seeds, scratch / "warmup")
    for k in (1, args.vmap_seeds):
        for amp in (False, True):
            cfg = dataclasses.replace(base, amp=amp)
            case = throughput(cfg, k, scratch / f"seeds{k}_{'bf16' if amp else 'fp32'}")
            report["throughput"].append(case)
            print(
                f"{k} seed(s), {'bf16' if case['bf16_autocast'] else 'fp32'}: "
                f"{case['steps_per_s']:.1f} steps/s ({case['seed_steps_per_s']:.1f} seed steps/s)",
                file=sys.stderr,
            )
            write("running")
    report["speedups"] = speedups(report["throughput"])
    model = ds = None
    if args.grok_steps:
        cfg = nanda_config(args.device, args.grok_steps, tiny=args.tiny)
        report["grok"], model, ds = time_to_grok(
            cfg, scratch / "grok", args.grok_every, args.grok_wall_cap or None
        )
        shutil.rmtree(scratch / "grok" / "seed_0" / "checkpoints", ignore_errors=True)
        write("running")
    if args.measure_repeats:
        if model is None:  # no grok run: the measures of a freshly made model
            from transformer_check.data import make_dataset
            from transformer_check.model import Transformer

            ds = make_dataset(base.task).to(device)
            model = Transformer.from_seed(base.model_config(ds), 0).to(device)
        report["measures"] = time_measures(model, ds, names, options, device, args.measure_repeats)
    errors = (report["measures"] or {}).get("errors", [])
    write("finished")
    peak = report["peak_cuda_memory_bytes"]
    grok = report["grok"] or {}
    print(
        f"finished on {report['device']['name']}: "
        + ", ".join(
            f"{c['seeds']}x{'bf16' if c['amp'] else 'fp32'} {c['steps_per_s'] or 0:.1f}"
            for c in report["throughput"]
        )
        + f" steps/s; grok {grok.get('status', 'not run')}"
        + (f" by step {grok['t_gen_upper']}" if grok.get("t_gen_upper") else "")
        + f"; peak CUDA memory {'n/a' if peak is None else f'{peak / GIB:.2f} GiB'}"
    )
    for line in errors:
        print(f"{NAME}: measure failed: {line}", file=sys.stderr)
    if args.save:
        if errors:
            raise InputError(
                f"--save: some measures failed (listed above and in {args.out / RESULT}); "
                f"{RESULTS / RESULT} was left as it was"
            )
        for path in save_results(args.out, [RESULT]):
            print(f"saved {path}")
    return 1 if errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
