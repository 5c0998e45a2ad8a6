"""Leak-free pre-training data: the overlap check `pretrain-cp` runs before it trains.

Peng et al. (2020, section 4.2) exclude every entity pair of the Wiki80 and FewRel test
sets from their distantly labelled pre-training data. Against the run's `exclude` files
(the fine-tuning and evaluation sets), a pre-training instance is dropped when
- its sentence occurs in one of them (`sentence_key`: lowercased, space-joined words);
- its pair of entity names (lowercased, either order) occurs in one of them;
- it comes from a human-labelled corpus and its relation is one of theirs: an evaluation
  relation may be learned from distant labels only (the paper's Wikidata alignment), so
  human annotation of it never reaches the encoder before fine-tuning does.
Relations are compared by name: `label_names` maps a corpus's labels to names (Re-DocRED
and FewRel use Wikidata ids, Wiki80 their names). What was dropped, from which corpus and
why, is counted with examples (`ExclusionReport`), printed by `pretrain-cp` and saved
with the model.
"""
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, FrozenSet, Iterable, List, Mapping, Optional, Sequence, Set, Tuple, Union

from ..errors import Errors
from .sentence_pairs import SentencePair, doc_pairs, read_docs, sentence_key

PathLike = Union[str, Path]
# Reasons, in the order they are checked (an instance counts under the first that applies)
SENTENCE = "sentence in an excluded file"
NAMES = "entity-name pair in an excluded file"
LABEL = "human-labelled instance of an excluded file's relation"
EXAMPLES_KEPT = 3


def name_pair(pair: SentencePair) -> FrozenSet[str]:
    """The pair's two argument texts, lowercased, unordered."""
    head = " ".join(pair.words[pair.head[0] : pair.head[1]]).lower()
    tail = " ".join(pair.words[pair.tail[0] : pair.tail[1]]).lower()
    return frozenset((head, tail))


def read_label_names(path: Optional[PathLike]) -> Dict[str, str]:
    """Label -> relation name from a JSON object whose values are names or lists that
    start with the name (Re-DocRED's `rel_info.json`, FewRel's `pid2name.json`); E806
    when the file is not such an object."""
    if not path:
        return {}
    try:
        data = json.loads(Path(path).read_text(encoding="utf8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(Errors.E806.format(path=path, problem=str(err))) from None
    names = {}
    for label, value in data.items() if isinstance(data, dict) else []:
        name = value[0] if isinstance(value, list) and value else value
        if not isinstance(name, str):
            raise ValueError(Errors.E806.format(path=path, problem=f"the value of {label!r} is not a name"))
        names[label] = name
    if not names:
        raise ValueError(Errors.E806.format(path=path, problem="not a JSON object of label -> name"))
    return names


@dataclass
class Reference:
    """What the excluded files hold: sentence keys, entity-name pairs, relation names."""

    sentences: Set[str] = field(default_factory=set)
    names: Set[FrozenSet[str]] = field(default_factory=set)
    relations: Set[str] = field(default_factory=set)


def read_reference(paths: Iterable[PathLike], label_names: Mapping[str, str]) -> Reference:
    """The `Reference` of `.spacy` fine-tuning and evaluation files: every sentence (with or
    without a relation), and the names and relations of their relation instances."""
    from ..entities import sentence_starts

    reference = Reference()
    for doc in read_docs(paths):
        starts = sentence_starts(doc)
        for begin, end in zip(starts, starts[1:] + [len(doc)]):
            reference.sentences.add(sentence_key([t.text for t in doc[begin:end]]))
        for pair in doc_pairs(doc):
            reference.names.add(name_pair(pair))
            reference.relations.add(label_names.get(pair.label, pair.label))
    return reference


@dataclass
class ExclusionReport:
    """Per corpus: instances read, kept, and dropped per reason (with a few examples)."""

    read: Dict[str, int] = field(default_factory=dict)
    kept: Dict[str, int] = field(default_factory=dict)
    dropped: Dict[str, Dict[str, int]] = field(default_factory=dict)
    examples: Dict[str, Dict[str, List[str]]] = field(default_factory=dict)

    def drop(self, corpus: str, reason: str, pair: SentencePair) -> None:
        counts = self.dropped.setdefault(corpus, {})
        counts[reason] = counts.get(reason, 0) + 1
        examples = self.examples.setdefault(corpus, {}).setdefault(reason, [])
        if len(examples) < EXAMPLES_KEPT:
            examples.append(f"{pair.label}: {' '.join(pair.words)[:160]}")

    def lines(self) -> List[str]:
        """The report as text, one line per corpus and reason."""
        out = []
        for corpus, read in self.read.items():
            out.append(f"{corpus}: {read} instances, {self.kept.get(corpus, 0)} kept")
            for reason, count in self.dropped.get(corpus, {}).items():
                example = self.examples[corpus][reason][0]
                out.append(f"  dropped {count}: {reason} (e.g. {example!r})")
        return out

    def to_dict(self) -> Dict:
        return {"read": self.read, "kept": self.kept, "dropped": self.dropped, "examples": self.examples}


def exclude_overlap(
    corpora: Sequence[Tuple[str, Sequence[SentencePair]]],
    reference: Reference,
    human_labelled: Iterable[str],
    label_names: Mapping[str, str],
) -> Tuple[List[SentencePair], ExclusionReport]:
    """The instances of each corpus that share nothing with `reference` (see the module).

    corpora (Sequence[Tuple[str, Sequence[SentencePair]]]): (corpus name, its instances).
    reference (Reference): What the excluded files hold.
    human_labelled (Iterable[str]): Names of the corpora whose labels are human annotation.
    label_names (Mapping[str, str]): Label -> relation name, for the relation check.
    RETURNS (Tuple[List[SentencePair], ExclusionReport]): The kept instances, and the report.
    """
    human = set(human_labelled)
    report = ExclusionReport()
    kept: List[SentencePair] = []
    for corpus, pairs in corpora:
        report.read[corpus] = report.read.get(corpus, 0) + len(pairs)
        for pair in pairs:
            if sentence_key(pair.words) in reference.sentences:
                report.drop(corpus, SENTENCE, pair)
            elif name_pair(pair) in reference.names:
                report.drop(corpus, NAMES, pair)
            elif corpus in human and label_names.get(pair.label, pair.label) in reference.relations:
                report.drop(corpus, LABEL, pair)
            else:
                kept.append(pair)
                report.kept[corpus] = report.kept.get(corpus, 0) + 1
    return kept, report
