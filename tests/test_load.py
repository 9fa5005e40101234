"""deepclust.load: the modality from the path, readers and front ends per modality, options, bad paths."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from deepclust import InputError, LoadedData, load
from deepclust.embed import ImageEncoder, SeriesEncoder, TabularEncoder, TextEncoder


def test_csv_is_a_table_with_its_ids(tmp_path):
    (tmp_path / "t.csv").write_text("key,height,colour\nk9,1.5,red\nk3,,blue\nk7,2.5,red\n")
    loaded = load(tmp_path / "t.csv", id_column="key", max_categories=5)
    assert isinstance(loaded, LoadedData) and loaded.modality == "tabular"
    assert loaded.ids.tolist() == ["k9", "k3", "k7"] and loaded.labels is None
    assert isinstance(loaded.front_end, TabularEncoder) and loaded.front_end.max_categories == 5
    assert loaded.method_params == {"architecture": "dense", "hidden_dims": (256, 256)}  # as cluster_table uses
    X = loaded.front_end.fit_transform(loaded.data)
    assert X.shape == (3, 4) and X.dtype == np.float32  # height, its missing indicator, blue, red


def test_numpy_arrays_by_dimension(tmp_path):
    np.save(tmp_path / "table.npy", np.random.default_rng(0).normal(size=(10, 4)))
    np.save(tmp_path / "series.npy", np.random.default_rng(0).normal(size=(10, 50, 2)))
    np.save(tmp_path / "images.npy", np.zeros((4, 8, 8, 1), dtype=np.uint8))
    assert load(tmp_path / "table.npy").modality == "tabular"
    series = load(tmp_path / "series.npy")
    assert series.modality == "series" and isinstance(series.front_end, SeriesEncoder)
    assert series.method_params == {"architecture": "temporal", "input_shape": (2, 50)}
    assert series.ids.tolist() == list(range(10))
    images = load(tmp_path / "images.npy")
    assert images.modality == "images" and images.method_params["input_shape"] == (1, 8, 8)
    np.save(tmp_path / "flat.npy", np.zeros(5))
    with pytest.raises(InputError, match="1-D array"):
        load(tmp_path / "flat.npy")


def test_modality_overrides_detection_and_options_reach_the_front_end(tmp_path):
    (tmp_path / "waves.csv").write_text("1,2,3,4,5\n5,4,3\n")
    loaded = load(tmp_path / "waves.csv", modality="series", length=16)
    assert loaded.modality == "series" and isinstance(loaded.data, list)
    assert loaded.front_end.length == 16 and loaded.method_params["input_shape"] == (1, 16)
    assert loaded.front_end.fit_transform(loaded.data).shape == (2, 16)


def test_text_file_and_image_folder(tmp_path):
    (tmp_path / "docs.txt").write_text("the cat sat\n\nthe dog ran\n")
    with pytest.warns(UserWarning, match="blank line"):
        text = load(tmp_path / "docs.txt")
    assert text.modality == "text" and text.data == ["the cat sat", "the dog ran"] and text.ids.tolist() == [0, 2]
    assert isinstance(text.front_end, TextEncoder)

    for label, value in (("cats", 0), ("dogs", 255)):
        (tmp_path / "pics" / label).mkdir(parents=True)
        for i in range(2):
            Image.fromarray(np.full((6, 5), value, dtype=np.uint8)).save(tmp_path / "pics" / label / f"{i}.png")
    images = load(tmp_path / "pics")
    assert images.modality == "images" and isinstance(images.front_end, ImageEncoder)
    assert images.ids.tolist() == ["cats/0.png", "cats/1.png", "dogs/0.png", "dogs/1.png"]
    assert images.labels.tolist() == ["cats", "cats", "dogs", "dogs"]  # the sub-folder names
    assert images.method_params == {"architecture": "conv", "input_shape": (1, 6, 5)}


def test_bad_paths_and_options_are_input_errors(tmp_path):
    with pytest.raises(InputError, match="nowhere.csv does not exist"):
        load(tmp_path / "nowhere.csv")
    (tmp_path / "data.xlsx").write_bytes(b"PK")
    with pytest.raises(InputError, match=r"data\.xlsx: unknown file type '\.xlsx'"):
        load(tmp_path / "data.xlsx")
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(InputError, match=r"empty\.csv is empty"):
        load(tmp_path / "empty.csv")
    (tmp_path / "ragged.csv").write_text("a,b\n1,2\n3\n")
    with pytest.raises(InputError, match=r"ragged\.csv line 3 has 1 field"):
        load(tmp_path / "ragged.csv")
    (tmp_path / "bad.csv").write_text("1,2,3\n4,x,6\n")
    with pytest.raises(InputError, match=r"bad\.csv line 2, field 2: 'x' is not a finite number"):
        load(tmp_path / "bad.csv", modality="series")
    (tmp_path / "ok.csv").write_text("a,b\n1,2\n")
    with pytest.raises(InputError, match=r"unknown option\(s\) \['colour'\] for tabular data"):
        load(tmp_path / "ok.csv", colour="red")
    with pytest.raises(InputError, match="modality must be one of"):
        load(tmp_path / "ok.csv", modality="audio")
