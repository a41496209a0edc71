"""transformer_check.sweep_plots: phase rules, the order-statistic CI of the median, figures."""

from __future__ import annotations

import itertools
import math
from math import comb

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from matplotlib.figure import Figure
from scipy import stats

from theory.base.errors import InputError
from theory.base.io import save_figure
from transformer_check import sweep_plots as sp


def row(**kw):
    """One points.csv row of a run that groks (quick preset numbers), fields overridden by kw."""
    r = dict(
        key="k0", seed=0, preset="quick", op="+", p=47, frac=0.4, weight_decay=1.0, lr=3e-3,
        steps=3000, t_mem=44, t_gen=1097, censored=False, final_train_acc=1.0,
        final_test_acc=1.0, final_train_loss=1e-4, final_test_loss=1e-3, diverged=False,
        coarse_bytes_peak=9e4, coarse_bytes_final=1e4, wall_s=1.0,
    )  # fmt: skip
    r.update(kw)
    r["censored"] = r["t_gen"] is None
    return r


def grid(wds=(0.3, 1.0, 3.0), fracs=(0.3, 0.4, 0.6), seeds=range(4), steps=3000, **kw):
    """Synthetic sweep: t_gen ~ 1000 / wd (0.4 / frac)^2 with seed scatter; censored > steps."""
    rng = np.random.default_rng(0)
    rows = []
    for wd, frac, seed in itertools.product(wds, fracs, seeds):
        t = 1000 / max(wd, 0.1) * (0.4 / frac) ** 2 * math.exp(rng.normal(0, 0.3))
        tg = int(t) if t < steps else None
        rows.append(row(key=f"wd{wd}_fr{frac}_se{seed}", seed=seed, weight_decay=wd, frac=frac,
                        steps=steps, t_gen=tg, t_mem=44 if frac < 0.6 else None, **kw))  # fmt: skip
    return rows


# --- classification ------------------------------------------------------------------------


def test_train_thresholds_agree_with_event_detection():
    from transformer_check import events

    assert sp.TRAIN_FIT_ACC == events.MEM_TRAIN_ACC == 0.99
    # the docstring's rule and detect_events agree on a quick-preset-like history
    hist = [
        {"step": 0, "train_acc": 0.02, "test_acc": 0.02},
        {"step": 44, "train_acc": 0.995, "test_acc": 0.1},
        {"step": 1097, "train_acc": 1.0, "test_acc": 0.992},
    ]
    t_mem, t_gen = events.detect_events(hist)
    assert sp.classify_run(row(t_mem=t_mem, t_gen=t_gen)) == "groks"


@pytest.mark.parametrize(
    "kw, phase",
    [
        ({}, "groks"),  # t_gen 1097 = 25 t_mem
        ({"t_mem": 44, "t_gen": 88}, "groks"),  # exactly the lag ratio 2
        ({"t_mem": 44, "t_gen": 87}, "generalises directly"),  # just under it
        ({"t_mem": 44, "t_gen": 46}, "generalises directly"),  # one logging interval later
        ({"t_mem": None, "t_gen": 300}, "generalises directly"),  # test rose with train
        ({"t_mem": 500, "t_gen": 300}, "generalises directly"),  # t_mem after a test collapse
        ({"t_gen": None}, "memorises"),
        ({"t_gen": None, "t_mem": None, "final_train_acc": 0.995}, "memorises"),  # partial test
        ({"t_gen": None, "t_mem": None, "final_train_acc": 0.98}, "fails"),
        ({"t_gen": None, "t_mem": None, "final_train_acc": float("nan")}, "fails"),
        ({"t_gen": None, "t_mem": None, "final_train_acc": None}, "fails"),
        ({"diverged": True, "t_gen": None, "final_train_acc": float("nan")}, "fails"),
        ({"diverged": True}, "fails"),  # generalised, then the loss blew up
    ],
)
def test_classify_run(kw, phase):
    assert sp.classify_run(row(**kw)) == phase


def test_classify_options():
    assert sp.classify_run(row(t_mem=44, t_gen=87), lag_ratio=1.0) == "groks"
    assert sp.classify_run(row(t_mem=44, t_gen=1097), lag_ratio=30) == "generalises directly"
    fit = row(t_gen=None, t_mem=None, final_train_acc=0.95)
    assert sp.classify_run(fit, acc_threshold=0.9) == "memorises"


def test_majority_phase_groups_the_seeds_of_a_point():
    # the sweep's key names the seed too: points are grouped by their axis values, not by key
    rows = [row(key=f"a-se{s}", seed=s) for s in range(3)] + [row(key="a-se3", seed=3, t_gen=None)]
    rows += [row(key=f"b-se{s}", seed=s, frac=0.5, t_gen=t) for s, t in ((0, None), (1, 900))]
    rows += [row(key="c-se0", seed=0, frac=0.6, diverged=True)]
    a, b, c = sp.majority_phase(rows[::-1])[::-1]
    assert a == {
        "point": dict(weight_decay=1.0, frac=0.4, lr=3e-3, p=47, op="+", preset="quick"),
        "phase": "groks",
        "fraction": 0.75,
        "n": 4,
        "counts": {"groks": 3, "generalises directly": 0, "memorises": 1, "fails": 0},
        "seeds": [0, 1, 2, 3],
    }  # fmt: skip
    assert (b["point"]["frac"], b["phase"], b["fraction"]) == (0.5, "groks", 0.5)  # tie: groks
    assert (c["phase"], c["fraction"], c["n"]) == ("fails", 1.0, 1)


def test_swept_axes():
    assert sp.swept_axes(grid()) == ["weight_decay", "frac"]
    assert sp.swept_axes([row(seed=s) for s in range(3)]) == []
    rows = [row(key=f"{op}{lr}", op=op, lr=lr) for op in "+-" for lr in (1e-3, 3e-3)]
    assert sp.swept_axes(rows) == ["lr", "op"]


# --- the order-statistic interval of the median ----------------------------------------------


def brute_force(x, level):
    """Coverage of [x_(r), x_(n+1-r)] by counting the 2^n above/below-median patterns, the
    largest r reaching ``level``, and the interval read off the padded sorted sample."""
    n = len(x)
    best = 0
    for r in range(1, (n + 1) // 2 + 1):
        # the interval misses the median iff fewer than r sample points lie below it or above it
        miss = sum(comb(n, k) for k in range(n + 1) if k < r or n - k < r)
        if 1 - miss / 2**n >= level:
            best = r
    miss = sum(comb(n, k) for k in range(n + 1) if k < best or n - k < best)
    padded = [0.0, *sorted(x), math.inf]
    return best, 1 - miss / 2**n, padded[best], padded[n + 1 - best]


t_values = st.lists(
    st.one_of(st.integers(0, 10**6).map(float), st.just(math.inf)), min_size=1, max_size=40
)


@settings(max_examples=200, deadline=None)
@given(t_values, st.sampled_from([0.5, 0.8, 0.9, 0.95, 0.99]))
def test_interval_matches_brute_force_order_statistics(x, level):
    got = sp.median_interval(x, level)
    r, cov, lo, hi = brute_force(x, level)
    assert (got["rank"], got["lo"], got["hi"]) == (r, lo, hi)
    assert got["coverage"] == pytest.approx(cov, rel=1e-12)
    assert got["coverage"] >= level
    s = sorted(x)
    n = len(s)
    mid = s[(n - 1) // 2 : n // 2 + 1]
    assert got["median"] == (sum(mid) / len(mid) if math.isfinite(sum(mid)) else math.inf)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(0, 1e6), min_size=1, max_size=40), st.randoms(use_true_random=False))
def test_interval_contains_median_and_is_permutation_invariant(x, rnd):
    got = sp.median_interval(x)
    assert got["lo"] <= got["median"] <= got["hi"]
    assert got["median"] == pytest.approx(float(np.median(x)), rel=1e-12, abs=1e-9)
    y = list(x)
    rnd.shuffle(y)
    assert sp.median_interval(y) == got


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.integers(0, 10**4).map(float), min_size=1, max_size=40),
    st.integers(0, 10**4),
    st.sampled_from([0.8, 0.95]),
)
def test_censoring_only_widens_the_interval(x, budget, level):
    # the true t_gen x; a budget hides every value above it (inf): the interval from the censored
    # sample contains the one from the true sample, so its coverage is at least the nominal one
    true = sp.median_interval(x, level)
    cen = sp.median_interval([v if v <= budget else math.inf for v in x], level, budget)
    assert cen["rank"] == true["rank"]
    assert cen["lo"] <= true["lo"] and cen["hi"] >= true["hi"]
    assert cen["lo"] <= cen["median"] <= cen["hi"]
    s = sorted(x)
    upper_mid = s[len(s) // 2]
    # the median is unknown (inf) exactly when a middle run is censored
    assert cen["median"] == (math.inf if upper_mid > budget else true["median"])


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(0, 10**5).map(float), min_size=6, max_size=60, unique=True))
def test_interval_agrees_with_scipy_quantile_test(x):
    ci = stats.quantile_test(x, q=float(np.median(x)), p=0.5).confidence_interval(0.95)
    got = sp.median_interval(x, 0.95)
    assert (got["lo"], got["hi"]) == (ci.low, ci.high)


def test_small_samples_have_no_finite_95_interval():
    # 1 - 2 / 2^n >= 0.95 first holds at n = 6 (0.96875); n = 5 gives 0.9375
    for n in range(1, 6):
        got = sp.median_interval(list(range(1, n + 1)))
        assert (got["rank"], got["lo"], got["hi"], got["coverage"]) == (0, 0.0, math.inf, 1.0)
    got = sp.median_interval(list(range(1, 7)))
    assert (got["rank"], got["lo"], got["hi"]) == (1, 1.0, 6.0)
    assert got["coverage"] == pytest.approx(1 - 2 / 64)
    # four seeds reach 87.5% with their range
    assert sp.median_interval([4.0, 1.0, 3.0, 2.0], 0.8)["coverage"] == pytest.approx(0.875)


def test_interval_coverage_by_simulation():
    # exponential t_gen, true median ln 2; n = 10 -> r = 2, coverage 1 - 2 * 11 / 1024 = 0.9785
    n, trials = 10, 4000
    x = np.random.default_rng(1).exponential(size=(trials, n))
    r = sp.median_interval(x[0])["rank"]
    assert r == 2
    s = np.sort(x, axis=1)
    hit = (s[:, r - 1] <= math.log(2)) & (math.log(2) <= s[:, n - r])
    cov = 1 - 2 * 11 / 1024
    se = math.sqrt(cov * (1 - cov) / trials)
    assert abs(hit.mean() - cov) < 4 * se
    # censoring at the 70% quantile (censored = inf) keeps the interval valid: coverage >= nominal
    c = -math.log(0.3)
    cen = np.where(x > c, np.inf, x)
    bounds = np.array([[b["lo"], b["hi"]] for b in (sp.median_interval(v, 0.95, c) for v in cen)])
    hit = (bounds[:, 0] <= math.log(2)) & (math.log(2) <= bounds[:, 1])
    assert hit.mean() >= cov - 4 * se


def test_bands_group_series_and_treat_censored_as_inf():
    rows = grid()
    bands = sp.t_gen_bands(rows, "weight_decay")
    assert len(bands) == 9
    assert [b["value"] for b in bands[:3]] == [0.3, 1.0, 3.0]
    assert [b["series"] for b in bands[::3]] == [{"frac": 0.3}, {"frac": 0.4}, {"frac": 0.6}]
    for b in bands:
        at = (b["value"], b["series"]["frac"])
        mine = [r for r in rows if (r["weight_decay"], r["frac"]) == at]
        t = [math.inf if r["t_gen"] is None else r["t_gen"] for r in mine]
        assert b["t_gen"] == t and b["seeds"] == [0, 1, 2, 3]
        assert b["n"] == 4 and b["n_censored"] == sum(r["censored"] for r in mine)
        assert b["steps"] == 3000
        assert {k: b[k] for k in ("median", "lo", "hi", "rank")} == {
            k: v for k, v in sp.median_interval(t, censor_at=3000).items() if k != "coverage"
        }
    first = bands[0]  # wd 0.3, frac 0.3: t_gen ~ 5900 > 3000, every seed censored
    assert first["n_censored"] == 4 and first["median"] == math.inf
    # a diverged run without t_gen counts as never generalising
    rows[-1].update(diverged=True, t_gen=None)
    assert sp.t_gen_bands(rows, "weight_decay")[-1]["n_censored"] == 1
    # the order of the rows does not matter
    assert sp.t_gen_bands(rows[::-1], "frac") == sp.t_gen_bands(rows, "frac")


# --- figures -----------------------------------------------------------------------------------


def _saved(fig, tmp_path, name):
    assert isinstance(fig, Figure)
    paths = save_figure(fig, tmp_path / name)
    assert sorted(p.suffix for p in paths) == [".png", ".svg"]
    assert all(p.exists() and p.stat().st_size > 1000 for p in paths)


def test_plot_sweep_grid(tmp_path):
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    figs = sp.plot_sweep(grid())
    assert plt.get_fignums() == before  # bare Figures: no pyplot state
    source = open(sp.__file__).read()
    assert "import matplotlib.pyplot" not in source and "matplotlib.use(" not in source
    assert sorted(figs) == ["phase_diagram", "t_gen_vs_frac", "t_gen_vs_weight_decay"]
    ax = figs["t_gen_vs_weight_decay"].axes[0]
    assert (ax.get_xscale(), ax.get_yscale()) == ("log", "log")
    assert "weight decay" in ax.get_xlabel() and "steps" in ax.get_ylabel()
    assert figs["t_gen_vs_frac"].axes[0].get_xscale() == "linear"
    texts = [t.get_text() for t in figs["phase_diagram"].axes[0].texts]
    assert len(texts) == 9 and any(t.startswith("G 100% of 4\nt_gen ") for t in texts)
    assert any(t.startswith("M ") for t in texts) and any(t.startswith("D ") for t in texts)
    for name, fig in figs.items():
        _saved(fig, tmp_path, name)


@pytest.mark.parametrize(
    "rows, names",
    [
        (grid(seeds=[0]), ["phase_diagram", "t_gen_vs_frac", "t_gen_vs_weight_decay"]),
        (grid(steps=10), ["phase_diagram", "t_gen_vs_frac", "t_gen_vs_weight_decay"]),
        (grid(wds=(1.0,)), ["phase_diagram", "t_gen_vs_frac"]),  # a one-column diagram
        (grid(fracs=(0.4,)), ["phase_diagram", "t_gen_vs_weight_decay"]),  # a one-row diagram
        (grid(wds=(1.0,), fracs=(0.4,)), ["t_gen"]),  # seeds only
        (grid(wds=(1.0,), fracs=(0.4,), seeds=[0], steps=10), ["t_gen"]),  # one censored run
        (grid(wds=(0.0, 1.0), fracs=(0.4,)), ["phase_diagram", "t_gen_vs_weight_decay"]),
        (grid(seeds=range(8)), ["phase_diagram", "t_gen_vs_frac", "t_gen_vs_weight_decay"]),
    ],
    ids=["one-seed", "all-censored", "one-wd", "one-frac", "one-point", "one-run", "wd0", "8"],
)
def test_figures_build_on_edge_cases(rows, names, tmp_path):
    figs = sp.plot_sweep(rows)
    assert sorted(figs) == names
    for name, fig in figs.items():
        _saved(fig, tmp_path, name)


def test_other_axes_become_series_and_panels(tmp_path):
    rows = [
        r | {"key": f"{r['key']}-{op}-{lr}", "op": op, "lr": lr}
        for op in "+*"
        for lr in (1e-3, 3e-3)
        for r in grid(wds=(0.3, 1.0), fracs=(0.3, 0.5), seeds=range(6))
    ]
    figs = sp.plot_sweep(rows)
    assert sorted(figs) == [
        "phase_diagram", "t_gen_vs_frac", "t_gen_vs_lr", "t_gen_vs_op", "t_gen_vs_weight_decay",
    ]  # fmt: skip
    assert len([a for a in figs["phase_diagram"].axes if a.axison]) == 4  # op x lr panels
    ax = figs["t_gen_vs_op"].axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["*", "+"]
    labels = ax.get_legend().get_texts()
    assert sum("frac=" in t.get_text() for t in labels) == 8  # frac x lr x wd series
    assert figs["t_gen_vs_lr"].axes[0].get_xscale() == "log"
    for name in ("t_gen_vs_op", "phase_diagram"):  # the other figures are saved above
        _saved(figs[name], tmp_path, name)


def test_band_drawn_only_where_the_interval_is_finite():
    ax = sp.plot_t_gen_vs(grid(seeds=range(8)), "weight_decay").axes[0]
    assert ax.collections and not any("no band" in t.get_text() for t in ax.texts)
    ax = sp.plot_t_gen_vs(grid(), "weight_decay").axes[0]
    note = [t.get_text() for t in ax.texts if "no band" in t.get_text()]
    assert len(note) == 1 and "87.5%" in note[0]  # 4 seeds: no finite 95% CI


def test_bad_input():
    with pytest.raises(InputError, match="no points"):
        sp.plot_sweep([])
    with pytest.raises(InputError, match="missing column"):
        sp.classify_run({"key": "a"})
    with pytest.raises(InputError, match="axis"):
        sp.t_gen_bands(grid(), "seed")
    with pytest.raises(InputError, match="level"):
        sp.median_interval([1.0, 2.0], level=1.0)
    with pytest.raises(InputError, match="values"):
        sp.median_interval([])
    with pytest.raises(InputError, match="acc_threshold"):
        sp.classify_run(row(), acc_threshold=1.5)
