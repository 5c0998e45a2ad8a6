"""The PyTorch part of the RE2 model: importance scores, continuity, the rationale mask
and the classifier on the masked tokens (RE2 paper, sections 2.1-2.2). Wrapped by
`spacy_relext.rationale.architectures` with thinc's PyTorchWrapper.
"""
import math
from typing import Optional, Tuple

import torch
from torch import Tensor, nn

from .. import torch_threads  # noqa: F401 (fork safety for nlp.pipe(n_process=2))
from .solver import budget_sizes, continuity_init, rationale_mask


class RationaleMaskerModule(nn.Module):
    """Mask the tokens of each candidate pair's region, then classify the pair.

    width (int): Token vector width D.
    n_classes (int): Output classes (the negative class included).
    The keyword options are those of `spacy-relext.RationaleMasker.v1`
    (`spacy_relext.rationale.architectures.build_rationale_masker`), documented there.
    """

    def __init__(
        self,
        width: int,
        n_classes: int,
        *,
        hidden_width: Optional[int] = None,
        k_ratio: float = 0.6,
        continuity: bool = True,
        token_continuity: bool = False,
        sparsity: bool = True,
        add_entities: bool = True,
        masking: bool = True,
        dropout: float = 0.1,
        bisection_iters: int = 20,
        implicit_gradient: bool = False,
        perturb: bool = True,
        straight_through: bool = False,
    ) -> None:
        super().__init__()
        self.width = width
        self.k_ratio = k_ratio
        self.continuity = continuity
        self.token_continuity = token_continuity
        self.sparsity = sparsity
        self.add_entities = add_entities
        self.masking = masking
        self.bisection_iters = bisection_iters
        self.implicit_gradient = implicit_gradient
        self.perturb = perturb
        self.straight_through = straight_through
        # r = softplus(raw), about 1 in the units of the scaled importance scores.
        self.continuity_raw = nn.Parameter(torch.full((1,), continuity_init(1.0)))  # 1-d: thinc optimizers reject 0-d
        self.continuity_proj = nn.Linear(2 * width, 1) if token_continuity else None
        if self.continuity_proj is not None:
            nn.init.zeros_(self.continuity_proj.weight)
            nn.init.constant_(self.continuity_proj.bias, continuity_init(1.0))
        n_features = 3 * width if add_entities else width
        hidden = hidden_width or max(1, width // 2)
        self.classifier = nn.Sequential(
            nn.Linear(n_features, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, n_classes)
        )

    def transitions(self, tokens: Tensor, valid: Tensor) -> Tensor:
        """Continuity scores r (P, L), column i for the edge (i, i+1)."""
        if not self.continuity:
            return tokens.new_zeros(valid.shape)
        if self.continuity_proj is None:
            return nn.functional.softplus(self.continuity_raw).expand(valid.shape).to(tokens.dtype)
        pairs = torch.cat([tokens[:, :-1], tokens[:, 1:]], dim=-1)
        edges = nn.functional.softplus(self.continuity_proj(pairs).squeeze(-1))
        return torch.cat([edges, edges.new_zeros(edges.shape[0], 1)], dim=1)

    def forward(
        self,
        vectors: Tensor,
        region: Tensor,
        valid: Tensor,
        head_rows: Tensor,
        head_weights: Tensor,
        tail_rows: Tensor,
        tail_weights: Tensor,
        temperature: float = 1.0,
    ) -> Tuple[Tensor, Tensor]:
        """Classify P candidate pairs.

        vectors (Tensor): (N, D) token vectors of the batch, flattened.
        region (Tensor): (P, L) rows of each pair's maskable tokens (padding: any row).
        valid (Tensor): (P, L) 1 for real tokens, valid tokens first.
        head_rows, tail_rows (Tensor): (P, M) rows of the argument's mention tokens.
        head_weights, tail_weights (Tensor): (P, M) pooling weights (0 on padding).
        temperature (float): Relaxation temperature (training only).
        RETURNS (Tuple[Tensor, Tensor]): (P, C) logits and the (P, L) mask, detached.
        """
        valid = valid.bool()
        tokens = vectors[region] * valid[..., None].to(vectors.dtype)
        head = (vectors[head_rows] * head_weights[..., None]).sum(1)
        tail = (vectors[tail_rows] * tail_weights[..., None]).sum(1)
        if self.masking:
            # Scaled dot products: raw ones saturate the Gibbs distribution.
            scores = (tokens * (head + tail)[:, None, :]).sum(-1) / math.sqrt(self.width)
            lengths = valid.sum(1)
            budget = budget_sizes(lengths, self.k_ratio) if self.sparsity else lengths
            mask = rationale_mask(
                scores,
                self.transitions(tokens, valid),
                valid,
                budget,
                train=self.training,
                temperature=temperature,
                iters=self.bisection_iters,
                implicit=self.implicit_gradient,
                perturb=self.perturb,
                straight_through=self.straight_through,
            )
        else:
            mask = valid.to(vectors.dtype)
        pooled = (tokens * mask[..., None]).sum(1) / (mask.sum(1, keepdim=True) + 1e-6)
        features = torch.cat([pooled, head, tail], dim=-1) if self.add_entities else pooled
        return self.classifier(features), mask.detach()
