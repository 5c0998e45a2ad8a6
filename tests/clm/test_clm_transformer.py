"""Faithful mode of clm_classifier: own MiniLM encoder, solid + levitated markers."""
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy  # noqa: E402
import pytest  # noqa: E402
import spacy  # noqa: E402
import torch  # noqa: E402
from test_clm_classifier import make_examples, unseen_docs  # noqa: E402
from thinc.api import fix_random_seed  # noqa: E402

from spacy_relext.clm.levitated_marker import PackedPairs, PairGroup  # noqa: E402
from spacy_relext.clm.levitated_marker_transformer import make_solid_layout  # noqa: E402

TRF_MODEL = {
    "@architectures": "spacy-relext.LevitatedMarkerTransformer.v1",
    "encoder": {"@misc": "spacy-relext.installed_encoder.v1"},
    "max_length": 32,
}
SPECIAL = {"cls": 101, "sep": 102, "pad": 0, "markers": (1, 2, 3, 4), "clms": numpy.arange(500, 520)}


@pytest.fixture(scope="module")
def trf_nlp():
    fix_random_seed(0)
    nlp = spacy.blank("en")
    nlp.add_pipe("clm_classifier", config={"model": TRF_MODEL})
    examples = make_examples(nlp)
    optimizer = nlp.initialize(lambda: examples)
    nlp.update(examples, sgd=optimizer)
    return nlp


def test_solid_layout():
    doc = spacy.blank("en")("a b c d")
    pieces = [[[10], [11, 12], [13], [14]]]  # "b" has two wordpieces
    packed = PackedPairs([PairGroup(0, (2, 3), [(1, 2), (3, 4)])], clm_ids=numpy.array([[0, 5], [1, 2]]))
    layout = make_solid_layout(pieces, packed, docs=[doc], max_length=32, mutual=True, special=SPECIAL)
    # [CLS] a b1 b2 [S] c [/S] d [SEP] | O1 O2 | /O1 /O2 | 2 CLMs per object
    assert layout["input_ids"][0].tolist() == [101, 10, 11, 12, 1, 13, 2, 14, 102, 3, 3, 4, 4, 500, 505, 501, 502]
    assert layout["positions"][0].tolist() == [0, 1, 2, 3, 4, 5, 6, 7, 8, 2, 7, 3, 7, 32, 33, 32, 33]
    assert layout["pair_rows"].tolist() == [[0, 4, 6, 9, 11], [0, 4, 6, 10, 12]]
    mask = layout["mask"][0].astype(bool)
    assert not mask[numpy.r_[0:4, 5, 7, 8], 9:].any()
    assert mask[[4, 6], 13:].all() and not mask[[4, 6], 9:13].any()
    assert mask[9].nonzero()[0].tolist() == list(range(9)) + [9, 10, 11, 12, 13, 14]  # O1: text, M-DOS, own CLMs
    assert mask[13].nonzero()[0].tolist() == list(range(9)) + [9, 11, 13, 14]  # CLM of O1


def test_text_states_unchanged_by_markers(trf_nlp):
    module = trf_nlp.get_pipe("clm_classifier").model.get_ref("encoder").shims[0]._model.eval()
    special = {
        "cls": module.tokenizer.cls_token_id,
        "sep": module.tokenizer.sep_token_id,
        "pad": module.tokenizer.pad_token_id,
        "markers": module.marker_ids,
        "clms": numpy.asarray(module.clm_token_ids),
    }
    doc = spacy.blank("en")("Alice works for Acme in Paris .")
    pieces = [[module.tokenizer.convert_tokens_to_ids(module.tokenizer.tokenize(t.text)) for t in doc]]

    def text_states(packed):
        layout = make_solid_layout(pieces, packed, docs=[doc], max_length=32, mutual=True, special=special)
        args = [torch.from_numpy(layout[k]) for k in ("input_ids", "positions", "mask")]
        with torch.no_grad():
            return module.hidden(*args)[0, :10].numpy()  # [CLS] 7 words, [S] [/S] [SEP]: 10 rows

    one = text_states(PackedPairs([PairGroup(0, (0, 1), [(3, 4)])]))
    many = text_states(PackedPairs([PairGroup(0, (0, 1), [(3, 4), (5, 6), (1, 2)])]))
    numpy.testing.assert_allclose(one, many, atol=1e-5)


def test_serialization_without_source_dir(trf_nlp):
    expected = [[(r.key, round(r.score, 5)) for r in doc._.relations] for doc in trf_nlp.pipe(unseen_docs(trf_nlp))]
    data = trf_nlp.to_bytes()
    nlp = spacy.blank("en")
    # an encoder path that does not exist: loading must not need it
    nlp.add_pipe("clm_classifier", config={"model": {**TRF_MODEL, "encoder": "/nonexistent"}})
    nlp.from_bytes(data)
    got = [[(r.key, round(r.score, 5)) for r in doc._.relations] for doc in nlp.pipe(unseen_docs(nlp))]
    assert got == expected


def test_solid_layout_pair_packing():
    doc = spacy.blank("en")("a b c d")
    pieces = [[[10], [11, 12], [13], [14]]]
    packed = PackedPairs([PairGroup(0, (2, 3), [(1, 2)])], clm_ids=numpy.array([[0, 5]]), solid_objects=True)
    layout = make_solid_layout(pieces, packed, docs=[doc], max_length=32, mutual=True, special=SPECIAL)
    # [CLS] a [O] b1 b2 [/O] [S] c [/S] d [SEP] | 2 CLMs
    assert layout["input_ids"][0].tolist() == [101, 10, 3, 11, 12, 4, 1, 13, 2, 14, 102, 500, 505]
    assert layout["positions"][0].tolist() == list(range(11)) + [32, 33]
    assert layout["pair_rows"].tolist() == [[0, 6, 8, 2, 5]]
    mask = layout["mask"][0].astype(bool)
    assert mask[[2, 5, 6, 8], 11:].all() and not mask[numpy.r_[0:2, 3, 4, 7, 9, 10], 11:].any()
    assert mask[11].nonzero()[0].tolist() == list(range(11)) + [11, 12]


# --- the forward pass before its speed fix (issue 24), kept as the reference --------------


def scores_before(model, docs, packed):
    """Groups chunked in document order, as before sorting by length."""
    from spacy_relext.clm.levitated_marker import GROUPS_PER_CALL
    from spacy_relext.clm.levitated_marker_transformer import _doc_pieces, _special_ids

    module = model.get_ref("encoder").shims[0]._model
    pieces = [_doc_pieces(module.tokenizer, doc) for doc in docs]
    scores = []
    for start in range(0, len(packed.groups), GROUPS_PER_CALL):
        layout = make_solid_layout(pieces, packed.slice(start, start + GROUPS_PER_CALL), docs=docs,
                                   max_length=model.attrs["max_length"], mutual=model.attrs["mutual_object_attention"],
                                   special=_special_ids(module))
        scores.append(module(*(torch.from_numpy(layout[k]) for k in ("input_ids", "positions", "mask", "pair_rows"))))
    return torch.cat(scores)


def varied_docs(nlp, rng, n_docs):
    """Docs of 3 to 30 words with 2 to 6 entities: groups of many text lengths and sizes."""
    docs = []
    for _ in range(n_docs):
        n = int(rng.integers(3, 31))
        doc = spacy.tokens.Doc(nlp.vocab, words=[str(w) for w in rng.choice(["Alice", "works", "for", "Acme", "in",
                                                                             "Parisian", "."], n)])
        starts = sorted(rng.choice(n, size=min(n, int(rng.integers(2, 7))), replace=False))
        doc.ents = [spacy.tokens.Span(doc, int(s), int(s) + 1, label="PER") for s in starts]
        docs.append(doc)
    return docs


@pytest.mark.parametrize("clms", [False, True])
def test_sorted_chunks_give_the_scores_and_gradients_of_before(trf_nlp, clms):
    """More groups than one chunk, of varied lengths: sorting them by length and
    restoring the order gives the same scores and weight gradients (dropout off)."""
    clm = trf_nlp.get_pipe("clm_classifier")
    rng = numpy.random.default_rng(0)
    docs = varied_docs(trf_nlp, rng, 40)
    packed, _ = clm.pack(docs)
    assert len(packed.groups) > 64
    if clms:
        packed.clm_ids = rng.integers(0, 2 * clm.label_scheme.n_classes, size=(packed.n_pairs, 4))
    module = clm.model.get_ref("encoder").shims[0]._model
    dropouts = [layer for layer in module.modules() if isinstance(layer, torch.nn.Dropout)]
    rates = [layer.p for layer in dropouts]
    for layer in dropouts:
        layer.p = 0.0
    scores, backprop = clm.model.begin_update((docs, packed))
    d_scores = rng.normal(size=scores.shape).astype("float32")
    module.zero_grad()
    backprop(d_scores)
    grads = {n: p.grad.clone() for n, p in module.named_parameters() if p.grad is not None}
    module.zero_grad()
    want = scores_before(clm.model, docs, packed)
    want.backward(torch.from_numpy(d_scores))
    numpy.testing.assert_allclose(scores, want.detach().numpy(), rtol=1e-4, atol=1e-4)
    for name in ("output.weight", "encoder.encoder.layer.0.attention.self.query.weight"):
        numpy.testing.assert_allclose(grads[name].numpy(), module.get_parameter(name).grad.numpy(), rtol=1e-3,
                                      atol=1e-4, err_msg=name)
    module.zero_grad()
    for layer, rate in zip(dropouts, rates):
        layer.p = rate


# --- bounded training memory: passes of at most max_sequences_per_pass sequences ----------


def no_dropout(module):
    """Dropout off in the encoder (restored on exit of the returned context)."""
    import contextlib

    @contextlib.contextmanager
    def context():
        layers = [layer for layer in module.modules() if isinstance(layer, torch.nn.Dropout)]
        rates = [layer.p for layer in layers]
        for layer in layers:
            layer.p = 0.0
        try:
            yield
        finally:
            for layer, rate in zip(layers, rates):
                layer.p = rate

    return context()


def test_training_in_passes_of_few_sequences_gives_the_batch_gradient(trf_nlp, monkeypatch):
    """A batch of more packed sequences than max_sequences_per_pass is trained in passes
    of at most that many, each backpropagated before the next runs (so its activations
    are freed), and the gradient and loss are those of one pass over the batch."""
    clm = trf_nlp.get_pipe("clm_classifier")
    module = clm.model.get_ref("encoder").shims[0]._model
    examples = make_examples(trf_nlp) * 2
    monkeypatch.setitem(clm.cfg, "clm_warmup_steps", 0)  # with CLMs: their rows are sliced per pass too
    n_groups = len(clm.pack(clm.training_docs(examples))[0].groups)
    events = []
    # Stage 1 (the CLM ranking) runs without gradient and is left out.
    hooks = [module.output.register_forward_hook(lambda *_: events.append("F") if torch.is_grad_enabled() else None),
             module.output.register_full_backward_hook(lambda *_: events.append("B"))]

    def train_once(limit):
        monkeypatch.setattr(clm, "max_sequences_per_pass", limit)
        events.clear()
        module.zero_grad()
        losses = clm.update(examples, drop=0.0)  # no optimizer: the gradients stay on the weights
        return losses[clm.name], {n: w.grad.clone() for n, w in module.named_parameters() if w.grad is not None}

    try:
        with no_dropout(module):
            one_loss, one_grads = train_once(None)
            assert events == ["F", "B"]  # the whole batch in one encoder call
            loss, grads = train_once(3)
    finally:
        for hook in hooks:
            hook.remove()
        module.zero_grad()
    n_passes = -(-n_groups // 3)
    assert n_groups > 3 and events == ["F", "B"] * n_passes
    numpy.testing.assert_allclose(loss, one_loss, rtol=1e-4)
    assert grads.keys() == one_grads.keys()
    for name in ("output.weight", "encoder.encoder.layer.0.attention.self.query.weight"):
        numpy.testing.assert_allclose(grads[name].numpy(), one_grads[name].numpy(), rtol=1e-3, atol=1e-5,
                                      err_msg=name)


def test_max_sequences_per_pass_must_be_positive():
    nlp = spacy.blank("en")
    with pytest.raises(ValueError, match=r"\[E413\]"):
        nlp.add_pipe("clm_classifier", config={"model": TRF_MODEL, "max_sequences_per_pass": 0})


# --- issue 20 ---------------------------------------------------------------------------


@pytest.mark.parametrize("dropout", [True, False])
def test_stage_one_records_no_gradient(trf_nlp, dropout):
    """Stage 1 only ranks the classes: no autograd graph through the encoder (issue 20),
    dropout as `clm_stage1_dropout` says."""
    from spacy_relext.clm.levitated_marker import stage_one_scores

    clm = trf_nlp.get_pipe("clm_classifier")
    module = clm.model.get_ref("encoder").shims[0]._model
    seen = []
    hook = module.register_forward_hook(lambda layer, inputs, output: seen.append((torch.is_grad_enabled(),
                                                                                     layer.training)))
    docs = unseen_docs(trf_nlp)
    try:
        stage_one_scores(clm.model, (docs, clm.pack(docs)[0]), dropout=dropout)
    finally:
        hook.remove()
    assert seen == [(False, dropout)]


def test_clm_tokens_are_not_cps_reserved_tokens(trf_nlp):
    """The CLM tokens once started at `[unused5]`, CP's blank tail: a CP-pre-trained
    encoder read the first CLM as a blanked entity (issue 20)."""
    from spacy_relext.entity_markers import SPECIAL_TOKENS

    module = trf_nlp.get_pipe("clm_classifier").model.get_ref("encoder").shims[0]._model
    reserved = set(module.tokenizer.convert_tokens_to_ids(SPECIAL_TOKENS.names()))
    assert not reserved & set(module.clm_token_ids)
    assert module.clm_token_ids[0] == module.tokenizer.convert_tokens_to_ids("[unused6]")


def test_pipeline_saved_before_the_clm_tokens_moved_keeps_its_tokens(trf_nlp):
    """A module saved without `clm_first_unused` rebuilds with the CLM tokens it was
    trained with, and predicts as before."""
    import srsly

    from spacy_relext.clm.pytorch_marker_encoder import deserialize_encoder, serialize_encoder

    module = trf_nlp.get_pipe("clm_classifier").model.get_ref("encoder").shims[0]._model
    msg = srsly.msgpack_loads(serialize_encoder(module))
    del msg["clm_first_unused"], msg["n_entity_classes"]
    old = deserialize_encoder(None, srsly.msgpack_dumps(msg), torch.device("cpu"))
    assert old.clm_token_ids[0] == module.tokenizer.convert_tokens_to_ids("[unused5]")
    assert old.ner_output is None
    new = deserialize_encoder(None, serialize_encoder(module), torch.device("cpu"))
    assert new.clm_token_ids == module.clm_token_ids


def test_ner_head_in_faithful_mode():
    from test_clm_training import train_clm

    nlp, clm, _, losses = train_clm({"model": TRF_MODEL, "ner_head": True, "clm_warmup_steps": 0}, 3)
    assert numpy.isfinite(losses).all()
    docs = unseen_docs(nlp)
    pairs, scores = clm.predict(docs)
    assert scores.shape == (len(pairs), clm.label_scheme.n_classes + 4)
    loaded = spacy.blank("en")
    loaded.add_pipe("clm_classifier", config={"model": {**TRF_MODEL, "encoder": "/nonexistent"}, "ner_head": True})
    loaded.from_bytes(nlp.to_bytes())
    numpy.testing.assert_allclose(loaded.get_pipe("clm_classifier").predict(unseen_docs(loaded))[1], scores,
                                  rtol=1e-5, atol=1e-5)
