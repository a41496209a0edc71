"""Regenerate the pybdm 0.1.0 reference values used by tests/test_bdm_reference.py.

pybdm is imported here and nowhere else in occam. It needs ``setuptools<82`` (for
``pkg_resources``) and an older numpy, so run this in a separate virtual environment:

    python3 -m venv /tmp/pybdm-ref
    /tmp/pybdm-ref/bin/pip install "setuptools<82" "numpy<2" pybdm==0.1.0
    /tmp/pybdm-ref/bin/python tests/data/bdm/make_reference.py

It writes ``reference_inputs.npz`` (the input arrays, no pickles) and ``reference.json`` (the values
pybdm returns: BDM, block entropy, normalised BDM or the error it raises, the number of
missing-block warnings, and perturbation deltas) next to this file. Inputs come from seeded
generators, so reruns give identical files.
"""

from __future__ import annotations

import json
import platform
import sys
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
import pybdm
from pybdm import (
    BDM,
    PartitionCorrelated,
    PartitionIgnore,
    PartitionRecursive,
    PerturbationExperiment,
)
from pybdm.utils import iter_part_shapes

HERE = Path(__file__).resolve().parent


def partition_kw(spec):
    name, arg = spec
    if name == "ignore":
        return {"partition": PartitionIgnore}
    if name == "recursive":
        return {"partition": PartitionRecursive, "min_length": arg}
    return {"partition": PartitionCorrelated, "shift": arg}


def make_inputs():
    rng = np.random.default_rng(20261123)
    cases = []

    def add(name, x, ndim, nsym, side, parts):
        for spec in parts:
            cases.append(
                {
                    "name": f"{name}|{spec[0]}{'' if spec[1] is None else ':' + str(spec[1])}|s{side}",
                    "array": name,
                    "ndim": ndim,
                    "nsymbols": nsym,
                    "side": side,
                    "partition": list(spec),
                    "x": x,
                }
            )

    allp = [
        ("ignore", None),
        ("recursive", 2),
        ("recursive", 1),
        ("correlated", 1),
        ("correlated", 3),
    ]
    # 1-D binary: random, repeated blocks, both constant blocks, smaller than a block.
    add("b2_1d_rand103", rng.integers(0, 2, 103), 1, 2, 12, allp)
    add("b2_1d_rand103", rng.integers(0, 2, 103), 1, 2, 8, [("ignore", None), ("recursive", 2)])
    add("b2_1d_zeros60", np.zeros(60, dtype=int), 1, 2, 12, [("ignore", None), ("correlated", 1)])
    add(
        "b2_1d_const_pair", np.r_[np.zeros(36, int), np.ones(36, int)], 1, 2, 12, [("ignore", None)]
    )
    add("b2_1d_len7", rng.integers(0, 2, 7), 1, 2, 12, [("recursive", 2)])
    add("b2_1d_periodic", np.tile([0, 1, 1, 0, 1], 40), 1, 2, 12, allp[:4])
    # 1-D non-binary alphabets, random (many 9-symbol blocks are missing) and low-entropy.
    for b in (4, 5, 6, 9):
        add(f"b{b}_1d_rand250", rng.integers(0, b, 250), 1, b, 12, allp)
        add(f"b{b}_1d_rand250", rng.integers(0, b, 250), 1, b, 6, [("ignore", None)])
        skew = np.minimum(rng.geometric(0.6, 300) - 1, b - 1)
        add(f"b{b}_1d_skew300", skew, 1, b, 12, [("ignore", None), ("recursive", 2)])
    # 2-D binary.
    allp2 = [
        ("ignore", None),
        ("recursive", 2),
        ("recursive", 1),
        ("correlated", 1),
        ("correlated", 2),
    ]
    add("b2_2d_rand22x19", rng.integers(0, 2, (22, 19)), 2, 2, 4, allp2)
    add("b2_2d_rand16x24", rng.integers(0, 2, (16, 24)), 2, 2, 4, allp2)
    add(
        "b2_2d_rand16x24",
        rng.integers(0, 2, (16, 24)),
        2,
        2,
        3,
        [("ignore", None), ("correlated", 1)],
    )
    add("b2_2d_rand12x12", rng.integers(0, 2, (12, 12)), 2, 2, 2, [("ignore", None)])
    add(
        "b2_2d_zeros12",
        np.zeros((12, 12), dtype=int),
        2,
        2,
        4,
        [("ignore", None), ("correlated", 1)],
    )
    checker = np.indices((16, 16)).sum(axis=0) % 2
    add("b2_2d_checker16", checker, 2, 2, 4, [("ignore", None), ("correlated", 1)])
    sparse = (rng.random((20, 20)) < 0.1).astype(int)
    add("b2_2d_sparse20", sparse, 2, 2, 4, allp2)
    for c in cases:
        c["x"] = np.asarray(c["x"], dtype=np.int64)
    return cases


def first_level_shapes_match(x, side, spec, bdm):
    """True when pybdm's normalisation shapes equal the shapes of the blocks actually counted."""
    if spec[0] != "recursive":
        return True
    shape = (side,) * x.ndim
    tiles = Counter(iter_part_shapes(x, shape=shape, shift=0))
    blocks = Counter(b.shape for b in bdm.decompose(x))
    return tiles == blocks


def run_case(c):
    kw = partition_kw(c["partition"])
    shape = (c["side"],) * c["ndim"]
    bdm = BDM(ndim=c["ndim"], nsymbols=c["nsymbols"], shape=shape, **kw)
    x = c["x"]
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        value = bdm.bdm(x)
    missing = sum("does not contain" in str(m.message) for m in w)
    out = {k: c[k] for k in ("name", "array", "ndim", "nsymbols", "side", "partition")}
    out.update(bdm=value, ent=float(bdm.ent(x)), missing_warnings=missing)
    out["n_blocks"] = sum(1 for _ in bdm.decompose(x))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out["nbdm"] = bdm.nbdm(x)
        out["nbdm_error"] = None
    except Exception as exc:  # noqa: BLE001 - record whatever pybdm raises
        out["nbdm"] = None
        out["nbdm_error"] = type(exc).__name__
    out["nbdm_comparable"] = first_level_shapes_match(x, c["side"], c["partition"], bdm)
    return out


def run_perturbations(cases):
    """Perturbation deltas for partitions where each cell lies in exactly one block."""
    res = []
    rng = np.random.default_rng(7)
    picks = [
        c
        for c in cases
        if c["partition"][0] in ("ignore", "recursive") and c["x"].size <= 400 and c["side"] >= 4
    ]
    for c in picks[:: max(1, len(picks) // 10)]:
        kw = partition_kw(c["partition"])
        bdm = BDM(ndim=c["ndim"], nsymbols=c["nsymbols"], shape=(c["side"],) * c["ndim"], **kw)
        x = c["x"].copy()
        idx = np.array(list(np.ndindex(*x.shape)), dtype=int)
        # Explicit new values (never random inside pybdm): old + k mod b, k in 1..b-1.
        vals = (x[tuple(idx.T)] + rng.integers(1, c["nsymbols"], idx.shape[0])) % c["nsymbols"]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            static = PerturbationExperiment(bdm, x.copy(), metric="bdm").run(idx, vals)
            static_ent = PerturbationExperiment(bdm, x.copy(), metric="ent").run(idx, vals)
            seq_idx, seq_vals = idx[:60], vals[:60]
            kept = PerturbationExperiment(bdm, x.copy(), metric="bdm").run(
                seq_idx, seq_vals, keep_changes=True
            )
        res.append(
            {
                "case": c["name"],
                "values": vals.tolist(),
                "delta_bdm": static.tolist(),
                "delta_ent": static_ent.tolist(),
                "delta_bdm_kept_first60": kept.tolist(),
            }
        )
    return res


def main() -> None:
    cases = make_inputs()
    arrays = {}
    for c in cases:
        arrays.setdefault(c["array"] + f"_s{c['side']}", c["x"])
        c["array"] = c["array"] + f"_s{c['side']}"
    results = [run_case(c) for c in cases]
    pert = run_perturbations(cases)
    np.savez_compressed(HERE / "reference_inputs.npz", **arrays)
    meta = {
        "generator": "tests/data/bdm/make_reference.py",
        "pybdm": pybdm.__version__,
        "numpy": np.__version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
    }
    doc = {"metadata": meta, "cases": results, "perturbations": pert}
    (HERE / "reference.json").write_text(json.dumps(doc, indent=1) + "\n")
    print(f"{len(results)} cases, {len(pert)} perturbation sets -> {HERE}")


if __name__ == "__main__":
    main()
