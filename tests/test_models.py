"""Loading VLM processors as the hub has them: InstructBLIP's files name a video processor."""
import json

from PIL import Image
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import (AutoProcessor, BertTokenizerFast, BlipImageProcessorPil, InstructBlipConfig,
                          InstructBlipProcessor, PreTrainedTokenizerFast)

from lmscope.models import load_processor


def instructblip_as_on_the_hub(path):
    """A tiny InstructBLIP processor saved in Salesforce/instructblip-vicuna-7b's layout: preprocessor_config.json
    names BlipImageProcessor, processor_config.json names InstructBlipVideoProcessor."""
    words = ["<unk>", "<s>", "</s>", "What", "is", "it", "?", "Short", "Answer", ":"]
    backend = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="<unk>", bos_token="<s>",
                                        eos_token="</s>", pad_token="<unk>")
    (path / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "what", "is", "it"]))
    qformer_tokenizer = BertTokenizerFast(vocab_file=str(path / "vocab.txt"))
    processor = InstructBlipProcessor(image_processor=BlipImageProcessorPil(size={"height": 28, "width": 28}),
                                      tokenizer=tokenizer, qformer_tokenizer=qformer_tokenizer, num_query_tokens=4)
    out = path / "instructblip"
    processor.save_pretrained(out)
    InstructBlipConfig(num_query_tokens=4).save_pretrained(out)  # load_processor wants a model directory
    saved = json.loads((out / "processor_config.json").read_text())
    (out / "preprocessor_config.json").write_text(json.dumps(saved["image_processor"]
                                                             | {"processor_class": "InstructBlipProcessor"}))
    (out / "processor_config.json").write_text(json.dumps({"num_query_tokens": 4,
                                                           "processor_class": "InstructBlipVideoProcessor"}))
    return out


def test_instructblip_gets_its_image_processor_whatever_the_hub_file_names(tmp_path):
    path = instructblip_as_on_the_hub(tmp_path)
    try:  # what AutoProcessor makes of the hub's files: the video processor, or an error where it cannot be built
        auto = AutoProcessor.from_pretrained(path)
    except (ValueError, ImportError) as error:
        auto = error
    assert not isinstance(auto, InstructBlipProcessor)
    processor = load_processor({"path": str(path)}, "instructblip")
    assert isinstance(processor, InstructBlipProcessor) and processor.num_query_tokens == 4
    inputs = processor(images=Image.new("RGB", (40, 30)), text="What is it ?", return_tensors="pt")
    assert inputs["pixel_values"].shape == (1, 3, 28, 28)  # one image, not 5-D video frames
    assert inputs["input_ids"].shape[1] == 4 + 4  # the query tokens, then the four words
