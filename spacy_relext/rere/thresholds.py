"""Tuning the thresholds of RERE's two stages together on held-out data.

Xie et al. (ACL 2021) tune the relation classifier's and the entity extractor's
thresholds per dataset (their released settings: 0.4 / 0.2 on NYT10-HRL, 0.56 / 0.55 on
NYT11-HRL). The two interact: a
lower detector threshold queries more relations, which pays off only if the extractor
rejects the absent ones. `tune_thresholds` therefore searches the pairs of a grid, and
does it at the cost of one pipeline pass: the detector runs once at the lowest detector
threshold, the extractor predicts once for all the relations that threshold lets
through, and each pair is then a filter (detector) and a decoding (extractor) of those
scores, scored with the extractor's own scorer.

`spacy find-threshold` also works with either component (both have a `threshold` in
their config and a scorer), but it tunes one stage at a time and saves nothing.
"""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple, Union

import spacy
from spacy.language import Language
from spacy.tokens import Doc
from spacy.training import Corpus, Example

from ..entities import sentence_spans
from ..errors import Errors
from ..relations import Relation, get_relations, get_sentence_scores
from ..safe_write import atomic_output, check_outputs, same_path

DETECTOR_FACTORY, EXTRACTOR_FACTORY = "relation_detector", "span_extractor"
DEFAULT_GRID = tuple(round(0.05 * i, 2) for i in range(1, 20))  # 0.05, 0.1, ..., 0.95
PREDICT_BATCH = 64
Pair = Tuple[Optional[float], float]  # (detector threshold or None, extractor threshold)
# A batch of Docs, the extractor's prediction for it, and the detector score of each
# query by (doc index in the batch, sentence start, label).
PredictedBatch = Tuple[List[Doc], Any, Dict[Tuple[int, int, str], float]]


@dataclass
class ThresholdSearch:
    """The result of `tune_thresholds`.

    detector (Optional[str]): The detector's component name (None: not tuned, because
        the pipeline has none or the extractor queries every label).
    extractor (str): The extractor's component name.
    metric (str): The score maximised.
    current (Tuple[Optional[float], float]): The thresholds the pipeline had.
    best (Tuple[Optional[float], float]): The best pair (the current one on a tie).
    scores (Dict[Tuple[Optional[float], float], float]): The metric of every pair tried.
    """

    detector: Optional[str]
    extractor: str
    metric: str
    current: Pair
    best: Pair
    scores: Dict[Pair, float] = field(repr=False)

    @property
    def best_score(self) -> float:
        return self.scores[self.best]

    @property
    def current_score(self) -> float:
        return self.scores[self.current]


def tune_thresholds(
    nlp: Language,
    examples: Iterable[Example],
    *,
    grid: Sequence[float] = DEFAULT_GRID,
    metric: str = "triple_exact_f",
    detector: Optional[str] = None,
    extractor: Optional[str] = None,
    progress: Optional[Callable[[int, int], None]] = None,
) -> ThresholdSearch:
    """Find the detector and extractor thresholds that maximise `metric` on `examples`.
    The pipeline is left as it was; `apply_thresholds` sets the result.

    nlp (Language): A trained pipeline with a `span_extractor` (and usually a
        `relation_detector` before it).
    examples (Iterable[Example]): Held-out examples with gold relations (not the ones
        the pipeline was trained on).
    grid (Sequence[float]): Thresholds tried for each stage; the current ones are added.
    metric (str): A score of the extractor's scorer, e.g. "triple_exact_f".
    detector (Optional[str]): The detector's name; default: the pipeline's only
        `relation_detector`, if any.
    extractor (Optional[str]): The extractor's name; default: the pipeline's only
        `span_extractor`.
    progress (Optional[Callable[[int, int], None]]): Called with (done, total) after each
        extractor threshold.
    RETURNS (ThresholdSearch): Every pair's score, the current and the best pair.
    """
    if not grid or any(not 0.0 <= value <= 1.0 for value in grid):
        raise ValueError(Errors.E213.format(grid=list(grid)))
    examples = list(examples)
    if not any(get_relations(eg.reference) for eg in examples):
        raise ValueError(Errors.E214.format(count=len(examples)))
    extractor = _checked(nlp, extractor or _only_component(nlp, EXTRACTOR_FACTORY), EXTRACTOR_FACTORY)
    extractor_pipe = nlp.get_pipe(extractor)
    if extractor_pipe.cfg["query_all_labels"]:
        detector = None  # every label is queried: the detector's threshold changes nothing
    elif detector is None:
        detector = _only_component(nlp, DETECTOR_FACTORY, required=False)
    else:
        _checked(nlp, detector, DETECTOR_FACTORY)
    current: Pair = (nlp.get_pipe(detector).threshold if detector else None, extractor_pipe.threshold)
    detector_grid = sorted({*grid, current[0]}) if detector else [None]
    extractor_grid = sorted({*grid, current[1]})

    docs, batches = _predict(nlp, examples, detector, extractor, min(detector_grid) if detector else None)
    scored = [Example(doc, eg.reference) for doc, eg in zip(docs, examples)]
    scores: Dict[Pair, float] = {}
    for step, extractor_threshold in enumerate(extractor_grid):
        decoded = _decode(extractor_pipe, batches, extractor_threshold)
        for detector_threshold in detector_grid:
            kept = [
                [rel for rel, detection in doc_rels if detector_threshold is None or detection >= detector_threshold]
                for doc_rels in decoded
            ]
            extractor_pipe.write_relations(docs, kept)
            result = extractor_pipe.score(scored)
            if metric not in result:
                raise ValueError(Errors.E212.format(metric=metric, name=extractor, keys=sorted(result)))
            scores[(detector_threshold, extractor_threshold)] = float(result[metric])
        if progress is not None:
            progress(step + 1, len(extractor_grid))
    return ThresholdSearch(detector, extractor, metric, current, best_pair(scores, current), scores)


def apply_thresholds(nlp: Language, search: ThresholdSearch) -> None:
    """Set the best thresholds of a search on the components and in the pipeline's
    config, so that `nlp.to_disk` saves them (in `config.cfg` and each component's cfg).

    nlp (Language): The pipeline the search ran on.
    search (ThresholdSearch): The output of `tune_thresholds`.
    """
    for name, threshold in zip((search.detector, search.extractor), search.best):
        if name is not None and threshold is not None:
            nlp.get_pipe(name).cfg["threshold"] = threshold
            nlp.get_pipe_config(name)["threshold"] = threshold


def tune_saved_pipeline(
    pipeline: Union[str, Path],
    data: Union[str, Path],
    output: Optional[Union[str, Path]] = None,
    *,
    overwrite: bool = False,
    limit: int = 0,
    **options: Any,
) -> Tuple[ThresholdSearch, Optional[Path]]:
    """`tune_thresholds` on a saved pipeline and a held-out DocBin; the tuned pipeline is
    written to `output`, or into `pipeline` itself only with `overwrite` and no `output`.
    Nothing is written when neither is given. Outputs are checked before any work (an
    existing output needs `overwrite`, E112) and written atomically.

    pipeline (Union[str, Path]): A saved pipeline directory.
    data (Union[str, Path]): Held-out `.spacy` file with gold relations.
    output (Optional[Union[str, Path]]): Where to write the tuned pipeline.
    overwrite (bool): Replace an existing `output`; without `output`, update `pipeline`.
    limit (int): Use the first `limit` Docs of `data` (0: all).
    **options: Passed to `tune_thresholds` (grid, metric, detector, extractor, progress).
    RETURNS (Tuple[ThresholdSearch, Optional[Path]]): The search, and where the tuned
        pipeline was written (None: nowhere).
    """
    pipeline, data = Path(pipeline), Path(data)
    if not data.exists():
        raise ValueError(Errors.E201.format(path=data))
    target = Path(output) if output is not None else (pipeline if overwrite else None)
    if target is not None and same_path(target, pipeline):
        if not overwrite:
            raise FileExistsError(Errors.E112.format(path=target))
        check_outputs([target], [data], overwrite=True, is_dir=True)
    elif target is not None:
        check_outputs([target], [pipeline, data], overwrite=overwrite, is_dir=True)
    nlp = spacy.load(pipeline)
    examples = list(Corpus(data, limit=limit)(nlp))
    search = tune_thresholds(nlp, examples, **options)
    if target is not None:
        apply_thresholds(nlp, search)
        with atomic_output(target) as tmp:
            nlp.to_disk(tmp)
    return search, target


def format_search(search: ThresholdSearch) -> str:
    """A table of the metric per extractor threshold (rows) and detector threshold
    (columns), then the current and the best pair."""
    detector_grid = sorted({d for d, _ in search.scores}, key=lambda d: -1.0 if d is None else d)
    extractor_grid = sorted({e for _, e in search.scores})
    header = "extractor \\ detector" if search.detector else "extractor"
    columns = [f"{d:g}" if d is not None else search.metric for d in detector_grid]
    lines = [" | ".join([header] + columns)]
    for e in extractor_grid:
        lines.append(" | ".join([f"{e:g}"] + [f"{100 * search.scores[(d, e)]:.1f}" for d in detector_grid]))
    for what, pair in (("current", search.current), ("best", search.best)):
        detector_part = f"{search.detector} {pair[0]:g}, " if search.detector else ""
        lines.append(f"{what}: {detector_part}{search.extractor} {pair[1]:g}: "
                     f"{search.metric} {100 * search.scores[pair]:.1f}")
    return "\n".join(lines)


def _predict(
    nlp: Language, examples: List[Example], detector: Optional[str], extractor: str, lowest: Optional[float]
) -> Tuple[List[Doc], List[PredictedBatch]]:
    """Run the pipeline up to the extractor, with the detector at the lowest threshold
    tried, then the extractor's `predict`, batch by batch.

    RETURNS (Tuple[List[Doc], List[PredictedBatch]]): The Docs, and per batch its Docs,
        the extractor's prediction and the detector score of each query by
        (doc index in the batch, sentence start, label).
    """
    before = nlp.pipe_names[: nlp.pipe_names.index(extractor)]
    detector_pipe = nlp.get_pipe(detector) if detector else None
    saved = detector_pipe.cfg["threshold"] if detector_pipe else None
    try:
        if detector_pipe:
            detector_pipe.cfg["threshold"] = lowest
        with nlp.select_pipes(enable=before):
            docs = list(nlp.pipe((eg.predicted.copy() for eg in examples), batch_size=PREDICT_BATCH))
    finally:
        if detector_pipe:
            detector_pipe.cfg["threshold"] = saved
    extractor_pipe = nlp.get_pipe(extractor)
    batches = []
    for i in range(0, len(docs), PREDICT_BATCH):
        batch_docs = docs[i : i + PREDICT_BATCH]
        detections = {
            (d, sent.start, label): score
            for d, doc in enumerate(batch_docs)
            for sent in sentence_spans(doc)
            for label, score in (get_sentence_scores(sent) or {}).items()
        }
        batches.append((batch_docs, extractor_pipe.predict(batch_docs), detections))
    return docs, batches


def _decode(extractor_pipe: Any, batches: List[PredictedBatch], threshold: float) -> List[List[Tuple[Relation, float]]]:
    """Every Doc's relations at an extractor threshold, each with the detector score of
    its query (1.0 when the extractor queries every label)."""
    decoded = []
    for batch_docs, prediction, detections in batches:
        starts = {d: [sent.start for sent in sentence_spans(doc)] for d, doc in enumerate(batch_docs)}
        for d, rels in enumerate(extractor_pipe.decode(batch_docs, prediction, threshold)):
            keys = [(d, _sentence_start(starts[d], rel), rel.label) for rel in rels]
            decoded.append([(rel, detections.get(key, 1.0)) for rel, key in zip(rels, keys)])
    return decoded


def _sentence_start(starts: List[int], rel: Relation) -> int:
    return max(start for start in starts if start <= rel.head.start)


def best_pair(scores: Dict[Pair, float], current: Pair) -> Pair:
    """The pair with the best score; among equal scores the one nearest to the current
    thresholds, so that tuning changes nothing the held-out data cannot tell apart.

    scores (Dict[Tuple[Optional[float], float], float]): The score of each pair tried.
    current (Tuple[Optional[float], float]): The pipeline's thresholds.
    RETURNS (Tuple[Optional[float], float]): The chosen pair.
    """

    def distance(pair: Pair) -> float:
        return sum(abs(a - b) for a, b in zip(pair, current) if a is not None and b is not None)

    return max(scores, key=lambda pair: (scores[pair], -distance(pair)))


def _only_component(nlp: Language, factory: str, *, required: bool = True) -> Optional[str]:
    """The name of the pipeline's one component made by `factory` (None when there is
    none and it is not required; E211 otherwise)."""
    names = [name for name in nlp.pipe_names if nlp.get_pipe_meta(name).factory == factory]
    if len(names) == 1:
        return names[0]
    if not names and not required:
        return None
    raise ValueError(Errors.E211.format(factory=factory, found=names, pipeline=nlp.pipe_names))


def _checked(nlp: Language, name: str, factory: str) -> str:
    """`name`, after checking that it is a component of the pipeline made by `factory` (E215)."""
    if name not in nlp.pipe_names or nlp.get_pipe_meta(name).factory != factory:
        raise ValueError(Errors.E215.format(name=name, factory=factory, pipeline=nlp.pipe_names))
    return name
