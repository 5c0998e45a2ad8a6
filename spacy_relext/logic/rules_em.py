"""LogiRE training (Ru et al., 2021, sections 3.2-3.3) in plain PyTorch: gold-path initialisation of
the rule generator, the relation extractor fit, and EM with rule posteriors.

A document is a `RuleDoc`: backbone logits `[N, N, R]`, entity type ids `[N]` and, for
training, gold facts `[N, N, R]`. A signature is a type-valid query
`(type_h, relation, type_t)`; one rule set is kept per signature and shared by all
documents (the authors' code), so inference is deterministic.
"""
import math
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import torch
from torch import Tensor, nn

from ..errors import Errors
from .evaluation import best_f1_threshold
from .pytorch_logic_rules import RuleExtractor, RuleGenerator, identity_channel, transitions

Body = Tuple[int, ...]
Distribution = Dict[int, Dict[Body, float]]  # signature -> body -> probability
Progress = Optional[Callable[[str], None]]


@dataclass
class RuleDoc:
    """One document as the rule model sees it.

    logits (Tensor): Backbone logits `[N, N, R]` (`UNSEEN` where never scored).
    types (Tensor): Entity type ids `[N]`.
    gold (Optional[Tensor]): Gold facts `[N, N, R]` (bool), None at inference.
    """

    logits: Tensor
    types: Tensor
    gold: Optional[Tensor] = None


@dataclass
class Instances:
    """The type-valid `(head, tail, relation)` candidates of a document, with their
    signature, rule features and (in training) labels."""

    heads: Tensor
    tails: Tensor
    relations: Tensor
    signatures: Tensor
    feats: Tensor
    labels: Optional[Tensor]


SIGNATURE_SAMPLING = ("uniform", "count")
RULE_SETS = ("sampled", "direct", "none")


@dataclass
class EMSettings:
    """Hyperparameters of `train_rule_model` (defaults as in the authors' code, rudongyu/LogiRE:
    main.py and logire.py, with the generator steps scaled down for CPUs)."""

    n_rules: int = 50
    em_iterations: int = 2
    generator_pretrain_steps: int = 1000
    generator_em_steps: int = 200
    generator_batch_size: int = 32
    generator_lr: float = 1e-3
    extractor_epochs: int = 50
    extractor_lr: float = 5e-3
    extractor_batch_docs: int = 4
    momentum: float = 0.9
    max_elements: int = 1 << 22
    seed: int = 0
    # How the generator's training picks a signature per sample: "uniform" (the
    # authors' code), or "count" (by its number of gold paths: the frequent signatures
    # crowd out the rest, and the direct rule r <- r of the rare ones is rarely sampled).
    signature_sampling: str = "uniform"
    # The rules each signature's extractor weighs: "sampled" (the generator's samples,
    # plus the direct rule r <- r if they lack it: the one way the backbone's own score
    # of the fact reaches the extractor), "direct" (only r <- r) or "none" (no rule
    # bodies: the per-signature bias alone). The last two are attribution controls.
    rule_set: str = "sampled"

    def __post_init__(self) -> None:
        if self.signature_sampling not in SIGNATURE_SAMPLING:
            raise ValueError(Errors.E708.format(name="signature_sampling", value=self.signature_sampling,
                                                options=SIGNATURE_SAMPLING))
        if self.rule_set not in RULE_SETS:
            raise ValueError(Errors.E708.format(name="rule_set", value=self.rule_set, options=RULE_SETS))


def signature_table(signatures: Sequence[Tuple[int, int, int]], n_types: int, n_relations: int) -> Tensor:
    """`[n_types, R, n_types]` signature ids, -1 where the type pair never occurred
    with the relation (the type mask).

    signatures (Sequence[Tuple[int, int, int]]): `(type_h, relation, type_t)` per id.
    RETURNS (Tensor): The lookup table.
    """
    table = torch.full((n_types, n_relations, n_types), -1, dtype=torch.long)
    for i, (th, r, tt) in enumerate(signatures):
        table[th, r, tt] = i
    return table


def instances(doc: RuleDoc, table: Tensor, extractor: RuleExtractor, *, max_elements: int = 1 << 22) -> Instances:
    """All type-valid candidates `(h, t, r)`, `h != t`, of a document and their rule
    features.

    doc (RuleDoc): The document.
    table (Tensor): Signature table (see `signature_table`).
    extractor (RuleExtractor): Holds the rule set.
    max_elements (int): Memory bound of one max-plus step.
    RETURNS (Instances): The candidates.
    """
    n, n_relations = doc.types.shape[0], table.shape[1]
    grid = table[doc.types[:, None], :, doc.types[None, :]]  # [N, N, R]
    valid = grid >= 0
    valid &= ~torch.eye(n, dtype=torch.bool)[:, :, None]
    heads, tails, relations = valid.nonzero(as_tuple=True)
    signatures = grid[heads, tails, relations]
    with torch.no_grad():
        trans = transitions(doc.logits) if n else doc.logits.new_zeros((0, 0, 2 * n_relations + 1))
        feats = extractor.features(trans, heads, tails, signatures, max_elements=max_elements)
    labels = None if doc.gold is None else doc.gold[heads, tails, relations].float()
    return Instances(heads, tails, relations, signatures, feats, labels)


def gold_path_counts(docs: Sequence[RuleDoc], table: Tensor, *, max_length: int = 3) -> Distribution:
    """Bodies of the simple paths from h to t (length <= `max_length`, the direct edge
    included) in each training document's gold graph (edges and inverse edges), for
    every gold fact `r(h, t)`, counted per signature.

    RETURNS (Dict[int, Dict[Tuple[int, ...], float]]): signature -> body -> count.
    """
    n_relations = table.shape[1]
    ident = identity_channel(n_relations)
    counts: Dict[int, Counter] = defaultdict(Counter)
    for doc in docs:
        if doc.gold is None:
            continue
        edges: Dict[int, List[Tuple[int, int]]] = defaultdict(list)  # node -> (channel, next)
        for h, t, r in doc.gold.nonzero().tolist():
            edges[h].append((r, t))
            edges[t].append((n_relations + r, h))
        for h, t, r in doc.gold.nonzero().tolist():
            sig = int(table[doc.types[h], r, doc.types[t]])
            if sig < 0:
                continue
            for body in _simple_paths(edges, h, t, max_length):
                counts[sig][tuple(body) + (ident,) * (max_length - len(body))] += 1
    return {sig: dict(bodies) for sig, bodies in counts.items()}


def _simple_paths(edges: Dict[int, List[Tuple[int, int]]], start: int, end: int, max_length: int) -> Iterator[List[int]]:
    stack = [(start, [], {start})]
    while stack:
        node, body, seen = stack.pop()
        for channel, nxt in edges.get(node, ()):
            if nxt == end:
                yield body + [channel]
            elif nxt not in seen and len(body) + 1 < max_length:
                stack.append((nxt, body + [channel], seen | {nxt}))


def normalize(dist: Distribution) -> Distribution:
    """Per-signature probabilities from counts."""
    out = {}
    for sig, bodies in dist.items():
        total = sum(bodies.values())
        if total > 0:
            out[sig] = {body: value / total for body, value in bodies.items()}
    return out


def mix(old: Distribution, new: Distribution, momentum: float) -> Distribution:
    """`momentum * old + (1 - momentum) * new` per signature (new bodies enter at the
    second term; signatures absent from `new` keep `old`)."""
    out = {}
    for sig in set(old) | set(new):
        if sig not in new:
            out[sig] = dict(old[sig])
            continue
        bodies = set(old.get(sig, {})) | set(new[sig])
        out[sig] = {
            b: momentum * old.get(sig, {}).get(b, 0.0) + (1 - momentum) * new[sig].get(b, 0.0) for b in bodies
        }
    return normalize(out)


def train_generator(
    generator: RuleGenerator,
    queries: Tensor,
    dist: Distribution,
    *,
    steps: int,
    batch_size: int,
    lr: float,
    seed: int,
    signature_weights: Optional[Dict[int, float]] = None,
) -> float:
    """Fit the generator to `dist` by teacher forcing: each sample picks a signature
    (by `signature_weights`, default uniform), then a body, 90% by its probability and
    10% uniformly over the signature's observed bodies.

    RETURNS (float): The mean loss of the last 10% of the steps.
    """
    sigs = sorted(s for s in dist if dist[s])
    if not sigs or steps <= 0:
        return 0.0
    rng = torch.Generator().manual_seed(seed)
    sig_weights = torch.tensor([(signature_weights or {}).get(s, 1.0) for s in sigs], dtype=torch.float)
    bodies = [sorted(dist[s]) for s in sigs]
    probs = [torch.tensor([dist[s][b] for b in bs], dtype=torch.float) for s, bs in zip(sigs, bodies)]
    body_tensors = [torch.tensor(bs, dtype=torch.long) for bs in bodies]
    optimizer = torch.optim.Adam(generator.parameters(), lr=lr)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=max(1, steps // 10), gamma=0.9)
    generator.train()
    losses = []
    for _ in range(steps):
        picked = torch.multinomial(sig_weights, batch_size, replacement=True, generator=rng).tolist()
        uniform = torch.rand(batch_size, generator=rng) < 0.1
        rows = []
        for i, k in enumerate(picked):
            weights = torch.ones_like(probs[k]) if uniform[i] else probs[k]
            rows.append(body_tensors[k][torch.multinomial(weights, 1, generator=rng)[0]])
        batch_queries = queries[torch.tensor([sigs[k] for k in picked])]
        loss = -generator.log_prob(batch_queries, torch.stack(rows)).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()
        losses.append(loss.item())
    generator.eval()
    tail = losses[-max(1, steps // 10) :]
    return sum(tail) / len(tail)


def sample_rules(
    generator: RuleGenerator, extractor: RuleExtractor, queries: Tensor, n_rules: int, *, seed: int,
    rule_set: str = "sampled",
) -> None:
    """Draw `n_rules` bodies per signature, deduplicate them (keeping counts), make sure
    the direct rule r <- r is among them, and install them with their log-prior in a
    fresh extractor. `rule_set` "direct" installs only r <- r, "none" no rule at all.

    queries (Tensor): `[Q, 3]` (type_h, relation, type_t) per signature.
    """
    generator.eval()
    n_sigs, slots, length = extractor.bodies.shape
    bodies = torch.zeros(n_sigs, slots, length, dtype=torch.long)
    mask = torch.zeros(n_sigs, slots, dtype=torch.bool)
    counts = torch.zeros(n_sigs, slots)
    direct = direct_bodies(queries, generator.n_relations, length)
    if rule_set == "sampled":
        rng = torch.Generator().manual_seed(seed)
        samples = generator.sample(queries, n_rules, generator=rng)  # [Q, n, L]
        for q in range(n_sigs):
            unique, count = torch.unique(samples[q], dim=0, return_counts=True)
            if not (unique == direct[q]).all(dim=1).any():
                # The direct rule in a free slot, else in place of the least sampled rule
                # (the extractor's weights start at zero for every rule: no rule is lost
                # that had earned weight).
                keep = torch.argsort(count, descending=True, stable=True)[: slots - 1]
                unique = torch.cat([unique[keep], direct[q : q + 1]])
                count = torch.cat([count[keep], count.new_ones(1)])
            k = unique.shape[0]
            bodies[q, :k], mask[q, :k], counts[q, :k] = unique, True, count.float()
    elif rule_set == "direct":
        bodies[:, 0], mask[:, 0], counts[:, 0] = direct, True, 1.0
    with torch.no_grad():
        flat_q = torch.arange(n_sigs).repeat_interleave(slots)
        log_prior = generator.log_prob(queries[flat_q], bodies.reshape(-1, length)).reshape(n_sigs, slots)
    extractor.set_rules(bodies, mask, counts, log_prior.masked_fill(~mask, 0.0))


def direct_bodies(queries: Tensor, n_relations: int, length: int) -> Tensor:
    """`[Q, L]` the body of the direct rule r <- r of each signature: the relation's own
    channel, then the identity channel as padding (as `gold_path_counts` writes bodies)."""
    bodies = torch.full((queries.shape[0], length), identity_channel(n_relations), dtype=torch.long)
    bodies[:, 0] = queries[:, 1]
    return bodies


def fit_extractor(
    extractor: RuleExtractor, data: Sequence[Instances], *, epochs: int, lr: float, batch_docs: int, seed: int
) -> float:
    """Train the bias and rule weights with BCE over all candidates: AdamW, linear
    warm-up over 6% of the steps, then linear decay to 2% of `lr`.

    RETURNS (float): The mean loss of the last epoch.
    """
    data = [inst for inst in data if inst.labels is not None and inst.labels.numel()]
    if not data or epochs <= 0:
        return 0.0
    optimizer = torch.optim.AdamW(extractor.parameters(), lr=lr)
    n_batches = math.ceil(len(data) / batch_docs)
    total = epochs * n_batches
    warmup = max(1, int(0.06 * total))

    def schedule(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return max(0.02, 1.0 - (step - warmup) / max(1, total - warmup))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    rng = torch.Generator().manual_seed(seed)
    loss_fn = nn.BCEWithLogitsLoss()
    epoch_loss = 0.0
    for _ in range(epochs):
        order = torch.randperm(len(data), generator=rng).tolist()
        epoch_loss = 0.0
        for b in range(n_batches):
            batch = [data[i] for i in order[b * batch_docs : (b + 1) * batch_docs]]
            feats = torch.cat([inst.feats for inst in batch])
            sigs = torch.cat([inst.signatures for inst in batch])
            labels = torch.cat([inst.labels for inst in batch])
            loss = loss_fn(extractor(feats, sigs), labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            scheduler.step()
            epoch_loss += loss.item() / n_batches
    return epoch_loss


def training_threshold(extractor: RuleExtractor, data: Sequence[Instances], n_gold: int) -> Dict[str, Optional[float]]:
    """The F1-best probability threshold over the training candidates (see
    `best_f1_threshold`): LogiRE scans its dev scores this way; a pipe sees no dev set
    in `initialize`, so the training documents stand in.

    n_gold (int): The gold facts of the training documents.
    RETURNS (Dict[str, Optional[float]]): `threshold` (None without candidates), `f`, `p`, `r`.
    """
    data = [inst for inst in data if inst.labels is not None and inst.labels.numel()]
    if not data:
        return best_f1_threshold([], [], n_gold)
    with torch.no_grad():
        probs = torch.cat([torch.sigmoid(extractor(inst.feats, inst.signatures)) for inst in data])
    return best_f1_threshold(probs, torch.cat([inst.labels for inst in data]) > 0, n_gold)


def e_step(extractor: RuleExtractor, data: Sequence[Instances], *, seed: int) -> Distribution:
    """Rule posteriors: for every training candidate (positive y = +1 and negative
    y = -1) of signature q, `H_j = log prior_j + (y / 2) (b_q / N + w_qj φ_j / count_j)`;
    one rule is drawn from `∝ count_j exp(H_j)` and the draws are counted per
    signature (Ru et al., 2021, section 3.3 and Appendix A; per signature as in the
    authors' code, rudongyu/LogiRE: logire.py).

    RETURNS (Dict[int, Dict[Tuple[int, ...], float]]): signature -> body -> p̂.
    """
    rng = torch.Generator().manual_seed(seed)
    n_sigs, slots = extractor.rule_mask.shape
    drawn = torch.zeros(n_sigs, slots)
    n_samples = extractor.counts.sum(dim=1).clamp(min=1)
    with torch.no_grad():
        for inst in data:
            if inst.labels is None or not inst.labels.numel():
                continue
            q = inst.signatures
            y = inst.labels * 2 - 1
            mask = extractor.rule_mask[q]
            counts = extractor.counts[q].clamp(min=1)
            evidence = extractor.bias[q, None] / n_samples[q, None] + extractor.weight[q] * inst.feats / counts
            h = extractor.log_prior[q] + y[:, None] / 2 * evidence
            logits = (counts.log() + h).masked_fill(~mask, -math.inf)
            has_rules = mask.any(dim=1)
            if not has_rules.any():
                continue
            picks = torch.multinomial(torch.softmax(logits[has_rules], dim=1), 1, generator=rng)[:, 0]
            drawn.index_put_((q[has_rules], picks), torch.ones_like(picks, dtype=torch.float), accumulate=True)
    dist: Distribution = {}
    for sig in range(n_sigs):
        for k in drawn[sig].nonzero()[:, 0].tolist():
            body = tuple(extractor.bodies[sig, k].tolist())
            dist.setdefault(sig, {})[body] = dist.get(sig, {}).get(body, 0.0) + float(drawn[sig, k])
    return normalize(dist)


def train_rule_model(
    generator: RuleGenerator,
    extractor: RuleExtractor,
    signatures: Sequence[Tuple[int, int, int]],
    docs: Sequence[RuleDoc],
    settings: EMSettings,
    *,
    progress: Progress = None,
) -> List[Dict[str, float]]:
    """The whole LogiRE training: pre-train the generator on gold paths, sample rules
    and fit the extractor, then `em_iterations` rounds of E-step, momentum update of
    the generator's target, generator fine-tuning, fresh rules and a fresh extractor.

    generator (RuleGenerator): The rule generator (trained in place).
    extractor (RuleExtractor): The extractor (its rules and weights set in place).
    signatures (Sequence[Tuple[int, int, int]]): `(type_h, relation, type_t)` per id.
    docs (Sequence[RuleDoc]): Training documents with gold facts.
    settings (EMSettings): Hyperparameters.
    progress (Optional[Callable[[str], None]]): Receives a line per stage.
    RETURNS (List[Dict[str, float]]): Per stage: the losses, and the F1-best threshold
        on the training candidates with the F1 it gives (see `training_threshold`).
    """
    torch.manual_seed(settings.seed)
    n_types = generator.type_embed.num_embeddings
    table = signature_table(signatures, n_types, generator.n_relations)
    queries = torch.tensor([list(sig) for sig in signatures], dtype=torch.long).reshape(-1, 3)
    counts = gold_path_counts(docs, table, max_length=generator.length)
    n_gold = sum(int(doc.gold.sum()) for doc in docs if doc.gold is not None)
    weights = ({sig: sum(bodies.values()) for sig, bodies in counts.items()}
               if settings.signature_sampling == "count" else None)
    dist = normalize(counts)
    history = []
    steps = settings.generator_pretrain_steps
    for iteration in range(settings.em_iterations + 1):
        seed = settings.seed + 1000 * iteration
        if iteration > 0:
            dist = mix(dist, e_step(extractor, data, seed=seed), settings.momentum)
        gen_loss = train_generator(
            generator, queries, dist, steps=steps, batch_size=settings.generator_batch_size,
            lr=settings.generator_lr, seed=seed, signature_weights=weights,
        )
        steps = settings.generator_em_steps
        sample_rules(generator, extractor, queries, settings.n_rules, seed=seed, rule_set=settings.rule_set)
        if settings.extractor_epochs <= 0 and iteration == settings.em_iterations:
            data = []  # nothing will read the rule features: skip the max-plus products
        else:
            data = [instances(doc, table, extractor, max_elements=settings.max_elements) for doc in docs]
        ext_loss = fit_extractor(
            extractor, data, epochs=settings.extractor_epochs, lr=settings.extractor_lr,
            batch_docs=settings.extractor_batch_docs, seed=seed,
        )
        tuned = training_threshold(extractor, data, n_gold)
        history.append({"iteration": iteration, "generator_loss": gen_loss, "extractor_loss": ext_loss,
                        "threshold": tuned["threshold"], "train_f": tuned["f"]})
        if progress is not None:
            progress(f"EM iteration {iteration}: generator loss {gen_loss:.4f}, extractor loss {ext_loss:.4f}, "
                     f"training F1 {tuned['f']:.3f} at threshold {tuned['threshold']}")
    return history
