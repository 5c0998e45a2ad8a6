"""Rule scoring for LogiRE (Ru et al., 2021, section 3.2; the authors' code, rudongyu/LogiRE:
logire.py), in plain PyTorch (no spaCy).

A document is `N` entities and backbone logits `[N, N, R]` (independent sigmoids). The
transition tensor has `2R + 1` channels: the relations, their inverses and an identity
channel that also pads shorter rule bodies. A rule body is a chain of `L` channel ids;
its grounding score between h and t is the product t-norm maximised over paths,
computed in log space as max-plus matrix products, chunked over rules and head rows
so memory stays bounded.
"""
from typing import List, Optional, Sequence, Tuple

import torch
from torch import Tensor, nn

from .. import torch_threads  # noqa: F401  (one torch thread in forked workers)

UNSEEN = -1000.0  # log-score of an impossible step (and logit of a pair the backbone never scored)


def n_channels(n_relations: int) -> int:
    """RETURNS (int): `2R + 1`: relations, inverses and the identity channel."""
    return 2 * n_relations + 1


def identity_channel(n_relations: int) -> int:
    """RETURNS (int): The id of the identity (padding) channel, `2R`."""
    return 2 * n_relations


def transitions(logits: Tensor) -> Tensor:
    """Log-transition tensor `[N, N, 2R + 1]` from backbone logits `[N, N, R]`.

    `T[h, t, r] = log σ(logit[h, t, r])`, `T[h, t, R + r] = T[t, h, r]`, and the
    identity channel is 0 on the diagonal and `UNSEEN` elsewhere.

    logits (Tensor): Backbone logits, `[N, N, R]`.
    RETURNS (Tensor): The log-transitions.
    """
    n = logits.shape[0]
    forward = nn.functional.logsigmoid(logits).clamp(min=UNSEEN)
    identity = torch.full((n, n, 1), UNSEEN, dtype=logits.dtype, device=logits.device)
    identity[torch.arange(n), torch.arange(n), 0] = 0.0
    return torch.cat([forward, forward.transpose(0, 1), identity], dim=2)


def path_scores(trans: Tensor, bodies: Tensor, *, max_elements: int = 1 << 22) -> Tensor:
    """Log grounding scores of rule bodies: `S[u, h, t] = max over e_1..e_{L-1} of
    Σ_k trans[e_{k-1}, e_k, b_k]` with `e_0 = h`, `e_L = t`.

    trans (Tensor): Log-transitions `[N, N, C]` (see `transitions`).
    bodies (Tensor): Channel ids `[U, L]`.
    max_elements (int): Largest intermediate tensor (elements) of one max-plus step.
    RETURNS (Tensor): `[U, N, N]` log-scores.
    """
    n = trans.shape[0]
    n_rules, length = bodies.shape
    out = trans.new_empty((n_rules, n, n))
    if n == 0 or n_rules == 0:
        return out
    by_channel = trans.permute(2, 0, 1)  # [C, N, N]
    per_rule = max(1, max_elements // max(1, n * n * n))
    rule_chunk = min(n_rules, per_rule)
    row_chunk = n if per_rule > 1 else max(1, max_elements // max(1, n * n))
    for u0 in range(0, n_rules, rule_chunk):
        chunk = bodies[u0 : u0 + rule_chunk]
        score = by_channel[chunk[:, 0]]
        for k in range(1, length):
            step = by_channel[chunk[:, k]]  # [c, N(mid), N(tail)]
            rows = []
            for r0 in range(0, n, row_chunk):
                # [c, rows, mid, 1] + [c, 1, mid, tail] -> max over mid
                part = score[:, r0 : r0 + row_chunk, :, None] + step[:, None, :, :]
                rows.append(part.max(dim=2).values)
            score = torch.cat(rows, dim=1)
        out[u0 : u0 + rule_chunk] = score
    return out


def best_path(trans: Tensor, body: Sequence[int], head: int, tail: int) -> Tuple[float, List[int]]:
    """The best grounding path of one rule body between two entities.

    trans (Tensor): Log-transitions `[N, N, C]`.
    body (Sequence[int]): Channel ids of the body.
    head (int): Start entity.
    tail (int): End entity.
    RETURNS (Tuple[float, List[int]]): The path's log-score and its entities
        `[head, e_1, ..., tail]` (one per body step, plus the head).
    """
    score = trans[head, :, body[0]]  # best score of reaching each entity after step 1
    back: List[Tensor] = []
    for channel in body[1:]:
        total = score[:, None] + trans[:, :, channel]  # [from, to]
        best = total.max(dim=0)
        score = best.values
        back.append(best.indices)
    path = [tail]
    for pointers in reversed(back):
        path.append(int(pointers[path[-1]]))
    path.append(head)
    return float(score[tail]), path[::-1]


class RuleExtractor(nn.Module):
    """Relation extractor over rule scores: per signature q = (relation, head type,
    tail type), `logit = b_q + Σ_j w_qj φ_j(h, t)` with `φ_j = exp(path score)`.

    n_signatures (int): Number of signatures Q (type-valid (r, type_h, type_t)).
    n_rules (int): Rule slots per signature K (padded; see `rule_mask`).
    length (int): Body length L.
    """

    def __init__(self, n_signatures: int, n_rules: int, length: int) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(n_signatures))
        self.weight = nn.Parameter(torch.zeros(n_signatures, n_rules))
        self.register_buffer("bodies", torch.zeros(n_signatures, n_rules, length, dtype=torch.long))
        self.register_buffer("rule_mask", torch.zeros(n_signatures, n_rules, dtype=torch.bool))
        self.register_buffer("counts", torch.zeros(n_signatures, n_rules))
        self.register_buffer("log_prior", torch.zeros(n_signatures, n_rules))

    def set_rules(self, bodies: Tensor, mask: Tensor, counts: Tensor, log_prior: Tensor) -> None:
        """Install a new rule set and reset the weights (a fresh extractor per M-step)."""
        self.bodies.copy_(bodies)
        self.rule_mask.copy_(mask)
        self.counts.copy_(counts)
        self.log_prior.copy_(log_prior)
        with torch.no_grad():
            self.bias.zero_()
            self.weight.zero_()

    def unique_rules(self) -> Tuple[Tensor, Tensor]:
        """The distinct bodies in use and, per rule slot, its row among them.

        RETURNS (Tuple[Tensor, Tensor]): `[U, L]` bodies and `[Q, K]` indices (-1 on
            empty slots).
        """
        flat = self.bodies[self.rule_mask]
        if flat.shape[0] == 0:
            return flat, torch.full(self.rule_mask.shape, -1, dtype=torch.long, device=flat.device)
        unique, inverse = torch.unique(flat, dim=0, return_inverse=True)
        index = torch.full(self.rule_mask.shape, -1, dtype=torch.long, device=flat.device)
        index[self.rule_mask] = inverse
        return unique, index

    def features(
        self, trans: Tensor, heads: Tensor, tails: Tensor, signatures: Tensor, *, max_elements: int = 1 << 22
    ) -> Tensor:
        """Rule scores `φ` of the instances `(heads[i], tails[i], signatures[i])`.

        trans (Tensor): Log-transitions of the document `[N, N, C]`.
        heads (Tensor): Head entity per instance `[P]`.
        tails (Tensor): Tail entity per instance `[P]`.
        signatures (Tensor): Signature per instance `[P]`.
        max_elements (int): Memory bound of one max-plus step (elements).
        RETURNS (Tensor): `[P, K]` grounding scores in [0, 1] (0 on empty slots).
        """
        unique, index = self.unique_rules()
        slots = index[signatures]  # [P, K]
        feats = trans.new_zeros(slots.shape)
        # only the rules of the signatures present in this document
        needed, slots = torch.unique(slots.clamp(min=-1), return_inverse=True)
        if needed.numel() and needed[0] < 0:
            needed, slots = needed[1:], slots - 1  # empty slots become -1
        bodies = unique[needed]
        n = max(1, trans.shape[0])
        chunk = max(1, max_elements // (n * n))
        for u0 in range(0, bodies.shape[0], chunk):
            scores = path_scores(trans, bodies[u0 : u0 + chunk], max_elements=max_elements).exp()
            inside = (slots >= u0) & (slots < u0 + chunk)
            rows, cols = inside.nonzero(as_tuple=True)
            feats[rows, cols] = scores[slots[rows, cols] - u0, heads[rows], tails[rows]]
        return feats

    def forward(self, feats: Tensor, signatures: Tensor) -> Tensor:
        """Logits of the instances.

        feats (Tensor): `[P, K]` rule scores (see `features`).
        signatures (Tensor): `[P]` signature ids.
        RETURNS (Tensor): `[P]` logits.
        """
        weight = self.weight[signatures] * self.rule_mask[signatures]
        return self.bias[signatures] + (weight * feats).sum(dim=1)


class RuleGenerator(nn.Module):
    """Autoregressive rule generator: an encoder-decoder Transformer that reads the
    query `[type_h, relation, type_t]` and emits a body of `length` channel ids.
    The identity channel pads: it cannot start a body and, once emitted, repeats.

    n_types (int): Entity types.
    n_relations (int): Relations R (bodies use `2R + 1` channels).
    length (int): Body length L.
    width (int): Model width.
    depth (int): Encoder layers and decoder layers (each).
    n_heads (int): Attention heads.
    ffn_width (int): Feed-forward width.
    dropout (float): Dropout in training.
    """

    def __init__(
        self,
        n_types: int,
        n_relations: int,
        *,
        length: int = 3,
        width: int = 256,
        depth: int = 2,
        n_heads: int = 4,
        ffn_width: int = 2048,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        self.n_relations = n_relations
        self.length = length
        n_out = n_channels(n_relations)
        self.type_embed = nn.Embedding(n_types, width)
        self.rel_embed = nn.Embedding(n_relations, width)
        self.src_pos = nn.Parameter(torch.zeros(3, width))
        self.tgt_embed = nn.Embedding(n_out + 1, width)  # channels, then BOS
        self.tgt_pos = nn.Parameter(torch.zeros(length, width))
        nn.init.normal_(self.src_pos, std=0.02)
        nn.init.normal_(self.tgt_pos, std=0.02)
        self.transformer = nn.Transformer(
            d_model=width,
            nhead=n_heads,
            num_encoder_layers=depth,
            num_decoder_layers=depth,
            dim_feedforward=ffn_width,
            dropout=dropout,
            batch_first=True,
        )
        self.out = nn.Linear(width, n_out)
        self.register_buffer("causal", nn.Transformer.generate_square_subsequent_mask(length), persistent=False)

    def _logits(self, queries: Tensor, prefix: Tensor) -> Tensor:
        """Masked log-probabilities `[B, P, C]` of the next channel after each prefix
        position; `prefix` is `[B, P]` (BOS first)."""
        src = torch.stack(
            [self.type_embed(queries[:, 0]), self.rel_embed(queries[:, 1]), self.type_embed(queries[:, 2])], dim=1
        )
        src = src + self.src_pos
        steps = prefix.shape[1]
        tgt = self.tgt_embed(prefix) + self.tgt_pos[:steps]
        hidden = self.transformer(src, tgt, tgt_mask=self.causal[:steps, :steps].to(src.dtype), tgt_is_causal=True)
        logits = self.out(hidden)
        return torch.log_softmax(logits + self._grammar_mask(prefix), dim=-1)

    def _grammar_mask(self, prefix: Tensor) -> Tensor:
        """Additive mask: no identity first; only identity after identity."""
        ident = identity_channel(self.n_relations)
        mask = torch.zeros(*prefix.shape, ident + 1, device=prefix.device)
        mask[:, 0, ident] = UNSEEN
        after_ident = prefix == ident
        mask[after_ident] = UNSEEN
        mask[..., ident][after_ident] = 0.0
        return mask

    def log_prob(self, queries: Tensor, bodies: Tensor) -> Tensor:
        """Log-probability of each body given its query (teacher forcing).

        queries (Tensor): `[B, 3]` (type_h, relation, type_t) ids.
        bodies (Tensor): `[B, L]` channel ids.
        RETURNS (Tensor): `[B]` log-probabilities.
        """
        bos = torch.full((bodies.shape[0], 1), identity_channel(self.n_relations) + 1, device=bodies.device)
        prefix = torch.cat([bos, bodies[:, :-1]], dim=1)
        log_probs = self._logits(queries, prefix)
        return log_probs.gather(2, bodies[:, :, None]).squeeze(2).sum(dim=1)

    @torch.no_grad()
    def sample(self, queries: Tensor, n_samples: int, *, generator: Optional[torch.Generator] = None) -> Tensor:
        """Ancestral sampling of `n_samples` bodies per query.

        queries (Tensor): `[B, 3]` query ids.
        n_samples (int): Bodies per query.
        generator (Optional[torch.Generator]): Random source (for determinism).
        RETURNS (Tensor): `[B, n_samples, L]` channel ids.
        """
        batch = queries.repeat_interleave(n_samples, dim=0)
        prefix = torch.full((batch.shape[0], 1), identity_channel(self.n_relations) + 1, device=queries.device)
        for _ in range(self.length):
            log_probs = self._logits(batch, prefix)[:, -1]
            step = torch.multinomial(log_probs.exp(), 1, generator=generator)
            prefix = torch.cat([prefix, step], dim=1)
        return prefix[:, 1:].reshape(queries.shape[0], n_samples, self.length)


class LogicRuleModule(torch.nn.Module):
    """The rule generator and the relation extractor, saved together."""

    def __init__(self, generator: RuleGenerator, extractor: RuleExtractor) -> None:
        super().__init__()
        self.generator = generator
        self.extractor = extractor

    def forward(self, feats: torch.Tensor, signatures: torch.Tensor) -> torch.Tensor:
        """The extractor's logits for candidates with rule features `feats` `[P, K]`."""
        return self.extractor(feats, signatures)
