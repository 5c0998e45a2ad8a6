"""Shared data for the RERE component tests (relation_detector, span_extractor)."""

from typing import List, Set, Tuple

from spacy.language import Language
from spacy.tokens import Doc
from spacy.training import Example

from spacy_relext import Relation
from spacy_relext.relations import install_extensions

# (text, [((subject start, end), (object start, end), label)]), token offsets
TRAIN_DATA = [
    ("Obama was born in Hawaii .", [((0, 1), (4, 5), "born_in")]),
    ("Paris is the capital of France .", [((0, 1), (5, 6), "capital_of")]),
    (
        "Angela Merkel lives in Berlin and works for the CDU .",
        [((0, 2), (4, 5), "lives_in"), ((0, 2), (9, 10), "works_for")],
    ),
    (
        "Ada Lovelace was born in London and lives in Paris .",
        [((0, 2), (5, 6), "born_in"), ((0, 2), (9, 10), "lives_in")],
    ),
    ("The weather is nice today .", []),
]
LABELS = sorted({label for _, rels in TRAIN_DATA for _, _, label in rels})

# Four CoNLL04-style sentences, (text, [(subject, label, object)]) with argument strings.
# Two to three relations of CoNLL04's five per sentence, arguments overlapping across
# relations, no entities given: what a user trying the components on a handful of
# examples would write.
CONLL04_STYLE = [
    (
        "John Smith , a lawyer from Boston , works for Acme Corp .",
        [("John Smith", "Live_In", "Boston"), ("John Smith", "Work_For", "Acme Corp")],
    ),
    (
        "Acme Corp is based in Mountain View , California .",
        [
            ("Acme Corp", "OrgBased_In", "Mountain View"),
            ("Acme Corp", "OrgBased_In", "California"),
            ("Mountain View", "Located_In", "California"),
        ],
    ),
    ("Lee Harvey Oswald shot John F. Kennedy in Dallas .", [("Lee Harvey Oswald", "Kill", "John F. Kennedy")]),
    (
        "Mary Jones , a reporter for The Times , lives in London .",
        [("Mary Jones", "Work_For", "The Times"), ("Mary Jones", "Live_In", "London")],
    ),
]


def token_offsets(nlp: Language, data=CONLL04_STYLE) -> list:
    """Data with argument strings (first occurrence in the text) turned into TRAIN_DATA's
    token offsets, in the tokenization of `nlp`."""
    converted = []
    for text, rels in data:
        doc = nlp.make_doc(text)

        def offsets(argument):
            span = doc.char_span(text.index(argument), text.index(argument) + len(argument))
            return (span.start, span.end)

        converted.append((text, [(offsets(head), offsets(tail), label) for head, label, tail in rels]))
    return converted


def make_examples(nlp: Language, data=TRAIN_DATA) -> List[Example]:
    """Examples whose reference Docs carry the gold relations."""
    install_extensions()
    examples = []
    for text, rels in data:
        ref = nlp.make_doc(text)
        ref._.relations = [Relation(head=ref[h[0] : h[1]], tail=ref[t[0] : t[1]], label=lab) for h, t, lab in rels]
        examples.append(Example(nlp.make_doc(text), ref))
    return examples


def triples(doc: Doc) -> Set[Tuple[Tuple[int, int], Tuple[int, int], str]]:
    """The relations of a Doc as ((head start, end), (tail start, end), label)."""
    return {((r.head.start, r.head.end), (r.tail.start, r.tail.end), r.label) for r in doc._.relations}


def gold_triples(index: int) -> Set[Tuple[Tuple[int, int], Tuple[int, int], str]]:
    """The gold triples of TRAIN_DATA[index]."""
    return {(h, t, lab) for h, t, lab in TRAIN_DATA[index][1]}
