"""`diagnose` for spaCy pipelines: how much a relation component relies on entity names.

The dev Docs are rewritten under each entity representation (`represent_doc`: C+M, C+T,
OnlyC, OnlyM, OnlyT, "Learning from Context or Names", Peng et al. 2020, Table 1), the
pipeline's relation component reads them with the gold entities, and its relations are
scored against the gold relations moved onto the rewritten text. CP's own fine-tuned
models are such pipelines too (configs/cp_finetune.cfg), so there is one diagnose path.
"""
from pathlib import Path
from typing import Dict, Iterable, Optional, Sequence, Union

from spacy.language import Language
from spacy.tokens import Doc
from spacy.training import Example

from ..entity_markers import ENTITY_REPRESENTATIONS, represent_doc
from ..errors import Errors
from ..pipeline_dir import check_pipeline_dir
from ..relation_pipe import RelationPipe
from ..entities import ENTITY_GROUP
from ..readers import copy_gold_entities
from ..scorer import score_relations


def load_pipeline(path: Union[str, Path]) -> Language:
    """The spaCy pipeline saved in directory `path` (E808 when it holds no config.cfg)."""
    import spacy

    path = Path(path)
    check_pipeline_dir(path)
    if not (path / "config.cfg").is_file():
        raise ValueError(Errors.E808.format(path=path))
    return spacy.load(path)


def relation_component(nlp: Language) -> RelationPipe:
    """The last component of `nlp` that writes `doc._.relations` (the pipeline's output),
    E809 when there is none."""
    pipes = [pipe for _, pipe in nlp.pipeline if isinstance(pipe, RelationPipe)]
    if not pipes:
        path = nlp.path or nlp.meta.get("name", "")
        raise ValueError(Errors.E809.format(path=path, names=", ".join(nlp.pipe_names)))
    return pipes[-1]


def diagnose_pipeline(
    nlp: Language, docs: Sequence[Doc], representations: Iterable[str] = ENTITY_REPRESENTATIONS
) -> Dict[str, Dict[str, float]]:
    """Relation scores of a pipeline on gold entities, per entity representation.

    Components that set entities (`ner`, rulers) are skipped, so every representation
    is read with the same gold mentions.

    nlp (Language): A pipeline with a relation component.
    docs (Sequence[Doc]): Dev Docs with gold entities and relations.
    representations (Iterable[str]): Names from `ENTITY_REPRESENTATIONS`.
    RETURNS (Dict[str, Dict[str, float]]): representation -> micro `p`, `r`, `f` of the
        relations (both arguments, label and direction), and `gold`, the gold relations
        scored (fewer than in `docs` only where mentions nest).
    """
    pipe = relation_component(nlp)
    options = {"spans_key": pipe.spans_key, "symmetric_labels": pipe.cfg.get("symmetric_labels") or ()}
    entity_setters = [
        name
        for name in nlp.pipe_names
        if any(a == "doc.ents" or a.startswith("doc.spans") for a in nlp.get_pipe_meta(name).assigns)
    ]
    table = {}
    for representation in representations:
        examples = [_gold_entity_example(nlp, represent_doc(doc, representation), pipe.spans_key) for doc in docs]
        with nlp.select_pipes(disable=entity_setters):
            predicted = list(nlp.pipe(eg.predicted for eg in examples))
        scored = [Example(doc, eg.reference) for doc, eg in zip(predicted, examples)]
        scores = score_relations(scored, **options)
        table[representation] = {
            "p": scores["rel_p"],
            "r": scores["rel_r"],
            "f": scores["rel_f"],
            "gold": sum(len(eg.reference._.relations) for eg in examples),
        }
    return table


def _gold_entity_example(nlp: Language, reference: Doc, spans_key: Optional[str]) -> Example:
    """The pipeline's own Doc of the reference text with the gold entities copied onto it,
    as `spacy-relext.GoldEntsCorpus.v1` reads dev data for `spacy train` (so C+M gives the
    dev score training reported)."""
    eg = Example(nlp.make_doc(reference.text), reference)
    copy_gold_entities(eg, spans_key or ENTITY_GROUP)
    return eg
