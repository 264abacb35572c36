"""A Lingo-Judge-style classifier for free-form driving answers (LingoQA's metric; METHODS B4).

Lingo-Judge is a text classifier that reads the question, a reference answer and the model's answer and says
whether the answer is right; an answer counts as correct when the judge's probability is above 0.5 for any of
the references. Any sequence classifier in the hub layout works (one logit: sigmoid; two: softmax of the second),
from a local directory or the hub, named in the domain's config as `judge`.
"""

from __future__ import annotations

import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer


def judge_text(question: str, reference: str, prediction: str) -> str:
    """The input layout of LingoQA's judge: the tokenizer adds [CLS] itself."""
    return f"\nQuestion: {question}\nAnswer: {reference}\nStudent: {prediction}"


class Judge:
    def __init__(self, entry: dict, device: torch.device):
        source = entry.get("path") or entry["repo"]
        revision = None if "path" in entry else entry.get("revision", "main")
        self.tokenizer = AutoTokenizer.from_pretrained(source, revision=revision)
        self.model = AutoModelForSequenceClassification.from_pretrained(source, revision=revision).to(device).eval()
        self.device = device

    @torch.no_grad()
    def probability(self, question: str, reference: str, prediction: str) -> float:
        batch = self.tokenizer(judge_text(question, reference, prediction), return_tensors="pt", truncation=True)
        logits = self.model(**batch.to(self.device)).logits[0].float()
        return float(torch.sigmoid(logits[0]) if logits.numel() == 1 else torch.softmax(logits, -1)[1])

    def score(self, question: str, answers: list[str], prediction: str) -> float:
        return float(any(self.probability(question, a, prediction) > 0.5 for a in answers))
