"""The theory's catalogue run through the same machinery users run (theory.catalogue)."""

from __future__ import annotations

import dataclasses

import pytest

from theory.catalogue import CLAIMS
from theory.claims import IDENTITY, Budget, check_claim


def test_every_claim_is_documented():
    names = [c.name for c in CLAIMS]
    assert len(names) == len(set(names))
    for c in CLAIMS:
        assert c.name.startswith("theory.") and c.statement and c.domain and c.source


@pytest.mark.parametrize("c", CLAIMS, ids=lambda c: c.name)
def test_claim_holds(c):
    res = check_claim(c, Budget(examples=30, seconds=20), seed=0)
    assert res.held, f"{c.name}: {res.message} at {res.counterexample!r} ({res.values})"
    if c.kind == IDENTITY:
        assert res.n_cases >= 1


def test_an_identity_catches_a_broken_formula(monkeypatch):
    """A deliberately wrong RLCT (off by 1/2 when M > N) is caught and shrunk to a small case."""
    import theory.catalogue as cat
    from theory.rlct import rrr_rlct

    def broken(M, N, H, r):
        x = rrr_rlct(M, N, H, r)
        return dataclasses.replace(x, lam=x.lam + 0.5) if M > N else x

    monkeypatch.setattr(cat, "rrr_rlct", broken)
    res = check_claim(cat.RRR, Budget(examples=200, seconds=20), seed=0)
    assert not res.held and res.is_bug
    assert {res.counterexample["M"], res.counterexample["N"]} == {1, 2}  # the smallest M != N
    assert "symmetric" in res.message and res.replay.startswith("python -c")
