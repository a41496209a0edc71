"""The crossover ``n*`` of Zhang et al. (2026) over a (beta, eps_gen) grid (definitions §2.1), as arrays and a figure."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import scipy.special

from theory.base.errors import InputError, check_odd_prime

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["CrossoverGrid", "crossover_grid", "plot_crossover_grid"]


@dataclass(frozen=True)
class CrossoverGrid:
    """The crossover over a (beta, eps_gen) grid, as :func:`crossover_grid` gives it.

    ``n_star[i, j]`` and ``n0[i, j]`` belong to ``betas[i]``, ``eps[j]``; NaN where there is no
    crossing (``a < e``).

    Attributes
    ----------
    p : int
        Odd prime modulus.
    betas : numpy.ndarray
        Prior strengths, shape ``(B,)``.
    eps : numpy.ndarray
        Excess losses ``eps_gen``, shape ``(E,)``.
    n0 : numpy.ndarray
        ``W_0`` roots, shape ``(B, E)``.
    n_star : numpy.ndarray
        ``W_-1`` roots (n*), shape ``(B, E)``.

    References
    ----------
    Zhang et al. (2026), Sec. 5; definitions §2.1.

    Examples
    --------
    >>> from theory import crossover_grid
    >>> g = crossover_grid(97, [0.1, 0.5], [0.01, 0.1])
    >>> g.n_star.shape, round(float(g.n_star[1, 0]), 3)
    ((2, 2), 7361993.301)
    >>> print(g.csv_text().splitlines()[1])
    97,0.1,0.01,93120.0,1.0000107390046022,1311771.0805864462
    """

    p: int
    betas: np.ndarray
    eps: np.ndarray
    n0: np.ndarray
    n_star: np.ndarray

    def rows(self) -> list[dict]:
        """One CSV row per grid point: ``p, beta, eps_gen, a, n0, n_star``.

        Returns
        -------
        list of dict

        Examples
        --------
        >>> from theory import crossover_grid
        >>> rows = crossover_grid(97, [0.5], [0.01]).rows()
        >>> len(rows), float(rows[0]["a"])
        (1, 465600.0)
        """
        return [
            {
                "p": self.p,
                "beta": b,
                "eps_gen": e,
                "a": b * (self.p**2 - self.p) / e,
                "n0": self.n0[i, j],
                "n_star": self.n_star[i, j],
            }
            for i, b in enumerate(self.betas)
            for j, e in enumerate(self.eps)
        ]

    def csv_text(self) -> str:
        """:meth:`rows` as CSV text, the same bytes ``write_csv`` gives.

        Built column by column (a 2000 x 2000 grid in seconds instead of minutes).

        Returns
        -------
        str

        Examples
        --------
        >>> from theory import crossover_grid
        >>> print(crossover_grid(97, [0.5], [0.01]).csv_text(), end="")
        p,beta,eps_gen,a,n0,n_star
        97,0.5,0.01,465600.0,1.0000021477732424,7361993.301378365
        """
        nb, ne = self.betas.size, self.eps.size
        beta = np.repeat(self.betas, ne)
        eps = np.tile(self.eps, nb)
        cols = [
            [str(self.p)] * (nb * ne),
            [s for s in _strs(self.betas) for _ in range(ne)],  # each axis value formatted once
            _strs(self.eps) * nb,
            _strs(beta * (self.p**2 - self.p) / eps),
            _strs(self.n0.ravel()),
            _strs(self.n_star.ravel()),
        ]
        lines = ["p,beta,eps_gen,a,n0,n_star", *map(",".join, zip(*cols, strict=True))]
        return "\n".join(lines) + "\n"


def _strs(x: np.ndarray) -> list[str]:
    # str() of a Python float is its shortest round-trip repr, as csv.writer writes it.
    return list(map(str, x.tolist()))


def crossover_grid(p: int, betas: np.ndarray, eps: np.ndarray) -> CrossoverGrid:
    """Both crossover roots ``n_k = -a W_k(-1/a)``, ``a = beta (p^2 - p) / eps_gen``, over a grid.

    Vectorised over ``betas x eps`` (Zhang et al. (2026) Sec. 5; definitions §2.1).

    Parameters
    ----------
    p : int
        Odd prime modulus.
    betas : array_like
        Non-empty 1-d list of prior strengths, finite and ``> 0``.
    eps : array_like
        Non-empty 1-d list of ``eps_gen``, finite and ``> 0`` (``eps_gen = 0`` never crosses).

    Returns
    -------
    CrossoverGrid

    Raises
    ------
    InputError
        If ``p`` is not an odd prime, an axis is empty or out of range, or n* exceeds float64
        at some grid point (``python -m theory crossover`` gives that point exactly).

    References
    ----------
    Zhang et al. (2026), Sec. 5; Corless et al. (1996); definitions §2.1.

    Examples
    --------
    >>> from theory import crossover_grid
    >>> g = crossover_grid(97, [0.1, 0.5], [0.01, 0.1])
    >>> [[f"{x:.6g}" for x in row] for row in g.n_star]
    [['1.31177e+06', '107918'], ['7.36199e+06', '621073']]
    """
    p = check_odd_prime("p", p)
    betas = np.asarray(betas, dtype=float)
    eps = np.asarray(eps, dtype=float)
    if betas.ndim != 1 or betas.size == 0 or np.any(~np.isfinite(betas)) or np.any(betas <= 0):
        raise InputError("betas: need a non-empty list of finite values > 0")
    if eps.ndim != 1 or eps.size == 0 or np.any(~np.isfinite(eps)) or np.any(eps <= 0):
        raise InputError(
            "eps: need a non-empty list of finite eps_gen > 0 (eps_gen = 0 never crosses)"
        )
    a = betas[:, None] * (p * p - p) / eps[None, :]
    real = a >= np.e
    x = np.where(real, -1.0 / a, -0.1)
    x = np.maximum(x, -1.0 / np.e)
    with np.errstate(over="ignore", invalid="ignore"):
        n0 = np.where(real, -a * scipy.special.lambertw(x, 0).real, np.nan)
        n1 = np.where(real, -a * scipy.special.lambertw(x, -1).real, np.nan)
    over = real & ~np.isfinite(n1)
    if over.any():
        i, j = np.argwhere(over)[0]
        raise InputError(
            f"grid: n* exceeds float64 (1.8e308) at beta = {betas[i]:g}, eps_gen = {eps[j]:g} "
            f"(p = {p}); lower --beta-max or raise --eps-min, or get that point exactly from "
            "`python -m theory crossover`"
        )
    return CrossoverGrid(p, betas, eps, n0, n1)


def plot_crossover_grid(grid: CrossoverGrid) -> Figure:
    """Heatmap of ``log10 n*`` over the grid, with labelled contours.

    Parameters
    ----------
    grid : CrossoverGrid

    Returns
    -------
    matplotlib.figure.Figure
        The figure (the caller saves and closes it, e.g. with ``theory.base.save_figure``).

    References
    ----------
    Zhang et al. (2026), Sec. 5; definitions §2.1.

    Examples
    --------
    >>> import numpy as np
    >>> from theory import crossover_grid, plot_crossover_grid
    >>> fig = plot_crossover_grid(crossover_grid(97, np.geomspace(0.1, 1, 4), np.geomspace(0.01, 0.1, 4)))
    >>> fig.axes[0].get_xscale(), len(fig.axes)
    ('log', 2)
    >>> import matplotlib.pyplot as plt
    >>> plt.close(fig)
    """
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 5.2))
    z = np.log10(grid.n_star)
    mesh = ax.pcolormesh(grid.eps, grid.betas, z, shading="nearest", cmap="viridis")
    # One raster image in the SVG instead of a vector path per cell (4 million at --num 2000).
    mesh.set_rasterized(True)
    cbar = fig.colorbar(mesh, ax=ax)
    cbar.set_label(r"$\log_{10} n^*$  (switch back to the accurate phase)")
    if z.shape[0] > 1 and z.shape[1] > 1 and np.isfinite(z).any():
        cs = ax.contour(grid.eps, grid.betas, z, colors="white", linewidths=0.8)
        ax.clabel(cs, fmt=lambda v: f"$10^{{{v:g}}}$", fontsize=8)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(r"$\epsilon_{\mathrm{gen}}$  (excess loss of the generalising phase)")
    ax.set_ylabel(r"$\beta$  (strength of the $\ell_0$ prior)")
    ax.set_title(
        rf"Zhang et al. (2026) crossover $n^*=-a\,W_{{-1}}(-1/a)$, $a=\beta(p^2-p)/\epsilon$, $p={grid.p}$"
    )
    return fig
