"""The crosscheck's configs: every preset resolves to the settings it had before the configs
became nested (pinned values), presets name their training preset, validation, files."""

from __future__ import annotations

import dataclasses

import pytest

from theory.base.configs import config_from_dict, config_to_dict
from theory.base.errors import InputError
from transformer_check.crosscheck import PRESETS, CrosscheckConfig, TrainSettings, make_config
from transformer_check.crosscheck.config import (
    base_weight_decay,
    measure_options,
    seed_list,
    sfm_betas,
    sfm_configs,
    train_config,
)
from transformer_check.presets import preset

# The main run logs the progress measures and the LLC beside the built-in ones (the crosscheck
# once added them outside the TrainConfig); both runs checkpoint ten times (steps // 10), so a
# killed crosscheck continues. The ring (Zhang et al. (2026)) is logged since the condensation verdicts.
PROGRESS_MEASURES = ("sparsity", "weight_entropy", "circuit", "lmn", "mediation", "ring", "llc")

# What default, tiny and quick resolved to before the redesign (read from the flat config).
EXPECTED = {
    "default": {
        "main": {
            "task": {"p": 31, "op": "+", "frac": 0.5, "seed": 0, "fmt": "a b ="},
            "model": {
                "d_model": 64,
                "n_heads": 4,
                "d_head": 16,
                "d_mlp": 256,
                "n_layers": 1,
                "act": "relu",
                "layernorm": None,
                "init_scale": None,
            },
            "steps": 1500,
            "lr": 0.005,
            "weight_decay": 1.0,
            "betas": (0.9, 0.98),
            "warmup": 10,
            "seed": 0,
            "spectral_reg": 0.0,
            "weight_noise": 0.0,
            "device": "cpu",
            "amp": False,
            "eval_points": 60,
            "measure_points": 12,
            "measures": ("spectral", "compression", "fourier", "bdm", *PROGRESS_MEASURES),
            "coarse_eps": 0.1,
            "coarse_budget": 24,
            "checkpoint_every": 150,
            "snapshots": True,
            "preset": None,
        },
        "sweep_weight_decays": (0.3, 3.0),
        "sfm": {
            "p": 31,
            "f": 0.5,
            "op": "+",
            "schedule": "increasing",
            "betas": (0.01, 0.02, 0.04),
            "steps": 3000,
            "seed": 0,
        },
        "llc": {
            "eps": 0.0001,
            "gamma": 100.0,
            "n_chains": 2,
            "n_steps": 100,
            "n_burnin": 30,
            "seed": 0,
        },
        "lmn": {"n_samples": 32, "seed": 0},
        "mediation": {"n_pairs": 64, "seed": 0},
        "parallel_sweep": True,
    },
    "tiny": {
        "main": {
            "task": {"p": 11, "op": "+", "frac": 0.6, "seed": 0, "fmt": "a b ="},
            "model": {
                "d_model": 32,
                "n_heads": 2,
                "d_head": 16,
                "d_mlp": 64,
                "n_layers": 1,
                "act": "relu",
                "layernorm": None,
                "init_scale": None,
            },
            "steps": 60,
            "lr": 0.005,
            "weight_decay": 1.0,
            "betas": (0.9, 0.98),
            "warmup": 10,
            "seed": 0,
            "spectral_reg": 0.0,
            "weight_noise": 0.0,
            "device": "cpu",
            "amp": False,
            "eval_points": 10,
            "measure_points": 4,
            "measures": ("fourier", *PROGRESS_MEASURES),
            "coarse_eps": 0.1,
            "coarse_budget": 24,
            "checkpoint_every": 6,
            "snapshots": True,
            "preset": None,
        },
        "sweep_weight_decays": (3.0,),
        "sfm": {
            "p": 11,
            "f": 0.6,
            "op": "+",
            "schedule": "increasing",
            "betas": (0.01, 0.02, 0.04),
            "steps": 200,
            "seed": 0,
        },
        "llc": {
            "eps": 0.0001,
            "gamma": 100.0,
            "n_chains": 2,
            "n_steps": 10,
            "n_burnin": 5,
            "seed": 0,
        },
        "lmn": {"n_samples": 8, "seed": 0},
        "mediation": {"n_pairs": 16, "seed": 0},
        "parallel_sweep": False,
    },
    "quick": {
        "main": {
            "task": {"p": 47, "op": "+", "frac": 0.4, "seed": 0, "fmt": "a b ="},
            "model": {
                "d_model": 128,
                "n_heads": 4,
                "d_head": 32,
                "d_mlp": 512,
                "n_layers": 1,
                "act": "relu",
                "layernorm": None,
                "init_scale": None,
            },
            "steps": 3000,
            "lr": 0.003,
            "weight_decay": 1.0,
            "betas": (0.9, 0.98),
            "warmup": 10,
            "seed": 0,
            "spectral_reg": 0.0,
            "weight_noise": 0.0,
            "device": "auto",
            "amp": False,
            "eval_points": 200,
            "measure_points": 25,
            "measures": ("spectral", "compression", "fourier", "bdm", *PROGRESS_MEASURES),
            "coarse_eps": 0.1,
            "coarse_budget": 24,
            "checkpoint_every": 300,
            "snapshots": True,
            "preset": "quick",
        },
        "sweep_weight_decays": (0.3, 3.0),
        "sfm": {
            "p": 47,
            "f": 0.4,
            "op": "+",
            "schedule": "increasing",
            "betas": (0.01, 0.02, 0.04),
            "steps": 3000,
            "seed": 0,
        },
        "llc": {
            "eps": 0.0001,
            "gamma": 100.0,
            "n_chains": 2,
            "n_steps": 100,
            "n_burnin": 30,
            "seed": 0,
        },
        "lmn": {"n_samples": 32, "seed": 0},
        "mediation": {"n_pairs": 64, "seed": 0},
        "parallel_sweep": True,
    },
}


def _option_triples(exp):
    """The main run's ``measure_options``: (measure, field, value) of the pinned settings."""
    llc, lmn, med = exp["llc"], exp["lmn"], exp["mediation"]
    return (
        ("weight_entropy", "per_matrix", False),
        ("circuit", "seed", llc["seed"]),
        ("lmn", "n_samples", lmn["n_samples"]),
        ("lmn", "seed", lmn["seed"]),
        ("mediation", "n_pairs", med["n_pairs"]),
        ("mediation", "seed", med["seed"]),
        *(("llc", k, llc[k]) for k in ("eps", "gamma", "n_chains", "n_steps", "n_burnin", "seed")),
    )


def _tuples(o):
    if isinstance(o, list | tuple):
        return tuple(_tuples(x) for x in o)
    if isinstance(o, dict):
        return {k: _tuples(v) for k, v in o.items()}
    return o


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_presets_resolve_to_the_pinned_settings(name):
    cfg = make_config(name)
    exp = EXPECTED[name]
    wd = base_weight_decay(cfg)
    main = train_config(cfg, wd, with_measures=True)
    got = _tuples(config_to_dict(main))
    assert {k: got[k] for k in exp["main"]} == exp["main"]
    assert main.measure_options == _option_triples(exp)
    # fields TrainConfig gained since stay at their defaults
    for f in dataclasses.fields(main):
        if f.name not in exp["main"] and f.name != "measure_options":
            assert getattr(main, f.name) == f.default, f.name
    sweep_wds = tuple(wd * m for m in cfg.train.wd_sweep if m != 1.0)
    assert sweep_wds == exp["sweep_weight_decays"]
    for w in sweep_wds:
        sweep = train_config(cfg, w, with_measures=False)
        assert sweep == dataclasses.replace(
            main,
            weight_decay=w,
            measures=(),
            measure_points=0,
            measure_options=(),
            snapshots=False,
        )
    r = cfg.resolved()
    sfm = {
        "p": r.p,
        "f": r.frac,
        "op": r.op,
        "schedule": r.sfm.schedule,
        "betas": tuple(sfm_betas(r)),
        "steps": r.sfm.steps,
        "seed": r.seed,
    }
    assert sfm == exp["sfm"]
    opts = measure_options(r)
    assert opts["llc"] == exp["llc"]
    assert opts["lmn"] == exp["lmn"] and opts["mediation"] == exp["mediation"]
    assert opts["weight_entropy"] == {"per_matrix": False} and opts["ring"] == {}
    assert cfg.train.parallel_sweep == exp["parallel_sweep"]


def test_sfm_configs_follow_the_settings():
    from transformer_check.crosscheck.config import sfm_configs

    confs = sfm_configs(make_config("tiny"))
    assert [c.beta for c in confs] == sfm_betas(make_config("tiny"))
    assert {(c.p, c.f, c.steps) for c in confs} == {(11, 0.6, 200)}


@pytest.mark.parametrize("name", ["quick", "nanda", "paper004"])
def test_presets_name_their_training_preset(name):
    cfg = PRESETS[name]
    assert cfg.train_preset == name and cfg.p is None and cfg.frac is None
    train = preset(name)
    r = cfg.resolved()
    assert (r.p, r.frac, r.train.steps) == (train.task.p, train.task.frac, train.steps)
    assert base_weight_decay(cfg) == preset(name).weight_decay


def test_overrides_and_validation():
    cfg = make_config("quick", {"p": 53, "train.steps": 10})
    assert train_config(cfg, 1.0, True).task.p == 53 and cfg.resolved().frac == 0.4
    with pytest.raises(InputError, match="p:"):
        CrosscheckConfig(p=30)
    with pytest.raises(InputError, match="wd_sweep"):
        TrainSettings(wd_sweep=(0.0,))
    with pytest.raises(InputError, match="train.lr"):
        CrosscheckConfig(train_preset="quick", train=TrainSettings(lr=1.0))
    with pytest.raises(InputError, match="preset"):
        make_config("nope")


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_configs_round_trip_through_json(name):
    cfg = PRESETS[name].resolved()
    assert config_from_dict(CrosscheckConfig, config_to_dict(cfg)) == cfg
    assert cfg.resolved() == cfg


def test_seeds_field_seed_list_and_per_seed_configs():
    cfg = dataclasses.replace(make_config("tiny"), seed=3, seeds=2)
    assert seed_list(cfg) == [3, 4]
    assert seed_list(make_config("tiny")) == [0, 1]
    assert seed_list(make_config("default")) == [0, 1, 2]
    # every preset states its seeds; more than one wherever a run is minutes, not GPU-days
    assert {n: c.seeds for n, c in PRESETS.items()} == {
        "default": 3, "tiny": 2, "quick": 4, "nanda": 3, "deep": 3, "paper004": 1
    }  # fmt: skip
    main4 = train_config(cfg, 1.0, with_measures=True, seed=4)
    main3 = train_config(cfg, 1.0, with_measures=True)
    assert (main3.seed, main4.seed) == (3, 4)
    # without a training preset the seed draws the split too (the flag's help says so)
    assert (main3.task.seed, main4.task.seed) == (3, 4)
    # the progress measures and the LLC sample with the run's seed
    seeds4 = {(m, v) for m, k, v in main4.measure_options if k == "seed"}
    assert seeds4 == {(m, 4) for m in ("circuit", "lmn", "mediation", "llc")}
    assert dataclasses.replace(main4, seed=3, task=main3.task, measure_options=()) == (
        dataclasses.replace(main3, measure_options=())
    )
    # with a training preset the split stays the preset's, the init follows the seed
    q = train_config(make_config("quick"), 1.0, with_measures=False, seed=5)
    assert (q.seed, q.task.seed) == (5, preset("quick").task.seed)
    sf = sfm_configs(cfg, seed=4)
    assert {c.seed for c in sf} == {4} and {c.seed for c in sfm_configs(cfg)} == {3}


@pytest.mark.parametrize("seeds", [0, -1, 1001])
def test_seeds_field_is_checked(seeds):
    with pytest.raises(InputError, match="seeds"):
        CrosscheckConfig(seeds=seeds)


def test_the_sweep_runs_of_every_seed_have_distinct_keys():
    from transformer_check.crosscheck.run import transformer_points

    cfg = dataclasses.replace(make_config("tiny"), seeds=3)
    pts = transformer_points(cfg)
    assert len(pts) == 3 * 2 and len({k for k, _ in pts}) == 6
    mains = [pt for _, pt in pts if pt["labels"]["role"] == "main"]
    assert [pt["labels"]["seed"] for pt in mains] == [0, 1, 2]
    assert all(pt["keep_rows"] for pt in mains)
    # a different seed count keeps the shared seeds' runs (so --seeds 3 reuses a --seeds 2 run)
    two = {k for k, _ in transformer_points(dataclasses.replace(cfg, seeds=2))}
    assert two < {k for k, _ in pts}


def test_deep_models_are_skip_ablated_on_their_thirds():
    cfg = make_config("default")
    assert "ranges" not in measure_options(cfg, n_layers=2)["mediation"]
    assert measure_options(cfg, n_layers=6)["mediation"]["ranges"] == ((0, 2), (2, 4), (4, 6))


def test_the_deep_preset_decides_the_condensations_and_omits_the_llc():
    cfg = make_config("deep")
    main = train_config(cfg, 1.0, with_measures=True)
    assert (main.model.n_layers, main.model.layernorm, main.preset) == (6, "pre", "deep")
    assert "llc" not in main.measures and {"ring", "bdm", "mediation"} <= set(main.measures)
    assert ("mediation", "ranges", ((0, 2), (2, 4), (4, 6))) in main.measure_options
    assert not any(name == "llc" for name, _, _ in main.measure_options)
    assert main.snapshots and cfg.train.wd_sweep == (1.0,) and cfg.seeds == 3
    with pytest.raises(InputError, match="omit: must be one of"):
        make_config("default", {"train.omit": ("nope",)})
