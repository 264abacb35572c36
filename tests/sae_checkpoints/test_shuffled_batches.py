import numpy as np
import pytest
import torch
import zarr

from lmscope.sae_checkpoints.shuffled_batches import ShuffledBatches


@pytest.fixture
def stores(tmp_path):
    """Two stores whose first column is each row's global id (exact in float32)."""
    paths, offset = [], 0
    for i, (rows, chunk) in enumerate([(57, 10), (33, 7)]):
        data = np.zeros((rows, 3), dtype=np.float32)
        data[:, 0] = np.arange(offset, offset + rows)
        data[:, 1] = i
        arr = zarr.create_array(store=str(tmp_path / f"s{i}.zarr"), shape=data.shape, chunks=(chunk, 3),
                                dtype="float32")
        arr[:] = data
        paths.append(tmp_path / f"s{i}.zarr")
        offset += rows
    return paths


def ids_of(reader, epoch=0):
    return [b[:, 0].long().tolist() for b in reader.epoch(epoch)]


def test_every_row_exactly_once_per_epoch_in_full_batches(stores):
    reader = ShuffledBatches(stores, batch_tokens=8, seed=3, buffer_tokens=20)
    batches = ids_of(reader)
    assert sorted(i for b in batches for i in b) == list(range(90))
    assert [len(b) for b in batches] == [8] * 11 + [2] and len(reader) == 12


def test_drop_last_leaves_out_only_the_short_batch(stores):
    reader = ShuffledBatches(stores, batch_tokens=8, seed=3, drop_last=True)
    batches = ids_of(reader)
    assert [len(b) for b in batches] == [8] * 11 and len(reader) == 11
    assert len(set(i for b in batches for i in b)) == 88


def test_deterministic_for_a_seed_and_epoch_and_different_otherwise(stores):
    a = ids_of(ShuffledBatches(stores, 8, seed=1))
    assert a == ids_of(ShuffledBatches(stores, 8, seed=1))
    assert a != ids_of(ShuffledBatches(stores, 8, seed=2))
    assert a != ids_of(ShuffledBatches(stores, 8, seed=1), epoch=1)


def test_batches_mix_chunks_and_stores(stores):
    first = next(iter(ShuffledBatches(stores, 16, seed=0, buffer_tokens=40).epoch()))
    ids = sorted(first[:, 0].long().tolist())
    assert ids != list(range(ids[0], ids[0] + 16))  # not one contiguous run of rows
    assert len({i // 10 if i < 57 else 100 + (i - 57) // 7 for i in ids}) >= 3  # rows from three chunks or more


def test_float16_stores_come_back_as_float32_tensors_on_the_device(tmp_path):
    data = np.random.default_rng(0).normal(size=(20, 4)).astype(np.float16)
    arr = zarr.create_array(store=str(tmp_path / "h.zarr"), shape=data.shape, chunks=(6, 4), dtype="float16")
    arr[:] = data
    batches = list(ShuffledBatches([tmp_path / "h.zarr"], 5, device="cpu").epoch())
    assert all(b.dtype == torch.float32 and b.device.type == "cpu" for b in batches)
    got = torch.cat(batches).numpy()
    np.testing.assert_array_equal(got[np.lexsort(got.T[::-1])], data.astype(np.float32)[np.lexsort(data.T[::-1])])


def test_stopping_early_does_not_hang_and_a_new_epoch_starts_clean(stores):
    reader = ShuffledBatches(stores, 4, seed=0, prefetch=1)
    for _ in zip(range(2), reader.epoch()):
        pass
    assert sorted(i for b in ids_of(reader) for i in b) == list(range(90))


def test_stores_of_different_widths_are_refused(stores, tmp_path):
    arr = zarr.create_array(store=str(tmp_path / "wide.zarr"), shape=(4, 5), chunks=(4, 5), dtype="float32")
    arr[:] = 1  # activation rows are never all zero (an all-zero chunk is not written)
    with pytest.raises(ValueError, match="different widths"):
        ShuffledBatches([stores[0], tmp_path / "wide.zarr"], 4)
