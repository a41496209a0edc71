"""CTM tables: found without importing pybdm, unpickled safely, cached atomically and correctly."""

from __future__ import annotations

import gzip
import json
import pickle
import subprocess
import sys
from collections import OrderedDict, defaultdict

import numpy as np
import pytest

from bdm.encoding import codes_to_digits, n_normalised_blocks
from bdm.tables import (
    CACHE_FORMAT,
    SafeUnpickler,
    _cache_path,
    load_table,
    pybdm_data_dir,
    safe_load_pickle,
)
from theory.base.errors import InputError


@pytest.fixture(scope="module", autouse=True)
def _cache(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    d = tmp_path_factory.getbasetemp() / "bdm-cache"
    mp.setenv("OCCAM_CACHE_DIR", str(d))
    yield d
    mp.undo()


def test_find_spec_does_not_import_pybdm():
    code = (
        "import sys, bdm.tables as t; d = t.pybdm_data_dir(); "
        "assert 'pybdm' not in sys.modules, 'imported'; "
        "t.load_table(1, 2); assert 'pybdm' not in sys.modules; print(d)"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip().endswith("ctmdata")


class _Boom:
    """Pickles to a call of ``os.system`` (any global outside the allow-list must be refused)."""

    def __init__(self, cmd):
        self.cmd = cmd

    def __reduce__(self):
        import os

        return (os.system, (self.cmd,))


def test_tampered_pickle_is_refused_and_runs_no_code(tmp_path):
    marker = tmp_path / "pwned"
    payload = defaultdict(
        dict, {(12,): OrderedDict([("0" * 12, 1.0)]), "x": _Boom(f"touch {marker}")}
    )
    data = pickle.dumps(payload)
    with pytest.raises(pickle.UnpicklingError, match=r"posix\.system|nt\.system|os\.system"):
        safe_load_pickle(data)
    assert not marker.exists()
    # Sanity: the same bytes would run the command under the plain unpickler's rules.
    assert b"system" in data


@pytest.mark.parametrize("glob", [b"builtins\neval\n", b"builtins\nexec\n", b"subprocess\nPopen\n"])
def test_refuses_other_globals(glob):
    data = b"c" + glob + b"(S'1'\ntR."  # protocol-0 GLOBAL then call
    with pytest.raises(pickle.UnpicklingError, match="not allowed"):
        SafeUnpickler(__import__("io").BytesIO(data)).load()


def test_genuine_pickle_loads_with_allowed_classes():
    raw = safe_load_pickle(gzip.decompress((pybdm_data_dir() / "ctm-b2-d12.pkl.gz").read_bytes()))
    assert isinstance(raw, defaultdict)
    assert isinstance(raw[(12,)], OrderedDict)
    assert raw[(12,)]["000000000000"] == 25.610413747641715


def test_table_contents_binary():
    t1 = load_table(1, 2)
    assert sorted(t1.shapes) == [(k,) for k in range(1, 13)]
    st = t1.shapes[(12,)]
    assert st.keys.size == 2048 == n_normalised_blocks(12, 2)
    # pybdm docs: CTM('000000000000') = 25.610413747641715 (its minimum).
    assert st.lookup(np.array([0]))[0][0] == 25.610413747641715 == st.min_ctm
    assert st.missing_ctm == st.max_ctm + 1
    t2 = load_table(2, 2)
    assert sorted(t2.shapes) == [(1, 1), (2, 2), (3, 3), (4, 4)]
    assert t2.shapes[(4, 4)].keys.size == 32768 == n_normalised_blocks(16, 2)


def test_table_matches_raw_pickle_entry_by_entry():
    t = load_table(2, 2)
    raw = safe_load_pickle(gzip.decompress((pybdm_data_dir() / "ctm-b2-d4x4.pkl.gz").read_bytes()))
    for shape, st in t.shapes.items():
        digits = codes_to_digits(st.keys, st.length, 2)
        keys = ["".join(map(str, row)) for row in digits]
        assert [raw[shape][k] for k in keys] == st.ctm.tolist()
        # pybdm order: CTM descending, ties in file order.
        file_order = sorted(raw[shape].items(), key=lambda kv: kv[1], reverse=True)
        assert [keys[i] for i in st.order] == [k for k, _ in file_order]


def test_four_symbol_table_coverage():
    t = load_table(1, 4)
    for length in range(1, 12):
        assert t.shapes[(length,)].keys.size == n_normalised_blocks(length, 4)
    # Length 12 is incomplete: 611921 of the 700075 normalised 4-symbol strings.
    assert t.shapes[(12,)].keys.size == 611921
    assert n_normalised_blocks(12, 4) == 700075


def test_cache_roundtrip_and_stamp(tmp_path):
    fresh = load_table(1, 2, cache=tmp_path)
    assert not fresh.from_cache
    path = _cache_path(tmp_path, "ctm-b2-d12.pkl.gz")
    assert path.is_file() and f".v{CACHE_FORMAT}." in path.name
    again = load_table(1, 2, cache=tmp_path)
    assert again.from_cache
    for shape in fresh.shapes:
        a, b = fresh.shapes[shape], again.shapes[shape]
        assert np.array_equal(a.keys, b.keys) and np.array_equal(a.ctm, b.ctm)
        assert np.array_equal(a.order, b.order) and np.array_equal(a.nsym, b.nsym)
    # A cache stamped for another source file is rebuilt, not trusted.
    with np.load(path) as z:
        payload = {k: z[k] for k in z.files}
    meta = json.loads(str(payload["meta"]))
    meta["source_sha256"] = "0" * 64
    payload["meta"] = np.array(json.dumps(meta))
    np.savez(path, **payload)
    assert not load_table(1, 2, cache=tmp_path).from_cache
    assert load_table(1, 2, cache=tmp_path).from_cache
    # A truncated cache file is rebuilt too.
    path.write_bytes(path.read_bytes()[:100])
    assert not load_table(1, 2, cache=tmp_path).from_cache
    assert not list(tmp_path.glob(".*.tmp"))


def test_cache_dir_env(tmp_path, monkeypatch):
    monkeypatch.setenv("OCCAM_CACHE_DIR", str(tmp_path))
    load_table(1, 2)
    assert (tmp_path / "bdm" / f"ctm-b2-d12.v{CACHE_FORMAT}.npz").is_file()


def test_no_table_errors(tmp_path):
    with pytest.raises(InputError, match="no published CTM table for ndim=2, nsymbols=3"):
        load_table(2, 3)
    with pytest.raises(InputError, match="pybdm"):
        load_table(1, 2, data_dir=tmp_path)
