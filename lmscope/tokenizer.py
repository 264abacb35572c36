"""Tokenizers: a byte-level BPE trained here, or a model's own, and which id stands first as BOS.

The embedded tiny LM has no tokenizer to inherit, so one is trained on the corpus's training split (the
tokenizers library) and saved in Hugging Face layout; from then on it is loaded exactly like a hub model's.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from lmscope.errors import InputError
from lmscope.hub import from_pretrained

if TYPE_CHECKING:  # for the annotations only: importing transformers takes ~4 s
    from transformers import PreTrainedTokenizerFast

# Runs of one Japanese script. Japanese has no spaces, so a plain byte-level BPE learns whole template phrases
# ("の家にはウシがいた") as single tokens; isolating kanji, hiragana and katakana runs first keeps words apart,
# as Japanese tokenizers' pre-segmentation does.
JAPANESE_SCRIPT_RUNS = r"\p{Han}+|\p{Hiragana}+|[\p{Katakana}ー]+"

SPECIAL_TOKENS = {"pad_token": "<pad>", "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"}


def train_bpe(texts: Iterable[str], vocab_size: int, min_frequency: int = 2,
              with_bos: bool = True) -> PreTrainedTokenizerFast:
    """A byte-level BPE (GPT-2 style: every byte is in the alphabet, so nothing is ever unknown), with
    Japanese script runs split apart before the byte-level pre-tokenizer.

    `with_bos=False` builds one without a BOS token, the case `bos_token_id` exists for.
    """
    # heavy (transformers takes ~4 s to import): only jobs that build or load a tokenizer pay for it
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast  # (the same reason)

    specials = dict(SPECIAL_TOKENS)
    if not with_bos:
        del specials["bos_token"]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(JAPANESE_SCRIPT_RUNS), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=min_frequency,
                                  special_tokens=list(specials.values()),
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(texts, trainer=trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, **specials)


def load_tokenizer(source: dict):
    """A tokenizer from a source as the workflow passes it: {path} (a local directory, e.g. one trained here)
    or {repo, revision} (the hub)."""
    from transformers import AutoTokenizer  # heavy (~4 s to import): only jobs that load a tokenizer pay for it

    if "path" in source:
        return AutoTokenizer.from_pretrained(source["path"])
    return from_pretrained(AutoTokenizer, source["repo"], source.get("revision"), "tokenizer")


def bos_id(tokenizer, configured: int | None, key: str) -> int:
    """The id put before every document: the tokenizer's BOS, else the configured id, else EOS (METHODS A1)."""
    for candidate in (tokenizer.bos_token_id, configured, tokenizer.eos_token_id):
        if candidate is not None:
            return int(candidate)
    raise InputError(f"{key}.bos_token_id: the tokenizer has neither a BOS nor an EOS token; set an id here")
