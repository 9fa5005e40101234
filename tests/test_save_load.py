"""Saved models: every estimator round-trips exactly, and a bad or tampered folder is refused."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.pipeline import Pipeline

import deepclust
from deepclust import Hierarchical, InputError, Student, load_model, save
from deepclust.embed import TabularEncoder
from deepclust.metrics import adjusted_rand
from deepclust.registry import METHODS

TINY = dict(hidden_dims=(32,), embedding_dim=4, pretrain_epochs=3, random_state=0, device="cpu")


def tiny(cls: type, **extra) -> object:
    """A method with a tiny network and few epochs: saving does not depend on how well it trained."""
    params = {**TINY, **extra}
    params.update({k: 2 for k in cls().get_params() if k.endswith("epochs") and k != "pretrain_epochs"})
    return cls(**params)


def assert_same_model(original, loaded, X) -> None:
    assert type(loaded) is type(original)
    assert loaded.get_params() == original.get_params()
    np.testing.assert_array_equal(loaded.predict(X), original.predict(X))
    if hasattr(original, "transform"):
        np.testing.assert_array_equal(loaded.transform(X), original.transform(X))
    if hasattr(original, "labels_"):
        np.testing.assert_array_equal(loaded.labels_, original.labels_)


@pytest.fixture(scope="module")
def fitted_idec(blobs):
    X, _ = blobs
    return tiny(deepclust.IDEC, n_clusters=4).fit(X)


@pytest.mark.parametrize("name", sorted(METHODS))
def test_every_registered_method_round_trips_exactly(name, blobs, tmp_path):
    X, y = blobs
    model = tiny(METHODS[name].cls, n_clusters=4).fit(X)
    save(model, tmp_path)
    loaded = load_model(tmp_path)
    assert_same_model(model, loaded, X)
    assert loaded.n_clusters_ == model.n_clusters_
    assert [log.losses for log in loaded.history_.values()] == [log.losses for log in model.history_.values()]
    # the blobs are far apart: the reloaded model still finds them
    assert adjusted_rand(y, loaded.predict(X)) > 0.5


def test_auto_k_scores_and_hierarchical_tree_round_trip(blobs, tmp_path):
    X, _ = blobs
    model = tiny(deepclust.DeepHierarchical, n_clusters="auto", k_range=(2, 6), linkage="average", metric="cosine", max_points=60).fit(X)
    save(model, tmp_path)
    loaded = load_model(tmp_path)
    assert_same_model(model, loaded, X)
    assert loaded.k_scores_ == model.k_scores_ and all(isinstance(k, int) for k in loaded.k_scores_)
    np.testing.assert_array_equal(loaded.hierarchical_.linkage_matrix_, model.hierarchical_.linkage_matrix_)


@pytest.mark.parametrize(
    "params",
    [dict(linkage="ward"), dict(linkage="complete", metric="mahalanobis"), dict(linkage="ward", max_points=50)],
    ids=["leaves", "mahalanobis", "micro-clusters"],
)
def test_hierarchical_head_round_trips(params, blobs, tmp_path):
    X, _ = blobs
    model = Hierarchical(4, random_state=0, **params).fit(X)
    save(model, tmp_path)
    assert_same_model(model, load_model(tmp_path), X + 0.5)  # new rows, not only the training ones


def test_student_round_trips_with_text_classes(blobs, tmp_path):
    X, y = blobs
    student = Student(hidden_dims=(16,), epochs=3, random_state=0).fit(X, np.array(["north", "east", "south", "west"])[y])
    save(student, tmp_path)
    loaded = load_model(tmp_path)
    assert_same_model(student, loaded, X)
    np.testing.assert_array_equal(loaded.predict_proba(X), student.predict_proba(X))
    assert loaded.classes_.tolist() == ["east", "north", "south", "west"]


def test_pipeline_of_front_end_and_method_round_trips(blobs, tmp_path):
    X, _ = blobs
    frame = pd.DataFrame(X[:, :6], columns=[f"f{i}" for i in range(6)]).assign(colour=np.where(X[:, 0] > 0, "red", "blue"))
    pipeline = Pipeline([("embed", TabularEncoder()), ("cluster", tiny(deepclust.DCN, n_clusters=4))]).fit(frame)
    save(pipeline, tmp_path)
    loaded = load_model(tmp_path)
    assert isinstance(loaded, Pipeline) and [name for name, _ in loaded.steps] == ["embed", "cluster"]
    np.testing.assert_array_equal(loaded.predict(frame), pipeline.predict(frame))
    np.testing.assert_array_equal(loaded.transform(frame), pipeline.transform(frame))


def test_folder_holds_json_and_safetensors_only_and_loads_without_pickle(fitted_idec, blobs, tmp_path, monkeypatch):
    save(fitted_idec, tmp_path, metadata={"modality": "tabular"})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json", "state.json", "weights.safetensors"]
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["deepclust_version"] == deepclust.__version__ and config["metadata"] == {"modality": "tabular"}
    assert set(config["steps"][0]["params"]) == set(fitted_idec.get_params(deep=False))

    def forbidden(*args, **kwargs):
        raise AssertionError("loading a model must not unpickle anything")

    for module, name in ((pickle, "load"), (pickle, "loads"), (torch, "load"), (np, "load")):
        monkeypatch.setattr(module, name, forbidden)
    np.testing.assert_array_equal(load_model(tmp_path).predict(blobs[0]), fitted_idec.predict(blobs[0]))


def rewrite_config(folder, change) -> None:
    config = json.loads((folder / "config.json").read_text())
    change(config)
    (folder / "config.json").write_text(json.dumps(config))


def rewrite_state(folder, change) -> None:
    """Change state.json and update its checksum, as a deliberate tamperer would."""
    import hashlib

    state = json.loads((folder / "state.json").read_text())
    change(state)
    content = json.dumps(state).encode()
    (folder / "state.json").write_bytes(content)
    rewrite_config(folder, lambda c: c["sha256"].update({"state.json": hashlib.sha256(content).hexdigest()}))


def set_class(name):
    return lambda config: config["steps"][0].update({"class": name})


@pytest.mark.parametrize(
    ("tamper", "message"),
    [
        (lambda f: rewrite_config(f, lambda c: c.update(format_version=99)), r"format 99.*reads format 1 only"),
        (lambda f: rewrite_config(f, set_class("subprocess.Popen")), r"names class 'subprocess.Popen', which is not one deepclust saves"),
        (lambda f: rewrite_config(f, lambda c: c["steps"][0]["params"].update(evil=1)), r"cannot restore IDEC"),
        (lambda f: (f / "config.json").write_text("{not json"), r"config.json is not valid JSON"),
        (lambda f: (f / "weights.safetensors").write_bytes(b"\0" * 64), r"weights.safetensors was changed after the model was saved"),
        (lambda f: (f / "state.json").unlink(), r"cannot read .*state.json"),
        (lambda f: rewrite_state(f, lambda s: s["states"][0].update(__class__="x")), r"names '__class__', which is not a learned attribute"),
        (lambda f: rewrite_state(f, lambda s: s["states"][0].update(n_features_in_=3)), r"weights of IDEC.autoencoder_ do not fit"),
        (lambda f: rewrite_state(f, lambda s: s.update(states="x")), r"config.json and state.json do not describe the same estimators"),
        (lambda f: rewrite_config(f, lambda c: c.update(steps=["x"])), r"config.json and state.json do not describe the same estimators"),
        (lambda f: rewrite_config(f, lambda c: c.update(sha256="abc")), r"state.json was changed after the model was saved"),
    ],
    ids=["version", "class", "param", "json", "weights", "missing", "attribute", "shape", "states-text", "steps-text", "checksums-text"],
)
def test_bad_or_tampered_folder_is_refused_with_a_clear_message(tamper, message, fitted_idec, tmp_path):
    save(fitted_idec, tmp_path)
    tamper(tmp_path)
    with pytest.raises(InputError, match=message):
        load_model(tmp_path)


def test_save_refuses_unfitted_and_unknown_estimators(tmp_path):
    from sklearn.cluster import KMeans

    with pytest.raises(InputError, match="not fitted"):
        save(deepclust.IDEC(), tmp_path)
    with pytest.raises(TypeError, match="cannot save KMeans"):
        save(KMeans(2).fit(np.random.default_rng(0).normal(size=(20, 2))), tmp_path)
    with pytest.raises(InputError, match="not found"):
        load_model(tmp_path / "nothing-here")


def test_a_failed_save_leaves_the_model_saved_before_it_whole(fitted_idec, blobs, tmp_path):
    X, _ = blobs
    save(fitted_idec, tmp_path)
    other = tiny(deepclust.IDEC, n_clusters=3).fit(X)
    with pytest.raises(InputError, match="metadata must hold JSON values"):
        save(other, tmp_path, metadata={"when": object()})
    assert_same_model(fitted_idec, load_model(tmp_path), X)


def test_numpy_values_in_metadata_are_saved_as_plain_json(fitted_idec, tmp_path):
    save(fitted_idec, tmp_path, metadata={"rows": np.int64(3), "scale": np.float32(0.5), "ids": np.arange(2)})
    assert deepclust.io.models.read_config(tmp_path)["metadata"] == {"rows": 3, "scale": 0.5, "ids": [0, 1]}


@pytest.mark.parametrize("backend", ["faiss", "sklearn"])
def test_kmeans_round_trips(backend, blobs, tmp_path):
    if backend == "faiss":
        pytest.importorskip("faiss")
    X, _ = blobs
    model = deepclust.KMeans(4, backend=backend, random_state=0).fit(X)
    save(model, tmp_path)
    assert_same_model(model, load_model(tmp_path), X + 0.5)
