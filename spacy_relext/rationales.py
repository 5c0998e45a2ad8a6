"""Show a relation's rationale in its text: brackets on the console, marks in HTML."""
import html
from typing import Callable, List, Tuple

from spacy.tokens import Span

from .entities import sentence_index, sentence_starts
from .relations import Relation


def relation_window(rel: Relation) -> Span:
    """The sentences holding a relation's arguments and rationale, as one Span.

    rel (Relation): The relation.
    RETURNS (Span): From the first sentence's start to the last sentence's end.
    """
    doc = rel.doc
    spans = [rel.head, rel.tail, *rel.rationale]
    starts = sentence_starts(doc)
    first = starts[sentence_index(starts, min(span.start for span in spans))]
    last = sentence_index(starts, max(span.end for span in spans) - 1)
    return doc[first : starts[last + 1] if last + 1 < len(starts) else len(doc)]


def render_rationale(
    rel: Relation,
    *,
    open_mark: str = "[",
    close_mark: str = "]",
    head_marks: Tuple[str, str] = ("<e1>", "</e1>"),
    tail_marks: Tuple[str, str] = ("<e2>", "</e2>"),
    escape: Callable[[str], str] = str,
) -> str:
    """The sentences holding a relation's arguments and rationale, with every rationale
    segment between `open_mark` and `close_mark` and the arguments marked.

    rel (Relation): The relation (its `rationale` may be empty).
    open_mark (str): Inserted before each rationale segment.
    close_mark (str): Inserted after each rationale segment.
    head_marks (Tuple[str, str]): Around the head; ("", "") for none.
    tail_marks (Tuple[str, str]): Around the tail; ("", "") for none.
    escape (Callable[[str], str]): Applied to the text between marks (html.escape for HTML).
    RETURNS (str): The marked text.

    EXAMPLE: "[<e1>Alice</e1> works for] <e2>Acme</e2> ."
    """
    doc = rel.doc
    window = relation_window(rel)
    before: List[List[str]] = [[] for _ in range(len(doc) + 1)]
    after: List[List[str]] = [[] for _ in range(len(doc) + 1)]
    # Outer marks first: rationale segments enclose the argument marks they contain.
    for span in rel.rationale:
        before[span.start].append(open_mark)
        after[span.end - 1].append(close_mark)
    for span, (left, right) in ((rel.head, head_marks), (rel.tail, tail_marks)):
        before[span.start].append(left)
        after[span.end - 1].insert(0, right)
    pieces = []
    for token in window:
        pieces.append("".join(before[token.i]) + escape(token.text) + "".join(after[token.i]) + token.whitespace_)
    return "".join(pieces).strip()


def render_rationale_html(rel: Relation) -> str:
    """`render_rationale` as HTML: rationale segments in `<mark>`, arguments in `<b>`.

    rel (Relation): The relation.
    RETURNS (str): An HTML fragment.
    """
    return render_rationale(
        rel,
        open_mark="<mark>",
        close_mark="</mark>",
        head_marks=("<b>", "</b>"),
        tail_marks=("<b>", "</b>"),
        escape=html.escape,
    )
