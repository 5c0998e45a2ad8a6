"""`debug-data`: each check on small hand-built DocBins, its coded finding, and the exit status."""
from pathlib import Path

import pytest
import spacy
from spacy.tokens import Doc, DocBin, Span

from spacy_relext import Relation
from spacy_relext.cli import main
from spacy_relext.convert import convert
from spacy_relext.convert.common import set_entities
from spacy_relext.debug_data import debug_data

SAMPLES = Path(__file__).parents[2] / "corpus" / "samples"
NLP = spacy.blank("en")
WORDS = "Ann Lee works for Acme in Paris . She likes Rome and Oslo .".split()
# fmt: off
ENTS = [(0, 2, "Peop"), (4, 5, "Org"), (6, 7, "Loc"), (8, 9, "Peop"), (10, 11, "Loc"), (12, 13, "Loc")]
# fmt: on


def make_doc(relations, ents=ENTS, extra_mentions=()):
    """A two-sentence Doc (tokens 0-7 and 8-13) with its mentions and (hs, he, ts, te, label) relations."""
    doc = Doc(NLP.vocab, words=WORDS, sent_starts=[i in (0, 8) for i in range(len(WORDS))])
    set_entities(doc, [Span(doc, s, e, label=label) for s, e, label in [*ents, *extra_mentions]])
    doc._.relations = [Relation(head=doc[hs:he], tail=doc[ts:te], label=label) for hs, he, ts, te, label in relations]
    return doc


def write(path, docs):
    DocBin(docs=docs, store_user_data=True).to_disk(path)
    return path


def codes(messages):
    return [message.split("[")[1].split("]")[0] for message in messages]


WORK = (0, 2, 4, 5, "Work_For")
LIVE = (8, 9, 10, 11, "Live_In")


def test_clean_data_has_no_finding(tmp_path):
    train = write(tmp_path / "train.spacy", [make_doc([WORK, LIVE])] * 3)
    dev = write(tmp_path / "dev.spacy", [make_doc([WORK])])
    report = debug_data(train, dev)
    assert (report.errors, report.warnings) == ([], [])
    assert [dict(split.labels) for split in report.splits] == [{"Work_For": 3, "Live_In": 3}, {"Work_For": 1}]
    pairs = report.splits[0].pairs["the default generator"]
    # two sentences of 3 mentions each: 6 ordered pairs each, 2 of them gold
    assert (pairs.proposed, pairs.positive) == (36, 6)
    text = report.format()
    assert "Work_For        3        1" in text and "0 error(s), 0 warning(s)" in text


@pytest.mark.parametrize(
    "relations,ents,extra,expected_errors,expected_warnings",
    [
        # "works" (2:3) is not an entity
        ([WORK, (0, 2, 2, 3, "Work_For")], ENTS, (), ["E121"], []),
        # Ann Lee (sentence 1) -> Rome (sentence 2): crossing, never proposed by scope 'sentence'
        ([WORK, (0, 2, 10, 11, "Live_In")], ENTS, (), [], ["W050", "W051"]),
        ([(0, 2, 10, 11, "Live_In")], ENTS, (), ["E122"], ["W050"]),
        # head "Ann Lee" and tail "Lee" nested, "Lee" only in the span group
        ([WORK, (0, 2, 1, 2, "Alias")], ENTS, [(1, 2, "Peop")], [], ["W052", "W053"]),
    ],
)
def test_findings(tmp_path, relations, ents, extra, expected_errors, expected_warnings):
    train = write(tmp_path / "train.spacy", [make_doc(relations, ents, extra)])
    report = debug_data(train)
    assert codes(report.errors) == expected_errors and codes(report.warnings) == expected_warnings


def test_dev_label_missing_from_train_fails_the_cli(tmp_path, capsys):
    train = write(tmp_path / "train.spacy", [make_doc([WORK])])
    dev = write(tmp_path / "dev.spacy", [make_doc([WORK, LIVE])])
    with pytest.raises(SystemExit) as exit_info:
        main(["debug-data", str(train), str(dev)])
    assert exit_info.value.code == 1
    out = capsys.readouterr().out
    assert "[E123] Labels of dev missing from train: Live_In (1)" in out and "1 error(s)" in out


def test_train_without_relations(tmp_path):
    train = write(tmp_path / "train.spacy", [make_doc([])])
    assert codes(debug_data(train).errors) == ["E124"]


def test_symmetric_looking_label(tmp_path):
    both = [(8, 9, 10, 11, "Near"), (10, 11, 8, 9, "Near"), (10, 11, 12, 13, "Near"), (12, 13, 10, 11, "Near")]
    train = write(tmp_path / "train.spacy", [make_doc(both)])
    (warning,) = debug_data(train).warnings
    assert "[W054] Label 'Near' looks symmetric: 100% of its 4 annotated pairs" in warning


def test_class_imbalance(tmp_path, monkeypatch):
    from spacy_relext import debug_data as module

    monkeypatch.setattr(module, "IMBALANCE_RATIO", 2)
    train = write(tmp_path / "train.spacy", [make_doc([WORK])])
    assert codes(debug_data(train).warnings) == ["W055"]  # 11 negatives for 1 positive


CONFIG = """
[components]

[components.rel]
factory = "clm_classifier"
spans_key = {spans_key}

[components.rel.candidates]
@misc = "spacy-relext.entity_pairs.v2"
scope = "{scope}"
"""


@pytest.mark.parametrize(
    "scope,spans_key,expected",
    [
        ("sentence", "null", ["W050", "W051"]),
        ("document", "null", ["W050"]),  # the crossing pair is proposed
        ("sentence", '"entities"', ["W050", "W051"]),
    ],
)
def test_config_candidates_are_the_ones_checked(tmp_path, scope, spans_key, expected):
    config = tmp_path / "config.cfg"
    config.write_text(CONFIG.format(scope=scope, spans_key=spans_key))
    train = write(tmp_path / "train.spacy", [make_doc([WORK, (0, 2, 10, 11, "Live_In")])])
    report = debug_data(train, config=config)
    assert codes(report.warnings) == expected and report.errors == []
    assert "Candidates of component 'rel'" in report.format()


def test_nested_argument_is_read_with_spans_key(tmp_path):
    config = tmp_path / "config.cfg"
    config.write_text(CONFIG.format(scope="sentence", spans_key='"entities"'))
    train = write(tmp_path / "train.spacy", [make_doc([WORK, (1, 2, 4, 5, "Work_For")], ENTS, [(1, 2, "Peop")])])
    assert codes(debug_data(train).warnings) == ["W053"]
    assert debug_data(train, config=config).warnings == []


def test_converted_sample(tmp_path, capsys):
    train = tmp_path / "train.spacy"
    convert("brat", SAMPLES / "brat", train, show_progress=False)
    main(["debug-data", str(train)])
    out = capsys.readouterr().out
    assert "[W053]" in out and "'Luis Moreno' -Work_For-> 'Moreno Wines'" in out and "0 error(s)" in out


@pytest.mark.parametrize("content", [None, b"not a docbin"])
def test_unreadable_input(tmp_path, content):
    path = tmp_path / "train.spacy"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises((ValueError, FileNotFoundError), match=r"\[E125\] Cannot read"):
        debug_data(path)
