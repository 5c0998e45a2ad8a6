"""Budgeted 2-state chain solver for RE2 rationales (RE2 paper, section 2.1.3, Eqs. 6-8). Torch and
NumPy, no spaCy.

A rationale is a binary mask `m` over the L maskable tokens of a sequence, scored as

    score(m) = sum_i m_i s_i + sum_i m_i m_{i+1} r_i,    r_i >= 0 (continuity),
    subject to sum_i m_i <= K                                    (sparsity budget).

Tensors are batched over sequences: `scores` (B, L), `transitions` (B, L) where
`transitions[:, i]` links tokens i and i+1 (the last column is unused), `valid` (B, L)
bool with the valid tokens of each row first (padding at the end), `budget` (B,) int.

- `chain_marginals`: exact marginals of the Gibbs distribution of the chain without a
  budget, by forward-backward in log space.
- `lagrangian_marginals`: the relaxed marginals with the budget as a Lagrange multiplier
  found per sequence by bisection (no gradient), followed by one differentiated pass;
  optionally with the implicit-gradient correction through the multiplier.
- `truncated_marginals`: exact marginals of the Gibbs distribution truncated to
  `|m| <= K` (count-augmented chain).
- `budgeted_viterbi`: the exact MAP mask under the budget.
- `rationale_mask`: perturb-and-MAP relaxation for training, MAP for inference.
"""
import math
from typing import List, Optional, Tuple

import numpy
import torch
from torch import Tensor

NEG_INF = -1e9  # finite "minus infinity": keeps logaddexp and its gradients NaN-free


def _logaddexp(a: Tensor, b: Tensor) -> Tensor:
    """log(exp(a) + exp(b)) with a stable double backward (torch.logaddexp's second
    derivative is NaN where both arguments are very negative)."""
    top = torch.maximum(a, b).detach()
    return top + torch.log(torch.exp(a - top) + torch.exp(b - top))


def logistic_noise(shape: torch.Size, *, like: Tensor, generator: Optional[torch.Generator] = None) -> Tensor:
    """Logistic(0, 1) noise: the difference of two Gumbel variables, i.e. Gumbel noise on
    both states of a binary variable.

    shape (torch.Size): Output shape.
    like (Tensor): Gives dtype and device.
    generator (Optional[torch.Generator]): Random generator.
    RETURNS (Tensor): The noise.
    """
    u = torch.rand(shape, dtype=like.dtype, device=like.device, generator=generator)
    eps = torch.finfo(like.dtype).tiny
    return torch.log(u + eps) - torch.log1p(-u + eps)


def budget_sizes(lengths: Tensor, k_ratio: float) -> Tensor:
    """The budget `K = ceil(k_ratio * L)` per sequence (at least 1 for a non-empty one).

    lengths (Tensor): (B,) number of valid tokens.
    k_ratio (float): Fraction of the tokens that may be selected, in (0, 1].
    RETURNS (Tensor): (B,) int64 budgets, at most the lengths.
    """
    lengths = lengths.to(torch.int64)
    budget = torch.ceil(lengths.to(torch.float64) * k_ratio - 1e-9).to(torch.int64)
    return torch.minimum(torch.clamp(budget, min=1), lengths)


def chain_marginals(unary: Tensor, pairwise: Tensor, valid: Tensor) -> Tuple[Tensor, Tensor]:
    """Marginals `P(m_i = 1)` and log-partition of the chain
    `p(m) ~ exp(sum_i m_i unary_i + sum_i m_i m_{i+1} pairwise_i)` (forward-backward, log space).

    unary (Tensor): (B, L) unary scores.
    pairwise (Tensor): (B, L) edge scores, column i for the edge (i, i+1).
    valid (Tensor): (B, L) bool, valid tokens first.
    RETURNS (Tuple[Tensor, Tensor]): (B, L) marginals (0 on padding) and (B,) log Z.
    """
    n_rows, length = unary.shape
    if length == 0:
        return unary.new_zeros(n_rows, 0), unary.new_zeros(n_rows)
    unary = torch.where(valid, unary, torch.zeros_like(unary))
    # An edge counts only when both of its ends are valid.
    edge_ok = torch.zeros_like(valid)
    edge_ok[:, :-1] = valid[:, 1:] & valid[:, :-1]
    pairwise = torch.where(edge_ok, pairwise, torch.zeros_like(pairwise))
    zero = unary.new_zeros(n_rows)
    alphas: List[Tuple[Tensor, Tensor]] = [(zero, unary[:, 0])]
    for i in range(1, length):
        a0, a1 = alphas[-1]
        new0 = _logaddexp(a0, a1)
        new1 = unary[:, i] + _logaddexp(a0, a1 + pairwise[:, i - 1])
        # Padding carries the last valid state through unchanged.
        alphas.append((torch.where(valid[:, i], new0, a0), torch.where(valid[:, i], new1, a1)))
    log_z = _logaddexp(*alphas[-1])
    betas: List[Tuple[Tensor, Tensor]] = [(zero, zero)]
    for i in range(length - 2, -1, -1):
        b0, b1 = betas[-1]
        nxt = valid[:, i + 1]
        new0 = _logaddexp(b0, unary[:, i + 1] + b1)
        new1 = _logaddexp(b0, unary[:, i + 1] + pairwise[:, i] + b1)
        betas.append((torch.where(nxt, new0, b0), torch.where(nxt, new1, b1)))
    betas.reverse()
    log_mu = torch.stack([a1 + b1 for (_, a1), (_, b1) in zip(alphas, betas)], dim=1) - log_z[:, None]
    mu = torch.where(valid, torch.exp(log_mu), torch.zeros_like(log_mu))
    return mu, log_z


def _log_matmul(a: Tensor, b: Tensor) -> Tensor:
    """Product of (..., 2, 2) matrices in the log semiring."""
    return torch.logsumexp(a[..., :, :, None] + b[..., None, :, :], dim=-2)


def scan_marginals(unary: Tensor, pairwise: Tensor, valid: Tensor) -> Tuple[Tensor, Tensor]:
    """The same marginals and log-partition as `chain_marginals`, with log Z from a
    parallel (tree) reduction of the 2x2 transfer matrices, O(log L) sequential steps,
    and the marginals as `d log Z / d unary` (the backward pass of that reduction).
    Differentiable: the marginals keep their graph when the inputs require grad.

    RETURNS (Tuple[Tensor, Tensor]): (B, L) marginals (0 on padding) and (B,) log Z.
    """
    n_rows, length = unary.shape
    if length == 0:
        return unary.new_zeros(n_rows, 0), unary.new_zeros(n_rows)
    differentiable = torch.is_grad_enabled() and (unary.requires_grad or pairwise.requires_grad)
    with torch.enable_grad():
        unary = torch.where(valid, unary, torch.zeros_like(unary))
        if not differentiable:
            unary = unary.detach().requires_grad_(True)
        neg = unary.new_full((n_rows, length - 1), NEG_INF)
        zero = unary.new_zeros(n_rows, length - 1)
        step = valid[:, 1:]
        into1 = unary[:, 1:]
        # Transfer matrix of token i (i >= 1): rows = state of i - 1, columns = state of i.
        # Padding tokens get the identity, so they change nothing.
        matrices = torch.stack(
            [
                torch.stack([zero, torch.where(step, into1, neg)], -1),
                torch.stack(
                    [torch.where(step, zero, neg), torch.where(step, into1 + pairwise[:, :-1], zero)], -1
                ),
            ],
            -2,
        )
        size = 1
        while size < length - 1:
            size *= 2
        if size > length - 1:
            identity = unary.new_tensor([[0.0, NEG_INF], [NEG_INF, 0.0]]).expand(n_rows, size - (length - 1), 2, 2)
            matrices = torch.cat([matrices, identity], dim=1)
        while matrices.shape[1] > 1:
            matrices = _log_matmul(matrices[:, 0::2], matrices[:, 1::2])
        start = torch.where(valid[:, 0], unary[:, 0], unary.new_full((n_rows,), NEG_INF))
        last = torch.stack([unary.new_zeros(n_rows), start], -1)  # log alpha of token 0
        if length > 1:
            last = torch.logsumexp(last[:, :, None] + matrices[:, 0], dim=1)
        log_z = torch.logsumexp(last, dim=-1)
        (mu,) = torch.autograd.grad(log_z.sum(), unary, create_graph=differentiable)
    if not differentiable:
        log_z, mu = log_z.detach(), mu.detach()
    return torch.where(valid, mu, torch.zeros_like(mu)), log_z


def _relaxed(scores: Tensor, transitions: Tensor, valid: Tensor, lam: Tensor, temperature: float) -> Tensor:
    """Chain marginals of `u = (s - lam) / tau`, `rho = r / tau`."""
    mu, _ = scan_marginals((scores - lam[:, None]) / temperature, transitions / temperature, valid)
    return mu


@torch.no_grad()
def solve_multiplier(
    scores: Tensor,
    transitions: Tensor,
    valid: Tensor,
    budget: Tensor,
    *,
    temperature: float = 1.0,
    iters: int = 30,
) -> Tensor:
    """The multiplier `lam >= 0` with `sum_i mu_i(lam) = K` (0 when the budget is slack),
    per sequence, by bisection. `sum mu(lam)` decreases monotonically in lam.

    RETURNS (Tensor): (B,) multipliers, no gradient.
    """
    scores, transitions = scores.detach(), transitions.detach()
    n_rows = scores.shape[0]
    budget = budget.to(scores.dtype)
    lo = scores.new_zeros(n_rows)
    active = _relaxed(scores, transitions, valid, lo, temperature).sum(1) > budget
    if not bool(active.any()):
        return lo
    masked = torch.where(valid, scores, torch.full_like(scores, NEG_INF))
    lengths = valid.sum(1).clamp(min=1).to(scores.dtype)
    hi = masked.max(1).values.clamp(min=0) + 2 * transitions.clamp(min=0).max(1).values
    hi = hi + temperature * torch.log(lengths) + 1.0
    for _ in range(60):  # widen until the constraint holds at hi
        over = _relaxed(scores, transitions, valid, hi, temperature).sum(1) > budget
        if not bool(over.any()):
            break
        hi = torch.where(over, 2 * hi, hi)
    for _ in range(iters):
        mid = (lo + hi) / 2
        over = _relaxed(scores, transitions, valid, mid, temperature).sum(1) > budget
        lo = torch.where(over, mid, lo)
        hi = torch.where(over, hi, mid)
    return torch.where(active, (lo + hi) / 2, torch.zeros_like(lo))


def lagrangian_marginals(
    scores: Tensor,
    transitions: Tensor,
    valid: Tensor,
    budget: Tensor,
    *,
    temperature: float = 1.0,
    iters: int = 30,
    implicit: bool = False,
) -> Tuple[Tensor, Tensor]:
    """Relaxed rationale: chain marginals at the multiplier that makes `E|m| = K`.

    Only the last pass is differentiated. With `implicit`, one Newton step on the
    multiplier, `lam~ = lam* + tau (sum mu(lam*) - K) / Var|m|` (Var detached), carries
    the implicit gradient `d lam / d theta`, so the gradient is that of the exact solution.

    scores (Tensor): (B, L) importance scores (perturbed in training).
    transitions (Tensor): (B, L) continuity scores r >= 0.
    valid (Tensor): (B, L) bool.
    budget (Tensor): (B,) budgets K.
    temperature (float): Relaxation temperature tau > 0.
    iters (int): Bisection steps.
    implicit (bool): Differentiate through the multiplier.
    RETURNS (Tuple[Tensor, Tensor]): (B, L) marginals and (B,) multipliers.
    """
    lam = solve_multiplier(scores, transitions, valid, budget, temperature=temperature, iters=iters)
    if implicit and bool((lam > 0).any()):
        with torch.enable_grad():
            probe = lam.clone().requires_grad_(True)
            count = _relaxed(scores.detach(), transitions.detach(), valid, probe, temperature).sum(1)
            (d_count,) = torch.autograd.grad(count.sum(), probe)
        variance = (-temperature * d_count).clamp(min=1e-12)
        count = _relaxed(scores, transitions, valid, lam, temperature).sum(1)
        step = temperature * (count - budget.to(scores.dtype)) / variance
        lam = lam + torch.where(lam > 0, step, torch.zeros_like(step))
    return _relaxed(scores, transitions, valid, lam, temperature), lam.detach()


def _count_chain(unary: Tensor, pairwise: Tensor, valid: Tensor, budget: Tensor) -> Tensor:
    """Run the count-augmented chain in the log semiring, with states (selected so far
    c <= K, last state).

    RETURNS: the final (B, K+1, 2) table (K = max budget) with counts over a row's
    budget set to NEG_INF.
    """
    n_rows, length = unary.shape
    k_max = int(budget.max()) if n_rows else 0
    n_counts = k_max + 1
    counts = torch.arange(n_counts, device=unary.device)
    table = unary.new_full((n_rows, n_counts, 2), NEG_INF)
    table[:, 0, 0] = 0.0
    if n_counts > 1:
        table[:, 1, 1] = torch.where(valid[:, 0], unary[:, 0], torch.full_like(unary[:, 0], NEG_INF))
    for i in range(1, length):
        prev0, prev1 = table[:, :, 0], table[:, :, 1]
        shifted0 = torch.cat([prev0.new_full((n_rows, 1), NEG_INF), prev0[:, :-1]], dim=1)
        shifted1 = torch.cat([prev1.new_full((n_rows, 1), NEG_INF), prev1[:, :-1]], dim=1)
        new0 = _logaddexp(prev0, prev1)
        new1 = unary[:, i : i + 1] + _logaddexp(shifted0, shifted1 + pairwise[:, i - 1 : i])
        new = torch.stack([new0, new1], -1).clamp(min=NEG_INF)
        table = torch.where(valid[:, i, None, None], new, table)
    over = counts[None, :] > budget[:, None]
    return torch.where(over[:, :, None], torch.full_like(table, NEG_INF), table)


def truncated_marginals(
    scores: Tensor,
    transitions: Tensor,
    valid: Tensor,
    budget: Tensor,
    *,
    temperature: float = 1.0,
) -> Tuple[Tensor, Tensor]:
    """Exact marginals of the Gibbs distribution truncated to `|m| <= K`:
    `p(m) ~ exp(score(m) / tau) [sum m <= K]`, as `d log Z / d u` of the count chain.
    O(L K); differentiable (the marginals are computed with `create_graph=True`).

    RETURNS (Tuple[Tensor, Tensor]): (B, L) marginals and (B,) log Z.
    """
    differentiable = torch.is_grad_enabled() and (scores.requires_grad or transitions.requires_grad)
    with torch.enable_grad():
        unary = torch.where(valid, scores / temperature, torch.zeros_like(scores))
        if not differentiable:
            unary = unary.detach().requires_grad_(True)
        table = _count_chain(unary, transitions / temperature, valid, budget)
        log_z = torch.logsumexp(table.reshape(table.shape[0], -1), dim=1)
        (mu,) = torch.autograd.grad(log_z.sum(), unary, create_graph=differentiable)
    if not differentiable:
        log_z = log_z.detach()
    return torch.where(valid, mu, torch.zeros_like(mu)), log_z


@torch.no_grad()
def budgeted_viterbi(scores: Tensor, transitions: Tensor, valid: Tensor, budget: Tensor) -> Tensor:
    """The exact MAP mask `argmax_m score(m)` subject to `sum m <= K` (count-augmented
    Viterbi, O(L K)). Inference only (no gradient), so it runs in NumPy on the CPU: its L
    sequential steps are small array operations, and NumPy's per-operation overhead is a
    fraction of torch's (about 6x faster at L = 128, K = 77, 64 rows).

    RETURNS (Tensor): (B, L) masks (same dtype and device as `scores`, 0 on padding).
    """
    n_rows, length = scores.shape
    if n_rows == 0 or length == 0:
        return torch.zeros_like(scores)
    score, edge = scores.detach().cpu().numpy(), transitions.detach().cpu().numpy()
    here, lengths, k_max = valid.cpu().numpy(), valid.sum(1).cpu().numpy(), int(budget.max())
    unary = numpy.where(here, score, 0).astype(score.dtype)
    # table[state, row, c + 1]: best score with c tokens selected so far, ending in
    # `state`; column 0 (count -1) stays NEG_INF so that "one more token" is a shift.
    table = numpy.full((2, n_rows, k_max + 2), NEG_INF, dtype=score.dtype)
    table[0, :, 1] = 0.0
    if k_max > 0:
        table[1, :, 2] = numpy.where(here[:, 0], unary[:, 0], NEG_INF)
    # pointers[i - 1, state, row, c]: whether the best path into (i, state, c) came from state 1
    pointers = numpy.zeros((length - 1, 2, n_rows, k_max + 1), dtype=bool)
    new0, new1 = numpy.empty((2, n_rows, k_max + 1), dtype=score.dtype)
    all_valid = here.all(0)
    for i in range(1, length):
        prev0, prev1 = table[0, :, 1:], table[1, :, 1:]
        from0, from1 = table[0, :, :-1], table[1, :, :-1] + edge[:, i - 1 : i]
        numpy.greater(prev1, prev0, out=pointers[i - 1, 0])  # ties go to state 0
        numpy.greater(from1, from0, out=pointers[i - 1, 1])
        numpy.maximum(numpy.maximum(prev0, prev1), NEG_INF, out=new0)
        numpy.maximum(numpy.maximum(from0, from1) + unary[:, i : i + 1], NEG_INF, out=new1)
        # Padding positions (i >= length) leave a row's table as it is.
        numpy.copyto(prev0, new0, where=True if all_valid[i] else here[:, i, None])
        numpy.copyto(prev1, new1, where=True if all_valid[i] else here[:, i, None])
    final = table[:, :, 1:].transpose(1, 2, 0).copy()  # (B, K+1, 2), flat index 2 c + state
    final[numpy.arange(k_max + 1)[None, :] > budget.cpu().numpy()[:, None]] = NEG_INF
    flat = final.reshape(n_rows, -1).argmax(1)
    count, state = flat // 2, flat % 2
    rows = numpy.arange(n_rows)
    mask = numpy.zeros((n_rows, length), dtype=numpy.int64)
    for i in range(length - 1, -1, -1):
        inside = i < lengths
        mask[:, i] = numpy.where(inside, state, 0)
        if i == 0:
            break
        previous = pointers[i - 1, state, rows, count]
        count = numpy.where(inside, count - mask[:, i], count)
        state = numpy.where(inside, previous, state)
    return torch.from_numpy(mask).to(device=scores.device, dtype=scores.dtype)


def rationale_mask(
    scores: Tensor,
    transitions: Tensor,
    valid: Tensor,
    budget: Tensor,
    *,
    train: bool,
    temperature: float = 1.0,
    iters: int = 30,
    implicit: bool = False,
    perturb: bool = True,
    straight_through: bool = False,
    generator: Optional[torch.Generator] = None,
) -> Tensor:
    """The rationale mask: perturb-and-MAP relaxation in training, exact MAP otherwise.

    In training the scores get logistic noise (`perturb`), and the mask is the relaxed
    marginal at temperature `temperature` with the budget as a multiplier; with
    `straight_through` its value is the perturbed MAP while gradients follow the
    marginals. At inference the mask is the budgeted Viterbi MAP of the clean scores.

    RETURNS (Tensor): (B, L) mask in [0, 1] (0 on padding).
    """
    if not train:
        return budgeted_viterbi(scores, transitions, valid, budget)
    if perturb:
        scores = scores + logistic_noise(scores.shape, like=scores, generator=generator)
    soft, _ = lagrangian_marginals(
        scores, transitions, valid, budget, temperature=temperature, iters=iters, implicit=implicit
    )
    if not straight_through:
        return soft
    hard = budgeted_viterbi(scores, transitions, valid, budget)
    return hard + soft - soft.detach()


def mask_segments(mask: List[float]) -> List[Tuple[int, int]]:
    """Maximal runs of selected positions, as (start, end) with `end` exclusive.

    mask (List[float]): One row of a hard mask (values > 0.5 are selected).
    RETURNS (List[Tuple[int, int]]): The contiguous segments, left to right.
    """
    segments: List[Tuple[int, int]] = []
    start = None
    for i, value in enumerate(list(mask) + [0.0]):
        if value > 0.5 and start is None:
            start = i
        elif value <= 0.5 and start is not None:
            segments.append((start, i))
            start = None
    return segments


def continuity_init(target: float = 1.0) -> float:
    """The raw parameter whose softplus is `target` (the initial continuity score)."""
    return math.log(math.expm1(target))
