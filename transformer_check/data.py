"""Modular-arithmetic datasets ``a o b mod p`` with a seeded train/test split (definitions §4.1).

Token ids: ``0 .. p-1`` are the residues, ``p`` is ``=``, and with ``fmt="a op b ="`` the id
``p + 1`` is the (single) operation token. The answer is predicted at the last position (``=``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from theory.base.errors import InputError, check_odd_prime, check_range
from theory.base.modular import OPS, op_table

__all__ = [
    "OPS",
    "FORMATS",
    "TaskConfig",
    "ModularDataset",
    "apply_op",
    "all_pairs",
    "make_dataset",
    "task_sizes",
]

FORMATS = ("a b =", "a op b =")


@dataclass(frozen=True)
class TaskConfig:
    """The modular-arithmetic task of definitions §4.1: ``a o b mod p`` and its split.

    Parameters
    ----------
    p : int, default 113
        The modulus, an odd prime.
    op : str, default "+"
        One of ``+ - * /``.
    frac : float, default 0.3
        Training fraction of all pairs, ``0 < frac < 1``.
    seed : int, default 0
        Seed of the train/test permutation.
    fmt : str, default "a b ="
        Sequence format, ``"a b ="`` or ``"a op b ="`` (with one operation token).

    Raises
    ------
    InputError
        If a field is outside its range.

    References
    ----------
    Definitions §4.1.
    """

    p: int = 113
    op: str = "+"
    frac: float = 0.3
    seed: int = 0
    fmt: str = "a b ="

    def __post_init__(self) -> None:
        check_odd_prime("p", self.p)
        if self.op not in OPS:
            raise InputError(f"op: must be one of {' '.join(OPS)}, got {self.op!r}")
        check_range("frac", self.frac, 0.0, 1.0, lo_open=True, hi_open=True)
        if self.fmt not in FORMATS:
            raise InputError(f"fmt: must be one of {FORMATS}, got {self.fmt!r}")


@dataclass
class ModularDataset:
    """Full-batch train/test tensors (all ``torch.long``, on the CPU unless moved with :meth:`to`).

    Built by :func:`make_dataset`.

    Parameters
    ----------
    train_x, test_x : torch.Tensor
        Token ids ``[n, seq_len]``: residues ``0 .. p-1``, ``p`` is ``=``, ``p + 1`` the
        operation token of ``"a op b ="``.
    train_y, test_y : torch.Tensor
        Answers ``[n]`` in ``[0, p)``, predicted at the last position.
    p : int
        The modulus.
    op : str
        The operation.
    vocab_size : int
        ``p + 1`` (``"a b ="``) or ``p + 2``.
    seq_len : int
        3 or 4.
    """

    train_x: Tensor  # [n_train, seq_len] token ids
    train_y: Tensor  # [n_train] answers in [0, p)
    test_x: Tensor
    test_y: Tensor
    p: int
    op: str
    vocab_size: int
    seq_len: int

    @property
    def n_train(self) -> int:
        """Number of training pairs."""
        return int(self.train_y.shape[0])

    @property
    def n_test(self) -> int:
        """Number of test pairs."""
        return int(self.test_y.shape[0])

    def to(self, device: torch.device | str) -> ModularDataset:
        """A copy with every tensor on ``device``."""
        return ModularDataset(
            self.train_x.to(device),
            self.train_y.to(device),
            self.test_x.to(device),
            self.test_y.to(device),
            self.p,
            self.op,
            self.vocab_size,
            self.seq_len,
        )


def apply_op(a: Tensor, b: Tensor, op: str, p: int) -> Tensor:
    """``a o b mod p`` elementwise, looked up in :func:`theory.base.modular.op_table`."""
    try:
        table = torch.from_numpy(op_table(op, p))
    except ValueError:
        raise InputError(f"op: must be one of {' '.join(OPS)}, got {op!r}") from None
    return table[a, b]


def all_pairs(p: int, op: str) -> tuple[Tensor, Tensor]:
    """Every operand pair ``(a, b)`` in row-major order (``b != 0`` for ``/``)."""
    a = torch.arange(p).repeat_interleave(p)
    b = torch.arange(p).repeat(p)
    if op == "/":
        keep = b != 0
        a, b = a[keep], b[keep]
    return a, b


def task_sizes(cfg: TaskConfig) -> tuple[int, int, int, int]:
    """``(vocab_size, seq_len, n_pairs, n_train)`` of :func:`make_dataset` ``(cfg)``, without
    building it (the memory check runs before anything is allocated)."""
    seq_len = 3 if cfg.fmt == "a b =" else 4
    n = cfg.p * (cfg.p - 1 if cfg.op == "/" else cfg.p)
    return cfg.p + seq_len - 2, seq_len, n, min(max(int(cfg.frac * n), 1), n - 1)


def make_dataset(cfg: TaskConfig) -> ModularDataset:
    """All pairs, labelled, seeded-permutation split: first ``floor(f N)`` train (definitions §4.1).

    ``N`` is ``p^2`` (``p (p - 1)`` for ``/``, which excludes ``b = 0``); the training count is
    clamped to ``[1, N - 1]``, and the permutation comes from ``torch.randperm`` with a
    generator seeded by ``cfg.seed``.

    Parameters
    ----------
    cfg : TaskConfig
        The task.

    Returns
    -------
    ModularDataset

    References
    ----------
    Definitions §4.1.

    Examples
    --------
    >>> from transformer_check import TaskConfig, make_dataset
    >>> ds = make_dataset(TaskConfig(p=7, frac=0.3))
    >>> ds.n_train, ds.n_test, ds.vocab_size, ds.seq_len
    (14, 35, 8, 3)
    >>> ds.train_x[0].tolist(), int(ds.train_y[0])
    ([1, 4, 7], 5)
    """
    p = cfg.p
    a, b = all_pairs(p, cfg.op)
    y = apply_op(a, b, cfg.op, p)
    eq = torch.full_like(a, p)
    if cfg.fmt == "a b =":
        x = torch.stack([a, b, eq], dim=1)
        vocab = p + 1
    else:
        x = torch.stack([a, torch.full_like(a, p + 1), b, eq], dim=1)
        vocab = p + 2
    n = a.shape[0]
    n_train = min(max(int(cfg.frac * n), 1), n - 1)
    gen = torch.Generator().manual_seed(int(cfg.seed))
    perm = torch.randperm(n, generator=gen)
    tr, te = perm[:n_train], perm[n_train:]
    return ModularDataset(
        train_x=x[tr].contiguous(),
        train_y=y[tr].contiguous(),
        test_x=x[te].contiguous(),
        test_y=y[te].contiguous(),
        p=p,
        op=cfg.op,
        vocab_size=vocab,
        seq_len=int(x.shape[1]),
    )
