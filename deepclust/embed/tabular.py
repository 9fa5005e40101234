"""Tables as rows a clustering method can use: scikit-learn preprocessing of mixed columns.

:class:`TabularEncoder` is a ``ColumnTransformer``: numeric columns are standardised, then
missing values are filled with the column's median and a 0/1 indicator column is added for
every column that had missing values (scaling first keeps the indicators 0/1: scikit-learn's
scalers ignore NaN when fitting and pass it through). Categorical columns are one-hot
encoded, a missing value being a category of its own; a column with more than
``max_categories`` values keeps its most frequent ones and groups the rest into one
"infrequent" column — a compact, label-free encoding of high-cardinality columns such as
city or product codes. Constant columns are dropped with a warning.

:func:`flag_outliers` marks rows far from their cluster's centre, so they can be reported
rather than silently counted as members.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from numbers import Integral
from typing import Any

import numpy as np
import pandas as pd
import skops.io as skops_io
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.impute import KNNImputer, SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.utils.validation import check_is_fitted

from deepclust.errors import InputError
from deepclust.io.tables import read_table, split_ids
from deepclust.registry import get_method

#: A text column this much of whose values read as numbers is taken for a numeric column with typos.
NUMERIC_SHARE = 0.9
#: What a deep method gets for this output: tables have tens of columns, so a smaller encoder than
#: DEC's 500-500-2000 (sized for 784 pixels) clusters as well and trains about ten times faster.
METHOD_PARAMS = {"architecture": "dense", "hidden_dims": (256, 256)}
#: How missing numbers are filled (see ``impute``).
IMPUTERS = {
    "median": lambda: SimpleImputer(strategy="median", add_indicator=True),
    "knn": lambda: KNNImputer(n_neighbors=5, add_indicator=True),
}
#: The only type a saved transformer may hold beyond scikit-learn's own (checked when loading).
_TRUSTED_TYPES = ["numpy.dtype"]


class TabularEncoder(TransformerMixin, BaseEstimator):
    """Scale, impute and one-hot encode a table's columns (scikit-learn's ``ColumnTransformer``).

    Parameters
    ----------
    categorical_columns : list of str, optional
        Columns to treat as categories, whatever their type: list numeric codes (zip codes,
        product ids) here. The other columns are categories when they hold text (unless every
        value is a number stored as text) or have pandas' ``category`` type; booleans count as
        numbers (0/1).
    max_categories : int
        Most one-hot columns one categorical column may give: above it, the
        ``max_categories - 1`` most frequent values keep their own column and the rest share one.
    impute : {"median", "knn"}
        How missing numbers are filled (after scaling), each with a 0/1 indicator column per
        column that had gaps. ``"median"``: the column's median — compact and fast at any size.
        ``"knn"``: the mean of the 5 nearest rows (``KNNImputer``), which keeps a row inside its
        cluster and so clusters better when many cells are missing, but costs time quadratic in
        the rows and keeps the training rows in the fitted (and saved) encoder.

    Input
    -----
    A pandas DataFrame (see :func:`deepclust.io.tables.read_table`) or a 2-D array (columns
    named ``x0, x1, ...``). Take id columns out first (``split_ids``, or ``id_column=`` of the
    readers and :func:`cluster_table`).

    Attributes
    ----------
    numeric_columns_, categorical_columns_ : list of str
        The columns used, by kind.
    dropped_columns_ : dict of str to str
        Columns left out, with the reason (constant, empty, a distinct value in every row).
    transformer_ : sklearn.compose.ColumnTransformer
    n_features_in_ : int
    feature_names_in_ : ndarray of str
    method_params_ : dict
        Parameters a deep method gets for this output (:data:`METHOD_PARAMS`).

    Example
    -------
    >>> frame, ids = deepclust.io.tables.read_table("customers.csv", id_column="id")  # doctest: +SKIP
    >>> X = TabularEncoder().fit_transform(frame)                                     # doctest: +SKIP
    """

    def __init__(self, categorical_columns: Sequence[str] | None = None, *, max_categories: int = 20, impute: str = "median") -> None:
        self.categorical_columns = categorical_columns
        self.max_categories = max_categories
        self.impute = impute

    def fit(self, X: Any, y: Any = None) -> TabularEncoder:
        """Decide each column's kind, drop the unusable ones, fit the column transformer."""
        if isinstance(self.max_categories, bool) or not isinstance(self.max_categories, Integral) or self.max_categories < 2:
            raise InputError(f"TabularEncoder: max_categories must be an integer >= 2, got {self.max_categories!r}")
        if self.impute not in IMPUTERS:
            raise InputError(f"TabularEncoder: impute must be one of {list(IMPUTERS)}, got {self.impute!r}")
        frame = _as_frame(X)
        numeric, categorical = self._column_kinds(frame)
        self.dropped_columns_ = _unusable_columns(frame, categorical)
        if self.dropped_columns_:
            reasons = "; ".join(f"{name!r} ({why})" for name, why in self.dropped_columns_.items())
            warnings.warn(f"TabularEncoder: dropped {len(self.dropped_columns_)} column(s): {reasons}", UserWarning, stacklevel=2)
        self.numeric_columns_ = [c for c in numeric if c not in self.dropped_columns_]
        self.categorical_columns_ = [c for c in categorical if c not in self.dropped_columns_]
        if not self.numeric_columns_ and not self.categorical_columns_:
            raise InputError(f"TabularEncoder: no usable column is left; dropped {self.dropped_columns_}")
        self.transformer_ = self._column_transformer().fit(self._prepare(frame))
        self.n_features_in_ = frame.shape[1]
        self.feature_names_in_ = np.array(frame.columns, dtype=object)
        self.method_params_ = dict(METHOD_PARAMS)
        return self

    def _column_kinds(self, frame: pd.DataFrame) -> tuple[list[str], list[str]]:
        """(numeric, categorical) column names; text columns that are numbers stored as text count as numeric."""
        listed = [str(c) for c in self.categorical_columns or ()]
        unknown = [c for c in listed if c not in frame.columns]
        if unknown:
            raise InputError(f"TabularEncoder: categorical_columns {unknown} are not in the table; its columns: {list(frame.columns)}")
        numeric, categorical = [], []
        for name in frame.columns:
            column = frame[name]
            if name in listed or isinstance(column.dtype, pd.CategoricalDtype):
                categorical.append(name)
                continue
            if pd.api.types.is_numeric_dtype(column):  # booleans too: 0/1
                numeric.append(name)
                continue
            present = column.notna().to_numpy()
            number = pd.to_numeric(column, errors="coerce").notna().to_numpy()
            if present.any() and number[present].all():
                numeric.append(name)
            elif present.any() and number[present].mean() >= NUMERIC_SHARE:
                bad = np.flatnonzero(present & ~number)
                raise InputError(
                    f"TabularEncoder: column {name!r} holds numbers except {len(bad)} cell(s), the first {_cell(column.iloc[bad[0]])!r} "
                    f"in row {bad[0]} (rows counted from 0); fix them, or list the column "
                    "in categorical_columns= to treat its values as categories"
                )
            else:
                categorical.append(name)
        return numeric, categorical

    def _column_transformer(self) -> ColumnTransformer:
        numeric = Pipeline([("scale", StandardScaler()), ("impute", IMPUTERS[self.impute]())])
        categorical = OneHotEncoder(
            handle_unknown="infrequent_if_exist", max_categories=self.max_categories, sparse_output=False, dtype=np.float32
        )
        return ColumnTransformer(
            [("numeric", numeric, self.numeric_columns_), ("categorical", categorical, self.categorical_columns_)],
            sparse_threshold=0.0,
        )

    def _prepare(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The used columns: numeric ones as float64 (NaN where missing), categorical ones as str (NaN where missing)."""
        missing = [c for c in (*self.numeric_columns_, *self.categorical_columns_) if c not in frame.columns]
        if missing:
            raise InputError(f"TabularEncoder: the table lacks column(s) {missing} it was fitted with")
        columns = {}
        for name in self.numeric_columns_:
            values = pd.to_numeric(frame[name], errors="coerce").astype(np.float64)
            bad = np.flatnonzero((values.isna() & frame[name].notna()).to_numpy() | np.isinf(values.to_numpy()))
            if len(bad):
                raise InputError(
                    f"TabularEncoder: numeric column {name!r} holds {_cell(frame[name].iloc[bad[0]])!r} in row {bad[0]} "
                    "(rows counted from 0); expected a finite number or an empty cell"
                )
            columns[name] = values
        for name in self.categorical_columns_:
            text = frame[name].astype(object).map(str, na_action="ignore")
            columns[name] = text.where(text.notna(), np.nan)
        return pd.DataFrame(columns, index=frame.index)

    def transform(self, X: Any) -> np.ndarray:
        """Float32 array ``(n_rows, n_features_out)``: scaled numbers, missing indicators, one-hot categories.

        A category that ``fit`` did not see is encoded as the column's rare values (or as none
        of its categories when it had none), with a warning that names it.
        """
        check_is_fitted(self)
        frame = self._prepare(_as_frame(X))
        self._warn_unseen_categories(frame)
        return self.transformer_.transform(frame).astype(np.float32)

    def _warn_unseen_categories(self, frame: pd.DataFrame) -> None:
        if not self.categorical_columns_:
            return
        seen = self.transformer_.named_transformers_["categorical"].categories_
        for name, categories in zip(self.categorical_columns_, seen):
            column = frame[name]
            unseen = column.notna() & ~column.isin(categories)
            if unseen.any():
                warnings.warn(
                    f"TabularEncoder: column {name!r} holds {int(unseen.sum())} value(s) not seen when fitting "
                    f"(e.g. {column[unseen].iloc[0]!r}); they are encoded as its rare values, or as none of its categories",
                    UserWarning,
                    stacklevel=4,  # past transform and scikit-learn's output wrapper, to the caller
                )

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        check_is_fitted(self)
        return self.transformer_.get_feature_names_out()

    # ------------------------------------------------------------ saved models
    def _get_state(self) -> tuple[dict, dict[str, np.ndarray]]:
        """Column lists as metadata; the fitted ColumnTransformer in skops' format (no pickle) as bytes."""
        check_is_fitted(self)
        meta = {
            "numeric_columns": self.numeric_columns_,
            "categorical_columns": self.categorical_columns_,
            "dropped_columns": self.dropped_columns_,
            "feature_names_in": self.feature_names_in_.tolist(),
        }
        return meta, {"transformer": np.frombuffer(skops_io.dumps(self.transformer_), dtype=np.uint8)}

    def _set_state(self, meta: dict, arrays: dict[str, np.ndarray]) -> None:
        try:
            blob = np.asarray(arrays["transformer"], dtype=np.uint8).tobytes()
            self.numeric_columns_ = [str(c) for c in meta["numeric_columns"]]
            self.categorical_columns_ = [str(c) for c in meta["categorical_columns"]]
            self.dropped_columns_ = {str(k): str(v) for k, v in meta["dropped_columns"].items()}
            self.feature_names_in_ = np.array([str(c) for c in meta["feature_names_in"]], dtype=object)
            untrusted = [t for t in skops_io.get_untrusted_types(data=blob) if t not in _TRUSTED_TYPES]
        except (KeyError, TypeError, AttributeError, ValueError) as err:
            raise InputError(f"saved TabularEncoder state is incomplete or malformed: {err!r}") from err
        if untrusted:
            raise InputError(f"saved TabularEncoder state holds types that are not trusted: {untrusted}")
        self.transformer_ = skops_io.loads(blob, trusted=_TRUSTED_TYPES)
        if not isinstance(self.transformer_, ColumnTransformer):
            raise InputError(f"saved TabularEncoder state holds a {type(self.transformer_).__name__}, not a ColumnTransformer")
        self.n_features_in_ = len(self.feature_names_in_)
        self.method_params_ = dict(METHOD_PARAMS)


def _as_frame(X: Any) -> pd.DataFrame:
    """A DataFrame with string column names; a 2-D array's columns are named ``x0, x1, ...``."""
    if isinstance(X, (str, os.PathLike)):
        raise InputError(f"TabularEncoder takes a DataFrame or a 2-D array, got the path {str(X)!r}; read it with deepclust.load or deepclust.io.tables.read_table")
    if isinstance(X, pd.DataFrame):
        frame = X.copy(deep=False)
        frame.columns = [str(c) for c in frame.columns]
    else:
        array = np.asarray(X)
        if array.ndim != 2:
            raise InputError(f"TabularEncoder: expected a DataFrame or a 2-D array (rows, columns), got shape {array.shape}")
        frame = pd.DataFrame(array, columns=[f"x{j}" for j in range(array.shape[1])])
    if frame.shape[0] == 0 or frame.shape[1] == 0:
        raise InputError(f"TabularEncoder: the table is empty ({frame.shape[0]} rows, {frame.shape[1]} columns)")
    duplicated = sorted(set(frame.columns[frame.columns.duplicated()]))
    if duplicated:
        raise InputError(f"TabularEncoder: column name(s) {duplicated} appear more than once")
    return frame


def _cell(value: Any) -> Any:
    """A table cell as a plain Python value, so that messages show ``inf``, not ``np.float32(inf)``."""
    return value.item() if isinstance(value, np.generic) else value


def _unusable_columns(frame: pd.DataFrame, categorical: list[str]) -> dict[str, str]:
    """Columns that cannot separate clusters: empty, constant, or categorical with a new value in every row."""
    dropped = {}
    for name in frame.columns:
        try:
            distinct = frame[name].nunique(dropna=True)
        except TypeError as err:  # unhashable cells: lists or arrays, e.g. a Parquet list column
            raise InputError(
                f"TabularEncoder: column(s) {[name]} hold lists or arrays in their cells; a table needs one number or category per cell"
            ) from err
        if distinct == 0:
            dropped[name] = "empty"
        elif distinct == 1:
            dropped[name] = "constant"
        elif name in categorical and distinct == len(frame) > 2:
            dropped[name] = "a different value in every row: an identifier? pass it as id_column="
    return dropped


def outlier_fences(distance: Any, labels: Any, *, threshold: float = 3.5) -> np.ndarray:
    """Per cluster (indexed by label), the distance to the centre beyond which a row is an outlier.

    The fence is ``exp(median + threshold * 1.4826 * MAD)`` of the cluster's log distances: a
    robust z-score (the median absolute deviation scaled to match a standard deviation), so it
    adapts to each cluster's spread and is not itself pulled by the outliers; the log makes the
    skewed distances near-symmetric, so compact clusters do not lose their outer rows. 3.5 is
    the usual cut for this score (Iglewicz and Hoaglin). A cluster without spread takes the
    typical spread of the others; labels with no rows get NaN. Keep the fences to judge new rows
    by the training clusters.
    """
    distance, labels = np.asarray(distance, dtype=np.float64), np.asarray(labels)
    log_distance = np.log(np.maximum(distance, 1e-12 * max(distance.max(initial=0.0), 1e-300)))
    n_clusters = int(labels.max(initial=-1)) + 1
    median, spread = np.full(n_clusters, np.nan), np.full(n_clusters, np.nan)
    for k in np.unique(labels):
        members = log_distance[labels == k]
        median[k] = np.median(members)
        spread[k] = 1.4826 * np.median(np.abs(members - median[k]))
    positive = spread[spread > 0]
    typical = np.median(positive) if len(positive) else 0.0
    return np.exp(median + threshold * np.where(spread > 0, spread, typical))


def flag_outliers(Z: Any, labels: Any, centers: Any = None, *, threshold: float = 3.5) -> np.ndarray:
    """True for rows unusually far from their cluster's centre (beyond :func:`outlier_fences`).

    ``centers`` (one row per label, e.g. a method's ``cluster_centers_`` with
    ``Z = model.transform(X)``) defaults to the cluster means of ``Z``. Rows labelled below 0
    are never flagged.
    """
    Z = np.asarray(Z, dtype=np.float64)
    labels = np.asarray(labels)
    if Z.ndim != 2 or labels.shape != (len(Z),):
        raise InputError(f"flag_outliers: need Z of shape (n, d) and one label per row, got {Z.shape} and {labels.shape}")
    assigned = labels >= 0
    clusters = np.unique(labels[assigned])
    if centers is None:
        centers = np.zeros((int(clusters.max(initial=-1)) + 1, Z.shape[1]))
        for k in clusters:
            centers[k] = Z[labels == k].mean(axis=0)
    centers = np.asarray(centers, dtype=np.float64)
    if centers.ndim != 2 or centers.shape[1] != Z.shape[1] or (len(clusters) and clusters.max() >= len(centers)):
        raise InputError(f"flag_outliers: centers must have one row per label and {Z.shape[1]} columns, got shape {centers.shape}")
    distance = np.linalg.norm(Z[assigned] - centers[labels[assigned]], axis=1)
    flagged = np.zeros(len(Z), dtype=bool)
    flagged[assigned] = distance > outlier_fences(distance, labels[assigned], threshold=threshold)[labels[assigned]]
    return flagged


def cluster_table(
    table: Any,
    n_clusters: int | str = "auto",
    *,
    method: str = "idec",
    random_state: int | None = 0,
    id_column: str | None = None,
    categorical_columns: Sequence[str] | None = None,
    max_categories: int = 20,
    impute: str = "median",
    outliers: bool = False,
    **method_params: Any,
) -> np.ndarray:
    """Cluster the rows of a table in one call; returns one label per row, in the table's row order.

    ``table`` is a DataFrame, a 2-D array or a file path (:func:`deepclust.io.tables.read_table`:
    CSV, TSV, Parquet, NumPy). ``id_column`` is left out of the features. :class:`TabularEncoder`
    (``categorical_columns``, ``max_categories``, ``impute``) prepares the columns and the registered deep
    ``method`` clusters them; ``method_params`` are passed on (e.g. ``pretrain_epochs=30``).
    With ``outliers=True``, rows :func:`flag_outliers` marks in the method's embedding get the
    label -1 (scikit-learn's convention for noise) instead of their cluster.
    """
    if isinstance(table, (str, os.PathLike)):
        table, _ = read_table(table, id_column)
    elif id_column is not None:
        table, _ = split_ids(_as_frame(table), id_column)
    encoder = TabularEncoder(categorical_columns, max_categories=max_categories, impute=impute)
    X = encoder.fit_transform(table)
    model = get_method(method)(n_clusters=n_clusters, random_state=random_state, **{**encoder.method_params_, **method_params})
    labels = model.fit(X).labels_.copy()
    if outliers:
        labels[flag_outliers(model.transform(X), labels, model.cluster_centers_)] = -1
    return labels
