"""Listener-mode levitated-marker pair classifier (PL-Marker packing, M-DOS, CLMs).

The model reads token vectors from `tok2vec` and packs one sequence per subject and
group of objects (Feng et al., 2025, sections 3.1-3.2; the authors' code, Hiaa1/SURE:
run_sure.py, `ACEDataset.__getitem__`), in rows laid out as

    text (window of the subject's sentence) | S /S | O_1..O_K | /O_1../O_K | CLMs of O_1, .., O_K

Subject ("solid") and levitated object markers are a learned marker embedding plus the
token vector at the argument boundary, with the boundary's position id. Text rows never
see markers (their vectors are computed before any marker exists); the subject markers
play the part of PL-Marker's solid markers, so every marker and CLM row sees them.
"""
from dataclasses import dataclass
from typing import Callable, List, Optional, Sequence, Tuple

import numpy
from spacy.tokens import Doc
from spacy.util import registry
from thinc.api import ArgsKwargs, Model, PyTorchWrapper_v3, torch2xp, xp2torch
from thinc.types import Floats2d, Ints2d

from ..entities import sentence_index, sentence_starts, window_around
from ..errors import Errors
from ..torch_io import deserialize_weights_only

Offsets = Tuple[int, int]  # (start, end) token offsets, end exclusive
N_CLM_POSITIONS = 16  # CLM j gets position max_length + min(j, N_CLM_POSITIONS - 1)
GROUPS_PER_CALL = 64  # packed sequences per attention call, to bound the (G, T, T) mask


@dataclass
class PairGroup:
    """One packed sequence: a subject and up to `max_pair_length` objects in one Doc."""

    doc_index: int
    subject: Offsets
    objects: List[Offsets]


@dataclass
class PackedPairs:
    """Model input besides the Docs: the groups, and optionally CLM tokens per pair.

    groups (List[PairGroup]): The packed sequences; pairs are numbered group by group.
    clm_ids (Optional[Ints2d]): (n_pairs, n_clms) CLM token ids, in slot order, or None.
    solid_objects (bool): One object per group, marked like the subject (the PURE-style
        one-pass-per-pair baseline) instead of levitated.
    """

    groups: List[PairGroup]
    clm_ids: Optional[Ints2d] = None
    solid_objects: bool = False

    @property
    def n_pairs(self) -> int:
        return sum(len(group.objects) for group in self.groups)

    def slice(self, start: int, end: int) -> "PackedPairs":
        """The groups `start:end`, with their CLM rows."""
        if start == 0 and end >= len(self.groups):
            return self
        first = sum(len(group.objects) for group in self.groups[:start])
        groups = self.groups[start:end]
        last = first + sum(len(group.objects) for group in groups)
        clm_ids = None if self.clm_ids is None else self.clm_ids[first:last]
        return PackedPairs(groups, clm_ids, self.solid_objects)


InT = Tuple[List[Doc], PackedPairs]
OutT = Floats2d


@registry.architectures("spacy-relext.LevitatedMarkerClassifier.v1")
def build_levitated_marker_classifier(
    tok2vec: Model[List[Doc], List[Floats2d]],
    *,
    hidden_width: int = 96,
    depth: int = 1,
    n_heads: int = 4,
    dropout: float = 0.1,
    max_length: int = 128,
    mutual_object_attention: bool = True,
    nO: Optional[int] = None,
) -> Model[InT, OutT]:
    """Score packed (subject, object) pairs from shared token vectors.

    tok2vec (Model[List[Doc], List[Floats2d]]): Token vectors (a listener in configs).
    hidden_width (int): Width of the attention layer.
    depth (int): Number of attention blocks.
    n_heads (int): Attention heads; must divide `hidden_width`.
    dropout (float): Dropout inside the attention layer.
    max_length (int): Most tokens of context per packed sequence: the subject's
        sentence, widened with neighbouring sentences while they fit.
    mutual_object_attention (bool): M-DOS: the markers of all objects of a group see
        each other.
    nO (Optional[int]): Number of directional classes; set by the component.
    RETURNS (Model[InT, OutT]): Logits, one row per pair.
    """
    if hidden_width % n_heads != 0 or min(hidden_width, depth, n_heads, max_length) < 1:
        raise ValueError(Errors.E403.format(width=hidden_width, heads=n_heads, depth=depth, max_length=max_length))
    model: Model[InT, OutT] = Model(
        "levitated_marker_classifier",
        forward,
        init=init,
        layers=[tok2vec],
        refs={"tok2vec": tok2vec},
        dims={"nI": None, "nO": nO},
        attrs={
            "hidden_width": hidden_width,
            "depth": depth,
            "n_heads": n_heads,
            "dropout": dropout,
            "max_length": max_length,
            "mutual_object_attention": mutual_object_attention,
        },
    )
    return model


def init(model: Model[InT, OutT], X: Optional[InT] = None, Y: Optional[OutT] = None) -> None:
    tok2vec = model.get_ref("tok2vec")
    tok2vec.initialize(X=X[0] if X is not None else None)
    if not model.has_dim("nI") and tok2vec.has_dim("nO"):
        model.set_dim("nI", tok2vec.get_dim("nO"))
    if Y is not None and not model.has_dim("nO"):
        model.set_dim("nO", Y.shape[1])
    build_attention(model)


def build_attention(model: Model[InT, OutT]) -> None:
    """Create the PyTorch layer once `nI` and `nO` are known (also before loading
    weights into a model rebuilt from config). Does nothing if it already exists.
    """
    if model.has_ref("attention"):
        return
    from .pytorch_marker_attention import MarkerAttention

    n_classes = model.get_dim("nO")
    module = MarkerAttention(
        model.get_dim("nI"),
        model.attrs["hidden_width"],
        n_classes,
        depth=model.attrs["depth"],
        n_heads=model.attrs["n_heads"],
        n_positions=model.attrs["max_length"] + N_CLM_POSITIONS,
        n_clm_tokens=2 * n_classes,
        dropout=model.attrs["dropout"],
    )
    attention = PyTorchWrapper_v3(
        module, convert_inputs=_convert_inputs, convert_outputs=convert_outputs, deserialize_model=deserialize_weights_only
    )
    model.layers.append(attention)
    model.set_ref("attention", attention)


def forward(model: Model[InT, OutT], inputs: InT, is_train: bool) -> Tuple[OutT, Callable[[OutT], List[Floats2d]]]:
    docs, packed = inputs
    ops = model.ops
    tokvecs, backprop_tok2vec = model.get_ref("tok2vec")(docs, is_train)
    n_in = model.get_dim("nI")
    if packed.n_pairs == 0:
        return ops.alloc2f(0, model.get_dim("nO")), lambda d_scores: []
    lengths = [len(doc) for doc in docs]
    flat = ops.flatten(tokvecs) if sum(lengths) else ops.alloc2f(0, n_in)
    sentences = [sentence_starts(doc) for doc in docs]  # once per Doc, not per chunk
    outputs = []
    for start in range(0, len(packed.groups), GROUPS_PER_CALL):
        chunk = packed.slice(start, start + GROUPS_PER_CALL)
        outputs.append(_attend(model, docs, flat, chunk, is_train, sentences))
    scores = ops.xp.concatenate([scores for scores, _ in outputs]) if len(outputs) > 1 else outputs[0][0]

    def backprop(d_scores: OutT) -> List[Floats2d]:
        d_flat = ops.alloc2f(*flat.shape)
        start = 0
        for chunk_scores, backprop_chunk in outputs:
            backprop_chunk(d_scores[start : start + len(chunk_scores)], d_flat)
            start += len(chunk_scores)
        return backprop_tok2vec(ops.unflatten(d_flat, ops.asarray1i(lengths)))

    return scores, backprop


def _attend(
    model: Model[InT, OutT],
    docs: Sequence[Doc],
    flat: Floats2d,
    packed: PackedPairs,
    is_train: bool,
    sentences: Sequence[List[int]],
) -> Tuple[Floats2d, Callable[[Floats2d, Floats2d], None]]:
    """Scores of one chunk of groups; its backprop adds into the token-vector gradient."""
    ops = model.ops
    n_in = flat.shape[1]
    layout = make_layout(
        docs,
        packed,
        max_length=model.attrs["max_length"],
        mutual=model.attrs["mutual_object_attention"],
        sentences=sentences,
    )
    sources = layout.sources.ravel()
    has_source = ops.asarray1i(numpy.flatnonzero(sources >= 0))
    source_rows = ops.asarray1i(sources[sources >= 0])
    X = ops.alloc2f(sources.shape[0], n_in)
    X[has_source] = flat[source_rows]
    X = X.reshape((*layout.sources.shape, n_in))
    ints = [ops.asarray(a) for a in (layout.row_types, layout.positions, layout.clm_ids, layout.mask, layout.pair_rows)]
    scores, backprop_attention = model.get_ref("attention")((X, *ints), is_train)

    def backprop(d_scores: Floats2d, d_flat: Floats2d) -> None:
        dX = backprop_attention(d_scores).reshape((-1, n_in))
        ops.scatter_add(d_flat, source_rows, dX[has_source])

    return scores, backprop


def _convert_inputs(model: Model, inputs: Tuple, is_train: bool) -> Tuple[ArgsKwargs, Callable[[ArgsKwargs], Floats2d]]:
    X, *ints = inputs
    args = (xp2torch(X, requires_grad=is_train), *(xp2torch(a) for a in ints))

    def backprop(d_args: ArgsKwargs):
        return torch2xp(d_args.args[0])

    return ArgsKwargs(args=args, kwargs={}), backprop


def convert_outputs(model: Model, inputs_outputs: Tuple, is_train: bool) -> Tuple[Floats2d, Callable[[Floats2d], ArgsKwargs]]:
    _, scores = inputs_outputs

    def backprop(d_scores: Floats2d) -> ArgsKwargs:
        return ArgsKwargs(args=(scores,), kwargs={"grad_tensors": [xp2torch(d_scores)]})

    return torch2xp(scores), backprop


@dataclass
class Layout:
    """Row layout of a batch of packed sequences (numpy, G groups of T rows)."""

    sources: numpy.ndarray  # (G, T) row of the flattened token vectors, -1 for none
    row_types: numpy.ndarray  # (G, T)
    positions: numpy.ndarray  # (G, T)
    clm_ids: numpy.ndarray  # (G, T) CLM token id + 1, 0 for other rows
    mask: numpy.ndarray  # (G, T, T) bool
    pair_rows: numpy.ndarray  # (P, 5) group, rows of S, /S, O, /O


def row_offsets(text_width: int, object_width: int, clm_width: int) -> Tuple[int, int, int, int]:
    """First row of the subject markers, object start markers, object end markers and
    CLMs; the total number of rows is `clms + object_width * clm_width`.
    """
    subject = text_width
    starts = subject + 2
    ends = starts + object_width
    clms = ends + object_width
    return subject, starts, ends, clms


def marker_attention_mask(
    n_text: int,
    n_objects: int,
    *,
    text_width: int,
    object_width: int,
    clm_width: int = 0,
    mutual: bool = True,
    solid_objects: bool = False,
) -> numpy.ndarray:
    """The attention mask of one packed sequence (True: row may see column).

    Text rows see the text only. Subject markers see the text, each other and every
    CLM. Object markers see the text, the subject markers, their partner, their own
    CLMs and, with `mutual` (M-DOS), all markers of the group's objects. CLM rows see
    the text, the subject markers, their object's two markers and their object's CLMs.
    Padding rows see only themselves.

    n_text (int): Real text rows (<= text_width).
    n_objects (int): Real objects (<= object_width).
    text_width (int): Text rows, padding included.
    object_width (int): Object slots, padding included.
    clm_width (int): CLMs per object (0 without CLMs).
    mutual (bool): M-DOS.
    solid_objects (bool): The object markers are solid too (PURE-style pairs): the
        subject markers see them as well.
    RETURNS (numpy.ndarray): (T, T) bool.
    """
    subject, starts, ends, clms = row_offsets(text_width, object_width, clm_width)
    n_rows = clms + object_width * clm_width
    mask = numpy.eye(n_rows, dtype=bool)
    text = slice(0, n_text)
    mask[:n_text, text] = True
    subj = slice(subject, subject + 2)
    real_clms = numpy.arange(clms, clms + n_objects * clm_width)
    mask[subj, text] = True
    mask[subj, subj] = True
    mask[subject:subject + 2, real_clms] = True
    objects = numpy.concatenate([numpy.arange(starts, starts + n_objects), numpy.arange(ends, ends + n_objects)])
    if mutual:
        mask[numpy.ix_(objects, objects)] = True
    for x in range(n_objects):
        markers = [starts + x, ends + x]
        own = numpy.arange(clms + x * clm_width, clms + (x + 1) * clm_width)
        mask[numpy.ix_(markers, markers)] = True
        mask[numpy.ix_(markers, own)] = True
        mask[numpy.ix_(own, own)] = True
        mask[numpy.ix_(own, markers)] = True
    seers = numpy.concatenate([objects, real_clms])
    mask[seers, text] = True
    mask[seers, subj] = True
    if solid_objects:
        mask[subject : subject + 2, objects] = True
    return mask


def group_focus(group: PairGroup, max_length: int) -> Offsets:
    """The tokens a group's context window must contain: from its first to its last
    argument when that fits in `max_length` tokens, else the subject alone (a pair
    farther apart cannot share one window; `ClmClassifier.pack` warns about it).
    """
    start = min([group.subject[0]] + [o[0] for o in group.objects])
    end = max([group.subject[1]] + [o[1] for o in group.objects])
    return (start, end) if end - start <= max_length else group.subject


def context_window(doc: Doc, focus: Offsets, max_length: int, starts: Optional[List[int]] = None) -> Offsets:
    """The sentences holding `focus` (a subject, or a group's arguments) widened with
    neighbouring sentences while the window stays within `max_length` tokens; a window
    centred on the focus when those sentences alone are longer.

    starts (Optional[List[int]]): `sentence_starts(doc)`, computed once per Doc by a
        caller placing many groups (reading them per group made packing quadratic).
    """
    if starts is None:
        starts = sentence_starts(doc)

    def bounds(k: int) -> Offsets:
        return starts[k], starts[k + 1] if k + 1 < len(starts) else len(doc)

    first = sentence_index(starts, focus[0])
    last = sentence_index(starts, max(focus[0], focus[1] - 1))
    start, end = bounds(first)[0], bounds(last)[1]
    if end - start > max_length:
        return window_around(focus, max_length, (0, len(doc)))
    grew = True
    while grew:
        grew = False
        for candidate in (first - 1, last + 1):
            if 0 <= candidate < len(starts):
                new_start, new_end = min(start, bounds(candidate)[0]), max(end, bounds(candidate)[1])
                if new_end - new_start <= max_length:
                    start, end = new_start, new_end
                    first, last = min(first, candidate), max(last, candidate)
                    grew = True
    return start, end


def make_layout(
    docs: Sequence[Doc],
    packed: PackedPairs,
    *,
    max_length: int,
    mutual: bool,
    sentences: Optional[Sequence[List[int]]] = None,
) -> Layout:
    """Rows, ids and masks of a batch of packed sequences.

    docs (Sequence[Doc]): The Docs the groups refer to.
    packed (PackedPairs): The groups and optional CLM ids.
    max_length (int): Context tokens per sequence.
    mutual (bool): M-DOS.
    sentences (Optional[Sequence[List[int]]]): `sentence_starts` of each Doc, when the
        caller already has them; read from the Docs otherwise.
    RETURNS (Layout): The layout.
    """
    from .pytorch_marker_attention import CLM, OBJ_END, OBJ_START, SUBJ_END, SUBJ_START, TEXT

    doc_starts = numpy.cumsum([0] + [len(doc) for doc in docs])
    if sentences is None:
        sentences = [sentence_starts(doc) for doc in docs]
    windows = [
        context_window(docs[g.doc_index], group_focus(g, max_length), max_length, sentences[g.doc_index])
        for g in packed.groups
    ]
    text_width = max(end - start for start, end in windows)
    object_width = max(len(g.objects) for g in packed.groups)
    clm_width = 0 if packed.clm_ids is None else packed.clm_ids.shape[1]
    subject, starts, ends, clms = row_offsets(text_width, object_width, clm_width)
    n_rows = clms + object_width * clm_width
    shape = (len(packed.groups), n_rows)
    sources = numpy.full(shape, -1, dtype="int32")
    row_types = numpy.zeros(shape, dtype="int64")
    positions = numpy.zeros(shape, dtype="int64")
    clm_ids = numpy.zeros(shape, dtype="int64")
    mask = numpy.zeros((*shape, n_rows), dtype=bool)
    pair_rows = []
    pair = 0
    for g, (group, (w_start, w_end)) in enumerate(zip(packed.groups, windows)):
        base = doc_starts[group.doc_index]
        n_text = w_end - w_start
        sources[g, :n_text] = numpy.arange(base + w_start, base + w_end)
        row_types[g, :n_text] = TEXT
        positions[g, :n_text] = numpy.arange(n_text)

        def place(row: int, token: int, row_type: int) -> None:
            sources[g, row] = base + token
            row_types[g, row] = row_type
            positions[g, row] = min(max(token - w_start, 0), max_length - 1)

        place(subject, group.subject[0], SUBJ_START)
        place(subject + 1, group.subject[1] - 1, SUBJ_END)
        for x, (o_start, o_end) in enumerate(group.objects):
            place(starts + x, o_start, OBJ_START)
            place(ends + x, o_end - 1, OBJ_END)
            pair_rows.append((g, subject, subject + 1, starts + x, ends + x))
            if clm_width:
                rows = slice(clms + x * clm_width, clms + (x + 1) * clm_width)
                row_types[g, rows] = CLM
                positions[g, rows] = max_length + numpy.minimum(numpy.arange(clm_width), N_CLM_POSITIONS - 1)
                clm_ids[g, rows] = numpy.asarray(packed.clm_ids[pair]) + 1
            pair += 1
        mask[g] = marker_attention_mask(
            n_text,
            len(group.objects),
            text_width=text_width,
            object_width=object_width,
            clm_width=clm_width,
            mutual=mutual,
            solid_objects=packed.solid_objects,
        )
    return Layout(sources, row_types, positions, clm_ids, mask, numpy.asarray(pair_rows, dtype="int64"))
