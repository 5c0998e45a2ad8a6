"""Configuration mistakes caught early with a coded message saying what to fix:
a listener without its upstream (E407), a missing encoder directory (E302)."""
import pytest
import spacy
from spacy.util import load_model_from_config
from thinc.api import Config

from test_clm_classifier import LISTENER_CONFIG, make_examples


@pytest.mark.parametrize("upstream", ["tok2vec", "encoder"])
def test_listener_without_upstream(upstream):
    config = Config().from_str(LISTENER_CONFIG)
    config["nlp"]["pipeline"] = ["clm_classifier"]  # the tok2vec component left out
    config["components"]["clm_classifier"]["model"]["tok2vec"]["upstream"] = upstream
    nlp = load_model_from_config(config, auto_fill=True, validate=True)
    with pytest.raises(ValueError, match=rf"\[E407\] Component 'clm_classifier' has a tok2vec-listener listening to "
                                         rf"'{upstream}', but the pipeline has no component of that name "
                                         r"\(components: \['clm_classifier'\]\)\. Add"):
        nlp.initialize(lambda: make_examples(nlp))


def test_listener_with_upstream_initializes():
    nlp = load_model_from_config(Config().from_str(LISTENER_CONFIG), auto_fill=True, validate=True)
    nlp.initialize(lambda: make_examples(nlp))  # the control case: no E407


@pytest.mark.parametrize(
    "factory,model",
    [
        ("clm_classifier", {"@architectures": "spacy-relext.LevitatedMarkerTransformer.v1"}),
        ("span_extractor", {"@architectures": "spacy-relext.QuerySpanExtractor.v1"}),
    ],
)
def test_missing_encoder_directory(tmp_path, factory, model):
    missing = tmp_path / "no-such-encoder"
    nlp = spacy.blank("en")
    with pytest.raises(ValueError, match=rf"\[E302\] Encoder directory {missing} does not exist or has no "
                                         r"config.json\. Point the config at a local Hugging Face model directory"):
        nlp.add_pipe(factory, config={"model": {**model, "encoder": str(missing)}})
        nlp.initialize(lambda: make_examples(nlp))


def test_pretraining_checks_the_encoder(tmp_path):
    from spacy_relext.cp.pytorch_cp import load_mlm

    with pytest.raises(ValueError, match=r"\[E302\]"):
        load_mlm(str(tmp_path))


@pytest.mark.usefixtures("torch_single_thread")  # the logic reasoner's EM: slow on busy cores otherwise
def test_cli_reports_a_missing_or_damaged_pipeline_without_a_traceback(tmp_path, capsys):
    from spacy_relext.cli import main
    from test_edge_cases import build_logic

    with pytest.raises(SystemExit) as exit_info:
        main(["rules", str(tmp_path / "nowhere")])
    assert exit_info.value.code == 1
    assert "Error: [E053] Could not read config file from" in capsys.readouterr().err
    kit = build_logic()
    kit.nlp.to_disk(tmp_path / "nlp")
    (tmp_path / "nlp" / "logic_reasoner" / "model").unlink()
    with pytest.raises(SystemExit):
        main(["rules", str(tmp_path / "nlp")])
    assert "Error: (spacy-relext) [E408] Cannot load the model of component 'logic_reasoner'" in capsys.readouterr().err
