"""spacy-relext: relation-extraction components for spaCy v3.

`doc._.relations` holds a list of `Relation` records; see `spacy_relext.relations`.
"""
from .relations import Relation, add_relations, align_relations, install_extensions
from .entities import get_entities, get_entity_clusters
from .visualize import render

__version__ = "0.1.0"
__all__ = ["Relation", "add_relations", "align_relations", "get_entities", "get_entity_clusters", "install_extensions", "render"]

install_extensions()
