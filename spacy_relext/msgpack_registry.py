"""Process-level serialization setting: srsly's msgpack hook registries without their rescans.

Every `srsly.msgpack_dumps` / `msgpack_loads` builds a Packer / Unpacker, which asks
`srsly.msgpack_encoders.get_all()` (`msgpack_decoders`) for its hooks. catalogue's
`Registry.get_all` filters every installed entry point of every group and copies and
scans the whole global registry (hundreds of entries once spaCy and its plugins are
loaded) on each call: about 0.2-0.3 ms a call, three calls per `Doc.to_bytes` and three
per `Doc.from_bytes` when the Doc has user data (our relations always are user data).
`nlp.pipe(n_process=2)` serializes every Doc in the worker and deserializes it in the
parent (and, for Doc inputs, the other way round first), so these lookups cost about as
much as a whole pass of a CPU relation pipeline, and the parent does its share serially
(issue 24 item 5: two processes were slower than one).

`install()` gives the two registry objects an exact `get_all`: the entry points of their
group are selected once (catalogue reads the installed entry points once, at its import,
so the selection never changes) and loaded on each call as before, and the global
registry is read live on each call (hooks registered later, e.g. by spacy-transformers'
import, are seen), with a cheaper filter of the same result. Only catalogue registries
whose `get_all` is catalogue's own are touched, once per registry.
"""
from typing import Any, Callable, Dict

import catalogue
import srsly.msgpack

_ORIGINAL_GET_ALL = catalogue.Registry.get_all


def fast_get_all(registry: catalogue.Registry) -> Callable[[], Dict[str, Any]]:
    """`registry.get_all` with its entry points selected once.

    registry (catalogue.Registry): A registry of catalogue 2.x.
    RETURNS (Callable[[], Dict[str, Any]]): A function returning what `registry.get_all()`
        returns: the loaded entry points of its group, then its registered functions.
    """
    entry_points = list(registry._get_entry_points()) if registry.entry_points else []
    namespace = tuple(registry.namespace)
    depth = len(namespace)

    def get_all() -> Dict[str, Any]:
        result = {entry_point.name: entry_point.load() for entry_point in entry_points}
        for keys, value in catalogue.REGISTRY.copy().items():
            if len(keys) == depth + 1 and keys[:depth] == namespace:
                result[keys[-1]] = value
        return result

    return get_all


def install() -> None:
    """Give srsly's msgpack encoder and decoder registries `fast_get_all` (idempotent)."""
    for registry in (srsly.msgpack.msgpack_encoders, srsly.msgpack.msgpack_decoders):
        if type(registry).get_all is _ORIGINAL_GET_ALL and "get_all" not in vars(registry):
            registry.get_all = fast_get_all(registry)


install()
