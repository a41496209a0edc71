"""The base layer (theory.base): modular facts, configs as data, generated flags, Trajectory."""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import subprocess
import sys
from dataclasses import dataclass, field

import numpy as np
import pytest
import sympy
from hypothesis import given
from hypothesis import strategies as st

from theory.base import (
    OPS,
    FlagSpec,
    InputError,
    OccamArgumentParser,
    Trajectory,
    add_config_flags,
    apply_overrides,
    arg_type,
    check_choice,
    check_int,
    config_from_dict,
    config_to_dict,
    is_prime,
    load_config_file,
    op_table,
    overrides_from_args,
    primitive_root,
    replace_path,
    write_json,
)

# ------------------------------------------------------------------------------------------
# modular facts, against sympy and brute force


@given(st.integers(min_value=-5, max_value=5000))
def test_is_prime_matches_sympy(n):
    assert is_prime(n) == bool(sympy.isprime(n))


@pytest.mark.parametrize("p", [3, 5, 7, 11, 13, 31, 47, 97, 113, 211])
def test_primitive_root_is_the_smallest_generator(p):
    r = primitive_root(p)
    assert sorted(pow(r, k, p) for k in range(p - 1)) == list(range(1, p))
    assert r == int(sympy.primitive_root(p))  # sympy also returns the smallest one


@pytest.mark.parametrize("p", [3, 5, 7, 13])
def test_op_table_brute_force(p):
    for a in range(p):
        for b in range(p):
            assert op_table("+", p)[a, b] == (a + b) % p
            assert op_table("-", p)[a, b] == (a - b) % p
            assert op_table("*", p)[a, b] == (a * b) % p
            q = op_table("/", p)[a, b]
            # the defining property of division in Z_p; b = 0 is outside the domain
            assert (q == -1) if b == 0 else ((q * b) % p == a)
    assert OPS == ("+", "-", "*", "/")
    with pytest.raises(ValueError, match="op: must be one of"):
        op_table("%", 5)


def test_check_choice_lists_the_choices():
    assert check_choice("op", "+", OPS) == "+"
    with pytest.raises(InputError, match=r"op: must be one of \+, -, \*, /, got '%'"):
        check_choice("op", "%", OPS)


# ------------------------------------------------------------------------------------------
# configs as data


@dataclass(frozen=True)
class Inner:
    p: int = 31
    frac: float = 0.5
    seed: int = 0

    def __post_init__(self) -> None:
        check_int("p", self.p, lo=3)


@dataclass(frozen=True)
class Outer:
    inner: Inner = field(default_factory=Inner)
    lr: float = 1e-3
    betas: tuple[float, float] = (0.9, 0.98)
    measures: tuple[str, ...] = ("a", "b")
    amp: bool = False
    steps: int | None = None
    seed: int = 1
    name: str = "x"


def test_config_round_trip_through_json(tmp_path):
    cfg = Outer(inner=Inner(p=47, frac=0.4), betas=(0.8, 0.9), measures=("c",), steps=5)
    text = json.dumps(config_to_dict(cfg))
    assert config_from_dict(Outer, json.loads(text)) == cfg


def test_config_from_dict_refuses_unknown_fields_by_name():
    with pytest.raises(InputError, match=r"config\.inner: unknown field\(s\) q for Inner"):
        config_from_dict(Outer, {"inner": {"q": 1}})


def test_config_from_dict_runs_the_validation():
    with pytest.raises(InputError, match="p: must be an integer"):
        config_from_dict(Outer, {"inner": {"p": 2}})


def test_replace_path_and_overrides_rebuild_nested_configs():
    cfg = replace_path(Outer(), "inner.p", 97)
    assert cfg.inner == Inner(p=97) and cfg.lr == 1e-3
    cfg = apply_overrides(Outer(), {"inner.frac": 0.3, "lr": 0.1, "steps": None})
    assert (cfg.inner.frac, cfg.lr, cfg.steps) == (0.3, 0.1, None)
    with pytest.raises(InputError, match="inner.q: Inner has no field 'q'"):
        replace_path(Outer(), "inner.q", 1)


def test_load_config_file_reads_every_shape(tmp_path):
    cfg = Outer(inner=Inner(p=11), lr=0.5)
    shapes = {
        "bare.json": config_to_dict(cfg),
        "block.json": {"config": config_to_dict(cfg)},
        "run.json": {"metadata": {"command": "x", "config": config_to_dict(cfg)}, "t_gen": 3},
        "nested.json": {"metadata": {"config": {"outer": config_to_dict(cfg), "other": {}}}},
    }
    for name, data in shapes.items():
        write_json(tmp_path / name, data)
        block = "outer" if name == "nested.json" else None
        assert load_config_file(tmp_path / name, Outer, block=block) == cfg
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(InputError, match=r"--config: .*bad.json is not JSON"):
        load_config_file(tmp_path / "bad.json", Outer)
    with pytest.raises(InputError, match="--config: cannot read"):
        load_config_file(tmp_path / "missing.json", Outer)


# ------------------------------------------------------------------------------------------
# flags generated from a config dataclass

SPECS = {
    "inner.seed": FlagSpec(flag="--task-seed", help="split seed"),
    "inner.p": FlagSpec(check=arg_type(check_int, 3)),
    "name": FlagSpec(choices=("x", "y")),
}


def _parser() -> tuple[argparse.ArgumentParser, dict[str, str]]:
    parser = OccamArgumentParser(prog="t")
    return parser, add_config_flags(parser, Outer, SPECS, defaults=Outer())


def test_every_leaf_field_gets_a_flag():
    parser, dests = _parser()
    flags = {a for act in parser._actions for a in act.option_strings}
    leaves = {"inner.p", "inner.frac", "inner.seed", "lr", "betas", "measures", "amp", "steps"}
    assert leaves | {"seed", "name"} == set(dests.values())
    for f in ("--p", "--frac", "--task-seed", "--lr", "--betas", "--amp", "--no-amp", "--seed"):
        assert f in flags


def test_overrides_hold_only_the_flags_given():
    parser, dests = _parser()
    args = parser.parse_args(["--p", "47", "--betas", "0.5", "0.6", "--no-amp", "--measures"])
    ov = overrides_from_args(args, dests)
    assert ov == {"inner.p": 47, "betas": (0.5, 0.6), "amp": False, "measures": ()}
    cfg = apply_overrides(Outer(), ov)
    assert cfg.inner.p == 47 and cfg.betas == (0.5, 0.6) and cfg.measures == ()
    assert overrides_from_args(parser.parse_args([]), dests) == {}


def test_bad_flag_value_is_one_line_exit_2(capsys):
    parser, _ = _parser()
    with pytest.raises(SystemExit) as exc:
        parser.parse_args(["--p", "2"])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--p" in err[0] and "[3, inf]" in err[0]
    with pytest.raises(SystemExit):
        parser.parse_args(["--name", "z"])


def test_colliding_flag_names_are_a_programming_error():
    @dataclass(frozen=True)
    class Clash:
        inner: Inner = field(default_factory=Inner)
        seed: int = 0

    with pytest.raises(TypeError, match="--seed is taken"):
        add_config_flags(argparse.ArgumentParser(), Clash)


def test_cli_turns_input_error_into_one_line(tmp_path):
    code = (
        "from theory.base import run_cli, OccamArgumentParser, InputError\n"
        "def build():\n"
        "    p = OccamArgumentParser(prog='t'); s = p.add_subparsers()\n"
        "    c = s.add_parser('go'); c.set_defaults(func=f); return p\n"
        "def f(a): raise InputError('lr: must be > 0, got -1')\n"
        "raise SystemExit(run_cli(build, ['go']))\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert res.returncode == 2
    assert res.stderr.strip() == "t: error: lr: must be > 0, got -1"


# ------------------------------------------------------------------------------------------
# Trajectory

rows_strategy = st.lists(
    st.fixed_dictionaries(
        {"loss": st.floats(-1e6, 1e6)}, optional={"llc": st.floats(0, 100), "note": st.just("x")}
    ),
    min_size=1,
    max_size=20,
)


@given(rows_strategy)
def test_trajectory_from_rows_aligns_and_round_trips(rows):
    rows = [{"step": i, **r} for i, r in enumerate(rows)]
    tr = Trajectory.from_rows(rows, {"t_mem": 1, "t_gen": None})
    assert len(tr) == len(rows) and "note" not in tr
    assert np.array_equal(tr.steps, np.arange(len(rows), dtype=float))
    assert tr.t_mem == 1 and tr.t_gen is None
    for i, r in enumerate(rows):
        assert tr["loss"][i] == r["loss"]
        if "llc" in tr:
            got = tr["llc"][i]
            assert (math.isnan(got) and "llc" not in r) or got == r.get("llc")
    back = tr.to_rows()
    assert [b["loss"] for b in back] == [r["loss"] for r in rows]


def test_trajectory_refuses_misaligned_series():
    with pytest.raises(InputError, match="series 'x' has shape"):
        Trajectory(np.arange(3), {"x": np.zeros(2)})
    tr = Trajectory(np.arange(3), {"x": np.ones(3)})
    assert np.isnan(tr.series_or_nan("y")).all()
    with pytest.raises(InputError, match="no series 'y'; logged: x"):
        tr["y"]
    assert dataclasses.is_dataclass(tr)
