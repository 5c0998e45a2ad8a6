"""Listener-mode levitated-marker pair classifier (PL-Marker packing, M-DOS, CLMs).

The model reads token vectors from `tok2vec` and packs one sequence per subject and
group of objects (Feng et al., 2025, sections 3.1-3.2; the authors' code, Hiaa1/SURE:
run_sure.py, `ACEDataset.__getitem__`), in rows laid out as

    text (window of the subject's sentence) | S /S | O_1..O_K | /O_1../O_K | CLMs of O_1, .., O_K

Subject ("solid") and levitated object markers are a learned marker embedding plus the
token vector at the argument boundary, with the boundary's position id. Text rows never
see markers (their vectors are computed before any marker exists); the subject markers
play the part of PL-Marker's solid markers, so every marker and CLM row sees them.
Since the text states depend on the context window alone, each window of a chunk of
groups runs through the attention blocks once, however many groups read it (issue 24).
"""
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy
from spacy.tokens import Doc
from spacy.util import registry
from thinc.api import ArgsKwargs, Model, Ops, PyTorchWrapper_v3, torch2xp, xp2torch
from thinc.types import Floats2d, Floats3d, Ints1d, Ints2d

from ..entities import sentence_index, sentence_starts, window_around
from ..errors import Errors
from ..torch_io import deserialize_weights_only

Offsets = Tuple[int, int]  # (start, end) token offsets, end exclusive
N_CLM_POSITIONS = 16  # CLM j gets position max_length + min(j, N_CLM_POSITIONS - 1)
GROUPS_PER_CALL = 64  # packed sequences per attention call, to bound its masks and key copies


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

    def pair_indices(self, indices: Sequence[int]) -> numpy.ndarray:
        """The numbers of the pairs of the groups at `indices`, in that order."""
        sizes = numpy.asarray([len(group.objects) for group in self.groups], dtype="int64")
        firsts = numpy.cumsum(sizes) - sizes
        return numpy.concatenate([numpy.arange(firsts[i], firsts[i] + sizes[i]) for i in indices] + [sizes[:0]])

    def take(self, indices: Sequence[int]) -> "PackedPairs":
        """The groups at `indices`, in that order, with their CLM rows."""
        groups = [self.groups[i] for i in indices]
        clm_ids = None if self.clm_ids is None else self.clm_ids[self.pair_indices(indices)]
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
        n_entity_classes=n_entity_classes(model),
    )
    attention = PyTorchWrapper_v3(
        module, convert_inputs=_convert_inputs, convert_outputs=convert_outputs, deserialize_model=deserialize_weights_only
    )
    model.layers.append(attention)
    model.set_ref("attention", attention)


def forward(model: Model[InT, OutT], inputs: InT, is_train: bool) -> Tuple[OutT, Callable[[OutT], List[Floats2d]]]:
    return _forward(model, inputs, is_train, is_train)


def _forward(
    model: Model[InT, OutT], inputs: InT, tok2vec_train: bool, attention_train: bool
) -> Tuple[OutT, Callable[[OutT], List[Floats2d]]]:
    """`forward`, with the token vectors and the attention layer each in training or
    prediction mode: stage 1 without dropout needs the training-mode token vectors (a
    listener only has the batch's vectors in training mode) and an attention layer in
    prediction mode."""
    docs, packed = inputs
    ops = model.ops
    tokvecs, backprop_tok2vec = model.get_ref("tok2vec")(docs, tok2vec_train)
    n_in = model.get_dim("nI")
    if packed.n_pairs == 0:
        return ops.alloc2f(0, n_outputs(model)), lambda d_scores: []
    lengths = [len(doc) for doc in docs]
    flat = ops.flatten(tokvecs) if sum(lengths) else ops.alloc2f(0, n_in)
    sentences = [sentence_starts(doc) for doc in docs]  # once per Doc, not per chunk
    outputs = []
    for start in range(0, len(packed.groups), GROUPS_PER_CALL):
        chunk = packed.slice(start, start + GROUPS_PER_CALL)
        outputs.append(_attend(model, docs, flat, chunk, attention_train, sentences))
    scores = ops.xp.concatenate([scores for scores, _ in outputs]) if len(outputs) > 1 else outputs[0][0]

    def backprop(d_scores: OutT) -> List[Floats2d]:
        d_flat = ops.alloc2f(*flat.shape)
        start = 0
        for chunk_scores, backprop_chunk in outputs:
            backprop_chunk(d_scores[start : start + len(chunk_scores)], d_flat)
            start += len(chunk_scores)
        return backprop_tok2vec(ops.unflatten(d_flat, ops.asarray1i(lengths)))

    return scores, backprop


def n_entity_classes(model: Model) -> int:
    """Entity types plus NIL of the NER head on the object markers (PL-Marker), 0
    without it: set by the component in `model.attrs` before the layer is built."""
    return int(model.attrs.get("n_entity_classes", 0))


def n_outputs(model: Model) -> int:
    """Columns of the model's output: the directional classes, then the NER head's."""
    return model.get_dim("nO") + n_entity_classes(model)


def stage_one_scores(model: Model[InT, OutT], X: InT, *, dropout: bool) -> OutT:
    """Scores that rank the classes for the CLMs, without recording gradients: SURE's
    stage 1 runs under `torch.no_grad()` and only stage 2 is backpropagated (Hiaa1/SURE:
    run_sure.py, `train`), so no autograd graph is built for it.

    model (Model[InT, OutT]): A levitated-marker model (listener or transformer).
    X (InT): The Docs and packed pairs.
    dropout (bool): Run the model in training mode (dropout on), as the authors do.
    RETURNS (OutT): Logits, one row per pair.
    """
    import torch

    with torch.no_grad():
        if model.has_ref("tok2vec"):
            # A listener's token vectors in training mode: during an update it holds the
            # batch's vectors only there; in prediction mode it reads `doc.tensor`, still
            # empty, and gives zeros (issue 20).
            tok2vec = model.get_ref("tok2vec")
            listens = any(getattr(node, "upstream_name", None) is not None for node in tok2vec.walk())
            scores, _ = _forward(model, X, dropout or listens, dropout)
        else:
            scores, _ = model(X, is_train=dropout)
    return scores


def _attend(
    model: Model[InT, OutT],
    docs: Sequence[Doc],
    flat: Floats2d,
    packed: PackedPairs,
    is_train: bool,
    sentences: Sequence[List[int]],
) -> Tuple[Floats2d, Callable[[Floats2d, Floats2d], None]]:
    """Scores of one chunk of groups; its backprop adds into the token-vector gradient."""
    layout = make_layout(
        docs,
        packed,
        max_length=model.attrs["max_length"],
        mutual=model.attrs["mutual_object_attention"],
        sentences=sentences,
    )
    text_X, text_scatter = _gather(model.ops, flat, layout.text_sources)
    marker_X, marker_scatter = _gather(model.ops, flat, layout.sources)
    ints = [
        model.ops.asarray(a)
        for a in (layout.text_lengths, layout.windows, layout.row_types, layout.positions, layout.clm_ids,
                  layout.mask, layout.pair_rows)
    ]
    scores, backprop_attention = model.get_ref("attention")((text_X, marker_X, *ints), is_train)

    def backprop(d_scores: Floats2d, d_flat: Floats2d) -> None:
        d_text, d_markers = backprop_attention(d_scores)
        for dX, (has_source, source_rows) in ((d_text, text_scatter), (d_markers, marker_scatter)):
            model.ops.scatter_add(d_flat, source_rows, dX.reshape((-1, flat.shape[1]))[has_source])

    return scores, backprop


def _gather(ops: Ops, flat: Floats2d, sources: numpy.ndarray) -> Tuple[Floats3d, Tuple[Ints1d, Ints1d]]:
    """Token vectors of the rows of `sources` (N, R) (zeros where it is -1), and the
    row and token indices that scatter their gradient back."""
    indices = sources.ravel()
    has_source = ops.asarray1i(numpy.flatnonzero(indices >= 0))
    source_rows = ops.asarray1i(indices[indices >= 0])
    X = ops.alloc2f(indices.shape[0], flat.shape[1])
    X[has_source] = flat[source_rows]
    return X.reshape((*sources.shape, flat.shape[1])), (has_source, source_rows)


def _convert_inputs(model: Model, inputs: Tuple, is_train: bool) -> Tuple[ArgsKwargs, Callable[[ArgsKwargs], Tuple]]:
    text_X, marker_X, *ints = inputs
    args = (xp2torch(text_X, requires_grad=is_train), xp2torch(marker_X, requires_grad=is_train),
            *(xp2torch(a) for a in ints))

    def backprop(d_args: ArgsKwargs) -> Tuple[Floats3d, Floats3d]:
        return torch2xp(d_args.args[0]), torch2xp(d_args.args[1])

    return ArgsKwargs(args=args, kwargs={}), backprop


def convert_outputs(model: Model, inputs_outputs: Tuple, is_train: bool) -> Tuple[Floats2d, Callable[[Floats2d], ArgsKwargs]]:
    _, scores = inputs_outputs

    def backprop(d_scores: Floats2d) -> ArgsKwargs:
        return ArgsKwargs(args=(scores,), kwargs={"grad_tensors": [xp2torch(d_scores)]})

    return torch2xp(scores), backprop


@dataclass
class Layout:
    """Row layout of a chunk of G packed sequences (numpy), text apart from markers.

    Text rows see only text, so their states depend on the context window alone, not on
    the group's subject or objects: each distinct window of the chunk is one text
    sequence (W of them), computed once and read by every group in it. The marker block
    of a group is `S /S | O_1..O_K | /O_1../O_K | CLMs`, its rows numbered from 0.
    """

    text_sources: numpy.ndarray  # (W, L) row of the flattened token vectors, -1 for padding
    text_lengths: numpy.ndarray  # (W,) real text rows of each window
    windows: numpy.ndarray  # (G,) the window of each group
    sources: numpy.ndarray  # (G, M) token-vector row of each marker row, -1 for none
    row_types: numpy.ndarray  # (G, M), PAD for padding rows (they see no text)
    positions: numpy.ndarray  # (G, M)
    clm_ids: numpy.ndarray  # (G, M) CLM token id + 1, 0 for other rows
    mask: numpy.ndarray  # (G, M, M) bool: marker rows among themselves
    pair_rows: numpy.ndarray  # (P, 5) group, marker rows of S, /S, O, /O


def row_offsets(text_width: int, object_width: int, clm_width: int) -> Tuple[int, int, int, int]:
    """First row of the subject markers, object start markers, object end markers and
    CLMs; the total number of rows is `clms + object_width * clm_width`.
    """
    subject = text_width
    starts = subject + 2
    ends = starts + object_width
    clms = ends + object_width
    return subject, starts, ends, clms


# Row kinds of the attention mask (not the row-type embedding ids of the torch module).
_TEXT, _SUBJECT, _OBJECT, _CLM = range(4)


def marker_attention_mask(
    n_text: Union[int, numpy.ndarray],
    n_objects: Union[int, numpy.ndarray],
    *,
    text_width: int,
    object_width: int,
    clm_width: int = 0,
    mutual: bool = True,
    solid_objects: bool = False,
) -> numpy.ndarray:
    """The attention masks of packed sequences (True: row may see column).

    Text rows see the text only. Subject markers see the text, each other and every
    CLM. Object markers see the text, the subject markers, their partner, their own
    CLMs and, with `mutual` (M-DOS), all markers of the group's objects. CLM rows see
    the text, the subject markers, their object's two markers and their object's CLMs.
    Padding rows see only themselves. With `text_width=0` this is the marker block alone.

    n_text (Union[int, numpy.ndarray]): Real text rows (<= text_width), one count or
        one per sequence (G,).
    n_objects (Union[int, numpy.ndarray]): Real objects (<= object_width), likewise.
    text_width (int): Text rows, padding included.
    object_width (int): Object slots, padding included.
    clm_width (int): CLMs per object (0 without CLMs).
    mutual (bool): M-DOS.
    solid_objects (bool): The object markers are solid too (PURE-style pairs): the
        subject markers see them as well.
    RETURNS (numpy.ndarray): (T, T) bool for one count, (G, T, T) for arrays of counts.
    """
    subject, starts, ends, clms = row_offsets(text_width, object_width, clm_width)
    rows = numpy.arange(clms + object_width * clm_width)
    kind = numpy.select([rows < subject, rows < starts, rows < clms], [_TEXT, _SUBJECT, _OBJECT], _CLM)
    # the text row itself, or the object a marker or CLM row belongs to
    slot = numpy.select(
        [rows < subject, rows < starts, rows < ends, rows < clms],
        [rows, -1, rows - starts, rows - ends],
        (rows - clms) // max(clm_width, 1),
    )
    n_text = numpy.asarray(n_text)[..., None]
    n_objects = numpy.asarray(n_objects)[..., None]
    real = (kind == _SUBJECT) | ((kind == _TEXT) & (slot < n_text)) | ((kind >= _OBJECT) & (slot < n_objects))
    row, col = kind[:, None], kind[None, :]
    allowed = (col == _TEXT) | ((row != _TEXT) & (col == _SUBJECT)) | ((row == _SUBJECT) & (col == _CLM))
    allowed |= (row >= _OBJECT) & (col >= _OBJECT) & (slot[:, None] == slot[None, :])
    if mutual:
        allowed |= (row == _OBJECT) & (col == _OBJECT)
    if solid_objects:
        allowed |= (row == _SUBJECT) & (col == _OBJECT)
    return (allowed & real[..., :, None] & real[..., None, :]) | numpy.eye(len(rows), dtype=bool)


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
    """Rows, ids and masks of a chunk of packed sequences.

    docs (Sequence[Doc]): The Docs the groups refer to.
    packed (PackedPairs): The groups and optional CLM ids.
    max_length (int): Context tokens per sequence.
    mutual (bool): M-DOS.
    sentences (Optional[Sequence[List[int]]]): `sentence_starts` of each Doc, when the
        caller already has them; read from the Docs otherwise.
    RETURNS (Layout): The layout.
    """
    from .pytorch_marker_attention import CLM, OBJ_END, OBJ_START, SUBJ_END, SUBJ_START

    doc_starts = numpy.cumsum([0] + [len(doc) for doc in docs])
    if sentences is None:
        sentences = [sentence_starts(doc) for doc in docs]
    distinct: Dict[Tuple[int, int, int], int] = {}
    windows = numpy.asarray([
        distinct.setdefault(
            (g.doc_index, *context_window(docs[g.doc_index], group_focus(g, max_length), max_length,
                                          sentences[g.doc_index])),
            len(distinct),
        )
        for g in packed.groups
    ], dtype="int64")
    keys = numpy.asarray(list(distinct), dtype="int64").reshape(-1, 3)
    text_starts = doc_starts[keys[:, 0]] + keys[:, 1]
    text_lengths = keys[:, 2] - keys[:, 1]
    columns = numpy.arange(text_lengths.max())
    text_sources = numpy.where(columns < text_lengths[:, None], text_starts[:, None] + columns, -1).astype("int32")

    n_objects = numpy.asarray([len(g.objects) for g in packed.groups])
    object_width = int(n_objects.max())
    clm_width = 0 if packed.clm_ids is None else packed.clm_ids.shape[1]
    _, starts, ends, clms = row_offsets(0, object_width, clm_width)
    shape = (len(packed.groups), clms + object_width * clm_width)
    sources = numpy.full(shape, -1, dtype="int32")
    row_types = numpy.zeros(shape, dtype="int64")
    positions = numpy.zeros(shape, dtype="int64")
    clm_ids = numpy.zeros(shape, dtype="int64")
    # one entry per pair, groups in order: its group, its object's slot and offsets
    group = numpy.repeat(numpy.arange(len(packed.groups)), n_objects)
    slot = numpy.arange(len(group)) - numpy.repeat(numpy.cumsum(n_objects) - n_objects, n_objects)
    objects = numpy.asarray([o for g in packed.groups for o in g.objects], dtype="int64").reshape(-1, 2)
    subjects = numpy.asarray([g.subject for g in packed.groups], dtype="int64")
    base = doc_starts[keys[windows, 0]]
    window_start = keys[windows, 1]

    def place(g: numpy.ndarray, row: numpy.ndarray, token: numpy.ndarray, row_type: int) -> None:
        sources[g, row] = base[g] + token
        row_types[g, row] = row_type
        positions[g, row] = numpy.clip(token - window_start[g], 0, max_length - 1)

    every = numpy.arange(len(packed.groups))
    place(every, 0, subjects[:, 0], SUBJ_START)
    place(every, 1, subjects[:, 1] - 1, SUBJ_END)
    place(group, starts + slot, objects[:, 0], OBJ_START)
    place(group, ends + slot, objects[:, 1] - 1, OBJ_END)
    if clm_width:
        clm_rows = clms + slot[:, None] * clm_width + numpy.arange(clm_width)
        row_types[group[:, None], clm_rows] = CLM
        positions[group[:, None], clm_rows] = max_length + numpy.minimum(numpy.arange(clm_width), N_CLM_POSITIONS - 1)
        clm_ids[group[:, None], clm_rows] = numpy.asarray(packed.clm_ids) + 1
    mask = marker_attention_mask(
        0,
        n_objects,
        text_width=0,
        object_width=object_width,
        clm_width=clm_width,
        mutual=mutual,
        solid_objects=packed.solid_objects,
    )
    zeros = numpy.zeros_like(group)
    pair_rows = numpy.stack([group, zeros, zeros + 1, starts + slot, ends + slot], axis=1)
    return Layout(text_sources, text_lengths, windows, sources, row_types, positions, clm_ids, mask, pair_rows)
