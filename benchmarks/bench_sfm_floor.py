"""SFM step at its FFT floor: the real step against the prime-length and the (p-1) FFT pair (issue 18).

Run: ``python benchmarks/bench_sfm_floor.py [--quick] [--save]``. Writes ``sfm_floor.json`` and
``sfm_floor.png``/``.svg`` into a new run folder under ``runs/bench-sfm-floor/`` (``latest`` points
at it); ``--save`` also copies them into ``benchmarks/results/`` (refused for ``--quick``, a smoke
run on p = 31, 97 only). Every time is measured in this one run, the references interleaved with
the step in each repetition, and the median over repetitions is reported: on a shared machine the
ratios are what count.

* step: per-step seconds of the real ``sfm.simulate`` loop (one seed, ``+``, f = 0.3, the default
  ``increasing`` schedule), from the wall-time difference of two run lengths so set-up cancels
  (as ``bench_sfm.py`` does). Each step does one ``irfft2`` + one ``rfft2`` of size p x p
  (definitions §1.1, §1.6), the fused residual pass and the gate.
* (a) prime pair: that ``irfft2``/``rfft2`` pair alone at length p. pocketfft does a prime length by
  Bluestein's algorithm (a padded convolution), about 3x the cost of a smooth length.
* (b) floor pair: the same pair at (p-1) x (p-1), a smooth length; the practical floor of a step.
* (c) Rader pair: a prototype of Rader (1968)'s algorithm, which writes the length-p DFT as a
  cyclic convolution of length p-1 through a primitive root g (definitions §1.3), here in 2-D:
  one (p-1) x (p-1) FFT pair per p x p transform, with the permutations as numba loops and both
  transforms halved by Hermitian symmetry (see :class:`Rader`). It is checked against scipy in
  the run (``rader_max_abs_error``). It is not wired into ``sfm``: it shows what the step would
  gain.

The cost exponents are log-log least-squares slopes over p >= 97 (p^2 log p gives about 2.2).
"""

from __future__ import annotations

import gc
import statistics
import sys
import time
from pathlib import Path

import numba as nb
import numpy as np
import scipy.fft as sfft

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _evidence import bench_parser, check_save, run_cli, save_results  # noqa: E402

from sfm.dynamics import SFMConfig, simulate  # noqa: E402
from theory.base.io import save_figure, write_json  # noqa: E402
from theory.base.modular import primitive_root  # noqa: E402
from theory.base.provenance import run_metadata  # noqa: E402

PRIMES = (31, 97, 211, 401, 1009)
QUICK_PRIMES = (31, 97)
F = 0.3
FIT_FROM = 97  # the exponent fit leaves out p = 31, where per-call overhead dominates
# Two run lengths per p: the longer adds about 0.3-1 s of steps on the development machine.
RUN_LENGTHS = {31: (20, 420), 97: (10, 210), 211: (4, 54), 401: (2, 17), 1009: (1, 5)}
PAIR_CALLS = {31: 400, 97: 100, 211: 20, 401: 8, 1009: 2}
SAVED = ("sfm_floor.json", "sfm_floor.png", "sfm_floor.svg")


def _wall(fn) -> float:
    gc.collect()
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def step_seconds(p: int) -> float:
    """Per-step seconds of ``simulate`` from two run lengths (set-up and logging cancel)."""
    n1, n2 = RUN_LENGTHS[p]

    def run(steps):
        return lambda: simulate([SFMConfig(p=p, f=F, steps=steps, log_every=steps)])

    return max(_wall(run(n2)) - _wall(run(n1)), 1e-12) / (n2 - n1)


def fft_pair(n: int, rng: np.random.Generator):
    """The step's pair at size n x n: ``irfft2`` of a half spectrum, then ``rfft2`` (definitions §1.6)."""
    V = sfft.rfft2(rng.normal(size=(1, n, n)), axes=(-2, -1), norm="ortho")

    def pair():
        y = sfft.irfft2(V, s=(n, n), axes=(-2, -1), norm="ortho")
        return sfft.rfft2(y, axes=(-2, -1), norm="ortho")

    return pair


@nb.njit(cache=True)
def _gather_real(x, G):
    """``a[b, q, r] = x[b, G[q], G[r]]``: the convolution input of a real p x p array."""
    B, n = x.shape[0], G.shape[0]
    a = np.empty((B, n, n))
    for b in range(B):
        for q in range(n):
            row = x[b, G[q]]
            for r in range(n):
                a[b, q, r] = row[G[r]]
    return a


@nb.njit(cache=True)
def _gather_hermitian(V, G, p):
    """``a[b, q, r] = W[b, G[q], G[r]]`` of the full spectrum W of the half spectrum V.

    ``W[k, l] = V[k, l]`` for ``l < (p+1)/2``, else ``conj(V[-k, -l])`` (definitions §1.1).
    """
    B, n, half = V.shape[0], G.shape[0], V.shape[2]
    a = np.empty((B, n, n), dtype=np.complex128)
    for b in range(B):
        for q in range(n):
            k = G[q]
            km = (p - k) % p
            for r in range(n):
                c = G[r]
                if c < half:
                    a[b, q, r] = V[b, k, c]
                else:
                    a[b, q, r] = np.conj(V[b, km, p - c])
    return a


@nb.njit(cache=True)
def _assemble(core, row, col, top, left, S, out, scale):
    """``out[S[m], S[n]] = scale (core[m, n] + row[n] + col[m])`` where ``S[n]`` is a column of
    ``out``; row 0 is ``scale top``, column 0 is ``scale left`` (the zero frequencies).

    ``core`` may hold only its first h rows: below them the DFT of a real or of a Hermitian array
    gives ``core[m, n] = conj(core[m - h, n - h])``, h = (p-1)/2, since -1 = g^h.
    """
    B, n, h = core.shape[0], S.shape[0], core.shape[1]
    ncols = out.shape[2]
    for b in range(B):
        for m in range(n):
            k = S[m]
            cm = col[b, m]
            for j in range(n):
                c = S[j]
                if c < ncols:
                    if m < h:
                        z = core[b, m, j]
                    else:
                        z = np.conj(core[b, m - h, (j - h) % n])
                    out[b, k, c] = scale * (z + row[b, j] + cm)
        for c in range(ncols):
            out[b, 0, c] = scale * top[b, c]
        for k in range(1, out.shape[1]):
            out[b, k, 0] = scale * left[b, k]


class Rader:
    """The p x p DFT as a 2-D cyclic convolution of size (p-1) x (p-1) (Rader 1968, in 2-D).

    With g a primitive root (definitions §1.3), ``a[q, r] = x[g^q, g^r]`` and ``b_j = w^(g^-j)``
    (``w = exp(sign 2 pi i / p)``), the DFT off the zero row and column is
    ``X[g^-m, g^-n] = (a * (b b^T))[m, n] + d_0[g^-n] + e_0[g^-m] - x[0, 0]`` (cyclic 2-D
    convolution: one FFT pair of the smooth size (p-1) x (p-1) and a product with the precomputed
    ``fft2(b b^T)``), where ``d_0``, ``e_0`` are the 1-D DFTs of row 0 and column 0; the zero row
    and column are the 1-D DFTs of the column and row sums. The permutations are fused numba
    loops (numpy's 2-D fancy indexing costs more than the FFTs). Arrays are (B, p, p).
    """

    def __init__(self, p: int) -> None:
        g = primitive_root(p)
        self.p, self.q, self.half = p, p - 1, (p + 1) // 2
        self.G = np.array([pow(g, j, p) for j in range(p - 1)])
        self.S = np.array([pow(g, -j, p) for j in range(p - 1)])
        bhat = {s: sfft.fft(np.exp(s * 2j * np.pi * self.S / p)) for s in (-1, 1)}
        self.kernel = np.multiply.outer(bhat[-1], bhat[-1])
        # The inverse's convolution is real (a Hermitian spectrum has a real DFT): irfft2 needs
        # only the first (p-1)/2 + 1 columns of its kernel.
        self.kernel_inv = np.ascontiguousarray(
            np.multiply.outer(bhat[1], bhat[1])[:, : self.q // 2 + 1]
        )

    def _dft1(self, x: np.ndarray, sign: int) -> np.ndarray:
        return sfft.fft(x, axis=-1) if sign < 0 else sfft.ifft(x, axis=-1) * self.p

    def rfft2(self, R: np.ndarray) -> np.ndarray:
        """``scipy.fft.rfft2(R, norm="ortho")`` for real ``R`` of shape (B, p, p)."""
        q, h = self.q, self.q // 2
        # Half of fft2 of the real a, the other half by a[-m, -n] = conj(a[m, n]) in frequency.
        A = sfft.fft(sfft.rfft(_gather_real(R, self.G), axis=-1), axis=-2, overwrite_x=True)
        P = np.empty((R.shape[0], q, q), dtype=np.complex128)
        P[..., : h + 1] = A
        P[..., h + 1 :] = np.conj(A[:, (-np.arange(q)) % q, 1:h][..., ::-1])
        P *= self.kernel
        # Only rows m < h of the convolution: _assemble gets the rest by symmetry.
        core = sfft.ifft(sfft.ifft(P, axis=-2, overwrite_x=True)[:, :h], axis=-1, overwrite_x=True)
        row = self._dft1(R[:, 0, :], -1)[:, self.S] - R[:, :1, 0]
        col = self._dft1(R[:, :, 0], -1)[:, self.S]
        top = self._dft1(R.sum(axis=1), -1)
        left = self._dft1(R.sum(axis=2), -1)
        out = np.empty((R.shape[0], self.p, self.half), dtype=np.complex128)
        _assemble(core, row, col, top, left, self.S, out, 1.0 / self.p)
        return out

    def irfft2(self, V: np.ndarray) -> np.ndarray:
        """``scipy.fft.irfft2(V, s=(p, p), norm="ortho")`` for a Hermitian half spectrum ``V``."""
        p, q, h = self.p, self.q, self.half
        a = _gather_hermitian(V, self.G, p)
        P = sfft.fft(sfft.fft(a, axis=-1)[..., : q // 2 + 1], axis=-2, overwrite_x=True)
        P *= self.kernel_inv
        core = sfft.irfft2(P, s=(q, q), overwrite_x=True)
        # Row 0 and column 0 of the full spectrum W, and its row and column sums.
        w0 = np.concatenate([V[:, 0, :], np.conj(V[:, 0, 1:h][:, ::-1])], axis=1)
        c0 = V[:, :, 0]
        inner = V[:, :, 1:].sum(axis=2)
        rows = c0 + inner + np.conj(inner[:, (-np.arange(p)) % p])
        csum = V.sum(axis=1)
        cols = np.concatenate([csum, np.conj(csum[:, 1:h][:, ::-1])], axis=1)
        row = self._dft1(w0, 1)[:, self.S].real - V[:, :1, 0].real
        col = self._dft1(c0, 1)[:, self.S].real
        top = self._dft1(cols, 1).real
        left = self._dft1(rows, 1).real
        out = np.empty((V.shape[0], p, p))
        _assemble(core, row, col, top, left, self.S, out, 1.0 / p)
        return out


def rader_pair(p: int, rng: np.random.Generator):
    """(c): the same pair as :func:`fft_pair` through :class:`Rader`, and its error against scipy."""
    rd = Rader(p)
    R = rng.normal(size=(1, p, p))
    V = sfft.rfft2(R, axes=(-2, -1), norm="ortho")
    err = max(
        float(np.max(np.abs(rd.rfft2(R) - V))),
        float(np.max(np.abs(rd.irfft2(V) - R))),
    )

    def pair():
        return rd.rfft2(rd.irfft2(V))

    return pair, err


def per_call(fn, calls: int) -> float:
    return _wall(lambda: [fn() for _ in range(calls)]) / calls


def measure(primes: tuple[int, ...], reps: int) -> tuple[dict, dict]:
    """Interleaved repetitions: in each, every p times step, (a), (b) and (c) back to back."""
    rng = np.random.default_rng(0)
    refs = {}
    rader_err = {}
    for p in primes:
        rc, rader_err[p] = rader_pair(p, rng)
        refs[p] = {"a": fft_pair(p, rng), "b": fft_pair(p - 1, rng), "c": rc}
        simulate([SFMConfig(p=p, f=F, steps=2, log_every=2)])  # numba cache, FFT plans
        for fn in refs[p].values():
            fn()
    samples = {p: {"step": [], "a": [], "b": [], "c": []} for p in primes}
    for rep in range(reps):
        for p in primes:
            s = samples[p]
            s["step"].append(step_seconds(p))
            for key, fn in refs[p].items():
                s[key].append(per_call(fn, PAIR_CALLS[p]))
        print(f"repetition {rep + 1}/{reps} done", flush=True)
    out = {}
    for p in primes:
        med = {k: statistics.median(v) for k, v in samples[p].items()}
        out[p] = {
            "step_seconds": med["step"],
            "prime_pair_seconds": med["a"],
            "floor_pair_seconds": med["b"],
            "rader_pair_seconds": med["c"],
            "step_over_prime_pair": med["step"] / med["a"],
            "step_over_floor_pair": med["step"] / med["b"],
            "prime_pair_over_floor_pair": med["a"] / med["b"],
            "rader_pair_over_prime_pair": med["c"] / med["a"],
            # The least-disturbed repetition (bench_sfm.py's statistic), beside the medians.
            "min_seconds": {k: min(v) for k, v in samples[p].items()},
            "min_step_over_prime_pair": min(samples[p]["step"]) / min(samples[p]["a"]),
            "min_step_over_floor_pair": min(samples[p]["step"]) / min(samples[p]["b"]),
            "rader_max_abs_error": rader_err[p],
            "samples_seconds": samples[p],
            "run_lengths": list(RUN_LENGTHS[p]),
            "pair_calls": PAIR_CALLS[p],
        }
        r = out[p]
        print(
            f"p={p:5d}: step {med['step'] * 1e3:9.3f} ms | (a) prime pair {med['a'] * 1e3:8.3f} ms"
            f" | (b) {p - 1}^2 pair {med['b'] * 1e3:8.3f} ms | (c) Rader {med['c'] * 1e3:8.3f} ms"
            f" | step/(a) {r['step_over_prime_pair']:5.2f} step/(b) {r['step_over_floor_pair']:5.2f}"
            f" (c)/(a) {r['rader_pair_over_prime_pair']:5.2f}",
            flush=True,
        )
    return out, samples


def exponents(table: dict) -> dict:
    """Log-log least-squares slope of each time in p over p >= ``FIT_FROM`` (None if < 2 points)."""
    ps = [p for p in sorted(table) if p >= FIT_FROM]
    keys = ("step_seconds", "prime_pair_seconds", "floor_pair_seconds", "rader_pair_seconds")
    if len(ps) < 2:
        return {k: None for k in keys} | {"fit_primes": ps}
    x = np.log(ps)
    out: dict = {"fit_primes": ps}
    for k in keys:
        out[k] = float(np.polyfit(x, np.log([table[p][k] for p in ps]), 1)[0])
    return out


def figure(result: dict):
    """Left: the four times against p; right: step/(a), step/(b) and (c)/(a)."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter

    t = result["per_p"]
    ps = sorted(int(p) for p in t)
    ex = result["exponents"]
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.8))
    ax = axes[0]
    for key, style, label in (
        ("step_seconds", "o-", "sfm step"),
        ("prime_pair_seconds", "s--", "(a) p x p pair (Bluestein)"),
        ("floor_pair_seconds", "^--", "(b) (p-1) x (p-1) pair (floor)"),
        ("rader_pair_seconds", "d:", "(c) Rader pair (numba + scipy prototype)"),
    ):
        slope = ex.get(key)
        tail = f", slope {slope:.2f}" if slope is not None else ""
        ax.loglog(ps, [t[p][key] * 1e3 for p in ps], style, label=label + tail)
    ax.set_xlabel("p")
    ax.set_ylabel("ms per step / per pair (median)")
    ax.set_title("SFM step vs FFT pairs")
    ax.legend(fontsize=8)
    ax = axes[1]
    for key, style, label in (
        ("step_over_prime_pair", "o-", "step / (a)"),
        ("step_over_floor_pair", "s-", "step / (b)"),
        ("rader_pair_over_prime_pair", "d:", "(c) / (a)"),
    ):
        ax.semilogx(ps, [t[p][key] for p in ps], style, label=label)
    ax.axhline(1.0, color="grey", lw=0.8)
    ax.set_xlabel("p")
    ax.set_ylabel("ratio")
    ax.set_title(f"ratios (median of {result['metadata']['config']['repetitions']} repetitions)")
    ax.legend()
    for a in axes:
        a.set_xticks(ps, [str(p) for p in ps])
        a.xaxis.set_minor_formatter(NullFormatter())
        a.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    return fig


def build_parser():
    ap = bench_parser("sfm_floor", __doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smoke run: p = 31, 97, 2 repetitions")
    ap.add_argument("--reps", type=int, default=5, help="interleaved repetitions (default 5)")
    ap.set_defaults(func=run)
    return ap


def main(argv=None) -> int:
    return run_cli(build_parser, argv)


def run(args) -> int:
    import matplotlib

    from theory.base.errors import check_int

    matplotlib.use("Agg")  # a script: figures go to files only
    check_save(args, committed="sfm_floor.json")
    check_int("reps", args.reps, lo=1, hi=100)
    primes = QUICK_PRIMES if args.quick else PRIMES
    reps = 2 if args.quick else args.reps
    per_p, _ = measure(primes, reps)
    ex = exponents(per_p)
    print(
        "cost exponents over p >= 97: "
        + ", ".join(f"{k} {v:.2f}" for k, v in ex.items() if k != "fit_primes" and v is not None)
    )
    result = {
        "metadata": run_metadata(
            "python benchmarks/bench_sfm_floor.py",
            {
                "f": F,
                "op": "+",
                "schedule": "increasing",
                "primes": primes,
                "repetitions": reps,
                "quick": bool(args.quick),
                "statistic": "median over interleaved repetitions",
            },
        ),
        "per_p": per_p,
        "exponents": ex,
        "notes": __doc__,
    }
    write_json(args.out / "sfm_floor.json", result)
    save_figure(figure(result), args.out / "sfm_floor")
    print(f"wrote {args.out / 'sfm_floor.json'} and sfm_floor.png/.svg")
    if args.save:
        for path in save_results(args.out, SAVED):
            print(f"saved {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
