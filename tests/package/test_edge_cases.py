"""Every component on the inputs real users send: one matrix of edge cases.

Components: the RERE pair (relation_detector + span_extractor), clm_classifier,
rationale_masker and logic_reasoner (on the stand-in backbone of its own tests). Each is
a tiny pipeline overfit once per module on the training data of its own test file; each
edge case runs every component and checks a behaviour, not only the absence of a crash:
no relation where there is nothing to relate, relations only between valid mentions,
offsets and text of spans intact, a relation near the end of a long document found.
"""
import copy
import json
import os
import pickle
import re
import subprocess
import sys
from contextlib import contextmanager
from typing import Callable, Dict, List, Optional, Sequence, Set, Tuple

import pytest
import spacy
from spacy.language import Language
from spacy.tokens import Doc, DocBin, Span
from spacy.training import Example
from spacy.util import load_model_from_config
from thinc.api import fix_random_seed

import test_clm_classifier as clm_data
import test_logic_reasoner as logic_data
import test_rationale_masker as masker_data
from rere_fixtures import TRAIN_DATA as RERE_DATA
from rere_fixtures import make_examples as rere_examples
from spacy_relext import Relation
from spacy_relext.relations import STORE_NAME, get_relations

pytestmark = pytest.mark.usefixtures("torch_single_thread")

Key = Tuple[int, int, int, int, str]
# A filler sentence for long documents (no entity, no relation word).
FILLER = ["The", "weather", "was", "mild", "that", "day", "."]
# Accents, CJK, emoji and right-to-left script, one per entity.
NON_ASCII = ["Zoë", "東京電力", "القاهرة"]


class Kit:
    """One component (or component pair) under test.

    name: the component whose relations are checked (their `source`).
    words / mentions / expected: a document the pipeline was trained on, its entity
    mentions (start, end, label, id) and the relation keys it predicts there.
    spans_key: where the component reads mentions (None: doc.ents; RERE reads none).
    """

    reads_mentions = True

    def __init__(self, nlp: Language, name: str, words: List[str], mentions: List[Tuple[int, int, str, str]],
                 expected: Set[Key], spans_key: Optional[str] = None) -> None:
        self.nlp, self.name, self.words, self.mentions = nlp, name, words, mentions
        self.expected, self.spans_key = expected, spans_key

    @property
    def pipe(self):
        return self.nlp.get_pipe(self.name)

    def doc(self, words: Sequence[str], mentions: Sequence[Tuple[int, int, str, str]], *,
            sent_starts: Optional[List[bool]] = None, spans_key: Optional[str] = None) -> Doc:
        """A Doc with the mentions where the component reads them."""
        return self.annotate(Doc(self.nlp.vocab, words=list(words), sent_starts=sent_starts), mentions, spans_key)

    def annotate(self, doc: Doc, mentions: Sequence[Tuple[int, int, str, str]], spans_key: Optional[str] = None) -> Doc:
        spans = [Span(doc, s, e, label=label, span_id=ident) for s, e, label, ident in mentions]
        key = spans_key or self.spans_key
        if key is None:
            doc.ents = spans
        else:
            doc.spans[key] = spans
        return doc

    def with_nlp(self, nlp: Language) -> "Kit":
        """The same kit on another pipeline (e.g. a reloaded one)."""
        clone = copy.copy(self)
        clone.nlp = nlp
        return clone

    def run(self, doc: Doc) -> Doc:
        return self.nlp(doc)

    def relations(self, doc: Doc) -> List[Relation]:
        return [rel for rel in get_relations(doc) if rel.source == self.name]


class RereKit(Kit):
    """RERE extracts its argument spans from the text: it reads no mentions."""

    reads_mentions = False

    def annotate(self, doc, mentions, spans_key=None):
        if spans_key is not None:  # a user's span group must not disturb it
            doc.spans[spans_key] = [Span(doc, s, e, label=label) for s, e, label, _ in mentions]
        return doc


def _trained(nlp: Language, examples: List[Example], steps: int) -> Language:
    optimizer = nlp.initialize(lambda: examples)
    for _ in range(steps):
        nlp.update(examples, sgd=optimizer)
    return nlp


def build_rere(steps: int = 60) -> Kit:
    fix_random_seed(0)
    nlp = spacy.blank("en")
    nlp.add_pipe("relation_detector", config={"loss": "bce"})
    nlp.add_pipe("span_extractor")
    _trained(nlp, rere_examples(nlp), steps)
    text, rels = RERE_DATA[0]
    expected = {(h[0], h[1], t[0], t[1], label) for h, t, label in rels}
    return RereKit(nlp, "span_extractor", text.split(), [(0, 1, "PER", ""), (4, 5, "LOC", "")], expected)


def build_clm(steps: int = 40) -> Kit:
    fix_random_seed(0)
    nlp = spacy.blank("en")
    nlp.add_pipe("clm_classifier")
    _trained(nlp, clm_data.make_examples(nlp), steps)
    text, ents, rels = clm_data.TRAIN_DATA[0]
    ends = {s: e for s, e, _ in ents}
    expected = {(h, ends[h], t, ends[t], label) for h, t, label in rels}
    return Kit(nlp, "clm_classifier", text.split(), [(s, e, label, "") for s, e, label in ents], expected)


def build_masker(steps: int = 50) -> Kit:
    fix_random_seed(0)
    nlp = spacy.blank("en")
    nlp.add_pipe(masker_data.NAME, config={"anneal_steps": 40})
    masker_data.train(nlp, masker_data.make_examples(nlp), n_iter=steps)
    words, ents, rels = masker_data.TRAIN_DATA[0]
    expected = {(h[0], h[1], t[0], t[1], label) for h, t, label in rels}
    return Kit(nlp, masker_data.NAME, words, [(s, e, label, "") for s, e, label in ents], expected)


def build_logic(steps: int = 0) -> Kit:
    """Its rules are learned by EM in initialize; `steps` updates fine-tune them."""
    fix_random_seed(0)
    nlp = logic_data.make_nlp()
    _trained(nlp, logic_data.make_examples(nlp), steps)
    family = logic_data.make_doc(nlp, ["Kim", "Ann", "Jon"], gold=False)
    mentions = [(s.start, s.end, s.label_, s.id_) for s in family.spans[logic_data.SPANS_KEY]]
    # grandparent(Kim, Jon): Kim and Jon are the first mentions of their entities
    expected = {(0, 1, 10, 11, "grandparent")}
    return Kit(nlp, "logic_reasoner", [t.text for t in family], mentions, expected, spans_key=logic_data.SPANS_KEY)


BUILDERS: Dict[str, Callable[[], Kit]] = {
    "rere": build_rere,
    "clm_classifier": build_clm,
    "rationale_masker": build_masker,
    "logic_reasoner": build_logic,
}


@pytest.fixture(scope="module", params=list(BUILDERS))
def kit(request) -> Kit:
    return BUILDERS[request.param]()


def keys(rels: Sequence[Relation]) -> Set[Key]:
    return {rel.key for rel in rels}


def assert_valid(kit: Kit, doc: Doc, mentions: Optional[Sequence[Tuple[int, int, str, str]]] = None) -> None:
    """Every relation of the component is well formed on this Doc: offsets inside it,
    a known label, a score in [0, 1], span text equal to the Doc's characters, and
    (for components that read mentions) both arguments among the mentions."""
    allowed = None if mentions is None or not kit.reads_mentions else {(s, e) for s, e, _, _ in mentions}
    for rel in kit.relations(doc):
        assert rel.label in kit.pipe.labels and 0.0 <= rel.score <= 1.0
        for span in (rel.head, rel.tail) + rel.rationale:
            assert 0 <= span.start < span.end <= len(doc)
            assert span.text == doc.text[span.start_char : span.end_char]
        if allowed is not None:
            assert {(rel.head.start, rel.head.end), (rel.tail.start, rel.tail.end)} <= allowed


def sentence_starts(words: Sequence[str]) -> List[bool]:
    """A sentence starts at the first token and after every '.'."""
    return [i == 0 or words[i - 1] == "." for i in range(len(words))]


def test_trained_document(kit):
    """The reference point of the other cases: the training document is predicted."""
    doc = kit.run(kit.doc(kit.words, kit.mentions))
    assert kit.expected <= keys(kit.relations(doc))
    assert_valid(kit, doc, kit.mentions)


@pytest.mark.parametrize("text", ["", "   ", " \n\t  \n"], ids=["empty", "spaces", "newlines"])
def test_empty_and_whitespace_text(kit, text):
    assert kit.relations(kit.run(kit.annotate(kit.nlp.make_doc(text), []))) == []
    if kit.spans_key is None:  # else the span group must exist (E300, below)
        assert kit.relations(kit.nlp(text)) == []
    docs = [kit.annotate(kit.nlp.make_doc(t), []) for t in (text, text)]
    docs = list(kit.nlp.pipe([docs[0], kit.doc(kit.words, kit.mentions), docs[1]]))
    assert kit.relations(docs[0]) == kit.relations(docs[2]) == []
    assert kit.expected <= keys(kit.relations(docs[1]))  # empty neighbours do not disturb a batch


def test_no_entities(kit):
    if kit.reads_mentions:
        doc = kit.run(kit.doc(kit.words, []))
    else:  # RERE: a text stating no relation (in its training data, no relation gold)
        doc = kit.run(kit.doc("The weather is nice today .".split(), []))
    assert kit.relations(doc) == []


def test_one_entity(kit):
    if not kit.reads_mentions:
        pytest.skip("RERE reads no entity mentions: 'one entity' is 'no entities'")
    first = kit.mentions[0]
    # every mention of the first entity (logic_reasoner: clusters by id), or the mention alone
    same_entity = [m for m in kit.mentions if m[3] and m[3] == first[3]] or [first]
    assert kit.relations(kit.run(kit.doc(kit.words, same_entity))) == []


def test_overlapping_and_nested_mentions_in_a_span_group(kit):
    """Each mention again, plus one nested in it (its first token) and one overlapping
    it and the next token: every argument is a mention of the group (a nested pair, as
    in "[[Paris] University]", may be related) and the original relations are found."""
    words = kit.words
    extra = []
    for s, e, label, ident in kit.mentions:
        if e - s > 1:
            extra.append((s, s + 1, label, ident + "-nested" if ident else ""))
        if e < len(words):
            extra.append((s, e + 1, label, ident + "-overlap" if ident else ""))
    # the originals last: the stand-in logic backbone keeps the last mention at a token
    mentions = [m for m in dict.fromkeys(extra + kit.mentions)]
    key = kit.spans_key or "mentions"
    with spans_key(kit, key):
        doc = kit.run(kit.doc(words, mentions, spans_key=key))
    assert_valid(kit, doc, mentions)
    assert kit.expected <= keys(kit.relations(doc))  # the original mentions are still there


def test_mention_crossing_a_sentence_boundary(kit):
    """A sentence boundary inside every mention of two or more tokens, or right after
    the first mention: no crash, only valid relations."""
    words = kit.words + ["."]
    starts = sentence_starts(words)
    s, e = kit.mentions[0][:2]
    starts[s + 1 if e - s > 1 else e] = True
    doc = kit.run(kit.doc(words, kit.mentions, sent_starts=starts))
    assert_valid(kit, doc, kit.mentions)


def test_relation_near_the_end_of_a_long_document(kit):
    """Far beyond any encoder length (clm_classifier's context is 128 tokens): windowed,
    not truncated, so the relations of the last sentences are found."""
    prefix = FILLER * 160  # 1120 tokens
    words = prefix + kit.words
    mentions = [(s + len(prefix), e + len(prefix), label, ident) for s, e, label, ident in kit.mentions]
    doc = kit.run(kit.doc(words, mentions, sent_starts=sentence_starts(words)))
    shifted = {(a + len(prefix), b + len(prefix), c + len(prefix), d + len(prefix), lab) for a, b, c, d, lab in kit.expected}
    assert len(doc) > 1100 and shifted <= keys(kit.relations(doc))
    assert_valid(kit, doc, mentions)


def test_non_ascii_text(kit):
    """Accents, CJK, right-to-left script and an emoji token: spans keep their exact text
    and character offsets, so what is printed is what the user wrote. (RERE, which finds
    its arguments in the text, has never seen such words: only validity is checked.)"""
    names: Dict[object, str] = {}
    words = list(kit.words)
    for s, e, _, ident in kit.mentions:
        if e - s == 1:
            words[s] = names.setdefault(ident or s, NON_ASCII[len(names) % len(NON_ASCII)])
    words = words[:-1] + ["🙂"] + words[-1:]  # an emoji token before the final "."
    doc = kit.run(kit.doc(words, kit.mentions))
    assert_valid(kit, doc, kit.mentions)
    texts = {span.text for rel in kit.relations(doc) for span in (rel.head, rel.tail)}
    assert texts <= set(words) | {doc[s:e].text for s, e, _, _ in kit.mentions}
    if kit.reads_mentions:  # the context words are unchanged: the same relations are found
        assert kit.expected <= keys(kit.relations(doc))
        assert set(NON_ASCII) <= {span.text for rel in kit.relations(doc) for span in (rel.head, rel.tail)}


def test_labels_never_seen_in_training(kit):
    """A relation with an unseen label is kept on the Doc (it belongs to someone else),
    the component only writes its own labels, and a gold relation with an unseen label
    in an update is ignored, not a crash and not a new output class."""
    doc = kit.doc(kit.words, kit.mentions)
    a, b = kit.mentions[0][:2], kit.mentions[-1][:2]
    user = Relation(head=doc[a[0] : a[1]], tail=doc[b[0] : b[1]], label="Never_Seen", source="user")
    doc._.relations = [user]
    doc = kit.run(doc)
    assert get_relations(doc)[0].key == user.key and get_relations(doc)[0].source == "user"
    assert {rel.label for rel in kit.relations(doc)} <= set(kit.pipe.labels)
    labels = kit.pipe.labels
    reference = kit.doc(kit.words, kit.mentions)
    reference._.relations = [Relation(head=reference[a[0] : a[1]], tail=reference[b[0] : b[1]], label="Never_Seen")]
    with pytest.warns(UserWarning, match=r"\[W003\] 1 gold relation\(s\) have labels \['Never_Seen'\]"):
        losses = kit.pipe.update([Example(kit.doc(kit.words, kit.mentions), reference)])  # no sgd: no change
    assert kit.pipe.labels == labels and losses[kit.pipe.name] >= 0.0


def test_stored_relation_outside_the_doc_is_a_coded_error(kit):
    """Relations stored for another (longer) tokenization: the component refuses the
    Doc with E004 naming the offsets, instead of writing spans outside it."""
    doc = kit.doc(kit.words, kit.mentions)
    n = len(doc)
    doc.user_data[("._.", STORE_NAME, 0, len(doc.text))] = [
        {"head": [0, 1, "", ""], "tail": [n, n + 3, "", ""], "label": "X", "score": 1.0, "source": "user",
         "rationale": [], "rules": []}
    ]
    with pytest.raises(ValueError, match=rf"\[E004\] Relation 0 refers to tokens {n}:{n + 3}, outside the Doc"):
        kit.run(doc)


@contextmanager
def spans_key(kit: Kit, key: str):
    """Read mentions from `doc.spans[key]` for the duration (RERE reads none)."""
    if not kit.reads_mentions or kit.spans_key == key:
        yield
        return
    pipes = [pipe for _, pipe in kit.nlp.pipeline if hasattr(pipe, "cfg") and "spans_key" in pipe.cfg]
    saved = [pipe.cfg["spans_key"] for pipe in pipes]
    for pipe in pipes:
        pipe.cfg["spans_key"] = key
    try:
        yield
    finally:
        for pipe, value in zip(pipes, saved):
            pipe.cfg["spans_key"] = value


def test_missing_span_group_predicts_nothing_and_says_what_to_add(kit):
    """A component reading `doc.spans[key]` given raw text without that group (a pipeline
    trained on given entities, e.g. configs/clm_cpu_gold.cfg) returns no relations for
    that Doc and warns W040 naming the group to set; the other Docs of the batch keep
    theirs. It used to fail the whole call with E300."""
    if not kit.reads_mentions:
        pytest.skip("RERE reads no entity mentions")
    key = kit.spans_key or "mentions"
    with spans_key(kit, key):
        with pytest.warns(UserWarning, match=rf"\[W040\].*doc.spans\['{key}'\]"):
            doc = kit.nlp("Alice works for Acme .")
        assert [rel for rel in doc._.relations if rel.source == kit.name] == []


# --- round trips, damaged pipelines, determinism ---------------------------------------


def relation_view(doc: Doc) -> List[tuple]:
    """Every field of every relation on a Doc, as plain data."""
    return [
        (rel.key, round(rel.score, 6), rel.source, rel.head.label_, rel.head.id_, rel.tail.label_, rel.tail.id_,
         tuple((span.start, span.end) for span in rel.rationale), rel.rules)
        for rel in get_relations(doc)
    ]


def predictions(kit: Kit, nlp: Optional[Language] = None) -> List[List[tuple]]:
    """The component's output on the trained document and its long, non-ASCII variant."""
    kit = kit.with_nlp(nlp) if nlp is not None else kit
    prefix = FILLER * 20
    long_words = prefix + kit.words
    shifted = [(s + len(prefix), e + len(prefix), label, ident) for s, e, label, ident in kit.mentions]
    docs = [kit.doc(kit.words, kit.mentions), kit.doc(long_words, shifted, sent_starts=sentence_starts(long_words))]
    return [relation_view(doc) for doc in kit.nlp.pipe(docs)]


def test_disk_bytes_pickle_and_docbin_round_trips_lose_nothing(kit, tmp_path):
    expected = predictions(kit)
    assert any(expected)
    kit.nlp.to_disk(tmp_path)
    from_bytes = load_model_from_config(kit.nlp.config, auto_fill=True).from_bytes(kit.nlp.to_bytes())
    assert predictions(kit, spacy.load(tmp_path)) == expected
    assert predictions(kit, from_bytes) == expected
    # nlp.pipe(n_process=2) under the spawn start method pickles the whole pipeline
    assert predictions(kit, pickle.loads(pickle.dumps(kit.nlp))) == expected
    docs = list(kit.nlp.pipe([kit.doc(kit.words, kit.mentions)]))
    restored = list(DocBin(docs=docs, store_user_data=True).get_docs(kit.nlp.vocab))
    assert [relation_view(d) for d in restored] == [relation_view(d) for d in docs]
    assert [relation_view(pickle.loads(pickle.dumps(d))) for d in docs] == [relation_view(d) for d in docs]


@pytest.mark.parametrize("part,damage", [("model", "delete"), ("model", "truncate"), ("cfg", "garbage")])
@pytest.mark.parametrize("with_checksums", [True, False], ids=["checksums", "no-checksums"])
def test_damaged_saved_component_is_a_coded_error_naming_the_file(kit, tmp_path, part, damage, with_checksums):
    """A damaged file fails its checksum (E409); without checksums (pipelines saved before
    them) it fails to parse (E408); a missing file is E408 either way."""
    kit.nlp.to_disk(tmp_path)
    path = tmp_path / kit.name / part
    if not with_checksums:
        (tmp_path / kit.name / "checksums").unlink()
    if damage == "delete":
        path.unlink()
    elif damage == "truncate":
        path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])
    else:
        path.write_bytes(b"not a saved component")
    if with_checksums and damage != "delete":
        error = rf"\[E409\] The {part} of component '{kit.name}' \({re.escape(str(path))}\) does not match the sha256"
    else:
        error = (rf"\[E408\] Cannot load the {part} of component '{kit.name}' from {re.escape(str(path))}: "
                 r".*Save it again with nlp.to_disk\(\)")
    with pytest.raises(ValueError, match=error):
        spacy.load(tmp_path)


def test_damaged_bytes_are_a_coded_error(kit):
    data = kit.nlp.get_pipe(kit.name).to_bytes()
    fresh = load_model_from_config(kit.nlp.config, auto_fill=True).get_pipe(kit.name)
    with pytest.raises(ValueError, match=rf"\[E408\] Cannot load the data of component '{kit.name}' from bytes"):
        fresh.from_bytes(data[: len(data) // 2])
    nlp = spacy.blank("en")
    other = nlp.add_pipe("clm_classifier" if kit.name != "clm_classifier" else "rationale_masker")
    other.add_label("X")
    nlp.initialize()
    foreign = other.to_bytes()  # another component's bytes
    # E410 where the other component's cfg already breaks this one's schema (a clm_classifier
    # cfg has entity_types = null), else E408 when its model is read
    with pytest.raises(ValueError, match=rf"\[(E408\] Cannot load the model|E410\] Invalid cfg) of component "
                                         rf"'{kit.name}' \(?(from )?bytes"):
        fresh.from_bytes(foreign)


@pytest.mark.parametrize("name", list(BUILDERS))
def test_training_twice_with_the_same_seed_gives_the_same_scores(name):
    """A few steps, twice, on CPU: identical weights, predictions and evaluation scores."""
    steps = {"rere": 5, "clm_classifier": 5, "rationale_masker": 5, "logic_reasoner": 2}[name]
    first, second = (BUILDERS[name](steps) for _ in range(2))
    assert first.pipe.to_bytes() == second.pipe.to_bytes()  # the same weights, bit for bit
    assert predictions(first) == predictions(second)
    reference = first.doc(first.words, first.mentions)
    reference._.relations = [Relation(head=reference[a:b], tail=reference[c:d], label=label)
                             for a, b, c, d, label in first.expected]
    examples = [Example(first.doc(first.words, first.mentions), reference)]
    scores = [{k: v for k, v in kit.nlp.evaluate(examples).items() if k != "speed"} for kit in (first, second)]
    assert scores[0] == scores[1]


SPAWN_SCRIPT = """
import json, multiprocessing, sys
import spacy
from spacy.tokens import Doc, Span
from spacy_relext import Relation
from spacy_relext.relations import get_relations

def view(doc):
    return [[list(r.key), round(r.score, 6), r.source, r.head.label_, r.head.id_, r.tail.label_, r.tail.id_,
             [[s.start, s.end] for s in r.rationale], list(r.rules)] for r in get_relations(doc)]

def docs(nlp, words, ents):
    out = []
    for i in range(4):
        doc = Doc(nlp.vocab, words=words)
        doc.ents = [Span(doc, s, e, label=label, span_id=f"E{s}") for s, e, label in ents]
        doc._.relations = [Relation(head=doc.ents[0], tail=doc.ents[-1], label="User_Label", score=0.25 + i / 10,
                                    source="user", rationale=(doc[1:2],), rules=(f"r{i} <- a ^ b",))]
        out.append(doc)
    return out

if __name__ == "__main__":
    multiprocessing.set_start_method("spawn")
    nlp = spacy.load(sys.argv[1])
    words, ents = json.loads(sys.argv[2])
    single = [view(d) for d in nlp.pipe(docs(nlp, words, ents))]
    multi = [view(d) for d in nlp.pipe(docs(nlp, words, ents), n_process=2, batch_size=2)]
    print(json.dumps({"single": single, "multi": multi}))
"""


def test_pipe_with_two_spawned_processes_keeps_every_field(tmp_path):
    """nlp.pipe(n_process=2) with the spawn start method (the default on macOS and
    Windows): a user's relation (every field set) and the rationale_masker's relations
    (with rationales) come back from the worker processes unchanged."""
    kit = build_masker(steps=50)
    kit.nlp.to_disk(tmp_path / "nlp")
    script = tmp_path / "spawn_pipe.py"
    script.write_text(SPAWN_SCRIPT)
    ents = [(s, e, label) for s, e, label, _ in kit.mentions]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    result = subprocess.run([sys.executable, str(script), str(tmp_path / "nlp"), json.dumps([kit.words, ents])],
                            capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["multi"] == out["single"]
    first = out["single"][0]
    assert first[0][2:] == ["user", "PER", "E0", "LOC", "E5", [[1, 2]], ["r0 <- a ^ b"]]
    assert {rel[2] for rel in first} == {"user", masker_data.NAME}
    assert all(rel[7] for rel in first if rel[2] == masker_data.NAME)  # rationales kept
