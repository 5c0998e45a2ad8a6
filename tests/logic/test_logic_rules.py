"""The torch rule model of the logic reasoner: path scores against brute-force path
enumeration, the extractor, the generator's grammar and the EM building blocks."""
import itertools
import math

import pytest
import torch

from spacy_relext.logic.pytorch_logic_rules import (
    UNSEEN,
    RuleExtractor,
    RuleGenerator,
    best_path,
    identity_channel,
    path_scores,
    transitions,
)
from spacy_relext.logic.rules_em import (
    EMSettings,
    RuleDoc,
    e_step,
    gold_path_counts,
    instances,
    mix,
    sample_rules,
    signature_table,
    train_rule_model,
)

N, R = 4, 2


pytestmark = pytest.mark.usefixtures("torch_single_thread")


def tiny_logits(seed=0):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(N, N, R, generator=g) * 3
    logits[0, 3, :] = UNSEEN  # a pair the backbone never scored
    return logits


def brute_force(trans, body, h, t):
    """Max over every entity sequence of the summed log-transitions."""
    best = -math.inf
    for mids in itertools.product(range(trans.shape[0]), repeat=len(body) - 1):
        nodes = (h, *mids, t)
        best = max(best, sum(float(trans[a, b, c]) for a, b, c in zip(nodes, nodes[1:], body)))
    return best


ALL_BODIES = [list(b) for b in itertools.product(range(2 * R + 1), repeat=3)]


def test_transitions_channels():
    logits = tiny_logits()
    trans = transitions(logits)
    assert trans.shape == (N, N, 2 * R + 1)
    assert torch.allclose(trans[1, 2, 0], torch.nn.functional.logsigmoid(logits[1, 2, 0]))
    assert torch.equal(trans[1, 2, R + 1], trans[2, 1, 1])  # inverse relation
    ident = identity_channel(R)
    assert float(trans[2, 2, ident]) == 0.0 and float(trans[1, 2, ident]) == UNSEEN


@pytest.mark.parametrize("max_elements", [1 << 22, 7, 1])
def test_path_scores_match_brute_force(max_elements):
    trans = transitions(tiny_logits())
    bodies = torch.tensor(ALL_BODIES)
    scores = path_scores(trans, bodies, max_elements=max_elements)
    for u, body in enumerate(ALL_BODIES):
        for h in range(N):
            for t in range(N):
                assert float(scores[u, h, t]) == pytest.approx(brute_force(trans, body, h, t), abs=1e-4)


def test_padded_rule_is_the_direct_edge():
    trans = transitions(tiny_logits())
    ident = identity_channel(R)
    scores = path_scores(trans, torch.tensor([[1, ident, ident]]))
    assert torch.allclose(scores[0], trans[:, :, 1])


def test_best_path_is_a_grounding():
    trans = transitions(tiny_logits())
    for body in ALL_BODIES[:: 7]:
        score, path = best_path(trans, body, 0, 2)
        assert path[0] == 0 and path[-1] == 2 and len(path) == 4
        assert score == pytest.approx(brute_force(trans, body, 0, 2), abs=1e-4)
        assert score == pytest.approx(sum(float(trans[a, b, c]) for a, b, c in zip(path, path[1:], body)), abs=1e-4)


def test_empty_document():
    trans = transitions(torch.zeros(0, 0, R))
    assert path_scores(trans, torch.tensor([[0, 1, 2]])).shape == (1, 0, 0)


def test_extractor_uses_rule_features():
    extractor = RuleExtractor(n_signatures=1, n_rules=2, length=3)
    ident = identity_channel(R)
    bodies = torch.tensor([[[0, 0, ident], [1, ident, ident]]])
    extractor.set_rules(bodies, torch.tensor([[True, True]]), torch.ones(1, 2), torch.zeros(1, 2))
    with torch.no_grad():
        extractor.bias.fill_(-1.0)
        extractor.weight.copy_(torch.tensor([[2.0, 0.5]]))
    trans = transitions(tiny_logits())
    heads, tails, sigs = torch.tensor([0, 1]), torch.tensor([2, 3]), torch.tensor([0, 0])
    feats = extractor.features(trans, heads, tails, sigs, max_elements=5)
    expected = path_scores(trans, bodies[0]).exp()
    assert torch.allclose(feats[:, 0], expected[0, heads, tails])
    assert torch.allclose(feats[:, 1], expected[1, heads, tails])
    assert torch.allclose(extractor(feats, sigs), -1.0 + 2.0 * feats[:, 0] + 0.5 * feats[:, 1])


def test_generator_grammar_and_determinism():
    gen = RuleGenerator(n_types=2, n_relations=R, width=16, n_heads=2, ffn_width=32, depth=1)
    gen.eval()
    queries = torch.tensor([[0, 1, 1], [1, 0, 0]])
    a = gen.sample(queries, 20, generator=torch.Generator().manual_seed(3))
    b = gen.sample(queries, 20, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
    ident = identity_channel(R)
    for body in a.reshape(-1, 3).tolist():
        assert body[0] != ident
        assert body[2] == ident or body[1] != ident  # identity only pads the end
    log_p = gen.log_prob(queries.repeat_interleave(20, 0), a.reshape(-1, 3))
    assert torch.all(log_p <= 0)


def family_doc(n_families=2, seed=0):
    """Entities 3k, 3k+1, 3k+2 with parent(3k, 3k+1), parent(3k+1, 3k+2) and the gold
    grandparent(3k, 3k+2); the backbone sees the parents but not the grandparent."""
    n = 3 * n_families
    logits = torch.full((n, n, 2), UNSEEN)
    gold = torch.zeros(n, n, 2, dtype=torch.bool)
    for k in range(n_families):
        a, b, c = 3 * k, 3 * k + 1, 3 * k + 2
        logits[a, b, 0] = logits[b, c, 0] = 4.0
        gold[a, b, 0] = gold[b, c, 0] = gold[a, c, 1] = True
    return RuleDoc(logits, torch.zeros(n, dtype=torch.long), gold)


def test_gold_paths_include_direct_edge_and_chain():
    table = signature_table([(0, 0, 0), (0, 1, 0)], 1, 2)
    counts = gold_path_counts([family_doc()], table)
    ident = identity_channel(2)
    assert counts[0][(0, ident, ident)] == 4
    assert counts[1][(1, ident, ident)] == 2
    assert counts[1][(0, 0, ident)] == 2  # grandparent <- parent ^ parent


def test_mix_keeps_momentum():
    mixed = mix({0: {(1,): 1.0}}, {0: {(2,): 1.0}}, 0.9)
    assert mixed[0][(1,)] == pytest.approx(0.9) and mixed[0][(2,)] == pytest.approx(0.1)


def test_em_learns_planted_rule():
    signatures = [(0, 0, 0), (0, 1, 0)]
    docs = [family_doc(2, seed) for seed in range(3)]
    gen = RuleGenerator(n_types=1, n_relations=2, width=32, n_heads=2, ffn_width=64, depth=1)
    extractor = RuleExtractor(len(signatures), 8, 3)
    settings = EMSettings(n_rules=8, em_iterations=1, generator_pretrain_steps=100, generator_em_steps=10, generator_lr=0.005,
                          extractor_epochs=200, extractor_lr=0.1)
    history = train_rule_model(gen, extractor, signatures, docs, settings)
    assert len(history) == 2
    assert 0 < history[-1]["threshold"] < 1 and history[-1]["train_f"] == pytest.approx(1.0)
    table = signature_table(signatures, 1, 2)
    test = family_doc(1)
    inst = instances(RuleDoc(test.logits, test.types), table, extractor)
    with torch.no_grad():
        probs = torch.sigmoid(extractor(inst.feats, inst.signatures))
    by_key = {(int(h), int(t), int(r)): float(p) for h, t, r, p in zip(inst.heads, inst.tails, inst.relations, probs)}
    assert by_key[(0, 2, 1)] > 0.5  # grandparent added by the rule
    assert by_key[(2, 0, 1)] < 0.5 and by_key[(0, 1, 1)] < 0.5
    posterior = e_step(extractor, [instances(d, table, extractor) for d in docs], seed=0)
    assert set(posterior) <= {0, 1}


class FixedGenerator:
    """A stand-in generator that always samples the given bodies (one list per
    signature), to see what `sample_rules` installs around them."""

    def __init__(self, samples, n_relations):
        self.samples, self.n_relations = samples, n_relations

    def eval(self):
        return self

    def sample(self, queries, n, generator=None):
        return torch.tensor([[row[i % len(row)] for i in range(n)] for row in self.samples])

    def log_prob(self, queries, bodies):
        return torch.zeros(bodies.shape[0])


def installed_rules(extractor):
    return [{tuple(b) for b, m in zip(bodies.tolist(), mask.tolist()) if m}
            for bodies, mask in zip(extractor.bodies, extractor.rule_mask)]


def test_direct_rule_always_installed():
    ident = identity_channel(R)
    queries = torch.tensor([[0, 0, 0], [0, 1, 0]])
    chain = [0, 0, ident]  # r1 <- r0 ^ r0: never the direct rule of either signature
    # Signature 0 samples only the chain (a free slot remains); signature 1 fills all
    # three slots with distinct bodies, the chain most often.
    generator = FixedGenerator([[chain], [chain, chain, [R, ident, ident], [0, R, ident]]], R)
    extractor = RuleExtractor(2, 3, 3)
    sample_rules(generator, extractor, queries, 4, seed=0)
    rules = installed_rules(extractor)
    assert rules[0] == {tuple(chain), (0, ident, ident)}
    # Full: the direct rule replaces one of the least sampled bodies, the chain stays.
    assert (1, ident, ident) in rules[1] and tuple(chain) in rules[1] and len(rules[1]) == 3


def test_rule_set_controls():
    ident = identity_channel(R)
    queries = torch.tensor([[0, 0, 0], [0, 1, 0]])
    generator = FixedGenerator([[[0, 0, ident]], [[0, 0, ident]]], R)
    extractor = RuleExtractor(2, 3, 3)
    sample_rules(generator, extractor, queries, 4, seed=0, rule_set="direct")
    assert installed_rules(extractor) == [{(0, ident, ident)}, {(1, ident, ident)}]
    sample_rules(generator, extractor, queries, 4, seed=0, rule_set="none")
    assert installed_rules(extractor) == [set(), set()]


@pytest.mark.parametrize("sampling,rare_share", [("uniform", (0.25, 0.42)), ("count", (0.0, 0.05))])
def test_generator_signature_sampling(monkeypatch, sampling, rare_share):
    """Uniform sampling (the authors') gives a signature with few gold paths as many
    generator samples as a frequent one; count weighting starves it."""
    # 20 families: signature 0 (parent) has 40 gold paths, signature 1 (grandparent) 20
    # direct paths plus 20 chains; a third signature only occurs once.
    docs = [family_doc(20)]
    rare = RuleDoc(torch.full((2, 2, 3), UNSEEN), torch.ones(2, dtype=torch.long), torch.zeros(2, 2, 3, dtype=torch.bool))
    rare.gold[0, 1, 2] = True
    signatures = [(0, 0, 0), (0, 1, 0), (1, 2, 1)]
    gen = RuleGenerator(n_types=2, n_relations=3, width=16, n_heads=2, ffn_width=32, depth=1)
    seen = []
    original = gen.log_prob

    def spy(queries, bodies):
        if gen.training:
            seen.extend(queries[:, 1].tolist())
        return original(queries, bodies)

    monkeypatch.setattr(gen, "log_prob", spy)
    settings = EMSettings(n_rules=4, em_iterations=0, generator_pretrain_steps=30, extractor_epochs=0,
                          signature_sampling=sampling)
    train_rule_model(gen, RuleExtractor(3, 4, 3), signatures, docs + [rare], settings)
    # Uniform: about 1/3 of the samples; by count: 1 gold path of 81.
    assert rare_share[0] <= seen.count(2) / len(seen) <= rare_share[1]


def test_em_settings_reject_unknown_options():
    with pytest.raises(ValueError, match="E708"):
        EMSettings(signature_sampling="weighted")
    with pytest.raises(ValueError, match="E708"):
        EMSettings(rule_set="all")
