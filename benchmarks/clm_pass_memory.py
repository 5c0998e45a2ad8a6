"""Memory of one clm_classifier training update with its own MiniLM encoder, by
`max_sequences_per_pass`.

    python benchmarks/clm_pass_memory.py --corpus-dir ../shared/corpus [--limits none,64,16] [--out FILE]

The model is configs/cp_finetune.cfg's (MiniLM, one marked pair per sequence: the packing
with the most sequences per batch), trained on gold entities. Two batches of 16 CoNLL04
training sentences (the config's batch size): the first 16 (typical) and the 16 with the
most entities (the worst case: 24 entities in one sentence give 552 ordered pairs). Each
(batch, limit) runs in a fresh process with one torch thread: the pipeline is initialized
on the batch, then one update with the config's dropout and an optimizer step. Figures:
the update's growth of the peak resident set size over the resident size before it, its
seconds, the packed sequences and the passes. Without a limit the worst batch is not run:
a CoNLL04 fine-tuning of this config was killed by the kernel at 21 GB on this 23.5 GB
machine (benchmarks/notes/clm_pass_memory.md).
"""
import argparse
import datetime
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import List, Optional

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
import data  # noqa: E402
from machine import machine_info  # noqa: E402
from timing import current_rss_mb, peak_rss_mb  # noqa: E402

BATCH = 16
BATCHES = ("typical", "worst")


def measure_one(train: Path, work: Path, batch: str, limit: Optional[int], smoke: bool) -> dict:
    """One update in this process; the figures of one row."""
    import spacy
    import torch
    from spacy.tokens import DocBin
    from thinc.api import fix_random_seed

    from spacy_relext.readers import create_gold_ents_corpus

    torch.set_num_threads(1)
    fix_random_seed(0)
    config = spacy.util.load_config(ROOT / "configs" / "cp_finetune.cfg")
    config["components"]["clm_classifier"]["max_sequences_per_pass"] = limit
    nlp = spacy.util.load_model_from_config(config, auto_fill=True, validate=True)
    docs = list(DocBin().from_disk(train).get_docs(nlp.vocab))
    if batch == "worst":
        docs = sorted(docs, key=lambda doc: -len(doc.spans.get("entities", doc.ents)))
    batch_file = work / f"batch_{batch}.spacy"
    DocBin(docs=docs[: 4 if smoke else BATCH], store_user_data=True).to_disk(batch_file)
    examples = list(create_gold_ents_corpus(path=batch_file, max_length=0, spans_key="entities")(nlp))
    optimizer = nlp.initialize(lambda: examples)
    clm = nlp.get_pipe("clm_classifier")
    packed, _ = clm.pack(clm.training_docs(examples))
    before = current_rss_mb()
    started = time.perf_counter()
    nlp.update(examples, sgd=optimizer, drop=config["training"]["dropout"])
    seconds = time.perf_counter() - started
    peak = peak_rss_mb()
    n_sequences = len(packed.groups)
    passes = 1 if limit is None else -(-n_sequences // limit)
    return {"batch": batch, "limit": limit, "sentences": len(examples),
            "entities": sum(len(eg.reference.spans["entities"]) for eg in examples), "sequences": n_sequences,
            "passes": passes, "rss_before_mb": round(before), "peak_growth_mb": round(peak - before),
            "update_seconds": round(seconds, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus-dir", type=Path, default=Path("../shared/corpus"))
    parser.add_argument("--work", type=Path, default=Path("training/clm_pass_memory"))
    parser.add_argument("--limits", default="none,64,16", help="max_sequences_per_pass values ('none': one pass)")
    parser.add_argument("--smoke", action="store_true", help="4 sentences per batch (a test, not a measurement)")
    parser.add_argument("--out", type=Path, default=None,
                        help="Result file (default: benchmarks/results/clm_pass_memory.json; smoke: WORK/...)")
    parser.add_argument("--one", nargs=2, metavar=("BATCH", "LIMIT"), help=argparse.SUPPRESS)  # a row's process
    args = parser.parse_args()
    train = data.dataset("conll04", args.corpus_dir, args.work, smoke=args.smoke)["train"]
    if args.one:
        limit = None if args.one[1] == "none" else int(args.one[1])
        print(json.dumps(measure_one(train, args.work, args.one[0], limit, args.smoke)))
        return
    rows: List[dict] = []
    for batch in BATCHES:
        for text in args.limits.split(","):
            if batch == "worst" and text == "none" and not args.smoke:
                continue  # beyond this machine's memory (see the docstring)
            command = [sys.executable, __file__, "--corpus-dir", str(args.corpus_dir), "--work", str(args.work),
                       "--one", batch, text] + (["--smoke"] if args.smoke else [])
            out = subprocess.run(command, check=True, capture_output=True, text=True,
                                 env={**os.environ, "OMP_NUM_THREADS": "1"})
            rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
            print(rows[-1], flush=True)
    out_path = args.out or (args.work / "clm_pass_memory.json" if args.smoke else HERE / "results" / "clm_pass_memory.json")
    result = {"name": "clm_pass_memory", "mode": "smoke" if args.smoke else "full",
              "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
              "command": "python benchmarks/clm_pass_memory.py " + " ".join(sys.argv[1:]), "machine": machine_info(),
              "data": data.split_text("conll04", args.smoke) + f"; batches of {BATCH} training sentences",
              "figures": {"config": "configs/cp_finetune.cfg (MiniLM, packing pair)", "rows": rows}}
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out_path}")


if __name__ == "__main__":
    main()
