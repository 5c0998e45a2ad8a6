"""Peak memory of the pair components and the logic reasoner on a document with 200
entities (the issue's memory bound; tests/package/test_memory.py asserts it, BENCHMARKS.md
reports it).

    python tests/package/memory_probe.py COMPONENTS LAYOUT [STEPS]

COMPONENTS: comma-separated, of clm_classifier, rationale_masker and logic_reasoner
(each the tiny pipeline of tests/package/test_edge_cases.py). LAYOUT: "sentences" (100 sentences of two
entities) or "one-sentence" (200 entities and no sentence boundaries: every ordered pair,
39,800, is a candidate). STEPS: training updates (default: as in the tests; memory
does not depend on them). Prints one JSON line per component: peak resident memory (ru_maxrss) before
and after processing the document, the increase, the candidate pairs and the seconds.
"""
import json
import multiprocessing
import os
import resource
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [os.path.join(TESTS, folder) for folder in ("", "core", "rere", "clm", "rationale", "logic", "cp", "package")]

import torch  # noqa: E402

import test_edge_cases as kits  # noqa: E402
import test_logic_reasoner as logic_data  # noqa: E402

N_ENTITIES = 200


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def pair_doc(kit, layout):
    """Two entities per sentence, "E<i> works for E<i+1> .", 200 entities in all."""
    words, mentions = [], []
    for i in range(0, N_ENTITIES, 2):
        mentions += [(len(words), len(words) + 1, "PER", ""), (len(words) + 3, len(words) + 4, "ORG", "")]
        words += [f"Person{i}", "works", "for", f"Company{i + 1}", "."]
    starts = kits.sentence_starts(words) if layout == "sentences" else [i == 0 for i in range(len(words))]
    return kit.doc(words, mentions, sent_starts=starts)


def logic_doc(kit, layout):
    """200 people in families of three (parent sentences), each mentioned again."""
    doc = logic_data.make_doc(kit.nlp, [f"P{i}" for i in range(N_ENTITIES)], gold=False)
    if layout == "one-sentence":
        for token in doc:
            token.is_sent_start = token.i == 0
    return doc


def measure(component: str, layout: str, kit, queue) -> None:
    """In a forked child: the child's peak RSS before and after processing the document."""
    doc = (logic_doc if component == "logic_reasoner" else pair_doc)(kit, layout)
    mentions = doc.spans[kit.spans_key] if kit.spans_key else doc.ents
    n_entities = len({span.id_ or (span.start, span.end) for span in mentions})
    pairs = len(kit.pipe.get_pairs(doc)) if component != "logic_reasoner" else None
    before = peak_mib()
    start = time.perf_counter()
    doc = kit.run(doc)
    seconds = time.perf_counter() - start
    after = peak_mib()
    queue.put({"component": component, "layout": layout, "tokens": len(doc), "entities": n_entities,
               "mentions": len(mentions), "candidate_pairs": pairs, "relations": len(kit.relations(doc)),
               "peak_before_mib": round(before), "peak_after_mib": round(after),
               "increase_mib": round(after - before), "seconds": round(seconds, 2)})


def main(components: str, layout: str, steps: str = "") -> None:
    """Build each pipeline once here, then process the document in a forked child per
    component: a child's ru_maxrss starts from what it shares with this process, so its
    growth is that component's own peak, and one import serves every component."""
    torch.set_num_threads(1)
    builders = {"clm_classifier": kits.build_clm, "rationale_masker": kits.build_masker,
                "logic_reasoner": kits.build_logic}
    context = multiprocessing.get_context("fork")
    for component in components.split(","):
        kit = builders[component](int(steps)) if steps else builders[component]()
        queue = context.Queue()
        child = context.Process(target=measure, args=(component, layout, kit, queue))
        child.start()
        result = queue.get(timeout=3600)
        child.join()
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:4])
