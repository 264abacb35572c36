"""lmscope.tokenizer: the byte-level BPE the embedded default trains on its corpus."""

import unicodedata

from lmscope.tokenizer import train_bpe


def scripts(piece: str) -> set[str]:
    """The Japanese scripts a token's text holds (the first word of each character's Unicode name)."""
    return {unicodedata.name(ch).split()[0] for ch in piece} & {"CJK", "HIRAGANA", "KATAKANA"}


def test_japanese_script_runs_stay_apart():
    tok = train_bpe(["カサトの旗は青である。"] * 30, vocab_size=1000)
    pieces = [tok.decode([i]) for i in tok("カサトの旗は青である。", add_special_tokens=False)["input_ids"]]
    # the phrase is frequent enough for a plain BPE to merge whole; the script runs keep its words apart
    assert "カサト" in pieces and "である" in pieces and all(len(scripts(p)) <= 1 for p in pieces), pieces
