import json
from pathlib import Path

import pytest
import spacy
from spacy.tokens import DocBin

from spacy_relext.cli import main
from spacy_relext.convert import CONVERTERS, ConversionSummary, convert, iter_docs, split_docbin
from spacy_relext.convert.common import ARG_NO_MENTION, DUPLICATE_RELATION, ENTITIES_KEY, SELF_RELATION
from spacy_relext.convert.documents import DWIE_NOT_TEST_DOCUMENT, DWIE_TEST_DOCUMENT
from spacy_relext.convert.triples import DUPLICATE_TRIPLE, UNLOCATED, locate_pair

SAMPLES = Path(__file__).parents[2] / "corpus" / "samples"
CORPUS = Path(__file__).parents[2] / ".." / "shared" / "corpus"
RELATION_SKIPS = {ARG_NO_MENTION, DUPLICATE_RELATION, DUPLICATE_TRIPLE, UNLOCATED, SELF_RELATION}

# Hand-checked against the first record of each sample file.
# words: the first tokens; sents: sentence start tokens; mentions: (start, end, label, id) of the
# first mentions in doc.spans["entities"]; relations: (head start, head end, label, tail start, tail end).
# fmt: off
FIRST_RECORDS = {
    "semeval": ("semeval2010_task8/TRAIN_FILE.TXT", 20, dict(
        words=["The", "system", "as", "described", "above", "has", "its", "greatest", "application", "in", "an",
               "arrayed", "configuration", "of", "antenna", "elements", "."],
        sents=[0], mentions=[(12, 13, "ENTITY", ""), (15, 16, "ENTITY", "")],
        # Component-Whole(e2,e1): head = e2 "elements", tail = e1 "configuration"
        relations=[(15, 16, "Component-Whole", 12, 13)])),
    "conll04": ("conll04/train.json", 150, dict(
        words=["Newspaper", "`", "Explains", "'", "U.S.", "Interests", "Section", "Events", "FL1402001894", "Havana",
               "Radio", "Reloj", "Network"],
        sents=[0], mentions=[(4, 5, "Loc", ""), (9, 10, "Loc", ""), (10, 13, "Org", ""), (15, 17, "Other", ""),
                             (17, 20, "Other", "")],
        relations=[(10, 13, "OrgBased_In", 9, 10)])),
    "scierc": ("scierc/train.json", 10, dict(
        words=["English", "is", "shown", "to", "be", "trans-context-free"],
        sents=[0, 22, 60],
        # ner [17, 20] and [23, 23] (inclusive) form coreference cluster 0
        mentions=[(0, 1, "Material", ""), (10, 11, "OtherScientificTerm", ""), (17, 21, "OtherScientificTerm", "C0"),
                  (23, 24, "Generic", "C0")],
        relations=[(29, 30, "CONJUNCTION", 31, 33), (48, 50, "FEATURE-OF", 51, 52), (54, 55, "HYPONYM-OF", 51, 52)])),
    "chemprot": ("chemprot/train.txt", 20, dict(
        words=["Epidermal", "growth", "factor", "receptor", "inhibitors", "currently"],
        sents=[0], mentions=[(0, 4, "ENTITY", ""), (12, 13, "ENTITY", "")],
        relations=[(0, 4, "INHIBITOR", 12, 13)])),
    "wiki80": ("wiki80/train_0.01.txt", 20, dict(
        words=["In", "Albany", ",", "they", "pass", "the", "Southwest", "Georgia", "Regional", "Airport", "."],
        sents=[0], mentions=[(1, 2, "GPE", "Q285599"), (6, 10, "FAC", "Q2875753")],
        relations=[(6, 10, "place served by transport hub", 1, 2)])),
    "fewrel": ("fewrel/val_wiki.json", 20, dict(
        words=["In", "June", "1987", ","],
        sents=[0], mentions=[(19, 21, "ENTITY", "Q1497"), (26, 29, "ENTITY", "Q5034838")],
        relations=[(26, 29, "crosses", 19, 21)])),  # P177 named through pid2name.json
    "webnlg": ("webnlg/train_triples.json", 20, dict(
        words=["Peter", "Stöger", "is", "manager", "of", "1", ".", "FC", "Köln", "which"],
        sents=[0],
        mentions=[(0, 2, "ENTITY", ""), (5, 9, "ENTITY", ""), (11, 12, "ENTITY", ""), (17, 18, "ENTITY", "")],
        relations=[(5, 9, "manager", 0, 2), (5, 9, "season", 17, 18), (5, 9, "numberOfMembers", 11, 12)])),
    "nyt": ("nyt/val_triples.json", 20, dict(
        words=["In", "Queens", ",", "North", "Shore", "Towers"],
        sents=[0], mentions=[(1, 2, "ENTITY", ""), (24, 25, "ENTITY", "")],
        relations=[(24, 25, "/location/neighborhood/neighborhood_of", 1, 2),
                   (1, 2, "/location/location/contains", 24, 25)])),
    "dwie": ("dwie/annos_with_content", 3, dict(
        words=["Lena", "Vogt", "Elected", "Mayor", "of", "Hamburg", "\n", "Lena", "Vogt", ","],
        sents=[0, 7, 25, 35],  # the headline ends at its line break
        # label = the coarse DWIE type among the concept's tags
        mentions=[(0, 2, "person", "c0"), (3, 4, "role", "c3"), (5, 6, "location", "c1"), (7, 9, "person", "c0")],
        relations=[(0, 2, "member_of", 14, 16), (0, 2, "head_of_gov", 5, 6)])),
    "docred": ("redocred/dev_revised.json", 10, dict(
        words=["Wilfried", '"', "Willi", '"', "Schneider", "(", "born"],
        sents=[0, 27, 53, 73, 88, 151],
        mentions=[(0, 5, "PER", "E0"), (7, 10, "TIME", "E1"), (11, 12, "LOC", "E2")],
        relations=[(65, 68, "P580", 25, 26), (65, 68, "P582", 25, 26), (65, 68, "P276", 69, 72)])),
}
# fmt: on


def load(path):
    return list(DocBin().from_disk(path).get_docs(spacy.blank("en").vocab))


def rel_tuples(doc):
    return [(r.head.start, r.head.end, r.label, r.tail.start, r.tail.end) for r in doc._.relations]


@pytest.fixture(scope="module")
def sample_docs(tmp_path_factory):
    """Convert each sample once: format -> (summary, Docs read back from the DocBin)."""
    cache = {}

    def get(fmt, rel_path=None):
        rel_path = rel_path or FIRST_RECORDS[fmt][0]
        if (fmt, rel_path) not in cache:
            out = tmp_path_factory.mktemp(fmt) / "out.spacy"
            summary = convert(fmt, SAMPLES / rel_path, out, show_progress=False)
            cache[(fmt, rel_path)] = (summary, load(out))
        return cache[(fmt, rel_path)]

    return get


def test_registry_covers_all_formats():
    expected = {"semeval", "conll04", "scierc", "chemprot", "wiki80", "fewrel", "webnlg", "nyt", "dwie", "docred",
                "prodigy", "brat", "labelstudio", "doccano"}
    assert set(CONVERTERS) == expected


@pytest.mark.parametrize("fmt", sorted(FIRST_RECORDS))
def test_sample_first_record(fmt, sample_docs):
    _, n_docs, expected = FIRST_RECORDS[fmt]
    summary, docs = sample_docs(fmt)
    doc = docs[0]
    assert summary.docs == len(docs) == n_docs
    assert [t.text for t in doc][: len(expected["words"])] == expected["words"]
    assert [s.start for s in doc.sents] == expected["sents"]
    mentions = [(s.start, s.end, s.label_, s.id_) for s in doc.spans[ENTITIES_KEY]]
    assert mentions[: len(expected["mentions"])] == expected["mentions"]
    assert rel_tuples(doc)[: len(expected["relations"])] == expected["relations"]


@pytest.mark.parametrize("fmt", sorted(FIRST_RECORDS))
def test_sample_roundtrip_keeps_entities_and_relation_spans(fmt, sample_docs):
    summary, docs = sample_docs(fmt)
    assert sum(len(doc.spans[ENTITIES_KEY]) for doc in docs) == summary.entities
    assert sum(len(doc._.relations) for doc in docs) == sum(summary.relations.values()) > 0
    assert sum(len(doc.spans[ENTITIES_KEY]) - len(doc.ents) for doc in docs) == summary.not_in_ents
    for doc in docs:
        assert all(token.is_sent_start is not None for token in doc)
        mentions = {(s.start, s.end, s.label_, s.id_) for s in doc.spans[ENTITIES_KEY]}
        assert {(e.start, e.end, e.label_, e.ent_id_) for e in doc.ents} <= mentions
        for rel in doc._.relations:  # arguments carry the mention's type and cluster id
            assert {(s.start, s.end, s.label_, s.id_) for s in (rel.head, rel.tail)} <= mentions


def test_semeval_other_is_a_negative_with_entities(sample_docs):
    summary, docs = sample_docs("semeval")
    assert summary.negatives == 4 and sum(summary.relations.values()) == 16
    other = docs[1]  # id 2: "The <e1>child</e1> ... into the <e2>cradle</e2> ..." -> Other
    assert [s.text for s in other.spans[ENTITIES_KEY]] == ["child", "cradle"]
    assert other._.relations == []


def test_dwie_types_and_skips(sample_docs):
    summary, docs = sample_docs("dwie")
    group = docs[0].spans[ENTITIES_KEY]
    assert group.attrs["types"]["c0"] == ["entity", "person", "politician"]
    assert "c6" not in group.attrs["types"]  # Germany: no mention
    germans = [s for s in group if s.id_ == "c5"]
    assert [(s.text, s.label_) for s in germans] == [("Germans", "ethnicity")]  # "German" expanded
    assert docs[2].spans[ENTITIES_KEY][0].label_ == "ENTITY"  # concept without type:: tags
    assert summary.skipped == {
        "mention expanded to token boundaries (kept)": 1,
        "entity without mention": 1,
        "relation argument has no mention": 2,  # in0 and citizen_of with Germany
        "duplicate relation": 1,
    }
    assert summary.clusters == 12 and sum(summary.relations.values()) == 4


def test_docred_evidence_becomes_rationale(sample_docs):
    _, docs = sample_docs("docred")
    rel = docs[0]._.relations[0]
    assert [(s.start, s.end) for s in rel.rationale] == [(53, 73)]  # evidence [2] = third sentence
    assert (rel.head.label_, rel.head.id_, rel.tail.label_, rel.tail.id_) == ("MISC", "E11", "TIME", "E6")


def test_docred_reads_dwie_docred_style(sample_docs):
    summary, docs = sample_docs("docred", "dwie/docred_style/dev.json")
    doc = docs[0]
    assert [s.label_ for s in doc.spans[ENTITIES_KEY]][:3] == ["person", "role", "location"]  # "type::" removed
    assert rel_tuples(doc) == [(0, 2, "member_of", 14, 16), (0, 2, "head_of_gov", 5, 6)]
    assert [(s.start, s.end) for s in doc._.relations[0].rationale] == [(0, len(doc))]


def test_summary_format_names_counts_and_reasons(sample_docs):
    summary, _ = sample_docs("dwie")
    text = summary.format()
    assert "3 docs" in text and "18 mentions in 12 clusters" in text
    assert "member_of: 1" in text and "duplicate relation: 1" in text


def write(tmp_path, name, content):
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content if isinstance(content, str) else json.dumps(content), encoding="utf8")
    return path


WEBNLG_TEXT = "Alan Bean was born in Wheeler , Texas . Years later , Bean flew from Wheeler ."


def test_triples_report_unlocated_and_duplicates(tmp_path):
    triples = [
        ["Alan Bean", "birthPlace", "Wheeler , Texas"],
        ["Alan Bean", "birthPlace", "Wheeler , Texas"],  # duplicate: stored once
        ["Alan Bean", "nationality", "United States"],  # not in the text
        ["Bean", "crew", "Wheeler"],
    ]
    path = write(tmp_path, "train.json", [{"text": WEBNLG_TEXT, "triple_list": triples}])
    summary = convert("webnlg", path, tmp_path / "out.spacy", show_progress=False)
    assert summary.skipped == {"duplicate triple": 1, "subject or object not found in the text": 1}
    assert summary.unlocated == ["train.json record 0: ['Alan Bean', 'nationality', 'United States']"]
    (doc,) = load(tmp_path / "out.spacy")
    # "Bean" occurs at 1 and 12, "Wheeler" at 5 and 15: the closest pair is (12, 15), gap 2.
    assert rel_tuples(doc) == [(0, 2, "birthPlace", 5, 8), (12, 13, "crew", 15, 16)]
    assert sum(summary.relations.values()) + sum(summary.skipped.values()) == len(triples)


@pytest.mark.parametrize(
    "words,subject,obj,expected",
    [
        ("A x x x B A".split(), ["A"], ["B"], ((5, 6), (4, 5))),
        ("A B A B".split(), ["A"], ["B"], ((0, 1), (1, 2))),  # ties: earliest pair
        ("A B".split(), ["A"], ["C"], None),
        ("A B".split(), ["A", "B", "C"], ["A"], None),
    ],
)
def test_locate_pair(words, subject, obj, expected):
    assert locate_pair(words, subject, obj) == expected


CONLL = [
    {
        "tokens": ["Jo", "lives", "in", "Oslo"],
        "entities": [[0, 1, "Peop"], [3, 4, "Loc"]],
        "relations": [[0, 1, 3, 4, "Live_In"]],
    }
]
DWIE_DOC = {
    "id": "DW_1",
    "content": "Jo lives in Oslo.",
    "tags": ["train"],
    "concepts": [{"concept": 0, "tags": []}],
    "mentions": [{"begin": 12, "end": 16, "text": "Oslo", "concept": 0}],
    "relations": [],
}


MALFORMED = [
    # (format, file name, content, record named in the message, reason fragment)
    ("conll04", "bad.json", {"tokens": ["a"]}, "(whole file)", "expected an array of records"),
    ("conll04", "bad.json", json.dumps(CONLL)[:-5], "at line 1", "invalid JSON"),
    ("wiki80", "bad.txt", '{"token": ["a"]}\n{"token": [\n', "at line 2", "invalid JSON"),
    (
        "conll04",
        "bad.json",
        [CONLL[0], {**CONLL[0], "entities": [[3, 9, "Loc"]]}],
        "record 1)",
        "token span 3:9 is outside the 4 tokens",
    ),
    ("conll04", "bad.json", [CONLL[0], {"tokens": ["a"], "entities": []}], "record 1)", "missing field 'relations'"),
    (
        "scierc",
        "bad.json",
        json.dumps({"doc_key": "X1", "sentences": [["a", "b"]], "ner": [[[1, 2, "Task"]]], "relations": [[]]}),
        "record at line 1",
        "outside the 2 tokens",
    ),
    (
        "semeval",
        "bad.txt",
        '7\t"The <e1>cat</e1> sat on the mat."\r\nOther\r\nComment:\r\n',
        "record id 7",
        "markers '<e2>' ... '</e2>' not found",
    ),
    (
        "semeval",
        "bad.txt",
        '7\t"The <e1>cat</e1> <e2>sat</e2>."\r\nLikes\r\nComment:\r\n',
        "record id 7",
        "label 'Likes'",
    ),
    (
        "chemprot",
        "bad.txt",
        '{"text": "<< a >> inhibits b", "label": "INHIBITOR"}\n',
        "at line 1",
        "markers '[[ ' ... ' ]]' not found",
    ),
    (
        "fewrel",
        "val.json",
        {"P1": [{"h": ["a", "Q1", [[0]]], "t": ["b", "Q2", [[1]]]}]},
        "record P1[0]",
        "missing field 'tokens'",
    ),
    (
        "fewrel",
        "val.json",
        {"P1": [{"tokens": ["a", "b"], "h": ["a", "Q1", [[0, 2]]], "t": ["b", "Q2", [[1]]]}]},
        "record P1[0]",
        "not a contiguous run",
    ),
    (
        "webnlg",
        "bad.json",
        [{"text": "a b", "triple_list": [["a", "r"]]}],
        "record 0)",
        "item 0 of field 'triple_list' must be [subject, relation, object] (a string, a string, a string)",
    ),
    (
        "docred",
        "bad.json",
        [{"title": "T", "sents": [["a"]], "labels": []}],
        "record 0 (title 'T'))",
        "missing field 'vertexSet'",
    ),
    (
        "docred",
        "bad.json",
        [
            {
                "title": "T",
                "sents": [["a", "b"]],
                "labels": [],
                "vertexSet": [[{"name": "a", "sent_id": 0, "pos": [1, 3], "type": "PER"}]],
            }
        ],
        "(title 'T')",
        "outside sentence 0",
    ),
    (
        "dwie",
        "DW_1.json",
        {**DWIE_DOC, "mentions": [{"begin": 12, "end": 40, "concept": 0}]},
        "record DW_1)",
        "character span 12:40 is outside the text",
    ),
    (
        "dwie",
        "DW_1.json",
        {**DWIE_DOC, "mentions": [{"begin": 12, "end": 16, "concept": 3}]},
        "record DW_1)",
        "unknown concept 3",
    ),
    ("dwie", "DW_1.json", json.dumps(DWIE_DOC)[:20], "record DW_1)", "invalid JSON"),
]


@pytest.mark.parametrize("fmt,name,content,record,reason", MALFORMED)
def test_malformed_record_names_file_and_record(tmp_path, fmt, name, content, record, reason):
    path = write(tmp_path, name, content)
    if fmt == "fewrel":
        write(tmp_path, "pid2name.json", {"P1": ["one", "first"]})
    with pytest.raises(ValueError) as err:
        convert(fmt, tmp_path if fmt == "dwie" else path, tmp_path / "out.spacy", show_progress=False)
    message = str(err.value)
    assert "[E101]" in message and str(path) in message and record in message and reason in message


def test_unknown_format():
    with pytest.raises(ValueError, match=r"\[E100\].*conll04"):
        convert("conll2003", SAMPLES, Path("unused.spacy"))


def test_missing_input(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"\[E102\]"):
        convert("conll04", tmp_path / "nope.json", tmp_path / "out.spacy")


def test_fewrel_needs_pid2name(tmp_path):
    path = write(tmp_path, "val.json", {"P1": []})
    with pytest.raises(FileNotFoundError, match=r"\[E102\].*pid2name.json"):
        convert("fewrel", path, tmp_path / "out.spacy")


def test_dwie_directory_without_documents(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"\[E103\]"):
        convert("dwie", tmp_path, tmp_path / "out.spacy")


def test_dwie_skips_held_out_test_documents(tmp_path):
    write(tmp_path, "DW_1.json", DWIE_DOC)
    write(tmp_path, "DW_2.json", {**DWIE_DOC, "id": "DW_2", "tags": ["all", "test"]})
    summary = convert("dwie", tmp_path, tmp_path / "out.spacy")
    assert summary.docs == 1
    assert summary.skipped == {DWIE_TEST_DOCUMENT: 1}
    assert len(DocBin().from_disk(tmp_path / "out.spacy")) == 1


def test_progress_bar_goes_to_stderr(tmp_path, capsys):
    convert("conll04", SAMPLES / "conll04" / "dev.json", tmp_path / "out.spacy", show_progress=True)
    captured = capsys.readouterr()
    assert captured.out == "" and "40/40" in captured.err
    convert("conll04", SAMPLES / "conll04" / "dev.json", tmp_path / "out.spacy", overwrite=True, show_progress=False)
    assert capsys.readouterr().err == ""


def test_cli_prints_summary(tmp_path, capsys):
    main(["convert", "conll04", str(SAMPLES / "conll04" / "dev.json"), str(tmp_path / "dev.spacy"), "--no-progress"])
    assert "Converted conll04: 40 docs, 40 sentences" in capsys.readouterr().out


@pytest.fixture(scope="module")
def conll_train(tmp_path_factory):
    path = tmp_path_factory.mktemp("split") / "train.spacy"
    convert("conll04", SAMPLES / "conll04" / "train.json", path, show_progress=False)
    return path


def split_texts(path, tmp_path, seed):
    counts = split_docbin(path, tmp_path / "a.spacy", tmp_path / "b.spacy", dev_fraction=0.1, seed=seed, overwrite=True)
    return counts, [d.text for d in load(tmp_path / "a.spacy")], [d.text for d in load(tmp_path / "b.spacy")]


def test_split_is_seeded_disjoint_and_sized(conll_train, tmp_path):
    (n_train, n_dev), train, dev = split_texts(conll_train, tmp_path, seed=0)
    assert (n_train, n_dev) == (len(train), len(dev)) == (135, 15)
    assert sorted(train + dev) == sorted(d.text for d in load(conll_train))
    assert not set(train) & set(dev)  # the sample has no repeated sentence
    assert split_texts(conll_train, tmp_path, seed=0)[2] == dev
    assert split_texts(conll_train, tmp_path, seed=1)[2] != dev


def test_split_keeps_relations(conll_train, tmp_path):
    split_docbin(conll_train, tmp_path / "a.spacy", tmp_path / "b.spacy")
    n_rels = sum(len(d._.relations) for name in ("a", "b") for d in load(tmp_path / f"{name}.spacy"))
    assert n_rels == sum(len(d._.relations) for d in load(conll_train))


@pytest.mark.parametrize("fraction", [0, 1, 1.5])
def test_split_rejects_bad_fraction(conll_train, tmp_path, fraction):
    with pytest.raises(ValueError, match=r"\[E104\]"):
        split_docbin(conll_train, tmp_path / "a.spacy", tmp_path / "b.spacy", dev_fraction=fraction)


def repeated_texts_docbin(path, texts):
    nlp = spacy.blank("en")
    DocBin(docs=[nlp(text) for text in texts]).to_disk(path)
    return path


def test_split_grouping_same_text_keeps_each_text_on_one_side(tmp_path):
    texts = [f"Sentence {i} ." for i in range(20)] + ["Repeated one ."] * 3 + ["Repeated two ."] * 2
    path = repeated_texts_docbin(tmp_path / "all.spacy", texts)
    leaked = 0
    for seed in range(10):
        kwargs = dict(dev_fraction=0.3, seed=seed, overwrite=True)
        n_train, n_dev = split_docbin(path, tmp_path / "a.spacy", tmp_path / "b.spacy", group_same_text=True, **kwargs)
        train, dev = [d.text for d in load(tmp_path / "a.spacy")], [d.text for d in load(tmp_path / "b.spacy")]
        assert (n_train, n_dev) == (len(train), len(dev)) and sorted(train + dev) == sorted(texts)
        assert not set(train) & set(dev)
        assert 8 <= n_dev <= 8 + 2  # round(25 * 0.3), plus at most the other copies of the last text drawn
        split_docbin(path, tmp_path / "a.spacy", tmp_path / "b.spacy", **kwargs)
        leaked += bool({d.text for d in load(tmp_path / "a.spacy")} & {d.text for d in load(tmp_path / "b.spacy")})
    assert leaked  # without grouping some seed splits a repeated text: the option is what prevents it
    main(["split", str(path), str(tmp_path / "c.spacy"), str(tmp_path / "d.spacy"), "--dev-fraction", "0.3",
          "--seed", "3", "--group-same-text"])
    assert not {d.text for d in load(tmp_path / "c.spacy")} & {d.text for d in load(tmp_path / "d.spacy")}


def test_split_grouping_changes_nothing_without_repeated_texts(tmp_path):
    path = repeated_texts_docbin(tmp_path / "all.spacy", [f"Sentence {i} ." for i in range(30)])
    for seed in (0, 1):
        plain = split_texts(path, tmp_path, seed)
        split_docbin(path, tmp_path / "a.spacy", tmp_path / "b.spacy", dev_fraction=0.1, seed=seed,
                     overwrite=True, group_same_text=True)
        assert [d.text for d in load(tmp_path / "b.spacy")] == plain[2]


def test_split_grouping_refuses_a_corpus_of_one_text(tmp_path):
    path = repeated_texts_docbin(tmp_path / "all.spacy", ["Same ."] * 4)
    with pytest.raises(ValueError, match=r"\[E130\]"):
        split_docbin(path, tmp_path / "a.spacy", tmp_path / "b.spacy", group_same_text=True)


def test_split_missing_input(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"\[E105\]"):
        split_docbin(tmp_path / "nope.spacy", tmp_path / "a.spacy", tmp_path / "b.spacy")


# Counts from SOURCES.md unless a comment says why the converted count differs.
# (docs, sentences, mentions, clusters, relations, negatives, skipped, relation instances in the file);
# clusters = mentions where the data has no entity ids (SOURCES.md gives no cluster counts for those).
CORPUS_COUNTS = [
    (
        "semeval",
        "semeval2010_task8/SemEval2010_task8_training/TRAIN_FILE.TXT",
        8000,
        8000,
        16000,
        16000,
        6590,
        1410,
        {"mention expanded to token boundaries (kept)": 5},
        8000,
    ),
    ("conll04", "conll04/train.CoNLL04.json", 922, 922, 3377, 3377, 1283, 0, {}, 1283),
    ("conll04", "conll04/valid.CoNLL04.json", 231, 231, 893, 893, 343, 0, {}, 343),
    ("scierc", "scierc/train.json", 350, 1861, 5598, 4420, 3219, 0, {}, 3219),
    ("scierc", "scierc/dev.json", 50, 275, 811, 639, 455, 0, {}, 455),
    (
        "chemprot",
        "chemprot/train.txt",
        4169,
        4169,
        8338,
        8338,
        4169,
        0,
        {"mention expanded to token boundaries (kept)": 159},
        4169,
    ),
    (
        "chemprot",
        "chemprot/dev.txt",
        2427,
        2427,
        4854,
        4854,
        2427,
        0,
        {"mention expanded to token boundaries (kept)": 80},
        2427,
    ),
    ("wiki80", "wiki80/train_0.1.txt", 3920, 3920, 7840, 7840, 3920, 0, {}, 3920),
    ("wiki80", "wiki80/train_0.01.txt", 400, 400, 800, 799, 400, 0, {}, 400),
    # Wiki80 0.01: one sentence has head and tail with the same QID (799 clusters).
    # FewRel: every occurrence is a mention (20431 for 10023 head/tail pairs), grouped by QID.
    ("fewrel", "fewrel/val_wiki.minus_wiki80_dev.json", 10023, 10023, 20431, 20046, 10023, 0, {}, 10023),
    # 11313 triples = 11312 located + 1 duplicate; every string is found as a token sequence.
    # 41 (val: 4) have the same subject and object string ("Bacon ingredient Bacon": CasRel
    # kept the last word of each entity), located on one span: skipped as self-relations.
    (
        "webnlg",
        "webnlg/train_triples.json",
        5019,
        5019,
        16762,
        16762,
        11271,
        0,
        {"duplicate triple": 1, SELF_RELATION: 41},
        11313,
    ),
    (
        "webnlg",
        "webnlg/val_triples.json",
        500,
        500,
        1786,
        1786,
        1219,
        0,
        {"duplicate triple": 1, SELF_RELATION: 4},
        1224,
    ),
    # 8489 triples = 7943 located + 504 duplicates + 42 unlocated. SOURCES.md counts 47 unlocatable
    # triples before removing duplicates; 5 of them are repeats, counted as duplicates here.
    (
        "nyt",
        "nyt/val_triples.json",
        5000,
        5000,
        10838,
        10838,
        7943,
        0,
        {"duplicate triple": 504, "subject or object not found in the text": 42},
        8489,
    ),
    # 19060 relations = 17006 + 7 from a concept to itself + 2026 touching a concept without
    # mention + 21 duplicates.
    # 20383 concepts, 1104 without mention -> 19279 clusters. SOURCES.md says 1103: concept 5
    # of DW_17909180 ("BSA") has count 1 but no entry in `mentions`.
    # Sentences (not given in SOURCES.md): sentencizer plus a break at every line break.
    (
        "dwie",
        "dwie/annos_with_content",
        702,
        19252,
        37940,
        19279,
        17006,
        0,
        {
            "relation argument has no mention": 2026,
            "entity without mention": 1104,
            "mention expanded to token boundaries (kept)": 106,
            "duplicate relation": 21,
            SELF_RELATION: 7,
        },
        19060,
    ),
    # 2624 relation instances = 2620 + 4 duplicates of a (head, tail, label).
    ("docred", "dwie/docred_style/dev.json", 98, 98, 5491, 2785, 2620, 0, {"duplicate relation": 4}, 2624),
    ("docred", "redocred/dev_revised.json", 500, 4110, 13189, 9684, 17284, 0, {}, 17284),
]


@pytest.mark.corpus
@pytest.mark.parametrize(
    "fmt,rel_path,docs,sentences,mentions,clusters,relations,negatives,skipped,in_file", CORPUS_COUNTS
)
def test_full_corpus_counts(fmt, rel_path, docs, sentences, mentions, clusters, relations, negatives, skipped, in_file):
    if not (CORPUS / rel_path).exists():
        pytest.skip(f"full corpus not available: {CORPUS / rel_path}")
    summary = ConversionSummary(fmt=fmt)
    for _ in iter_docs(fmt, CORPUS / rel_path, summary):  # counts only: writing the DocBin is tested on samples
        pass
    assert (summary.docs, summary.sentences, summary.entities) == (docs, sentences, mentions)
    assert summary.clusters == clusters
    assert (sum(summary.relations.values()), summary.negatives) == (relations, negatives)
    assert summary.skipped == skipped
    # every relation instance of the file is stored, a negative, or skipped with a reason
    left_out = sum(n for reason, n in summary.skipped.items() if reason in RELATION_SKIPS)
    assert sum(summary.relations.values()) + negatives + left_out == in_file


@pytest.mark.parametrize(
    "types,expected",
    [
        (["entity", "gpe", "gpe0", "location"], "location"),
        (["entity", "manager", "person"], "person"),
        (["entity", "tv_title", "work_of_art"], "tv_title"),
        (["entity"], "ENTITY"),
        ([], "ENTITY"),
    ],
)
def test_dwie_coarse_type(types, expected):
    from spacy_relext.convert.documents import coarse_type

    assert coarse_type(types) == expected


# --- Hostile inputs: empty files, bad encodings, odd shapes, self-relations, huge records ---

# One small valid record per format (file name, content), for the checks below.
WIKI80 = {"token": ["Jo", "lives", "in", "Oslo"], "h": {"id": "Q1", "pos": [0, 1], "type": "PER"},
          "t": {"id": "Q2", "pos": [3, 4], "type": "LOC"}, "relation": "residence"}
SEMEVAL = '1\t"The <e1>cat</e1> sat on the <e2>mat</e2>."\r\nOther\r\nComment:\r\n\r\n'
VALID = {
    "semeval": ("train.txt", SEMEVAL),
    "conll04": ("train.json", CONLL),
    "scierc": ("train.json", json.dumps({"sentences": [["Jo", "lives"]], "ner": [[[0, 0, "X"]]], "relations": [[]]})
               + "\n"),
    "chemprot": ("train.txt", json.dumps({"text": "<< a >> inhibits [[ b ]]", "label": "INHIBITOR"}) + "\n"),
    "wiki80": ("train.txt", json.dumps(WIKI80) + "\n"),
    "fewrel": ("val.json", {"P1": [{"tokens": ["a", "b"], "h": ["a", "Q1", [[0]]], "t": ["b", "Q2", [[1]]]}]}),
    "webnlg": ("train.json", [{"text": WEBNLG_TEXT, "triple_list": [["Alan Bean", "birthPlace", "Wheeler , Texas"]]}]),
    "nyt": ("train.json", [{"text": WEBNLG_TEXT, "triple_list": [["Alan Bean", "birthPlace", "Wheeler , Texas"]]}]),
    "dwie": ("DW_1.json", DWIE_DOC),
    "docred": ("dev.json", [{"title": "T", "sents": [["a", "b"]], "labels": [],
                             "vertexSet": [[{"name": "a", "sent_id": 0, "pos": [0, 1], "type": "PER"}]]}]),
}


def convert_file(tmp_path, fmt, name, content, **options):
    """Write one input file (and FewRel's pid2name.json) and convert it to tmp_path/out.spacy."""
    path = write(tmp_path, name, content) if not isinstance(content, bytes) else tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    if fmt == "fewrel":
        write(tmp_path, "pid2name.json", {"P1": ["one", "first"]})
    source = tmp_path if fmt == "dwie" else path
    return convert(fmt, source, tmp_path / "out.spacy", show_progress=False, **options), path


@pytest.mark.parametrize("fmt", sorted(VALID))
def test_valid_record_converts(tmp_path, fmt):
    """The control case of the tests below: each minimal record converts."""
    summary, _ = convert_file(tmp_path, fmt, *VALID[fmt])
    assert summary.docs == 1


@pytest.mark.parametrize("content", ["", "  \n\n", "\ufeff\n"])
@pytest.mark.parametrize("fmt", sorted(VALID))
def test_empty_input_is_an_error_for_every_format(tmp_path, fmt, content):
    """Before: semeval, scierc, chemprot and wiki80 wrote an empty DocBin and exited 0."""
    with pytest.raises(ValueError, match=r"\[E106\] No records to convert in .*" + VALID[fmt][0]):
        convert_file(tmp_path, fmt, VALID[fmt][0], content)
    assert not (tmp_path / "out.spacy").exists()


@pytest.mark.parametrize("fmt,name,content", [("conll04", "t.json", []), ("fewrel", "val.json", {}),
                                              ("docred", "d.json", [])])
def test_input_without_records_is_an_error(tmp_path, fmt, name, content):
    with pytest.raises(ValueError, match=r"\[E106\]"):
        convert_file(tmp_path, fmt, name, content)


@pytest.mark.parametrize("fmt", sorted(VALID))
def test_invalid_utf8_names_file_and_line(tmp_path, fmt):
    """Before: an uncoded UnicodeDecodeError that did not name the file (except for dwie)."""
    name, content = VALID[fmt]
    text = content if isinstance(content, str) else json.dumps(content, indent=1)
    lines = text.split("\n")
    lines[1] = lines[1].replace("a", "\xe9", 1) if "a" in lines[1] else lines[1] + "\xe9"
    data = "\n".join(lines).encode("latin-1")  # é as the single byte 0xe9: not UTF-8
    with pytest.raises(ValueError) as err:
        convert_file(tmp_path, fmt, name, data)
    message = str(err.value)
    assert "[E108]" in message and str(tmp_path / name) in message and "(line 2)" in message


def test_byte_order_mark_is_accepted(tmp_path):
    summary, _ = convert_file(tmp_path, "conll04", "t.json", b"\xef\xbb\xbf" + json.dumps(CONLL).encode())
    assert summary.docs == 1


SELF_RELATIONS = [
    # (format, content with one relation whose head and tail are the same span, and one other)
    ("conll04", [{**CONLL[0], "relations": [[3, 4, 3, 4, "Located_In"], [0, 1, 3, 4, "Live_In"]]}]),
    ("webnlg", [{"text": "Bacon is in Bacon Explosion", "triple_list": [["Bacon", "ingredient", "Bacon"],
                                                                        ["Bacon", "in", "Explosion"]]}]),
    ("dwie", {**DWIE_DOC, "concepts": [{"concept": 0, "tags": []}, {"concept": 1, "tags": []}],
              "mentions": [{"begin": 0, "end": 2, "concept": 1}, {"begin": 12, "end": 16, "concept": 0}],
              "relations": [{"s": 0, "p": "in0", "o": 0}, {"s": 1, "p": "in0", "o": 0}]}),
    ("docred", [{**VALID["docred"][1][0], "labels": [{"h": 0, "t": 0, "r": "P1"}, {"h": 0, "t": 1, "r": "P2"}],
                 "vertexSet": [[{"sent_id": 0, "pos": [0, 1], "type": "PER"}],
                               [{"sent_id": 0, "pos": [1, 2], "type": "LOC"}]]}]),
]


@pytest.mark.parametrize("fmt,content", SELF_RELATIONS)
def test_self_relations_are_skipped_and_counted(tmp_path, fmt, content):
    """Before: a relation from a span to itself was stored as gold."""
    summary, _ = convert_file(tmp_path, fmt, VALID[fmt][0], content)
    (doc,) = load(tmp_path / "out.spacy")
    assert len(doc._.relations) == 1 and doc._.relations[0].head != doc._.relations[0].tail
    assert summary.skipped[SELF_RELATION] == 1 and sum(summary.relations.values()) == 1
    assert "self-relation" in summary.format()


@pytest.mark.parametrize("fmt,content", SELF_RELATIONS)
def test_self_relations_kept_on_request(tmp_path, fmt, content):
    summary, _ = convert_file(tmp_path, fmt, VALID[fmt][0], content, keep_self_relations=True)
    (doc,) = load(tmp_path / "out.spacy")
    assert len(doc._.relations) == 2 and SELF_RELATION not in summary.skipped


def test_cli_keep_self_relations(tmp_path, capsys):
    path = write(tmp_path, "t.json", SELF_RELATIONS[0][1])
    main(["convert", "conll04", str(path), str(tmp_path / "a.spacy"), "--no-progress"])
    assert "self-relation" in capsys.readouterr().out
    main(["convert", "conll04", str(path), str(tmp_path / "b.spacy"), "--no-progress", "--keep-self-relations"])
    assert [len(doc._.relations) for name in "ab" for doc in load(tmp_path / f"{name}.spacy")] == [1, 2]


SHAPES = [
    # (format, file name, content, what the E101 reason says) where the reason used to be a
    # raw Python message ("'int' object is not subscriptable", "not enough values to unpack", ...)
    ("conll04", "t.json", [5], "the record must be an object, got 5"),
    ("conll04", "t.json", [{**CONLL[0], "entities": 3}], "field 'entities' must be an array, got 3"),
    ("conll04", "t.json", [{**CONLL[0], "entities": [[0, 1]]}],
     "item 0 of field 'entities' must be [start, end, type] (an integer, an integer, a string), got [0, 1]"),
    ("conll04", "t.json", [{**CONLL[0], "relations": [[0, 1, 3, "4", "Live_In"]]}],
     "item 0 of field 'relations' must be [head start, head end, tail start, tail end, label]"),
    ("scierc", "t.json", json.dumps({"sentences": [["a"]], "ner": [[0, 0, "X"]], "relations": [[]]}),
     "item 0 of sentence 0 of field 'ner' must be [start, end, type]"),
    ("scierc", "t.json", json.dumps({"sentences": ["a b"], "ner": [], "relations": []}),
     "sentence 0 must be an array, got \"a b\""),
    ("wiki80", "t.txt", json.dumps({**WIKI80, "h": [0, 1]}), "field 'h' must be an object, got [0, 1]"),
    ("wiki80", "t.txt", json.dumps({**WIKI80, "h": {"id": "Q1", "type": "PER"}}), "missing field 'pos' in field 'h'"),
    ("wiki80", "t.txt", json.dumps({**WIKI80, "t": {**WIKI80["t"], "pos": 3}}),
     "field 'pos' of field 't' must be an array, got 3"),
    ("chemprot", "t.txt", json.dumps({"text": 7, "label": "X"}), "field 'text' must be a string, got 7"),
    ("fewrel", "val.json", {"P1": [{"tokens": ["a", "b"], "h": "a", "t": ["b", "Q2", [[1]]]}]},
     "field 'h' must be an array, got \"a\""),
    ("fewrel", "val.json", {"P1": [{"tokens": ["a", "b"], "h": ["a", "Q1", [0]], "t": ["b", "Q2", [[1]]]}]},
     "occurrence 0 of field 'h' must be a non-empty array of token indices, got 0"),
    ("fewrel", "val.json", {"P1": 3}, "the instances of a relation must be an array, got 3"),
    ("webnlg", "t.json", [{"text": "a b", "triple_list": "a r b"}], "field 'triple_list' must be an array"),
    ("docred", "d.json", [{**VALID["docred"][1][0], "vertexSet": [{"pos": [0, 1]}]}],
     "entity 0 of field 'vertexSet' must be an array, got {\"pos\": [0, 1]}"),
    ("docred", "d.json", [{**VALID["docred"][1][0], "labels": [{"h": 0, "t": "1", "r": "P1"}]}],
     "field 't' of item 0 of field 'labels' must be an integer, got \"1\""),
    ("dwie", "DW_1.json", {**DWIE_DOC, "mentions": [{"begin": "12", "end": 16, "concept": 0}]},
     "field 'begin' of item 0 of field 'mentions' must be an integer, got \"12\""),
    ("dwie", "DW_1.json", {**DWIE_DOC, "relations": [[0, "in0", 0]]},
     "item 0 of field 'relations' must be an object, got [0, \"in0\", 0]"),
]
RAW_PYTHON = ("object is not", "not enough values", "too many values", "indices must be", "unpack", "NoneType")


@pytest.mark.parametrize("fmt,name,content,reason", SHAPES)
def test_wrong_record_shape_says_what_was_expected(tmp_path, fmt, name, content, reason):
    with pytest.raises(ValueError) as err:
        convert_file(tmp_path, fmt, name, content)
    message = str(err.value)
    assert "[E101]" in message and reason in message
    assert not any(raw in message for raw in RAW_PYTHON)


def test_long_json_line_is_refused_before_it_is_read_whole(tmp_path, monkeypatch):
    """Before: a 50 MB line was parsed whole and its Doc built (about 4.9 GB at peak)."""
    import tracemalloc

    from spacy_relext.convert import common

    monkeypatch.setattr(common, "MAX_LINE_BYTES", 100_000, raising=False)
    line = json.dumps({**WIKI80, "token": ["token"] * 500_000})  # about 4.5 MB
    path = write(tmp_path, "t.txt", json.dumps(WIKI80) + "\n" + line + "\n")
    tracemalloc.start()
    with pytest.raises(ValueError) as err:
        common.json_lines(path)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert "[E109]" in str(err.value) and "at line 2" in str(err.value) and f"{len(line) + 1:,} bytes" in str(err.value)
    assert peak < 1_000_000


@pytest.mark.parametrize(
    "fmt,limit,content,size",
    [
        ("wiki80", "MAX_RECORD_TOKENS", json.dumps({**WIKI80, "token": ["a"] * 30}) + "\n", "30 tokens"),
        ("docred", "MAX_RECORD_TOKENS", [{**VALID["docred"][1][0], "sents": [["a"] * 20, ["b"] * 20]}], "40 tokens"),
        ("semeval", "MAX_RECORD_CHARS", SEMEVAL.replace("sat on", "sat " * 20 + "on"), "99 characters"),
    ],
)
def test_record_over_the_bound_is_refused(tmp_path, monkeypatch, fmt, limit, content, size):
    from spacy_relext.convert import common

    monkeypatch.setattr(common, limit, 25, raising=False)
    with pytest.raises(ValueError) as err:
        convert_file(tmp_path, fmt, VALID[fmt][0], content)
    assert "[E109]" in str(err.value) and size in str(err.value) and VALID[fmt][0] in str(err.value)


def write_dwie(tmp_path):
    write(tmp_path, "DW_1.json", DWIE_DOC)
    write(tmp_path, "DW_2.json", {**DWIE_DOC, "id": "DW_2", "tags": ["all", "test"]})


def test_dwie_test_split_converts_exactly_the_test_documents(tmp_path):
    write_dwie(tmp_path)
    summary = convert("dwie", tmp_path, tmp_path / "test.spacy", dwie_split="test", show_progress=False)
    assert summary.docs == 1 and summary.skipped == {DWIE_NOT_TEST_DOCUMENT: 1}
    summary = convert("dwie", tmp_path, tmp_path / "train.spacy", dwie_split="train", show_progress=False)
    assert summary.docs == 1 and summary.skipped == {DWIE_TEST_DOCUMENT: 1}
    main(["convert", "dwie", str(tmp_path), str(tmp_path / "cli.spacy"), "--dwie-split", "test", "--no-progress"])
    assert [d.text for d in load(tmp_path / "cli.spacy")] == [d.text for d in load(tmp_path / "test.spacy")]


@pytest.mark.parametrize("fmt,split", [("conll04", "test"), ("dwie", "dev")])
def test_dwie_split_is_checked(tmp_path, fmt, split):
    write_dwie(tmp_path)
    source = tmp_path if fmt == "dwie" else SAMPLES / "conll04" / "dev.json"
    with pytest.raises(ValueError, match=r"\[E116\]"):
        convert(fmt, source, tmp_path / "out.spacy", dwie_split=split, show_progress=False)


def test_nothing_converted_is_an_error_and_writes_nothing(tmp_path):
    write(tmp_path, "DW_2.json", {**DWIE_DOC, "id": "DW_2", "tags": ["all", "test"]})
    with pytest.raises(ValueError, match=r"\[E107\] Nothing converted .*document tagged 'test'.*: 1"):
        convert("dwie", tmp_path, tmp_path / "out.spacy", show_progress=False)
    assert not (tmp_path / "out.spacy").exists()


def test_scierc_declares_its_symmetric_labels(sample_docs):
    """SciERC's CONJUNCTION and COMPARE have no direction: the DocBin says so, and the
    declaration survives merging Docs (issue 20)."""
    from spacy.tokens import Doc

    from spacy_relext import get_symmetric_labels

    _, docs = sample_docs("scierc")
    assert all(get_symmetric_labels(doc) == ("COMPARE", "CONJUNCTION") for doc in docs)
    assert get_symmetric_labels(Doc.from_docs(docs[:2])) == ("COMPARE", "CONJUNCTION")
    _, conll = sample_docs("conll04")
    assert get_symmetric_labels(conll[0]) == ()
