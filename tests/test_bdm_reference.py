"""Exactness against pybdm 0.1.0 values committed in tests/data/bdm (make_reference.py).

Tolerances: BDM and entropy are sums of the same float terms as pybdm's, in another order
(``math.fsum``), so they agree to the rounding of a left-to-right sum: < 1e-12 relative. Normalised
BDM is a ratio of such sums: < 1e-12 absolute. pybdm's perturbation deltas are differences of two
running totals of size ``BDM``, so they carry a cancellation error of a few ulp(BDM).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bdm import BDM, parse_partition
from bdm.perturbation import perturbation
from theory.base.errors import InputError

DATA = Path(__file__).parent / "data" / "bdm"
REF = json.loads((DATA / "reference.json").read_text())
CASES = {c["name"]: c for c in REF["cases"]}


@pytest.fixture(scope="module")
def inputs():
    with np.load(DATA / "reference_inputs.npz", allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


@pytest.fixture(scope="module")
def engines():
    tables = {}

    def get(c):
        key = (c["ndim"], c["nsymbols"])
        name, arg = c["partition"]
        part = parse_partition(name if arg is None else f"{name}:{arg}")
        b = BDM(c["ndim"], c["nsymbols"], c["side"], part, table=tables.get(key))
        tables[key] = b.table
        return b

    return get


def test_reference_covers_the_brief():
    alphabets = {(c["ndim"], c["nsymbols"]) for c in REF["cases"]}
    assert alphabets == {(1, 2), (1, 4), (1, 5), (1, 6), (1, 9), (2, 2)}
    assert {c["partition"][0] for c in REF["cases"]} == {"ignore", "recursive", "correlated"}
    assert any(c["missing_warnings"] > 0 for c in REF["cases"])
    assert REF["metadata"]["pybdm"] == "0.1.0"


@pytest.mark.parametrize("name", sorted(CASES))
def test_matches_pybdm(name, inputs, engines):
    c = CASES[name]
    b = engines(c)
    r = b.measure(inputs[c["array"]])
    assert r.bdm == pytest.approx(c["bdm"], rel=1e-12, abs=0)
    assert r.entropy == pytest.approx(c["ent"], rel=1e-12, abs=1e-15)
    assert r.n_blocks == c["n_blocks"]
    # pybdm warns once per looked-up block absent from the table.
    assert r.n_missing_blocks == c["missing_warnings"]
    if c["partition"][0] == "correlated":
        assert r.nbdm is None and "correlated" in r.nbdm_note
        assert c["nbdm_error"] == "NotImplementedError"
    elif c["nbdm_comparable"]:
        assert r.nbdm == pytest.approx(c["nbdm"], abs=1e-12)
    else:
        # pybdm normalises Recursive with first-level tile shapes it cannot look up (it raises);
        # we use the shapes of the blocks actually counted (docs/bdm.md), which stays in [0, 1].
        assert c["nbdm"] is None
        assert 0.0 <= r.nbdm <= 1.0


@pytest.mark.parametrize("pert", REF["perturbations"], ids=lambda p: p["case"])
def test_perturbation_matches_pybdm(pert, inputs, engines):
    c = CASES[pert["case"]]
    b = engines(c)
    x = inputs[c["array"]]
    vals = np.array(pert["values"])
    tol = 16 * np.spacing(c["bdm"])
    r = perturbation(b, x, values=vals)
    np.testing.assert_allclose(r.delta, pert["delta_bdm"], rtol=0, atol=tol)
    assert r.base_value == pytest.approx(c["bdm"], rel=1e-12)
    r_ent = perturbation(b, x, values=vals, metric="ent")
    np.testing.assert_allclose(r_ent.delta, pert["delta_ent"], rtol=0, atol=1e-12)
    idx = np.stack(np.unravel_index(np.arange(60), x.shape), axis=1)
    r_seq = perturbation(b, x, idx=idx, values=vals[:60], keep_changes=True)
    np.testing.assert_allclose(r_seq.delta, pert["delta_bdm_kept_first60"], rtol=0, atol=4 * tol)


def test_pybdm_docstring_values():
    # Values printed in pybdm 0.1.0's own doctests.
    assert BDM(1).bdm(np.ones(12, dtype=int)) == pytest.approx(25.610413747641715, rel=1e-15)
    assert BDM(2).bdm(np.ones((12, 12), dtype=int)) == pytest.approx(25.176631293734488, rel=1e-15)
    assert BDM(2).ent(np.ones((12, 12), dtype=int)) == 0.0
    with pytest.raises(InputError, match="undefined"):
        BDM(1, partition=parse_partition("correlated")).nbdm(np.ones(30, dtype=int))
