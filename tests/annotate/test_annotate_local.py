"""`annotate` with the local engine: end to end against a plain nlp.pipe loop, every input
format, the relation record in full, and the command line."""
import json
from collections import Counter

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from spacy.tokens import DocBin

from annotate_check import (assert_same_relations, document_ids, loop_relations, output_relations, read_table)
from annotate_data import records, sentence, write_jsonl
from spacy_relext import Relation
from spacy_relext.annotate import annotate
from spacy_relext.annotate.rows import relation_rows
from spacy_relext.cli import main

pytestmark = pytest.mark.usefixtures("torch_single_thread")
N_DOCS = 300


@pytest.mark.parametrize("n_process", [1, 2])
def test_local_engine_matches_a_plain_nlp_pipe_loop(tmp_path, pipeline_dir, nlp, n_process):
    rows = records(N_DOCS)
    corpus = write_jsonl(tmp_path / "corpus.jsonl", rows)
    done = []
    summary = annotate(str(pipeline_dir), corpus, tmp_path / "out", partition_size=64, n_process=n_process,
                       on_partition=done.append)
    assert sorted(p.name for p in done) == [f"corpus.jsonl-{start:09d}" for start in (0, 64, 128, 192, 256)]
    assert Counter(document_ids(tmp_path / "out")) == Counter(row["id"] for row in rows)
    assert_same_relations(output_relations(tmp_path / "out"), loop_relations(nlp, ((r["id"], r["text"]) for r in rows)))
    check = summary.check
    assert (check.documents, check.errors, check.partitions) == (N_DOCS, 0, 5) and check.exactly_once
    assert check.relations == len(read_table(tmp_path / "out", "relations"))


def test_rows_hold_offsets_counts_and_metadata(tmp_path, pipeline_dir):
    rows = records(20)
    annotate(str(pipeline_dir), write_jsonl(tmp_path / "corpus.jsonl", rows), tmp_path / "out")
    texts = {row["id"]: row["text"] for row in rows}
    relations = read_table(tmp_path / "out", "relations")
    assert relations
    for rel in relations:
        text = texts[rel["doc_id"]]
        assert text[rel["head_start_char"] : rel["head_end_char"]] == rel["head_text"]
        assert text[rel["tail_start_char"] : rel["tail_end_char"]] == rel["tail_text"]
        assert rel["head_label"] and rel["source"] == "clm_classifier" and 0.0 <= rel["score"] <= 1.0
    documents = {row["doc_id"]: row for row in read_table(tmp_path / "out", "documents")}
    per_doc = Counter(rel["doc_id"] for rel in relations)
    for row in rows:
        document = documents[row["id"]]
        assert document["n_relations"] == per_doc[row["id"]]
        assert document["n_chars"] == len(row["text"])
        assert document["n_entities"] == (2 if " lives in " in row["text"] else 3)
        assert json.loads(document["meta"]) == {"source": "test", "n": row["n"]}
        assert document["record"] == f"corpus.jsonl:{row['n'] + 1}"


def test_relation_rows_keep_rationale_and_rules(nlp):
    doc = nlp.make_doc("Alice works for Acme in Paris .")
    doc._.relations = [Relation(head=doc[0:1], tail=doc[3:4], label="Work_For", score=0.75, source="logic",
                                rationale=(doc[1:3], doc[4:6]), rules=("Work_For(x, y) <- Located_In(y, z)",))]
    (row,) = relation_rows(doc, "d1")
    assert row["rationale"] == [{"start_char": 6, "end_char": 15, "start": 1, "end": 3, "text": "works for"},
                                {"start_char": 21, "end_char": 29, "start": 4, "end": 6, "text": "in Paris"}]
    assert (row["rules"], row["source"], row["score"], row["index"]) == (["Work_For(x, y) <- Located_In(y, z)"],
                                                                          "logic", 0.75, 0)
    from spacy_relext.annotate.rows import schemas

    table = pa.Table.from_pylist([row], schema=schemas()["relations"])  # the written schema takes the row as is
    assert table.to_pylist() == [row]


def write_formats(tmp_path, nlp, n):
    """The same n documents as JSONL, Parquet (two row groups), .txt files and a DocBin."""
    rows = records(n)
    jsonl = write_jsonl(tmp_path / "jsonl" / "part.jsonl", rows) if (tmp_path / "jsonl").mkdir() is None else None
    (tmp_path / "parquet").mkdir()
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "parquet" / "part.parquet", row_group_size=n // 2 + 1)
    texts = tmp_path / "txt"
    for row in rows:
        (texts / "sub").mkdir(parents=True, exist_ok=True)
        (texts / "sub" / f"{row['id']}.txt").write_text(row["text"], encoding="utf8")
    docs = []
    for row in rows:
        doc = nlp.make_doc(row["text"])
        doc.user_data["id"] = row["id"]
        docs.append(doc)
    (tmp_path / "spacy").mkdir()
    DocBin(docs=docs, store_user_data=True).to_disk(tmp_path / "spacy" / "part.spacy")
    return rows, {"jsonl": jsonl, "parquet": tmp_path / "parquet", "txt": texts, "spacy": tmp_path / "spacy"}


def test_every_input_format_gives_the_same_relations(tmp_path, pipeline_dir, nlp):
    rows, inputs = write_formats(tmp_path, nlp, 30)
    expected = loop_relations(nlp, ((r["id"], r["text"]) for r in rows))
    ids = {"txt": lambda row: f"sub/{row['id']}.txt"}
    for fmt, path in inputs.items():
        summary = annotate(str(pipeline_dir), path, tmp_path / f"out_{fmt}", partition_size=7)
        assert summary.check.exactly_once and summary.check.documents == 30, fmt
        rename = ids.get(fmt, lambda row: row["id"])
        assert sorted(document_ids(tmp_path / f"out_{fmt}")) == sorted(rename(row) for row in rows), fmt
        found = output_relations(tmp_path / f"out_{fmt}")
        by_text = {rename(row): row["id"] for row in rows}
        assert_same_relations({(by_text[k[0]], *k[1:]): v for k, v in found.items()}, expected)
    parquet_parts = sorted(p.name for p in (tmp_path / "out_parquet" / "documents").iterdir())
    # partitions never cross the two row groups (16 rows, then 14)
    assert parquet_parts == [f"part.parquet-{s:09d}.parquet" for s in (0, 7, 14, 16, 23)]


def test_docbins_hold_the_annotated_docs(tmp_path, pipeline_dir, nlp):
    rows = records(12)
    annotate(str(pipeline_dir), write_jsonl(tmp_path / "c.jsonl", rows), tmp_path / "out", docbins=True,
             partition_size=5)
    docs = [doc for part in sorted((tmp_path / "out" / "docs").glob("*.spacy"))
            for doc in DocBin().from_disk(part).get_docs(nlp.vocab)]
    assert [doc.user_data["id"] for doc in docs] == [row["id"] for row in rows]
    written = {(doc.user_data["id"], rel.head.start_char, rel.head.end_char, rel.tail.start_char, rel.tail.end_char,
                rel.label, rel.source): rel.score for doc in docs for rel in doc._.relations}
    assert_same_relations(written, output_relations(tmp_path / "out"))


def test_duplicate_ids_are_kept_and_warned(tmp_path, pipeline_dir):
    rows = records(6)
    rows[4]["id"] = rows[1]["id"]
    with pytest.warns(UserWarning, match=r"\[W072\] 1 document ids occur more than once .*'doc-1' \(2 times\)"):
        summary = annotate(str(pipeline_dir), write_jsonl(tmp_path / "c.jsonl", rows), tmp_path / "out")
    assert summary.check.exactly_once and summary.check.repeated_ids == {"doc-1": 2}
    documents = read_table(tmp_path / "out", "documents")
    assert sorted(d["record"] for d in documents if d["doc_id"] == "doc-1") == ["c.jsonl:2", "c.jsonl:5"]


def test_cli_annotates_and_reports(tmp_path, pipeline_dir, capsys):
    corpus = write_jsonl(tmp_path / "c.jsonl", records(10) + [{"id": "empty", "text": "  "}])
    main(["annotate", str(pipeline_dir), str(corpus), str(tmp_path / "out"), "--no-progress", "--partition-size", "4"])
    out = capsys.readouterr().out
    assert "10 documents annotated" in out and "1 bad records, in 3 partitions" in out
    assert "Exactly once: each of the 11 input records is in one row" in out
    assert "(3 annotated by this run with the local engine, 0 finished before)" in out
    with pytest.raises(SystemExit):
        main(["annotate", str(pipeline_dir), str(corpus), str(tmp_path / "out"), "--partition-size", "5"])
    assert "[E138]" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["annotate", str(pipeline_dir), str(corpus), str(tmp_path / "x"), "--batch-size", "0"])
    assert "[E147] Invalid annotate options: batch_size = 0" in capsys.readouterr().err
    assert sentence(0) in corpus.read_text()
