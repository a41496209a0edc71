"""``python -m theory``: bad input refused in one line (exit 2, no partial file), and numbers
beyond float64 reported exactly, never as "inf"."""

from __future__ import annotations

import json

import mpmath
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from theory.cli import main


@pytest.mark.parametrize(
    "argv, match",
    [
        (["crossover", "--dlambda", "10", "--dloss", "1", "--beta", "3"], ["--beta", "generic"]),
        (["crossover", "--dlambda", "10", "--dloss", "1", "--p", "7"], ["--p", "do not apply"]),
        (["crossover", "--dlambda", "10", "--dloss", "1", "--eps", "0.1"], "--eps"),
        (["crossover", "--dlambda", "10"], ["--dlambda and --dloss go together"]),
        (["crossover", "--dm", "1"], ["--dm", "generic form"]),
        (["crossover", "--dlambda", "1e308", "--dloss", "1e-300", "--dm", "1"], ["dm:", "range"]),
        (["crossover", "--beta", "inf"], ["--beta", "finite"]),
        (["crossover", "--beta", "0"], ["--beta", "> 0"]),
        (["crossover", "--eps", "nan"], ["--eps", "finite"]),
        (["diagram", "--beta-min", "nan"], ["--beta-min", "finite"]),
        (["diagram", "--eps-max", "-1"], ["--eps-max", "> 0"]),
        (["diagram", "--beta-min", "1", "--beta-max", "0.5"], ["--beta-max", "must exceed"]),
        (["diagram", "--p", "7", "7"], ["--p", "7 given more than once"]),
        (["diagram", "--beta-max", "1e300", "--num", "3"], ["grid:", "exceeds float64"]),
        (["diagram", "--num", "2001"], ["--num", "2000"]),
        (["diagram", "--num", "1"], ["--num"]),
        (["report", "--eps", "0"], ["--eps", "> 0"]),
        (["report", "--frac", "1.5"], ["--frac"]),
        (["report", "--bits", "0"], ["--bits"]),
    ],
)
def test_refused(refused, tmp_path, argv, match):
    refused(main, [*argv, "--out", str(tmp_path / "o")], match, out=tmp_path)


def _roots(a: mpmath.mpf) -> tuple[mpmath.mpf, mpmath.mpf]:
    with mpmath.workdps(60):
        return tuple(-a * mpmath.re(mpmath.lambertw(-1 / a, k)) for k in (0, -1))


@pytest.mark.parametrize("beta", ["1e200", "1e300", "1e306"])
def test_big_n_star_exact_never_inf(tmp_path, capsys, beta):
    out = tmp_path / "o"
    assert main(["crossover", "--beta", beta, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    text = (out / "crossover.json").read_text()
    assert '"inf"' not in text.replace('"to": "inf"', "")  # only the unbounded last interval
    c = json.loads(text)["crossover"]
    with mpmath.workdps(60):
        a = mpmath.mpf(float(beta)) * (97 * 97 - 97) / mpmath.mpf(0.01)
        want = _roots(a)[1]
        ex = c["n_star_exact"]
        assert abs(mpmath.mpf(ex["decimal"]) / want - 1) < mpmath.mpf(10) ** -48
        assert ex["log10"] == pytest.approx(float(mpmath.log10(want)), rel=1e-15)
        digits = ex["decimal"].split("e")[0].replace(".", "")
        assert len(digits) == 50  # all 50 digits, none cut
    assert ex["decimal"] in printed  # printed in full
    assert f"log10 {ex['log10']:.6f}" in printed
    if float(beta) >= 1e300:  # beyond float64: the JSON number is the exact decimal string
        assert c["n_star"] == ex["decimal"]
        assert c["solvers"]["roots"]["n_-1"]["scipy"] is None


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    dlambda=st.floats(min_value=1e250, max_value=1e308),
    dloss=st.floats(min_value=1e-300, max_value=1e-50),
)
def test_generic_crossover_beyond_float64_is_exact(dlambda, dloss):
    from theory.crossover import crossover_n, crossover_record

    cross = crossover_n(dlambda, dloss)
    rec = crossover_record(cross)
    with mpmath.workdps(60):
        a = mpmath.mpf(dlambda) / mpmath.mpf(dloss)
        want = _roots(a)[1]
        got = mpmath.mpf(cross.exact["n_minus1"]["decimal"])
        assert abs(got / want - 1) < mpmath.mpf(10) ** -48
    assert "inf" not in json.dumps(rec["n_minus1"])
    assert rec["intervals"][-1][1] == float("inf")  # unbounded: A wins for every larger n
