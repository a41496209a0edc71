"""Training throughput: occam's step against TransformerLens 3.9.0 and against the matmul peak.

Run: ``python benchmarks/bench_training.py``. On the ``nanda`` task (p 113, f 0.3: 3,830 training
pairs, full batch, AdamW with the preset's lr 1e-3, betas (0.9, 0.98), wd 1) and the definitions
§4.2 model, in one run, interleaved, median of repeats, at each thread count (default 1 and 2):

1. occam's training step, the one ``transformer_check.train`` runs (``SingleRun.update``);
2. a TransformerLens 3.9.0 ``HookedTransformer`` of the same configuration converted from the same
   initial weights (``to_hooked_transformer``), trained as the TransformerLens grokking demo does:
   cross-entropy of ``logits[:, -1]``, torch AdamW with the same hyper-parameters, biases frozen at
   zero (occam's model has none), so both sides optimise the same function of the same parameters.
   Their first-step losses must agree within a float32 round-off bound (:func:`loss_tolerance`);
3. a large fp32 matrix product ``n x n @ n x n`` (``2 n^3`` FLOP) as the machine's peak.

occam's useful GFLOP/s comes from the multiply-add count of :func:`step_macs` (forward + backward
= 3x forward: each product ``A B`` needs ``dA = dC B^T`` and ``dB = A^T dC`` of the same size;
2 FLOP per multiply-add), reported two ways: the ``model`` count of the issue (the standard
algorithm with the last-position trick: every position's K/V projections, the last position's
query, ``W_O``, MLP and unembedding) and the ``executed`` count of what occam's step computes (the
Q/K/V projections of block 0 read from the table of the ``seq_len * vocab`` (position, token)
pairs, ``transformer_check.embed_tables``). The fraction of peak is each over the matmul's GFLOP/s
at the same thread count. Targets (issue 18): occam >= 3x TransformerLens and >= 60% of the peak.

Writes ``bench_training.json`` and ``.png/.svg`` into a new run folder under
``runs/bench-training/``; ``--save`` copies them into ``benchmarks/results/`` (refused for
``--quick``: p 23, one thread, two steps, one repeat). ``--device cuda`` runs the same on a GPU
(refused in one line without CUDA).
"""

from __future__ import annotations

import statistics
import sys
import time
from importlib import metadata
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _evidence import bench_parser, check_save, run_cli, save_results  # noqa: E402

from theory.base.errors import InputError  # noqa: E402
from theory.base.io import save_figure, write_json  # noqa: E402
from theory.base.provenance import run_metadata  # noqa: E402
from transformer_check.data import make_dataset  # noqa: E402
from transformer_check.embed_tables import use_tables  # noqa: E402
from transformer_check.model import ModelConfig  # noqa: E402
from transformer_check.presets import preset  # noqa: E402
from transformer_check.run_state import SingleRun  # noqa: E402

SAVED = ("bench_training.json", "bench_training.png", "bench_training.svg")
SPEEDUP_TARGET, PEAK_TARGET = 3.0, 0.6
U32 = 2.0**-24  # unit round-off of float32


def step_macs(m: ModelConfig, batch: int, tables: bool) -> dict[str, int]:
    """Multiply-adds of one forward of a 1-layer model over ``batch`` inputs, logits at the last
    position only (definitions §4.2 model; issue 18's count), by term.

    ``tables``: block 0's Q/K/V come from the ``seq_len * vocab_size`` table of projected
    (position, token) embeddings instead of ``batch * seq_len`` projections (embed_tables).
    """
    if m.n_layers != 1:
        raise InputError(f"model: the count is written for 1 layer, got n_layers {m.n_layers}")
    B, T, d, He = batch, m.seq_len, m.d_model, m.n_heads * m.d_head
    macs = {
        "scores_and_mix": 2 * B * T * He,  # q.k over e per (head, key), then p v
        "W_O": B * He * d,
        "mlp": 2 * B * d * m.d_mlp,
        "unembed": B * d * m.d_vocab_out,
    }
    if tables:
        macs["qkv_table"] = T * m.vocab_size * d * 3 * He
    else:
        macs["q_last"] = B * d * He
        macs["kv_all_positions"] = 2 * B * T * d * He
    return macs


def step_gflop(macs: dict[str, int]) -> float:
    """GFLOP of one training step: 2 FLOP per multiply-add, forward + backward = 3x forward."""
    return 3 * 2 * sum(macs.values()) / 1e9


def loss_tolerance(m: ModelConfig, logits: torch.Tensor) -> float:
    """A first-order float32 bound on ``|loss_occam - loss_TL|`` (Higham 2002, Thm 3.5).

    Each logit is a chain of dot products of lengths ``d_model`` (Q, K, V), ``d_head``
    (scores), ``seq_len`` (mix), ``H d_head`` (W_O), ``d_model`` (W_in), ``d_mlp`` (W_out) and
    ``d_model`` (W_U); two summation orders of a length-``n`` dot product differ by at most
    ``2 gamma_n`` of its absolute sum, ``gamma_n ~ n u``, with the logits' scale standing in for
    that absolute sum. The cross-entropy moves by at most ``2 max|d logit|`` (its gradient in the
    logits is ``softmax - onehot``, of 1-norm <= 2), so the bound is ``4 N u max|logit|`` with
    ``N`` the sum of those lengths, plus ``N u`` for the mean over the batch.
    """
    N = 3 * m.d_model + m.d_head + m.seq_len + m.n_heads * m.d_head + m.d_mlp
    return 4 * N * U32 * float(logits.abs().max()) + N * U32


def matmul_gflops(n: int, device: torch.device, reps: int) -> float:
    """GFLOP/s of ``reps`` fp32 ``n x n`` products (``2 n^3`` FLOP each) after one warm-up."""
    g = torch.Generator(device=device).manual_seed(0)
    a = torch.randn(n, n, generator=g, device=device)
    b = torch.randn(n, n, generator=g, device=device)
    a @ b
    _sync(device)
    t0 = time.perf_counter()
    for _ in range(reps):
        a @ b
    _sync(device)
    return 2 * n**3 * reps / (time.perf_counter() - t0) / 1e9


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def tl_side(run: SingleRun):
    """``(step, loss)`` of the HookedTransformer converted from ``run``'s current weights."""
    from transformer_check.interop.hooked import to_hooked_transformer

    cfg = run.cfg
    ht = to_hooked_transformer(run.model, device=str(run.device)).train()
    for name, p in ht.named_parameters():  # as the TransformerLens grokking demo: biases frozen
        p.requires_grad_(name.rsplit(".", 1)[-1][:2] != "b_")
    params = [p for p in ht.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay)
    x, y = run.dsd.train_x, run.dsd.train_y

    def loss() -> torch.Tensor:
        return F.cross_entropy(ht(x)[:, -1], y)

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        loss().backward()
        opt.step()

    return step, loss, ht


def _steps_per_s(step, n: int, device: torch.device) -> float:
    _sync(device)
    t0 = time.perf_counter()
    for _ in range(n):
        step()
    _sync(device)
    return n / (time.perf_counter() - t0)


def bench_threads(args, threads: int, device: torch.device) -> dict:
    """Interleaved repeats of occam's step, TransformerLens's step and the matmul peak."""
    torch.set_num_threads(threads)
    cfg = preset("nanda", p=args.p, device=device.type)
    ds = make_dataset(cfg.task)
    run = SingleRun(cfg, ds, device)
    mcfg = run.model.cfg
    tl_step, tl_loss, ht = tl_side(run)
    occ0, tl0 = float(run.loss()), float(tl_loss())  # with gradients: the training forward
    with torch.no_grad():
        logits = run.model(run.dsd.train_x)
    tol = loss_tolerance(mcfg, logits)
    run.update(), tl_step()  # warm-up
    occ, tl, peak = [], [], []
    for _ in range(args.repeats):
        occ.append(_steps_per_s(run.update, args.steps, device))
        tl.append(_steps_per_s(tl_step, args.steps, device))
        peak.append(matmul_gflops(args.matmul_n, device, args.matmul_reps))
    o, t, pk = statistics.median(occ), statistics.median(tl), statistics.median(peak)
    tables = use_tables(run.model, run.dsd.train_x)
    counts = {
        "model": step_macs(mcfg, ds.n_train, False),
        "executed": step_macs(mcfg, ds.n_train, tables),
    }
    gflop = {k: step_gflop(v) for k, v in counts.items()}
    row = {
        "threads": threads,
        "n_train": ds.n_train,
        "first_step_loss": {"occam": occ0, "transformer_lens": tl0, "abs_diff": abs(occ0 - tl0)},
        "loss_tolerance": tol,
        "losses_agree": abs(occ0 - tl0) <= tol,
        "occam_steps_per_s": o,
        "tl_steps_per_s": t,
        "speedup_vs_tl": o / t,
        "matmul_peak_gflops": pk,
        "macs_per_forward": counts,
        "gflop_per_step": gflop,
        "occam_gflops": {k: g * o for k, g in gflop.items()},
        "fraction_of_peak": {k: g * o / pk for k, g in gflop.items()},
        "tables": tables,
        "repeats": {"occam_steps_per_s": occ, "tl_steps_per_s": tl, "matmul_gflops": peak},
    }
    row["targets"] = {
        "speedup_ge_3x_tl": row["speedup_vs_tl"] >= SPEEDUP_TARGET,
        "executed_ge_60pct_peak": row["fraction_of_peak"]["executed"] >= PEAK_TARGET,
        "model_count_ge_60pct_peak": row["fraction_of_peak"]["model"] >= PEAK_TARGET,
    }
    print(
        f"{threads} thread(s): occam {o:.2f} steps/s, TransformerLens {t:.2f} ({o / t:.2f}x); "
        f"matmul {pk:.1f} GFLOP/s; occam {row['occam_gflops']['executed']:.1f} executed / "
        f"{row['occam_gflops']['model']:.1f} model-count GFLOP/s "
        f"({row['fraction_of_peak']['executed']:.0%} / {row['fraction_of_peak']['model']:.0%} of "
        f"peak); first-step losses {occ0:.7f} vs {tl0:.7f} (|diff| {abs(occ0 - tl0):.1e} <= "
        f"{tol:.1e}: {row['losses_agree']})",
        file=sys.stderr,
    )
    del ht
    return row


def plot(res: dict, stem: Path) -> None:
    import matplotlib.pyplot as plt

    rows = res["rows"]
    labels = [f"{r['threads']} thr." for r in rows]
    xs = range(len(rows))
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 4))
    w = 0.38
    a1.bar([x - w / 2 for x in xs], [r["occam_steps_per_s"] for r in rows], w, label="occam")
    a1.bar(
        [x + w / 2 for x in xs],
        [r["tl_steps_per_s"] for r in rows],
        w,
        color="0.55",
        label="TransformerLens 3.9.0",
    )
    a1.set_xticks(list(xs), labels)
    a1.set_ylabel("training steps / s (full batch, AdamW)")
    a1.set_title(f"nanda task, {rows[0]['n_train']} pairs, {res['config']['device']}", fontsize=9)
    a1.legend(fontsize=8)
    a2.bar(
        [x - w / 2 for x in xs],
        [r["fraction_of_peak"]["executed"] for r in rows],
        w,
        label="executed count",
    )
    a2.bar(
        [x + w / 2 for x in xs],
        [r["fraction_of_peak"]["model"] for r in rows],
        w,
        color="tab:cyan",
        label="model count (issue 18)",
    )
    a2.axhline(PEAK_TARGET, color="tab:red", ls="--", label="target 60%")
    a2.set_xticks(list(xs), labels)
    a2.set_ylabel("occam GFLOP/s / fp32 matmul GFLOP/s")
    a2.set_title("Fraction of the measured matmul peak", fontsize=9)
    a2.legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, stem)


def build_parser():
    ap = bench_parser("training", __doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="torch thread counts")
    ap.add_argument("--steps", type=int, default=10, help="training steps per timing")
    ap.add_argument("--repeats", type=int, default=5, help="interleaved repeats (median)")
    ap.add_argument("--matmul-n", type=int, default=2048, help="size of the peak's square product")
    ap.add_argument("--matmul-reps", type=int, default=4, help="products per peak timing")
    ap.add_argument("--p", type=int, default=113, help="the task's prime (nanda: 113)")
    ap.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    ap.add_argument("--quick", action="store_true", help="smoke run: p 23, 1 thread, 2 steps")
    ap.set_defaults(func=run)
    return ap


def main(argv=None) -> int:
    return run_cli(build_parser, argv)


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def run(args) -> int:
    check_save(args, committed="bench_training.json")
    if args.device == "cuda" and not torch.cuda.is_available():
        raise InputError("--device: CUDA is not available here; run with --device cpu")
    tl_version = _version("transformer-lens")
    if not tl_version.startswith("3."):
        raise InputError(
            f"transformer-lens 3.x is the reference and {tl_version} is here; "
            'pip install "occam-grokking[interop]" (transformer-lens 3.9.0)'
        )
    if args.quick:
        args.p, args.threads, args.steps, args.repeats = 23, [1], 2, 1
        args.matmul_n, args.matmul_reps = 256, 2
    for name in ("steps", "repeats", "matmul_n", "matmul_reps"):
        if getattr(args, name) < 1:
            raise InputError(f"--{name.replace('_', '-')}: must be >= 1, got {getattr(args, name)}")
    if any(t < 1 for t in args.threads):
        raise InputError(f"--threads: must be positive thread counts, got {args.threads}")
    device = torch.device(args.device)
    before = torch.get_num_threads()
    try:
        rows = [bench_threads(args, t, device) for t in args.threads]
    finally:
        torch.set_num_threads(before)
    res = {
        "config": {
            "task": "nanda preset: a + b mod p, f 0.3, full batch, AdamW (lr 1e-3, wd 1)",
            "p": args.p,
            "device": args.device,
            "steps_per_timing": args.steps,
            "repeats": args.repeats,
            "matmul": f"fp32 {args.matmul_n} x {args.matmul_n} @ {args.matmul_n} x {args.matmul_n}",
            "reference": "TransformerLens HookedTransformer from to_hooked_transformer, biases "
            "frozen, cross-entropy of logits[:, -1], torch AdamW",
            "flop_count": "3 x forward multiply-adds x 2 (step_macs); 'model': every position's "
            "K/V, last-position Q/W_O/MLP/unembed; 'executed': block 0's Q/K/V from the "
            "(position, token) table",
            "targets": {"speedup_vs_tl_ge": SPEEDUP_TARGET, "fraction_of_peak_ge": PEAK_TARGET},
        },
        "rows": rows,
        "all_losses_agree": all(r["losses_agree"] for r in rows),
        "metadata": run_metadata(
            "benchmarks/bench_training.py",
            {k: v for k, v in vars(args).items() if k != "func"} | {"out": str(args.out)},
            extra={
                "transformer_lens_version": tl_version,
                "occam_version": _version("occam-grokking"),
                "torch_version": torch.__version__,
            },
        ),
    }
    write_json(args.out / "bench_training.json", res)
    plot(res, args.out / "bench_training")
    if not res["all_losses_agree"]:
        raise InputError(
            f"losses: occam and TransformerLens first-step losses differ beyond the round-off "
            f"bound ({[r['first_step_loss']['abs_diff'] for r in rows]}); see {args.out}"
        )
    if args.save:
        for p in save_results(args.out, SAVED):
            print(f"saved {p}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
