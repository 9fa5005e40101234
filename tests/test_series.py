"""Time series: reading, the SeriesEncoder front end, the temporal autoencoder, profiles, one call."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import signal
from sklearn.pipeline import Pipeline

from deepclust import AEKMeans, IDEC, InputError, cluster_series, load_model, save
from deepclust.embed import SeriesEncoder, cluster_profiles
from deepclust.io.series import read_series
from deepclust.metrics import cluster_accuracy
from deepclust.nn import TemporalAutoencoder, build_autoencoder

WAVES = (
    lambda u: np.sin(2 * np.pi * u),
    lambda u: signal.square(2 * np.pi * u),
    lambda u: signal.sawtooth(2 * np.pi * u),  # a ramp that falls back
)


def shapes(n_per: int = 50, seed: int = 0) -> tuple[list[np.ndarray], np.ndarray]:
    """Sines, squares and ramps: two periods each, of 100-160 steps, with random shift, level, scale and noise."""
    rng = np.random.default_rng(seed)
    series, y = [], []
    for k, wave in enumerate(WAVES):
        for _ in range(n_per):
            length = int(rng.integers(100, 161))
            t = np.arange(length) / length * 2 + rng.uniform(0, 1)
            series.append(wave(t) * rng.uniform(0.5, 2) + rng.uniform(-3, 3) + rng.normal(0, 0.3, length))
            y.append(k)
    return series, np.array(y)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def write_rows(path, rows) -> None:
    path.write_text("\n".join(",".join(f"{v:.5f}" for v in row) for row in rows) + "\n")


def test_shifted_shapes_cluster_with_the_temporal_autoencoder():
    series, y = shapes()
    encoder = SeriesEncoder()
    X = encoder.fit_transform(series)
    assert X.shape == (150, 160) and X.dtype == np.float32
    assert encoder.method_params_ == {"architecture": "temporal", "input_shape": (1, 160)}
    # batch_size=32: 150 series then give 5 steps per epoch, not 1 (the default 256 is sized for large data).
    model = IDEC(3, batch_size=32, pretrain_epochs=30, cluster_epochs=10, random_state=0, **encoder.method_params_).fit(X)
    assert isinstance(model.autoencoder_, TemporalAutoencoder)
    assert cluster_accuracy(y, model.labels_) >= 0.95


def test_cluster_series_reads_a_csv_with_rows_of_unequal_length(tmp_path):
    series, y = shapes(n_per=30, seed=1)
    write_rows(tmp_path / "waves.csv", series)
    labels = cluster_series(tmp_path / "waves.csv", 3, method="aekmeans", random_state=0, pretrain_epochs=30, batch_size=32)
    assert labels.shape == (90,)
    assert cluster_accuracy(y, labels) >= 0.95


def test_alignment_removes_random_shifts():
    rng = np.random.default_rng(0)
    t = np.arange(128) / 128 * 3
    shifted = np.stack([np.sin(2 * np.pi * (t + rng.uniform(0, 1))) for _ in range(20)])
    prepared = SeriesEncoder().fit(shifted).prepare(shifted)[..., 0]
    unaligned = SeriesEncoder(align=False).fit(shifted).prepare(shifted)[..., 0]
    assert np.abs(prepared - prepared[0]).max() < 1e-6
    assert np.abs(unaligned - unaligned[0]).max() > 1.0


def test_series_are_resampled_to_one_length_and_z_normalised():
    ramp_short, ramp_long = np.linspace(5, 7, 50), np.linspace(-1, 3, 80)
    encoder = SeriesEncoder(align=False).fit([ramp_short, ramp_long])
    assert encoder.length_ == 80
    prepared = encoder.prepare([ramp_short, ramp_long])[..., 0]
    np.testing.assert_allclose(prepared[0], prepared[1], atol=1e-6)  # the same ramp, whatever its level and length
    np.testing.assert_allclose(prepared.mean(axis=1), 0, atol=1e-6)
    np.testing.assert_allclose(prepared.std(axis=1), 1, atol=1e-6)
    assert SeriesEncoder(length=32).fit_transform([ramp_short, ramp_long]).shape == (2, 32)


def test_multichannel_series_flatten_channel_by_channel():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(6, 40, 2))
    X[:, :, 1] *= 100  # channels are normalised separately
    encoder = SeriesEncoder(align=False).fit(X)
    assert encoder.input_shape_ == (2, 40)
    out = encoder.transform(X).reshape(6, 2, 40)
    np.testing.assert_allclose(out.std(axis=2), 1, atol=1e-5)
    np.testing.assert_allclose(out[:, 1], (X[:, :, 1] - X[:, :, 1].mean(1, keepdims=True)) / X[:, :, 1].std(1, keepdims=True), atol=1e-5)


def test_temporal_autoencoder_reconstructs_the_input_shape():
    ae = build_autoencoder("temporal", 2 * 37, hidden_dims=(), embedding_dim=5, input_shape=(2, 37), noise=0.0)
    z, reconstruction = ae(torch.zeros(4, 74))
    assert z.shape == (4, 5) and reconstruction.shape == (4, 74)
    with pytest.raises(InputError, match="input_shape"):
        build_autoencoder("temporal", 70, hidden_dims=(), embedding_dim=5, input_shape=(2, 37), noise=0.0)
    with pytest.raises(InputError, match="input_shape"):
        build_autoencoder("temporal", 70, hidden_dims=(), embedding_dim=5, input_shape=None, noise=0.0)


def test_cluster_profiles_give_each_cluster_its_mean_and_medoid_shape():
    series, y = shapes(n_per=20)
    encoder = SeriesEncoder().fit(series)
    profiles = cluster_profiles(series, y, encoder=encoder)
    assert sorted(profiles) == [0, 1, 2]
    for label, profile in profiles.items():
        assert profile.size == 20 and y[profile.medoid_index] == label
        assert profile.mean.shape == profile.medoid.shape == (160,)
    square = encoder.prepare([signal.square(2 * np.pi * np.arange(160) / 80)])[0, :, 0]
    assert np.corrcoef(profiles[1].mean, square)[0, 1] > 0.9  # aligned squares average to a square, not a blur


def test_state_round_trip_gives_identical_output(tmp_path):
    series, _ = shapes(n_per=5)
    encoder = SeriesEncoder(length=64).fit(series)
    meta, arrays = encoder._get_state()
    restored = SeriesEncoder(**encoder.get_params())
    restored._set_state(json.loads(json.dumps(meta)), arrays)
    np.testing.assert_array_equal(restored.transform(series), encoder.transform(series))
    assert restored.method_params_ == encoder.method_params_

    temporal = AEKMeans(3, architecture="temporal", input_shape=(1, 64), pretrain_epochs=2, random_state=0)
    pipeline = Pipeline([("embed", SeriesEncoder(length=64)), ("cluster", temporal)]).fit(series)
    save(pipeline, tmp_path / "model")
    loaded = load_model(tmp_path / "model")
    np.testing.assert_array_equal(loaded.transform(series), pipeline.transform(series))


def test_series_file_with_text_names_line_and_field(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("1,2,3,4\n5,6,oops,8\n")
    with pytest.raises(InputError, match=r"bad\.csv line 2, field 3: 'oops' is not a finite number"):
        read_series(path)
    path.write_text("1,2,3,4\n5,,7,8\n")
    with pytest.raises(InputError, match="line 2, field 2 is empty inside the series"):
        read_series(path)


def test_series_file_header_and_ids(tmp_path):
    path = tmp_path / "named.csv"
    path.write_text("name,t0,t1,t2\nalpha,1,2,3\nbeta,4,5\n")
    series, ids = read_series(path, id_column="name")
    assert ids.tolist() == ["alpha", "beta"]
    assert [s.tolist() for s in series] == [[1, 2, 3], [4, 5]]
    with pytest.raises(InputError, match="no id column 'label'"):
        read_series(path, id_column="label")


@pytest.mark.parametrize("first_name", [0, 1])
def test_numbered_column_names_are_a_header(tmp_path, first_name):
    X = np.random.default_rng(0).normal(size=(4, 6))
    pd.DataFrame(X, columns=range(first_name, first_name + 6)).to_csv(tmp_path / "wide.csv", index=False)
    series, ids = read_series(tmp_path / "wide.csv")
    np.testing.assert_allclose(series, X, rtol=1e-6)
    assert ids.tolist() == [0, 1, 2, 3]
    pd.DataFrame(X).to_csv(tmp_path / "indexed.csv")  # a nameless index column first
    series, ids = read_series(tmp_path / "indexed.csv", id_column=0)
    np.testing.assert_allclose(series, X, rtol=1e-6)
    assert ids.tolist() == ["0", "1", "2", "3"]


@pytest.mark.parametrize("id_column", [None, "series_id"])
def test_long_format_file_is_refused_with_how_to_pivot_it(tmp_path, id_column):
    path = tmp_path / "long.csv"
    path.write_text("series_id,time,value\n7,0,0.5\n7,1,0.7\n8,0,0.1\n8,1,0.2\n")
    with pytest.raises(InputError, match=r"long\.csv looks like long format.*'series_id' repeats '7' on lines 2 and 3.*pivot\(index='series_id', columns='time', values='value'\)"):
        read_series(path, id_column=id_column)


def test_repeated_series_ids_are_warned_about(tmp_path):
    path = tmp_path / "ucr.csv"
    path.write_text("2,0.1,0.2,0.3,0.4\n1,0.5,0.6,0.7,0.8\n2,0.9,1.0,1.1,1.2\n")
    with pytest.warns(UserWarning, match=r"ucr\.csv: id column 0 repeats ids \(e\.g\. '2' on lines 1 and 3\)"):
        _, ids = read_series(path, id_column=0)
    assert ids.tolist() == ["2", "1", "2"]


def test_series_file_messages_name_the_file_and_line(tmp_path):
    path = tmp_path / "short.csv"
    path.write_text("1.5,2,3\n4\n")
    with pytest.raises(InputError, match=r"short\.csv line 2 holds 1 value; a series needs at least 2"):
        read_series(path)
    path = tmp_path / "semicolons.csv"
    path.write_text("1.5;2;3\n4;5;6\n")
    with pytest.raises(InputError, match=r"semicolons\.csv line 1: the fields look separated by ';'.*read with ','"):
        read_series(path)


def test_bad_series_input_is_an_input_error():
    with pytest.raises(InputError, match="series 1 holds NaN or infinity at step 2"):
        SeriesEncoder().fit([np.arange(5.0), np.array([1.0, 2, np.nan, 4])])
    with pytest.raises(InputError, match="series 0 is not numeric"):
        SeriesEncoder().fit([["a", "b", "c"]])
    with pytest.raises(InputError, match="fitted on 1 channel"):
        SeriesEncoder().fit(np.zeros((3, 10))).transform(np.zeros((3, 10, 2)))
    with pytest.raises(InputError, match="length must be"):
        SeriesEncoder(length=1).fit(np.zeros((3, 10)))


@pytest.mark.parametrize(("architecture", "shape"), [("temporal", (2, 2)), ("temporal", (4,)), ("conv", (1, 3, 3))])
def test_tiny_convolutions_train_in_float32_and_do_not_diverge(architecture, shape):
    """On a CPU with native bfloat16, these gradients turned NaN within 10 steps in bfloat16."""
    X = np.sign(np.random.default_rng(0).normal(size=(300, int(np.prod(shape))))).astype(np.float32)
    model = IDEC(3, architecture=architecture, input_shape=shape, pretrain_epochs=10, cluster_epochs=2, device="cpu", random_state=0)
    model.fit(X)
    assert not model._in_bfloat16()
    assert np.isfinite(model.history_["pretrain"].losses).all()
    wide = (1, 8, 8) if architecture == "conv" else (*shape[:-1], 8)
    assert not IDEC(3, architecture=architecture, input_shape=wide)._tiny_convolution()
