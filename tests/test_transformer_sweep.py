"""``transformer_check sweep`` (transformer_check.sweep on theory.base.sweeps): grid points resolve
the presets' values and hash the whole config, the spec refuses bad grids, and the CLI on a tiny
grid writes points.csv, sweep.json, figures and one run folder per point; a sweep killed with one
point half-trained (a checkpoint in work/<key>/) and one record damaged resumes to the same
points.csv as the uninterrupted sweep."""

from __future__ import annotations

import csv
import dataclasses
import math
import shutil

import pytest

from theory.base.errors import InputError
from theory.base.io import read_json
from theory.base.sweeps import point_key
from transformer_check.config import TrainConfig
from transformer_check.presets import preset
from transformer_check.sweep import AXES, TransformerSweepSpec, grid_points

torch = pytest.importorskip("torch")

GRID = ["--p", "11", "--steps", "40", "--measures", "fourier", "--seeds", "0", "1"]
GRID += ["--wd", "0.3,1", "--scheduler", "synchronous", "--quiet"]
SPEC = TransformerSweepSpec(
    seeds=(0, 1), p=(11,), steps=40, measures=("fourier",), weight_decay=(0.3, 1.0)
)
LABELS = ["preset", "op", "p", "frac", "weight_decay", "lr", "seed"]
FINAL = ["final_train_acc", "final_test_acc", "final_train_loss", "final_test_loss"]


def _csv(path, drop=()):
    with open(path) as fh:
        return [{k: v for k, v in r.items() if k not in drop} for r in csv.DictReader(fh)]


def _num(text):
    return None if text in ("", "None") else float(text)


# -- grid points ----------------------------------------------------------------------------------


def test_grid_points_resolve_the_preset_and_hash_the_config():
    pts = grid_points(TransformerSweepSpec(seeds=(0, 1), weight_decay=(0.3, 1.0)))
    q = preset("quick")
    # weight decay varies slower than the seed (AXES order), every label from the preset
    assert [(pt["labels"]["weight_decay"], pt["labels"]["seed"]) for _, pt in pts] == [
        (0.3, 0), (0.3, 1), (1.0, 0), (1.0, 1)
    ]  # fmt: skip
    for key, pt in pts:
        lab = pt["labels"]
        assert list(lab) == list(AXES)
        assert (lab["preset"], lab["op"], lab["p"], lab["frac"], lab["lr"]) == (
            "quick", "+", q.task.p, q.task.frac, q.lr
        )  # fmt: skip
        cfg = TrainConfig.from_dict(pt["config"])
        want = dataclasses.replace(
            q, weight_decay=lab["weight_decay"], seed=lab["seed"], device="cpu", snapshots=False
        )
        assert cfg == want
        assert key == point_key(key.rsplit("_", 1)[0], pt)
        wd = f"{lab['weight_decay']:g}"
        assert key.startswith(f"quick_add_p47_f0.4_wd{wd}_lr0.003_s{lab['seed']}_")
    assert len({k for k, _ in pts}) == 4


def test_settings_outside_the_labels_still_change_the_key():
    """Steps and measures are not columns, but they change the run: the key hashes them."""
    (k40, p40), = grid_points(TransformerSweepSpec(seeds=(0,), steps=40))  # fmt: skip
    (k41, p41), = grid_points(TransformerSweepSpec(seeds=(0,), steps=41))  # fmt: skip
    (km, pm), = grid_points(TransformerSweepSpec(seeds=(0,), steps=40, measures=("fourier",)))  # fmt: skip
    assert p40["labels"] == p41["labels"] == pm["labels"]
    assert len({k40, k41, km}) == 3
    assert TrainConfig.from_dict(pm["config"]).measures == ("fourier",)
    assert TrainConfig.from_dict(p41["config"]).steps == 41


def test_grid_points_follow_the_operation_and_its_preset_overrides():
    pts = grid_points(TransformerSweepSpec(preset=("demoss",), op=("+", "-"), seeds=(0,)))
    by_op = {pt["labels"]["op"]: (k, pt) for k, pt in pts}
    # demoss: + at f 0.2 with one layer, - at f 0.3 with two (DeMoss et al. (2024) Table A.1)
    assert by_op["+"][1]["labels"]["frac"] == 0.2 and by_op["-"][1]["labels"]["frac"] == 0.3
    assert TrainConfig.from_dict(by_op["-"][1]["config"]).model.n_layers == 2
    assert by_op["+"][0].startswith("demoss_add_") and by_op["-"][0].startswith("demoss_sub_")


def test_swept_names_the_axes_with_several_values():
    assert SPEC.swept() == ["weight_decay", "seed"]
    assert TransformerSweepSpec(seeds=(0,)).swept() == []
    spec = TransformerSweepSpec(seeds=(0,), frac=(0.3, 0.5), lr=(1e-3,), op=("+", "*"))
    assert spec.swept() == ["op", "frac"]


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"preset": ("fast",)}, "--preset: must be one of"),
        ({"preset": ()}, "--preset: empty grid"),
        ({"seeds": (0, 0)}, "--seeds: 0 given more than once"),
        ({"seeds": ()}, "--seeds: empty grid"),
        ({"seeds": (-1,)}, "--seeds"),
        ({"op": ("^",)}, "--op"),
        ({"p": (15,)}, "--p"),
        ({"frac": (0.0,)}, "--frac"),
        ({"frac": (1.0,)}, "--frac"),
        ({"weight_decay": (1.0, 1.0)}, "1.0 given more than once"),
        ({"weight_decay": (-0.1,)}, "--wd"),
        ({"lr": (0.0,)}, "--lr"),
        ({"steps": 0}, "--steps"),
    ],
)
def test_spec_refusals(kw, match):
    with pytest.raises(InputError, match=match) as exc:
        TransformerSweepSpec(**kw)
    assert "\n" not in str(exc.value)


# -- the CLI on a tiny grid, then killed and resumed ----------------------------------------------


def _blank_training_figure(*args, **kwargs):
    """Every run draws its training figure (PNG + SVG): about three quarters of a 40-step run's
    time. An empty figure keeps the file path tested and the sweep fast."""
    from matplotlib.figure import Figure

    return Figure(figsize=(1, 1))


@pytest.fixture(scope="module")
def fast_figures():
    mp = pytest.MonkeyPatch()
    mp.setattr("transformer_check.plots.plot_run", _blank_training_figure)
    threads = torch.get_num_threads()  # a synchronous sweep sets this process's thread count
    yield
    torch.set_num_threads(threads)
    mp.undo()


@pytest.fixture(scope="module")
def swept(tmp_path_factory, fast_figures):
    from transformer_check.cli import main

    out = tmp_path_factory.mktemp("tc-sweep") / "full"
    assert main(["sweep", *GRID, "--out", str(out)]) == 0
    return out


def test_sweep_cli_writes_points_csv(swept):
    rows = _csv(swept / "points.csv")
    pts = grid_points(SPEC)
    assert [r["key"] for r in rows] == [k for k, _ in pts]
    cols = list(rows[0])
    assert cols[: 1 + len(LABELS)] == ["key", *LABELS]
    for c in ("steps", "t_mem", "t_gen", "censored", "diverged", *FINAL):
        assert c in cols
    assert cols[-1] == "wall_s"
    measure_cols = [
        c for c in cols if c.endswith(("_peak", "_final")) and not c.startswith("final")
    ]
    assert {"fourier_ipr_peak", "fourier_ipr_final", "l2_norm_peak"} <= set(measure_cols)
    for row, (key, pt) in zip(rows, pts, strict=True):
        for lab in LABELS:
            assert row[lab] == str(pt["labels"][lab])
        assert row["steps"] == "40" and row["diverged"] == "False"
        assert (row["t_gen"] == "") == (row["censored"] == "True")
        assert float(row["wall_s"]) > 0
        # the numbers are those of the run's own files
        metrics = _csv(swept / "runs" / key / "metrics.csv")
        summary = read_json(swept / "runs" / key / "summary.json")
        assert _num(row["t_mem"]) == summary["t_mem"] and _num(row["t_gen"]) == summary["t_gen"]
        for c in FINAL:
            assert float(row[c]) == pytest.approx(float(metrics[-1][c.removeprefix("final_")]))
        for m in ("fourier_ipr", "l2_norm"):
            vals = [float(r[m]) for r in metrics if r.get(m) not in (None, "", "nan")]
            assert float(row[f"{m}_peak"]) == pytest.approx(max(vals), rel=1e-12)
            assert float(row[f"{m}_final"]) == pytest.approx(vals[-1], rel=1e-12)


def test_sweep_cli_writes_run_folders_figures_and_sweep_json(swept):
    keys = [k for k, _ in grid_points(SPEC)]
    assert sorted(p.name for p in (swept / "runs").iterdir()) == sorted(keys)
    for key in keys:
        run = swept / "runs" / key
        for f in ("metrics.csv", "summary.json", "checkpoints/last.json"):
            assert (run / f).is_file(), f"{key}: no {f}"
        rec = read_json(swept / "points" / f"{key}.json")
        assert rec["key"] == key and rec["resumed"] is False
        assert rec["metadata"]["command"] == "transformer_check sweep"
    assert list((swept / "work").iterdir()) == []  # no folder, no progress file left
    assert not (swept / "RUNNING").exists()
    for name in ("t_gen_vs_weight_decay", "phase_diagram"):
        for ext in ("png", "svg"):
            assert (swept / f"{name}.{ext}").stat().st_size > 1000
    js = read_json(swept / "sweep.json")
    assert (js["n_points"], js["n_run"], js["n_skipped"]) == (4, 4, 0)
    assert js["swept"] == ["weight_decay", "seed"]
    assert [r["key"] for r in js["points"]] == keys
    assert (js["metadata"]["scheduler"], js["metadata"]["threads_per_worker"]) == ("synchronous", 1)


def _half_train(cfg: TrainConfig, work, stop_after: int) -> None:
    """What a kill leaves: ``work`` with a checkpoint at ``stop_after`` rounded down to a save."""
    from transformer_check.train import train

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the sweep's workers (--threads-per-worker 1)
    try:
        part = dataclasses.replace(cfg, checkpoint_every=10)  # result-neutral (resume.py)
        train(part, work, progress=False, stop_after=stop_after, plot=False)
    finally:
        torch.set_num_threads(threads)


def test_killed_sweep_resumes_to_the_same_points_csv(swept, tmp_path, capsys):
    from transformer_check.cli import main

    pts = grid_points(SPEC)
    (k_half, p_half), (k_bad, _) = pts[1], pts[2]
    out = tmp_path / "killed"
    shutil.copytree(swept, out)
    # point 1 was killed at step 25: no record, no run folder, a checkpoint at step 20 in work/
    (out / "points" / f"{k_half}.json").unlink()
    shutil.rmtree(out / "runs" / k_half)
    _half_train(TrainConfig.from_dict(p_half["config"]), out / "work" / k_half, 25)
    assert read_json(out / "work" / k_half / "checkpoints" / "last.json")["step"] == 20
    (out / "work" / f"{k_half}.progress").write_text('{"done": 25, "total": 40, "what": ""}')
    # point 2's record was cut short (its run folder stays, stale)
    (out / "points" / f"{k_bad}.json").write_text('{"point": ')
    (out / "RUNNING").write_text("killed\n")
    untouched = {k: (out / "points" / f"{k}.json").read_text() for k, _ in (pts[0], pts[3])}
    capsys.readouterr()

    assert main(["sweep", *GRID, "--out", str(out), "--resume"]) == 0
    err = capsys.readouterr().err
    warnings = [ln for ln in err.splitlines() if "warning" in ln]
    assert len(warnings) == 1 and k_bad in warnings[0] and "not readable JSON" in warnings[0]
    # identical points.csv, wall times aside
    assert _csv(out / "points.csv", drop=("wall_s",)) == _csv(swept / "points.csv", ("wall_s",))
    js = read_json(out / "sweep.json")
    assert (js["n_run"], js["n_skipped"]) == (2, 2)
    assert read_json(out / "points" / f"{k_half}.json")["resumed"] is True
    assert read_json(out / "points" / f"{k_bad}.json")["resumed"] is False
    for k, text in untouched.items():
        assert (out / "points" / f"{k}.json").read_text() == text  # not run again
    # the continued run's metrics are the uninterrupted run's, step by step
    for k in (k_half, k_bad):
        again = _csv(out / "runs" / k / "metrics.csv", drop=("wall_s",))
        assert again == _csv(swept / "runs" / k / "metrics.csv", drop=("wall_s",))
    assert list((out / "work").iterdir()) == []
    assert not (out / "RUNNING").exists()


def test_a_diverged_or_censored_row_keeps_its_columns(swept):
    """Every row has every column, and a censored run's t_gen is empty, not 0."""
    rows = _csv(swept / "points.csv")
    assert len({tuple(r) for r in rows}) == 1
    for r in rows:
        if r["censored"] == "True":
            assert r["t_gen"] == ""
        else:
            assert int(r["t_gen"]) > 0 and not math.isnan(float(r["t_gen"]))


def test_a_point_reports_its_training_and_measure_steps(fast_figures, tmp_path):
    """``report(step, steps, what)`` reaches the run at every logged step and names the measure
    steps, which the sweep's per-point bars show (theory.base.sweeps progress files)."""
    from transformer_check.sweep import run_train_point

    spec = TransformerSweepSpec(seeds=(0,), p=(7,), steps=30, measures=("fourier",))
    ((_, pt),) = grid_points(spec)
    calls: list[tuple[int, int, str]] = []
    rec = run_train_point(pt, str(tmp_path / "w"), lambda d, t, w="": calls.append((d, t, w)))
    steps = [c[0] for c in calls]
    assert steps == sorted(set(steps)) and steps[0] == 0 and steps[-1] == 30
    assert {c[1] for c in calls} == {30}
    assert {c[2] for c in calls} == {"training", "measuring"}
    rows = _csv(tmp_path / "w" / "metrics.csv")
    measured = {int(r["step"]) for r in rows if r.get("fourier_ipr") not in (None, "", "nan")}
    assert {d for d, _, w in calls if w == "measuring"} == measured
    assert rec["resumed"] is False and rec["steps"] == 30
