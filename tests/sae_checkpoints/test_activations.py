import subprocess
import sys
from collections import namedtuple

import numpy as np
import pytest
import torch
import zarr
from transformers import GPTNeoXConfig, GPTNeoXForCausalLM, LlamaConfig, LlamaForCausalLM

from lmscope.sae_checkpoints import activations

T = 6  # tokens per document after BOS
SPLITS = {"train": [0, 14], "validation": [14, 19], "test": [19, 21]}


@pytest.fixture(scope="module")
def llama():
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=50, hidden_size=16, intermediate_size=32, num_hidden_layers=3,
                      num_attention_heads=2, num_key_value_heads=2)
    return LlamaForCausalLM(cfg).eval()


@pytest.fixture
def tokens(tmp_path):
    rng = np.random.default_rng(0)
    ids = rng.integers(3, 50, size=(21, 1 + T)).astype(np.int32)
    ids[:, 0] = 1
    arr = zarr.create_array(store=str(tmp_path / "tokens.zarr"), shape=ids.shape, chunks=(8, 1 + T), dtype="int32")
    arr[:] = ids
    arr.attrs["split_offsets"] = SPLITS
    return arr


def reference(model, ids: np.ndarray, layer: int, normalize: bool) -> np.ndarray:
    with torch.no_grad():
        h = model(torch.from_numpy(ids.astype(np.int64)), output_hidden_states=True).hidden_states[layer]
    h = h[:, 1:]
    if normalize:
        h = h / h.norm(dim=-1, keepdim=True)
    return h.reshape(-1, h.shape[-1]).numpy()


@pytest.mark.parametrize("layer", [0, 1, 2, 3])  # 3 = the last block, whose hidden state is final-normed
@pytest.mark.parametrize("split", ["train", "validation"])
def test_rows_equal_output_hidden_states_with_bos_dropped_and_unit_norm(llama, tokens, tmp_path, layer, split):
    out = tmp_path / f"{split}.zarr"
    activations.extract(llama, tokens, split, layer, out, batch_size=4)
    store = zarr.open_array(str(out), mode="r")
    start, stop = SPLITS[split]
    assert store.shape == ((stop - start) * T, 16) and store.dtype == np.float16
    expected = reference(llama, tokens[start:stop], layer, normalize=True)
    np.testing.assert_allclose(store[:].astype(np.float32), expected, atol=2e-3)
    np.testing.assert_allclose(np.linalg.norm(store[:].astype(np.float32), axis=1), 1, atol=2e-3)
    assert store.attrs["doc_id_offset"] == start and store.attrs["layer"] == layer


def test_without_normalisation_float32_rows_are_the_raw_hidden_states(llama, tokens, tmp_path):
    out = tmp_path / "raw.zarr"
    activations.extract(llama, tokens, "test", 2, out, normalize=False, store_dtype="float32", batch_size=1)
    store = zarr.open_array(str(out), mode="r")
    assert store.dtype == np.float32 and store.attrs["normalized"] is False
    np.testing.assert_allclose(store[:], reference(llama, tokens[19:21], 2, normalize=False), rtol=1e-5, atol=1e-5)
    # row = doc * T + position: document 1's position 0 is row T
    np.testing.assert_allclose(store[T], reference(llama, tokens[20:21], 2, normalize=False)[0], rtol=1e-5,
                               atol=1e-5)


def test_the_forward_pass_stops_after_the_layer(llama, tokens, tmp_path):
    fired = []
    hooks = [llama.model.layers[2].register_forward_hook(lambda *a: fired.append("block 3")),
             llama.lm_head.register_forward_hook(lambda *a: fired.append("lm_head"))]
    try:
        activations.extract(llama, tokens, "test", 2, tmp_path / "x.zarr")
    finally:
        for h in hooks:
            h.remove()
    assert fired == []


def test_gpt_neox_is_read_the_same_way(tokens, tmp_path):
    torch.manual_seed(1)
    model = GPTNeoXForCausalLM(GPTNeoXConfig(vocab_size=50, hidden_size=16, intermediate_size=32,
                                             num_hidden_layers=2, num_attention_heads=2)).eval()
    activations.extract(model, tokens, "test", 1, tmp_path / "neox.zarr", store_dtype="float32")
    np.testing.assert_allclose(zarr.open_array(str(tmp_path / "neox.zarr"))[:],
                               reference(model, tokens[19:21], 1, normalize=True), atol=1e-5)


def test_a_layer_outside_the_model_names_the_key(llama, tokens, tmp_path):
    with pytest.raises(ValueError, match=r"models\[0\]\.layer: layer 4 is outside 0\.\.3"):
        activations.extract(llama, tokens, "test", 4, tmp_path / "x.zarr", key="models[0].layer")


def test_a_crash_mid_write_leaves_no_store(llama, tokens, tmp_path, monkeypatch):
    calls = []

    def failing_write(self, block):
        calls.append(len(block))
        if len(calls) == 2:
            raise OSError("disk went away")
        self.array[self.rows_written:self.rows_written + len(block)] = block
        self.rows_written += len(block)

    monkeypatch.setattr(activations, "chunk_rows_for", lambda *a: 2 * T)  # several chunks
    monkeypatch.setattr(activations.ChunkWriter, "_write", failing_write)
    with pytest.raises(OSError, match="disk went away"):
        activations.extract(llama, tokens, "train", 1, tmp_path / "train.zarr", batch_size=2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tokens.zarr"]


def test_a_killed_process_leaves_nothing_that_looks_complete(tmp_path):
    # os._exit in the middle of writing: no exception handler or cleanup runs, as with kill -9.
    script = f"""
import os, numpy as np, torch, zarr
from transformers import LlamaConfig, LlamaForCausalLM
from lmscope.sae_checkpoints import activations
torch.manual_seed(0)
model = LlamaForCausalLM(LlamaConfig(vocab_size=50, hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                                     num_attention_heads=2, num_key_value_heads=2)).eval()
ids = np.ones((40, 7), dtype=np.int32)
tokens = zarr.create_array(store={str(tmp_path / 'tokens.zarr')!r}, shape=ids.shape, chunks=(40, 7), dtype='int32')
tokens[:] = ids
tokens.attrs['split_offsets'] = {{'train': [0, 40]}}
activations.chunk_rows_for = lambda *a: 12
real_write = activations.ChunkWriter._write
def write_then_die(self, block):
    real_write(self, block)
    if self.rows_written >= 36:
        os._exit(9)
activations.ChunkWriter._write = write_then_die
activations.extract(model, tokens, 'train', 1, {str(tmp_path / 'train.zarr')!r}, batch_size=4)
"""
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 9, proc.stderr
    assert not (tmp_path / "train.zarr").exists()
    leftovers = [p.name for p in tmp_path.iterdir() if p.name != "tokens.zarr"]
    assert leftovers and all(name.startswith(".train.zarr.tmp-") for name in leftovers)


def test_refuses_to_start_when_the_disk_is_too_small(llama, tokens, tmp_path, monkeypatch):
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(activations.shutil, "disk_usage", lambda path: usage(10**6, 10**6 - 100, 100))
    message = r"train\.zarr: this store needs about 2\.69 kB \(uncompressed\) but only 100 B are free"
    with pytest.raises(OSError, match=message):
        activations.extract(llama, tokens, "train", 1, tmp_path / "train.zarr")
    assert not (tmp_path / "train.zarr").exists()


def test_chunk_writer_writes_whole_chunks_in_order(tmp_path):
    arr = zarr.create_array(store=str(tmp_path / "w.zarr"), shape=(23, 2), chunks=(5, 2), dtype="float32")
    sizes = []
    writer = activations.ChunkWriter(arr)
    original = writer._write
    writer._write = lambda block: (sizes.append(len(block)), original(block))
    data = np.arange(46, dtype=np.float32).reshape(23, 2)
    for a, b in [(0, 3), (3, 4), (4, 12), (12, 23)]:
        writer.put(data[a:b])
    writer.close()
    assert sizes == [5, 5, 5, 5, 3]
    np.testing.assert_array_equal(arr[:], data)


def test_chunks_hold_whole_documents():
    rows = activations.chunk_rows_for(d=2048, itemsize=2, tokens_per_doc=64)
    assert rows % 64 == 0 and 2 << 20 <= rows * 2048 * 2 <= 4 << 20
    assert activations.chunk_rows_for(d=10**7, itemsize=4, tokens_per_doc=64) == 64
