"""spacy-relext: relation-extraction components for spaCy v3.

`doc._.relations` holds a list of `Relation` records; see `spacy_relext.relations`.

The public names are imported on first use (PEP 562), so that importing the package, as
`python -m spacy_relext --help` does before the command line runs, loads neither spaCy nor
torch. `spacy_relext.relations` registers `doc._.relations` when it is imported, which
every module writing relations does; and when spaCy is already loaded (a user's
`import spacy; import spacy_relext`), importing the package registers it at once, so
`doc._.relations` of Docs read from a DocBin works after a bare `import spacy_relext`.
"""
import sys
from importlib import import_module
from typing import TYPE_CHECKING, Any, Dict

__version__ = "0.1.0"
__all__ = ["Relation", "add_relations", "align_relations", "get_entities", "get_entity_clusters",
           "get_symmetric_labels", "install_extensions", "render", "set_symmetric_labels"]

_MODULE_OF: Dict[str, str] = {
    "Relation": "relations",
    "add_relations": "relations",
    "align_relations": "relations",
    "get_symmetric_labels": "relations",
    "set_symmetric_labels": "relations",
    "install_extensions": "relations",
    "get_entities": "entities",
    "get_entity_clusters": "entities",
    "render": "visualize",
}

if TYPE_CHECKING:  # static analysers and IDEs see the names; the run time imports them lazily
    from .entities import get_entities, get_entity_clusters  # noqa: F401
    from .relations import (  # noqa: F401
        Relation,
        add_relations,
        align_relations,
        get_symmetric_labels,
        install_extensions,
        set_symmetric_labels,
    )
    from .visualize import render  # noqa: F401


def __getattr__(name: str) -> Any:
    if name not in _MODULE_OF:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f".{_MODULE_OF[name]}", __name__), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> Any:
    return sorted([*globals(), *__all__])


if "spacy" in sys.modules:  # spaCy is loaded anyway: the extension costs nothing more
    import_module(".relations", __name__)
