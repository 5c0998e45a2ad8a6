"""The PyTorch part of the RE2 model: argument roles, importance scores, continuity, the
rationale mask and the classifier on the masked tokens (RE2 paper, sections 2.1-2.2).
Wrapped by `spacy_relext.rationale.architectures` with thinc's PyTorchWrapper.
"""
import math
from typing import Optional, Tuple

import torch
from torch import Tensor, nn

from .. import torch_threads  # noqa: F401 (fork safety for nlp.pipe(n_process=2))
from .roles import BOTH, HEAD, OTHER, TAIL
from .solver import budget_sizes, continuity_init, rationale_mask

# A marginal closer than this to 0 or 1 passes almost no gradient back to its score.
SATURATION_MARGIN = 0.01


class RationaleMaskerModule(nn.Module):
    """Mask the tokens of each candidate pair's region, then classify the pair.

    width (int): Token vector width D.
    n_classes (int): Output classes (the negative class included).
    n_entity_types (int): Entity labels known to the typed role embeddings (id 0: unknown).
    The keyword options are those of `spacy-relext.RationaleMasker.v2`
    (`spacy_relext.rationale.architectures.build_rationale_masker_v2`), documented there.
    """

    def __init__(
        self,
        width: int,
        n_classes: int,
        *,
        n_entity_types: int = 0,
        hidden_width: Optional[int] = None,
        k_ratio: float = 0.6,
        continuity: bool = True,
        token_continuity: bool = False,
        sparsity: bool = True,
        add_entities: bool = True,
        masking: bool = True,
        roles: str = "untyped",
        faithful: bool = False,
        normalise_scores: bool = True,
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
        self.normalise_scores = normalise_scores
        self.bisection_iters = bisection_iters
        self.implicit_gradient = implicit_gradient
        self.perturb = perturb
        self.straight_through = straight_through
        # Counts of saturated and all valid training marginals since the last read
        # (`take_saturation`): a mask stuck at 0/1 has stopped learning.
        self.saturation_counts = [0, 0]
        # Argument roles: the token vectors of one sentence are the same for every pair in
        # it, so the pair's direction enters here, as embeddings of each token's role (and
        # the arguments' entity types) read by a pair-level BiLSTM over the region: the
        # counterpart of entity markers for an encoder that runs once per Doc.
        if roles != "none":
            self.role_embedding = nn.Embedding(4, width)
            # Unit scale, as the normalised token vectors they are added to (role_inputs).
            nn.init.normal_(self.role_embedding.weight, std=1.0)
            self.type_embedding = nn.Embedding(n_entity_types + 1, width) if roles == "typed" else None
            if self.type_embedding is not None:
                nn.init.normal_(self.type_embedding.weight, std=1.0)
            self.pair_encoder = nn.LSTM(width, width // 2, batch_first=True, bidirectional=True)
            self.pair_projection = nn.Linear(2 * (width // 2), width)
        else:
            self.role_embedding = self.type_embedding = self.pair_encoder = self.pair_projection = None
        # Faithful mode: a second BiLSTM re-reads only the selected tokens (and the
        # arguments), so nothing outside the rationale reaches the classifier through it.
        self.reader = nn.LSTM(width, width // 2, batch_first=True, bidirectional=True) if faithful else None
        self.reader_projection = nn.Linear(2 * (width // 2), width) if faithful else None
        # r = softplus(raw), about 1 in the units of the normalised importance scores.
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

    def role_inputs(self, tokens: Tensor, roles: Tensor, head_type: Tensor, tail_type: Tensor) -> Tensor:
        """Token vectors plus the embeddings of their roles (and the arguments' types).
        The vectors are normalised first, so that the roles are not drowned by a tok2vec
        whose outputs grow during training."""
        inputs = nn.functional.layer_norm(tokens, tokens.shape[-1:]) + self.role_embedding(roles)
        if self.type_embedding is not None:
            types = torch.where(roles == HEAD, head_type[:, None], torch.where(roles == TAIL, tail_type[:, None], 0))
            inputs = inputs + self.type_embedding(types) * (roles != OTHER)[..., None].to(tokens.dtype)
        return inputs

    def forward(
        self,
        vectors: Tensor,
        region: Tensor,
        valid: Tensor,
        roles: Tensor,
        head_type: Tensor,
        tail_type: Tensor,
        head_rows: Tensor,
        head_weights: Tensor,
        tail_rows: Tensor,
        tail_weights: Tensor,
        temperature: float = 1.0,
        fixed_mask: Optional[Tensor] = None,
    ) -> Tuple[Tensor, Tensor]:
        """Classify P candidate pairs.

        vectors (Tensor): (N, D) token vectors of the batch, flattened.
        region (Tensor): (P, L) rows of each pair's maskable tokens (padding: any row).
        valid (Tensor): (P, L) 1 for real tokens, valid tokens first.
        roles (Tensor): (P, L) role of each region token (OTHER, HEAD, TAIL, BOTH).
        head_type, tail_type (Tensor): (P,) entity type ids of the arguments (0: unknown).
        head_rows, tail_rows (Tensor): (P, M) rows of the argument's mention tokens.
        head_weights, tail_weights (Tensor): (P, M) pooling weights (0 on padding).
        temperature (float): Relaxation temperature (training only).
        fixed_mask (Optional[Tensor]): (P, L) a mask to classify with instead of the
            selected one (rationale probes: comprehensiveness, sufficiency, mask swaps).
        RETURNS (Tuple[Tensor, Tensor]): (P, C) logits and the (P, L) mask, detached.
        """
        valid = valid.bool()
        weights = valid[..., None].to(vectors.dtype)
        tokens = vectors[region] * weights
        head = (vectors[head_rows] * head_weights[..., None]).sum(1)
        tail = (vectors[tail_rows] * tail_weights[..., None]).sum(1)
        lengths = valid.sum(1)
        states, query = self.region_states(tokens, valid, roles, head_type, tail_type, head, tail)
        if fixed_mask is not None:
            mask = fixed_mask.to(vectors.dtype) * weights[..., 0]
        elif self.masking:
            scores = importance_scores(states, query, normalise=self.normalise_scores)
            budget = budget_sizes(lengths, self.k_ratio) if self.sparsity else lengths
            mask = rationale_mask(
                scores,
                self.transitions(states, valid),
                valid,
                budget,
                train=self.training,
                temperature=temperature,
                iters=self.bisection_iters,
                implicit=self.implicit_gradient,
                perturb=self.perturb,
                straight_through=self.straight_through,
            )
            if self.training:
                self._count_saturation(mask.detach(), valid)
        else:
            mask = valid.to(vectors.dtype)
        if self.reader is not None:
            # The arguments are the query, not evidence: they stay visible.
            visible = torch.maximum(mask, (roles != OTHER).to(mask.dtype))[..., None]
            inputs = tokens if self.role_embedding is None else self.role_inputs(tokens, roles, head_type, tail_type)
            read = self._contextualise(self.reader, self.reader_projection, tokens * visible, inputs * visible, valid)
            pooled = _masked_mean(read, mask)
            head, tail = _mean_at(read, roles, HEAD), _mean_at(read, roles, TAIL)
        else:
            pooled = _masked_mean(states, mask)
        features = torch.cat([pooled, head, tail], dim=-1) if self.add_entities else pooled
        return self.classifier(features), mask.detach()

    def region_states(self, tokens: Tensor, valid: Tensor, roles: Tensor, head_type: Tensor, tail_type: Tensor,
                      head: Tensor, tail: Tensor) -> Tuple[Tensor, Tensor]:
        """The region's token states as the mask scores them, and the importance query."""
        if self.pair_encoder is None:
            return tokens, head + tail
        inputs = self.role_inputs(tokens, roles, head_type, tail_type)
        states = self._contextualise(self.pair_encoder, self.pair_projection, tokens, inputs, valid)
        # The query: the arguments as the pair encoder read them. (A mention cut off by
        # max_region_length contributes nothing; the region always keeps the two
        # mentions that define it.)
        return states, _mean_at(states, roles, HEAD) + _mean_at(states, roles, TAIL)

    def importance(self, vectors: Tensor, region: Tensor, valid: Tensor, roles: Tensor, head_type: Tensor,
                   tail_type: Tensor, head_rows: Tensor, head_weights: Tensor, tail_rows: Tensor,
                   tail_weights: Tensor) -> Tensor:
        """(P, L) importance scores of the region tokens (padding: -inf), for probes."""
        valid = valid.bool()
        tokens = vectors[region] * valid[..., None].to(vectors.dtype)
        head = (vectors[head_rows] * head_weights[..., None]).sum(1)
        tail = (vectors[tail_rows] * tail_weights[..., None]).sum(1)
        states, query = self.region_states(tokens, valid, roles, head_type, tail_type, head, tail)
        scores = importance_scores(states, query, normalise=self.normalise_scores)
        return scores.masked_fill(~valid, float("-inf"))

    @staticmethod
    def _contextualise(lstm: nn.LSTM, projection: nn.Linear, tokens: Tensor, inputs: Tensor, valid: Tensor) -> Tensor:
        """`tokens` plus a projection of a BiLSTM over `inputs` (each row's valid tokens).
        Residual, because a BiLSTM alone learns far slower than the vectors it reads."""
        packed = nn.utils.rnn.pack_padded_sequence(inputs, valid.sum(1).clamp(min=1).cpu(), batch_first=True,
                                                   enforce_sorted=False)
        output, _ = lstm(packed)
        context, _ = nn.utils.rnn.pad_packed_sequence(output, batch_first=True, total_length=inputs.shape[1])
        return (tokens + projection(context)) * valid[..., None].to(tokens.dtype)

    def _count_saturation(self, mask: Tensor, valid: Tensor) -> None:
        stuck = ((mask < SATURATION_MARGIN) | (mask > 1 - SATURATION_MARGIN)) & valid
        self.saturation_counts[0] += int(stuck.sum())
        self.saturation_counts[1] += int(valid.sum())

    def take_saturation(self) -> Optional[float]:
        """The fraction of saturated training marginals since the last call (None if
        no training pass ran), and start counting again."""
        stuck, total = self.saturation_counts
        self.saturation_counts = [0, 0]
        return stuck / total if total else None


def importance_scores(states: Tensor, query: Tensor, normalise: bool = True) -> Tensor:
    """s_i = <n(h_i), n(q)> / sqrt(D), with n a layer normalisation without parameters
    (the identity when `normalise` is False: the v1 model).

    The RE2 paper scores tokens by h_i . (h_e1 + h_e2); scaling by 1/sqrt(D) alone is not
    enough for token vectors whose norm is free to grow (a trained tok2vec gives scores
    with a spread of about 23 against a continuity reward of 1 and logistic noise of
    1.8, so 84% of the relaxed marginals sit at 0 or 1). Normalised, the score is
    sqrt(D) times a cosine: a spread of about 1 for unrelated vectors, at most sqrt(D),
    in the units of r and of the noise."""
    width = states.shape[-1]
    if normalise:
        states = nn.functional.layer_norm(states, (width,))
        query = nn.functional.layer_norm(query, (width,))
    return (states * query[:, None, :]).sum(-1) / math.sqrt(width)


def _masked_mean(states: Tensor, mask: Tensor) -> Tensor:
    return (states * mask[..., None]).sum(1) / (mask.sum(1, keepdim=True) + 1e-6)


def _mean_at(states: Tensor, roles: Tensor, role: int) -> Tensor:
    """Mean of the states of the tokens with `role` (BOTH counts for either)."""
    where = ((roles == role) | (roles == BOTH)).to(states.dtype)
    return _masked_mean(states, where)
