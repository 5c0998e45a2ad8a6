"""`export` (pre-annotation): predictions in Prodigy, Label Studio and brat formats, and the
round trip export -> convert that keeps every entity and relation."""
import json
from pathlib import Path

import pytest
import spacy
from spacy.tokens import DocBin

from spacy_relext.cli import main
from spacy_relext.convert import convert
from spacy_relext.convert.common import ENTITIES_KEY
from spacy_relext.export import EXPORTERS, export_docs

SAMPLES = Path(__file__).parents[2] / "corpus" / "samples"
SAMPLE_PATHS = {
    "prodigy": SAMPLES / "prodigy" / "rel_manual.jsonl",
    "brat": SAMPLES / "brat",
    "labelstudio": SAMPLES / "labelstudio" / "export.json",
    "doccano": SAMPLES / "doccano" / "relations.jsonl",
}
OUTPUT_NAMES = {"prodigy": "tasks.jsonl", "labelstudio": "tasks.json", "brat": "collection"}


def load(path):
    return list(DocBin().from_disk(path).get_docs(spacy.blank("en").vocab))


def entities(doc):
    return {(s.start_char, s.end_char, s.label_) for s in doc.spans[ENTITIES_KEY]}


def relations(doc):
    return {(r.head.start_char, r.head.end_char, r.label, r.tail.start_char, r.tail.end_char) for r in doc._.relations}


def clusters(doc):
    groups = {}
    for span in doc.spans[ENTITIES_KEY]:
        if span.id_:
            groups.setdefault(span.id_, set()).add((span.start_char, span.end_char))
    return sorted(map(sorted, groups.values()))


def as_annotated(path):
    """Label Studio: the annotator submits each prediction unchanged (it becomes the annotation)."""
    tasks = json.loads(path.read_text())
    for i, task in enumerate(tasks):
        task["id"] = i
        task["annotations"] = [{"id": i, "result": task.pop("predictions")[0]["result"]}]
    path.write_text(json.dumps(tasks))


@pytest.mark.parametrize("source", sorted(SAMPLE_PATHS))
@pytest.mark.parametrize("fmt", EXPORTERS)
def test_round_trip_keeps_every_entity_and_relation(tmp_path, source, fmt):
    convert(source, SAMPLE_PATHS[source], tmp_path / "gold.spacy", show_progress=False)
    gold = load(tmp_path / "gold.spacy")
    output = tmp_path / OUTPUT_NAMES[fmt]
    assert export_docs(fmt, gold, output, source="test") == len(gold)
    if fmt == "labelstudio":
        as_annotated(output)
    convert(fmt, output, tmp_path / "back.spacy", show_progress=False)
    back = load(tmp_path / "back.spacy")
    assert [d.text for d in back] == [d.text for d in gold]
    assert [entities(d) for d in back] == [entities(d) for d in gold]
    assert [relations(d) for d in back] == [relations(d) for d in gold]
    if fmt == "brat":  # only brat has clusters (equivalence sets)
        assert [clusters(d) for d in back] == [clusters(d) for d in gold]


@pytest.fixture
def predicted():
    """A Doc as a pipeline leaves it: entities in doc.ents only, scored relations."""
    from spacy.tokens import Span

    from spacy_relext import Relation

    nlp = spacy.blank("en")
    doc = nlp("Ann Lee works for Acme.")
    doc.ents = [Span(doc, 0, 2, label="Peop"), Span(doc, 4, 5, label="Org")]
    doc._.relations = [Relation(head=doc[0:2], tail=doc[4:5], label="Work_For", score=0.75, source="clm")]
    return doc


def test_scores_are_exported(tmp_path, predicted):
    export_docs("prodigy", [predicted], tmp_path / "p.jsonl", source="my_pipeline")
    task = json.loads((tmp_path / "p.jsonl").read_text())
    assert task["relations"][0]["score"] == 0.75 and task["meta"] == {"source": "my_pipeline"} and "answer" not in task
    assert (task["relations"][0]["head"], task["relations"][0]["child"]) == (1, 4)  # last token of each argument
    export_docs("labelstudio", [predicted], tmp_path / "l.json")
    (task,) = json.loads((tmp_path / "l.json").read_text())
    assert [r["score"] for r in task["predictions"][0]["result"] if r["type"] == "relation"] == [0.75]
    export_docs("brat", [predicted], tmp_path / "b")
    assert (tmp_path / "b" / "doc1.ann").read_text().splitlines() == [
        "T1\tPeop 0 7\tAnn Lee",
        "T2\tOrg 18 22\tAcme",
        "R1\tWork_For Arg1:T1 Arg2:T2",
        "#1\tAnnotatorNotes R1\tscore 0.7500",
    ]
    conf = (tmp_path / "b" / "annotation.conf").read_text()
    assert "[entities]\nOrg\nPeop\n" in conf and "Work_For\tArg1:<ENTITY>, Arg2:<ENTITY>" in conf


def test_export_refuses_to_overwrite(tmp_path, predicted):
    export_docs("brat", [predicted], tmp_path / "b")
    with pytest.raises(FileExistsError, match=r"\[E112\]"):
        export_docs("brat", [predicted], tmp_path / "b")
    export_docs("brat", [predicted], tmp_path / "b", overwrite=True)
    with pytest.raises(ValueError, match=r"\[E113\]"):
        export_docs("prodigy", [predicted], tmp_path / "b", overwrite=True)
    with pytest.raises(ValueError, match=r"\[E126\] Unknown export format 'doccano'"):
        export_docs("doccano", [predicted], tmp_path / "d.jsonl")


def test_cli_export_with_a_saved_pipeline(tmp_path, capsys):
    nlp = spacy.blank("en")
    ruler = nlp.add_pipe("entity_ruler")
    ruler.add_patterns([{"label": "Org", "pattern": "Acme"}, {"label": "Loc", "pattern": "Paris"}])
    nlp.to_disk(tmp_path / "pipeline")
    texts = tmp_path / "texts.txt"
    texts.write_text("Acme is based in Paris.\n\nNothing here.\n")
    out = tmp_path / "tasks.jsonl"
    main(["export", "prodigy", str(tmp_path / "pipeline"), str(texts), str(out), "--no-progress"])
    assert "Wrote the predictions for 2 texts" in capsys.readouterr().out
    tasks = [json.loads(line) for line in out.read_text().splitlines()]
    assert [[s["label"] for s in task["spans"]] for task in tasks] == [["Org", "Loc"], []]
    with pytest.raises(SystemExit):
        main(["export", "prodigy", str(tmp_path / "pipeline"), str(texts), str(out), "--no-progress"])
    assert "[E112]" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["export", "prodigy", str(tmp_path / "pipeline"), str(texts), str(texts), "--overwrite"])
    assert "[E110]" in capsys.readouterr().err


def test_cli_export_reads_jsonl_and_reports_bad_input(tmp_path, capsys):
    nlp = spacy.blank("en")
    nlp.to_disk(tmp_path / "pipeline")
    texts = tmp_path / "texts.jsonl"
    texts.write_text(json.dumps({"text": "One."}) + "\n" + json.dumps({"txt": "Two."}) + "\n")
    with pytest.raises(SystemExit):
        main(["export", "labelstudio", str(tmp_path / "pipeline"), str(texts), str(tmp_path / "t.json")])
    err = capsys.readouterr().err
    assert "[E101]" in err and "at line 2" in err and "missing field 'text'" in err
    with pytest.raises(SystemExit):
        main(["export", "labelstudio", str(tmp_path / "pipeline"), str(tmp_path / "no.txt"), str(tmp_path / "t.json")])
    assert "[E127] Cannot read the texts to pre-annotate" in capsys.readouterr().err
