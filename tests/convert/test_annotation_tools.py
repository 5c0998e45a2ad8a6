"""Converters of annotation-tool exports (Prodigy, brat, Label Studio, doccano): the samples
in corpus/samples, what each keeps and skips, and malformed records naming file and record."""
import json
from pathlib import Path

import pytest
import spacy
from spacy.tokens import DocBin

from spacy_relext.cli import main
from spacy_relext.convert import convert
from spacy_relext.convert.annotations import (
    ARG_ADDED,
    BRAT_DISCONTINUOUS,
    BRAT_EVENT_ARGUMENT,
    BRAT_SKIPPED,
    BRAT_TRIGGER,
    LS_CANCELLED,
    LS_NO_ANNOTATION,
    LS_OLDER,
    LS_UNLABELLED_RELATION,
    PRODIGY_NO_ANSWER,
)
from spacy_relext.convert.common import DUPLICATE_RELATION, ENTITIES_KEY, EXPANDED

SAMPLES = Path(__file__).parents[2] / "corpus" / "samples"
SAMPLE_PATHS = {
    "prodigy": SAMPLES / "prodigy" / "rel_manual.jsonl",
    "brat": SAMPLES / "brat",
    "labelstudio": SAMPLES / "labelstudio" / "export.json",
    "doccano": SAMPLES / "doccano" / "relations.jsonl",
}
# The three documents every sample holds (brat has a fourth), as (head, label, tail) texts.
# fmt: off
GOLD = [
    {("Maria Lindqvist", "Work_For", "Nordvik Shipping"), ("Nordvik Shipping", "OrgBased_In", "Bergen"),
     ("She", "Live_In", "Oslo"), ("Oslo", "Located_In", "Norway")},
    {("Tomas Reyes", "Work_For", "Valdera Institute"), ("Tomas Reyes", "Live_In", "Quito"),
     ("The institute", "OrgBased_In", "Lima"), ("Lima", "Located_In", "Peru")},
    {("Jon Ortiz", "Work_For", "Ortiz Foods"), ("Jon Ortiz", "Live_In", "Lyon"), ("Lena", "Live_In", "Lyon")},
]
# What each sample leaves out or changes, and why (the summary's counts).
SKIPPED = {
    "prodigy": {"Prodigy answer 'reject' (only 'accept' is converted)": 1,
                "Prodigy answer 'ignore' (only 'accept' is converted)": 1},
    "brat": {BRAT_SKIPPED["#"]: 1, BRAT_SKIPPED["N"]: 1, BRAT_SKIPPED["E"]: 1, BRAT_SKIPPED["A"]: 1,
             BRAT_TRIGGER: 1, BRAT_DISCONTINUOUS: 1},
    "labelstudio": {"Label Studio result of type 'choices' (not an entity or relation)": 3, LS_CANCELLED: 1,
                    LS_OLDER: 1, LS_NO_ANNOTATION: 1},
    "doccano": {EXPANDED: 1},  # "Norwa": one character short, widened to "Norway"
}
# fmt: on


def load(path):
    return list(DocBin().from_disk(path).get_docs(spacy.blank("en").vocab))


def triples(doc):
    return {(rel.head.text, rel.label, rel.tail.text) for rel in doc._.relations}


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    cache = {}

    def get(fmt):
        if fmt not in cache:
            out = tmp_path_factory.mktemp(fmt) / "out.spacy"
            cache[fmt] = (convert(fmt, SAMPLE_PATHS[fmt], out, show_progress=False), load(out))
        return cache[fmt]

    return get


@pytest.mark.parametrize("fmt", sorted(SAMPLE_PATHS))
def test_sample_converts_every_relation(fmt, converted):
    summary, docs = converted(fmt)
    assert [triples(doc) for doc in docs[:3]] == GOLD
    assert summary.skipped == SKIPPED[fmt]
    assert summary.docs == len(docs) == (4 if fmt == "brat" else 3)


@pytest.mark.parametrize("fmt", sorted(SAMPLE_PATHS))
def test_sample_is_stored_as_the_research_converters_store_it(fmt, converted):
    """Mentions in the span group, non-overlapping ones in doc.ents, relation arguments
    carrying their mention's type and cluster, sentences set and never whitespace only."""
    summary, docs = converted(fmt)
    assert sum(len(doc.spans[ENTITIES_KEY]) for doc in docs) == summary.entities
    for doc in docs:
        mentions = {(s.start, s.end, s.label_, s.id_) for s in doc.spans[ENTITIES_KEY]}
        assert {(e.start, e.end, e.label_, e.ent_id_) for e in doc.ents} <= mentions
        for rel in doc._.relations:
            assert {(s.start, s.end, s.label_, s.id_) for s in (rel.head, rel.tail)} <= mentions
        assert all(sent.text.strip() for sent in doc.sents)
    assert [s.text for s in docs[1].sents] == [
        "Tomas Reyes, a chemist at the Valdera Institute, was born in Quito.\n",
        "The institute is based in Lima, Peru." + ("\n" if fmt == "brat" else ""),
    ]


def test_brat_equivalence_sets_are_clusters(converted):
    summary, docs = converted("brat")
    assert [(s.text, s.id_) for s in docs[0].spans[ENTITIES_KEY] if s.id_] == [("Maria Lindqvist", "T1"), ("She", "T1")]
    assert [(s.text, s.id_) for s in docs[1].spans[ENTITIES_KEY] if s.id_] == [
        ("Valdera Institute", "T2"),
        ("The institute", "T2"),
    ]
    assert summary.clusters == summary.entities - 2


def test_brat_discontinuous_entity_spans_its_fragments_and_overlaps(converted):
    summary, docs = converted("brat")
    doc = docs[3]  # "Ana and Luis Moreno run ...": T1 = "Ana" + "Moreno", T2 = "Luis Moreno"
    assert [s.text for s in doc.spans[ENTITIES_KEY]][:2] == ["Ana and Luis Moreno", "Luis Moreno"]
    assert "Luis Moreno" not in [e.text for e in doc.ents]  # overlapping: in the span group only
    assert ("Ana and Luis Moreno", "Work_For", "Moreno Wines") in triples(doc)
    assert summary.not_in_ents == 1


def test_labelstudio_latest_annotation_wins(converted):
    _, docs = converted("labelstudio")
    # the earlier draft (id 5) had two regions only; the cancelled one (id 30) is newer but empty
    assert len(docs[0].spans[ENTITIES_KEY]) == 6


def test_summary_names_what_was_skipped(converted):
    text = converted("brat")[0].format()
    assert "discontinuous entity: kept as one span from its first to its last fragment: 1" in text
    assert "brat event (E line)" in text and "Work_For: 5" in text


def test_cli_converts_and_refuses_to_overwrite(tmp_path, capsys):
    out = tmp_path / "train.spacy"
    main(["convert", "doccano", str(SAMPLE_PATHS["doccano"]), str(out), "--no-progress"])
    assert "Converted doccano: 3 docs, 5 sentences" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["convert", "doccano", str(SAMPLE_PATHS["doccano"]), str(out), "--no-progress"])
    assert "[E112]" in capsys.readouterr().err
    main(["convert", "doccano", str(SAMPLE_PATHS["doccano"]), str(out), "--no-progress", "--overwrite"])


def test_brat_output_may_not_replace_an_input_file(tmp_path):
    collection = tmp_path / "brat"
    collection.mkdir()
    for name in ("doc1.txt", "doc1.ann"):
        (collection / name).write_text((SAMPLE_PATHS["brat"] / name).read_text())
    with pytest.raises(ValueError, match=r"\[E110\]"):
        convert("brat", collection, collection / "doc1.txt", overwrite=True, show_progress=False)


def test_brat_directory_without_annotations(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"\[E120\] No brat annotation files"):
        convert("brat", tmp_path, tmp_path / "out.spacy", show_progress=False)


# --- Small records: choices each converter makes ------------------------------------------

TEXT = "Ann Lee works for Acme in Paris."
DOCCANO = {"id": 7, "text": TEXT, "entities": [{"id": 1, "label": "Peop", "start_offset": 0, "end_offset": 7},
                                                {"id": 2, "label": "Org", "start_offset": 18, "end_offset": 22}],
           "relations": [{"id": 1, "from_id": 1, "to_id": 2, "type": "Work_For"}]}


def token(doc_text):
    nlp = spacy.blank("en")
    return [{"text": t.text, "start": t.idx, "end": t.idx + len(t), "id": t.i, "ws": bool(t.whitespace_)}
            for t in nlp(doc_text)]


PRODIGY = {"text": TEXT, "tokens": token(TEXT), "answer": "accept",
           "spans": [{"start": 0, "end": 7, "token_start": 0, "token_end": 1, "label": "Peop"},
                     {"start": 18, "end": 22, "token_start": 4, "token_end": 4, "label": "Org"}],
           "relations": [{"head": 1, "child": 4, "label": "Work_For"}]}


def ls_task(result, **annotation):
    entities = [{"id": "a", "type": "labels", "value": {"start": 0, "end": 7, "text": "Ann Lee", "labels": ["Peop"]}},
                {"id": "b", "type": "labels", "value": {"start": 18, "end": 22, "labels": ["Org"]}}]
    return [{"id": 3, "data": {"text": TEXT}, "annotations": [{"id": 1, "result": entities + result, **annotation}]}]


def write(tmp_path, fmt, content):
    """Write one record (or, for brat, {name: text}) as the format's input; returns its path."""
    if fmt == "brat":
        for name, text in content.items():
            (tmp_path / name).write_text(text, encoding="utf8")
        return tmp_path
    path = tmp_path / ("export.json" if fmt == "labelstudio" else "data.jsonl")
    text = json.dumps(content) if fmt == "labelstudio" else "".join(json.dumps(r) + "\n" for r in content)
    path.write_text(text, encoding="utf8")
    return path


def run(tmp_path, fmt, content):
    summary = convert(fmt, write(tmp_path, fmt, content), tmp_path / "out.spacy", show_progress=False)
    return summary, load(tmp_path / "out.spacy")


@pytest.mark.parametrize(
    "direction,labels,expected,skipped",
    [
        ("right", ["Work_For"], {("Ann Lee", "Work_For", "Acme")}, {}),
        ("left", ["Work_For"], {("Acme", "Work_For", "Ann Lee")}, {}),
        ("bi", ["Knows"], {("Ann Lee", "Knows", "Acme"), ("Acme", "Knows", "Ann Lee")}, {}),
        ("right", ["Work_For", "Founded"], {("Ann Lee", "Work_For", "Acme"), ("Ann Lee", "Founded", "Acme")}, {}),
        ("right", [], set(), {LS_UNLABELLED_RELATION: 1}),
    ],
)
def test_labelstudio_relation_direction_and_labels(tmp_path, direction, labels, expected, skipped):
    relation = {"from_id": "a", "to_id": "b", "type": "relation", "direction": direction, "labels": labels}
    summary, (doc,) = run(tmp_path, "labelstudio", ls_task([relation]))
    assert triples(doc) == expected and summary.skipped == skipped


def test_labelstudio_text_is_the_only_string_of_data(tmp_path):
    task = ls_task([])
    task[0]["data"] = {"sentence": TEXT, "n": 3}
    assert run(tmp_path, "labelstudio", task)[0].docs == 1


def test_prodigy_relation_by_last_token_and_unannotated_argument(tmp_path):
    record = {**PRODIGY, "relations": [*PRODIGY["relations"], {"head": 1, "child": 6, "label": "Live_In"}]}
    del record["answer"]
    summary, (doc,) = run(tmp_path, "prodigy", [record])
    assert triples(doc) == {("Ann Lee", "Work_For", "Acme"), ("Ann Lee", "Live_In", "Paris")}
    assert [(s.text, s.label_) for s in doc.spans[ENTITIES_KEY]][-1] == ("Paris", "ENTITY")
    assert summary.skipped == {ARG_ADDED: 1, PRODIGY_NO_ANSWER: 1}


def test_prodigy_without_tokens_reads_character_offsets(tmp_path):
    record = {**PRODIGY, "tokens": None, "spans": [{"start": 0, "end": 5, "label": "Peop"}, PRODIGY["spans"][1]],
              "relations": [{"head": 0, "child": 4, "label": "Work_For",
                             "head_span": {"start": 0, "end": 5, "label": "Peop"},
                             "child_span": {"start": 18, "end": 22, "label": "Org"}}]}
    del record["tokens"]
    summary, (doc,) = run(tmp_path, "prodigy", [record])
    assert triples(doc) == {("Ann Lee", "Work_For", "Acme")}  # "Ann L" widened to the token
    assert summary.skipped == {EXPANDED: 2}  # in "spans" and in "head_span"


def test_doccano_duplicate_relation_is_stored_once(tmp_path):
    record = {**DOCCANO, "relations": DOCCANO["relations"] * 2}
    summary, (doc,) = run(tmp_path, "doccano", [record])
    assert len(doc._.relations) == 1 and summary.skipped == {DUPLICATE_RELATION: 1}


def test_brat_relation_to_an_event_is_skipped(tmp_path):
    ann = "T1\tPeop 0 7\tAnn Lee\nT2\tWork 8 13\tworks\nE1\tWork:T2 Agent:T1\nR1\tAgent Arg1:E1 Arg2:T1\n"
    summary, (doc,) = run(tmp_path, "brat", {"a.txt": TEXT, "a.ann": ann})
    assert doc._.relations == [] and summary.skipped[BRAT_EVENT_ARGUMENT] == 1


# --- Malformed records: a coded error naming the file and the record ----------------------

BRAT_OK = "T1\tPeop 0 7\tAnn Lee\nT2\tOrg 18 22\tAcme\nR1\tWork_For Arg1:T1 Arg2:T2\n"
# fmt: off
MALFORMED = [
    # (format, content, record named, reason fragment)
    ("doccano", [DOCCANO, {**DOCCANO, "relations": [{"from_id": 1, "to_id": 9, "type": "Work_For"}]}],
     "record at line 2", "item 0 of field 'relations' refers to entity id 9, which the record does not define"),
    ("doccano", [{**DOCCANO, "entities": [{"label": "Peop", "start_offset": 0, "end_offset": 7}]}],
     "record at line 1", "missing field 'id' in item 0 of field 'entities'"),
    ("doccano", [{**DOCCANO, "entities": [{**DOCCANO["entities"][0], "end_offset": 70}]}],
     "record at line 1", "character span 0:70 is outside the text (length 32)"),
    ("doccano", [{**DOCCANO, "entities": [{**DOCCANO["entities"][0], "start_offset": "0"}]}],
     "record at line 1", "field 'start_offset' of item 0 of field 'entities' must be an integer, got \"0\""),
    ("doccano", [{**DOCCANO, "entities": DOCCANO["entities"] * 2}],
     "record at line 1", "entity id 1 is defined twice"),
    ("prodigy", [PRODIGY, {**PRODIGY, "relations": [{"head": 1, "child": 40, "label": "Work_For"}]}],
     "record at line 2", "field 'child' of item 0 of field 'relations' is token 40, outside the 8 tokens"),
    ("prodigy", [{**PRODIGY, "spans": [{**PRODIGY["spans"][0], "token_end": 11}]}],
     "record at line 1", "token span 0:12 is outside the 8 tokens"),
    ("prodigy", [{**PRODIGY, "relations": [{"head": 1, "child": 4}]}],
     "record at line 1", "missing field 'label' in item 0 of field 'relations'"),
    ("prodigy", [{**PRODIGY, "spans": [{**PRODIGY["spans"][0], "label": 3}]}],
     "record at line 1", "field 'label' of item 0 of field 'spans' must be a string, got 3"),
    ("prodigy", [{**PRODIGY, "text": "Ann Lee works for Acme in Rome."}],
     "record at line 1", "the tokens (with their 'ws') do not spell the text"),
    ("labelstudio", ls_task([{"from_id": "a", "to_id": "zz", "type": "relation", "labels": ["Work_For"]}]),
     "record 0 (id 3)", "result 2 of annotation 1 refers to entity id 'zz', which the record does not define"),
    ("labelstudio", ls_task([{"type": "labels", "value": {"start": 0, "end": 3, "labels": ["Peop"]}}]),
     "record 0 (id 3)", "missing field 'id' in result 2 of annotation 1"),
    ("labelstudio", ls_task([{"id": "c", "type": "labels", "value": {"start": 30, "end": 99, "labels": ["Loc"]}}]),
     "record 0 (id 3)", "character span 30:99 is outside the text (length 32)"),
    ("labelstudio", ls_task([{"id": "c", "type": "labels", "value": {"start": 26, "end": 31, "text": "Rome",
                                                                       "labels": ["Loc"]}}]),
     "record 0 (id 3)", "result 2 of annotation 1: its text \"Rome\" is not the text at characters 26:31"),
    ("labelstudio", ls_task([{"from_id": "a", "to_id": "b", "type": "relation", "direction": "up",
                              "labels": ["X"]}]),
     "record 0 (id 3)", "field 'direction' of result 2 of annotation 1 must be one of ['right', 'left', 'bi']"),
    ("labelstudio", [{"id": 4, "data": {"a": "x", "b": "y"}, "annotations": []}],
     "record 0 (id 4)", "field 'data' has no 'text' and not exactly one string value"),
    ("brat", {"a.txt": TEXT, "a.ann": BRAT_OK + "R2\tLive_In Arg1:T1 Arg2:T7\n"},
     "record a)", "line 4 (R2) refers to entity id 'T7', which the record does not define"),
    ("brat", {"a.txt": TEXT, "a.ann": BRAT_OK + "T3\tLoc 26 40\tParis\n"},
     "record a)", "line 4 (T3): character span 26:40 is outside the text (length 32)"),
    ("brat", {"a.txt": TEXT, "a.ann": BRAT_OK + "T3\tLoc 26 31\tRome\n"},
     "record a)", "line 4 (T3): its text \"Rome\" is not the text at characters 26:31 (\"Paris\")"),
    ("brat", {"a.txt": TEXT, "a.ann": BRAT_OK + "T3\tLoc x 31\tParis\n"},
     "record a)", "line 4 (T3): expected 'Type start end'"),
    ("brat", {"a.txt": TEXT, "a.ann": BRAT_OK + "R2\tLive_In T1 T2\n"},
     "record a)", "line 4 (R2): expected 'Label Arg1:T1 Arg2:T2'"),
    ("brat", {"a.txt": TEXT, "a.ann": BRAT_OK + "*\tEquiv T1 T5\n"},
     "record a)", "line 4 (*): equivalence refers to entity id 'T5'"),
    ("brat", {"a.txt": TEXT, "a.ann": BRAT_OK + "T1\tPeop 0 3\tAnn\n"},
     "record a)", "line 4 (T1): entity id 'T1' is defined twice"),
    ("brat", {"a.txt": TEXT, "a.ann": BRAT_OK + "X1\tsomething\n"},
     "record a)", "line 4 (X1): not a brat standoff annotation"),
    ("brat", {"a.ann": BRAT_OK}, "record a)", "no text file a.txt beside it"),
]
# fmt: on


@pytest.mark.parametrize("fmt,content,record,reason", MALFORMED)
def test_malformed_record_names_file_and_record(tmp_path, fmt, content, record, reason):
    path = write(tmp_path, fmt, content)
    with pytest.raises(ValueError) as err:
        convert(fmt, path, tmp_path / "out.spacy", show_progress=False)
    message = str(err.value)
    named = path / "a.ann" if fmt == "brat" else path
    assert "[E101]" in message and str(named) in message and record in message and reason in message
    assert not (tmp_path / "out.spacy").exists()


@pytest.mark.parametrize("fmt", ["prodigy", "labelstudio", "doccano"])
def test_invalid_json_names_the_line(tmp_path, fmt):
    path = tmp_path / "bad.json"
    path.write_text('[{"id": 1,\n "data": }]' if fmt == "labelstudio" else json.dumps(DOCCANO) + "\n{\"text\": \n")
    with pytest.raises(ValueError, match=r"\[E101\].*line 2.*invalid JSON"):
        convert(fmt, path, tmp_path / "out.spacy", show_progress=False)
