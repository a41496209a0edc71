"""LLC estimator vs devinterp on reduced-rank regression and a trained checkpoint (definitions §2.2, §2.3).

Both estimators sample the same localised tempered posterior with the same SGLD update, step size,
localisation, n*beta, chains, burn-in and draws, full batch, at the same w*, on the same number of
CPU threads (1). occam runs its chains together (one vectorised computation, llc_vmap); devinterp
runs them one after another. Cases:

* reduced-rank regression (the same sufficient-statistics loss, w* the empirical rank-H
  minimiser), reference the Aoyagi–Watanabe RLCT from ``theory.rlct.rrr_rlct``;
* the trained quick-preset checkpoint examples/runs/quick-seed0 (step 3000): no ground truth, so
  both estimates with SEs, whether they agree (|difference| < 3 combined SEs), the speed ratio,
  and the cost of one training-time ``llc_measure`` call (its gradient budget and seconds).

devinterp is imported only here (``pip install --no-deps devinterp==1.3.2 einops cloudpickle
pandas``). devinterp 2.0.1 installs with ``--no-deps`` but its LLC entry point
(``devinterp.slt.llc``) imports xarray, zarr and Hugging Face ``datasets`` at import time (its
language-model stack), so it is not compared.

    python benchmarks/bench_llc.py [--quick] [--save]

Writes bench_llc.json and bench_llc.png/.svg into a new run folder under runs/bench-llc/
(``latest`` points at it); ``--save`` also copies them into benchmarks/results/, and is refused
without devinterp when the committed bench_llc.json holds a devinterp comparison. ``--quick``:
fewer steps (a smoke run, never saved).
"""

from __future__ import annotations

import math
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _evidence import RESULTS, bench_parser, check_save, run_cli, save_results  # noqa: E402

from theory.base.errors import InputError  # noqa: E402
from theory.base.io import save_figure, write_json  # noqa: E402
from theory.base.provenance import run_metadata  # noqa: E402
from theory.rlct import rrr_rlct  # noqa: E402
from transformer_check.measures.llc import (  # noqa: E402
    LLC_MEASURE_CONFIG,
    SGLDConfig,
    classifier_loss,
    estimate_llc,
    estimate_llc_at,
    llc_measure,
    quadratic_llc,
    rrr_problem,
)

CASES = [(3, 3, 3, 1), (4, 3, 2, 1), (5, 5, 3, 1), (2, 3, 4, 0), (6, 4, 3, 2)]
# Both clocks: on a shared machine wall time includes waiting for a core, so the ratios use the
# process CPU time (one thread each side: the compute each estimator spent); wall is reported too.


class _Clock:
    def __enter__(self):
        self.w0, self.c0 = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        self.wall = time.perf_counter() - self.w0
        self.cpu = time.process_time() - self.c0


def _secs(clock: _Clock) -> dict[str, float]:
    """``seconds``: CPU seconds (the ratios' basis); ``wall_seconds``: elapsed."""
    return {"seconds": clock.cpu, "wall_seconds": clock.wall}


CHECKPOINT = ROOT / "examples" / "runs" / "quick-seed0" / "checkpoints" / "step_0003000"
THREADS = 1
WIDE = 4  # the extra occam run: WIDE x the chains, same steps


class _RRRModule(torch.nn.Module):
    """devinterp needs an nn.Module; same B, A and the same loss as RRRProblem."""

    def __init__(self, P):
        super().__init__()
        self.B = torch.nn.Parameter(P.B.detach().clone())
        self.A = torch.nn.Parameter(P.A.detach().clone())
        self.P = P

    def loss(self) -> torch.Tensor:
        return self.P.loss_at(self.B, self.A)


def run_devinterp(P, cfg: SGLDConfig) -> tuple[float, float, float]:
    """(llc mean, llc se, clock) from devinterp 1.3.2's estimate_learning_coeff_with_summary."""
    from devinterp.optim import SGLD
    from devinterp.slt.sampler import estimate_learning_coeff_with_summary

    model = _RRRModule(P)
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(torch.zeros(1)), batch_size=1
    )
    nbeta = P.n / math.log(P.n)
    with _Clock() as clock, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = estimate_learning_coeff_with_summary(
            model,
            loader,
            evaluate=lambda m, data: m.loss(),
            sampling_method=SGLD,
            optimizer_kwargs={"lr": cfg.eps, "localization": cfg.gamma, "nbeta": nbeta},
            num_chains=cfg.n_chains,
            num_draws=cfg.n_steps,
            num_burnin_steps=cfg.n_burnin,
            init_loss=float(P.loss()),
            seed=cfg.seed,
            verbose=False,
        )
    per_chain = np.array([out[f"llc-chain/{i}"] for i in range(cfg.n_chains)])
    return float(per_chain.mean()), float(per_chain.std(ddof=1) / math.sqrt(cfg.n_chains)), clock


def run_devinterp_model(model, x, y, cfg: SGLDConfig, init_loss: float):
    """(llc mean, llc se, clock) of devinterp 1.3.2 on a classifier, full batch."""
    from devinterp.optim import SGLD
    from devinterp.slt.sampler import estimate_learning_coeff_with_summary

    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(x, y), batch_size=len(y), shuffle=False
    )
    nbeta = len(y) / math.log(len(y))
    with _Clock() as clock, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = estimate_learning_coeff_with_summary(
            model,
            loader,
            evaluate=lambda m, data: torch.nn.functional.cross_entropy(m(data[0]), data[1]),
            sampling_method=SGLD,
            optimizer_kwargs={"lr": cfg.eps, "localization": cfg.gamma, "nbeta": nbeta},
            num_chains=cfg.n_chains,
            num_draws=cfg.n_steps,
            num_burnin_steps=cfg.n_burnin,
            init_loss=init_loss,
            seed=cfg.seed,
            verbose=False,
        )
    per_chain = np.array([out[f"llc-chain/{i}"] for i in range(cfg.n_chains)])
    return float(per_chain.mean()), float(per_chain.std(ddof=1) / math.sqrt(cfg.n_chains)), clock


def checkpoint_case(cfg: SGLDConfig, measure_cfg: SGLDConfig, have_dv: bool) -> dict:
    """Both estimators on the quick-preset checkpoint, and one training-time measure call."""
    from transformer_check.train import load_model

    model, _, ds, _ = load_model(CHECKPOINT)
    x, y = ds.train_x, ds.train_y
    n = len(y)
    with _Clock() as t_ours:
        ours = estimate_llc(model, classifier_loss(model, x, y), n, cfg)
    row = {
        "checkpoint": str(CHECKPOINT.relative_to(ROOT)),
        "n": n,
        "n_params": sum(p.numel() for p in model.parameters()),
        "sgld": cfg,
        "occam": {"llc": ours.llc, "se": ours.llc_se, "drift": ours.drift, **_secs(t_ours)},
    }
    if have_dv:
        m, se, t = run_devinterp_model(model, x, y, cfg, ours.init_loss)
        z = abs(m - ours.llc) / math.hypot(se, ours.llc_se)
        row["devinterp"] = {"llc": m, "se": se, **_secs(t)}
        row["difference_in_combined_se"] = z
        row["agree_within_3_se"] = bool(z < 3)
        row["speed_ratio_devinterp_over_occam"] = t.cpu / t_ours.cpu
        row["wall_speed_ratio_devinterp_over_occam"] = t.wall / t_ours.wall
    with _Clock() as t_call:
        summary = llc_measure(measure_cfg)(model, ds)
    row["measure_call"] = {
        "sgld": measure_cfg,
        "gradient_evaluations": measure_cfg.gradient_evaluations,
        "vectorised_steps": measure_cfg.n_burnin + measure_cfg.n_steps,
        **_secs(t_call),
        "llc": summary["llc"],
    }
    return row


DEVINTERP_HOW = "pip install --no-deps devinterp==1.3.2 einops cloudpickle pandas"
SAVED = ("bench_llc.json", "bench_llc.png", "bench_llc.svg")


def build_parser():
    ap = bench_parser("llc", __doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer steps (smoke run)")
    ap.add_argument(
        "--cases", type=int, default=None, help="only the first N cases (smoke runs; not saved)"
    )
    ap.set_defaults(func=run)
    return ap


def have_devinterp() -> bool:
    """Whether devinterp imports here (the reference this benchmark compares with)."""
    try:
        import devinterp  # noqa: F401
    except ImportError:
        return False
    return True


def _check_save(args, have_dv: bool) -> None:
    if args.save and args.cases is not None and not args.quick:
        raise InputError(
            f"--save: --cases {args.cases} runs part of the cases and would replace "
            f"{RESULTS / 'bench_llc.json'} with them; run all cases to update the results"
        )
    check_save(
        args,
        committed="bench_llc.json",
        key="summary.devinterp_mean_abs_rel_error",
        have_reference=have_dv,
        reference="devinterp 1.3.2",
        how=DEVINTERP_HOW,
    )


def main(argv=None) -> int:
    return run_cli(build_parser, argv)


def run(args) -> int:
    _check_save(args, have_devinterp())
    torch.set_num_threads(THREADS)
    n = 100_000
    cfg = SGLDConfig(eps=1e-5, gamma=1.0, n_chains=4, n_steps=4000, n_burnin=2000, seed=0)
    ck_cfg = SGLDConfig(**{**LLC_MEASURE_CONFIG.__dict__, "n_chains": 4})
    measure_cfg = LLC_MEASURE_CONFIG
    if args.quick:
        cfg = SGLDConfig(eps=1e-5, gamma=1.0, n_chains=2, n_steps=800, n_burnin=400, seed=0)
        ck_cfg = SGLDConfig(eps=1e-4, gamma=100.0, n_chains=2, n_steps=6, n_burnin=2, seed=0)
        measure_cfg = ck_cfg
    try:
        import devinterp  # noqa: F401

        have_dv = True
    except ImportError as exc:
        have_dv = False
        print(f"devinterp not importable ({exc}); measuring occam only", file=sys.stderr)
    rows = []
    for case in CASES[: args.cases]:
        ref = rrr_rlct(*case)
        P = rrr_problem(*case, n=n, seed=1, w_star="fit")
        with _Clock() as clock:
            ours = estimate_llc_at(P.loss_of, P.w_star, n, cfg, batched=True)
        t_ours = clock.cpu
        eigs = P.hessian_eigs()
        disc = (
            quadratic_llc(eigs, n, cfg)[0]
            - quadratic_llc(eigs, n, SGLDConfig(**{**cfg.__dict__, "eps": 1e-12}))[0]
        )
        row = {
            "case": {"M": case[0], "N": case[1], "H": case[2], "r": case[3]},
            "rlct": ref.lam,
            "multiplicity": ref.multiplicity,
            "d_over_2": P.d / 2,
            "occam": {"llc": ours.llc, "se": ours.llc_se, "drift": ours.drift, **_secs(clock)},
            "predicted_discretisation_excess": disc,
            "multiplicity_shift": -(ref.multiplicity - 1) / math.log(n / math.log(n)),
        }
        # the test tolerance (tests/test_transformer_llc.py, docs/crosscheck.md)
        tol = disc + (ref.multiplicity - 1) / math.log(n / math.log(n)) + 4 * ours.llc_se
        tol += abs(ours.drift)
        row["occam"]["tolerance"] = tol
        row["occam"]["within_tolerance"] = bool(abs(ours.llc - ref.lam) < tol)
        # What the speed buys: 4x the chains (SE / 2), still in one vectorised computation.
        wide = SGLDConfig(**{**cfg.__dict__, "n_chains": WIDE * cfg.n_chains})
        with _Clock() as clock_wide:
            more = estimate_llc_at(P.loss_of, P.w_star, n, wide, batched=True)
        row["occam_wide"] = {"n_chains": wide.n_chains, "llc": more.llc, "se": more.llc_se}
        row["occam_wide"].update(_secs(clock_wide))
        if have_dv:
            m, se, t = run_devinterp(P, cfg)
            row["devinterp"] = {"llc": m, "se": se, **_secs(t)}
            row["speed_ratio_devinterp_over_occam"] = t.cpu / t_ours
            row["wall_speed_ratio_devinterp_over_occam"] = t.wall / clock.wall
            row["speed_ratio_devinterp_over_occam_wide"] = t.cpu / clock_wide.cpu
        rows.append(row)
        dv = row.get("devinterp", {})
        print(
            f"{case}: RLCT {ref.lam:5.2f} (m={ref.multiplicity})  occam {ours.llc:6.3f} ± {ours.llc_se:.3f}"
            f" (tol {tol:.2f}) [{t_ours:5.1f}s]"
            + (
                f"  devinterp {dv['llc']:6.3f} ± {dv['se']:.3f} [{dv['seconds']:5.1f}s]"
                if dv
                else ""
            ),
            flush=True,
        )
    ck = checkpoint_case(ck_cfg, measure_cfg, have_dv)
    print(
        f"checkpoint: occam {ck['occam']['llc']:.2f} ± {ck['occam']['se']:.2f} "
        f"[{ck['occam']['seconds']:.1f}s]"
        + (
            f"  devinterp {ck['devinterp']['llc']:.2f} ± {ck['devinterp']['se']:.2f} "
            f"[{ck['devinterp']['seconds']:.1f}s]"
            if have_dv
            else ""
        )
        + f"; measure call {ck['measure_call']['seconds']:.1f}s",
        flush=True,
    )
    out = Path(args.out)
    summary = {
        "occam_mean_abs_rel_error": float(
            np.mean([abs(r["occam"]["llc"] - r["rlct"]) / r["rlct"] for r in rows])
        ),
        "occam_wide_mean_abs_rel_error": float(
            np.mean([abs(r["occam_wide"]["llc"] - r["rlct"]) / r["rlct"] for r in rows])
        ),
        "occam_mean_abs_error_in_se": float(
            np.mean([abs(r["occam"]["llc"] - r["rlct"]) / r["occam"]["se"] for r in rows])
        ),
        "torch_threads": THREADS,
        "measure_call_seconds": ck["measure_call"]["seconds"],
        "measure_call_gradient_evaluations": ck["measure_call"]["gradient_evaluations"],
    }
    if have_dv:
        summary["devinterp_mean_abs_rel_error"] = float(
            np.mean([abs(r["devinterp"]["llc"] - r["rlct"]) / r["rlct"] for r in rows])
        )
        summary["speed_ratio_geomean"] = float(
            np.exp(np.mean([math.log(r["speed_ratio_devinterp_over_occam"]) for r in rows]))
        )
        summary["speed_ratio_min"] = min(r["speed_ratio_devinterp_over_occam"] for r in rows)
        summary["speed_ratio_wide_geomean"] = float(
            np.exp(np.mean([math.log(r["speed_ratio_devinterp_over_occam_wide"]) for r in rows]))
        )
        summary["devinterp_mean_abs_error_in_se"] = float(
            np.mean([abs(r["devinterp"]["llc"] - r["rlct"]) / r["devinterp"]["se"] for r in rows])
        )
        summary["speed_ratio_target"] = 5.0
        summary["checkpoint_speed_ratio"] = ck["speed_ratio_devinterp_over_occam"]
        summary["checkpoint_agree_within_3_se"] = ck["agree_within_3_se"]
        summary["devinterp_version"] = __import__("importlib.metadata").metadata.version(
            "devinterp"
        )
    write_json(
        out / "bench_llc.json",
        {
            "metadata": run_metadata(
                "benchmarks/bench_llc.py",
                {
                    "n": n,
                    "sgld": cfg,
                    "quick": args.quick,
                    "cases": CASES[: args.cases],
                    "occam_wide_mean_abs_rel_error": float(
                        np.mean([abs(r["occam_wide"]["llc"] - r["rlct"]) / r["rlct"] for r in rows])
                    ),
                    "occam_mean_abs_error_in_se": float(
                        np.mean(
                            [abs(r["occam"]["llc"] - r["rlct"]) / r["occam"]["se"] for r in rows]
                        )
                    ),
                    "torch_threads": THREADS,
                },
                seed=cfg.seed,
            ),
            "summary": summary,
            "cases": rows,
            "checkpoint": ck,
        },
    )
    _plot(rows, have_dv, out / "bench_llc")
    print(summary)
    if args.save:
        _check_save(args, have_dv)
        for path in save_results(out, SAVED):
            print(f"saved {path}")
    return 0


def _plot(rows, have_dv, stem) -> None:
    import matplotlib.pyplot as plt  # run_cli set MPLBACKEND=Agg: figures go to files only

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(12, 4.5))
    x = np.arange(len(rows))
    labels = [
        f"M{r['case']['M']} N{r['case']['N']}\nH{r['case']['H']} r{r['case']['r']}" for r in rows
    ]
    a1.bar(x - 0.3, [r["rlct"] for r in rows], 0.2, color="0.6", label="Aoyagi–Watanabe RLCT")
    a1.errorbar(
        x - 0.1,
        [r["occam"]["llc"] for r in rows],
        yerr=[2 * r["occam"]["se"] for r in rows],
        fmt="o",
        color="C0",
        label="occam SGLD (±2 SE)",
    )
    a1.errorbar(
        x,
        [r["occam_wide"]["llc"] for r in rows],
        yerr=[2 * r["occam_wide"]["se"] for r in rows],
        fmt="D",
        color="C2",
        label=f"occam, {WIDE}x the chains (±2 SE)",
    )
    if have_dv:
        a1.errorbar(
            x + 0.1,
            [r["devinterp"]["llc"] for r in rows],
            yerr=[2 * r["devinterp"]["se"] for r in rows],
            fmt="s",
            color="C1",
            label="devinterp SGLD (±2 SE)",
        )
    a1.scatter(
        x + 0.3, [r["d_over_2"] for r in rows], marker="x", color="C3", label="d/2 (regular)"
    )
    a1.set_xticks(x, labels, fontsize=8)
    a1.set_ylabel("learning coefficient")
    a1.set_title("Reduced-rank regression, n = 1e5: estimate vs true RLCT")
    a1.legend(fontsize=8)
    a1.grid(alpha=0.3, axis="y")
    a2.bar(x - 0.15, [r["occam"]["seconds"] for r in rows], 0.3, color="C0", label="occam")
    if have_dv:
        a2.bar(
            x + 0.15, [r["devinterp"]["seconds"] for r in rows], 0.3, color="C1", label="devinterp"
        )
    a2.set_xticks(x, labels, fontsize=8)
    a2.set_ylabel("CPU time (s), same chains and steps")
    a2.set_title(f"Speed ({THREADS} CPU thread)")
    a2.legend(fontsize=8)
    a2.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    save_figure(fig, stem)


if __name__ == "__main__":
    raise SystemExit(main())
