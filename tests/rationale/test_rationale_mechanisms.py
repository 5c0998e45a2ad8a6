"""RE2's mechanisms, each checked so that it would fail if broken: score scale (no
saturated relaxation), argument roles (direction), faithful reading, multi-label targets
with the adaptive threshold, the annealing schedule tied to the run length, and the
saturation metric spaCy prints."""
import math
import warnings

import numpy
import pytest
import spacy
import torch
from thinc.api import NumpyOps, fix_random_seed

from spacy_relext.rationale.architectures import classify_with_masks, region_importance
from spacy_relext.rationale.pytorch_rationale_masker import RationaleMaskerModule, importance_scores
from spacy_relext.rationale.rationale_masker import SATURATION_SCORE, adaptive_threshold_loss
from spacy_relext.rationale.roles import BOTH, HEAD, OTHER, TAIL
from spacy_relext.rationale.solver import budget_sizes, lagrangian_marginals
from spacy_relext.relations import get_relations

from test_rationale_masker import NAME, make_examples, train

WIDTH = 96


def random_batch(n_pairs=8, length=24, scale=10.0, seed=0):
    """Token vectors with a large norm (as a trained tok2vec gives) and one region per pair."""
    generator = torch.Generator().manual_seed(seed)
    vectors = torch.randn(n_pairs * length, WIDTH, generator=generator) * scale
    region = torch.arange(n_pairs * length).view(n_pairs, length)
    valid = torch.ones(n_pairs, length, dtype=torch.long)
    roles = torch.zeros(n_pairs, length, dtype=torch.long)
    roles[:, 2] = HEAD
    roles[:, 9] = TAIL
    head_rows, tail_rows = region[:, 2:3], region[:, 9:10]
    ones = torch.ones(n_pairs, 1)
    types = torch.zeros(n_pairs, dtype=torch.long)
    return vectors, region, valid, roles, types, types, head_rows, ones, tail_rows, ones


def saturated_fraction(scores, valid):
    budget = budget_sizes(valid.sum(1), 0.6)
    marginals, _ = lagrangian_marginals(scores, torch.ones_like(scores), valid.bool(), budget, temperature=1.0)
    return float(((marginals < 0.01) | (marginals > 0.99)).float().mean())


def test_normalised_scores_do_not_saturate_the_relaxation():
    vectors, region, valid, roles, *_ = random_batch()
    states = vectors[region]
    query = states[:, 2] + states[:, 9]
    normalised = importance_scores(states, query)
    raw = importance_scores(states, query, normalise=False)  # the v1 scale: h.q / sqrt(D)
    # Unrelated tokens score about 1 apart, in the units of r (about 1) and the noise.
    others = normalised[:, [i for i in range(states.shape[1]) if i not in (2, 9)]]
    assert 0.5 < float(others.std()) < 2.0
    assert float(raw.std()) > 20 * float(others.std())
    assert saturated_fraction(normalised, valid) < 0.2
    assert saturated_fraction(raw, valid) > 0.8


def test_roles_make_the_pair_directional():
    fix_random_seed(0)
    batch = list(random_batch(n_pairs=1))
    swapped = list(batch)
    swapped[3] = torch.where(batch[3] == HEAD, TAIL, torch.where(batch[3] == TAIL, HEAD, batch[3]))
    swapped[6], swapped[8] = batch[8], batch[6]
    for roles, directional in (("untyped", True), ("none", False)):
        module = RationaleMaskerModule(WIDTH, 3, roles=roles).eval()
        with torch.no_grad():
            logits, mask = module(*batch)
            logits_swapped, mask_swapped = module(*swapped)
        if directional:
            assert not torch.allclose(logits, logits_swapped, atol=1e-4)
        else:  # the importance query h_e1 + h_e2 is symmetric: the same mask both ways
            assert torch.equal(mask, mask_swapped)


def test_region_roles_mark_both_arguments_and_overlaps():
    from spacy_relext.rationale.architectures import PairRegion, pair_index

    pairs = [PairRegion(0, [(1, 3)], [(2, 4)], (0, 6)), PairRegion(0, [(5, 6)], [(0, 1)], (0, 6))]
    roles = pair_index(pairs, [6])[2]
    assert roles.tolist() == [[OTHER, HEAD, BOTH, TAIL, OTHER, OTHER], [TAIL, OTHER, OTHER, OTHER, OTHER, HEAD]]


@pytest.mark.parametrize("faithful", [True, False])
def test_faithful_reader_ignores_unselected_tokens(faithful):
    fix_random_seed(0)
    batch = list(random_batch(n_pairs=2))
    module = RationaleMaskerModule(WIDTH, 3, faithful=faithful).eval()
    mask = torch.zeros(2, 24)
    mask[:, 3:8] = 1.0
    changed = list(batch)
    changed[0] = batch[0].clone()
    hidden = [r for r in batch[1].flatten().tolist() if r % 24 in range(12, 24)]  # unselected, not arguments
    changed[0][hidden] += 5.0 * torch.randn(len(hidden), WIDTH, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        before, _ = module(*batch, fixed_mask=mask)
        after, _ = module(*changed, fixed_mask=mask)
    # The faithful reader sees only the rationale and the arguments; the default pools
    # BiLSTM states that have read the whole region.
    assert torch.allclose(before, after, atol=1e-5) == faithful


def test_adaptive_threshold_loss_gradient_matches_finite_differences():
    ops = NumpyOps()
    rng = numpy.random.default_rng(0)
    logits = rng.normal(size=(3, 4)).astype("float32")
    targets = numpy.array([[0, 1, 1, 0], [1, 0, 0, 0], [0, 0, 0, 1]], dtype="float32")
    loss, grad = adaptive_threshold_loss(ops, logits, targets)
    eps = 1e-3
    for p in range(3):
        for c in range(4):
            plus, minus = logits.copy(), logits.copy()
            plus[p, c] += eps
            minus[p, c] -= eps
            numeric = (adaptive_threshold_loss(ops, plus, targets)[0] - adaptive_threshold_loss(ops, minus, targets)[0])
            assert grad[p, c] == pytest.approx(numeric / (2 * eps), abs=2e-3)


MULTI_LABEL_DATA = [
    (
        ["Alice", "founded", "and", "runs", "Acme", "."],
        [(0, 1, "PER"), (4, 5, "ORG")],
        [((0, 1), (4, 5), "Founded"), ((0, 1), (4, 5), "Leads")],
    ),
    (
        ["Bob", "runs", "Initech", "."],
        [(0, 1, "PER"), (2, 3, "ORG")],
        [((0, 1), (2, 3), "Leads")],
    ),
    (
        ["Carol", "visited", "Globex", "."],
        [(0, 1, "PER"), (2, 3, "ORG")],
        [],
    ),
]


def test_multi_label_targets_and_decisions():
    fix_random_seed(0)
    nlp = spacy.blank("en")
    pipe = nlp.add_pipe(NAME, config={"multi_label": True, "anneal_steps": 40})
    examples = make_examples(nlp, MULTI_LABEL_DATA)
    nlp.initialize(get_examples=lambda: examples)
    (_, _), targets = pipe.make_training_input(examples[:1])
    founded, leads = pipe.labels.index("Founded") + 1, pipe.labels.index("Leads") + 1
    # Alice -> Acme carries both labels; Acme -> Alice none (the threshold class).
    assert sorted(numpy.flatnonzero(targets[0]).tolist()) == sorted([founded, leads])
    assert numpy.flatnonzero(targets[1]).tolist() == [0]
    train(nlp, examples, n_iter=60)
    predicted = [nlp(eg.predicted.copy()) for eg in examples]
    assert sorted(rel.label for rel in get_relations(predicted[0])) == ["Founded", "Leads"]
    assert [rel.label for rel in get_relations(predicted[1])] == ["Leads"]
    assert get_relations(predicted[2]) == []
    assert all(rel.score > 0.5 for doc in predicted for rel in get_relations(doc))


def test_single_label_keeps_one_class_per_pair():
    nlp = spacy.blank("en")
    pipe = nlp.add_pipe(NAME, config={"anneal_steps": 40})
    examples = make_examples(nlp, MULTI_LABEL_DATA)
    nlp.initialize(get_examples=lambda: examples)
    _, truths = pipe.make_training_input(examples[:1])
    assert truths.ndim == 1 and truths[0] == pipe.labels.index("Founded") + 1


def test_annealing_follows_the_training_length():
    nlp = spacy.blank("en")
    nlp.config["training"]["max_steps"] = 50
    pipe = nlp.add_pipe(NAME, config={"temperature_start": 1.0, "temperature_end": 0.1})
    examples = make_examples(nlp)
    nlp.initialize(get_examples=lambda: examples)
    assert pipe.anneal_steps == 50
    pipe.n_updates = 25
    assert pipe.temperature == pytest.approx(math.sqrt(0.1))
    pipe.n_updates = 50
    assert pipe.temperature == pytest.approx(0.1)
    # Saved resolved: a resumed run continues the same schedule.
    reloaded = spacy.blank("en")
    reloaded.add_pipe(NAME).from_bytes(pipe.to_bytes())
    assert reloaded.get_pipe(NAME).anneal_steps == 50


def test_annealing_without_max_steps_warns():
    nlp = spacy.blank("en")
    nlp.config["training"]["max_steps"] = 0
    pipe = nlp.add_pipe(NAME)
    examples = make_examples(nlp)
    with pytest.warns(UserWarning, match="W032"):
        nlp.initialize(get_examples=lambda: examples)
    assert pipe.anneal_steps == 1000


def test_saturation_is_reported_after_training_only():
    fix_random_seed(0)
    nlp = spacy.blank("en")
    nlp.add_pipe(NAME, config={"anneal_steps": 40})
    examples = make_examples(nlp)
    train(nlp, examples, n_iter=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scores = nlp.evaluate(examples)
        assert 0.0 <= scores[SATURATION_SCORE] <= 1.0
        assert SATURATION_SCORE not in nlp.evaluate(examples)  # nothing trained since


def test_classify_with_the_map_mask_reproduces_predict():
    fix_random_seed(0)
    nlp = spacy.blank("en")
    pipe = nlp.add_pipe(NAME, config={"anneal_steps": 40})
    examples = make_examples(nlp)
    train(nlp, examples, n_iter=10)
    docs = [eg.predicted for eg in examples]
    _, logits, masks = pipe.predict(docs)
    regions, _ = pipe.make_pairs(docs)
    again = classify_with_masks(pipe.model, docs, regions, masks)
    numpy.testing.assert_allclose(again, logits, atol=1e-5)
    # An empty mask is a different input: the probe really replaces the mask.
    assert not numpy.allclose(classify_with_masks(pipe.model, docs, regions, masks * 0), logits, atol=1e-4)


def test_typed_roles_store_the_entity_types():
    fix_random_seed(0)
    nlp = spacy.blank("en")
    pipe = nlp.add_pipe(NAME, config={"anneal_steps": 40, "model": {"roles": "typed"}})
    examples = make_examples(nlp)
    train(nlp, examples, n_iter=2)
    assert pipe.cfg["entity_types"] == ["LOC", "ORG", "PER"]
    regions, _ = pipe.make_pairs([examples[0].predicted])
    assert (regions.pairs[0].head_type, regions.pairs[0].tail_type) == (3, 2)  # PER -> ORG
    reloaded = spacy.blank("en")
    reloaded.add_pipe(NAME, config={"model": {"roles": "typed"}})
    reloaded.from_bytes(nlp.to_bytes())
    doc = examples[0].predicted.copy()
    assert [r.label for r in get_relations(reloaded(doc))] == [r.label for r in get_relations(nlp(doc.copy()))]


def test_region_importance_ranks_what_the_map_mask_selects():
    fix_random_seed(0)
    nlp = spacy.blank("en")
    pipe = nlp.add_pipe(NAME, config={"anneal_steps": 40, "model": {"continuity": False}})
    examples = make_examples(nlp)
    train(nlp, examples, n_iter=10)
    docs = [eg.predicted for eg in examples]
    _, _, masks = pipe.predict(docs)
    regions, _ = pipe.make_pairs(docs)
    scores = region_importance(pipe.model, docs, regions)
    # Without continuity the budgeted MAP keeps the K best-scored positive tokens.
    for row, mask in zip(scores, masks):
        chosen = row[mask > 0.5]
        rest = row[(mask < 0.5) & numpy.isfinite(row)]
        if len(chosen) and len(rest):
            assert chosen.min() >= rest.max() - 1e-5
