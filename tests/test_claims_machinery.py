"""The claim machinery (theory.claims, ``python -m theory check``): held, shrunk, replayed, reported."""

from __future__ import annotations

import json

import pytest

from theory.claims import Budget, ClaimFailed, check_claim, claim, discover_claims
from theory.cli import main
from theory.strategies import odd_primes


@claim(domain=odd_primes(3, 251), name="test.primes_below_50", budget=Budget(200, 20))
def primes_below_50(p: int) -> dict:
    """Every odd prime is < 50."""
    if p >= 50:
        raise ClaimFailed(f"p = {p} >= 50", {"p": p})
    return {"p": p}


@claim(domain=odd_primes(3, 97), name="test.primes_are_odd", kind="identity")
def primes_are_odd(p: int) -> dict:
    """Every odd prime is odd."""
    assert p % 2 == 1
    return {"p": p}


def test_a_true_claim_is_held_on_n_cases():
    res = check_claim(primes_are_odd, Budget(examples=20, seconds=10))
    assert res.held and res.n_cases == 20 and res.counterexample is None
    assert "held on 20 generated cases" in res.summary()
    assert primes_are_odd.statement == "Every odd prime is odd."


def test_a_false_claim_comes_back_with_the_shrunk_minimal_counterexample(tmp_path):
    res = check_claim(primes_below_50, database=tmp_path / "db", seed=0)
    assert not res.held and res.counterexample == 53  # the smallest odd prime >= 50
    assert res.values == {"p": 53} and res.message == "p = 53 >= 50"
    assert any(not r["held"] and r["case"] == 53 for r in res.cases)


def test_the_database_replays_the_falsification(tmp_path):
    db = tmp_path / "db"
    first = check_claim(primes_below_50, database=db)
    assert any(db.rglob("*")), "no example was saved"
    again = check_claim(primes_below_50, Budget(examples=1, seconds=5), database=db)
    assert not first.held and not again.held and again.counterexample == 53


def test_a_plain_assertion_fails_too():
    c = claim(domain=odd_primes(3, 97), name="test.assert")(lambda p: None if p < 10 else 1 / 0)
    res = check_claim(c, Budget(50, 10))
    assert not res.held and res.counterexample == 11 and "ZeroDivisionError" in res.message


def test_discover_reports_a_broken_catalogue_in_one_line():
    errors: list[str] = []
    names = [c.name for c in discover_claims(errors)]
    assert "theory.rrr_rlct_invariants" in names
    assert all("\n" not in e for e in errors)


def test_cli_unknown_claim_is_one_line(capsys):
    assert main(["check", "no.such.claim", "--list"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 or all("claims catalogue" in ln for ln in err.splitlines()[:-1])
    assert "unknown no.such.claim" in err and "theory.rrr_rlct_invariants" in err


def test_cli_writes_json_figure_and_exits_0(tmp_path, capsys):
    out = tmp_path / "run"
    rc = main(
        ["check", "theory.rrr_rlct_invariants", "--examples", "10", "--quiet", "--out", str(out)]
    )
    assert rc == 0
    data = json.loads((out / "check.json").read_text())
    assert {"metadata", "results", "falsified_identities", "falsified_laws"} <= set(data)
    (r,) = data["results"]
    assert r["held"] and r["n_cases"] == 10 and len(r["cases"]) == 10
    assert {
        "name",
        "kind",
        "statement",
        "domain",
        "source",
        "budget",
        "counterexample",
        "replay",
    } <= set(r)
    assert (out / "check.png").exists() and (out / "check.svg").exists()
    assert "held on 10 generated cases" in capsys.readouterr().out


@pytest.mark.parametrize(("kind", "rc"), [("law", 0), ("identity", 1)])
def test_exit_code_is_1_only_for_a_falsified_identity(tmp_path, monkeypatch, capsys, kind, rc):
    import theory.check_cli as cli

    bad = claim(domain=odd_primes(3, 251), name="test.bad", kind=kind)(primes_below_50.check)
    monkeypatch.setattr(cli, "discover_claims", lambda errors=None: [bad])
    out = tmp_path / kind
    assert main(["check", "--quiet", "--out", str(out)]) == rc
    text = capsys.readouterr().out
    assert "FALSIFIED" in text and "53" in text
    data = json.loads((out / "check.json").read_text())
    assert data["results"][0]["counterexample"] == "53"
    assert (out / "hypothesis-db").is_dir()
    # --resume reuses the database: the falsification replays at once
    assert main(["check", "--quiet", "--examples", "1", "--out", str(out), "--resume"]) == rc


def test_bad_budget_is_refused():
    with pytest.raises(ValueError):
        Budget(examples=0)


def test_a_broken_domain_is_a_failure_not_a_traceback():
    from hypothesis import strategies as st

    c = claim(domain=st.integers(5, 1), name="test.empty")(lambda x: None)
    res = check_claim(c, Budget(5, 5))
    assert not res.held and res.counterexample is None and "could not generate" in res.message
