"""deepclust.scale: streaming files block by block, training from a memory map, DDP, Dask."""

from __future__ import annotations

import multiprocessing
import os
import socket
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from deepclust import AEKMeans, InputError, KMeans
from deepclust.io.chunks import BlockWriter, RowFile
from deepclust.metrics import cluster_accuracy
from deepclust.scale import fit_distributed, fit_sample, init_distributed, predict_chunks, predict_file, transform_file
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


@pytest.fixture(scope="module")
def kmeans(blobs) -> KMeans:
    """k-means fitted on the blobs as an array (so without column names)."""
    X, _ = blobs
    return KMeans(4, random_state=0).fit(X)


def _frame(X: np.ndarray) -> pd.DataFrame:
    """The blobs with the column names of the ``table`` fixture."""
    return pd.DataFrame(X, columns=[f"f{j}" for j in range(X.shape[1])])


def _write_parquet(path: Path, X: np.ndarray, **extra: object) -> Path:
    """``X`` as Parquet columns f0, f1, ... after the ``extra`` columns."""
    pq.write_table(pa.table({**extra, **{f"f{j}": X[:, j] for j in range(X.shape[1])}}), path, row_group_size=150)
    return path


def test_streamed_labels_equal_in_memory_labels(table, tmp_path):
    path, X, y = table
    model = fit_sample(KMeans(4, random_state=0), path, n_rows=200, id_column="key", random_state=0)
    assert cluster_accuracy(y, model.predict(_frame(X))) > 0.99
    out = predict_file(model, path, tmp_path / "labels.parquet", chunk_rows=64, id_column="key")
    written = pq.read_table(out).to_pandas()
    assert list(written.columns) == ["key", "cluster"]
    np.testing.assert_array_equal(written["key"], [f"r{i}" for i in range(len(X))])
    np.testing.assert_array_equal(written["cluster"], model.predict(_frame(X)))


@pytest.mark.parametrize("stream", [predict_file, transform_file])
@pytest.mark.parametrize("suffix", [".npy", ".parquet"])
def test_writing_over_the_input_file_is_refused(kmeans, blobs, tmp_path, stream, suffix):
    X, _ = blobs
    path = tmp_path / f"X{suffix}"
    np.save(path, X) if suffix == ".npy" else _write_parquet(path, X)
    before = path.read_bytes()
    with pytest.raises(InputError, match="input file"):
        stream(kmeans, path, tmp_path / "." / path.name)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]


@pytest.mark.parametrize(("stream", "id_column"), [(predict_file, "cluster"), (transform_file, "z0")])
def test_an_id_column_named_like_an_output_column_is_refused(kmeans, blobs, tmp_path, stream, id_column):
    X, _ = blobs
    path = _write_parquet(tmp_path / "X.parquet", X, **{id_column: np.arange(len(X)) + 1000})
    with pytest.raises(InputError, match=f"id column '{id_column}' has the name of an output column"):
        stream(kmeans, path, tmp_path / "out.parquet", id_column=id_column)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["X.parquet"]


def test_parquet_columns_are_read_by_the_names_the_model_was_fitted_on(table, tmp_path):
    path, X, _ = table
    model = fit_sample(KMeans(4, random_state=0), path, n_rows=200, id_column="key", random_state=0)
    shuffled = pa.table({"key": [f"r{i}" for i in range(len(X))], **{f"f{j}": X[:, j] for j in reversed(range(X.shape[1]))}})
    pq.write_table(shuffled, tmp_path / "reversed.parquet")
    out = predict_file(model, tmp_path / "reversed.parquet", tmp_path / "labels.npy", id_column="key")
    np.testing.assert_array_equal(np.load(out), model.predict(_frame(X)))
    out = transform_file(model, tmp_path / "reversed.parquet", tmp_path / "z.npy", id_column="key")
    np.testing.assert_allclose(np.load(out), model.transform(_frame(X)), rtol=1e-5)
    assert list(model.feature_names_in_) == [f"f{j}" for j in range(X.shape[1])]
    pq.write_table(shuffled.drop_columns(["f3"]), tmp_path / "narrow.parquet")
    with pytest.raises(InputError, match=r"no column\(s\) \['f3'\]"):
        predict_file(model, tmp_path / "narrow.parquet", tmp_path / "labels.npy", id_column="key")
    with pytest.raises(InputError, match="not the columns KMeans was fitted on"):
        predict_file(model, tmp_path / "reversed.parquet", tmp_path / "labels.npy", columns=["f0", "f1"])
    np.save(tmp_path / "X.npy", X)
    assert not hasattr(fit_sample(KMeans(4, random_state=0), tmp_path / "X.npy", n_rows=200), "feature_names_in_")


@pytest.mark.parametrize("stream", [predict_file, transform_file])
def test_empty_or_repeated_ids_are_refused(kmeans, blobs, tmp_path, stream):
    X, _ = blobs
    ids = [f"r{i}" for i in range(len(X))]
    _write_parquet(tmp_path / "empty.parquet", X, key=ids[:7] + [None] + ids[8:])
    with pytest.raises(InputError, match="'key' is empty in row 7"):
        stream(kmeans, tmp_path / "empty.parquet", tmp_path / "out.csv", id_column="key")
    _write_parquet(tmp_path / "repeated.parquet", X, key=ids[:205] + ["r202"] + ids[206:])
    with pytest.raises(InputError, match="repeats id 'r202' in rows 202 and 205"):
        stream(kmeans, tmp_path / "repeated.parquet", tmp_path / "out.csv", id_column="key", chunk_rows=100)
    assert not list(tmp_path.glob("*out*"))


@pytest.mark.parametrize("suffix", [".npy", ".parquet"])
def test_output_files_get_the_permissions_the_umask_allows(kmeans, blobs, tmp_path, suffix):
    X, _ = blobs
    np.save(tmp_path / "X.npy", X)
    previous = os.umask(0o027)
    try:
        out = predict_file(kmeans, tmp_path / "X.npy", tmp_path / f"labels{suffix}")
    finally:
        os.umask(previous)
    assert out.stat().st_mode & 0o777 == 0o640


def test_an_output_path_that_is_a_folder_is_refused(kmeans, blobs, tmp_path):
    X, _ = blobs
    np.save(tmp_path / "X.npy", X)
    (tmp_path / "labels.npy").mkdir()
    with pytest.raises(InputError, match="labels.npy is a folder"):
        predict_file(kmeans, tmp_path / "X.npy", tmp_path / "labels.npy")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["X.npy", "labels.npy"]


@pytest.mark.parametrize("suffix", [".npy", ".parquet"])
@pytest.mark.parametrize("n_results", [2, 4])
def test_a_block_with_too_many_or_too_few_results_is_refused(tmp_path, suffix, n_results):
    with pytest.raises(InputError, match=f"{n_results} results for a block of 3 rows"):
        with BlockWriter(tmp_path / f"out{suffix}", 6) as writer:
            writer.write(np.arange(3), np.zeros(n_results, np.int64))
    with pytest.raises(InputError, match="3 results were written for 6 rows"):
        with BlockWriter(tmp_path / f"out{suffix}", 6) as writer:
            writer.write(np.arange(3), np.zeros(3, np.int64))
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("model", [KMeans(4), AEKMeans(4, **SMALL_AE)], ids=["KMeans", "AEKMeans"])
def test_an_unfitted_model_is_refused_before_any_work(model, blobs, tmp_path):
    X, _ = blobs
    np.save(tmp_path / "X.npy", X)
    for stream in (predict_file, transform_file):
        with pytest.raises(InputError, match=f"{stream.__name__}: {type(model).__name__} is not fitted yet"):
            stream(model, tmp_path / "X.npy", tmp_path / "out.npy")
    with pytest.raises(InputError, match="predict_chunks: .* is not fitted yet"):
        predict_chunks(model, X)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["X.npy"]


@pytest.mark.parametrize("n_rows", [-3, None, 0, 2.7, True])
def test_fit_sample_needs_a_positive_integer_number_of_rows(table, n_rows):
    path, _, _ = table
    with pytest.raises(InputError, match=f"n_rows must be a positive integer, got {n_rows!r}"):
        fit_sample(KMeans(4, random_state=0), path, n_rows=n_rows, id_column="key")


@pytest.mark.parametrize(
    ("columns", "message"),
    [
        ("f0", "columns must be a list or tuple of column names"),
        ((name for name in ["f0", "f1"]), "columns must be a list or tuple of column names"),
        (["f0", 1], "columns must be a list or tuple of column names"),
        (["f0", "f1", "f0"], r"columns lists \['f0'\] more than once"),
        (["key", "f0"], "id column 'key' is also listed in columns"),
    ],
    ids=["str", "generator", "not-a-name", "repeated", "id"],
)
def test_row_file_columns_are_distinct_names_without_the_id_column(table, columns, message):
    path, _, _ = table
    with pytest.raises(InputError, match=message):
        RowFile(path, columns=columns, id_column="key")


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


@pytest.mark.filterwarnings("error::RuntimeWarning")
@pytest.mark.parametrize(("suffix", "column"), [(".npy", "x2"), (".parquet", "f2")])
def test_values_beyond_float32_are_named_as_such_without_a_numpy_warning(kmeans, blobs, tmp_path, suffix, column):
    X, _ = blobs
    big = X.astype(np.float64)
    big[7, 2] = -1e39  # finite in the file, infinite in float32
    path = tmp_path / f"big{suffix}"
    np.save(path, big) if suffix == ".npy" else _write_parquet(path, big)
    message = rf"big{suffix}: row 7 column '{column}' holds values beyond float32's range \(largest magnitude 1e\+39"
    with pytest.raises(InputError, match=message):
        predict_file(kmeans, path, tmp_path / "out.npy", chunk_rows=64)
    with pytest.raises(InputError, match=message):
        fit_sample(KMeans(4), path, n_rows=len(X))
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]


@pytest.mark.parametrize("stream", [predict_file, transform_file])
def test_a_failed_write_removes_the_folders_it_made_and_no_others(kmeans, blobs, tmp_path, stream):
    X, _ = blobs
    np.save(tmp_path / "narrow.npy", X[:, :5])
    (tmp_path / "kept").mkdir()
    with pytest.raises(InputError, match="narrow.npy.*features"):
        stream(kmeans, tmp_path / "narrow.npy", tmp_path / "kept" / "new" / "dir" / "out.csv")
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")) == ["kept", "narrow.npy"]
    # A folder it made that has since received another file stays, and so do the folders above it.
    writer = BlockWriter(tmp_path / "made" / "dir" / "out.npy", 3)
    (tmp_path / "made" / "other.txt").write_text("not the writer's")
    writer.abort()
    assert sorted(p.relative_to(tmp_path).as_posix() for p in (tmp_path / "made").rglob("*")) == ["made/other.txt"]
    np.save(tmp_path / "X.npy", X)
    assert stream(kmeans, tmp_path / "X.npy", tmp_path / "kept" / "new" / "out.csv").is_file()


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


def _run_on_two_processes(worker: Callable[[int, int, np.ndarray, str], None], X: np.ndarray, out: Path) -> None:
    """``worker(rank, port, X, out)`` on two processes, forked from a server that has imported deepclust once:
    they start in a second, not two imports' time."""
    multiprocessing.set_forkserver_preload(["deepclust"])
    torch.multiprocessing.start_processes(worker, args=(_free_port(), X, str(out)), nprocs=2, start_method="forkserver")


def _join_two_process_group(rank: int, port: int) -> None:
    """Set this process up as torchrun would for rank ``rank`` of two, and join the group."""
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE="2", MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    init_distributed()


def _ddp_worker(rank: int, port: int, X: np.ndarray, out: str) -> None:
    """One of two processes fitting with data-parallel pretraining."""
    _join_two_process_group(rank, port)
    try:
        fit_distributed(AEKMeans(4, random_state=0, **SMALL_AE), X if rank == 0 else X[:-1])
    except InputError as err:
        Path(f"{out}/shape_error{rank}.txt").write_text(str(err))
    try:  # a parameter only rank 1 refuses: its checkpoint path is a folder
        fit_distributed(AEKMeans(4, random_state=0, checkpoint=Path(out) / ("fit.ckpt" if rank == 0 else ""), **SMALL_AE), X)
    except InputError as err:
        Path(f"{out}/parameter_error{rank}.txt").write_text(str(err))
    model = fit_distributed(AEKMeans(4, random_state=0, **{**SMALL_AE, "batch_size": 65}), X)
    assert type(model) is AEKMeans
    np.save(f"{out}/losses{rank}.npy", model.history_["pretrain"].losses)
    np.save(f"{out}/labels{rank}.npy", model.labels_)
    np.random.seed(rank)  # forked from one server, the workers share NumPy's global state; torchrun's would not
    unseeded = fit_distributed(AEKMeans(4, random_state=None, **SMALL_AE), X)
    assert unseeded.random_state is None
    np.save(f"{out}/unseeded_labels{rank}.npy", unseeded.labels_)
    torch.distributed.destroy_process_group()


def test_ddp_on_two_processes_follows_the_single_process_loss_curve(blobs, tmp_path):
    X, _ = blobs
    _run_on_two_processes(_ddp_worker, X, tmp_path)
    single = AEKMeans(4, random_state=0, **{**SMALL_AE, "batch_size": 65}).fit(X)
    # 400 rows in blocks of 65 (the last of 10): the processes train on 33 and 32 rows of a block.
    for rank in (0, 1):
        np.testing.assert_allclose(np.load(tmp_path / f"losses{rank}.npy"), single.history_["pretrain"].losses, rtol=1e-4)
        np.testing.assert_array_equal(np.load(tmp_path / f"labels{rank}.npy"), single.labels_)
    assert single.history_["pretrain"].losses[-1] < single.history_["pretrain"].losses[0]
    # random_state=None: rank 0's seed is shared, so both processes end with the same model.
    np.testing.assert_array_equal(np.load(tmp_path / "unseeded_labels0.npy"), np.load(tmp_path / "unseeded_labels1.npy"))
    for rank in (0, 1):
        assert "rank 0 (400, 20), rank 1 (399, 20)" in (tmp_path / f"shape_error{rank}.txt").read_text()
        refused = (tmp_path / f"parameter_error{rank}.txt").read_text()
        assert refused.startswith(f"fit_distributed: rank 1: AEKMeans: checkpoint {tmp_path} is a folder")


class _Stop(Exception):
    """Stands for both processes being stopped after the same epoch."""


def _ddp_resume_worker(rank: int, port: int, X: np.ndarray, out: str) -> None:
    """One of two processes: an IDEC fit with a checkpoint, stopped by both after pretraining's 4th epoch,
    run again to the end, then compared with a fit never stopped."""
    from deepclust import IDEC, checkpoint

    _join_two_process_group(rank, port)
    params = dict(n_clusters=4, random_state=0, init="kmeans", cluster_epochs=3, **{**SMALL_AE, "pretrain_epochs": 6})
    path = Path(out) / ("fit.ckpt" if rank == 0 else "elsewhere/fit.ckpt")  # rank 1's file is never read or written
    checkpoint.SAVE_EVERY_SECONDS = 0.0
    save, calls, stop_after = checkpoint.PhaseCheckpoint.save, [], [4]

    def stopping(self, *args, **kwargs):
        save(self, *args, **kwargs)
        calls.append(1)
        if len(calls) == stop_after[0]:
            raise _Stop

    checkpoint.PhaseCheckpoint.save = stopping
    try:
        fit_distributed(IDEC(**params, checkpoint=path), X)
    except _Stop:
        pass
    assert path.is_file() == (rank == 0)
    calls.clear()
    stop_after[0] = None
    resumed = fit_distributed(IDEC(**params, checkpoint=path), X)
    assert len(calls) == 2 + 3  # pretraining's last two epochs, then the clustering phase
    checkpoint.PhaseCheckpoint.save = save
    whole = fit_distributed(IDEC(**params), X)
    np.testing.assert_array_equal(resumed.labels_, whole.labels_)
    assert all(torch.equal(a, b) for a, b in zip(resumed.autoencoder_.state_dict().values(), whole.autoencoder_.state_dict().values()))
    np.testing.assert_allclose(resumed.history_["pretrain"].losses[4:], whole.history_["pretrain"].losses[4:], rtol=1e-5)
    np.save(f"{out}/resumed_labels{rank}.npy", resumed.labels_)
    torch.distributed.destroy_process_group()


def test_a_stopped_fit_on_two_processes_resumes_from_rank_0s_checkpoint(blobs, tmp_path):
    X, y = blobs
    _run_on_two_processes(_ddp_resume_worker, X, tmp_path)
    labels = [np.load(tmp_path / f"resumed_labels{rank}.npy") for rank in (0, 1)]
    np.testing.assert_array_equal(labels[0], labels[1])
    assert cluster_accuracy(y, labels[0]) > 0.8  # a real clustering of the 4 blobs (0.85 at this tiny budget), not a collapsed one
    assert sorted(p.name for p in tmp_path.iterdir()) == ["resumed_labels0.npy", "resumed_labels1.npy"]  # removed; rank 1's never made


def test_fit_distributed_on_one_process_keeps_random_state_none(blobs):
    X, _ = blobs
    model = fit_distributed(AEKMeans(4, random_state=None, **SMALL_AE), X)
    assert model.random_state is None and type(model) is AEKMeans and len(model.labels_) == len(X)


@pytest.mark.parametrize(
    ("environment", "backend", "message"),
    [
        ({"WORLD_SIZE": "2", "RANK": "2"}, None, r"RANK=2 is outside \[0, WORLD_SIZE=2\)"),
        ({"WORLD_SIZE": "2", "RANK": "-1"}, None, r"RANK=-1 is outside"),
        ({"WORLD_SIZE": "0", "RANK": "0"}, None, "WORLD_SIZE must be at least 1"),
        ({"WORLD_SIZE": "two", "RANK": "0"}, None, "WORLD_SIZE must be an integer, got 'two'"),
        ({"WORLD_SIZE": "2"}, None, "RANK is not set"),
        ({"WORLD_SIZE": "2", "RANK": "0", "MASTER_PORT": "http"}, None, "MASTER_PORT must be an integer"),
        ({"WORLD_SIZE": "2", "RANK": "0"}, "glo", "backend must be one of"),
        ({"WORLD_SIZE": "2", "RANK": "0"}, "nccl", "'nccl' needs CUDA"),
    ],
    ids=["rank-too-large", "rank-negative", "world-0", "world-text", "no-rank", "port-text", "unknown-backend", "nccl-on-cpu"],
)
def test_init_distributed_refuses_a_bad_environment_before_starting(monkeypatch, environment, backend, message):
    if backend == "nccl" and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")

    def start(*args: object, **kwargs: object) -> None:
        raise AssertionError("init_process_group was called")

    monkeypatch.setattr(torch.distributed, "init_process_group", start)
    for name in ("RANK", "MASTER_PORT"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(InputError, match=message):
        init_distributed(backend)


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


def test_dask_frames_are_read_by_the_column_names_the_model_was_fitted_on(blobs):
    dd = pytest.importorskip("dask.dataframe")
    from deepclust.scale.dask import predict_dask, transform_dask

    X, _ = blobs
    frame = _frame(X)
    model = KMeans(4, random_state=0).fit(frame)
    shuffled = dd.from_pandas(frame[frame.columns[::-1]], npartitions=3)
    labels = predict_dask(model, shuffled).compute(scheduler="synchronous")
    np.testing.assert_array_equal(labels.sort_index().to_numpy(), model.predict(frame))
    embedding = transform_dask(model, shuffled).compute(scheduler="synchronous")
    np.testing.assert_allclose(embedding.sort_index().to_numpy(), model.transform(frame), rtol=1e-5)
    with pytest.raises(InputError, match=r"no column\(s\) \['f3'\]"):
        predict_dask(model, shuffled.drop(columns="f3"))


def test_dask_refuses_text_columns_before_any_block_is_computed(kmeans, blobs, tmp_path):
    da = pytest.importorskip("dask.array")
    dd = pytest.importorskip("dask.dataframe")
    from deepclust.scale.dask import predict_dask, transform_dask

    X, _ = blobs
    frame = _frame(X).assign(f3="text")
    frame.to_csv(tmp_path / "text.csv", index=False)
    named = KMeans(4, random_state=0).fit(_frame(X))
    for model in (kmeans, named):
        for function in (predict_dask, transform_dask):
            with pytest.raises(InputError, match=r"column\(s\) \['f3'\] are not numeric \(string\); KMeans takes numbers"):
                function(model, dd.read_csv(tmp_path / "text.csv"))
    with pytest.raises(InputError, match="holds <U1; expected numbers"):
        predict_dask(kmeans, da.from_array(np.full((4, 20), "a")))
    # A text column the model was not fitted on (an id, say) is left alone.
    labels = predict_dask(named, dd.from_pandas(_frame(X).assign(key="r"), npartitions=2)).compute(scheduler="synchronous")
    np.testing.assert_array_equal(labels.sort_index().to_numpy(), named.labels_)


def test_dask_refuses_an_unfitted_model_before_building_the_graph(blobs):
    da = pytest.importorskip("dask.array")
    from deepclust.scale.dask import predict_dask, transform_dask

    X, _ = blobs
    for function in (predict_dask, transform_dask):
        with pytest.raises(InputError, match=f"{function.__name__}: KMeans is not fitted yet"):
            function(KMeans(4), da.from_array(X, chunks=(100, 20)))
