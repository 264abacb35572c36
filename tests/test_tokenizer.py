"""lmscope.tokenizer: the byte-level BPE the embedded default trains on its corpus."""

import unicodedata

from lmscope.tokenizer import train_bpe


def scripts(piece: str) -> set[str]:
    """The Japanese scripts a token's text holds (its first word of each character's Unicode name)."""
    return {unicodedata.name(ch).split()[0] for ch in piece} & {"CJK", "HIRAGANA", "KATAKANA"}


def test_japanese_script_runs_stay_apart_and_take_the_space_before_them():
    tok = train_bpe(["Kasato flies a 青 flag. The 猫 sat here.", "カサトの旗は青である。"] * 30, vocab_size=1000)

    def pieces(text: str) -> list[str]:
        return [tok.decode([i]) for i in tok(text, add_special_tokens=False)["input_ids"]]

    # a Japanese word in an English sentence is one token with its space, as an English word is (" flag"), not a
    # token that is only a space (which planted truth cannot label: it is part of no word)
    assert " 青" in pieces("Kasato flies a 青 flag.") and " " not in pieces("Kasato flies a 青 flag.")
    assert " 猫" in pieces("The 猫 sat here.")
    # the phrase is frequent enough to merge whole; the script runs keep its words apart
    japanese = pieces("カサトの旗は青である。")
    assert "カサト" in japanese and all(len(scripts(p)) <= 1 for p in japanese), japanese
