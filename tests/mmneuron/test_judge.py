"""The Lingo-Judge-style scorer: a sequence classifier saved to disk decides, above probability 0.5."""
import pytest
import torch
from transformers import BertConfig, BertForSequenceClassification

from lmscope.mmneuron import judge, tinyvlm


def save_classifier(path, num_labels, bias):
    tokenizer = tinyvlm.build_tokenizer([judge.judge_text("Is it red?", "yes", "no")])
    model = BertForSequenceClassification(BertConfig(vocab_size=len(tokenizer), hidden_size=16, num_hidden_layers=1,
                                                     num_attention_heads=2, intermediate_size=32,
                                                     num_labels=num_labels))
    with torch.no_grad():  # the decision comes from the bias alone: a judge whose verdict we know
        model.classifier.weight.zero_()
        model.classifier.bias.copy_(torch.tensor(bias))
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return {"path": str(path)}


@pytest.mark.parametrize("num_labels, bias, verdict", [(1, [4.0], 1.0), (1, [-4.0], 0.0), (2, [3.0, -3.0], 0.0),
                                                       (2, [-3.0, 3.0], 1.0)])
def test_judge_verdicts_follow_the_classifier(tmp_path, num_labels, bias, verdict):
    entry = save_classifier(tmp_path / "judge", num_labels, bias)
    j = judge.Judge(entry, torch.device("cpu"))
    expected = torch.sigmoid(torch.tensor(bias[0])) if num_labels == 1 else torch.softmax(torch.tensor(bias), 0)[1]
    assert j.probability("Is it red?", "yes", "no") == pytest.approx(float(expected), abs=1e-5)
    assert j.score("Is it red?", ["yes", "yeah"], "no") == verdict


def test_the_judge_input_layout():
    assert judge.judge_text("Q?", "ref", "pred") == "\nQuestion: Q?\nAnswer: ref\nStudent: pred"
