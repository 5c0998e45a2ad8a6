"""Draw relations with displaCy: `spacy_relext.render(docs)` and
`python -m spacy_relext visualize PIPELINE TEXT... --output page.html`.

Each Doc is one displaCy dependency figure in manual mode: entity mentions are the
"words" (their label as the tag), the text between two mentions is collapsed into one
plain word, and each relation is an arc from head to tail labelled "label score".
Under it, every selected relation gets a displaCy span view of its sentences with the
head, the tail and the rationale segments highlighted, followed by the logic rules
that inferred it (`Relation.rules`). On the console, `render_rationale` shows a
relation's rationale in its text with brackets (`render_rationale_html`: marks).
"""
import html
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple, Union

from spacy import displacy
from spacy.displacy.templates import TPL_PAGE
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
}
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
            None selects every relation that has a rationale or rules; indices beyond
            a Doc's relations are skipped.
        min_score (float): Relations scoring below it get no arc.
        scores (bool): Put the score after the label on each arc.
        max_gap_chars (int): Text between two mentions longer than this is elided.
        colors (Dict[str, str]): displaCy span colours of HEAD, TAIL and RATIONALE.
        arcs (Dict[str, Any]): Options of displaCy's dependency renderer (distance, compact, ...).
    RETURNS (Optional[str]): The markup, or None when displayed in a notebook.
    """
    unknown = sorted(set(options or {}) - set(DEFAULT_OPTIONS))
    if unknown:
        raise ValueError(Errors.E900.format(names=unknown, options=sorted(DEFAULT_OPTIONS)))
    opts = {**DEFAULT_OPTIONS, **(options or {})}
    docs = [docs] if isinstance(docs, Doc) else list(docs)
    markup = "".join(f"<figure style=\"margin-bottom: 3em\">{render_doc(doc, opts)}</figure>" for doc in docs)
    if page:
        markup = TPL_PAGE.format(content=markup, lang=docs[0].lang_ if docs else "en", dir="ltr")
    if jupyter or (jupyter is None and is_in_jupyter()):
        from IPython.display import HTML, display

        display(HTML(markup))
        return None
    return markup


def render_doc(doc: Doc, opts: Dict[str, Any]) -> str:
    """One Doc: the arc figure, then the selected relations in detail."""
    relations = get_relations(doc)
    shown = [rel for rel in relations if rel.score >= opts["min_score"]]
    words, index = mention_words(doc, [doc.ents, *((rel.head, rel.tail) for rel in shown)], opts["max_gap_chars"])
    arcs = []
    for rel in shown:
        head, tail = index[(rel.head.start, rel.head.end)], index[(rel.tail.start, rel.tail.end)]
        if head != tail:  # nested arguments starting on the same token share a word
            label = f"{rel.label} {rel.score:.2f}" if opts["scores"] else rel.label
            # displaCy escapes word texts but not tags or arc labels
            arcs.append({"start": min(head, tail), "end": max(head, tail), "label": html.escape(label),
                         "dir": "right" if head < tail else "left"})
    parts = [displacy.render({"words": words, "arcs": arcs}, style="dep", manual=True, jupyter=False,
                             options=opts["arcs"])]
    if opts["relations"] is None:
        selected = [rel for rel in relations if rel.rationale or rel.rules]
    else:
        selected = [relations[i] for i in opts["relations"] if -len(relations) <= i < len(relations)]
    parts.extend(render_detail(rel, opts["colors"]) for rel in selected)
    return "".join(parts)


def mention_words(
    doc: Doc, span_lists: Iterable[Iterable[Span]], max_gap_chars: int
) -> Tuple[List[Dict[str, str]], Dict[Tuple[int, int], int]]:
    """Cut a Doc at every mention boundary into displaCy "words".

    doc (Doc): The document.
    span_lists (Iterable[Iterable[Span]]): The mentions to show.
    max_gap_chars (int): Longer text between mentions is elided in the middle.
    RETURNS (Tuple[List[Dict[str, str]], Dict[Tuple[int, int], int]]): The words
        ({"text", "tag"}), and the word index of each mention by (start, end): the
        word where it starts.
    """
    mentions: Dict[Tuple[int, int], str] = {}
    for spans in span_lists:
        for span in spans:  # a relation argument outside doc.ents keeps the entity's label
            if not mentions.get((span.start, span.end)):
                mentions[(span.start, span.end)] = span.label_
    cuts = sorted({0, len(doc), *(i for key in mentions for i in key)})
    words, word_at = [], {}
    for start, end in zip(cuts, cuts[1:]):
        word_at[start] = len(words)
        tag = next((label for (s, e), label in mentions.items() if s == start and e == end), None)
        text = doc[start:end].text
        if tag is None and len(text) > max_gap_chars:
            keep = max(max_gap_chars // 2 - 1, 1)
            text = f"{text[:keep].rstrip()} … {text[-keep:].lstrip()}"
        words.append({"text": text, "tag": html.escape(tag or "")})
    return words, {key: word_at[key[0]] for key in mentions}


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
