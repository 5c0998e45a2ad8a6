"""Entity representations and the shared special-token registry."""
import pytest

from spacy_relext.entity_markers import (
    ENTITY_REPRESENTATIONS,
    FALLBACK_TOKENS,
    SPECIAL_TOKENS,
    encode_pair,
    entity_representation,
    mark_pair,
    marker_ids,
)

WORDS = ["Bill", "Gates", "founded", "Microsoft", "in", "1975", "."]
HEAD, TAIL = (3, 4), (0, 2)  # Microsoft <- founded by - Bill Gates (tail before head)


def render(pieces):
    return " ".join(f"<{p.text}>" if p.special else p.text for p in pieces)


# fmt: off
EXPECTED = {
    "C+M": "<tail_start> Bill Gates <tail_end> founded <head_start> Microsoft <head_end> in 1975 .",
    "C+T": "<tail_start> person <tail_end> founded <head_start> org <head_end> in 1975 .",
    "OnlyC": "<tail_start> <tail_blank> <tail_end> founded <head_start> <head_blank> <head_end> in 1975 .",
    "OnlyM": "<head_start> Microsoft <head_end> <tail_start> Bill Gates <tail_end>",
    "OnlyT": "<head_start> org <head_end> <tail_start> person <tail_end>",
}
# fmt: on


@pytest.mark.parametrize("representation", ENTITY_REPRESENTATIONS)
def test_representations(representation):
    pieces = mark_pair(WORDS, HEAD, TAIL, representation=representation, head_type="ORG", tail_type="PERSON")
    assert render(pieces) == EXPECTED[representation]


def test_blanking_one_argument_keeps_the_other():
    pieces = mark_pair(WORDS, HEAD, TAIL, blank_head=True)
    assert render(pieces) == "<tail_start> Bill Gates <tail_end> founded <head_start> <head_blank> <head_end> in 1975 ."


def test_missing_type_and_bad_input():
    assert "entity" in render(mark_pair(WORDS, HEAD, TAIL, representation="OnlyT"))
    with pytest.raises(ValueError, match="E800"):
        entity_representation("names")
    with pytest.raises(ValueError, match="E801"):
        mark_pair(WORDS, (0, 2), (1, 3))
    assert entity_representation() == "C+M"


def test_registry_is_shared_with_clm_classifier():
    from spacy_relext.clm import pytorch_marker_encoder

    assert SPECIAL_TOKENS.names()[:4] == ["[unused0]", "[unused1]", "[unused2]", "[unused3]"]
    assert len(set(SPECIAL_TOKENS.names() + FALLBACK_TOKENS.names())) == 12
    assert pytorch_marker_encoder.SPECIAL_TOKENS is SPECIAL_TOKENS


def test_encode_pair_positions_and_crop(minilm_tokenizer):
    ids = marker_ids(minilm_tokenizer)
    assert list(ids) == minilm_tokenizer.convert_tokens_to_ids(SPECIAL_TOKENS.names())
    enc = encode_pair(minilm_tokenizer, ids, mark_pair(WORDS, HEAD, TAIL), 64)
    assert enc.input_ids[enc.head_position] == ids.head_start
    assert enc.input_ids[enc.tail_position] == ids.tail_start
    assert enc.input_ids[0] == minilm_tokenizer.cls_token_id and enc.input_ids[-1] == minilm_tokenizer.sep_token_id
    long_words = ["word"] * 200 + WORDS + ["word"] * 200
    long = encode_pair(minilm_tokenizer, ids, mark_pair(long_words, (203, 204), (200, 202)), 32)
    assert len(long.input_ids) == 32
    assert long.input_ids[long.head_position] == ids.head_start
    far = encode_pair(minilm_tokenizer, ids, mark_pair(long_words, (0, 1), (405, 406)), 16)
    assert len(far.input_ids) == 16 and {ids.head_start, ids.tail_start} <= set(far.input_ids)
