"""logic_reasoner: a planted rule (grandparent <- parent ^ parent) is learned from
synthetic documents and adds a relation the backbone missed; explanations, 0/1/many
entities, serialization, update, n_process=2 and the rules command."""
import subprocess
import sys

import pytest
import spacy
import torch
from spacy.language import Language
from spacy.tokens import Doc, Span
from spacy.training import Example
from spacy.util import fix_random_seed, load_model_from_path

from spacy_relext import Relation
from spacy_relext.logic.logic_reasoner import LogicReasoner  # noqa: F401  (registers the factory)
from spacy_relext.relations import get_relations

SPANS_KEY = "entities"
BACKBONE = "parent_reader"
NAMES = ["Ann", "Bob", "Cid", "Dan", "Eve", "Fay", "Gus", "Hal", "Ivy", "Jon", "Kim", "Lea"]
SMALL_MODEL = {
    "@architectures": "spacy-relext.LogicRules.v1",
    "n_rules": 8,
    "rule_length": 3,
    "generator_width": 32,
    "generator_depth": 1,
    "generator_heads": 2,
    "generator_ffn_width": 64,
}
SMALL = {"backbone": BACKBONE, "spans_key": SPANS_KEY, "model": SMALL_MODEL}
# [initialize.components.logic_reasoner]: the EM schedule
SMALL_SCHEDULE = {
    "em_iterations": 1,
    "generator_pretrain_steps": 100,
    "generator_lr": 0.005,
    "generator_em_steps": 10,
    "extractor_epochs": 200,
    "extractor_lr": 0.1,
}


@Language.component(BACKBONE)
def parent_reader(doc: Doc) -> Doc:
    """A frozen stand-in backbone: `X is parent of Y .` gives parent(X, Y) with score
    0.9; it never sees grandparents (they are never stated)."""
    mentions = {span.start: span for span in doc.spans.get(SPANS_KEY, [])}
    rels = [r for r in get_relations(doc) if r.source != BACKBONE]
    for i in range(len(doc) - 4):
        if doc[i + 1 : i + 4].text == "is parent of" and i in mentions and i + 4 in mentions:
            rels.append(Relation(head=mentions[i], tail=mentions[i + 4], label="parent", score=0.9, source=BACKBONE))
    doc._.relations = rels
    return doc


def make_doc(nlp, names, *, gold=True):
    """One family per triple of names: two parent sentences, gold parents and the
    grandparent; every person is mentioned again at the end (clusters by span id)."""
    words, spans, rels = [], [], []
    for k in range(0, len(names) - 2, 3):
        a, b, c = names[k : k + 3]
        for x, y in ((a, b), (b, c)):
            spans += [(len(words), x), (len(words) + 4, y)]
            words += [x, "is", "parent", "of", y, "."]
    for name in names:
        spans.append((len(words), name))
        words += [name, "smiles", "."]
    doc = Doc(nlp.vocab, words=words)
    doc.spans[SPANS_KEY] = [Span(doc, i, i + 1, label="PER", span_id=name) for i, name in spans]
    first = {}
    for span in doc.spans[SPANS_KEY]:
        first.setdefault(span.text, span)
    if gold:
        for k in range(0, len(names) - 2, 3):
            a, b, c = (first[n] for n in names[k : k + 3])
            rels += [Relation(head=a, tail=b, label="parent"), Relation(head=b, tail=c, label="parent"),
                     Relation(head=a, tail=c, label="grandparent")]
        doc._.relations = rels
    return doc


def make_examples(nlp):
    examples = []
    for k in range(4):
        names = NAMES[3 * k :] + NAMES[: 3 * k]
        ref = make_doc(nlp, names[:6])
        examples.append(Example(make_doc(nlp, names[:6], gold=False), ref))
    return examples


def make_nlp(**overrides):
    """The stand-in backbone and a small reasoner; nlp.initialize() runs the small EM
    schedule ([initialize.components.logic_reasoner])."""
    nlp = spacy.blank("en")
    nlp.add_pipe(BACKBONE)
    nlp.add_pipe("logic_reasoner", config={**SMALL, **overrides})
    nlp.config["initialize"]["components"]["logic_reasoner"] = dict(SMALL_SCHEDULE)
    return nlp


def initialize(nlp, **schedule):
    """nlp.initialize with the small EM schedule, `schedule` overriding it."""
    nlp.config["initialize"]["components"]["logic_reasoner"].update(schedule)
    nlp.initialize(lambda: make_examples(nlp))


pytestmark = pytest.mark.usefixtures("torch_single_thread")


@pytest.fixture(scope="module")
def trained():
    fix_random_seed(0)
    nlp = make_nlp()
    initialize(nlp)
    return nlp


def facts(doc, source="logic_reasoner"):
    return {(r.head.text, r.label, r.tail.text) for r in get_relations(doc) if r.source == source}


def test_planted_rule_adds_missing_relation(trained):
    doc = trained(make_doc(trained, ["Kim", "Ann", "Jon"], gold=False))
    found = facts(doc)
    assert ("Kim", "grandparent", "Jon") in found  # the backbone never scored this pair
    assert ("Kim", "parent", "Ann") in found and ("Ann", "parent", "Jon") in found
    assert ("Jon", "grandparent", "Kim") not in found and ("Kim", "grandparent", "Ann") not in found
    assert not facts(doc, BACKBONE)  # replaced by the refined relations
    grand = next(r for r in get_relations(doc) if r.label == "grandparent")
    assert any(rule.startswith("grandparent(Kim, Jon) <- parent(Kim, Ann) ^ parent(Ann, Jon)  [") for rule in grand.rules)


def test_threshold_tuned_on_training_docs(trained):
    # The planted data are separable, so the F1-best threshold on the training documents
    # lies between the probabilities of the candidates that are gold facts and the rest.
    reasoner = trained.get_pipe("logic_reasoner")
    examples = make_examples(trained)
    predictions = reasoner.predict([trained.get_pipe(BACKBONE)(ex.predicted) for ex in examples])
    positive, negative = [], []
    for ex, pred in zip(examples, predictions):
        gold = {(r.head.text, r.label, r.tail.text) for r in get_relations(ex.reference)}
        names = [mentions[0].text for mentions in pred.entities]
        for h, t, r, p in zip(pred.instances.heads, pred.instances.tails, pred.instances.relations, pred.probs):
            fact = (names[int(h)], reasoner.labels[int(r)], names[int(t)])
            (positive if fact in gold else negative).append(float(p))
    assert max(negative) < reasoner.threshold < min(positive)
    assert reasoner.threshold != 0.5


def test_threshold_kept_without_tuning():
    fix_random_seed(0)
    nlp = make_nlp(threshold=0.7)
    initialize(nlp, tune_threshold=False, em_iterations=0, extractor_epochs=20)
    assert nlp.get_pipe("logic_reasoner").threshold == 0.7


def test_learned_rules_listed(trained):
    rules = {(rel, body) for rel, _, _, _, bodies in trained.get_pipe("logic_reasoner").learned_rules()
             for body, weight in bodies if weight > 0}
    assert ("grandparent", "parent(x, z1) ^ parent(z1, y)") in rules


@pytest.mark.parametrize("names", [[], ["Ann"], NAMES], ids=["0", "1", "many"])
def test_zero_one_many_entities(trained, names):
    doc = trained(make_doc(trained, names, gold=False)) if names else trained.make_doc("")
    n_families = len(names) // 3
    assert len([r for r in get_relations(doc) if r.label == "grandparent"]) == n_families


def test_serialization_round_trip(trained, tmp_path):
    texts = [make_doc(trained, NAMES[:6], gold=False), make_doc(trained, NAMES[6:9], gold=False)]

    def outputs(nlp):
        return [[(r.key, round(r.score, 6), r.rules) for r in get_relations(nlp(doc.copy()))] for doc in texts]

    expected = outputs(trained)
    trained.to_disk(tmp_path / "pipe")
    loaded = load_model_from_path(tmp_path / "pipe")
    assert loaded.get_pipe("logic_reasoner").threshold == pytest.approx(trained.get_pipe("logic_reasoner").threshold)
    assert outputs(loaded) == expected
    fresh = make_nlp()
    fresh.from_bytes(trained.to_bytes())
    assert outputs(fresh) == expected


def test_multiprocess(trained):
    docs = [make_doc(trained, NAMES[k : k + 3], gold=False) for k in (0, 3, 6)]
    single = [facts(doc) for doc in trained.pipe([d.copy() for d in docs])]
    assert [facts(doc) for doc in trained.pipe(docs, n_process=2, batch_size=1)] == single


def test_update_and_score(trained):
    examples = make_examples(trained)
    losses = trained.update(examples, exclude=[BACKBONE], annotates=[BACKBONE])  # as spacy train does
    assert losses["logic_reasoner"] > 0
    scores = trained.evaluate(make_examples(trained))
    assert scores["docre_f"] == pytest.approx(1.0)


def test_unknown_backbone():
    nlp = make_nlp(backbone="nope")
    with pytest.raises(ValueError, match="E700"):
        initialize(nlp)


def test_update_before_initialize():
    nlp = make_nlp()
    with pytest.raises(ValueError, match="E703"):
        nlp.get_pipe("logic_reasoner").update(make_examples(nlp))


def test_rules_command(trained, tmp_path):
    trained.to_disk(tmp_path / "pipe")
    # a fresh interpreter without the test's backbone: only the reasoner is loaded
    result = subprocess.run([sys.executable, "-m", "spacy_relext", "rules", str(tmp_path / "pipe")],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "grandparent(x, y) <- parent(x, z1) ^ parent(z1, y)" in result.stdout


# -- the registered architecture, initialize settings, spacy train, deprecated keys --------


def test_architecture_is_registered_and_builds():
    from spacy_relext.logic.architectures import logic_module

    build = spacy.registry.architectures.get("spacy-relext.LogicRules.v1")
    model = build(**{k: v for k, v in SMALL_MODEL.items() if not k.startswith("@")})
    for dim, size in (("n_types", 2), ("n_relations", 3), ("n_signatures", 4)):
        model.set_dim(dim, size)
    model.initialize()
    module = logic_module(model)
    assert module.extractor.weight.shape == (4, 8) and module.extractor.bodies.shape == (4, 8, 3)
    assert module.generator.out.out_features == 2 * 3 + 1
    logits = model.predict((model.ops.alloc2f(5, 8), model.ops.alloc1i(5)))
    assert logits.shape == (5,)
    with pytest.raises(ValueError, match="E701"):
        build(generator_width=30, generator_heads=4)


def test_initialize_settings_reach_the_em(monkeypatch):
    import spacy_relext.logic.logic_reasoner as module

    seen = []

    def spy(*args, **kwargs):
        seen.append(args[4])
        return [{"threshold": None}]

    monkeypatch.setattr(module, "train_rule_model", spy)
    nlp = make_nlp()
    initialize(nlp, em_iterations=3, generator_lr=0.25, seed=7)
    (settings,) = seen
    assert (settings.em_iterations, settings.generator_lr, settings.seed) == (3, 0.25, 7)
    assert settings.generator_pretrain_steps == SMALL_SCHEDULE["generator_pretrain_steps"]
    assert settings.n_rules == SMALL_MODEL["n_rules"]  # the rule slots come from the model
    # the defaults are LogiRE's schedule as before the settings moved to initialize
    fresh = make_nlp()
    fresh.config["initialize"]["components"]["logic_reasoner"] = {}
    fresh.initialize(lambda: make_examples(fresh))
    assert seen[1] == module.EMSettings(n_rules=8)


def test_deprecated_flat_keys_still_apply(monkeypatch):
    import spacy_relext.logic.logic_reasoner as module

    seen = []
    monkeypatch.setattr(module, "train_rule_model", lambda *args, **kwargs: seen.append(args[4]) or [{"threshold": 0.3}])
    flat = {"backbone": BACKBONE, "spans_key": SPANS_KEY, "n_rules": 8, "generator_width": 32, "generator_heads": 2,
            "generator_depth": 1, "generator_ffn_width": 64, "em_iterations": 1, "extractor_lr": 0.1,
            "tune_threshold": False}
    nlp = spacy.blank("en")
    nlp.add_pipe(BACKBONE)
    with pytest.warns(UserWarning, match="W006"):
        reasoner = nlp.add_pipe("logic_reasoner", config=flat)
    assert (reasoner.model.attrs["generator_width"], reasoner.cfg["generator_width"]) == (32, 32)
    nlp.initialize(lambda: make_examples(nlp))
    assert (seen[0].em_iterations, seen[0].extractor_lr, seen[0].n_rules) == (1, 0.1, 8)
    assert reasoner.threshold == 0.5  # tune_threshold = false
    assert reasoner.module.generator.type_embed.embedding_dim == 32


def test_update_without_the_backbone_annotating_warns(trained):
    reasoner = trained.get_pipe("logic_reasoner")
    with pytest.warns(UserWarning, match="W007"):
        reasoner.update(make_examples(trained))
    reasoner.module.zero_grad()  # no optimizer step: leave the shared pipeline as it was


def logic_train_config(source, train, overrides=None):
    """configs/logic_dwie.cfg's training set-up with the stand-in backbone (sourced,
    frozen, annotating) and the small model and EM schedule."""
    from pathlib import Path

    config = spacy.util.load_config(Path(__file__).parents[2] / "configs" / "logic_dwie.cfg")
    config["paths"].update(backbone=str(source), train=str(train), dev=str(train))
    config["nlp"]["pipeline"] = [BACKBONE, "logic_reasoner"]
    for name in ("sentencizer", "tok2vec", "rationale_masker"):
        del config["components"][name]
    config["components"][BACKBONE] = {"source": "${paths.backbone}"}
    config["training"]["frozen_components"] = config["training"]["annotating_components"] = [BACKBONE]
    reasoner = config["components"]["logic_reasoner"]
    reasoner.update(backbone=BACKBONE, model=dict(SMALL_MODEL))
    config["initialize"]["components"]["logic_reasoner"].update(SMALL_SCHEDULE)
    for key in ("sents_f", "sents_p", "sents_r"):
        config["training"]["score_weights"].pop(key)
    return config


def test_spacy_train_learns_the_planted_rule(tmp_path):
    from spacy.cli.train import train
    from spacy.tokens import DocBin

    source = spacy.blank("en")
    source.add_pipe(BACKBONE)
    source.to_disk(tmp_path / "backbone")
    DocBin(docs=[eg.reference for eg in make_examples(source)], store_user_data=True).to_disk(tmp_path / "train.spacy")
    config = logic_train_config(tmp_path / "backbone", tmp_path / "train.spacy")
    config.to_disk(tmp_path / "logic.cfg")
    train(tmp_path / "logic.cfg", tmp_path / "out")
    nlp = spacy.load(tmp_path / "out" / "model-last")
    assert nlp.pipe_names == [BACKBONE, "logic_reasoner"]
    reasoner = nlp.get_pipe("logic_reasoner")
    rules = {(rel, body) for rel, _, _, _, bodies in reasoner.learned_rules() for body, weight in bodies if weight > 0}
    assert ("grandparent", "parent(x, z1) ^ parent(z1, y)") in rules
    assert reasoner.threshold != 0.5  # tuned by initialize
    doc = nlp(make_doc(nlp, ["Kim", "Ann", "Jon"], gold=False))
    assert ("Kim", "grandparent", "Jon") in facts(doc)
