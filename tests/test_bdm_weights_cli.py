"""Weights to symbols, K_BDM over named tensors, file inputs and the ``python -m bdm`` CLI."""

from __future__ import annotations

import json
import math
import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from safetensors.numpy import save_file

from bdm import BDM, Correlated
from bdm.cli import main
from bdm.weights import as_matrix, k_bdm, load_tensors, median_symbols, quartile_symbols
from theory.base.errors import InputError


@settings(max_examples=50, deadline=None)
@given(w=arrays(np.float64, st.integers(1, 200), elements=st.floats(-10, 10, allow_nan=False)))
def test_quartile_symbols_count_boundaries_below(w):
    s = quartile_symbols(w)
    q = np.quantile(w, [0.25, 0.5, 0.75])
    expect = np.array([sum(v > b for b in q) for v in w])
    np.testing.assert_array_equal(s, expect)
    assert s.dtype == np.int8 and s.min() >= 0 and s.max() <= 3


def test_quartile_symbols_balanced_for_distinct_values():
    w = np.random.default_rng(0).normal(size=4000)
    assert np.bincount(quartile_symbols(w)).tolist() == [1000, 1000, 1000, 1000]
    assert np.bincount(median_symbols(w)).tolist() == [2000, 2000]
    with pytest.raises(InputError, match="NaN"):
        quartile_symbols(np.array([1.0, np.nan]))


def test_as_matrix():
    assert as_matrix(np.zeros(())).shape == (1, 1)
    assert as_matrix(np.zeros(7)).shape == (1, 7)
    # k-D: leading axes flattened into rows, the last axis kept (docs/bdm.md, "Weights").
    assert as_matrix(np.zeros((3, 2, 5))).shape == (6, 5)
    w = np.arange(24).reshape(2, 3, 4)
    np.testing.assert_array_equal(as_matrix(w, "W_Q")[3:], w[1])


def test_k_bdm_is_sum_over_tensors():
    rng = np.random.default_rng(1)
    t = {"a": rng.normal(size=(16, 20)), "b": rng.normal(size=(8, 8)), "bias": rng.normal(size=5)}
    res = k_bdm(t)
    assert res.table == "BITPLANE-B4-D4X4" and res.nsymbols == 4
    b = BDM(2, 4)
    parts = [b.bdm(quartile_symbols(t["a"])), b.bdm(quartile_symbols(t["b"]))]
    assert res.total_bdm == pytest.approx(math.fsum(parts), rel=1e-15)
    skipped = [x for x in res.tensors if x.result is None]
    assert [x.name for x in skipped] == ["bias"] and "4x4" in skipped[0].skipped
    one_d = k_bdm(t, layout="1d")
    assert one_d.table == "CTM-B4-D12"
    assert one_d.tensors[0].result.bdm == pytest.approx(
        BDM(1, 4).bdm(quartile_symbols(t["a"]).ravel()), rel=1e-15
    )
    # Totals: NBDM of the collection from summed bounds; entropy of the pooled blocks.
    ra, rb = res.tensors[0].result, res.tensors[1].result
    lo, hi = ra.bdm_min + rb.bdm_min, ra.bdm_max + rb.bdm_max
    assert res.total_nbdm == pytest.approx((res.total_bdm - lo) / (hi - lo), rel=1e-14)
    same = k_bdm({"a": t["a"], "a2": t["a"].copy()})
    assert same.pooled_entropy == pytest.approx(same.tensors[0].result.entropy, abs=1e-12)
    assert same.total_nbdm is not None
    corr = k_bdm({"a": t["a"]}, partition=Correlated(1))
    assert corr.total_nbdm is None and "correlated" in corr.total_nbdm_note
    med = k_bdm(t, mapping="median")
    assert med.table == "CTM-B2-D4X4"
    with pytest.raises(InputError, match="no tensor is large enough"):
        k_bdm({"bias": t["bias"]})


def test_load_tensors(tmp_path):
    a = np.arange(12.0).reshape(3, 4)
    np.save(tmp_path / "w.npy", a)
    np.savez(tmp_path / "w.npz", x=a, y=a.T)
    save_file({"x": a.astype(np.float32)}, str(tmp_path / "w.safetensors"))
    assert np.array_equal(load_tensors(tmp_path / "w.npy")["w"], a)
    assert set(load_tensors(tmp_path / "w.npz")) == {"x", "y"}
    assert load_tensors(tmp_path / "w.safetensors")["x"].dtype == np.float32
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(InputError, match="without unpickling"):
        load_tensors(tmp_path / "obj.npy")
    with pytest.raises(InputError, match="unsupported extension"):
        (tmp_path / "w.pt").write_bytes(b"x")
        load_tensors(tmp_path / "w.pt")
    with pytest.raises(InputError, match="does not exist"):
        load_tensors(tmp_path / "nope.npy")


@pytest.fixture
def weights_file(tmp_path):
    rng = np.random.default_rng(2)
    path = tmp_path / "model.safetensors"
    save_file(
        {
            "embed": rng.normal(size=(24, 32)).astype(np.float32),
            "mlp.w": rng.normal(size=(32, 16)).astype(np.float32),
            "mlp.b": rng.normal(size=16).astype(np.float32),
        },
        str(path),
    )
    return path


def test_cli_measure(weights_file, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["measure", str(weights_file), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "K_BDM" in text and "mlp.b" in text and "smaller than one 4x4 block" in text
    doc = json.loads((out / "bdm_measure.json").read_text())
    assert doc["metadata"]["command"] == "bdm measure"
    assert doc["table"] == "BITPLANE-B4-D4X4"
    rows = {r["tensor"]: r for r in doc["tensors"]}
    expect = BDM(2, 4).bdm(quartile_symbols(load_tensors(weights_file)["embed"]))
    assert rows["embed"]["bdm_bits"] == pytest.approx(expect, rel=1e-15)
    assert doc["k_bdm_bits"] == pytest.approx(rows["embed"]["bdm_bits"] + rows["mlp.w"]["bdm_bits"])
    for ext in ("csv", "png", "svg"):
        assert (out / f"bdm_measure.{ext}").stat().st_size > 0


def test_cli_blocks(weights_file, tmp_path):
    out = tmp_path / "blocks"
    assert main(["blocks", str(weights_file), "--tensor", "embed", "--out", str(out)]) == 0
    assert (out / "blocks_embed.png").stat().st_size > 0
    assert (out / "blocks_embed.svg").stat().st_size > 0
    doc = json.loads((out / "bdm_blocks.json").read_text())
    assert doc["tensors"][0]["n_blocks"] == (24 // 4) * (32 // 4)
    out1 = tmp_path / "blocks1d"
    assert main(["blocks", str(weights_file), "--layout", "1d", "--out", str(out1)]) == 0
    assert (out1 / "blocks_mlp_b.png").is_file()


@pytest.mark.parametrize(
    ("arr", "args", "message"),
    [
        (np.zeros((8, 8)), ["--map", "none", "--nsymbols", "2"], "expected integer symbols"),
        (np.full((8, 8), 3), ["--map", "none", "--nsymbols", "2"], "outside the alphabet"),
        (np.zeros((8, 8), int), ["--map", "none", "--nsymbols", "5"], "no CTM table for ndim=2"),
        (np.zeros((3, 3), int), ["--map", "none", "--nsymbols", "2"], "no tensor is large enough"),
        (np.zeros((8, 8), int), ["--map", "none"], "--nsymbols: required"),
        (np.zeros((8, 8), int), ["--map", "none", "--nsymbols", "2", "--block", "6"], "sides 1..4"),
    ],
)
def test_cli_errors(arr, args, message, tmp_path, capsys):
    np.save(tmp_path / "x.npy", arr)
    assert main(["measure", str(tmp_path / "x.npy"), *args, "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_cli_bad_partition(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["measure", "x.npy", "--partition", "diagonal"])
    assert exc.value.code == 2
    assert "unknown partition" in capsys.readouterr().err


def test_figures_leave_the_users_backend_alone():
    """bdm's figure functions return a Figure and keep the backend a notebook user chose."""
    import subprocess
    import sys

    code = (
        "import matplotlib; matplotlib.use('svg')\n"
        "import numpy as np\n"
        "from bdm.cli import blocks_figure, measure_figure\n"
        "rows = [{'tensor': 'w', 'bdm_bits': 10.0, 'blocks': 2, 'nbdm': 0.5}]\n"
        "figs = [measure_figure(rows, 't'), blocks_figure(np.ones((2, 2)), 'w', '4x4', 't', '2d')]\n"
        "assert matplotlib.get_backend() == 'svg', matplotlib.get_backend()\n"
        "assert all(type(f).__name__ == 'Figure' for f in figs)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
