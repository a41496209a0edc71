"""Modular-arithmetic datasets (definitions §4.1) against brute-force Python arithmetic."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from theory.base.errors import InputError
from transformer_check.data import TaskConfig, make_dataset

PRIMES = [3, 5, 7, 11, 13, 23, 31]


def _brute(a: int, b: int, op: str, p: int) -> int:
    if op == "+":
        return (a + b) % p
    if op == "-":
        return (a - b) % p
    if op == "*":
        return (a * b) % p
    return next(c for c in range(p) if (c * b) % p == a)  # the unique c with c*b = a


@settings(max_examples=30, deadline=None)
@given(
    p=st.sampled_from(PRIMES),
    op=st.sampled_from(["+", "-", "*", "/"]),
    frac=st.floats(0.05, 0.95),
    seed=st.integers(0, 2**31 - 1),
)
def test_split_is_a_partition_with_correct_labels(p, op, frac, seed):
    ds = make_dataset(TaskConfig(p=p, op=op, frac=frac, seed=seed))
    n = p * p if op != "/" else p * (p - 1)
    assert ds.n_train == min(max(int(frac * n), 1), n - 1)
    assert ds.n_train + ds.n_test == n
    x = torch.cat([ds.train_x, ds.test_x])
    y = torch.cat([ds.train_y, ds.test_y])
    pairs = {(int(r[0]), int(r[1])) for r in x}
    assert len(pairs) == n  # disjoint and covering
    assert torch.all(x[:, 2] == p)
    for r, t in zip(x.tolist(), y.tolist(), strict=True):
        assert t == _brute(r[0], r[1], op, p)
    assert ds.vocab_size == p + 1 and ds.seq_len == 3


def test_seeded_split_is_deterministic_and_seed_dependent():
    a = make_dataset(TaskConfig(p=23, frac=0.4, seed=5))
    b = make_dataset(TaskConfig(p=23, frac=0.4, seed=5))
    c = make_dataset(TaskConfig(p=23, frac=0.4, seed=6))
    assert torch.equal(a.train_x, b.train_x) and torch.equal(a.test_y, b.test_y)
    assert not torch.equal(a.train_x, c.train_x)


def test_op_token_format():
    ds = make_dataset(TaskConfig(p=7, op="-", frac=0.5, fmt="a op b ="))
    assert ds.seq_len == 4 and ds.vocab_size == 9
    assert torch.all(ds.train_x[:, 1] == 8) and torch.all(ds.train_x[:, 3] == 7)
    for r, t in zip(ds.train_x.tolist(), ds.train_y.tolist(), strict=True):
        assert t == (r[0] - r[2]) % 7


@pytest.mark.parametrize(
    "kw", [{"p": 9}, {"p": 2}, {"op": "^"}, {"frac": 0.0}, {"frac": 1.0}, {"fmt": "a=b"}]
)
def test_bad_task_raises_input_error(kw):
    with pytest.raises(InputError):
        TaskConfig(**kw)
