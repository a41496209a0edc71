"""RLCTs: SFM supports (definitions §1.4) and Aoyagi–Watanabe reduced-rank regression (definitions §2.2)."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from theory.base.errors import InputError
from theory.rlct import lambda_gen, lambda_mem, rrr_rlct, sfm_rlct


def test_sfm_rlct():
    assert sfm_rlct(97) == 48.5
    assert lambda_mem(97) == 97**2 / 2 == 4704.5
    assert lambda_gen(97) == 48.5
    with pytest.raises(InputError, match="p: must be an odd prime"):
        lambda_mem(2)


@pytest.mark.parametrize(
    "M, N, H, r, lam, m",
    [
        # y = b a x with true map 0: K = (ab)^2 -> lambda 1/2, multiplicity 2 (the classic normal crossing)
        (1, 1, 1, 0, 0.5, 2),
        # regular (H = r, M = N): d = H(M+N) - H^2 = 9 -> 9/2
        (3, 3, 3, 3, 4.5, 1),
        # regular with M > N: d = 3*8 - 9 = 15 -> 15/2 (case N + H < M + r)
        (5, 3, 3, 3, 7.5, 1),
        # H large: BA covers all 2x2 maps, a regular model with MN = 4 parameters -> 2
        (2, 2, 10, 1, 2.0, 1),
        # balanced even: [2*3*7 - 1 - 9]/8 = 32/8
        (4, 3, 2, 1, 4.0, 1),
        # balanced odd: [2*7*20 - 0 - 49 + 1]/8 = 232/8
        (10, 10, 5, 2, 29.0, 2),
        # M + H < N + r: (H M - H r + N r)/2 = (2 - 2 + 6)/2, i.e. N/2 for a regular 6 x 1 map
        (1, 6, 2, 1, 3.0, 1),
        # M + H < N + r with a genuinely degenerate point: (2*2 - 2*1 + 7*1)/2
        (2, 7, 2, 1, 4.5, 1),
    ],
)
def test_rrr_hand_worked(M, N, H, r, lam, m):
    res = rrr_rlct(M, N, H, r)
    assert res.lam == lam
    assert res.multiplicity == m


dims = st.integers(1, 12)


@given(dims, dims, dims, st.data())
def test_rrr_symmetric_in_input_and_output(M, N, H, data):
    r = data.draw(st.integers(0, min(M, N, H)))
    # transposing the regression swaps M and N and leaves K(w) unchanged
    a, b = rrr_rlct(M, N, H, r), rrr_rlct(N, M, H, r)
    assert a.lam == b.lam and a.multiplicity == b.multiplicity


@given(dims, dims, dims, st.data())
def test_rrr_bounded_by_half_the_parameter_count(M, N, H, data):
    r = data.draw(st.integers(0, min(M, N, H)))
    res = rrr_rlct(M, N, H, r)
    # lambda <= d/2 with d the dimension of the set of rank-<=H maps (<= H(M+N) - H^2 when H<=min)
    h = min(H, M, N)
    assert 0 < res.lam <= (h * (M + N) - h * h) / 2 + 1e-12
    # at the minimal H = r the model is regular: lambda = d/2 exactly
    if H == r:
        assert res.lam == (r * (M + N) - r * r) / 2


@given(dims, dims, st.integers(1, 11), st.data())
def test_rrr_monotone_in_true_rank(M, N, H, data):
    r = data.draw(st.integers(0, min(M, N, H) - 1))
    # a higher true rank is a less degenerate point: lambda does not decrease
    assert rrr_rlct(M, N, H, r + 1).lam >= rrr_rlct(M, N, H, r).lam


def test_rrr_bad_input():
    with pytest.raises(InputError, match="r: the true rank"):
        rrr_rlct(3, 3, 2, 3)
    with pytest.raises(InputError, match="M: "):
        rrr_rlct(0, 3, 2, 0)
