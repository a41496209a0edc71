"""``python -m bdm``: damaged tables, caches and weight files are refused in one line (exit 2) or,
for a damaged cache, rebuilt with a one-line warning; the user's real cache is never touched."""

from __future__ import annotations

import gzip
import io
import json
import os
import pickle
import shutil

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors.numpy import save_file

from bdm.cli import main
from bdm.tables import TABLE_FILES, cache_dir, pybdm_data_dir

B2_2D = TABLE_FILES[(2, 2)]  # the table every default (quartile, 2-D) measure loads


@pytest.fixture
def weights(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "w.npz"
    np.savez(path, a=rng.normal(size=(12, 16)), b=rng.normal(size=(8, 8)))
    return path


@pytest.fixture
def out(tmp_path):
    return tmp_path / "out"


@pytest.fixture
def ctm_dir(tmp_path, monkeypatch):
    """A private copy of the pybdm tables (OCCAM_CTM_DIR) and a private, empty cache."""
    d = tmp_path / "ctmdata"
    shutil.copytree(
        pybdm_data_dir(), d, ignore=shutil.ignore_patterns("*b4*", "*b5*", "*b6*", "*b9*")
    )
    monkeypatch.setenv("OCCAM_CTM_DIR", str(d))
    monkeypatch.setenv("OCCAM_CACHE_DIR", str(tmp_path / "cache"))
    return d


# -- CTM tables ------------------------------------------------------------------------------


def test_truncated_table(ctm_dir, weights, out, refused):
    blob = (ctm_dir / B2_2D).read_bytes()
    (ctm_dir / B2_2D).write_bytes(blob[: len(blob) // 2])
    refused(
        main,
        ["measure", str(weights), "--out", str(out)],
        ["CTM table", "truncated", "reinstall"],
        out,
    )


def test_table_not_gzip(ctm_dir, weights, out, refused):
    (ctm_dir / B2_2D).write_bytes(b"this is not gzip at all" * 50)
    refused(
        main, ["measure", str(weights), "--out", str(out)], ["CTM table", "not a valid gzip"], out
    )


def test_table_gzip_bomb_stops_at_the_bound(ctm_dir, weights, out, refused):
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb") as gz:
        zeros = bytes(1 << 20)
        for _ in range(64):  # 64 MiB of zeros in ~64 KB; the genuine table is 0.9 MB
            gz.write(zeros)
    (ctm_dir / B2_2D).write_bytes(buf.getvalue())
    refused(main, ["measure", str(weights), "--out", str(out)], ["gzip bomb", "bytes"], out)


class _Evil:
    def __reduce__(self):
        return (os.system, ("touch PWNED",))


def test_code_executing_pickle_is_one_line(ctm_dir, weights, out, refused, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (ctm_dir / B2_2D).write_bytes(gzip.compress(pickle.dumps({(4, 4): _Evil()})))
    refused(main, ["measure", str(weights), "--out", str(out)], ["CTM table", "not allowed"], out)
    assert not (tmp_path / "PWNED").exists()


@pytest.mark.parametrize(
    "raw", [[1, 2, 3], {(4, 4): {"0" * 16: "x"}}, {(4, 4): {"01": 1.0}}, {"4x4": {}}]
)
def test_table_with_wrong_content(ctm_dir, weights, out, refused, raw):
    (ctm_dir / B2_2D).write_bytes(gzip.compress(pickle.dumps(raw)))
    refused(main, ["measure", str(weights), "--out", str(out)], "CTM table", out)


# -- the array cache: rebuilt with one warning, never trusted --------------------------------


def _measure(weights, out, capsys) -> tuple[float, list[str]]:
    capsys.readouterr()
    assert main(["measure", str(weights), "--out", str(out)]) == 0
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    return json.loads((out / "bdm_measure.json").read_text())["k_bdm_bits"], err


def _rewrite_cache(path, edit) -> None:
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    edit(arrays)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    path.write_bytes(buf.getvalue())


def _halve(a):
    a["ctm_0"] = a["ctm_0"] / 2


def _keys_out_of_range(a):
    a["keys_0"] = a["keys_0"] + (1 << 40)


@pytest.mark.parametrize(
    ("damage", "says"),
    [
        (_halve, "content hash"),
        (_keys_out_of_range, "content hash"),
        ("truncate", "unreadable or truncated"),
    ],
)
def test_damaged_cache_is_rebuilt_with_a_warning(ctm_dir, weights, tmp_path, capsys, damage, says):
    genuine, err = _measure(weights, tmp_path / "o1", capsys)
    assert err == []
    (cpath,) = cache_dir().glob("ctm-b2-d4x4.*.npz")
    if damage == "truncate":
        cpath.write_bytes(cpath.read_bytes()[:1000])
    else:
        _rewrite_cache(cpath, damage)
    again, err = _measure(weights, tmp_path / "o2", capsys)
    assert again == genuine
    assert len(err) == 1 and err[0].startswith("warning:") and says in err[0]
    third, err = _measure(weights, tmp_path / "o3", capsys)  # the rebuilt cache is trusted
    assert third == genuine and err == []


def test_cache_folder_is_a_file(ctm_dir, weights, tmp_path, capsys, monkeypatch):
    blocker = tmp_path / "blocker"
    blocker.write_text("not a folder")
    monkeypatch.setenv("OCCAM_CACHE_DIR", str(tmp_path))
    (tmp_path / "bdm").write_text("a file where the cache folder should be")
    value, err = _measure(weights, tmp_path / "o", capsys)
    assert value > 0
    assert len(err) == 1 and "cannot write the table cache" in err[0]


# -- weight files ----------------------------------------------------------------------------


def test_truncated_safetensors(tmp_path, out, refused):
    p = tmp_path / "m.safetensors"
    save_file({"w": np.ones((8, 8), np.float32)}, str(p))
    p.write_bytes(p.read_bytes()[:-40])
    refused(main, ["measure", str(p), "--out", str(out)], ["m.safetensors", "truncated"], out)


def test_truncated_npz(weights, out, refused):
    weights.write_bytes(weights.read_bytes()[:300])
    refused(main, ["measure", str(weights), "--out", str(out)], ["w.npz", "truncated"], out)


def test_truncated_npy(tmp_path, out, refused):
    p = tmp_path / "m.npy"
    np.save(p, np.ones((8, 8)))
    p.write_bytes(p.read_bytes()[:-10])
    refused(main, ["measure", str(p), "--out", str(out)], ["m.npy", "truncated"], out)


def test_bfloat16_safetensors(tmp_path, out, refused):
    import torch
    from safetensors.torch import save_file as save_torch

    p = tmp_path / "bf.safetensors"
    save_torch({"w": torch.ones(8, 8, dtype=torch.bfloat16)}, str(p))
    refused(main, ["measure", str(p), "--out", str(out)], ["bf.safetensors", "float32"], out)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(blob=st.binary(max_size=300), ext=st.sampled_from([".safetensors", ".npz", ".npy"]))
def test_garbage_files(tmp_path, refused, blob, ext):
    p = tmp_path / f"g{ext}"
    p.write_bytes(blob)
    refused(main, ["measure", str(p), "--out", str(tmp_path / "o")], f"g{ext}", tmp_path / "o")


def test_folder_and_missing_file(tmp_path, out, refused):
    (tmp_path / "d.npz").mkdir()
    refused(main, ["measure", str(tmp_path / "d.npz"), "--out", str(out)], "is a folder", out)
    refused(main, ["measure", str(tmp_path / "x.npz"), "--out", str(out)], "does not exist", out)


@pytest.mark.parametrize("dtype", [np.int64, np.int8, np.uint8, np.bool_])
def test_integer_weights_need_map_none(tmp_path, out, refused, dtype):
    p = tmp_path / "ints.npz"
    np.savez(p, w=(np.arange(64).reshape(8, 8) % 2).astype(dtype))
    refused(main, ["measure", str(p), "--out", str(out)], ["'w'", "integers", "--map none"], out)
    # Given as symbols, the same file is measured.
    assert main(["measure", str(p), "--map", "none", "--nsymbols", "2", "--out", str(out)]) == 0


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_weights(tmp_path, out, refused, bad):
    w = np.random.default_rng(0).normal(size=(8, 8))
    w[3, 3] = bad
    p = tmp_path / "nan.npz"
    np.savez(p, ok=np.ones((8, 8)), broken=w)
    refused(main, ["measure", str(p), "--out", str(out)], ["'broken'", "NaN or inf"], out)


def test_complex_weights(tmp_path, out, refused):
    p = tmp_path / "c.npz"
    np.savez(p, w=np.ones((8, 8), complex))
    refused(main, ["measure", str(p), "--out", str(out)], ["'w'", "not real-valued"], out)


def test_empty_tensors(tmp_path, out, refused, capsys):
    p = tmp_path / "e.npz"
    np.savez(p, e=np.zeros((0, 4)))
    refused(main, ["measure", str(p), "--out", str(out)], "no tensor is large enough", out)
    np.savez(p, e=np.zeros((0, 4)), w=np.random.default_rng(0).normal(size=(8, 8)))
    assert main(["measure", str(p), "--out", str(out)]) == 0
    assert "empty tensor" in capsys.readouterr().out


def test_unknown_tensor_lists_the_names(weights, out, refused):
    refused(
        main,
        ["blocks", str(weights), "--tensor", "nope", "--out", str(out)],
        ["--tensor", "'nope'", "available: a, b"],
        out,
    )


def test_map_none_symbols_outside_alphabet(tmp_path, out, refused):
    p = tmp_path / "s.npz"
    np.savez(p, w=np.full((8, 8), 3))
    refused(
        main,
        ["measure", str(p), "--map", "none", "--nsymbols", "2", "--out", str(out)],
        ["'w'", "outside the alphabet"],
        out,
    )
