"""The RE2 rationale solver against brute-force enumeration on small sequences."""
import itertools
import math

import pytest
import torch

from spacy_relext.rationale.solver import (
    budget_sizes,
    budgeted_viterbi,
    chain_marginals,
    lagrangian_marginals,
    logistic_noise,
    mask_segments,
    rationale_mask,
    scan_marginals,
    solve_multiplier,
    truncated_marginals,
)

LENGTHS = [5, 3, 1, 4]  # one batch with padding; the longest row is the padded width


def make_batch(seed: int = 0, scale: float = 1.5):
    gen = torch.Generator().manual_seed(seed)
    width = max(LENGTHS)
    scores = torch.randn(len(LENGTHS), width, generator=gen, dtype=torch.float64) * scale
    transitions = torch.rand(len(LENGTHS), width, generator=gen, dtype=torch.float64) * 2
    valid = torch.arange(width)[None, :] < torch.tensor(LENGTHS)[:, None]
    return scores, transitions, valid


def enumerate_masks(length: int):
    return [torch.tensor(bits, dtype=torch.float64) for bits in itertools.product([0, 1], repeat=length)]


def mask_score(mask, scores, transitions):
    n = len(mask)
    return float((mask * scores[:n]).sum() + (mask[:-1] * mask[1:] * transitions[: n - 1]).sum())


def brute_marginals(scores, transitions, length, *, budget=None, lam=0.0, tau=1.0):
    """Marginals of p(m) ~ exp((score(m) - lam |m|) / tau), restricted to |m| <= budget."""
    masks = [m for m in enumerate_masks(length) if budget is None or m.sum() <= budget]
    logits = torch.tensor(
        [(mask_score(m, scores, transitions) - lam * float(m.sum())) / tau for m in masks], dtype=torch.float64
    )
    weights = torch.softmax(logits, 0)
    return sum(w * m for w, m in zip(weights, masks)), float(torch.logsumexp(logits, 0))


def brute_map(scores, transitions, length, budget):
    masks = [m for m in enumerate_masks(length) if m.sum() <= budget]
    return max(masks, key=lambda m: mask_score(m, scores, transitions))


def test_chain_marginals_match_enumeration():
    scores, transitions, valid = make_batch()
    mu, log_z = chain_marginals(scores, transitions, valid)
    for row, length in enumerate(LENGTHS):
        expected, expected_log_z = brute_marginals(scores[row], transitions[row], length)
        assert torch.allclose(mu[row, :length], expected, atol=1e-9)
        assert math.isclose(float(log_z[row]), expected_log_z, abs_tol=1e-9)
        assert torch.all(mu[row, length:] == 0)


@pytest.mark.parametrize("tau", [1.0, 0.3])
def test_lagrangian_marginals_meet_budget_and_match_enumeration(tau):
    scores, transitions, valid = make_batch(seed=1)
    scores = scores + 1.0  # most tokens want in: the budget binds
    budget = budget_sizes(valid.sum(1), 0.4)
    mu, lam = lagrangian_marginals(scores, transitions, valid, budget, temperature=tau, iters=60)
    for row, length in enumerate(LENGTHS):
        expected, _ = brute_marginals(scores[row], transitions[row], length, lam=float(lam[row]), tau=tau)
        assert torch.allclose(mu[row, :length], expected, atol=1e-8)
        if lam[row] > 0:
            assert math.isclose(float(mu[row].sum()), int(budget[row]), abs_tol=1e-6)
        else:
            assert float(mu[row].sum()) <= int(budget[row]) + 1e-9


def test_multiplier_is_zero_when_budget_is_slack():
    scores, transitions, valid = make_batch(seed=2)
    lam = solve_multiplier(scores - 10, transitions, valid, budget_sizes(valid.sum(1), 0.6))
    assert torch.all(lam == 0)


def test_multiplier_bracket_widens_for_large_scores():
    scores, transitions, valid = make_batch(seed=3, scale=1.0)
    budget = budget_sizes(valid.sum(1), 0.5)
    mu, lam = lagrangian_marginals(scores * 200 + 300, transitions, valid, budget, iters=80)
    binding = lam > 0
    assert torch.allclose(mu.sum(1)[binding], budget[binding].to(mu.dtype), atol=1e-4)


@pytest.mark.parametrize("tau", [1.0, 0.5])
def test_truncated_marginals_match_enumeration(tau):
    scores, transitions, valid = make_batch(seed=4)
    budget = budget_sizes(valid.sum(1), 0.6)
    mu, log_z = truncated_marginals(scores, transitions, valid, budget, temperature=tau)
    for row, length in enumerate(LENGTHS):
        expected, expected_log_z = brute_marginals(
            scores[row], transitions[row], length, budget=int(budget[row]), tau=tau
        )
        assert torch.allclose(mu[row, :length], expected, atol=1e-9)
        assert math.isclose(float(log_z[row]), expected_log_z, abs_tol=1e-9)
        assert float(mu[row].sum()) <= int(budget[row]) + 1e-9


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("k_ratio", [0.2, 0.6, 1.0])
def test_budgeted_viterbi_matches_enumeration(seed, k_ratio):
    scores, transitions, valid = make_batch(seed=seed)
    budget = budget_sizes(valid.sum(1), k_ratio)
    mask = budgeted_viterbi(scores, transitions, valid, budget)
    for row, length in enumerate(LENGTHS):
        best = brute_map(scores[row], transitions[row], length, int(budget[row]))
        found = mask[row, :length]
        assert mask_score(found, scores[row], transitions[row]) == pytest.approx(
            mask_score(best, scores[row], transitions[row])
        )
        assert float(found.sum()) <= int(budget[row])
        assert torch.all(mask[row, length:] == 0)


def test_continuity_merges_segments():
    scores = torch.tensor([[2.0, -0.5, 2.0, -0.5, 2.0]], dtype=torch.float64)
    valid = torch.ones_like(scores, dtype=torch.bool)
    budget = torch.tensor([5])
    apart = budgeted_viterbi(scores, torch.zeros_like(scores), valid, budget)
    joined = budgeted_viterbi(scores, torch.ones_like(scores), valid, budget)
    assert mask_segments(apart[0].tolist()) == [(0, 1), (2, 3), (4, 5)]
    assert mask_segments(joined[0].tolist()) == [(0, 5)]


def test_budget_sizes():
    assert budget_sizes(torch.tensor([0, 1, 5, 10]), 0.6).tolist() == [0, 1, 3, 6]
    assert budget_sizes(torch.tensor([7]), 1.0).tolist() == [7]


def test_rationale_mask_modes():
    scores, transitions, valid = make_batch(seed=5)
    budget = budget_sizes(valid.sum(1), 0.6)
    hard = rationale_mask(scores, transitions, valid, budget, train=False)
    assert set(hard.unique().tolist()) <= {0.0, 1.0}
    assert torch.all(hard.sum(1) <= budget)
    gen = torch.Generator().manual_seed(0)
    soft = rationale_mask(scores, transitions, valid, budget, train=True, temperature=0.5, generator=gen)
    assert torch.all((soft >= 0) & (soft <= 1)) and torch.all(soft.sum(1) <= budget + 1e-6)
    straight = rationale_mask(scores, transitions, valid, budget, train=True, straight_through=True)
    assert set(straight.detach().round(decimals=6).unique().tolist()) <= {0.0, 1.0}


def test_logistic_noise_distribution():
    gen = torch.Generator().manual_seed(0)
    noise = logistic_noise(torch.Size([20000]), like=torch.zeros(1, dtype=torch.float64), generator=gen)
    assert abs(float(noise.mean())) < 0.05
    assert float(noise.var()) == pytest.approx(math.pi**2 / 3, rel=0.05)


def test_gradcheck_chain_marginals():
    scores, transitions, valid = make_batch(seed=6)
    scores.requires_grad_(True)
    transitions.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda s, r: chain_marginals(s, r, valid)[0], (scores, transitions))


def test_gradcheck_truncated_marginals():
    scores, transitions, valid = make_batch(seed=7)
    budget = budget_sizes(valid.sum(1), 0.6)
    scores.requires_grad_(True)
    transitions.requires_grad_(True)
    assert torch.autograd.gradcheck(
        lambda s, r: truncated_marginals(s, r, valid, budget)[0], (scores, transitions)
    )


def test_gradcheck_implicit_multiplier_gradient():
    """With the implicit correction, the gradient is that of the exact constrained
    solution (finite differences re-solve the multiplier)."""
    scores, transitions, valid = make_batch(seed=8)
    scores = (scores + 1.5).requires_grad_(True)
    transitions.requires_grad_(True)
    budget = budget_sizes(valid.sum(1), 0.4)

    def solve(s, r):
        return lagrangian_marginals(s, r, valid, budget, temperature=0.7, iters=80, implicit=True)[0]

    assert (lagrangian_marginals(scores, transitions, valid, budget, iters=80)[1] > 0).any()
    assert torch.autograd.gradcheck(solve, (scores, transitions), atol=1e-5)


def test_detached_multiplier_gradient_flows():
    scores, transitions, valid = make_batch(seed=9)
    scores.requires_grad_(True)
    transitions.requires_grad_(True)
    budget = budget_sizes(valid.sum(1), 0.4)
    mu, _ = lagrangian_marginals(scores, transitions, valid, budget)
    (mu * torch.arange(mu.shape[1])).sum().backward()
    assert scores.grad is not None and torch.isfinite(scores.grad).all() and scores.grad.abs().sum() > 0
    assert transitions.grad is not None and torch.isfinite(transitions.grad).all()


def test_empty_inputs():
    empty = torch.zeros(0, 0, dtype=torch.float64)
    valid = torch.zeros(0, 0, dtype=torch.bool)
    assert budgeted_viterbi(empty, empty, valid, torch.zeros(0, dtype=torch.int64)).shape == (0, 0)
    scores = torch.zeros(2, 3, dtype=torch.float64)
    valid = torch.tensor([[True, True, False], [False, False, False]])
    budget = budget_sizes(valid.sum(1), 0.6)
    mask = budgeted_viterbi(scores + 1, scores, valid, budget)
    assert mask.tolist() == [[1.0, 1.0, 0.0], [0.0, 0.0, 0.0]]
    mu, _ = lagrangian_marginals(scores + 1, scores, valid, budget)
    assert torch.all(mu[1] == 0) and torch.isfinite(mu).all()


@pytest.mark.parametrize(
    "mask,expected",
    [([0, 1, 1, 0, 1], [(1, 3), (4, 5)]), ([1, 1, 1], [(0, 3)]), ([0, 0], []), ([], [])],
)
def test_mask_segments(mask, expected):
    assert mask_segments(mask) == expected


@pytest.mark.parametrize("seed", range(3))
def test_scan_marginals_equal_forward_backward(seed):
    scores, transitions, valid = make_batch(seed=seed)
    mu, log_z = chain_marginals(scores, transitions, valid)
    scan_mu, scan_log_z = scan_marginals(scores, transitions, valid)
    assert torch.allclose(scan_mu, mu, atol=1e-10) and torch.allclose(scan_log_z, log_z, atol=1e-10)


def test_gradcheck_scan_marginals():
    scores, transitions, valid = make_batch(seed=10)
    scores.requires_grad_(True)
    transitions.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda s, r: scan_marginals(s, r, valid)[0], (scores, transitions))
