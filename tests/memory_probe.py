"""Peak memory of the pair components and the logic reasoner on a document with 200
entities (the issue's memory bound; tests/test_memory.py asserts it, BENCHMARKS.md
reports it).

    python tests/memory_probe.py COMPONENT LAYOUT [STEPS]

COMPONENT: clm_classifier, rationale_masker or logic_reasoner (each is the tiny
pipeline of tests/test_edge_cases.py). LAYOUT: "sentences" (100 sentences of two
entities) or "one-sentence" (200 entities and no sentence boundaries: every ordered pair,
39,800, is a candidate). STEPS: training updates (default: as in the tests; memory
does not depend on them). Prints one JSON line: peak resident memory (ru_maxrss) before
and after processing the document, the increase, the candidate pairs and the seconds.
"""
import json
import os
import resource
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

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


def main(component: str, layout: str, steps: str = "") -> None:
    torch.set_num_threads(1)
    builders = {"clm_classifier": kits.build_clm, "rationale_masker": kits.build_masker,
                "logic_reasoner": kits.build_logic}
    kit = builders[component](int(steps)) if steps else builders[component]()
    doc = (logic_doc if component == "logic_reasoner" else pair_doc)(kit, layout)
    n_entities = len({(s.start, s.end) for s in doc.spans.get(kit.spans_key, doc.ents)} if kit.spans_key else doc.ents)
    pairs = len(kit.pipe.get_pairs(doc)) if component != "logic_reasoner" else None
    before = peak_mib()
    start = time.perf_counter()
    doc = kit.run(doc)
    seconds = time.perf_counter() - start
    after = peak_mib()
    print(json.dumps({"component": component, "layout": layout, "tokens": len(doc), "mentions": n_entities,
                      "candidate_pairs": pairs, "relations": len(kit.relations(doc)), "peak_before_mib": round(before),
                      "peak_after_mib": round(after), "increase_mib": round(after - before),
                      "seconds": round(seconds, 2)}))


if __name__ == "__main__":
    main(*sys.argv[1:4])
