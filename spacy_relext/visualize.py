"""Draw relations with displaCy: `spacy_relext.render(docs)` and
`python -m spacy_relext visualize PIPELINE TEXT... --output page.html`.

Each Doc is one displaCy dependency figure in manual mode: entity mentions are the
"words" (their label as the tag), the text between two mentions is collapsed into one
plain word (elided at token boundaries when long), and each relation is an arc from head
to tail labelled "label score". Every arc end has its own place under a mention, so two
arrowheads on one mention never overlap, and a figure wider than `max_width` is drawn
with less space between words, then scaled down, so the page never scrolls sideways.
The page has a title and a legend.
Under it, every selected relation gets a displaCy span view of its sentences with the
head, the tail and the rationale segments highlighted, followed by the logic rules
that inferred it (`Relation.rules`). On the console, `render_rationale` shows a
relation's rationale in its text with brackets (`render_rationale_html`: marks).
"""
import html
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple, Union

from spacy import displacy
from spacy.displacy.render import DependencyRenderer
from spacy.displacy.templates import TPL_DEP_ARCS
from spacy.tokens import Doc, Span
from spacy.util import is_in_jupyter

from .entities import sentence_index, sentence_starts
from .errors import Errors
from .pipeline_dir import check_pipeline_dir
from .relations import Relation, get_relations

DEFAULT_OPTIONS: Dict[str, Any] = {
    "relations": None,
    "min_score": 0.0,
    "scores": True,
    "max_gap_chars": 18,
    "colors": {"HEAD": "#7aecec", "TAIL": "#feca74", "RATIONALE": "#ffeb80"},
    "arcs": {"distance": 150},
    "max_width": 1200,
    "title": "spacy-relext: entities and relations",
    "legend": True,
}
# px per character of a word or tag (16 px Arial averages under 8): the space between two
# word centres never drops below what their texts need, so shrinking never overlaps them
CHAR_WIDTH = 8
TPL_PAGE = """<!DOCTYPE html>
<html lang="{lang}">
<head><meta charset="utf-8"><title>{title}</title></head>
<body style="font-size: 16px; font-family: -apple-system, BlinkMacSystemFont, 'Segoe UI', Helvetica, Arial, sans-serif;
padding: 2rem; margin: 0 auto; max-width: {max_width}px; direction: {dir}">
<h1 style="font-size: 1.4em">{title}</h1>{legend}{content}</body>
</html>"""
TPL_LEGEND = (
    '<div class="relext-legend" style="margin: 0 0 2em; font-size: 0.9em; line-height: 1.6">'
    "Each arc is a relation, from its head to its tail (the arrowhead), labelled with the relation "
    "and its score{min_score}. Under each mention: its entity label; \u2026 marks elided text. "
    "In the detailed views: {swatches}.</div>"
)
TPL_SWATCH = '<span style="background: {color}; padding: 0.1em 0.4em; border-radius: 0.3em">{label}</span>'
TPL_RULES = '<ul class="relext-rules" style="margin: 0.5em 0 1.5em; font-family: monospace">{items}</ul>'
TPL_DETAIL = '<h4 class="relext-relation" style="margin: 1em 0 0">{title}</h4>{spans}{rules}'


def render(
    docs: Union[Doc, Iterable[Doc]],
    *,
    page: bool = True,
    jupyter: Optional[bool] = None,
    options: Optional[Dict[str, Any]] = None,
) -> Optional[str]:
    """Render the entities and relations of Docs as HTML.

    docs (Union[Doc, Iterable[Doc]]): Docs with `doc._.relations` (and usually `doc.ents`).
    page (bool): Return a full HTML page rather than a fragment.
    jupyter (Optional[bool]): Display in a notebook instead of returning markup; None
        detects a notebook, as displaCy does.
    options (Optional[Dict[str, Any]]): Overrides of DEFAULT_OPTIONS:
        relations (Optional[Sequence[int]]): indices into each Doc's `doc._.relations`
            of the relations shown in detail (rationale highlighted, rules listed);
            None selects every relation that has a rationale or rules; an index beyond
            a Doc's relations is skipped in that Doc, and one beyond every Doc's
            relations raises E142.
        min_score (float): Relations scoring below it get no arc.
        scores (bool): Put the score after the label on each arc.
        max_gap_chars (int): Text between two mentions longer than this is elided, at
            token boundaries.
        colors (Dict[str, str]): displaCy span colours of HEAD, TAIL and RATIONALE.
        arcs (Dict[str, Any]): Options of displaCy's dependency renderer (distance, compact, ...).
        max_width (int): Widest figure, in px: wider ones get less space between words
            (down to what the longest word needs), then are scaled down to it.
        title (str): The page's title (its <title> and heading).
        legend (bool): Explain arcs, labels and colours under the title of a page.
    RETURNS (Optional[str]): The markup, or None when displayed in a notebook.
    """
    unknown = sorted(set(options or {}) - set(DEFAULT_OPTIONS))
    if unknown:
        raise ValueError(Errors.E900.format(names=unknown, options=sorted(DEFAULT_OPTIONS)))
    opts = {**DEFAULT_OPTIONS, **(options or {})}
    docs = [docs] if isinstance(docs, Doc) else list(docs)
    check_relation_indices(docs, opts["relations"])
    markup = "".join(f"<figure style=\"margin: 0 0 3em\">{render_doc(doc, opts)}</figure>" for doc in docs)
    if page:
        markup = TPL_PAGE.format(content=markup, lang=docs[0].lang_ if docs else "en", dir="ltr",
                                 title=html.escape(opts["title"]), max_width=opts["max_width"],
                                 legend=render_legend(opts) if opts["legend"] else "")
    if jupyter or (jupyter is None and is_in_jupyter()):
        from IPython.display import HTML, display

        display(HTML(markup))
        return None
    return markup


def render_doc(doc: Doc, opts: Dict[str, Any]) -> str:
    """One Doc: the arc figure, one row per sentence (or run of sentences a relation or
    mention crosses), then the selected relations in detail."""
    relations = get_relations(doc)
    shown = [rel for rel in relations if rel.score >= opts["min_score"]]
    parts = []
    for start, end in figure_rows(doc, shown):
        row_relations = [rel for rel in shown if start <= rel.head.start < end]
        words, index = mention_words(doc, [doc.ents, *((rel.head, rel.tail) for rel in row_relations)],
                                     opts["max_gap_chars"], region=(start, end))
        arcs = []
        for rel in row_relations:
            head, tail = index[(rel.head.start, rel.head.end)], index[(rel.tail.start, rel.tail.end)]
            if head != tail:  # nested arguments starting on the same token share a word
                label = f"{rel.label} {rel.score:.2f}" if opts["scores"] else rel.label
                # displaCy escapes word texts but not tags or arc labels
                arcs.append({"start": min(head, tail), "end": max(head, tail), "label": html.escape(label),
                             "dir": "right" if head < tail else "left"})
        renderer = RelationArcRenderer(opts["arcs"], max_width=opts["max_width"])
        parts.append(renderer.render([{"words": words, "arcs": arcs}]))
    if opts["relations"] is None:
        selected = [rel for rel in relations if rel.rationale or rel.rules]
    else:
        selected = [relations[i] for i in opts["relations"] if -len(relations) <= i < len(relations)]
    parts.extend(render_detail(rel, opts["colors"]) for rel in selected)
    return "".join(parts)


def figure_rows(doc: Doc, relations: Sequence[Relation]) -> List[Tuple[int, int]]:
    """The token ranges of a Doc's figure rows, so that a long Doc wraps instead of
    drawing one figure too wide to read: one row per sentence, except where a relation
    or an entity mention crosses sentences, which joins them.

    doc (Doc): The document (one row when it has no sentence boundaries).
    relations (Sequence[Relation]): The relations drawn.
    RETURNS (List[Tuple[int, int]]): (start, end) token offsets of each row.
    """
    crossing = [(min(rel.head.start, rel.tail.start), max(rel.head.end, rel.tail.end)) for rel in relations]
    crossing.extend((ent.start, ent.end) for ent in doc.ents)
    blocked = {i for start, end in crossing for i in range(start + 1, end)}
    edges = [0, *(i for i in sentence_starts(doc)[1:] if i not in blocked), len(doc)]
    return list(zip(edges, edges[1:]))


def mention_words(
    doc: Doc, span_lists: Iterable[Iterable[Span]], max_gap_chars: int, *, region: Optional[Tuple[int, int]] = None
) -> Tuple[List[Dict[str, str]], Dict[Tuple[int, int], int]]:
    """Cut a Doc (or a region of it) at every mention boundary into displaCy "words".

    doc (Doc): The document.
    span_lists (Iterable[Iterable[Span]]): The mentions to show (those outside the region are left out).
    max_gap_chars (int): Longer text between mentions is elided in the middle.
    region (Optional[Tuple[int, int]]): The token range to cut (default: the whole Doc).
    RETURNS (Tuple[List[Dict[str, str]], Dict[Tuple[int, int], int]]): The words
        ({"text", "tag"}), and the word index of each mention by (start, end): the
        word where it starts.
    """
    first, last = region or (0, len(doc))
    mentions: Dict[Tuple[int, int], str] = {}
    for spans in span_lists:
        for span in spans:  # a relation argument outside doc.ents keeps the entity's label
            if first <= span.start and span.end <= last and not mentions.get((span.start, span.end)):
                mentions[(span.start, span.end)] = span.label_
    cuts = sorted({first, last, *(i for key in mentions for i in key)})
    words, word_at = [], {}
    for start, end in zip(cuts, cuts[1:]):
        word_at[start] = len(words)
        tag = next((label for (s, e), label in mentions.items() if s == start and e == end), None)
        text = doc[start:end].text
        if tag is None and len(text) > max_gap_chars:
            text = elide(doc[start:end], max(max_gap_chars // 2 - 1, 1))
        words.append({"text": text, "tag": html.escape(tag or "")})
    return words, {key: word_at[key[0]] for key in mentions}


def elide(span: Span, keep_chars: int) -> str:
    """A long text between two mentions, shortened to its first and last whole tokens.

    span (Span): The text between two mentions.
    keep_chars (int): The most characters kept on each side of the ellipsis.
    RETURNS (str): E.g. "since the … company ." (never part of a word).
    """
    first = last = span.start
    while first < span.end and len(span.doc[span.start : first + 1].text) <= keep_chars:
        first += 1
    last = span.end
    while last > first and len(span.doc[last - 1 : span.end].text) <= keep_chars:
        last -= 1
    head, tail = span.doc[span.start : first].text, span.doc[last : span.end].text
    return " ".join(part for part in (head, "…", tail) if part)


def check_relation_indices(docs: Sequence[Doc], indices: Optional[Sequence[int]]) -> None:
    """Raise E142 for a `relations` index that selects a relation in no Doc.

    docs (Sequence[Doc]): The Docs rendered.
    indices (Optional[Sequence[int]]): The `relations` option (None: nothing to check).
    """
    most = max((len(get_relations(doc)) for doc in docs), default=0)
    for index in indices or ():
        if not -most <= index < most:
            raise ValueError(Errors.E142.format(index=index, count=most))


def render_legend(opts: Dict[str, Any]) -> str:
    """The page's legend: what arcs, arrowheads, labels and colours mean."""
    min_score = f"; relations scoring below {opts['min_score']} are not drawn" if opts["min_score"] > 0 else ""
    swatches = ", ".join(TPL_SWATCH.format(color=html.escape(color), label=html.escape(label))
                         for label, color in opts["colors"].items())
    return TPL_LEGEND.format(min_score=min_score, swatches=swatches)


class RelationArcRenderer(DependencyRenderer):
    """displaCy's arc figure for relations between mentions.

    displaCy starts every arc at the same x of its left word and ends it near its right
    word, so two arcs ending on one mention draw their arrowheads on top of each other.
    Here every arc end gets its own x under its mention, ordered so that nested arcs do
    not cross, and a figure wider than `max_width` first gets less space between words,
    then a viewBox that scales it to `max_width`.
    """

    def __init__(self, options: Dict[str, Any], *, max_width: int) -> None:
        super().__init__(options)
        self.max_width = max_width
        self.preferred_distance = self.distance

    def render_svg(self, render_id: Union[int, str], words: List[Dict[str, Any]], arcs: List[Dict[str, Any]]) -> str:
        fitting = (self.max_width - self.offset_x) / max(len(words), 1)
        needed = max((CHAR_WIDTH * max(len(w["text"]), len(w["tag"])) + 2 * CHAR_WIDTH for w in words), default=0)
        self.distance = int(max(min(self.preferred_distance, fitting), needed))
        self.end_offsets = arc_end_offsets(arcs, self.distance, max(self.arrow_spacing, 2 * self.arrow_width))
        svg = super().render_svg(render_id, words, arcs)
        if self.width <= self.max_width:
            return svg
        height = round(self.height * self.max_width / self.width)
        size = f'width="{self.width}" height="{self.height}"'
        scaled = f'width="{self.max_width}" height="{height}" viewBox="0 0 {self.width} {self.height}"'
        return svg.replace(size, scaled, 1).replace(f"height: {self.height}px", f"height: {height}px", 1)

    def render_arrow(self, label: str, start: int, end: int, direction: str, i: int) -> str:
        # displaCy's own geometry (render_arrow in spacy/displacy/render.py), but with
        # the x of each arc end taken from end_offsets
        level = self.levels[(start, end, label)]
        x_start = self.offset_x + start * self.distance + self.end_offsets[(i, start)]
        x_end = self.offset_x + end * self.distance + self.end_offsets[(i, end)]
        y = self.offset_y
        y_curve = self.offset_y - level * self.distance / (6 if self.compact else 2)
        return TPL_DEP_ARCS.format(id=self.id, i=i, stroke=self.arrow_stroke, label=label, label_side="left",
                                   head=self.get_arrowhead(direction, x_start, y, x_end),
                                   arc=self.get_arc(x_start, y, y_curve, x_end))


def arc_end_offsets(arcs: Sequence[Dict[str, Any]], distance: int, spacing: int) -> Dict[Tuple[int, int], float]:
    """The x offset of every arc end from the centre of its word.

    The ends on one word are spread around its centre, at most `spacing` apart and
    within 80% of `distance`. From left to right: arcs to words on the left, the
    nearest first (the inner arcs), then arcs to words on the right, the farthest
    first, so that nested arcs do not cross.

    arcs (Sequence[Dict[str, Any]]): displaCy arcs ({"start", "end", ...}, start < end).
    distance (int): The space between two word centres, in px.
    spacing (int): The widest gap between two arc ends, in px.
    RETURNS (Dict[Tuple[int, int], float]): The offset by (arc index, word index).
    """
    ends: Dict[int, List[Tuple[bool, int, int]]] = {}
    for i, arc in enumerate(arcs):
        ends.setdefault(arc["start"], []).append((True, -arc["end"], i))
        ends.setdefault(arc["end"], []).append((False, -arc["start"], i))
    offsets = {}
    for word, word_ends in ends.items():
        step = min(spacing, 0.8 * distance / len(word_ends))
        for rank, (_, _, i) in enumerate(sorted(word_ends)):
            offsets[(i, word)] = (rank - (len(word_ends) - 1) / 2) * step
    return offsets


def render_detail(rel: Relation, colors: Dict[str, str]) -> str:
    """A relation's sentences as a displaCy span view (HEAD, TAIL, RATIONALE), and its rules."""
    window = relation_window(rel)
    spans = [(rel.head, "HEAD"), (rel.tail, "TAIL"), *((span, "RATIONALE") for span in rel.rationale)]
    view = {
        "text": window.text,
        "tokens": [token.text for token in window],
        "spans": [{"start_token": span.start - window.start, "end_token": span.end - window.start, "label": label}
                  for span, label in spans],
    }
    source = f", {rel.source}" if rel.source else ""
    title = html.escape(f"{rel.head.text} → {rel.label} → {rel.tail.text} ({rel.score:.2f}{source})")
    markup = displacy.render(view, style="span", manual=True, jupyter=False, options={"colors": colors})
    rules = TPL_RULES.format(items="".join(f"<li>{html.escape(rule)}</li>" for rule in rel.rules)) if rel.rules else ""
    return TPL_DETAIL.format(title=title, spans=markup, rules=rules)


def visualize_texts(pipeline: str, texts: Sequence[str], options: Optional[Dict[str, Any]] = None) -> Tuple[str, int]:
    """Run a pipeline on texts and render the result as an HTML page.

    pipeline (str): A pipeline directory or installed package name.
    texts (Sequence[str]): The texts.
    options (Optional[Dict[str, Any]]): As in `render`.
    RETURNS (Tuple[str, int]): The page and the number of relations drawn.
    """
    import spacy

    check_pipeline_dir(pipeline)
    nlp = spacy.load(pipeline)
    docs = list(nlp.pipe(texts))
    page = render(docs, page=True, jupyter=False, options=options)
    return page, sum(len(get_relations(doc)) for doc in docs)


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
