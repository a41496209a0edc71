"""Benchmark of transformer_check training and measures (run: ``python benchmarks/bench_transformer.py``).

All timings are taken in this one run, interleaved, median of repeats:

1. training steps/s of the default model (definitions §4.2) on the ``quick`` task, our loop
   (``transformer_check.train``) against a plain reference loop: a straightforward ``nn.Module``
   written here (nn.Embedding / nn.Linear, all positions through every layer) with torch AdamW;
2. ``S`` seeds as one vmapped model against ``S`` separate models stepped in turn;
3. seconds per call of each measure on one checkpoint, and the share of a ``quick`` run's time they
   take at the preset's schedule;
4. the coarse-graining search (DeMoss et al. (2024) Alg. 1): the deterministic search against random search
   with the same budget (several seeds) and against a dense grid with 4x the budget.

Writes ``bench_transformer.json`` and ``.png/.svg`` into a new run folder under
``runs/bench-transformer/`` (``latest`` points at it); ``--save`` also copies them into
``benchmarks/results/`` (refused for ``--quick``, a smoke run: 3 steps, 1 repeat, 2 seeds).
"""

from __future__ import annotations

import dataclasses
import math
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _evidence import bench_parser, check_save, run_cli, save_results  # noqa: E402

from theory.base.io import save_figure, write_json  # noqa: E402
from theory.base.provenance import run_metadata  # noqa: E402
from transformer_check.data import make_dataset  # noqa: E402
from transformer_check.measures import build_measures  # noqa: E402
from transformer_check.measures.basic import basic_metrics  # noqa: E402
from transformer_check.measures.compression import coarse_grain  # noqa: E402
from transformer_check.model import Transformer  # noqa: E402
from transformer_check.presets import preset  # noqa: E402
from transformer_check.run_state import BatchedModel, SingleRun  # noqa: E402
from transformer_check.train import resolve_device  # noqa: E402


class NaiveTransformer(nn.Module):
    """Reference: the textbook layout, every position through every layer, logits at the end."""

    def __init__(self, vocab: int, seq: int, d: int, h: int, e: int, d_mlp: int, out: int):
        super().__init__()
        self.h, self.e = h, e
        self.tok = nn.Embedding(vocab, d)
        self.pos = nn.Embedding(seq, d)
        self.qkv = nn.Linear(d, 3 * h * e, bias=False)
        self.o = nn.Linear(h * e, d, bias=False)
        self.fc1 = nn.Linear(d, d_mlp)
        self.fc2 = nn.Linear(d_mlp, d)
        self.unembed = nn.Linear(d, out, bias=False)
        for p in self.parameters():
            nn.init.normal_(p, std=1 / math.sqrt(d)) if p.dim() > 1 else nn.init.zeros_(p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T = x.shape
        r = self.tok(x) + self.pos(torch.arange(T, device=x.device))
        q, k, v = self.qkv(r).view(B, T, 3, self.h, self.e).permute(2, 0, 3, 1, 4)
        att = (q @ k.transpose(-1, -2)) / math.sqrt(self.e)
        mask = torch.triu(torch.ones(T, T, dtype=torch.bool, device=x.device), 1)
        att = att.masked_fill(mask, float("-inf")).softmax(-1)
        z = (att @ v).transpose(1, 2).reshape(B, T, self.h * self.e)
        r = r + self.o(z)
        r = r + self.fc2(torch.relu(self.fc1(r)))
        return self.unembed(r)[:, -1]


def _time(fn, n: int) -> float:
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t0) / n


def bench_training(cfg, steps: int, repeats: int) -> dict:
    device = resolve_device(cfg.device)
    ds = make_dataset(cfg.task)
    run = SingleRun(cfg, ds, device)
    m = cfg.model
    ref = NaiveTransformer(ds.vocab_size, ds.seq_len, m.d_model, m.n_heads, m.d_head, m.d_mlp, ds.p)
    ref = ref.to(device)
    opt = torch.optim.AdamW(ref.parameters(), lr=cfg.lr, betas=cfg.betas, weight_decay=1.0)
    x, y = run.dsd.train_x, run.dsd.train_y

    def ref_step():
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(ref(x), y).backward()
        opt.step()

    ours, theirs = [], []
    run.update(), ref_step()  # warm-up
    for _ in range(repeats):
        ours.append(_time(run.update, steps))
        theirs.append(_time(ref_step, steps))
    t_o, t_r = statistics.median(ours), statistics.median(theirs)
    return {
        "ours_steps_per_s": 1 / t_o,
        "reference_steps_per_s": 1 / t_r,
        "speedup_vs_reference": t_r / t_o,
        "n_train": ds.n_train,
        "repeats_s_per_step": {"ours": ours, "reference": theirs},
    }


def bench_batched(cfg, n_seeds: int, steps: int, repeats: int) -> dict:
    device = resolve_device(cfg.device)
    ds = make_dataset(cfg.task).to(device)
    mcfg = cfg.model_config(ds)
    models = [Transformer.from_seed(mcfg, s).to(device) for s in range(n_seeds)]
    opts = [torch.optim.AdamW(mm.parameters(), lr=cfg.lr, betas=cfg.betas) for mm in models]
    bm = BatchedModel([Transformer.from_seed(mcfg, s).to(device) for s in range(n_seeds)])
    bopt = torch.optim.AdamW(list(bm.params.values()), lr=cfg.lr, betas=cfg.betas)
    x, y = ds.train_x, ds.train_y

    def looped():
        for mm, o in zip(models, opts, strict=True):
            o.zero_grad(set_to_none=True)
            F.cross_entropy(mm(x), y).backward()
            o.step()

    def batched():
        bopt.zero_grad(set_to_none=True)
        bm.losses(x, y).sum().backward()
        bopt.step()

    looped(), batched()
    tl, tb = [], []
    for _ in range(repeats):
        tl.append(_time(looped, steps))
        tb.append(_time(batched, steps))
    a, b = statistics.median(tl), statistics.median(tb)
    return {
        "n_seeds": n_seeds,
        "looped_seed_steps_per_s": n_seeds / a,
        "batched_seed_steps_per_s": n_seeds / b,
        "speedup_batched_vs_looped": a / b,
    }


def _trained_model(cfg, steps: int):
    ds = make_dataset(cfg.task)
    run = SingleRun(cfg, ds, resolve_device(cfg.device))
    for _ in range(steps):
        run.update()
    run.model.eval()
    return run.model, run.dsd


def bench_measures(cfg, model, ds, step_seconds: float, repeats: int) -> dict:
    built = build_measures(("spectral", "compression", "fourier"), cfg.measure_option_map())
    fns = {
        "basic (loss/acc/L2)": basic_metrics,
        "spectral": built["spectral"],
        "compression (bz2 + coarse-graining)": built["compression"],
        "fourier": built["fourier"],
    }
    try:
        fns["bdm"] = build_measures(("bdm",))["bdm"]
        fns["bdm"](model, ds)  # table load once
    except ImportError as exc:  # bdm/ not importable: say so rather than time nothing
        print(f"bdm measure skipped: {exc}", file=sys.stderr)
    per = {}
    for name, fn in fns.items():
        per[name] = statistics.median(_time(lambda fn=fn: fn(model, ds), 1) for _ in range(repeats))
    n_measure = cfg.measure_points + 1
    n_eval = cfg.eval_points + n_measure
    total_measures = n_measure * sum(v for k, v in per.items() if not k.startswith("basic"))
    total_eval = n_eval * per["basic (loss/acc/L2)"]
    total_train = cfg.steps * step_seconds
    return {
        "seconds_per_call": per,
        "quick_run_estimate_s": {
            "training": total_train,
            "measures": total_measures,
            "loss_acc_evals": total_eval,
            "measures_share_of_total": total_measures / (total_measures + total_train + total_eval),
        },
    }


def bench_search(cfg, model, ds, budget: int, n_random: int) -> dict:
    x, y = ds.train_x, ds.train_y
    det = coarse_grain(model, x, y, eps=cfg.coarse_eps, budget=budget)
    rnd = [
        coarse_grain(model, x, y, eps=cfg.coarse_eps, budget=budget, search="random", seed=s).bytes
        for s in range(n_random)
    ]
    dense = coarse_grain(
        model, x, y, eps=cfg.coarse_eps, budget=4 * budget, search="random", seed=99
    )
    return {
        "budget": budget,
        "bisect_bytes": det.bytes,
        "bisect_tau": det.tau,
        "bisect_delta": det.delta,
        "naive_bytes": det.naive_bytes,
        "bisect_ratio": det.ratio,
        "random_bytes": rnd,
        "random_median_bytes": statistics.median(rnd),
        "random_best_bytes": min(rnd),
        "random_4x_budget_bytes": dense.bytes,
        "bisect_at_least_as_small_as_random_median": det.bytes <= statistics.median(rnd),
    }


def plot(res: dict, stem: Path) -> None:
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(16, 4.4))
    tr, bt = res["training"], res["batched"]
    ax = axes[0]
    labels = [
        "reference loop",
        "ours",
        f"{bt['n_seeds']} seeds looped",
        f"{bt['n_seeds']} seeds vmapped",
    ]
    vals = [
        tr["reference_steps_per_s"],
        tr["ours_steps_per_s"],
        bt["looped_seed_steps_per_s"],
        bt["batched_seed_steps_per_s"],
    ]
    ax.bar(labels, vals, color=["0.6", "tab:blue", "0.6", "tab:orange"])
    ax.set_ylabel("(seed-)steps per second")
    ax.set_title(
        f"Training, default model, p={res['config']['p']} (x{tr['speedup_vs_reference']:.2f} vs ref, "
        f"x{bt['speedup_batched_vs_looped']:.2f} batched)",
        fontsize=9,
    )
    ax.tick_params(axis="x", labelsize=8, rotation=15)
    ax = axes[1]
    per = res["measures"]["seconds_per_call"]
    ax.barh(list(per), list(per.values()), color="tab:green")
    ax.set_xscale("log")
    ax.set_xlabel("seconds per checkpoint")
    share = res["measures"]["quick_run_estimate_s"]["measures_share_of_total"]
    ax.set_title(f"Cost of each measure (share of a quick run: {100 * share:.0f}%)", fontsize=9)
    ax.tick_params(axis="y", labelsize=8)
    ax = axes[2]
    s = res["search"]
    ax.scatter(range(len(s["random_bytes"])), s["random_bytes"], label="random search", color="0.5")
    ax.axhline(s["bisect_bytes"], color="tab:blue", label="deterministic search")
    ax.axhline(s["random_4x_budget_bytes"], color="tab:red", ls="--", label="random, 4x budget")
    ax.set_xlabel("random-search seed")
    ax.set_ylabel("smallest accepted bz2 bytes")
    ax.set_title(
        f"Coarse-graining search, budget {s['budget']} (naive {s['naive_bytes']} B)", fontsize=9
    )
    ax.legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, stem)


SAVED = ("bench_transformer.json", "bench_transformer.png", "bench_transformer.svg")


def build_parser():
    ap = bench_parser("transformer", __doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=30, help="steps per timing repeat")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--seeds", type=int, default=4)
    ap.add_argument("--train-steps", type=int, default=1500, help="steps before measuring")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch default)")
    ap.add_argument(
        "--quick", action="store_true", help="3 steps, 1 repeat, 2 seeds, 20 training steps"
    )
    ap.set_defaults(func=run)
    return ap


def main(argv=None) -> int:
    return run_cli(build_parser, argv)


def run(args) -> int:
    check_save(args, committed="bench_transformer.json")
    if args.quick:
        args.steps, args.repeats, args.seeds, args.train_steps = 3, 1, 2, 20
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = dataclasses.replace(preset("quick"), device=args.device)
    res: dict = {"config": {"p": cfg.task.p, "frac": cfg.task.frac, "device": args.device}}
    print("training loop ...", file=sys.stderr)
    res["training"] = bench_training(cfg, args.steps, args.repeats)
    print("batched seeds ...", file=sys.stderr)
    res["batched"] = bench_batched(cfg, args.seeds, max(args.steps // 2, 5), args.repeats)
    print(f"training {args.train_steps} steps for the measures ...", file=sys.stderr)
    model, ds = _trained_model(cfg, args.train_steps)
    res["measures"] = bench_measures(cfg, model, ds, 1 / res["training"]["ours_steps_per_s"], 3)
    print("coarse-graining search ...", file=sys.stderr)
    res["search"] = bench_search(cfg, model, ds, cfg.coarse_budget, 7)
    res["metadata"] = run_metadata(
        "benchmarks/bench_transformer.py",
        {k: v for k, v in vars(args).items() if k != "func"} | {"out": str(args.out)},
        extra={"torch_threads": torch.get_num_threads()},
    )
    write_json(args.out / "bench_transformer.json", res)
    plot(res, args.out / "bench_transformer")
    tr, bt = res["training"], res["batched"]
    print(
        f"ours {tr['ours_steps_per_s']:.1f} steps/s vs reference {tr['reference_steps_per_s']:.1f} "
        f"(x{tr['speedup_vs_reference']:.2f}); {bt['n_seeds']} seeds batched "
        f"x{bt['speedup_batched_vs_looped']:.2f}; measures "
        f"{100 * res['measures']['quick_run_estimate_s']['measures_share_of_total']:.0f}% of a "
        f"quick run; search {res['search']['bisect_bytes']} B vs random median "
        f"{res['search']['random_median_bytes']} B"
    )
    if args.save:
        for path in save_results(args.out, SAVED):
            print(f"saved {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
