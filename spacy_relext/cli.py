"""`python -m spacy_relext <command>`: corpus conversion, splitting, the demo, learned rules,
visualisation, corpus annotation, CP pre-training and diagnostics.

The CLI is the only place that prints; library functions return values or raise.
"""
import argparse
import sys
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple


def main(argv: Optional[List[str]] = None) -> None:
    args = build_parser().parse_args(argv)
    try:
        args.run(args)
    except (ValueError, OSError, ImportError) as e:  # coded errors (ImportError: an extra missing), spaCy's
        print(f"Error: {e}", file=sys.stderr)
        sys.exit(1)


# The formats of `convert`, listed by `convert --help` without importing the converters
# (they import spaCy); tests/core/test_cli_help.py checks them against CONVERTERS.
CONVERT_FORMATS = {
    "semeval": "SemEval-2010 Task 8 TRAIN_FILE.TXT (marked pair; Other is a negative)",
    "conll04": "CoNLL04, unified JSON (train.CoNLL04.json, valid.CoNLL04.json)",
    "scierc": "SciERC, DyGIE JSON lines (one Doc per abstract, coreference clusters)",
    "chemprot": "ChemProt, SciBERT JSON lines (<< >> head, [[ ]] tail)",
    "wiki80": "Wiki80 JSON lines (token list, h/t positions)",
    "fewrel": "FewRel 1.0 JSON ({PID: [instances]}, named by pid2name.json beside it)",
    "webnlg": "WebNLG, CasRel JSON ({\"text\", \"triple_list\"} records)",
    "nyt": "NYT, CasRel JSON ({\"text\", \"triple_list\"} records)",
    "dwie": "DWIE annos_with_content: a directory of DW_*.json (or one such file)",
    "docred": "DocRED JSON (Re-DocRED, DWIE DocRED-style): vertexSet clusters, evidence",
    "prodigy": "Prodigy rel.manual JSONL (db-out); only accepted tasks",
    "brat": "brat standoff: a directory of .ann files beside their .txt (or one .ann file)",
    "labelstudio": "Label Studio JSON export (Labels on a Text, Relations)",
    "doccano": "doccano relation-extraction JSONL export",
}


def build_parser() -> argparse.ArgumentParser:
    """RETURNS (argparse.ArgumentParser): The parser of every command."""
    parser = argparse.ArgumentParser(
        prog="python -m spacy_relext",
        description="Relation extraction for spaCy: corpus conversion, data checks, the demo, visualisation, "
                    "learned rules, threshold tuning, corpus annotation, CP pre-training and diagnostics. "
                    "`python -m spacy_relext COMMAND --help` lists a command's arguments and defaults.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    formats = "\n".join(f"  {name:<12} {text}" for name, text in CONVERT_FORMATS.items())
    convert = commands.add_parser(
        "convert", help="Convert a raw corpus into a .spacy DocBin",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Convert a raw corpus into a .spacy DocBin: tokens, sentences, entity mentions and gold "
                    "relations, with a progress bar and a summary of what was skipped.",
        epilog=f"formats:\n{formats}\n\nSamples of each format: corpus/samples/ (origins in corpus/README.md).",
    )
    convert.add_argument("format", metavar="FORMAT", help="Corpus format, one of the formats listed below")
    convert.add_argument("input", type=Path, help="Raw corpus file (a directory for dwie and brat)")
    convert.add_argument("output", type=Path, help="Output .spacy file")
    _add_overwrite(convert)
    convert.add_argument("--keep-self-relations", action="store_true",
                         help="Keep relations whose head and tail are the same span (default: skip and count them)")
    convert.add_argument("--dwie-split", choices=["train", "test"],
                         help="dwie only: 'train' (default) converts every document not tagged 'test'; "
                              "'test' converts exactly the documents tagged 'test' (DWIE's held-out split)")
    _add_no_progress(convert)
    convert.set_defaults(run=_run_convert)

    split = commands.add_parser("split", help="Split a .spacy file into train and dev by document")
    split.add_argument("input", type=Path, help=".spacy file to split (e.g. written by convert)")
    split.add_argument("train_output", type=Path, help=".spacy file for the training documents")
    split.add_argument("dev_output", type=Path, help=".spacy file for the dev documents")
    split.add_argument("--dev-fraction", type=float, default=0.1,
                       help="Share of the documents put in dev, between 0 and 1 (default: 0.1)")
    split.add_argument("--seed", type=int, default=0, help="Random seed of the shuffle (default: 0)")
    split.add_argument("--group-same-text", action="store_true",
                       help="Keep documents with the same text on one side (for corpora that repeat "
                            "sentences, such as NYT; default: every document drawn on its own)")
    _add_overwrite(split)
    split.set_defaults(run=_run_split)

    debug = commands.add_parser(
        "debug-data", help="Check converted data before training: labels, entities, sentences, candidate pairs"
    )
    debug.add_argument("train", type=Path, help="Training .spacy file")
    debug.add_argument("dev", type=Path, nargs="?", help="Dev .spacy file (default: check train alone)")
    debug.add_argument("--config", type=Path,
                       help="Training config: its [components.*.candidates] blocks give the pairs checked "
                            "(default: spacy-relext.entity_pairs.v2 on doc.ents)")
    debug.set_defaults(run=_run_debug_data)

    check = commands.add_parser(
        "check-trained", help="Refuse a spacy train output that was never evaluated after step 0 (before "
                              "evaluating, visualising or packaging it)",
        description="Exit 1 with E140 when `spacy train` evaluated PIPELINE only at step 0 (max_steps below "
                    "eval_frequency), warn when its last steps were never evaluated, and print the evaluated "
                    "steps and dev scores otherwise.",
    )
    check.add_argument("pipeline", type=Path, help="Pipeline directory saved by spacy train (e.g. model-best)")
    check.set_defaults(run=_run_check_trained)

    export = commands.add_parser(
        "export", help="Write a pipeline's predictions for an annotation tool (pre-annotation)"
    )
    export.add_argument("format", help="prodigy (.jsonl), labelstudio (.json) or brat (a directory)")
    export.add_argument("pipeline", help="Pipeline directory or installed package name")
    export.add_argument("input", type=Path, help="Texts: one document per line, or .jsonl of {\"text\": ...}")
    export.add_argument("output", type=Path, help="File (prodigy, labelstudio) or directory (brat) to write")
    _add_overwrite(export)
    _add_no_progress(export)
    export.set_defaults(run=_run_export)

    demo = commands.add_parser("demo", help="Relations the committed demo pipeline extracts from the bundled "
                                            "CoNLL04 dev sample, with precision, recall and F1")
    demo.add_argument("--pipeline", type=Path, default=None,
                      help="Pipeline to show (default: models/demo_conll04, committed)")
    demo.add_argument("--sentences", type=int, default=8, help="Sentences printed (all 40 are scored; default: 8)")
    demo.set_defaults(run=_run_demo)

    demo_build = commands.add_parser("demo-build", help="Build the demo pipeline: train configs/clm_cpu.cfg on "
                                                        "CoNLL04 train, choose model-best and the threshold on "
                                                        "CoNLL04 valid without the bundled dev sample")
    demo_build.add_argument("--corpus-dir", type=Path, default=Path("../shared/corpus"),
                            help="Raw corpora holding conll04/ (default: ../shared/corpus)")
    demo_build.add_argument("--output", type=Path, default=None,
                            help="Pipeline directory to write (default: models/demo_conll04)")
    demo_build.add_argument("--max-steps", type=int, default=2000, help="Training steps (default: 2000)")
    demo_build.add_argument("--eval-frequency", type=int, default=200,
                            help="Steps between evaluations on the selection sentences (default: 200)")
    demo_build.add_argument("--seed", type=int, default=0, help="Training seed (default: 0)")
    _add_overwrite(demo_build)
    demo_build.set_defaults(run=_run_demo_build)

    rules = commands.add_parser("rules", help="Print the rules a logic_reasoner learned, per relation, with weights")
    rules.add_argument("pipeline", type=Path, help="Saved pipeline directory")
    rules.add_argument("--top", type=int, default=10, help="Rules shown per relation and type pair (default: 10)")
    rules.set_defaults(run=_run_rules)

    visualize = commands.add_parser(
        "visualize", help="Write an HTML page of the entities and relations a pipeline finds"
    )
    visualize.add_argument("pipeline", help="Pipeline directory or installed package name")
    visualize.add_argument("texts", nargs="+", metavar="TEXT", help="Texts to process")
    visualize.add_argument("--output", type=Path, default=Path("relations.html"),
                           help="HTML file to write (default: relations.html)")
    _add_overwrite(visualize)
    visualize.add_argument("--min-score", type=float, default=0.0,
                           help="Draw no arc for relations scoring below it (default: 0.0, every relation)")
    visualize.add_argument("--relations", type=int, nargs="+", metavar="INDEX",
                           help="Show these relations (indices into doc._.relations) in detail "
                                "(default: those with a rationale or rules)")
    visualize.set_defaults(run=_run_visualize)

    tune = commands.add_parser(
        "tune-thresholds",
        help="Tune the relation_detector and span_extractor thresholds together on held-out data",
    )
    tune.add_argument("pipeline", type=Path, help="Trained pipeline directory (e.g. model-best)")
    tune.add_argument("data", type=Path, help="Held-out .spacy file with gold relations (not the training data)")
    tune.add_argument("--output", type=Path,
                      help="Write the tuned pipeline here (default: write nothing; with --overwrite, update PIPELINE)")
    tune.add_argument("--overwrite", action="store_true",
                      help="Replace an existing --output; without --output, write the thresholds into PIPELINE "
                           "(default: refuse)")
    tune.add_argument("--metric", default="triple_exact_f",
                      help="Score to maximise, a key of the extractor's scorer (default: triple_exact_f)")
    tune.add_argument("--thresholds", type=_thresholds, metavar="T1,T2,...",
                      help="Thresholds tried for each stage (default 0.05, 0.1, ..., 0.95; the current ones are added)")
    tune.add_argument("--detector", help="relation_detector to tune (default: the pipeline's one)")
    tune.add_argument("--extractor", help="span_extractor to tune (default: the pipeline's one)")
    tune.add_argument("--limit", type=int, default=0, help="Use the first LIMIT Docs of DATA (default: 0, all)")
    _add_no_progress(tune)
    tune.set_defaults(run=_run_tune_thresholds)

    _add_annotate_command(commands)
    _add_cp_commands(commands)
    return parser


def _add_annotate_command(commands: "argparse._SubParsersAction") -> None:
    annotate = commands.add_parser(
        "annotate", help="Run a pipeline over a corpus into Parquet tables of relations and documents (local or Ray)",
        description="Annotate a corpus with a pipeline: OUTPUT/relations/*.parquet (one row per relation), "
                    "OUTPUT/documents/*.parquet (one row per document, with counts), OUTPUT/errors/*.jsonl (bad "
                    "records, with the reason) and, with --docbins, OUTPUT/docs/*.spacy. The input is cut into "
                    "partitions written once each: rerun the same command to resume an interrupted run.",
    )
    annotate.add_argument("pipeline", help="Pipeline directory or installed package name")
    annotate.add_argument("input", type=Path,
                          help="A .jsonl, .parquet or .spacy file, or a folder of such files or of .txt files")
    annotate.add_argument("output", type=Path,
                          help="Output folder: new, empty, or an earlier annotate run of the same input to resume")
    annotate.add_argument("--engine", choices=["local", "ray"], default="local",
                          help="local: nlp.pipe in this process; ray: a Ray Data actor pool (default: local)")
    annotate.add_argument("--n-process", type=int, default=1, help="local: processes of nlp.pipe (default: 1)")
    annotate.add_argument("--batch-size", type=int, default=64, help="Docs per batch of nlp.pipe (default: 64)")
    annotate.add_argument("--partition-size", type=int, default=1000,
                          help="Records per partition: the unit written, resumed and handed to a Ray worker "
                               "(default: 1000)")
    annotate.add_argument("--text-field", default="text", help="JSONL field or Parquet column of the text "
                                                               "(default: text)")
    annotate.add_argument("--id-field", default="id",
                          help="JSONL field or Parquet column of the document id; records without one are named "
                               "FILE:LINE (default: id)")
    annotate.add_argument("--max-chars", type=int, default=1_000_000,
                          help="Longer texts are bad records (default: 1000000, spaCy's max_length)")
    annotate.add_argument("--docbins", action="store_true", help="Also write the annotated Docs as .spacy DocBins "
                                                                 "(default: off)")
    annotate.add_argument("--address", help="ray: address of the cluster to use, e.g. auto or ray://HEAD:10001 "
                                            "(default: start a local cluster)")
    annotate.add_argument("--workers", type=int,
                          help="ray: actors in the pool, one pipeline each (default: the cluster's CPUs, or GPUs "
                               "with --gpus-per-worker, divided by what one actor takes)")
    annotate.add_argument("--cpus-per-worker", type=float, default=1.0, help="ray: CPUs per actor (default: 1)")
    annotate.add_argument("--gpus-per-worker", type=float, default=0.0,
                          help="ray: GPUs per actor; above 0 the pipeline runs on GPU (default: 0)")
    _add_no_progress(annotate)
    annotate.set_defaults(run=_run_annotate)


def _run_annotate(args: argparse.Namespace) -> None:
    from tqdm import tqdm

    from .annotate import annotate

    bar = tqdm(desc=f"annotate ({args.engine})", unit="doc", file=sys.stderr, disable=args.no_progress)

    def progress(done: int, total: int) -> None:
        bar.total = total
        bar.update(done)  # tqdm shows the rate: documents/s
    summary = annotate(
        args.pipeline, args.input, args.output, engine=args.engine, n_process=args.n_process,
        batch_size=args.batch_size, partition_size=args.partition_size, text_field=args.text_field,
        id_field=args.id_field, max_chars=args.max_chars, docbins=args.docbins, address=args.address,
        workers=args.workers, cpus_per_worker=args.cpus_per_worker, gpus_per_worker=args.gpus_per_worker,
        progress=progress,
    )
    bar.close()
    print(summary.format())


def _add_no_progress(command: argparse.ArgumentParser) -> None:
    command.add_argument("--no-progress", action="store_true", help="Hide the progress bar (default: shown)")


def _add_overwrite(command: argparse.ArgumentParser) -> None:
    command.add_argument("--overwrite", action="store_true", help="Replace existing outputs (default: refuse)")


def _run_convert(args: argparse.Namespace) -> None:
    from .convert import convert

    summary = convert(
        args.format,
        args.input,
        args.output,
        overwrite=args.overwrite,
        keep_self_relations=args.keep_self_relations,
        dwie_split=args.dwie_split,
        show_progress=not args.no_progress,
    )
    print(summary.format())


def _run_split(args: argparse.Namespace) -> None:
    from .convert import split_docbin

    n_train, n_dev = split_docbin(
        args.input,
        args.train_output,
        args.dev_output,
        dev_fraction=args.dev_fraction,
        seed=args.seed,
        overwrite=args.overwrite,
        group_same_text=args.group_same_text,
    )
    print(f"Wrote {n_train} docs to {args.train_output} and {n_dev} docs to {args.dev_output}")


def _run_debug_data(args: argparse.Namespace) -> None:
    from .debug_data import debug_data

    report = debug_data(args.train, args.dev, config=args.config)
    print(report.format())
    if report.errors:
        sys.exit(1)


def _run_check_trained(args: argparse.Namespace) -> None:
    from .training_check import check_trained

    print(check_trained(args.pipeline).format())


def _run_export(args: argparse.Namespace) -> None:
    import spacy
    from tqdm import tqdm

    from .errors import Errors
    from .export import EXPORTERS, export_docs, read_texts
    from .safe_write import check_outputs

    if args.format not in EXPORTERS:  # before the pipeline is loaded
        raise ValueError(Errors.E126.format(name=args.format, available=", ".join(EXPORTERS)))
    pipeline = Path(args.pipeline)
    inputs = [args.input, *([pipeline] if pipeline.exists() else [])]
    check_outputs([args.output], inputs, overwrite=args.overwrite, is_dir=args.format == "brat")
    texts = read_texts(args.input)
    nlp = spacy.load(args.pipeline)
    docs = tqdm(nlp.pipe(texts), total=len(texts), desc=f"export {args.format}", unit="doc", file=sys.stderr,
                disable=args.no_progress)
    n_docs = export_docs(args.format, docs, args.output, source=str(args.pipeline), inputs=inputs,
                         overwrite=args.overwrite)
    print(f"Wrote the predictions for {n_docs} texts to {args.output} ({args.format})")


def _run_demo(args: argparse.Namespace) -> None:
    from .demo import DEMO_PIPELINE, run_demo

    run_demo(args.pipeline or DEMO_PIPELINE, n_print=args.sentences)


def _run_demo_build(args: argparse.Namespace) -> None:
    from .demo import DEMO_PIPELINE, main_build

    main_build(args.corpus_dir, args.output or DEMO_PIPELINE, args.max_steps, args.eval_frequency, args.seed,
               args.overwrite, ["python -m spacy_relext", *sys.argv[1:]])


def _run_rules(args: argparse.Namespace) -> None:
    from .logic.logic_reasoner import load_reasoners

    for name, reasoner in load_reasoners(args.pipeline):
        print(f"# {name} (backbone: {reasoner.cfg['backbone']})")
        for label, head_type, tail_type, bias, rules in reasoner.learned_rules():
            print(f"{label}({head_type}, {tail_type})  bias {bias:.3f}")
            for body, weight in rules[: args.top]:
                print(f"  {weight:8.3f}  {label}(x, y) <- {body}")


def _run_visualize(args: argparse.Namespace) -> None:
    from .safe_write import atomic_output, check_outputs, is_within
    from .visualize import visualize_texts

    pipeline = Path(args.pipeline)
    inputs = [pipeline] if pipeline.exists() else []
    if pipeline.is_dir() and args.output.exists() and is_within(args.output, pipeline):
        inputs.append(args.output)  # a file of the pipeline: no page may replace it
    check_outputs([args.output], inputs, overwrite=args.overwrite)
    options = {"min_score": args.min_score, "relations": args.relations}
    page, n_relations = visualize_texts(args.pipeline, args.texts, options)
    with atomic_output(args.output) as tmp:
        tmp.write_text(page, encoding="utf8")
    print(f"Drew {n_relations} relations in {len(args.texts)} texts: {args.output}")


def _thresholds(value: str) -> List[float]:
    try:
        return [float(part) for part in value.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {value!r}") from None


def _run_tune_thresholds(args: argparse.Namespace) -> None:
    from .rere.thresholds import DEFAULT_GRID, format_search, tune_saved_pipeline

    bar, update = _progress_bar(not args.no_progress, "tune-thresholds")
    search, written = tune_saved_pipeline(
        args.pipeline,
        args.data,
        args.output,
        overwrite=args.overwrite,
        limit=args.limit,
        grid=args.thresholds or DEFAULT_GRID,
        metric=args.metric,
        detector=args.detector,
        extractor=args.extractor,
        progress=lambda done, total: update(done, total, {}),
    )
    bar.close()
    print(format_search(search))
    if written is None:
        print("Nothing written: pass --output DIR, or --overwrite to update the pipeline in place.")
    else:
        print(f"Wrote the pipeline with the best thresholds to {written}")


# The numeric settings of pretrain-cp: option, type, help with the default of
# spacy_relext.cp.pretrain.CPSettings (tests/core/test_cli_help.py keeps them equal).
CP_SETTINGS = (
    ("batch-pairs", int, "Sentence pairs per step, in-batch negatives (default: 32)"),
    ("epochs", int, "Passes over the relation bags (default: 1)"),
    ("max-steps", int, "Stop after this many optimizer steps (default: 0, no limit)"),
    ("learning-rate", float, "AdamW learning rate (default: 3e-05)"),
    ("warmup-steps", int, "Linear warm-up steps, then linear decay (default: 500)"),
    ("p-blank", float, "Probability of blanking each argument (default: 0.7)"),
    ("max-length", int, "Wordpieces per sentence (default: 64)"),
    ("checkpoint-every", int, "Steps between checkpoints, and one at the end of each epoch (default: 200)"),
    ("temperature", float, "NT-Xent temperature (default: 0.05)"),
    ("mlm-weight", float, "Weight of the MLM loss beside the contrastive loss (default: 1.0)"),
    ("mlm-warmup-steps", int, "Steps that train only the MLM head, encoder frozen, before joint training "
                              "(default: 0)"),
    ("mlm-warmup-learning-rate", float, "Learning rate of the MLM-head warm-up (default: 0.0001)"),
    ("seed", int, "Random seed (default: 0)"),
)


def _add_cp_commands(commands: "argparse._SubParsersAction") -> None:
    cp = commands.add_parser(
        "pretrain-cp", help="Entity-masked contrastive pre-training of an encoder",
        description="Entity-masked contrastive pre-training (CP) of a Hugging Face encoder. Each setting is taken "
                    "from the option, else from the [pretrain_cp] section of --config, else the default shown.",
    )
    cp.add_argument("output", type=Path, help="Run directory: checkpoint/ and the final model/")
    cp.add_argument("--config", type=Path, help="A .cfg file with a [pretrain_cp] section (default: none)")
    cp.add_argument("--corpora", type=Path, nargs="+", help=".spacy files with gold relations (required here or in "
                                                              "--config)")
    cp.add_argument("--dev", type=Path, nargs="+",
                    help="Evaluation .spacy files no pre-training sentence may be in (default: none)")
    cp.add_argument("--exclude", type=Path, nargs="+",
                    help="Fine-tuning and evaluation .spacy files: pre-training instances sharing a sentence, an "
                         "entity-name pair or (human-labelled corpora) a relation with them are dropped and "
                         "reported (default: none)")
    cp.add_argument("--human-labelled", type=Path, nargs="+",
                    help="The --corpora whose labels are human annotation (default: none)")
    cp.add_argument("--label-names", type=Path,
                    help="JSON of label -> relation name, to compare relations across corpora, e.g. Re-DocRED's "
                         "rel_info.json (default: none)")
    cp.add_argument("--shuffle-labels", action="store_true", default=None,
                    help="Permute the labels over the instances: the control run (default: off)")
    cp.add_argument("--encoder", help="Local Hugging Face directory (default: the installed MiniLM)")
    for name, kind, text in CP_SETTINGS:
        cp.add_argument(f"--{name}", type=kind, help=text)
    cp.add_argument("--static-blanking", action="store_true", default=None,
                    help="Draw the blanking once (default: draw it again every epoch)")
    cp.add_argument("--resume", action="store_true", help="Continue from OUTPUT/checkpoint (default: start anew)")
    cp.add_argument("--overwrite", action="store_true",
                    help="Replace OUTPUT/model and an earlier run's OUTPUT/checkpoint (default: refuse)")
    _add_no_progress(cp)
    cp.set_defaults(run=_run_pretrain_cp)

    diagnose = commands.add_parser(
        "diagnose", help="Score a spaCy relation pipeline on gold entities under the five entity representations"
    )
    diagnose.add_argument("pipeline", type=Path, help="Pipeline directory (e.g. trained with configs/cp_finetune.cfg)")
    diagnose.add_argument("dev", type=Path, help="Evaluation .spacy file with gold entities and relations")
    diagnose.set_defaults(run=_run_diagnose)


def _progress_bar(show: bool, desc: str) -> Tuple[Any, Callable[[int, int, Any], None]]:
    from tqdm import tqdm

    bar = tqdm(desc=desc, disable=not show, unit="step")

    def update(step: int, total: int, losses: Any) -> None:
        if step < bar.n:  # a new phase (pretrain-cp: the MLM-head warm-up, then joint training)
            bar.reset(total=total)
        bar.total = total
        bar.update(step - bar.n)
        bar.set_postfix(losses if isinstance(losses, dict) else {"loss": losses})

    return bar, update


def _default_encoder(value: Optional[str]) -> str:
    from .encoders import installed_encoder

    return value or installed_encoder()


def _run_pretrain_cp(args: argparse.Namespace) -> None:
    from .cp.pretrain import load_settings, pretrain_cp

    names = [name.replace("-", "_") for name, _, _ in CP_SETTINGS] + ["static_blanking", "shuffle_labels"]
    overrides = {name: getattr(args, name) for name in names}
    for name in ("corpora", "dev", "exclude", "human_labelled"):
        paths = getattr(args, name)
        overrides[name] = [str(p) for p in paths] if paths else None
    overrides["label_names"] = str(args.label_names) if args.label_names else None
    settings = load_settings(args.config, **overrides)
    settings.encoder = _default_encoder(args.encoder or settings.encoder or None)
    bar, update = _progress_bar(not args.no_progress, "pretrain-cp")
    def show_exclusion(report: Any) -> None:
        print("Overlap check against the excluded files (an instance: one relation's head and tail in a sentence):")
        print("\n".join(report.lines()), flush=True)

    result = pretrain_cp(settings, args.output, resume=args.resume, overwrite=args.overwrite,
                         config_path=args.config, progress=update, on_exclusion=show_exclusion)
    bar.close()
    if result.mlm_warmup_steps:
        print(f"MLM head warmed for {result.mlm_warmup_steps} steps before joint training")
    print(f"{result.steps} steps, {result.pairs} pairs in {result.seconds:.1f} s of training "
          f"({result.pairs_per_second:.2f} pairs/s), last loss {result.last_loss:.4f}")
    print(f"Encoder written to {result.model_dir}")


def _run_diagnose(args: argparse.Namespace) -> None:
    from .cp.diagnose import diagnose_pipeline, load_pipeline, relation_component
    from .cp.sentence_pairs import read_docs
    from .errors import Errors

    nlp = load_pipeline(args.pipeline)
    name = relation_component(nlp).name
    docs = list(read_docs([args.dev]))
    if not any(doc._.relations for doc in docs):
        raise ValueError(Errors.E807.format(path=args.dev))
    table = diagnose_pipeline(nlp, docs)
    print(format_diagnosis(table, "f", "relation micro-F1"))
    print(f"{len(docs)} docs of {args.dev} ({table['C+M']['gold']} gold relations), gold entities; component {name!r}")


def format_diagnosis(table: Dict[str, Dict[str, float]], metric: str, name: str) -> str:
    """The paper's Table-1 row: one column per entity representation, `metric` of each."""
    header = "| metric | " + " | ".join(table) + " |"
    rule = "|" + "---|" * (len(table) + 1)
    row = f"| {name} | " + " | ".join(f"{100 * scores[metric]:.1f}" for scores in table.values()) + " |"
    return "\n".join([header, rule, row])
