"""The theory CLI and the shared output/CLI conventions (README "CLI", definitions §5)."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from theory.base.errors import InputError, check_int, check_odd_prime, check_range
from theory.base.io import atomic_write_text, read_json, write_csv, write_json
from theory.cli import main


def test_report_writes_every_artefact(tmp_path, capsys):
    assert main(["report", "--p", "31", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "n_-1" in out and "LambertW" in out
    rep = read_json(tmp_path / "report.json")
    assert rep["metadata"]["config"]["p"] == 31
    assert rep["metadata"]["versions"]["numpy"] == np.__version__
    assert rep["rlct"] == {"lambda_mem": 480.5, "lambda_gen": 15.5}
    a = 0.5 * (31 * 31 - 31) / 1e-2
    assert rep["crossover"]["a"] == pytest.approx(a)
    roots = rep["crossover"]["solvers"]["roots"]
    assert roots["n_-1"]["rel_diff_scipy_vs_mpmath"] < 1e-14
    for stem in ("crossover_diagram", "free_energy_gap", "complexity_vs_support"):
        assert (tmp_path / f"{stem}.png").stat().st_size > 1000
        assert (tmp_path / f"{stem}.svg").read_text().lstrip().startswith("<?xml")
    rows = (tmp_path / "crossover_grid.csv").read_text().splitlines()
    assert rows[0].startswith("p,beta,eps_gen,a,n0,n_star") and len(rows) == 41 * 41 + 1
    assert not list(tmp_path.glob(".*.tmp"))


def test_crossover_prints_roots_and_phases(tmp_path, capsys):
    assert (
        main(["crossover", "--p", "97", "--beta", "0.5", "--eps", "1e-2", "--out", str(tmp_path)])
        == 0
    )
    out = capsys.readouterr().out
    assert "LambertW(-Delta_L/Delta_lambda, -1)" in out
    assert "7361993.3013783" in out  # n_-1 for a = 465600
    assert out.count("A (accurate") == 2 and out.count("B (simple") == 1
    data = json.loads((tmp_path / "crossover.json").read_text())
    assert data["crossover"]["n_star"] == pytest.approx(7361993.301378365, rel=1e-14)


def test_diagram_csv(tmp_path):
    assert main(["diagram", "--p", "5", "7", "--num", "5", "--out", str(tmp_path)]) == 0
    for p in (5, 7):
        lines = (tmp_path / f"crossover_diagram_p{p}.csv").read_text().splitlines()
        assert len(lines) == 26
        assert (tmp_path / f"crossover_diagram_p{p}.svg").exists()


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["crossover", "--p", "91"], "--p: must be an odd prime, got '91'; try 89"),
        (["crossover", "--beta", "0"], "--beta: must be > 0"),
        (["crossover", "--eps", "abc"], "--eps: expected a real number"),
        (["report", "--frac", "1.5"], "--frac: must lie in (0, 1]"),
        (["diagram", "--num", "1"], "--num: must be an integer in [2, 2000]"),
        (["diagram", "--beta-min", "1", "--beta-max", "0.5"], "--beta-max: must exceed --beta-min"),
        (["crossover", "--dlambda", "3"], "--dlambda and --dloss go together"),
    ],
)
def test_bad_input_is_one_line_exit_2(argv, fragment, tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "theory", *argv, "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        env={**os.environ, "MPLBACKEND": "Agg"},
    )
    assert proc.returncode == 2
    err = proc.stderr.strip()
    assert fragment in err
    assert len(err.splitlines()) == 1 and "Traceback" not in err


def test_validators():
    assert check_odd_prime("p", 97) == 97
    with pytest.raises(InputError, match="p: must be an odd prime, got 2; try 3"):
        check_odd_prime("p", 2)
    with pytest.raises(InputError, match="expected an integer, got 2.5"):
        check_int("n", 2.5)
    with pytest.raises(InputError, match=r"f: must lie in \(0, 1\]"):
        check_range("f", 0, 0, 1, lo_open=True)


def test_atomic_writes_leave_no_partial_file(tmp_path):
    target = tmp_path / "x.json"
    write_json(target, {"a": np.float64(1.5), "b": np.arange(3), "c": float("inf")})
    assert read_json(target) == {"a": 1.5, "b": [0, 1, 2], "c": "inf"}

    class Boom:
        def __iter__(self):
            raise RuntimeError("boom")

    atomic_write_text(tmp_path / "y.txt", "old")
    with pytest.raises(RuntimeError):
        write_csv(tmp_path / "y.txt", Boom())
    assert (tmp_path / "y.txt").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.json", "y.txt"]


def test_figures_leave_the_users_backend_alone():
    """theory's figure functions return a Figure and keep the backend a notebook user chose."""
    code = (
        "import matplotlib; matplotlib.use('svg')\n"
        "import numpy as np\n"
        "from theory.diagram import crossover_grid, plot_crossover_grid\n"
        "import theory.report\n"
        "fig = plot_crossover_grid(crossover_grid(13, np.geomspace(0.01, 1, 3), np.geomspace(0.01, 1, 3)))\n"
        "assert matplotlib.get_backend() == 'svg', matplotlib.get_backend()\n"
        "assert type(fig).__name__ == 'Figure'\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
