"""`debug-data`: check converted relation data before training, in the spirit of `spacy debug data`.

`debug_data(train, dev, config=...)` reads `.spacy` files and returns a `DataReport`:
label counts per split, and coded findings. Errors (E121-E125) are data no component
can learn from as it stands: labels of dev absent from train, relation arguments that
are not entity mentions, no gold pair the candidate generator ever proposes. Warnings
(W050-W055) are data that trains but loses relations or hints at a setting: relations
crossing sentences, gold pairs never proposed, overlapping arguments, nested arguments
left out of `doc.ents`, labels that look symmetric, and a heavy class imbalance.

Candidates come from every `[components.*.candidates]` block of the config (with that
component's `spans_key`), else from `spacy-relext.entity_pairs.v2` with its defaults on
`doc.ents`: the pairs a component scores, so a gold pair it never proposes is a
guaranteed miss.
"""
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Set, Tuple, Union

from spacy.tokens import Doc, DocBin
from spacy.util import load_config, registry
from spacy.vocab import Vocab

from .candidates import PairGenerator, make_entity_pairs_v2
from .entities import ENTITY_GROUP, get_entities, sentence_index, sentence_starts
from .errors import Errors, Warnings
from .relations import Relation, install_extensions

PathLike = Union[str, Path]
Pair = Tuple[int, int, int, int]
DEFAULT_CANDIDATES = "spacy-relext.entity_pairs.v2"
# A label looks symmetric when both directions are annotated for at least this share
# of its pairs (over at least `SYMMETRIC_MIN_PAIRS` pairs).
SYMMETRIC_SHARE = 0.5
SYMMETRIC_MIN_PAIRS = 4
# Negatives per positive candidate pair above which W055 suggests narrowing the candidates.
IMBALANCE_RATIO = 50


@dataclass
class CandidateSource:
    """Where a component reads its candidate pairs from."""

    name: str
    generator: PairGenerator
    spans_key: Optional[str]
    settings: str


@dataclass
class PairCounts:
    """The candidate pairs of one source over one split."""

    proposed: int = 0
    positive: int = 0
    gold_pairs: int = 0
    never_proposed: int = 0
    not_entities: int = 0
    only_in_group: int = 0
    examples: Dict[str, str] = field(default_factory=dict)


@dataclass
class SplitCheck:
    """What one `.spacy` file holds."""

    name: str
    path: Path
    docs: int = 0
    labels: Counter = field(default_factory=Counter)
    crossing: int = 0
    overlapping: int = 0
    pairs: Dict[str, PairCounts] = field(default_factory=dict)
    examples: Dict[str, str] = field(default_factory=dict)
    # label -> (share of its pairs annotated in both directions, number of pairs)
    shares: Dict[str, Tuple[float, int]] = field(default_factory=dict)


@dataclass
class DataReport:
    """Counts per split, and the coded errors and warnings found."""

    splits: List[SplitCheck]
    sources: List[CandidateSource]
    errors: List[str] = field(default_factory=list)
    warnings: List[str] = field(default_factory=list)

    def format(self) -> str:
        """A readable report (the CLI prints it)."""
        lines = ["Data: " + ", ".join(f"{s.name} {s.path} ({s.docs} docs)" for s in self.splits)]
        lines += [f"Candidates of {src.name}: {src.settings}; mentions from "
                  f"{'doc.ents' if src.spans_key is None else repr(src.spans_key) + ' span group'}"
                  for src in self.sources]
        labels = sorted(set().union(*(s.labels for s in self.splits)))
        width = max([len(label) for label in labels] + [5])
        lines.append(f"{'label':<{width}}  " + "  ".join(f"{s.name:>7}" for s in self.splits))
        for label in labels:
            lines.append(f"{label:<{width}}  " + "  ".join(f"{s.labels[label]:>7}" for s in self.splits))
        for split in self.splits:
            for name, counts in split.pairs.items():
                negatives = counts.proposed - counts.positive
                ratio = f"{negatives / counts.positive:.1f}" if counts.positive else "-"
                lines.append(f"Candidate pairs of {name} in {split.name}: {counts.proposed} proposed, "
                             f"{counts.positive} with a gold relation, {negatives} negatives ({ratio} per positive)")
        lines += [f"Warning: {message}" for message in self.warnings]
        lines += [f"Error: {message}" for message in self.errors]
        lines.append(f"{len(self.errors)} error(s), {len(self.warnings)} warning(s)")
        return "\n".join(lines)


def debug_data(
    train: PathLike, dev: Optional[PathLike] = None, *, config: Optional[PathLike] = None
) -> DataReport:
    """Check training (and dev) data for relation extraction.

    train (Path): A `.spacy` file with gold `doc._.relations`.
    dev (Optional[Path]): The dev `.spacy` file.
    config (Optional[Path]): A training config: its `[components.*.candidates]` blocks
        (and `spans_key`) give the candidate pairs checked.
    RETURNS (DataReport): Counts and findings; `report.errors` empty when training can start.
    """
    install_extensions()
    sources = candidate_sources(config)
    paths = [("train", Path(train))] + ([("dev", Path(dev))] if dev is not None else [])
    splits = [check_split(name, path, read_docbin(path), sources) for name, path in paths]
    report = DataReport(splits=splits, sources=sources)
    for split in splits:
        add_split_findings(report, split)
    train_check = splits[0]
    if not train_check.labels:
        report.errors.append(Errors.E124.format(path=train_check.path))
    if len(splits) > 1:
        missing = sorted(set(splits[1].labels) - set(train_check.labels))
        if missing:
            counts = ", ".join(f"{label} ({splits[1].labels[label]})" for label in missing)
            report.errors.append(Errors.E123.format(labels=counts))
    return report


def read_docbin(path: Path) -> List[Doc]:
    """The Docs of a `.spacy` file; E125 when it is missing or not a DocBin."""
    if not path.is_file():
        raise FileNotFoundError(Errors.E125.format(path=path, reason="not found"))
    try:
        return list(DocBin().from_disk(path).get_docs(Vocab()))
    except (ValueError, KeyError, TypeError) as e:  # srsly/msgpack on a file of another kind
        raise ValueError(Errors.E125.format(path=path, reason=f"not a DocBin ({type(e).__name__})")) from None


def candidate_sources(config: Optional[PathLike]) -> List[CandidateSource]:
    """The candidate generator and `spans_key` of each component of `config` with a
    `candidates` block; the default generator on `doc.ents` when there is none."""
    sources = []
    if config is not None:
        cfg = load_config(Path(config), interpolate=True)
        for name, component in cfg.get("components", {}).items():
            if isinstance(component, dict) and "candidates" in component:
                block = dict(component["candidates"])
                generator = registry.resolve({"candidates": block})["candidates"]
                settings = ", ".join(f"{key} = {value!r}" for key, value in block.items())
                sources.append(CandidateSource(f"component '{name}'", generator, component.get("spans_key"), settings))
    if not sources:
        settings = f"{DEFAULT_CANDIDATES} (defaults)"
        sources.append(CandidateSource("the default generator", make_entity_pairs_v2(), None, settings))
    return sources


def check_split(name: str, path: Path, docs: Sequence[Doc], sources: Sequence[CandidateSource]) -> SplitCheck:
    """Count what the Docs of one split hold and what each candidate source makes of them."""
    split = SplitCheck(name=name, path=path, docs=len(docs))
    split.pairs = {source.name: PairCounts() for source in sources}
    for doc in docs:
        relations = doc._.relations
        split.labels.update(rel.label for rel in relations)
        starts = sentence_starts(doc)
        for rel in relations:
            if sentence_index(starts, rel.head.start) != sentence_index(starts, rel.tail.start):
                split.crossing += 1
                split.examples.setdefault("crossing", describe(rel))
            if rel.head.start < rel.tail.end and rel.tail.start < rel.head.end:
                split.overlapping += 1
                split.examples.setdefault("overlapping", describe(rel))
        for source in sources:
            count_pairs(doc, relations, source, split.pairs[source.name])
    split.shares = direction_shares(docs)
    return split


def count_pairs(doc: Doc, relations: List[Relation], source: CandidateSource, counts: PairCounts) -> None:
    """Add one Doc's candidate pairs and gold pairs to `counts`."""
    try:
        mentions = {(m.start, m.end) for m in get_entities(doc, source.spans_key)}
    except ValueError:  # the span group is missing (E300): no argument is a mention
        mentions = set()
    group = {(m.start, m.end) for m in doc.spans.get(ENTITY_GROUP, [])}
    gold: Dict[Pair, Relation] = {}
    for rel in relations:
        arguments = [(span.start, span.end) for span in (rel.head, rel.tail)]
        if all(arg in mentions for arg in arguments):
            gold.setdefault((*arguments[0], *arguments[1]), rel)
        elif source.spans_key is None and all(arg in mentions or arg in group for arg in arguments):
            counts.only_in_group += 1
            counts.examples.setdefault("only_in_group", describe(rel))
        else:
            counts.not_entities += 1
            counts.examples.setdefault("not_entities", describe(rel))
    proposed = {(h.start, h.end, t.start, t.end) for h, t in source.generator(doc, source.spans_key)}
    counts.proposed += len(proposed)
    counts.positive += len(proposed & set(gold))
    counts.gold_pairs += len(gold)
    for pair, rel in gold.items():
        if pair not in proposed:
            counts.never_proposed += 1
            counts.examples.setdefault("never_proposed", describe(rel))


def add_split_findings(report: DataReport, split: SplitCheck) -> None:
    """The errors and warnings of one split."""
    n_relations = sum(split.labels.values())
    if split.crossing:
        report.warnings.append(Warnings.W050.format(split=split.name, count=split.crossing, total=n_relations,
                                                    example=split.examples["crossing"]))
    if split.overlapping:
        report.warnings.append(Warnings.W052.format(split=split.name, count=split.overlapping,
                                                    example=split.examples["overlapping"]))
    for name, counts in split.pairs.items():
        if counts.not_entities:
            report.errors.append(Errors.E121.format(split=split.name, count=counts.not_entities, name=name,
                                                    example=counts.examples["not_entities"]))
        if counts.only_in_group:
            report.warnings.append(Warnings.W053.format(split=split.name, count=counts.only_in_group, name=name,
                                                        key=ENTITY_GROUP, example=counts.examples["only_in_group"]))
        if counts.gold_pairs and counts.never_proposed == counts.gold_pairs:
            report.errors.append(Errors.E122.format(split=split.name, name=name, count=counts.gold_pairs,
                                                    example=counts.examples["never_proposed"]))
        elif counts.never_proposed:
            report.warnings.append(Warnings.W051.format(split=split.name, name=name, count=counts.never_proposed,
                                                        total=counts.gold_pairs,
                                                        example=counts.examples["never_proposed"]))
        negatives = counts.proposed - counts.positive
        if counts.positive and negatives > IMBALANCE_RATIO * counts.positive:
            report.warnings.append(Warnings.W055.format(split=split.name, name=name, negatives=negatives,
                                                        positives=counts.positive, ratio=IMBALANCE_RATIO))
    if split.name == "train":
        for label, share, n_pairs in symmetric_labels(split):
            report.warnings.append(Warnings.W054.format(label=label, share=round(100 * share), count=n_pairs))


def symmetric_labels(split: SplitCheck) -> List[Tuple[str, float, int]]:
    """Labels annotated in both directions for most of their pairs: (label, share, pairs)."""
    return [(label, share, n) for label, (share, n) in sorted(split.shares.items())
            if n >= SYMMETRIC_MIN_PAIRS and share >= SYMMETRIC_SHARE]


def describe(rel: Relation) -> str:
    """A relation, to name it in a message."""
    doc = rel.doc.text
    start = max(0, min(rel.head.start_char, rel.tail.start_char) - 20)
    context = doc[start:start + 80].replace("\n", " ")
    return f"{rel.head.text!r} -{rel.label}-> {rel.tail.text!r} in {context!r}"


def direction_shares(docs: Sequence[Doc]) -> Dict[str, Tuple[float, int]]:
    """Per label: the share of its (head, tail) pairs whose reverse has the label too, and
    the number of pairs."""
    pairs: Dict[str, Set[Tuple[int, Pair]]] = {}
    for i, doc in enumerate(docs):
        for rel in doc._.relations:
            pairs.setdefault(rel.label, set()).add((i, (rel.head.start, rel.head.end, rel.tail.start, rel.tail.end)))
    shares = {}
    for label, found in pairs.items():
        reversed_too = sum(1 for i, (hs, he, ts, te) in found if (i, (ts, te, hs, he)) in found)
        shares[label] = (reversed_too / len(found), len(found))
    return shares
