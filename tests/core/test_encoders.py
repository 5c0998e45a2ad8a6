import pytest
import spacy

from spacy_relext.encoders import check_encoder_dir, installed_encoder


def test_installed_minilm_directory():
    path = installed_encoder()
    assert (check_encoder_dir(path) / "model.safetensors").is_file()
    assert spacy.registry.misc.get("spacy-relext.installed_encoder.v1") is installed_encoder


def test_missing_package_and_directory_are_clear_errors(tmp_path):
    with pytest.raises(ValueError, match=r"\[E301\].*no_such_package"):
        installed_encoder("no_such_package")
    with pytest.raises(ValueError, match=r"\[E302\]"):
        check_encoder_dir(tmp_path)
