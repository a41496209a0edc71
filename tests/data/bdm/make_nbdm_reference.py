"""Regenerate ``nbdm_recursive.json``: pybdm 0.1.0's normalised BDM under the Recursive partition
on short 1-D inputs whose length leaves a leftover tile, including leftovers shorter than
``min_length`` that are never counted but enter pybdm's NBDM bounds (``BDM._iter_shapes``).

Run in the separate pybdm venv (see ``make_reference.py``):

    /tmp/pybdm-ref/bin/python tests/data/bdm/make_nbdm_reference.py

Inputs come from a seeded generator and are stored in the JSON itself, so reruns are identical.
"""

from __future__ import annotations

import json
import platform
import warnings
from pathlib import Path

import numpy as np
import pybdm
from pybdm import BDM, PartitionRecursive

HERE = Path(__file__).resolve().parent


def main() -> None:
    rng = np.random.default_rng(20261201)
    cases = []
    for nsym in (2, 4):
        for side in (12, 8):
            for min_length in (1, 2, 3):
                for n in (side + 1, side + 2, 2 * side + 1, 2 * side + 2, 3 * side + 1, 4 * side):
                    x = rng.integers(0, nsym, n)
                    b = BDM(
                        ndim=1,
                        nsymbols=nsym,
                        shape=(side,),
                        partition=PartitionRecursive,
                        min_length=min_length,
                    )
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        cases.append(
                            {
                                "x": x.tolist(),
                                "nsymbols": nsym,
                                "side": side,
                                "min_length": min_length,
                                "bdm": b.bdm(x),
                                "nbdm": b.nbdm(x),
                                "ent": float(b.ent(x)),
                            }
                        )
    doc = {
        "metadata": {
            "pybdm": pybdm.__version__,
            "numpy": np.__version__,
            "python": platform.python_version(),
            "script": "tests/data/bdm/make_nbdm_reference.py",
        },
        "cases": cases,
    }
    (HERE / "nbdm_recursive.json").write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote {len(cases)} cases")


if __name__ == "__main__":
    main()
