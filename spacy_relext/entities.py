"""Entity mentions, document-level clusters and sentence lookup shared by all components."""
from typing import Dict, List, Optional, Tuple

import numpy
from spacy.attrs import SENT_START
from spacy.tokens import Doc, Span

from .errors import Errors

# The span group holding every mention, overlapping ones included, with its cluster in
# `id_`: written by the converters of nested and document-level corpora.
ENTITY_GROUP = "entities"


def get_entities(doc: Doc, spans_key: Optional[str] = None) -> List[Span]:
    """The entity mentions of a Doc: `doc.ents`, or `doc.spans[spans_key]` when set.

    doc (Doc): The document.
    spans_key (Optional[str]): Span group holding (possibly overlapping) mentions.
    RETURNS (List[Span]): The mentions, sorted by (start, end).
    """
    if spans_key is None:
        return list(doc.ents)
    if spans_key not in doc.spans:
        raise ValueError(Errors.E300.format(key=spans_key, keys=sorted(doc.spans.keys())))
    return sorted(doc.spans[spans_key], key=lambda s: (s.start, s.end))


def cluster_id(span: Span) -> str:
    """The entity a mention belongs to: its `id_`, or its own offsets if it has none."""
    return span.id_ or f"{span.start}:{span.end}"


def get_entity_clusters(doc: Doc, spans_key: Optional[str] = None) -> Dict[str, List[Span]]:
    """Group mentions into document-level entities by `id_` (`ent_id_` for doc.ents).

    RETURNS (Dict[str, List[Span]]): cluster id -> mentions, in order of first mention.
    """
    clusters: Dict[str, List[Span]] = {}
    for span in get_entities(doc, spans_key):
        clusters.setdefault(cluster_id(span), []).append(span)
    return clusters


def sentence_starts(doc: Doc) -> List[int]:
    """Token index where each sentence starts ([0] when the Doc has no boundaries)."""
    if len(doc) == 0:
        return []
    if not doc.has_annotation("SENT_START"):
        return [0]
    # One array read instead of a Token object per token (every pair component calls this
    # per Doc, RERE three times; issue 24 item 3): about 4x cheaper on documents of
    # hundreds of tokens, the same within microseconds on single sentences. SENT_START
    # is 1 exactly where `token.is_sent_start` is True; the first token always starts one.
    flags = doc.to_array(SENT_START)
    return [0] + (numpy.flatnonzero(flags[1:] == 1) + 1).tolist()


def sentence_index(starts: List[int], token_i: int) -> int:
    """Index of the sentence holding token `token_i`, given `sentence_starts(doc)`."""
    lo, hi = 0, len(starts) - 1
    while lo < hi:  # last start <= token_i
        mid = (lo + hi + 1) // 2
        if starts[mid] <= token_i:
            lo = mid
        else:
            hi = mid - 1
    return lo


def sentence_spans(doc: Doc) -> List[Span]:
    """The sentences of a Doc as Spans; the whole Doc when it has no sentence
    boundaries, and [] when it has no tokens.

    doc (Doc): The document.
    RETURNS (List[Span]): The sentences, in order.
    """
    starts = sentence_starts(doc)
    return [doc[start:end] for start, end in zip(starts, starts[1:] + [len(doc)])]


def window_around(focus: Tuple[int, int], size: int, bounds: Tuple[int, int]) -> Tuple[int, int]:
    """A window of at most `size` tokens inside `bounds`, centred on `focus` and holding
    all of it when it fits (else its start, then as much of it as fits).

    focus (Tuple[int, int]): (start, end) tokens the window is for (e.g. two arguments).
    size (int): Most tokens in the window.
    bounds (Tuple[int, int]): (start, end) the window must stay within.
    RETURNS (Tuple[int, int]): The window's (start, end).
    """
    lo, hi = bounds
    centre = (focus[0] + focus[1]) // 2
    start = max(lo, min(centre - size // 2, hi - size, focus[0]))
    start = max(start, min(focus[1] - size, focus[0]))  # keep the focus inside when it fits
    return start, min(hi, start + size)
