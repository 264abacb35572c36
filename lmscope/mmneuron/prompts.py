"""The prompts of the paper's table 5, per step and model family.

Identification (counting neurons) feeds the plain question after the image(s). Evaluation follows each model's
own repository: the LLaVA chat template, InstructBLIP's "Short Answer:", the multiple-choice template, and an
optional role text (the paper uses one for auto driving). The embedded tiny LLaVA is trained on the evaluation
templates, so the same prompts that evaluate the paper's models evaluate it.
"""

from __future__ import annotations

from lmscope.errors import InputError
from lmscope.mmneuron.choices import LETTERS

IMAGE = "<image>"
LLAVA_SYSTEM = ("A chat between a curious user and an artificial intelligence assistant. The assistant gives "
                "helpful, detailed, and polite answers to the user's questions.")
OPEN_INSTRUCTION = "Answer the question using a single word or phrase."
CHOICE_INSTRUCTION = "Answer with the option's letter from the given choices directly."


def images(n: int) -> str:
    """One image placeholder per frame (LingoQA questions come with several)."""
    return "\n".join([IMAGE] * n)


def identification(question: str, n_images: int = 1, family: str = "llava") -> str:
    """`<image>\\n{question}`: the plain prompt neurons are counted on (METHODS B2); InstructBLIP's processor
    places the image (its query tokens) itself, so it gets the question alone."""
    return question if family == "instructblip" else f"{images(n_images)}\n{question}"


def options(choices: list[str]) -> str:
    return " ".join(f"{LETTERS[i]}. {c}" for i, c in enumerate(choices))


def evaluation(family: str, question: str, choices: list[str] | None = None, role: str = "",
               n_images: int = 1) -> str:
    """The evaluation prompt of table 5 for a model family (llava, llava_next, instructblip)."""
    role = f"{role} " if role else ""
    if family in ("llava", "llava_next"):
        if choices:
            body = f"Question: {question} Context: N/A Options: {options(choices)} {CHOICE_INSTRUCTION}"
        else:
            body = f"{role}Question: {question} Context: N/A {OPEN_INSTRUCTION}"
        return f"{LLAVA_SYSTEM} USER: {images(n_images)} {body} ASSISTANT:"
    if family == "instructblip":  # InstructBLIP's processor places the query tokens itself: no image placeholder
        if choices:
            return f"Question: {question} Options: {options(choices)} {CHOICE_INSTRUCTION}"
        return f"{role}Question: {question} Short Answer:"
    raise InputError(f"no prompt template for model family {family!r} (llava, llava_next, instructblip)")
