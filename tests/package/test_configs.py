"""Every committed config builds; the transformer config loads MiniLM offline; the config
that sources its entity recognizer trains the classifier and scores end to end."""
import io
from pathlib import Path

import numpy
import pytest
import spacy
from spacy.tokens import Doc, DocBin, Span
from spacy.training import Example
from spacy.training.initialize import init_nlp

from spacy_relext.relations import Relation

CONFIG_DIR = Path(__file__).parents[2] / "configs"
CONFIGS = sorted(CONFIG_DIR.glob("*.cfg"))


WORDS = ["Alice", "works", "for", "Acme", "."]


def gold_doc(vocab, relation=True):
    doc = Doc(vocab, words=WORDS, sent_starts=[True] + [False] * 4)
    doc.ents = [Span(doc, 0, 1, label="PER"), Span(doc, 3, 4, label="ORG")]
    if relation:
        doc._.relations = [Relation(head=doc[0:1], tail=doc[3:4], label="Work_For")]
    return doc


@pytest.fixture(scope="module")
def ner_pipeline(tmp_path_factory):
    """A pipeline from configs/ner_cpu.cfg taught one sentence: the source of a sourced ner."""
    nlp = spacy.util.load_model_from_config(spacy.util.load_config(CONFIG_DIR / "ner_cpu.cfg"), auto_fill=True)
    examples = [Example(Doc(nlp.vocab, words=WORDS), gold_doc(nlp.vocab, relation=False))]
    optimizer = nlp.initialize(lambda: examples)
    for _ in range(30):
        nlp.update(examples, sgd=optimizer)
    path = tmp_path_factory.mktemp("ner") / "model"
    nlp.to_disk(path)
    return path


@pytest.fixture(scope="module")
def ner_trf_pipeline(tmp_path_factory):
    """A pipeline from configs/ner_trf.cfg (MiniLM through spacy-transformers) taught one
    sentence, at a learning rate that makes a few updates enough (at 1e-3 the loss jumps
    back up between updates)."""
    from thinc.api import Adam

    nlp = spacy.util.load_model_from_config(spacy.util.load_config(CONFIG_DIR / "ner_trf.cfg"), auto_fill=True)
    examples = [Example(Doc(nlp.vocab, words=WORDS), gold_doc(nlp.vocab, relation=False))]
    nlp.initialize(lambda: examples)
    optimizer = Adam(1e-4)
    for _ in range(20):
        nlp.update(examples, sgd=optimizer)
    path = tmp_path_factory.mktemp("ner_trf") / "model"
    nlp.to_disk(path)
    return path


@pytest.fixture(scope="module")
def dwie_backbone(tmp_path_factory):
    """configs/rationale_dwie_cpu.cfg initialized on the logic tests' family documents and
    saved writing its candidate scores: the source of configs/logic_dwie.cfg."""
    from test_logic_reasoner import make_examples

    nlp = spacy.util.load_model_from_config(spacy.util.load_config(CONFIG_DIR / "rationale_dwie_cpu.cfg"),
                                            auto_fill=True)
    examples = make_examples(nlp)
    nlp.initialize(lambda: examples)
    nlp.get_pipe("rationale_masker").cfg.update(keep_candidates=True, candidate_floor=0.0)
    path = tmp_path_factory.mktemp("dwie_backbone") / "model"
    nlp.to_disk(path)
    return path, [eg.reference for eg in examples]


@pytest.fixture(scope="module")
def dwie_trf_backbone(tmp_path_factory):
    """configs/docre_dwie_trf.cfg (MiniLM) initialized on the same documents: the source of
    configs/logic_dwie_trf.cfg."""
    from test_logic_reasoner import make_examples

    nlp = spacy.util.load_model_from_config(spacy.util.load_config(CONFIG_DIR / "docre_dwie_trf.cfg"),
                                            auto_fill=True)
    nlp.initialize(lambda: make_examples(nlp))
    path = tmp_path_factory.mktemp("dwie_trf_backbone") / "model"
    nlp.to_disk(path)
    return path


def load(path, ner_pipeline, backbone=None, trf_backbone=None):
    config = spacy.util.load_config(path)
    paths = config["paths"]
    overrides = {"paths.ner_model": str(ner_pipeline)} if "ner_model" in paths else {}
    if "backbone" in paths:
        sources_a_transformer = "transformer" in config["nlp"]["pipeline"]
        overrides["paths.backbone"] = str(trf_backbone if sources_a_transformer else backbone)
    return spacy.util.load_config(path, overrides=overrides)


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_config_builds(path, ner_pipeline, dwie_backbone, request):
    trf_backbone = request.getfixturevalue("dwie_trf_backbone") if path.name == "logic_dwie_trf.cfg" else None
    config = load(path, ner_pipeline, dwie_backbone[0], trf_backbone)
    nlp = spacy.util.load_model_from_config(config, auto_fill=True, validate=True)
    assert nlp.pipe_names == config["nlp"]["pipeline"]


def weights(model):
    """Every parameter of a thinc model and of the torch modules it wraps, in walk order."""
    own = [(node.name, key, node.get_param(key).copy()) for node in model.walk()
           for key in node.param_names if node.has_param(key)]
    wrapped = [(node.name, key, value.detach().numpy().copy()) for node in model.walk() for shim in node.shims
               for key, value in shim._model.state_dict().items()]
    return own + wrapped


def same_weights(a, b):
    return len(a) == len(b) and all(x[:2] == y[:2] and (x[2] == y[2]).all() for x, y in zip(a, b))


@pytest.mark.parametrize("ner_source", ["ner_pipeline", "ner_trf_pipeline"])
def test_sourced_ner_is_frozen_and_predicts_the_entities(ner_source, request, tmp_path):
    """configs/clm_trf.cfg, initialised as `spacy train` does, after a tok2vec ner
    (configs/ner_cpu.cfg) or a MiniLM one (configs/ner_trf.cfg): the sourced ner owns a copy
    of its source's encoder, keeps the source's weights through training and supplies the
    entities the classifier scores at evaluation (end to end)."""
    ner_pipeline = request.getfixturevalue(ner_source)
    vocab = spacy.blank("en").vocab
    DocBin(docs=[gold_doc(vocab)], store_user_data=True).to_disk(tmp_path / "train.spacy")
    config = load(CONFIG_DIR / "clm_trf.cfg", ner_pipeline)
    config["paths"]["train"] = config["paths"]["dev"] = str(tmp_path / "train.spacy")
    nlp = init_nlp(config)
    assert nlp.pipe_names == ["ner", "sentencizer", "clm_classifier"]
    source = weights(spacy.load(ner_pipeline).get_pipe("ner").model)
    examples = [Example(Doc(nlp.vocab, words=WORDS), gold_doc(nlp.vocab))]
    optimizer = nlp.create_optimizer()
    losses = {}
    for _ in range(2):
        nlp.update(examples, sgd=optimizer, losses=losses, exclude=config["training"]["frozen_components"])
    assert set(losses) == {"clm_classifier"}
    trained = weights(nlp.get_pipe("ner").model)
    assert len(trained) > len(source)  # the encoder copy is part of the ner now
    source_nlp = spacy.load(ner_pipeline)
    encoder = next(name for name, proc in source_nlp.pipeline if "ner" in getattr(proc, "listening_components", []))
    source_nlp.replace_listeners(encoder, "ner", ["model.tok2vec"])
    assert same_weights(trained, weights(source_nlp.get_pipe("ner").model))
    doc = nlp("Alice works for Acme .")
    assert [(e.text, e.label_) for e in doc.ents] == [("Alice", "PER"), ("Acme", "ORG")]
    assert "rel_f" in nlp.evaluate(examples)


def test_benchmark_puts_a_transformer_ner_in_the_tok2vec_ners_place(ner_pipeline, ner_trf_pipeline, tmp_path):
    """benchmarks/accuracy.py's `with_ner_of` (issue 20, item 8): a configs/clm_trf.cfg
    pipeline trained after the tok2vec ner gets the MiniLM ner in its place; the entities are
    then the MiniLM ner's and the classifier still scores them. Put back, the tok2vec ner
    gives the saved pipeline's predictions exactly."""
    import sys

    sys.path.insert(0, str(CONFIG_DIR.parent / "benchmarks"))
    from accuracy import with_ner_of

    vocab = spacy.blank("en").vocab
    DocBin(docs=[gold_doc(vocab)], store_user_data=True).to_disk(tmp_path / "train.spacy")
    config = load(CONFIG_DIR / "clm_trf.cfg", ner_pipeline)
    config["paths"]["train"] = config["paths"]["dev"] = str(tmp_path / "train.spacy")
    nlp = init_nlp(config)
    nlp.update([Example(Doc(nlp.vocab, words=WORDS), gold_doc(nlp.vocab))], sgd=nlp.create_optimizer(),
               exclude=["ner"])
    nlp.to_disk(tmp_path / "model")
    text = "Bob works for Zeta and Alice works for Acme ."

    def read(pipeline):
        doc = pipeline(text)
        return [(e.text, e.label_) for e in doc.ents], [(r.key, round(r.score, 5)) for r in doc._.relations]

    assert read(with_ner_of(tmp_path / "model", ner_pipeline)) == read(spacy.load(tmp_path / "model"))
    swapped = with_ner_of(tmp_path / "model", ner_trf_pipeline)
    assert swapped.pipe_names == ["ner", "sentencizer", "clm_classifier"]
    doc = swapped(text)
    ents = [(e.text, e.label_) for e in doc.ents]
    assert ents == read(spacy.load(ner_trf_pipeline))[0] and len(ents) >= 3
    classifier = swapped.get_pipe("clm_classifier")
    pairs = classifier.get_pairs(doc)  # one sentence: every pair of the MiniLM ner's entities
    assert {frozenset((h.text, t.text)) for h, t in pairs} == {
        frozenset((a[0], b[0])) for i, a in enumerate(ents) for b in ents[i + 1:]}
    scored, scores = classifier.predict([doc])
    assert len(scored) == len(pairs) == len(scores) and numpy.isfinite(scores).all()


def test_logic_config_of_the_transformer_backbone_differs_only_in_its_name():
    """configs/logic_dwie_trf.cfg is configs/logic_dwie.cfg with the backbone's `transformer`
    where the tok2vec backbone has `tok2vec`: a change to one must reach the other."""
    cpu = spacy.util.load_config(CONFIG_DIR / "logic_dwie.cfg", interpolate=False)
    trf = spacy.util.load_config(CONFIG_DIR / "logic_dwie_trf.cfg", interpolate=False)
    renamed = cpu.copy()
    renamed["components"]["transformer"] = renamed["components"].pop("tok2vec")
    for section, key in (("nlp", "pipeline"), ("training", "frozen_components"),
                         ("training", "annotating_components")):
        renamed[section][key] = ["transformer" if name == "tok2vec" else name for name in renamed[section][key]]
    assert renamed == trf


def test_logic_reasoner_trains_after_the_transformer_backbone(dwie_trf_backbone, tmp_path):
    """`spacy train configs/logic_dwie_trf.cfg` after a MiniLM backbone (docre_dwie_trf.cfg,
    untrained here) that writes its candidate scores, with a small rule model and schedule:
    the saved pipeline runs the four components and its rule generator found the planted rule."""
    from spacy.cli.train import train
    from test_logic_reasoner import SMALL_MODEL, SMALL_SCHEDULE, make_doc, make_examples

    backbone = spacy.load(dwie_trf_backbone)
    backbone.get_pipe("rationale_masker").cfg.update(keep_candidates=True, candidate_floor=0.0)
    backbone.to_disk(tmp_path / "candidates")
    docs = [eg.reference for eg in make_examples(backbone)]
    DocBin(docs=docs, store_user_data=True).to_disk(tmp_path / "train.spacy")
    config = spacy.util.load_config(CONFIG_DIR / "logic_dwie_trf.cfg")
    config["paths"].update(backbone=str(tmp_path / "candidates"), train=str(tmp_path / "train.spacy"),
                           dev=str(tmp_path / "train.spacy"))
    config["components"]["logic_reasoner"]["model"] = dict(SMALL_MODEL)
    config["initialize"]["components"]["logic_reasoner"].update(SMALL_SCHEDULE)
    config.to_disk(tmp_path / "logic.cfg")
    train(tmp_path / "logic.cfg", tmp_path / "out")
    nlp = spacy.load(tmp_path / "out" / "model-last")
    assert nlp.pipe_names == ["sentencizer", "transformer", "rationale_masker", "logic_reasoner"]
    # the generator, pre-trained on the gold paths, found the planted two-hop rule (its
    # weight is the extractor's: the untrained backbone's scores carry no signal)
    bodies = {rel: [body for body, _ in found] for rel, _, _, _, found in nlp.get_pipe("logic_reasoner").learned_rules()}
    assert "parent(x, z1) ^ parent(z1, y)" in bodies["grandparent"]
    doc = nlp(make_doc(nlp, ["Kim", "Ann", "Jon"], gold=False))
    assert all(rel.label in bodies for rel in doc._.relations)  # runs end to end on new text


def test_no_absolute_paths_or_hub_names_in_configs():
    for path in CONFIGS:
        text = path.read_text()
        assert "/home/" not in text and "/root/" not in text and "/work/" not in text, path
        assert "roberta-base" not in text and "bert-base" not in text, path


def test_transformer_config_runs_offline_on_minilm(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    nlp = spacy.util.load_model_from_config(spacy.util.load_config(CONFIG_DIR / "ner_trf.cfg"), auto_fill=True)
    doc = Doc(nlp.vocab, words=["Alice", "works", "for", "Acme", "."])
    ref = Doc(nlp.vocab, words=["Alice", "works", "for", "Acme", "."])
    ref.ents = [Span(ref, 0, 1, label="PER"), Span(ref, 3, 4, label="ORG")]
    nlp.initialize(lambda: [Example(doc, ref)])
    out = nlp("Bob visited Paris.")
    hidden = out._.trf_data.tensors[0]
    assert hidden.shape[-1] == 384  # MiniLM-L6 width: the packaged weights were used


def test_cp_finetune_config_trains_with_spacy_train_and_round_trips(tmp_path):
    """configs/cp_finetune.cfg (CP fine-tuning: one marked pair per sequence on MiniLM)
    trains with spaCy's own training loop on tiny data; the saved pipeline predicts what
    the trained one does, and its config names the pair packing without CLMs."""
    from spacy.training.loop import train

    vocab = spacy.blank("en").vocab
    doc = gold_doc(vocab)
    doc.spans["entities"] = list(doc.ents)
    DocBin(docs=[doc], store_user_data=True).to_disk(tmp_path / "train.spacy")
    config = spacy.util.load_config(CONFIG_DIR / "cp_finetune.cfg")
    config["paths"]["train"] = config["paths"]["dev"] = str(tmp_path / "train.spacy")
    config["training"]["max_epochs"] = 2
    nlp = init_nlp(config)
    pipe = nlp.get_pipe("clm_classifier")
    assert (pipe.cfg["packing"], pipe.use_clms) == ("pair", False)
    (tmp_path / "out").mkdir()
    nlp, _ = train(nlp, tmp_path / "out", stdout=io.StringIO(), stderr=io.StringIO())
    loaded = spacy.load(tmp_path / "out" / "model-last")
    texts = ["Alice works for Acme .", "Bob works for Zeta ."]
    docs = [Doc(nlp.vocab, words=t.split(), ents=["B-PER", "O", "O", "B-ORG", "O"]) for t in texts]
    for doc in docs:
        doc.spans["entities"] = list(doc.ents)
    ours = [[(r.head.text, r.tail.text, r.label, round(r.score, 5)) for r in d._.relations] for d in nlp.pipe(docs)]
    theirs = [[(r.head.text, r.tail.text, r.label, round(r.score, 5)) for r in d._.relations]
              for d in loaded.pipe(Doc.from_docs([d]) for d in docs)]
    assert ours == theirs and any(ours)


def test_logic_config_trains_the_reasoner_after_the_frozen_backbone(ner_pipeline, dwie_backbone, tmp_path):
    """configs/logic_dwie.cfg with `spacy train` (small model and EM schedule): the sourced
    backbone is frozen and the reasoner is trained by initialize, then saved."""
    from spacy.cli.train import train

    source, references = dwie_backbone
    DocBin(docs=references, store_user_data=True).to_disk(tmp_path / "train.spacy")
    small = {"n_rules": 4, "generator_width": 16, "generator_depth": 1, "generator_heads": 2, "generator_ffn_width": 16}
    schedule = {"em_iterations": 0, "generator_pretrain_steps": 5, "extractor_epochs": 2}
    overrides = {"paths.backbone": str(source), "paths.train": str(tmp_path / "train.spacy"),
                 "paths.dev": str(tmp_path / "train.spacy"),
                 **{f"components.logic_reasoner.model.{k}": v for k, v in small.items()},
                 **{f"initialize.components.logic_reasoner.{k}": v for k, v in schedule.items()}}
    train(CONFIG_DIR / "logic_dwie.cfg", tmp_path / "out", overrides=overrides)
    nlp = spacy.load(tmp_path / "out" / "model-last")
    backbone = spacy.load(source)
    for name in ("tok2vec", "rationale_masker"):  # frozen: the source's weights
        trained, original = (list(p.get_pipe(name).model.walk()) for p in (nlp, backbone))
        for a, b in zip(trained, original):
            assert all((a.get_param(k) == b.get_param(k)).all() for k in a.param_names if a.has_param(k))
            assert [shim.to_bytes() for shim in a.shims] == [shim.to_bytes() for shim in b.shims]
    reasoner = nlp.get_pipe("logic_reasoner")
    assert reasoner.is_initialized and set(reasoner.labels) == {"parent", "grandparent"}
    assert reasoner.module.generator.type_embed.embedding_dim == 16
    from test_logic_reasoner import make_doc

    doc = nlp(make_doc(nlp, ["Kim", "Ann", "Jon"], gold=False))
    assert all(rel.source == "logic_reasoner" for rel in doc._.relations)


@pytest.mark.parametrize("name", ["clm_cpu.cfg", "clm_trf.cfg"])
def test_sentencizer_cannot_cut_a_gold_entity_before_the_ner(name):
    """The `clm_*` configs run the rule-based sentencizer after the ner. Before it, a
    boundary after "No." inside the gold entity "No. 2" (a CoNLL04 training document)
    left spaCy's ner oracle without a valid move: E024 in `spacy train` (CPU default)."""
    config = spacy.util.load_config(CONFIG_DIR / name)
    pipeline = config["nlp"]["pipeline"]
    assert pipeline.index("sentencizer") > pipeline.index("ner")
    assert "sentencizer" in config["training"]["annotating_components"]
    nlp = spacy.blank("en")
    for pipe in pipeline[: pipeline.index("sentencizer") + 1]:
        if pipe in ("ner", "sentencizer"):
            nlp.add_pipe(pipe)
    words = "The ship Fellow No. 2 sailed from Boston to Lisbon on Monday .".split()
    ents = ["O", "O", "B-MISC", "I-MISC", "I-MISC", "O", "O", "B-LOC", "O", "B-LOC", "O", "O", "O"]

    def examples():
        reference = Doc(nlp.vocab, words=words, ents=ents)
        return [Example(nlp.make_doc(reference.text), reference) for _ in range(4)]

    assert [t.is_sent_start for t in nlp.get_pipe("sentencizer")(nlp.make_doc(" ".join(words)))][5]
    nlp.initialize(examples)
    nlp.get_pipe("ner").cfg["update_with_oracle_cut_size"] = 4  # cut the Doc as long documents are
    optimizer = nlp.create_optimizer()
    for _ in range(10):
        nlp.update(examples(), sgd=optimizer, annotates=config["training"]["annotating_components"])
