"""How a pair's arguments appear to an encoder: entity representations and marker tokens.

One registry of special tokens (`SPECIAL_TOKENS`) is shared by contrastive pre-training
(`pretrain-cp`) and the clm_classifier (CP fine-tuning: `configs/cp_finetune.cfg`), so the marker
embeddings learnt in pre-training are the ones fine-tuning reads ("Learning from Context
or Names", Peng et al. 2020, section 3). The five entity representations of that paper:

| name  | head argument becomes            | context kept |
| ----- | -------------------------------- | ------------ |
| C+M   | `E1 mention /E1` (default)       | yes          |
| C+T   | `E1 type /E1` (mention replaced) | yes          |
| OnlyC | `E1 BLANK_h /E1`                 | yes          |
| OnlyM | `E1 mention /E1` only            | no           |
| OnlyT | `E1 type /E1` only               | no           |

The tail argument uses `E2`, `/E2` and `BLANK_t` likewise. Without context, the head
comes first, then the tail. The start markers `E1` and `E2` are the positions whose
states form the relation representation `[h(E1); h(E2)]`.

`represent_doc` applies the same representations to a whole Doc's text, for models that
read plain text and pair every mention themselves (the spaCy relation components).
"""
from dataclasses import dataclass
from typing import Any, Dict, Iterable, List, Mapping, NamedTuple, Optional, Sequence, Tuple

from spacy.tokens import Doc, Span, SpanGroup
from spacy.util import registry

from .encoders import MAX_TYPE_TOKENS, TYPE_TOKEN_PREFIX, wordpieces
from .entities import sentence_index, sentence_starts
from .errors import Errors
from .relations import Relation, get_relations, set_relations

ENTITY_REPRESENTATIONS = ("C+M", "C+T", "OnlyC", "OnlyM", "OnlyT")
DEFAULT_REPRESENTATION = "C+M"
# Placeholder type word for arguments without an entity label (FewRel has none).
UNTYPED_ENTITY_WORD = "entity"
# OnlyC in a whole Doc: any mention may be a head or a tail, so one blank word stands for all;
# plain letters, so spaCy's tokenizers keep it one token ("[BLANK]" would become three).
BLANK_WORD = "BLANK"

Offsets = Tuple[int, int]


@dataclass(frozen=True)
class SpecialTokens:
    """Names of the six entity marker tokens, in registry order.

    The first choice is BERT's unused vocabulary (as the CP and SURE code do), so no
    embedding is added; `fallback` names are added as special tokens to other vocabularies.
    """

    head_start: str
    head_end: str
    tail_start: str
    tail_end: str
    head_blank: str
    tail_blank: str

    def names(self) -> List[str]:
        return [self.head_start, self.head_end, self.tail_start, self.tail_end, self.head_blank, self.tail_blank]


# fmt: off
SPECIAL_TOKENS = SpecialTokens("[unused0]", "[unused1]", "[unused2]", "[unused3]", "[unused4]", "[unused5]")
# The clm_classifier's historical names for the first four are kept, so its saved pipelines load.
FALLBACK_TOKENS = SpecialTokens(
    "[relext_subject_start]", "[relext_subject_end]", "[relext_object_start]", "[relext_object_end]",
    "[relext_subject_blank]", "[relext_object_blank]",
)
# fmt: on


class MarkerIds(NamedTuple):
    """Vocabulary ids of the six marker tokens (see `SpecialTokens`)."""

    head_start: int
    head_end: int
    tail_start: int
    tail_end: int
    head_blank: int
    tail_blank: int


class Piece(NamedTuple):
    """One element of a marked input: a text word, or a marker (`special=True`, a field name of `MarkerIds`)."""

    text: str
    special: bool


class EncodedPair(NamedTuple):
    """Wordpiece ids of a marked pair with [CLS]/[SEP], and the positions of E1 and E2."""

    input_ids: List[int]
    head_position: int
    tail_position: int


@registry.misc("spacy-relext.entity_representation.v1")
def entity_representation(name: str = DEFAULT_REPRESENTATION) -> str:
    """A validated entity representation name, for configs.

    name (str): One of "C+M", "C+T", "OnlyC", "OnlyM", "OnlyT".
    RETURNS (str): The name.
    """
    return check_representation(name)


def check_representation(name: str) -> str:
    """Raise E800 unless `name` is one of `ENTITY_REPRESENTATIONS`."""
    if name not in ENTITY_REPRESENTATIONS:
        raise ValueError(Errors.E800.format(value=name, options=", ".join(ENTITY_REPRESENTATIONS)))
    return name


def keeps_context(representation: str) -> bool:
    """Whether the words around the arguments stay in the input (not in OnlyM, OnlyT)."""
    return check_representation(representation) not in ("OnlyM", "OnlyT")


def type_token_words(labels: Iterable[str]) -> Dict[str, str]:
    """Entity label -> its type-token word, for `represent_doc` under C+T and OnlyT.

    The paper represents a type by one special token such as [person] (Peng et al., 2020,
    section 2.2), not by the type name's wordpieces: the word is `TYPE_TOKEN_PREFIX` and the
    label's index in sorted order, which `encoders.wordpieces` reads as one reserved token
    (BERT's [unusedN] after the six markers); letters and digits only, so spaCy's tokenizers
    keep it whole when the text is tokenized again. Pass the same mapping for the training
    and the evaluation Docs (built from the labels of both). E810 over `MAX_TYPE_TOKENS`."""
    names = sorted(set(labels))
    if len(names) > MAX_TYPE_TOKENS:
        raise ValueError(Errors.E810.format(count=len(names), most=MAX_TYPE_TOKENS))
    return {label: f"{TYPE_TOKEN_PREFIX}{index}" for index, label in enumerate(names)}


def argument_words(mention: Sequence[str], entity_type: str, representation: str) -> List[str]:
    """The words an argument shows when it is not blanked: its type's words under C+T and
    OnlyT (lowercased, "_" split; `UNTYPED_ENTITY_WORD` when `entity_type` is empty), else the mention.

    mention (Sequence[str]): The argument's words.
    entity_type (str): Its entity label.
    representation (str): One of `ENTITY_REPRESENTATIONS`.
    RETURNS (List[str]): The words.
    """
    if check_representation(representation) in ("C+T", "OnlyT"):
        return (entity_type or UNTYPED_ENTITY_WORD).lower().replace("_", " ").split()
    return list(mention)


def marker_ids(tokenizer: Any, model: Optional[Any] = None) -> MarkerIds:
    """Ids of the six marker tokens in `tokenizer`, added (with resized embeddings of
    `model`) when the vocabulary has no `[unusedN]` tokens.

    tokenizer (Any): A Hugging Face tokenizer; changed in place when tokens are added.
    model (Optional[Any]): The encoder whose embeddings to resize after adding tokens.
    RETURNS (MarkerIds): The ids.
    """
    vocab = tokenizer.get_vocab()
    names = SPECIAL_TOKENS.names()
    if not all(name in vocab for name in names):
        names = FALLBACK_TOKENS.names()
        missing = [name for name in names if name not in vocab]
        if missing:
            tokenizer.add_special_tokens({"additional_special_tokens": missing})
            if model is not None:
                model.resize_token_embeddings(len(tokenizer))
    return MarkerIds(*tokenizer.convert_tokens_to_ids(names))


def mark_pair(
    words: Sequence[str],
    head: Offsets,
    tail: Offsets,
    *,
    representation: str = DEFAULT_REPRESENTATION,
    head_type: str = "",
    tail_type: str = "",
    blank_head: bool = False,
    blank_tail: bool = False,
) -> List[Piece]:
    """The words and markers an encoder reads for one (head, tail) pair.

    words (Sequence[str]): The sentence's words.
    head (Tuple[int, int]): Head argument, [start, end) word offsets.
    tail (Tuple[int, int]): Tail argument, [start, end) word offsets; must not overlap the head.
    representation (str): One of `ENTITY_REPRESENTATIONS`.
    head_type (str): Entity type of the head (C+T, OnlyT); empty means `UNTYPED_ENTITY_WORD`.
    tail_type (str): Entity type of the tail.
    blank_head (bool): Replace the head by BLANK_h (CP pre-training; OnlyC blanks both).
    blank_tail (bool): Replace the tail by BLANK_t.
    RETURNS (List[Piece]): The marked input, without [CLS]/[SEP].
    """
    check_representation(representation)
    if head[0] < tail[1] and tail[0] < head[1]:
        raise ValueError(Errors.E801.format(head=head, tail=tail))
    if representation == "OnlyC":
        blank_head = blank_tail = True
    args = {
        "head": (head, blank_head, head_type, "head_start", "head_end", "head_blank"),
        "tail": (tail, blank_tail, tail_type, "tail_start", "tail_end", "tail_blank"),
    }

    def argument(role: str) -> List[Piece]:
        (start, end), blank, type_, open_, close, blank_token = args[role]
        if blank:
            inner = [Piece(blank_token, True)]
        else:
            inner = [Piece(w, False) for w in argument_words(words[start:end], type_, representation)]
        return [Piece(open_, True)] + inner + [Piece(close, True)]

    if not keeps_context(representation):
        return argument("head") + argument("tail")
    first, second = ("head", "tail") if head[0] < tail[0] else ("tail", "head")
    (s1, e1), (s2, e2) = args[first][0], args[second][0]
    return (
        [Piece(w, False) for w in words[:s1]]
        + argument(first)
        + [Piece(w, False) for w in words[e1:s2]]
        + argument(second)
        + [Piece(w, False) for w in words[e2:]]
    )


def represent_doc(doc: Doc, representation: str, type_tokens: Optional[Mapping[str, str]] = None) -> Doc:
    """A copy of a Doc with its text rewritten under an entity representation, for
    models that read text and pair the mentions themselves.

    The mentions are the spans of `doc.ents`, of every span group and the arguments of
    `doc._.relations`; where they nest, the outermost is rewritten and the spans inside it
    are dropped. C+M keeps the text; C+T puts each mention's type words in its place; OnlyC
    puts `BLANK_WORD`; OnlyM and OnlyT keep only the mentions (or types), in text order.
    Entities, span groups and relations (label, score, source; no rationale) are moved
    onto the new mention spans, and sentence boundaries are kept (without context, each
    sentence's first remaining mention starts it), so sentence-scoped candidates pair the
    same mentions as in the original text.

    doc (Doc): A Doc with entities and gold relations.
    representation (str): One of `ENTITY_REPRESENTATIONS`.
    type_tokens (Optional[Mapping[str, str]]): Under C+T and OnlyT, entity label -> the one
        word that stands for the type (`type_token_words`) instead of the type's words; E811
        for a label it lacks.
    RETURNS (Doc): The rewritten Doc (same vocab).
    """
    context = keeps_context(representation)
    spans = list(doc.ents) + [s for group in doc.spans.values() for s in group]
    spans += [arg for rel in get_relations(doc) for arg in (rel.head, rel.tail)]
    mentions: List[Span] = []
    for span in sorted(spans, key=lambda s: (s.start, -s.end)):
        if not mentions or span.start >= mentions[-1].end:
            mentions.append(span)
    starts_of_doc = sentence_starts(doc)
    sentence_of = [sentence_index(starts_of_doc, i) for i in range(len(doc))]
    words: List[str] = []
    spaces: List[bool] = []
    starts: List[bool] = []  # sentence starts of the new words

    def keep(tokens: Span) -> None:
        words.extend(t.text for t in tokens)
        spaces.extend(bool(t.whitespace_) for t in tokens)
        starts.extend(sentence_of[t.i] != sentence_of[t.i - 1] if t.i else True for t in tokens)

    where = {}
    previous_end = 0
    for k, span in enumerate(mentions):
        if context:
            keep(doc[previous_end : span.start])
        if representation == "OnlyC":
            inner = [BLANK_WORD]
        elif type_tokens is not None and representation in ("C+T", "OnlyT"):
            if span.label_ not in type_tokens:
                raise ValueError(Errors.E811.format(label=span.label_, known=sorted(type_tokens)))
            inner = [type_tokens[span.label_]]
        else:
            inner = argument_words([t.text for t in span], span.label_, representation)
        where[(span.start, span.end)] = (len(words), len(words) + len(inner))
        words.extend(inner)
        spaces.extend([True] * (len(inner) - 1) + [bool(span[-1].whitespace_) or not context])
        before = span.start - 1 if context else (mentions[k - 1].start if k else -1)
        starts.extend([before < 0 or sentence_of[before] != sentence_of[span.start]] + [False] * (len(inner) - 1))
        previous_end = span.end
    if context:
        keep(doc[previous_end:])
    has_sentences = doc.has_annotation("SENT_START")
    new = Doc(doc.vocab, words=words, spaces=spaces, sent_starts=starts if has_sentences and words else None)

    def moved(spans: Sequence[Span]) -> List[Span]:
        return [
            Span(new, *where[(s.start, s.end)], label=s.label_, kb_id=s.kb_id_, span_id=s.id_)
            for s in spans
            if (s.start, s.end) in where
        ]

    new.ents = moved(doc.ents)
    for name, group in doc.spans.items():
        new.spans[name] = SpanGroup(new, name=name, attrs=dict(group.attrs), spans=moved(group))
    relations = []
    for rel in get_relations(doc):
        args = moved([rel.head, rel.tail])
        if len(args) == 2:
            relations.append(Relation(head=args[0], tail=args[1], label=rel.label, score=rel.score, source=rel.source))
    set_relations(new, relations)
    return new


def encode_pair(tokenizer: Any, ids: MarkerIds, pieces: Sequence[Piece], max_length: int) -> EncodedPair:
    """Wordpiece ids of a marked pair, cut to `max_length` around the two start markers.

    tokenizer (Any): A Hugging Face tokenizer with `cls_token_id` and `sep_token_id`.
    ids (MarkerIds): Marker ids from `marker_ids`.
    pieces (Sequence[Piece]): Output of `mark_pair`.
    max_length (int): Most wordpieces, [CLS] and [SEP] included (>= 8).
    RETURNS (EncodedPair): The ids and the positions of E1 and E2.
    """
    words = [p.text for p in pieces if not p.special]
    word_pieces = iter(wordpieces(tokenizer, words))
    body: List[int] = []
    for piece in pieces:
        body.extend([getattr(ids, piece.text)] if piece.special else next(word_pieces))
    room = max(max_length, 8) - 2
    if len(body) > room:
        body = _crop(body, [body.index(ids.head_start), body.index(ids.tail_start)], room)
    input_ids = [tokenizer.cls_token_id] + body + [tokenizer.sep_token_id]
    return EncodedPair(input_ids, input_ids.index(ids.head_start), input_ids.index(ids.tail_start))


def _crop(body: List[int], anchors: List[int], room: int) -> List[int]:
    """At most `room` ids that keep both anchor positions: one window when they fit in it,
    else half the room from the first anchor on and half ending at or after the second."""
    lo, hi = min(anchors), max(anchors)
    if hi - lo < room:
        start = max(0, min(lo - (room - (hi - lo + 1)) // 2, len(body) - room))
        return body[start : start + room]
    half = room // 2
    second = max(lo + half, min(hi, len(body) - (room - half)))  # still holds `hi`, fills the room
    return body[lo : lo + half] + body[second : second + room - half]
