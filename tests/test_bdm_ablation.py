"""The K_BDM ablation (transformer_check.bdm_ablation and its CLI).

Pooled against per-tensor BDM: the exact relation tested below. For a block ``r`` held by ``k_r``
tensors with counts ``n_1..n_k >= 1``, the per-tensor sum pays ``k_r CTM(r) + sum_i log2 n_i``
and the pooled multiset ``CTM(r) + log2 sum_i n_i``, so

    per_tensor - pooled = sum_r [(k_r - 1) CTM(r) + sum_i log2 n_i - log2 sum_i n_i]   (exact).

Bounds: ``max_i n_i <= sum_i n_i <= k max_i n_i <= k prod_i n_i`` (every ``n_i >= 1``) gives

    sum_r [(k_r - 1) CTM(r) - log2 k_r]  <=  per_tensor - pooled
        <=  sum_r [(k_r - 1) CTM(r) + sum_i log2 n_i - max_i log2 n_i],

and with ``log2 k <= k - 1`` the lower bound is ``>= sum_r (k_r - 1)(CTM(r) - 1)``: pooled is at
most per-tensor whenever every shared block costs at least 1 bit (every table's minimum CTM is
above 22 bits, checked below), with equality iff no block is shared (one tensor in particular).
"""

from __future__ import annotations

import csv
import json
import math
import shutil
from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bdm.weights import to_symbols
from theory.base.errors import InputError
from transformer_check import bdm_ablation as ab
from transformer_check.cli import main
from transformer_check.data import TaskConfig
from transformer_check.model import ArchConfig
from transformer_check.train import TrainConfig, load_model, train

# -- pooled against per-tensor ----------------------------------------------------------------

ENGINES = [(4, "2d"), (2, "2d"), (4, "1d"), (2, "1d")]


def _blocks(sym: np.ndarray, layout: str) -> list[np.ndarray]:
    """Non-overlapping blocks from the origin, leftovers dropped (written here, independently)."""
    if layout == "1d":
        seq = sym.ravel()
        return [seq[i : i + 12] for i in range(0, seq.size - seq.size % 12, 12)]
    r, c = sym.shape
    return [
        sym[i : i + 4, j : j + 4] for i in range(0, r - r % 4, 4) for j in range(0, c - c % 4, 4)
    ]


def _ctm(bdm, block: np.ndarray) -> float:
    # the BDM of exactly one block is its CTM (its count is 1, log2 1 = 0)
    return bdm.bdm(block)


def _brute(mats: list[np.ndarray], nsymbols: int, layout: str):
    """Per-tensor and pooled BDM, the exact gap and its two bounds, by explicit enumeration."""
    bdm = ab.engine(nsymbols, layout)
    per_counts = [Counter(b.tobytes() for b in _blocks(m, layout)) for m in mats]
    example = {b.tobytes(): b for m in mats for b in _blocks(m, layout)}
    ctm = {k: _ctm(bdm, b) for k, b in example.items()}
    per = math.fsum(ctm[k] + math.log2(n) for c in per_counts for k, n in c.items())
    total = Counter()
    for c in per_counts:
        total.update(c)
    pooled = math.fsum(ctm[k] + math.log2(n) for k, n in total.items())
    lo = hi = 0.0
    for k in total:
        ns = [c[k] for c in per_counts if k in c]
        shared = (len(ns) - 1) * ctm[k]
        lo += shared - math.log2(len(ns))
        hi += shared + sum(map(math.log2, ns)) - max(map(math.log2, ns))
    return per, pooled, lo, hi


def _counts(mats, nsymbols, layout):
    bdm = ab.engine(nsymbols, layout)
    return {f"t{i}": bdm.count(m.ravel() if layout == "1d" else m) for i, m in enumerate(mats)}


def _palette_matrices(seed: int, nsymbols: int, shapes, palette: int) -> list[np.ndarray]:
    """Matrices tiled from a few random 4x12 tiles, so that blocks repeat within and across."""
    rng = np.random.default_rng(seed)
    tiles = rng.integers(0, nsymbols, size=(palette, 4, 12), dtype=np.int8)
    out = []
    for r, c in shapes:
        rows = [np.concatenate(list(tiles[rng.integers(0, palette, c)]), axis=1) for _ in range(r)]
        out.append(np.concatenate(rows, axis=0))
    return out


def test_every_table_costs_more_than_one_bit():
    """The premise of pooled <= per-tensor (module docstring)."""
    for ns, lay in ENGINES:
        bdm = ab.engine(ns, lay)
        assert bdm.table.min_ctm(bdm.shape) > 1.0


@pytest.mark.parametrize(("mapping", "layout"), [(m, lay) for m in ab.MAPS for lay in ab.LAYOUTS])
def test_pooled_equals_per_tensor_for_one_tensor(mapping, layout):
    w = np.random.default_rng(1).normal(size=(24, 36)).astype(np.float32)
    counts = ab.tensor_block_counts({"w": w}, mapping, layout)
    per = ab.per_tensor_bdm(counts)
    pooled = ab.pooled_bdm(counts["w"])
    # the same terms summed by the same compensated sum: equal to about one ulp of the total
    assert pooled == pytest.approx(per, rel=1e-13)
    bdm = ab.engine(4 if mapping == "quartile" else 2, layout)
    sym = to_symbols(w, mapping, bdm.nsymbols).astype(np.int8)
    assert per == pytest.approx(bdm.bdm(sym.ravel() if layout == "1d" else sym), rel=1e-13)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**31),
    engine=st.sampled_from(ENGINES),
    shapes=st.lists(st.tuples(st.integers(1, 3), st.integers(1, 3)), min_size=1, max_size=4),
    palette=st.integers(1, 4),
)
def test_pooled_matches_brute_force_and_the_exact_bounds(seed, engine, shapes, palette):
    ns, lay = engine
    mats = _palette_matrices(seed, ns, shapes, palette)
    counts = _counts(mats, ns, lay)
    per = ab.per_tensor_bdm(counts)
    pooled = ab.pooled_bdm(bc for c in counts.values() for bc in c)
    b_per, b_pooled, lo, hi = _brute(mats, ns, lay)
    tol = 1e-9 * max(1.0, b_per)  # sums of a few hundred terms of ~30 bits
    assert per == pytest.approx(b_per, abs=tol)
    assert pooled == pytest.approx(b_pooled, abs=tol)
    gap = per - pooled
    assert lo - tol <= gap <= hi + tol
    assert pooled <= per + tol
    if len(mats) == 1:
        assert gap == pytest.approx(0.0, abs=tol)


def test_pooled_bdm_refuses_nothing():
    with pytest.raises(InputError, match="counts"):
        ab.pooled_bdm([])


# -- summaries --------------------------------------------------------------------------------

STEPS = [0, 10, 20, 30, 40, 100]
VALS = [10.0, 14.0, 16.0, 15.0, 12.0, 8.0]
RAW = [100.0, 90.0, 80.0, 70.0, 60.0, 50.0]


def test_summary_by_hand():
    s = ab.summarise_trajectory(STEPS, VALS, t_mem=10, t_gen=40, raw=RAW)
    assert s.plateau_steps == (10, 20, 30) and s.plateau == pytest.approx(15.0)
    assert (s.init, s.max, s.max_step, s.final) == (10.0, 16.0, 20, 8.0)
    assert s.rise == pytest.approx(0.5)
    assert s.drop == pytest.approx(7 / 15)
    assert s.drop_raw == pytest.approx(30 / 80)
    assert s.drop_minus_raw == pytest.approx(7 / 15 - 30 / 80)
    assert s.rises_then_falls is True


def test_plateau_falls_back_to_the_checkpoint_nearest_t_mem():
    assert ab.summarise_trajectory(STEPS, VALS, 12, 15).plateau_steps == (10,)
    assert ab.summarise_trajectory(STEPS, VALS, 15, 18).plateau_steps == (20,)  # tie: the later


@pytest.mark.parametrize(
    ("t_mem", "t_gen", "why"),
    [(None, 40, "t_mem"), (10, None, "t_gen"), (10, 200, "precedes t_gen")],
)
def test_undefined_summaries_say_why(t_mem, t_gen, why):
    s = ab.summarise_trajectory(STEPS, VALS, t_mem, t_gen, RAW)
    assert s.rise is None and s.drop is None and s.rises_then_falls is None
    assert why in s.note and s.final == 8.0


@settings(max_examples=60, deadline=None)
@given(
    vals=st.lists(st.floats(1e-3, 1e6), min_size=6, max_size=6),
    scale=st.floats(1e-3, 1e3),
    t_mem=st.integers(0, 100),
    gap=st.integers(1, 100),
)
def test_rise_and_drop_are_scale_free(vals, scale, t_mem, gap):
    a = ab.summarise_trajectory(STEPS, vals, t_mem, min(t_mem + gap, 100))
    b = ab.summarise_trajectory(STEPS, [scale * v for v in vals], t_mem, min(t_mem + gap, 100))
    assert a.plateau_steps == b.plateau_steps
    assert b.rise == pytest.approx(a.rise, rel=1e-9, abs=1e-12)
    assert b.drop == pytest.approx(a.drop, rel=1e-9, abs=1e-12)


def test_summary_refuses_bad_input():
    with pytest.raises(InputError, match="steps"):
        ab.summarise_trajectory([0, 5, 5], [1, 2, 3], 1, 2)
    with pytest.raises(InputError, match="values"):
        ab.summarise_trajectory([0], [1.0], 0, 1)


def test_spread_and_variant_summary():
    sp = ab.spread([0.1, None, 0.3, 0.2])
    assert (sp.n, sp.lo, sp.hi) == (3, 0.1, 0.3) and sp.mean == pytest.approx(0.2)
    assert ab.spread([None]) == ab.Spread(0, None, None, None)
    good = ab.summarise_trajectory(STEPS, VALS, 10, 40, RAW)
    bad = ab.summarise_trajectory(STEPS, VALS, None, 40, RAW)
    (vs,) = ab.summarise_variants([{"x": good}, {"x": bad}, {"x": good}], ["x"])
    assert (vs.n_runs, vs.n_left_out, vs.n_rises_then_falls) == (2, 1, 2)
    assert vs.drop.mean == pytest.approx(7 / 15)
    table = ab.markdown_table([vs])
    assert "| x | 2 (+1 left out) | 2/2 | +50.0% [+50.0%, +50.0%] |" in table
    assert "range" in table


def test_variants_grid_and_filter():
    assert len(ab.VARIANTS) == 8 and ab.VARIANT_NAMES[0] == ab.PAPER_VARIANT
    assert [v.name for v in ab.parse_variants(["median-1d-pooled", ab.PAPER_VARIANT])] == [
        ab.PAPER_VARIANT,
        "median-1d-pooled",
    ]
    with pytest.raises(InputError, match="--variants"):
        ab.parse_variants(["quartile-3d-pooled"])


# -- a tiny real run and the CLI --------------------------------------------------------------


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A 24-step run on p = 11 with snapshots at the measure steps 0, 1, 5, 24 (~3 s)."""
    cfg = TrainConfig(
        task=TaskConfig(p=11, frac=0.5),
        model=ArchConfig(d_model=16, n_heads=2, d_head=8, d_mlp=32),
        steps=24,
        eval_points=8,
        measure_points=3,
        checkpoint_every=8,
        measures=("bdm",),
        snapshots=True,
        device="cpu",
    )
    out = tmp_path_factory.mktemp("abl") / "run"
    train(cfg, out, progress=False, plot=False)
    return out


def _read_csv(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_cli_writes_everything_and_matches_training_log(run_dir, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["bdm-ablation", str(run_dir), "--quiet", "--out", str(out)]) == 0
    for name in ("ablation.csv", "summary.csv", "ablation.json", "ablation.md"):
        assert (out / name).is_file(), name
    assert (out / "ablation.png").is_file() and (out / "ablation.svg").is_file()
    rows = _read_csv(out / "ablation.csv")
    assert {r["variant"] for r in rows} == {*ab.VARIANT_NAMES, ab.RAW}
    logged = {
        int(r["step"]): float(r["bdm_bits"])
        for r in _read_csv(run_dir / "metrics.csv")
        if r["bdm_bits"]
    }
    ours = {int(r["step"]): float(r["bits"]) for r in rows if r["variant"] == ab.PAPER_VARIANT}
    assert sorted(ours) == sorted(logged) == [0, 1, 5, 24]
    for step, bits in ours.items():
        # the same blocks, CTM values and summation order as bdm_measures: equal to rounding
        assert bits == pytest.approx(logged[step], rel=1e-12)
    model, *_ = load_model(run_dir / "checkpoints" / "last.json")
    from transformer_check.measures.compression import naive_bz2_bytes

    raw = [float(r["bits"]) for r in rows if r["variant"] == ab.RAW and r["step"] == "24"]
    assert raw == [8.0 * naive_bz2_bytes(model)]
    data = json.loads((out / "ablation.json").read_text())
    assert "metadata" in data and len(data["variants"]) == 9 and len(data["runs"]) == 1
    assert [c["step"] for c in data["runs"][0]["checkpoints"]] == [0, 1, 5, 24]
    assert len(_read_csv(out / "summary.csv")) == 9
    assert (out / "ablation.md").read_text().count("\n| ") == 9


def test_cli_sweep_runs_and_events_from_summary(run_dir, tmp_path):
    """Two sweep points (copies of the run, one with events written into its summary)."""
    sweep = tmp_path / "sweep"
    for key in ("a", "b"):
        shutil.copytree(run_dir, sweep / "runs" / key)
    summ = sweep / "runs" / "b" / "summary.json"
    data = json.loads(summ.read_text())
    summ.write_text(json.dumps({**data, "t_mem": 1, "t_gen": 5}))
    out = tmp_path / "out"
    argv = ["bdm-ablation", "--runs-from", str(sweep), "--variants", "median-1d-pooled"]
    assert main([*argv, "--quiet", "--out", str(out)]) == 0
    res = json.loads((out / "ablation.json").read_text())
    assert [r["name"] for r in res["runs"]] == ["a", "b"]
    b = res["runs"][1]["summaries"]
    vals = {
        int(r["step"]): float(r["bits"])
        for r in _read_csv(out / "ablation.csv")
        if r["run"] == "b" and r["variant"] == "median-1d-pooled"
    }
    want = ab.summarise_trajectory([0, 1, 5, 24], [vals[s] for s in (0, 1, 5, 24)], 1, 5)
    assert b["median-1d-pooled"]["plateau_steps"] == [1]
    assert b["median-1d-pooled"]["rise"] == pytest.approx(want.rise, rel=1e-12)
    assert res["runs"][0]["summaries"]["median-1d-pooled"]["note"].startswith("no t_mem")
    summary = {r["variant"]: r for r in _read_csv(out / "summary.csv")}
    assert set(summary) == {"median-1d-pooled", ab.RAW}
    assert summary["median-1d-pooled"]["n_runs"] == "1"


def _refused(capsys, argv, out):
    rc = main([*argv, "--quiet", "--out", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "Traceback" not in err[0], err
    assert not out.exists()
    return err[0]


def test_refusals_are_one_line_and_leave_no_files(run_dir, tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "not a training run" in _refused(capsys, ["bdm-ablation", str(empty)], tmp_path / "o1")
    one = tmp_path / "one"
    shutil.copytree(run_dir, one)
    for f in (one / "checkpoints").glob("step_*"):
        f.unlink()  # last and prev are both step 24: one step is left
    assert "2 or" in _refused(capsys, ["bdm-ablation", str(one)], tmp_path / "o2")
    assert "runs/" in _refused(capsys, ["bdm-ablation", "--runs-from", str(empty)], tmp_path / "o3")
    assert "twice" in _refused(
        capsys, ["bdm-ablation", str(run_dir), str(run_dir)], tmp_path / "o4"
    )
    with pytest.raises(SystemExit) as exc:
        main(
            [
                "bdm-ablation",
                str(run_dir),
                "--variants",
                "quartile-3d",
                "--out",
                str(tmp_path / "o5"),
            ]
        )
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--variants" in err[0] and not (tmp_path / "o5").exists()
