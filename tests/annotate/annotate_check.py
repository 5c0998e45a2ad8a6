"""Reading an annotate output back, and what a plain `nlp.pipe` loop gives, to compare."""
from pathlib import Path
from typing import Dict, Iterable, List, Tuple

import pyarrow.dataset as pads

Key = Tuple[str, int, int, int, int, str, str]


def read_table(output: Path, table: str) -> List[dict]:
    return pads.dataset(output / table).to_table().to_pylist()


def output_relations(output: Path) -> Dict[Key, float]:
    """{(doc id, head chars, tail chars, label, source): score} of an output."""
    found = {}
    for row in read_table(output, "relations"):
        key = (row["doc_id"], row["head_start_char"], row["head_end_char"], row["tail_start_char"],
               row["tail_end_char"], row["label"], row["source"])
        assert key not in found, f"relation written twice: {key}"
        found[key] = row["score"]
    return found


def loop_relations(nlp, docs: Iterable[Tuple[str, str]], batch_size: int = 64) -> Dict[Key, float]:
    """The same, from `doc._.relations` of a plain nlp.pipe loop over (id, text) pairs."""
    docs = list(docs)
    found = {}
    for (doc_id, _), doc in zip(docs, nlp.pipe((text for _, text in docs), batch_size=batch_size)):
        for rel in doc._.relations:
            key = (doc_id, rel.head.start_char, rel.head.end_char, rel.tail.start_char, rel.tail.end_char,
                   rel.label, rel.source)
            found[key] = rel.score
    return found


def assert_same_relations(found: Dict[Key, float], expected: Dict[Key, float]) -> None:
    assert expected, "the reference found no relation: the comparison would prove nothing"
    assert sorted(found) == sorted(expected)
    assert all(abs(found[key] - expected[key]) < 1e-5 for key in expected)


def document_ids(output: Path) -> List[str]:
    return [row["doc_id"] for row in read_table(output, "documents")]
