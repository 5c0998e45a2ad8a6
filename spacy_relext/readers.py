"""Registered corpus readers for `spacy train` / `spacy evaluate`."""
from pathlib import Path
from typing import Callable, Iterable, Iterator, List, Optional, Union

from spacy.language import Language
from spacy.tokens import Doc, Span, SpanGroup
from spacy.training import Corpus, Example
from spacy.util import registry

from .entities import ENTITY_GROUP
from .errors import Errors
from .relations import align_span, same_texts


@registry.readers("spacy-relext.GoldEntsCorpus.v1")
def create_gold_ents_corpus(
    path: Optional[Union[str, Path]],
    *,
    gold_preproc: bool = False,
    max_length: int = 0,
    limit: int = 0,
    spans_key: Optional[str] = ENTITY_GROUP,
) -> Callable[[Language], Iterable[Example]]:
    """Read a .spacy corpus for the GOLD-ENTITY setting: the gold entities and the
    corpus's sentence boundaries are copied into the predicted Docs, so relation
    components are trained and evaluated on gold mentions within the dataset's sentences
    (without them, sentence-scoped candidates would pair every two mentions of a
    multi-sentence document such as a SciERC abstract). For end-to-end evaluation (entities from an `ner` in the pipeline) use
    `spacy.Corpus.v1` instead.

    path (Union[str, Path]): The .spacy file or a directory of them.
    gold_preproc (bool): As in spacy.Corpus.v1.
    max_length (int): As in spacy.Corpus.v1 (0 for no limit).
    limit (int): Read at most this many documents (0 for all).
    spans_key (Optional[str]): Span group with all mentions (overlapping included) to
        copy as well; None copies only doc.ents.
    RETURNS (Callable[[Language], Iterable[Example]]): The reader.
    """
    if path is None or not Path(path).exists():
        raise ValueError(Errors.E201.format(path=path))
    corpus = Corpus(path, gold_preproc=gold_preproc, max_length=max_length, limit=limit)

    def read(nlp: Language) -> Iterator[Example]:
        for eg in corpus(nlp):
            copy_gold_entities(eg, spans_key)
            yield eg

    return read


def copy_gold_entities(eg: Example, spans_key: Optional[str]) -> None:
    """Put the reference entities (and span group) and sentence boundaries on the
    predicted Doc, aligned."""
    predicted: Doc = eg.predicted
    if eg.reference.has_annotation("SENT_START") and not predicted.has_annotation("SENT_START"):
        for token, is_start in zip(predicted, eg.get_aligned_sent_starts()):
            token.is_sent_start = is_start
    set_aligned_mentions(eg, predicted, None, eg.reference.ents)
    if spans_key and spans_key in eg.reference.spans:
        set_aligned_mentions(eg, predicted, spans_key, eg.reference.spans[spans_key])


def set_aligned_mentions(eg: Example, doc: Doc, spans_key: Optional[str], mentions: Iterable[Span]) -> None:
    """Put reference mentions, aligned to the tokens of `eg.predicted`, on `doc` (that Doc
    or a copy of it): as `doc.ents` when `spans_key` is None, else as the span group
    `spans_key` (with the reference group's attrs). Mentions that do not align are left
    out; labels, KB ids and ids (entity clusters) are kept.
    """
    spans = [Span(doc, s.start, s.end, label=s.label_, kb_id=s.kb_id_, span_id=s.id_)
             for s in aligned_spans(eg, mentions)]
    if spans_key is None:
        doc.ents = spans
    else:
        group = eg.reference.spans.get(spans_key)
        attrs = dict(group.attrs) if group is not None else {}
        doc.spans[spans_key] = SpanGroup(doc, name=spans_key, attrs=attrs, spans=spans)


def aligned_spans(eg: Example, spans: Iterable[Span]) -> List[Span]:
    same_text = same_texts(eg)
    return [span for span in (align_span(eg, s, same_text) for s in spans) if span is not None]
