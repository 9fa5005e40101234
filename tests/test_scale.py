"""deepclust.scale: streaming files block by block, training from a memory map, DDP, Dask."""

from __future__ import annotations

import multiprocessing
import os
import socket
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from deepclust import AEKMeans, InputError, KMeans
from deepclust.metrics import cluster_accuracy
from deepclust.scale import fit_distributed, fit_sample, predict_chunks, predict_file, transform_file
from deepclust.train import rows_tensor

SMALL_AE = dict(hidden_dims=(32,), embedding_dim=4, pretrain_epochs=3, batch_size=64, device="cpu")


@pytest.fixture(scope="module")
def table(tmp_path_factory, blobs) -> tuple[Path, np.ndarray, np.ndarray]:
    """The blobs as a Parquet file with an id column and small row groups (several blocks per group)."""
    X, y = blobs
    path = tmp_path_factory.mktemp("scale") / "blobs.parquet"
    columns = {"key": np.array([f"r{i}" for i in range(len(X))]), **{f"f{j}": X[:, j] for j in range(X.shape[1])}}
    pq.write_table(pa.table(columns), path, row_group_size=150)
    return path, X, y


@pytest.fixture(scope="module")
def deep_model(blobs) -> AEKMeans:
    X, _ = blobs
    return AEKMeans(4, random_state=0, **SMALL_AE).fit(X)


def test_streamed_labels_equal_in_memory_labels(table, tmp_path):
    path, X, y = table
    model = fit_sample(KMeans(4, random_state=0), path, n_rows=200, id_column="key", random_state=0)
    assert cluster_accuracy(y, model.predict(X)) > 0.99
    out = predict_file(model, path, tmp_path / "labels.parquet", chunk_rows=64, id_column="key")
    written = pq.read_table(out).to_pandas()
    assert list(written.columns) == ["key", "cluster"]
    np.testing.assert_array_equal(written["key"], [f"r{i}" for i in range(len(X))])
    np.testing.assert_array_equal(written["cluster"], model.predict(X))


@pytest.mark.parametrize("suffix", [".npy", ".csv"])
def test_deep_model_streamed_from_npy_equals_predict(deep_model, blobs, tmp_path, suffix):
    X, _ = blobs
    np.save(tmp_path / "X.npy", X)
    out = predict_file(deep_model, tmp_path / "X.npy", tmp_path / f"labels{suffix}", chunk_rows=100)
    labels = np.load(out) if suffix == ".npy" else pd.read_csv(out)["cluster"].to_numpy()
    np.testing.assert_array_equal(labels, deep_model.labels_)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["X.npy", f"labels{suffix}"]  # no temporary file left


def test_streamed_embedding_equals_transform(deep_model, blobs, tmp_path):
    X, _ = blobs
    np.save(tmp_path / "X.npy", X)
    out = transform_file(deep_model, tmp_path / "X.npy", tmp_path / "z.npy", chunk_rows=128)
    np.testing.assert_allclose(np.load(out), deep_model.transform(X), rtol=1e-5, atol=1e-6)


def test_sample_is_reproducible_and_the_same_from_parquet_and_npy(table, tmp_path):
    path, X, _ = table
    np.save(tmp_path / "X.npy", X)
    from deepclust.io.chunks import RowFile

    from_parquet = RowFile(path, id_column="key").sample(50, random_state=3)
    from_npy = RowFile(tmp_path / "X.npy").sample(50, random_state=3)
    np.testing.assert_array_equal(from_parquet, from_npy)
    assert len(np.unique(from_npy, axis=0)) == 50 and np.isin(from_npy[:, 0], X[:, 0]).all()


def test_bfloat16_assignment_agrees_with_float32(deep_model, blobs):
    X, _ = blobs
    fast = predict_chunks(deep_model, X, chunk_rows=128, precision="bfloat16")
    assert (fast == deep_model.labels_).mean() >= 0.99
    with pytest.raises(InputError, match="deep methods"):
        predict_chunks(KMeans(4).fit(X), X, precision="bfloat16")


def test_bad_files_are_input_errors_and_leave_no_output(tmp_path, blobs):
    X, _ = blobs
    model = KMeans(4, random_state=0).fit(X)
    bad = X.copy()
    bad[333, 5] = np.nan
    pq.write_table(pa.table({f"f{j}": bad[:, j] for j in range(X.shape[1])}), tmp_path / "nan.parquet", row_group_size=100)
    with pytest.raises(InputError, match=r"row 333 column 'f5'"):
        predict_file(model, tmp_path / "nan.parquet", tmp_path / "out.npy", chunk_rows=64)
    assert not list(tmp_path.glob("*out.npy*"))
    pq.write_table(pa.table({"name": ["a", "b"], "x": [1.0, 2.0]}), tmp_path / "text.parquet")
    with pytest.raises(InputError, match=r"\['name'\] are not numeric"):
        predict_file(model, tmp_path / "text.parquet", tmp_path / "out.npy")
    np.save(tmp_path / "narrow.npy", X[:, :5])
    with pytest.raises(InputError, match="narrow.npy.*features"):
        predict_file(model, tmp_path / "narrow.npy", tmp_path / "out.npy")
    (tmp_path / "X.csv").write_text("a,b\n1,2\n")
    with pytest.raises(InputError, match="cannot stream .csv"):
        predict_file(model, tmp_path / "X.csv", tmp_path / "out.npy")
    assert not list(tmp_path.glob("*out*"))
    with pytest.raises(InputError, match="deep clustering estimator"):
        fit_distributed(model, X)


def test_deep_fit_from_a_memory_map_keeps_data_on_disk_and_gives_the_same_model(blobs, tmp_path):
    X, _ = blobs
    np.save(tmp_path / "X.npy", X)
    mapped = np.load(tmp_path / "X.npy", mmap_mode="r")
    assert np.shares_memory(rows_tensor(mapped, torch.device("cpu")).numpy(), mapped)  # no copy of the data
    from_disk = AEKMeans(4, random_state=1, **SMALL_AE).fit(mapped)
    in_memory = AEKMeans(4, random_state=1, **SMALL_AE).fit(X)
    np.testing.assert_array_equal(from_disk.labels_, in_memory.labels_)
    assert from_disk.history_["pretrain"].losses == in_memory.history_["pretrain"].losses


# ------------------------------------------------------------------ torch.distributed
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ddp_worker(rank: int, port: int, X: np.ndarray, out: str) -> None:
    """One of two processes, set up as torchrun would set it up, fitting with data-parallel pretraining."""
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE="2", MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    from deepclust.scale import init_distributed

    init_distributed()
    model = fit_distributed(AEKMeans(4, random_state=0, **{**SMALL_AE, "batch_size": 65}), X)
    assert type(model) is AEKMeans
    np.save(f"{out}/losses{rank}.npy", model.history_["pretrain"].losses)
    np.save(f"{out}/labels{rank}.npy", model.labels_)
    torch.distributed.destroy_process_group()


def test_ddp_on_two_processes_follows_the_single_process_loss_curve(blobs, tmp_path):
    X, _ = blobs
    # Forked from a server that has imported deepclust once: the two workers start in a second, not two imports' time.
    multiprocessing.set_forkserver_preload(["deepclust"])
    torch.multiprocessing.start_processes(_ddp_worker, args=(_free_port(), X, str(tmp_path)), nprocs=2, start_method="forkserver")
    single = AEKMeans(4, random_state=0, **{**SMALL_AE, "batch_size": 65}).fit(X)
    # 400 rows in blocks of 65 (the last of 10): the processes train on 33 and 32 rows of a block.
    for rank in (0, 1):
        np.testing.assert_allclose(np.load(tmp_path / f"losses{rank}.npy"), single.history_["pretrain"].losses, rtol=1e-4)
        np.testing.assert_array_equal(np.load(tmp_path / f"labels{rank}.npy"), single.labels_)
    assert single.history_["pretrain"].losses[-1] < single.history_["pretrain"].losses[0]


# ------------------------------------------------------------------------------- Dask
def test_dask_assignment_on_two_workers_equals_in_memory(deep_model, blobs):
    da = pytest.importorskip("dask.array")
    dd = pytest.importorskip("dask.dataframe")
    distributed = pytest.importorskip("distributed")
    from deepclust.scale.dask import predict_dask, transform_dask

    X, _ = blobs
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, distributed.Client(cluster):
        labels = predict_dask(deep_model, da.from_array(X, chunks=(90, 7))).compute()
        frame = dd.from_pandas(pd.DataFrame(X, columns=[f"f{j}" for j in range(X.shape[1])]), npartitions=3)
        series = predict_dask(deep_model, frame).compute()
        embedding = transform_dask(deep_model, da.from_array(X, chunks=(100, 20))).compute()
        embedded_frame = transform_dask(deep_model, frame).compute()
    np.testing.assert_array_equal(labels, deep_model.labels_)
    np.testing.assert_array_equal(series.sort_index().to_numpy(), deep_model.labels_)
    np.testing.assert_allclose(embedding, deep_model.transform(X), rtol=1e-5, atol=1e-6)
    assert list(embedded_frame.columns) == ["z0", "z1", "z2", "z3"]
    np.testing.assert_allclose(embedded_frame.sort_index().to_numpy(), deep_model.transform(X), rtol=1e-5, atol=1e-6)
    with pytest.raises(InputError, match="2-D"):
        predict_dask(deep_model, da.from_array(X[:, 0]))
