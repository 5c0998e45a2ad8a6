"""Faithful PL-Marker / SURE model: an own Hugging Face encoder reads each packed sequence

    [CLS] ctx .. [S] subject [/S] .. ctx [SEP] <pad> | O_1..O_K | /O_1../O_K | CLMs of O_1, .., O_K

Solid subject markers are wordpieces of the text; levitated object markers share the
position ids of the object's first / last wordpiece; CLMs get positions after the text.
The 3-D attention mask is `marker_attention_mask` with the subject marker rows moved
into the text (Feng et al., 2025, Appendix A.1 and Figure 3; the authors' code, Hiaa1/SURE:
run_sure.py). Same input and output as the listener mode.
"""
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy
from spacy.tokens import Doc
from spacy.util import registry
from thinc.api import ArgsKwargs, Model, PyTorchWrapper_v3, xp2torch

from ..entities import sentence_starts
from ..errors import Errors
from .levitated_marker import (
    GROUPS_PER_CALL,
    N_CLM_POSITIONS,
    InT,
    OutT,
    PackedPairs,
    PairGroup,
    context_window,
    convert_outputs,
    group_focus,
    marker_attention_mask,
    n_entity_classes,
    n_outputs,
    row_offsets,
)

SOLID_LAYOUT_KEYS = ("input_ids", "positions", "mask", "pair_rows")
# wordpiece ids, marker rows of each solid span, first and last wordpiece row of each token
MarkedText = Tuple[List[int], List[Tuple[int, int]], Dict[int, int], Dict[int, int]]


@registry.architectures("spacy-relext.LevitatedMarkerTransformer.v1")
def build_levitated_marker_transformer(
    encoder: str,
    *,
    max_length: int = 256,
    mutual_object_attention: bool = True,
    dropout: float = 0.1,
    nO: Optional[int] = None,
) -> Model[InT, OutT]:
    """Score packed (subject, object) pairs with an own Hugging Face encoder.

    encoder (str): A local Hugging Face model directory (e.g. from
        `spacy-relext.installed_encoder.v1`); read at initialization only, since the
        weights and tokenizer are saved with the pipeline.
    max_length (int): Most wordpieces of text per sequence ([CLS], [SEP] and the two
        solid markers included): the subject's sentence widened with neighbouring
        sentences while they fit.
    mutual_object_attention (bool): M-DOS.
    dropout (float): Dropout before the pair head.
    nO (Optional[int]): Number of directional classes; set by the component.
    RETURNS (Model[InT, OutT]): Logits, one row per pair.
    """
    from .pytorch_marker_encoder import deserialize_encoder, serialize_encoder

    wrapper = PyTorchWrapper_v3(
        None,
        convert_inputs=_convert_inputs,
        convert_outputs=convert_outputs,
        serialize_model=serialize_encoder,
        deserialize_model=deserialize_encoder,
    )
    return Model(
        "levitated_marker_transformer",
        forward,
        init=init,
        layers=[wrapper],
        refs={"encoder": wrapper},
        dims={"nO": nO},
        attrs={
            "encoder_path": encoder,
            "max_length": max_length,
            "mutual_object_attention": mutual_object_attention,
            "dropout": dropout,
        },
    )


def init(model: Model[InT, OutT], X: Optional[InT] = None, Y: Optional[OutT] = None) -> None:
    from .pytorch_marker_encoder import load_marker_encoder

    if Y is not None and not model.has_dim("nO"):
        model.set_dim("nO", Y.shape[1])
    module = load_marker_encoder(model.attrs["encoder_path"], model.get_dim("nO"), model.attrs["dropout"],
                                 n_entity_classes(model))
    n_positions = module.encoder.config.max_position_embeddings
    if model.attrs["max_length"] + N_CLM_POSITIONS > n_positions:
        raise ValueError(Errors.E406.format(max_length=model.attrs["max_length"], n=n_positions - N_CLM_POSITIONS))
    model.get_ref("encoder").shims[0]._model = module


def forward(model: Model[InT, OutT], inputs: InT, is_train: bool) -> Tuple[OutT, Callable[[OutT], List]]:
    docs, packed = inputs
    ops = model.ops
    if packed.n_pairs == 0:
        return ops.alloc2f(0, n_outputs(model)), lambda d_scores: []
    encoder = model.get_ref("encoder")
    module = encoder.shims[0]._model
    pieces = [_doc_pieces(module.tokenizer, doc) for doc in docs]
    sentences = [sentence_starts(doc) for doc in docs]  # once per Doc, not per group
    special = _special_ids(module)
    max_length = model.attrs["max_length"]
    marked = [
        _marked_group(pieces[g.doc_index], g, docs, max_length, special, packed.solid_objects, sentences[g.doc_index])
        for g in packed.groups
    ]
    # Chunks of groups of similar length (text, then objects) pad less than chunks in
    # document order; the scores are put back in pair order.
    order = sorted(range(len(packed.groups)), key=lambda g: (len(marked[g][0]), len(packed.groups[g].objects)))
    outputs = []
    for start in range(0, len(order), GROUPS_PER_CALL):
        chunk = order[start : start + GROUPS_PER_CALL]
        layout = make_solid_layout(
            pieces,
            packed.take(chunk),
            docs=docs,
            max_length=max_length,
            mutual=model.attrs["mutual_object_attention"],
            special=special,
            marked=[marked[g] for g in chunk],
        )
        outputs.append(encoder(tuple(ops.asarray(layout[key]) for key in SOLID_LAYOUT_KEYS), is_train))
    sorted_scores = ops.xp.concatenate([s for s, _ in outputs]) if len(outputs) > 1 else outputs[0][0]
    pair_order = ops.asarray1i(packed.pair_indices(order))
    scores = ops.alloc2f(*sorted_scores.shape)
    scores[pair_order] = sorted_scores

    def backprop(d_scores: OutT) -> List:
        d_sorted = d_scores[pair_order]
        start = 0
        for chunk_scores, backprop_chunk in outputs:
            backprop_chunk(d_sorted[start : start + len(chunk_scores)])
            start += len(chunk_scores)
        return []

    return scores, backprop


def _doc_pieces(tokenizer: Any, doc: Doc) -> List[List[int]]:
    from ..encoders import wordpieces

    return wordpieces(tokenizer, [token.text for token in doc])


def _special_ids(module: Any) -> Dict[str, Any]:
    tokenizer = module.tokenizer
    return {
        "cls": tokenizer.cls_token_id,
        "sep": tokenizer.sep_token_id,
        "pad": tokenizer.pad_token_id,
        "markers": module.marker_ids,
        "clms": numpy.asarray(module.clm_token_ids),
    }


def _convert_inputs(model: Model, inputs: Tuple, is_train: bool) -> Tuple[ArgsKwargs, Callable]:
    return ArgsKwargs(args=tuple(xp2torch(a) for a in inputs), kwargs={}), lambda d_args: None


def _wordpiece_window(
    doc: Doc, pieces: List[List[int]], focus: Tuple[int, int], budget: int, starts: Optional[List[int]] = None
) -> Tuple[int, int]:
    """`context_window` in tokens, then trimmed on the side farther from the focus
    until its wordpieces fit `budget`."""
    start, end = context_window(doc, focus, budget, starts)
    count = sum(len(p) for p in pieces[start:end])
    while count > budget and (start < focus[0] or end > focus[1]):
        if focus[0] - start >= end - focus[1]:
            count -= len(pieces[start])
            start += 1
        else:
            end -= 1
            count -= len(pieces[end])
    return start, end


def _marked_text(
    doc_pieces: List[List[int]],
    spans: List[Tuple[int, int]],
    group: PairGroup,
    docs: Sequence[Doc],
    max_length: int,
    special: Dict[str, Any],
    starts: Optional[List[int]] = None,
) -> MarkedText:
    """[CLS] window [SEP] wordpiece ids with solid markers around `spans` (the subject
    first, then solid objects), the rows of each span's two markers, and the first and
    last wordpiece row of each token of the window.
    """
    s_open, s_close, o_open, o_close = special["markers"]
    budget = max_length - 2 - 2 * len(spans)
    start, end = _wordpiece_window(docs[group.doc_index], doc_pieces, group_focus(group, budget), budget, starts)
    ids, first, last = [special["cls"]], {}, {}
    rows = [[0, 0] for _ in spans]
    for t in range(start, end):
        for k, span in enumerate(spans):
            if span[0] == t:
                rows[k][0] = len(ids)
                ids.append(s_open if k == 0 else o_open)
        first[t] = len(ids)
        ids.extend(doc_pieces[t])
        last[t] = len(ids) - 1
        for k, span in reversed(list(enumerate(spans))):
            if span[1] - 1 == t:
                rows[k][1] = len(ids)
                ids.append(s_close if k == 0 else o_close)
    ids = ids[: max_length - 1] + [special["sep"]]
    inside = len(ids) - 2
    return ids, [(min(a, inside), min(b, inside)) for a, b in rows], first, last


def _marked_group(
    doc_pieces: List[List[int]],
    group: PairGroup,
    docs: Sequence[Doc],
    max_length: int,
    special: Dict[str, Any],
    solid_objects: bool,
    starts: Optional[List[int]],
) -> MarkedText:
    """`_marked_text` of a group: its subject marked solid, and its objects too with
    pair packing."""
    spans = [group.subject] + (group.objects if solid_objects else [])
    return _marked_text(doc_pieces, spans, group, docs, max_length, special, starts)


def make_solid_layout(
    pieces: Sequence[List[List[int]]],
    packed: PackedPairs,
    *,
    docs: Sequence[Doc],
    max_length: int,
    mutual: bool,
    special: Dict[str, Any],
    sentences: Optional[Sequence[List[int]]] = None,
    marked: Optional[Sequence[MarkedText]] = None,
) -> Dict[str, numpy.ndarray]:
    """Input ids, position ids, 3-D mask and pair rows of packed sequences.

    pieces (Sequence[List[List[int]]]): Wordpiece ids per token, per Doc.
    packed (PackedPairs): The groups and optional CLM token classes.
    docs (Sequence[Doc]): The Docs (for sentence boundaries).
    max_length (int): Text wordpieces per sequence, special tokens and markers included.
    mutual (bool): M-DOS.
    special (Dict[str, Any]): cls, sep, pad ids, the 4 marker ids, CLM ids per class token.
    sentences (Optional[Sequence[List[int]]]): `sentence_starts` of each Doc, when the
        caller already has them; read from the Docs otherwise.
    marked (Optional[Sequence[MarkedText]]): `_marked_group` of each group, when the
        caller already has them.
    RETURNS (Dict[str, numpy.ndarray]): input_ids, positions (G, T), mask (G, T, T)
        and pair_rows (P, 5).
    """
    solid = packed.solid_objects
    if marked is None:
        if sentences is None:
            sentences = [sentence_starts(doc) for doc in docs]
        marked = [
            _marked_group(pieces[g.doc_index], g, docs, max_length, special, solid, sentences[g.doc_index])
            for g in packed.groups
        ]
    texts, marker_rows, object_positions = [], [], []
    for group, (ids, rows, first, last) in zip(packed.groups, marked):
        texts.append(ids)
        marker_rows.append(rows)
        if not solid:
            start = min(first)

            def position(t: int, table: Dict[int, int]) -> int:
                return min(table.get(t, 1 if t < start else len(ids) - 2), len(ids) - 2)

            object_positions.append([(position(o[0], first), position(o[1] - 1, last)) for o in group.objects])
    text_width = max(len(ids) for ids in texts)
    object_width = max(len(group.objects) for group in packed.groups)
    clm_width = 0 if packed.clm_ids is None else packed.clm_ids.shape[1]
    # rows of the listener layout (its subject rows, and with solid objects its object
    # rows, live in the text here) and the ones kept
    subject, starts, ends, clms = row_offsets(text_width, object_width, clm_width)
    kept_markers = numpy.arange(ends + object_width) if not solid else numpy.arange(0)
    keep = numpy.r_[0:text_width, kept_markers[starts:], clms : clms + object_width * clm_width].astype(int)
    n_rows = len(keep)
    starts, ends, clms = starts - 2, ends - 2, n_rows - object_width * clm_width
    input_ids = numpy.full((len(texts), n_rows), special["pad"], dtype="int64")
    positions = numpy.zeros((len(texts), n_rows), dtype="int64")
    full = marker_attention_mask(
        numpy.asarray([len(ids) for ids in texts]),
        numpy.asarray([len(group.objects) for group in packed.groups]),
        text_width=text_width,
        object_width=object_width,
        clm_width=clm_width,
        mutual=mutual,
    )
    mask = full[:, keep[:, None], keep[None, :]].astype("int64")
    pair_rows = []
    pair = 0
    for g, (ids, group) in enumerate(zip(texts, packed.groups)):
        input_ids[g, : len(ids)] = ids
        positions[g, : len(ids)] = numpy.arange(len(ids))
        for x in range(len(group.objects)):
            if solid:
                pair_rows.append((g, *marker_rows[g][0], *marker_rows[g][1 + x]))
            else:
                input_ids[g, [starts + x, ends + x]] = special["markers"][2:]
                positions[g, [starts + x, ends + x]] = object_positions[g][x]
                pair_rows.append((g, *marker_rows[g][0], starts + x, ends + x))
            if clm_width:
                rows = numpy.arange(clms + x * clm_width, clms + (x + 1) * clm_width)
                input_ids[g, rows] = special["clms"][packed.clm_ids[pair]]
                positions[g, rows] = max_length + numpy.minimum(numpy.arange(clm_width), N_CLM_POSITIONS - 1)
            pair += 1
        # solid markers are text rows; they see every object's CLMs (Hiaa1/SURE: run_sure.py, `train`)
        solid_rows = [row for rows in marker_rows[g] for row in rows]
        mask[g, numpy.asarray(solid_rows)[:, None], numpy.arange(clms, clms + len(group.objects) * clm_width)] = 1
    return {
        "input_ids": input_ids,
        "positions": positions,
        "mask": mask,
        "pair_rows": numpy.asarray(pair_rows, dtype="int64"),
    }
