"""Tables: reading CSV/Parquet/NumPy, the TabularEncoder front end, outliers, one call, saved state."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_blobs
from sklearn.pipeline import Pipeline

from deepclust import AEKMeans, InputError, cluster_table, load, load_model, save
from deepclust.embed import TabularEncoder, flag_outliers, outlier_fences
from deepclust.io.tables import read_table
from deepclust.metrics import adjusted_rand

NUMERIC = ["age", "income", "visits", "ratio", "score", "spend"]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def mixed_table(n: int = 300, missing: float = 0.2, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Three clusters in six numeric columns of very different scales and one categorical column;
    ``missing`` of every feature cell blank; a constant column; shuffled string ids."""
    rng = np.random.default_rng(seed)
    y = rng.permutation(np.arange(n) % 3)
    centres = np.array([[0, 0, 0, 0, 0, 0], [5, 5, 5, -5, -5, -5], [-5, 5, -5, 5, -5, 5]], dtype=float)
    numbers = (centres[y] + rng.normal(0, 1, (n, 6))) * [1, 10, 100, 0.1, 1, 1000] + [40, 50, 1000, 0, 0, 0]
    frame = pd.DataFrame(numbers, columns=NUMERIC)
    frame["segment"] = np.array(["bronze", "silver", "gold"])[np.where(rng.random(n) < 0.8, y, rng.integers(0, 3, n))]
    frame["country"] = "NZ"
    for column in [*NUMERIC, "segment"]:
        frame.loc[rng.random(n) < missing, column] = None
    frame.insert(0, "customer", [f"c{i:05d}" for i in rng.permutation(10 * n)[:n]])
    return frame, y


def test_mixed_table_with_missing_values_recovers_its_clusters():
    frame, y = mixed_table()
    assert frame[NUMERIC].isna().mean().min() > 0.15
    with pytest.warns(UserWarning, match="'country' \\(constant\\)"):
        labels = cluster_table(frame, 3, id_column="customer")
    assert adjusted_rand(y, labels) >= 0.9


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_ids_from_a_file_keep_the_original_row_order(tmp_path, suffix):
    frame, y = mixed_table(n=150, seed=1)
    path = tmp_path / f"customers{suffix}"
    frame.to_csv(path, index=False) if suffix == ".csv" else frame.to_parquet(path)
    loaded = load(path, id_column="customer")
    assert loaded.modality == "tabular"
    assert loaded.ids.tolist() == frame["customer"].tolist()
    assert "customer" not in loaded.data.columns
    np.testing.assert_allclose(loaded.data["income"].to_numpy(float), frame["income"].to_numpy(float))
    with pytest.warns(UserWarning, match="constant"):
        labels = cluster_table(path, 3, id_column="customer", method="aekmeans", pretrain_epochs=20, batch_size=32)
    assert adjusted_rand(y, labels) >= 0.9  # labels line up with the file's rows, hence with y


def test_encoder_scales_imputes_with_indicators_and_one_hot_encodes():
    frame = pd.DataFrame({
        "height": [1.0, 2.0, None, 4.0, 5.0],
        "weight": [10.0, 20.0, 30.0, 40.0, 50.0],
        "colour": ["red", "blue", None, "red", "blue"],
        "flat": [3, 3, 3, 3, 3],
    })
    with pytest.warns(UserWarning, match="'flat' \\(constant\\)"):
        encoder = TabularEncoder().fit(frame)
    X = encoder.transform(frame)
    names = encoder.get_feature_names_out().tolist()
    assert names == [
        "numeric__height", "numeric__weight", "numeric__missingindicator_height",
        "categorical__colour_blue", "categorical__colour_red", "categorical__colour_nan",
    ]
    np.testing.assert_allclose(X[:, 1], (frame["weight"] - 30) / np.sqrt(200), rtol=1e-6)
    assert X[2, 0] == pytest.approx(np.median(X[[0, 1, 3, 4], 0]))  # the median of the scaled column
    assert X[:, 2].tolist() == [0, 0, 1, 0, 0]  # the indicator stays 0/1
    assert X[:, 3:].tolist() == [[0, 1, 0], [1, 0, 0], [0, 0, 1], [0, 1, 0], [1, 0, 0]]
    unseen = encoder.transform(frame.assign(colour=["green"] * 5))
    assert unseen[:, 3:].sum() == 0  # a category never seen is no known category


def test_high_cardinality_keeps_frequent_values_and_groups_the_rest():
    rng = np.random.default_rng(0)
    codes = np.concatenate([np.repeat(["A", "B", "C"], 100), [f"rare{i}" for i in range(200)]])
    frame = pd.DataFrame({"code": rng.permutation(codes), "x": rng.normal(size=500)})
    encoder = TabularEncoder(max_categories=4).fit(frame)
    names = [n for n in encoder.get_feature_names_out() if n.startswith("categorical")]
    assert names == ["categorical__code_A", "categorical__code_B", "categorical__code_C", "categorical__code_infrequent_sklearn"]
    X = encoder.transform(frame)
    assert X[:, 1:].sum(axis=1).tolist() == [1.0] * 500


def test_text_columns_of_numbers_and_identifiers():
    frame = pd.DataFrame({"amount": ["1.5", "2", "3", None, "4"], "name": list("abcde"), "kind": list("xyxyx")})
    with pytest.warns(UserWarning, match="'name' \\(a different value in every row"):
        encoder = TabularEncoder().fit(frame)
    assert encoder.numeric_columns_ == ["amount"] and encoder.categorical_columns_ == ["kind"]
    typo = pd.DataFrame({"amount": [str(v) for v in range(19)] + ["12,5"]})
    with pytest.raises(InputError, match="column 'amount' holds numbers except 1 cell.*'12,5' in row 19"):
        TabularEncoder().fit(typo)
    fitted = TabularEncoder().fit(pd.DataFrame({"amount": [1.0, 2.0, 3.0]}))
    with pytest.raises(InputError, match="numeric column 'amount' holds 'n/a' in row 1"):
        fitted.transform(pd.DataFrame({"amount": [1, "n/a", 3]}))
    with pytest.raises(InputError, match=r"lacks column\(s\) \['amount'\]"):
        fitted.transform(pd.DataFrame({"other": [1.0]}))


def test_flag_outliers_marks_far_rows_and_few_others():
    Z, labels, centers = _blobs_with_outliers()
    flagged = flag_outliers(Z, labels, centers)
    assert flagged[-5:].all()
    assert flagged[:-5].mean() < 0.01
    np.testing.assert_array_equal(flag_outliers(Z, labels), flagged)  # centres default to the cluster means
    distance = np.linalg.norm(Z - centers[labels], axis=1)
    fences = outlier_fences(distance[:-5], labels[:-5])  # kept from training rows, they judge new rows
    assert fences.shape == (3,) and (distance[-5:] > fences[labels[-5:]]).all()
    with pytest.raises(InputError, match="one label per row"):
        flag_outliers(Z, labels[:-1])


def test_cluster_table_labels_outliers_minus_one():
    frame, y = mixed_table(n=300, missing=0.0, seed=2)
    far = np.array([[15, -15, 15, -15, 15, -15], [-15, -15, 15, 15, 0, 0], [15] * 6, [-15, 0, 0, 0, 0, 15], [0, 15, -15, 0, 15, 0]])
    frame.loc[:4, NUMERIC] = far * [1, 10, 100, 0.1, 1, 1000] + [40, 50, 1000, 0, 0, 0]  # five rows 10 sd outside every cluster
    with pytest.warns(UserWarning, match="constant"):
        labels = cluster_table(frame, 3, id_column="customer", outliers=True)
    assert (labels[:5] == -1).all()
    assert (labels[5:] == -1).mean() < 0.02
    assert adjusted_rand(y[5:], labels[5:]) >= 0.9


def test_state_round_trip_gives_identical_output(tmp_path):
    frame, _ = mixed_table(n=120)
    features = frame.drop(columns="customer")
    with pytest.warns(UserWarning, match="constant"):
        encoder = TabularEncoder(impute="knn").fit(features)
    meta, arrays = encoder._get_state()
    restored = TabularEncoder(**encoder.get_params())
    restored._set_state(json.loads(json.dumps(meta)), arrays)
    np.testing.assert_array_equal(restored.transform(features), encoder.transform(features))

    with pytest.warns(UserWarning, match="constant"):
        pipeline = Pipeline([("embed", TabularEncoder()), ("cluster", AEKMeans(3, hidden_dims=(32,), pretrain_epochs=2, random_state=0))])
        pipeline.fit(features)
    save(pipeline, tmp_path / "model")
    loaded = load_model(tmp_path / "model")
    np.testing.assert_array_equal(loaded.predict(features), pipeline.predict(features))
    np.testing.assert_array_equal(loaded[0].transform(features), pipeline[0].transform(features))


def test_read_table_rejects_bad_files_naming_file_and_line(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        read_table(tmp_path / "missing.csv")
    (tmp_path / "data.xlsx").write_bytes(b"PK")
    with pytest.raises(InputError, match=r"data\.xlsx: unknown file type '\.xlsx'"):
        read_table(tmp_path / "data.xlsx")
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(InputError, match=r"empty\.csv is empty"):
        read_table(tmp_path / "empty.csv")
    (tmp_path / "header.csv").write_text("a,b\n")
    with pytest.raises(InputError, match="no data rows"):
        read_table(tmp_path / "header.csv")
    (tmp_path / "ragged.csv").write_text("a,b,c\n1,2,3\n4,5,6\n7,8\n")
    with pytest.raises(InputError, match=r"ragged\.csv line 4 has 2 field\(s\) but the header has 3: '7,8'"):
        read_table(tmp_path / "ragged.csv")
    (tmp_path / "long.csv").write_text("a,b\n1,2,3\n")
    with pytest.raises(InputError, match="line 2 has 3 field"):
        read_table(tmp_path / "long.csv")
    (tmp_path / "ok.csv").write_text("a,b\n1,2\n")
    with pytest.raises(InputError, match="no id column 'key'; available columns: a, b"):
        read_table(tmp_path / "ok.csv", id_column="key")


def test_ids_come_back_exactly_as_written(tmp_path):
    (tmp_path / "t.csv").write_text("id,a\n007,1\n010,2\n1e3,3\n")
    frame, ids = read_table(tmp_path / "t.csv", id_column="id")
    assert ids.tolist() == ["007", "010", "1e3"] and frame["a"].tolist() == [1, 2, 3]
    (tmp_path / "gap.csv").write_text("id,a\n1000,1\n,2\n")
    with pytest.raises(InputError, match="id column 'id' is empty in row 1"):
        read_table(tmp_path / "gap.csv", id_column="id")
    (tmp_path / "twice.csv").write_text("id,a\nx,1\nx,2\n")
    with pytest.warns(UserWarning, match="repeats ids \\(e.g. 'x'\\)"):
        read_table(tmp_path / "twice.csv", id_column="id")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("id,colour\nr1,red\nr2,rouge\xe9\n".encode("latin-1"), "column\\(s\\) \\['colour'\\]: the file is not UTF-8 text \\(line 3\\)"),
        ("id,couleur\xe9\nr1,1\n".encode("latin-1"), "the file is not UTF-8 text \\(line 1\\)"),
        ("id,a\nr1,1\nr\xe92,2\n".encode("latin-1"), "the file is not UTF-8 text \\(line 3\\)"),
    ],
    ids=["value", "header", "id"],
)
def test_a_csv_that_is_not_utf8_is_refused_naming_the_line(content, message, tmp_path):
    """pyarrow would keep such a column as raw bytes, and the ids and categories would become b'...' strings."""
    (tmp_path / "latin1.csv").write_bytes(content)
    with pytest.raises(InputError, match=message):
        read_table(tmp_path / "latin1.csv", id_column="id")


def test_read_table_reads_numpy_arrays(tmp_path):
    np.save(tmp_path / "x.npy", np.arange(6.0).reshape(3, 2))
    frame, ids = read_table(tmp_path / "x.npy")
    assert frame.columns.tolist() == ["x0", "x1"] and ids.tolist() == [0, 1, 2]
    np.save(tmp_path / "cube.npy", np.zeros((2, 2, 2)))
    with pytest.raises(InputError, match="a table must be 2-D"):
        read_table(tmp_path / "cube.npy")


def _blobs_with_outliers() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    Z, labels, centers = make_blobs(n_samples=600, n_features=8, centers=3, random_state=0, return_centers=True)
    far = centers[[0, 1, 2, 0, 1]] + 12.0
    return np.vstack([Z, far]), np.concatenate([labels, [0, 1, 2, 0, 1]]), centers


def test_unseen_categories_warn_and_nested_cells_are_refused():
    frame = pd.DataFrame({"a": np.arange(10.0), "colour": ["red", "green"] * 5})
    encoder = TabularEncoder().fit(frame)
    with pytest.warns(UserWarning, match="column 'colour' holds 1 value\\(s\\) not seen when fitting \\(e.g. 'purple'\\)"):
        encoder.transform(pd.DataFrame({"a": [1.0, 2.0], "colour": ["purple", "red"]}))
    with pytest.raises(InputError, match="column\\(s\\) \\['tags'\\] hold lists or arrays"):
        TabularEncoder().fit(pd.DataFrame({"a": np.arange(3.0), "tags": [[1, 2]] * 3}))
    with pytest.raises(InputError, match="numeric column 'a' holds inf in row 0"):
        encoder.transform(pd.DataFrame({"a": [np.float32(np.inf), 2.0], "colour": ["red", "green"]}))
