"""Multi-label losses for RERE (Xie et al., 2021, section 4.3, Eqs. 7-10): the collective positive-unlabeled
(cPU) loss and plain binary cross-entropy, as small pure torch functions.

Both take logits of shape `(n_samples, n_items)` (a sample is a sentence for the
relation detector, a (query, pointer channel) pair for the span extractor; items are
relation labels or tokens), 0/1 targets of the same shape and an optional 0/1 mask of
the valid items (padding is 0). `loss_and_gradient` runs either one on arrays of any
Thinc backend and returns the loss and its gradient with respect to the logits.
"""

from typing import Optional, Tuple

import numpy
import torch
from thinc.api import torch2xp, xp2torch
from thinc.types import Floats2d

from ..errors import Errors

LOSSES = ("cpu", "bce")
EPS = 1e-7


def cpu_loss(
    logits: torch.Tensor,
    targets: torch.Tensor,
    mask: Optional[torch.Tensor] = None,
    *,
    gamma: float,
    mu: float,
    eps: float = EPS,
) -> torch.Tensor:
    """The collective PU loss with per-sample expectations.

    For each sample, `pos` is the mean probability over its positive (labelled) items and
    `neg` the mean over its unlabelled items; the loss is the batch mean of
    `gamma * -log(pos + eps) - log(1 - |neg - mu| + eps)`. A sample with no positive
    item contributes only its unlabelled term: with pos = 0 the positive term would be
    the constant `-log(eps)`, which has no gradient and only inflates the reported loss.

    logits (torch.Tensor): Scores before the sigmoid, (n_samples, n_items).
    targets (torch.Tensor): 1 for labelled positives, 0 for unlabelled items.
    mask (Optional[torch.Tensor]): 1 for valid items, 0 for padding; all valid if None.
    gamma (float): Weight of the positive term.
    mu (float): Expected mean probability of the unlabelled items, `pi * (tau + 1)`.
    eps (float): Numerical floor.
    RETURNS (torch.Tensor): The scalar loss (0 for an empty batch).
    """
    if logits.numel() == 0:
        return logits.sum()
    probs = torch.sigmoid(logits)
    mask = torch.ones_like(probs) if mask is None else mask.to(probs.dtype)
    positive = targets.to(probs.dtype) * mask
    unlabeled = (1.0 - targets.to(probs.dtype)) * mask
    n_pos = positive.sum(-1)
    pos = (positive * probs).sum(-1) / n_pos.clamp(min=eps)
    neg = (unlabeled * probs).sum(-1) / unlabeled.sum(-1).clamp(min=eps)
    pos_term = torch.where(n_pos > 0, -torch.log(pos + eps), torch.zeros_like(pos))
    neg_term = -torch.log(1.0 - (neg - mu).abs() + eps)
    return (gamma * pos_term + neg_term).mean()


def bce_loss(logits: torch.Tensor, targets: torch.Tensor, mask: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Binary cross-entropy averaged over the valid items.

    logits (torch.Tensor): Scores before the sigmoid, (n_samples, n_items).
    targets (torch.Tensor): 0/1 targets.
    mask (Optional[torch.Tensor]): 1 for valid items, 0 for padding; all valid if None.
    RETURNS (torch.Tensor): The scalar loss (0 for an empty batch).
    """
    mask = torch.ones_like(logits) if mask is None else mask.to(logits.dtype)
    losses = torch.nn.functional.binary_cross_entropy_with_logits(logits, targets.to(logits.dtype), reduction="none")
    return (losses * mask).sum() / mask.sum().clamp(min=1.0)


def cpu_mu(prior: float, tau: float) -> float:
    """`mu = pi * (tau + 1)`: the expected mean probability of unlabelled items when a
    fraction `tau` of the true positives is missing from the labels.

    prior (float): `pi`, the fraction of positive items in the training labels.
    tau (float): The assumed false-negative ratio.
    RETURNS (float): mu.
    """
    return prior * (tau + 1.0)


def estimate_prior(targets: numpy.ndarray) -> float:
    """`pi`: the fraction of positive items in a training label matrix, rounded to 6
    decimals so that it survives the JSON round trip of the component's cfg exactly.

    targets (numpy.ndarray): 0/1 training labels.
    RETURNS (float): pi (0.0 for no labels).
    """
    return round(float(targets.mean()), 6) if targets.size else 0.0


def check_loss_name(loss: str) -> None:
    """Raise ValueError E600 unless `loss` is one of LOSSES."""
    if loss not in LOSSES:
        raise ValueError(Errors.E600.format(options=LOSSES, value=loss))


def loss_and_gradient(
    loss: str,
    logits: Floats2d,
    targets: Floats2d,
    mask: Optional[Floats2d] = None,
    *,
    gamma: float = 1.0,
    mu: float = 0.0,
) -> Tuple[float, Floats2d]:
    """Compute a loss and its gradient with respect to the logits.

    loss (str): "cpu" or "bce".
    logits (Floats2d): Scores before the sigmoid, (n_samples, n_items).
    targets (Floats2d): 0/1 targets.
    mask (Optional[Floats2d]): 1 for valid items, 0 for padding.
    gamma (float): cPU weight of the positive term.
    mu (float): cPU expected mean probability of unlabelled items.
    RETURNS (Tuple[float, Floats2d]): The loss and d_logits (same backend as `logits`).
    """
    check_loss_name(loss)
    t_logits = xp2torch(logits, requires_grad=True)
    t_targets = xp2torch(targets)
    t_mask = xp2torch(mask) if mask is not None else None
    if loss == "cpu":
        value = cpu_loss(t_logits, t_targets, t_mask, gamma=gamma, mu=mu)
    else:
        value = bce_loss(t_logits, t_targets, t_mask)
    if t_logits.numel() == 0:
        return 0.0, logits * 0
    value.backward()
    return float(value.item()), torch2xp(t_logits.grad)
