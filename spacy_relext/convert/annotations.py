"""Exports of annotation tools: Prodigy, brat, Label Studio and doccano.

Each tool names its entities by an id of its own and its relations by a pair of those
ids; the converters read them into a table `{tool id: Span}` and then check every
relation against it (`annotated_doc`), so a relation to an entity the record does not
define is an error naming the relation, never a silent drop.

What all four share, as the research converters do:
- the text is tokenised by spaCy's English tokenizer (Prodigy: by its own `tokens`
  when given) and split into sentences by the sentencizer plus a break at each line
  break (`split_sentences`), so document-level exports keep their sentences;
- character offsets not on token boundaries are widened to the tokens they touch and
  counted in the summary (`EXPANDED`);
- every mention goes to `doc.spans["entities"]`, the non-overlapping ones to `doc.ents`;
- entity clusters (brat's `*` equivalence sets) are the span `id_` of their mentions.
"""

from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

from spacy.language import Language
from spacy.tokens import Doc, Span

from ..errors import Errors
from ..relations import Relation
from .common import (
    DUPLICATE_RELATION,
    NO_TYPE,
    ConversionSummary,
    DocStream,
    Record,
    char_span,
    check,
    field,
    json_array,
    json_lines,
    read_text,
    set_entities,
    show,
    split_sentences,
    text_doc,
    token_span,
    unique,
)

# (head id, tail id, label, how a message names the relation)
RelationRow = Tuple[Any, Any, str, str]

# Skip reasons (the summary counts them by these strings).
DUPLICATE_ENTITY = "duplicate entity mention (same offsets, type and cluster): stored once"
ARG_ADDED = "relation argument not annotated as entity (added as an entity with its own type)"
PRODIGY_NO_ANSWER = "Prodigy task without 'answer' (kept: read as a pre-annotated task)"
BRAT_DISCONTINUOUS = "brat discontinuous entity: kept as one span from its first to its last fragment"
BRAT_EVENT_ARGUMENT = "brat relation with an event (E) argument (events are skipped)"
BRAT_TRIGGER = "brat event trigger (T line of an event, in no relation): skipped with its event"
# fmt: off
BRAT_SKIPPED = {
    "E": "brat event (E line): events are not binary relations, skipped",
    "A": "brat attribute (A line): attributes are not kept, skipped",
    "M": "brat modification (M line, old name of attributes): not kept, skipped",
    "N": "brat normalization (N line): knowledge-base links are not kept, skipped",
    "#": "brat annotator note (# line): skipped",
}
# fmt: on
LS_NO_ANNOTATION = "Label Studio task without a completed, non-cancelled annotation (predictions are not gold)"
LS_CANCELLED = "Label Studio cancelled annotation (skipped)"
LS_OLDER = "Label Studio annotation replaced by a more recent one of the same task"
LS_UNLABELLED_RELATION = "Label Studio relation without a label (skipped)"
LS_EXTRA_LABELS = "Label Studio region with several labels (the first is the span label)"
LS_DIRECTIONS = ("right", "left", "bi")


def sentences(doc: Doc) -> Doc:
    """The sentences of a document: as DWIE's, with no whitespace-only sentence."""
    return split_sentences(doc, spaces_end_sentences=True)


def annotated_doc(
    doc: Doc, mentions: Dict[Any, Span], relations: Iterable[RelationRow], summary: ConversionSummary
) -> Doc:
    """Write the mentions and the relations between them onto `doc`.

    mentions (Dict[Any, Span]): The tool's entity id -> mention.
    relations (Iterable[RelationRow]): (head id, tail id, label, name of the relation).
    RETURNS (Doc): `doc`, with entities, span group and `doc._.relations` set.
    """
    set_entities(doc, unique(mentions.values(), summary, DUPLICATE_ENTITY, key=_span_key))
    rows = []
    for head, tail, label, what in relations:
        check(label, "string", f"the label of {what}")
        if not label.strip():
            raise ValueError(f"the label of {what} is empty")
        for arg in (head, tail):
            if arg not in mentions:
                raise ValueError(f"{what} refers to entity id {arg!r}, which the record does not define")
        rows.append((mentions[head], mentions[tail], label))
    def identity(row: Tuple[Span, Span, str]) -> Tuple[Any, ...]:
        return (_span_key(row[0]), _span_key(row[1]), row[2])

    doc._.relations = [
        Relation(head=head, tail=tail, label=label)
        for head, tail, label in unique(rows, summary, DUPLICATE_RELATION, key=identity)
    ]
    return doc


def _span_key(span: Span) -> Tuple[int, int, str, str]:
    return (span.start, span.end, span.label_, span.id_)


def define(mentions: Dict[Any, Span], entity_id: Any, span: Span, what: str) -> None:
    """Add an entity to the table; an id defined twice is an error."""
    if entity_id in mentions:
        raise ValueError(f"{what}: entity id {entity_id!r} is defined twice")
    mentions[entity_id] = span


def check_text(doc: Doc, fragments: Sequence[Tuple[int, int]], given: Any, what: str) -> None:
    """An annotation's own copy of its text must match the document at its offsets
    (fragments joined by a space, as brat writes them; whitespace runs compared as one
    space): otherwise the offsets belong to another version of the text."""
    if given is None:
        return
    for start, end in fragments:
        if not 0 <= start < end <= len(doc.text):
            raise ValueError(f"{what}: character span {start}:{end} is outside the text (length {len(doc.text)})")
    found = " ".join(doc.text[start:end] for start, end in fragments)
    if not isinstance(given, str) or given.split() != found.split():
        where = ";".join(f"{start}:{end}" for start, end in fragments)
        raise ValueError(f"{what}: its text {show(given)} is not the text at characters {where} ({show(found)})")


# --- Prodigy ---------------------------------------------------------------------------


def prodigy(path: Path, nlp: Language, summary: ConversionSummary) -> DocStream:
    """Prodigy `rel.manual` (and other `rel.*` recipes) JSONL, as `prodigy db-out` writes it.

    Only tasks answered `accept` are converted; `reject` and `ignore` are counted. Tokens
    come from the task's `tokens` (text and `ws`), so token indices are Prodigy's own.
    Spans use `token_start`/`token_end` (inclusive) when tokens are given, else their
    character offsets. A relation's arguments are `head_span`/`child_span`; without them,
    `head`/`child` name the last token of a span (Prodigy's convention). An argument that
    is not among the `spans` is added as an entity and counted.
    """

    def to_doc(record: Record) -> Optional[Doc]:
        data = record.data
        answer = field(data, "answer", "string", default=None)
        if answer is None:
            summary.skip(PRODIGY_NO_ANSWER)
        elif answer != "accept":
            summary.skip(f"Prodigy answer {answer!r} (only 'accept' is converted)")
            return None
        text = field(data, "text", "string")
        tokens = field(data, "tokens", "array", default=None)
        doc = sentences(_prodigy_doc(nlp, text, tokens))
        mentions: Dict[Any, Span] = {}
        for i, span in enumerate(field(data, "spans", "array", default=[])):
            mention = _prodigy_span(doc, span, tokens is not None, f"item {i} of field 'spans'", summary)
            mentions.setdefault((mention.start, mention.end), mention)
        rows = []
        for i, rel in enumerate(field(data, "relations", "array", default=[])):
            what = f"item {i} of field 'relations'"
            head, tail = (
                _prodigy_argument(doc, rel, key, mentions, tokens is not None, what, summary)
                for key in ("head", "child")
            )
            rows.append((head, tail, field(rel, "label", "string", what=what), what))
        return annotated_doc(doc, mentions, rows, summary)

    return DocStream(json_lines(path), to_doc)


def _prodigy_doc(nlp: Language, text: str, tokens: Optional[List[Any]]) -> Doc:
    if tokens is None:
        return text_doc(nlp, text)
    words, spaces = [], []
    for i, token in enumerate(tokens):
        words.append(field(token, "text", "string", what=f"token {i}"))
        ws = token.get("ws", True)
        if not isinstance(ws, bool):
            raise ValueError(f"field 'ws' of token {i} must be true or false, got {show(ws)}")
        spaces.append(ws)
    if not words:
        raise ValueError("the record has no tokens")
    doc = Doc(nlp.vocab, words=words, spaces=spaces)
    if doc.text != text:
        raise ValueError(f"the tokens (with their 'ws') do not spell the text: {show(doc.text)} != {show(text)}")
    return doc


def _prodigy_span(doc: Doc, span: Any, by_tokens: bool, what: str, summary: ConversionSummary) -> Span:
    label = field(span, "label", "string", what=what, default=NO_TYPE)
    if by_tokens and "token_start" in span:
        start = field(span, "token_start", "integer", what=what)
        end = field(span, "token_end", "integer", what=what)
        return token_span(doc, start, end + 1, label)
    start, end = (field(span, key, "integer", what=what) for key in ("start", "end"))
    return char_span(doc, start, end, summary, label)


def _prodigy_argument(
    doc: Doc,
    rel: Any,
    key: str,
    mentions: Dict[Any, Span],
    by_tokens: bool,
    what: str,
    summary: ConversionSummary,
) -> Tuple[int, int]:
    """The (start, end) key of a relation argument in `mentions`, added when absent."""
    if field(rel, f"{key}_span", "object", what=what, default=None) is not None:
        span = _prodigy_span(doc, rel[f"{key}_span"], by_tokens, f"field '{key}_span' of {what}", summary)
    else:
        last = field(rel, key, "integer", what=what)
        if not 0 <= last < len(doc):
            raise ValueError(f"field {key!r} of {what} is token {last}, outside the {len(doc)} tokens")
        ending = [m for m in mentions.values() if m.end - 1 == last]
        span = ending[0] if ending else token_span(doc, last, last + 1)
    if (span.start, span.end) not in mentions:
        summary.skip(ARG_ADDED)
        mentions[(span.start, span.end)] = span
    return (span.start, span.end)


# --- brat --------------------------------------------------------------------------------


def brat_files(path: Path) -> List[Path]:
    """The `.ann` files `brat` reads from `path` (a directory, searched recursively, or one file)."""
    return sorted(path.rglob("*.ann")) if path.is_dir() else [path]


def brat(path: Path, nlp: Language, summary: ConversionSummary) -> DocStream:
    """brat standoff: a directory of `.ann` files, each beside its `.txt` (or one `.ann` file).

    `T` lines are entities (offsets in characters of the `.txt`); a discontinuous entity
    (`start end;start end`) becomes one span from its first to its last fragment, counted.
    `R` lines are relations, `Arg1` -> `Arg2` (the first two arguments, whatever their
    role names). `*` equivalence sets make the cluster of their mentions: their span `id_`
    is the first entity id of the set (sets sharing an entity are merged). `E`, `A`/`M`,
    `N` and `#` lines are counted and skipped with the reason; the trigger of an event
    (a `T` line) is skipped with it unless a relation uses it.
    """
    files = brat_files(path)
    if not files:
        raise FileNotFoundError(Errors.E120.format(path=path))

    def to_doc(record: Record) -> Doc:
        txt = record.path.with_suffix(".txt")
        if not txt.exists():
            raise ValueError(f"no text file {txt.name} beside it")
        doc = sentences(text_doc(nlp, read_text(txt)))
        entities: Dict[str, Tuple[str, List[Tuple[int, int]], Optional[str], str]] = {}
        relations: List[RelationRow] = []
        equivalences: List[Tuple[List[str], str]] = []
        triggers = set()
        for n, line in enumerate(read_text(record.path, allow_empty=True).splitlines(), start=1):
            if not line.strip():
                continue
            ann_id, _, rest = line.partition("\t")
            where = f"line {n} ({ann_id})"
            kind = ann_id[:1]
            if kind == "T":
                if ann_id in entities:
                    raise ValueError(f"{where}: entity id {ann_id!r} is defined twice")
                entities[ann_id] = (*_brat_entity(rest, where), where)
            elif kind == "R":
                relation = _brat_relation(rest, where)
                if any(arg.startswith("E") for arg in relation[:2]):
                    summary.skip(BRAT_EVENT_ARGUMENT)
                else:
                    relations.append(relation)
            elif kind == "*":
                equivalences.append((rest.split()[1:], where))
            elif kind in BRAT_SKIPPED:
                summary.skip(BRAT_SKIPPED[kind])
                if kind == "E":  # "E1<TAB>Type:T9 Role:T1": T9 is the trigger
                    triggers.add(rest.split()[0].partition(":")[2] if rest.split() else "")
            else:
                raise ValueError(f"{where}: not a brat standoff annotation (T, R, E, A, M, N, * or # line)")
        clusters = _brat_clusters(equivalences, entities)
        used = {arg for relation in relations for arg in relation[:2]} | set(clusters)
        mentions = {}
        for ann_id, (label, fragments, given, where) in entities.items():
            if ann_id in triggers and ann_id not in used:
                summary.skip(BRAT_TRIGGER)
                continue
            check_text(doc, fragments, given, where)
            if len(fragments) > 1:
                summary.skip(BRAT_DISCONTINUOUS)
            start, end = fragments[0][0], fragments[-1][1]
            mentions[ann_id] = char_span(doc, start, end, summary, label, clusters.get(ann_id, ""))
        return annotated_doc(doc, mentions, relations, summary)

    return DocStream([Record(file, file.stem, None) for file in files], to_doc)


def _brat_entity(rest: str, where: str) -> Tuple[str, List[Tuple[int, int]], Optional[str]]:
    """(type, [(start, end) of each fragment], text) of a `T` line after its id."""
    middle, has_text, given = rest.partition("\t")
    label, _, offsets = middle.partition(" ")
    fragments = []
    for fragment in offsets.split(";"):
        parts = fragment.split()
        if len(parts) != 2 or not all(part.isdigit() for part in parts):
            raise ValueError(f"{where}: expected 'Type start end' (fragments joined by ';'), got {show(middle)}")
        fragments.append((int(parts[0]), int(parts[1])))
    fragments.sort()
    return label, fragments, given if has_text else None


def _brat_relation(rest: str, where: str) -> RelationRow:
    parts = rest.split("\t")[0].split()
    args = [part.partition(":") for part in parts[1:]]
    if len(parts) < 3 or any(not sep or not value for _, sep, value in args):
        raise ValueError(f"{where}: expected 'Label Arg1:T1 Arg2:T2', got {show(rest)}")
    return (args[0][2], args[1][2], parts[0], where)


def _brat_clusters(equivalences: Sequence[Tuple[List[str], str]], entities: Dict[str, Any]) -> Dict[str, str]:
    """Entity id -> cluster id (the first id of its set; sets sharing an entity merged)."""
    cluster: Dict[str, str] = {}
    for members, where in equivalences:
        for member in members:
            if member not in entities:
                raise ValueError(f"{where}: equivalence refers to entity id {member!r}, which the file does not define")
        existing = [cluster[member] for member in members if member in cluster]
        name = existing[0] if existing else members[0] if members else ""
        for ann_id, old in cluster.items():
            if old in existing:
                cluster[ann_id] = name
        cluster.update((member, name) for member in members)
    return cluster


# --- Label Studio ------------------------------------------------------------------------


def labelstudio(path: Path, nlp: Language, summary: ConversionSummary) -> DocStream:
    """Label Studio JSON export (a list of tasks), from a labelling config with `<Labels>`
    on a `<Text>` and `<Relations>`.

    The text is the task's `data.text`, or its only string value. Of several annotations
    of a task, the most recent non-cancelled one wins (`updated_at`, else `created_at`,
    then the highest `id`); the others are counted. `predictions` are never read.
    `labels` results are entities (first label; region `id` as entity id), `relation`
    results are relations: `direction` "right" is from -> to, "left" to -> from, "bi"
    both; one relation per label. Other result types are counted and skipped.
    """

    def to_doc(record: Record) -> Optional[Doc]:
        task = record.data
        text = _labelstudio_text(field(task, "data", "object"))
        annotation = _latest_annotation(field(task, "annotations", "array", default=[]), summary)
        if annotation is None:
            summary.skip(LS_NO_ANNOTATION)
            return None
        name = f"annotation {annotation.get('id', '?')}"
        doc = sentences(text_doc(nlp, text))
        mentions: Dict[Any, Span] = {}
        relations: List[RelationRow] = []
        for i, result in enumerate(field(annotation, "result", "array", what=name)):
            what = f"result {i} of {name}"
            kind = field(result, "type", "string", what=what)
            if kind == "labels":
                value = field(result, "value", "object", what=what)
                start, end = (field(value, key, "integer", what=f"field 'value' of {what}") for key in ("start", "end"))
                labels = field(value, "labels", "array", what=f"field 'value' of {what}")
                for label in labels:
                    check(label, "string", f"a label of {what}")
                if len(labels) > 1:
                    summary.skip(LS_EXTRA_LABELS)
                span = char_span(doc, start, end, summary, labels[0] if labels else NO_TYPE)
                check_text(doc, [(start, end)], value.get("text"), what)
                define(mentions, field(result, "id", "id", what=what), span, what)
            elif kind == "relation":
                relations += _labelstudio_relations(result, what, summary)
            else:
                summary.skip(f"Label Studio result of type {kind!r} (not an entity or relation)")
        return annotated_doc(doc, mentions, relations, summary)

    return DocStream(json_array(path), to_doc)


def _labelstudio_text(data: Dict[str, Any]) -> str:
    if "text" in data:
        return check(data["text"], "string", "field 'text' of field 'data'")
    texts = [value for value in data.values() if isinstance(value, str)]
    if len(texts) != 1:
        raise ValueError(f"field 'data' has no 'text' and not exactly one string value: keys {sorted(data)}")
    return texts[0]


def _latest_annotation(annotations: List[Any], summary: ConversionSummary) -> Optional[Dict[str, Any]]:
    kept = []
    for i, annotation in enumerate(annotations):
        check(annotation, "object", f"item {i} of field 'annotations'")
        if annotation.get("was_cancelled"):
            summary.skip(LS_CANCELLED)
        else:
            kept.append(annotation)
    if not kept:
        return None
    summary.skip(LS_OLDER, len(kept) - 1)

    def recency(annotation: Dict[str, Any]) -> Tuple[str, float]:
        when = annotation.get("updated_at") or annotation.get("created_at") or ""
        number = annotation.get("id")
        return (str(when), number if isinstance(number, (int, float)) else -1)

    return max(kept, key=recency)


def _labelstudio_relations(result: Dict[str, Any], what: str, summary: ConversionSummary) -> List[RelationRow]:
    source, target = (field(result, key, "id", what=what) for key in ("from_id", "to_id"))
    direction = field(result, "direction", "string", what=what, default="right")
    if direction not in LS_DIRECTIONS:
        raise ValueError(f"field 'direction' of {what} must be one of {list(LS_DIRECTIONS)}, got {show(direction)}")
    labels = field(result, "labels", "array", what=what, default=[])
    if not labels:
        summary.skip(LS_UNLABELLED_RELATION)
    pairs = {"right": [(source, target)], "left": [(target, source)], "bi": [(source, target), (target, source)]}
    return [(head, tail, label, what) for label in labels for head, tail in pairs[direction]]


# --- doccano -----------------------------------------------------------------------------


def doccano(path: Path, nlp: Language, summary: ConversionSummary) -> DocStream:
    """doccano relation-extraction JSONL export: `text`, `entities` (`id`, `label`,
    `start_offset`, `end_offset` in characters) and `relations` (`from_id` -> `to_id`, `type`)."""

    def to_doc(record: Record) -> Doc:
        data = record.data
        doc = sentences(text_doc(nlp, field(data, "text", "string")))
        mentions: Dict[Any, Span] = {}
        for i, entity in enumerate(field(data, "entities", "array")):
            what = f"item {i} of field 'entities'"
            start, end = (field(entity, key, "integer", what=what) for key in ("start_offset", "end_offset"))
            span = char_span(doc, start, end, summary, field(entity, "label", "string", what=what))
            define(mentions, field(entity, "id", "id", what=what), span, what)
        relations = []
        for i, rel in enumerate(field(data, "relations", "array", default=[])):
            what = f"item {i} of field 'relations'"
            head, tail = (field(rel, key, "id", what=what) for key in ("from_id", "to_id"))
            relations.append((head, tail, field(rel, "type", "string", what=what), what))
        return annotated_doc(doc, mentions, relations, summary)

    return DocStream(json_lines(path), to_doc)
