"""What every deep clustering method shares: autoencoder, pretraining, embedding, assignment.

A method subclasses :class:`DeepClusterer` and supplies ``_cluster(data, generator)``,
which starts from the pretrained autoencoder and sets ``cluster_centers_`` (in embedding
space). ``labels_`` and ``predict`` both come from ``_assign(z, data)`` on the embedding (and
the rows, for N2D's manifold of the input) — the nearest centre unless a method overrides it —
so ``predict(X_train) == labels_`` holds by construction.
"""

from __future__ import annotations

import inspect
import math
import os
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.base import BaseEstimator, ClusterMixin, TransformerMixin
from sklearn.cluster import KMeans
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.validation import check_is_fitted

from deepclust._state import get_state, set_state
from deepclust._validation import check_features, check_int_tuple, check_n_clusters, check_params
from deepclust.checkpoint import Checkpoint, PhaseCheckpoint, check_checkpoint_path, fingerprint, phase_of
from deepclust.cluster.choose_k import CRITERIA, select_n_clusters
from deepclust.cluster.manifold import MIN_MANIFOLD_ROWS, cluster_on_chosen_manifold
from deepclust.errors import InputError
from deepclust.nn import Autoencoder, build_autoencoder
from deepclust.nn.augment import image_shape, training_rows
from deepclust.train import TrainingLog, map_batches, native_bfloat16, resolve_device, rows_tensor, seed_from, seeded, train

COMMON_CONSTRAINTS: dict[str, tuple] = {
    "embedding_dim": (int, 1, None),
    "architecture": ("choice", ("dense", "conv", "temporal")),
    "noise": (float, 0.0, 0.99),
    "augment": ("choice", ("auto", True, False)),
    "pretrain_epochs": ("auto", (int, 0, None)),
    "batch_size": (int, 1, None),
    "lr": (float, 1e-12, None),
    "k_criterion": ("choice", tuple(CRITERIA)),
    "precision": ("choice", ("auto", "float32", "bfloat16")),
}


#: Where DEC, IDEC and DCN start their clustering phase (their ``init``), the default first.
CLUSTER_INITS = ("manifold", "kmeans")

#: Rules for the parameters every trained clustering phase has (DEC, IDEC, DCN, VaDE).
CLUSTER_PHASE_CONSTRAINTS: dict[str, tuple] = {"cluster_epochs": (int, 0, None), "cluster_lr": (float, 1e-12, None)}

#: ``augment="auto"`` leaves smaller images alone: on 8x8 digits a 10% shift is under a pixel and
#: the resampling mostly blurs; there it lowered DCN's ACC from 0.795 to 0.710 and VaDE's from 0.797
#: to 0.768 (3 seeds), while USPS (16x16) and MNIST (28x28) gained (IDEC seed 0: 0.75 -> 0.80, 0.72 -> 0.89).
MIN_AUTO_AUGMENTED_SIDE = 16

#: ``precision="auto"`` trains convolutional and temporal autoencoders on shorter sides in float32
#: (see ``DeepClusterer._tiny_convolution``): 8, above the largest side that failed (4).
MIN_BFLOAT16_CONV_SIDE = 8

#: ``pretrain_epochs="auto"``: 50 epochs, more on small data so that pretraining takes at least
#: 800 batch steps, but at most 200 epochs (a tiny table stays quick). 50 epochs of the 1,797 digits
#: are only 400 steps: with 1,000 N2D's ACC there rose from 0.813 to 0.912 and VaDE's from 0.763 to
#: 0.868 (seeds 0-2), and with t-SNE's map N2D scores 0.875 / 0.884 / 0.895 after 50 / 75 / 100 epochs
#: (seeds 0-9). 800 (100 epochs) kept DCN on digits at 14 s, but took 30 s on a host with half the
#: bfloat16 rate (docs/benchmarks.md). USPS and MNIST-test take 1,850 and 2,000 steps in 50 epochs.
AUTO_PRETRAIN_EPOCHS = (50, 200)
MIN_AUTO_PRETRAIN_STEPS = 800

#: Parameters of ``DeepClusterer`` that pretraining does not depend on: a checkpoint of a fit that
#: differs only in these resumes (see ``DeepClusterer._checkpoint``).
NOT_PRETRAINING = ("n_clusters", "k_range", "k_criterion", "verbose", "checkpoint")


class DeepClusterer(ClusterMixin, TransformerMixin, BaseEstimator):
    """Base of the deep clustering estimators (scikit-learn API).

    Parameters shared by all methods
    --------------------------------
    n_clusters : int or "auto"
        Number of clusters; ``"auto"`` chooses it on the pretrained embedding (see ``k_range``
        and ``k_criterion``) and keeps every score in ``k_scores_``.
    k_range : tuple of int
        ``(low, high)``: the cluster counts ``n_clusters="auto"`` tries, both included.
    k_criterion : str
        How ``n_clusters="auto"`` chooses: "auto" (the default: silhouette where it finds clear
        structure, else "density", the dense groups of a UMAP layout of the embedding),
        "density", "silhouette", "calinski_harabasz", "davies_bouldin", "bic" or "stability"
        (see :func:`deepclust.cluster.select_n_clusters`).
    hidden_dims : tuple of int
        Hidden layer sizes of the dense encoder (the decoder mirrors them).
    embedding_dim : int
        Size of the learned representation ``z``.
    architecture : {"dense", "conv", "temporal"}
        Dense autoencoder, convolutional one for images, or 1-D convolutional one for time
        series (the last two need ``input_shape``).
    input_shape : tuple of int or None
        ``(height, width)`` or ``(channels, height, width)`` of each flattened image row;
        ``(channels, length)`` of each flattened series for ``"temporal"``.
    noise : float
        Input dropout rate while training (denoising); 0 turns it off.
    augment : bool or "auto"
        Train on randomly rotated (±10°) and shifted (±10%) copies of image rows, as DEC-DA
        does: the embedding learns that a shifted digit is the same digit (MNIST-test, IDEC seed
        0: ACC 0.72 -> 0.89). Needs ``input_shape`` of an image; ``"auto"`` augments when
        ``input_shape`` describes one at least 16 pixels high and wide (not with
        ``architecture="temporal"``).
    pretrain_epochs : int or "auto"
        Epochs of reconstruction-only pretraining. ``"auto"``: 50, or more on small data so
        that pretraining takes at least 800 batches (at most 200 epochs; 100 on digits).
    batch_size, lr : int, float
        Mini-batch size of every phase and Adam learning rate of pretraining; the clustering
        phase of DEC, IDEC, DCN and VaDE takes its learning rate from their ``cluster_lr``.
    precision : {"auto", "float32", "bfloat16"}
        Arithmetic of training: "bfloat16" runs the matrix products of pretraining and of the
        clustering phase of DEC, IDEC and DCN in bfloat16 (autocast; weights, optimiser, loss and
        the full-data passes stay float32); "auto" does so where the hardware computes bfloat16
        natively (a CPU with AVX512-BF16 or AMX, a CUDA device with bf16). On 2 such cores it made
        MNIST-test pretraining 1.5x faster, N2D ACC 0.943 against 0.949 (seed 0), and IDEC's
        clustering phase 2.4x faster at the same ACC (0.960 against 0.961, seeds 0-2).
        "auto" keeps convolutions over series shorter than 8 steps or images under 8x8 pixels in
        float32, where bfloat16 gradients turned NaN. VaDE's ELBO phase runs in float32.
    device : str
        ``"auto"`` (CUDA when present), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
    random_state : int, RandomState or None
        Seed for weights, batch order and initialisation; the same seed gives the same labels.
    verbose : bool
        Show progress bars.
    checkpoint : str, path or None
        A file where training saves its state (at most every minute, and when pretraining and the
        clustering phase end). A fit that was stopped, started again with the same data and
        parameters, goes on from there (:mod:`deepclust.checkpoint`); one that differs only after
        pretraining (``n_clusters``, ``cluster_lr`` ...) reuses the pretraining saved and starts its
        clustering phase afresh; a checkpoint of other data or pretraining parameters is refused and
        kept. Removed when the fit completes. None (the default): no checkpoint.

    Attributes
    ----------
    labels_ : ndarray of shape (n_samples,)
    n_clusters_ : int
        The number of clusters used: ``n_clusters``, or the one chosen by ``"auto"``.
    k_scores_ : dict of int to float
        With ``n_clusters="auto"`` only: the criterion's score of every count tried.
    k_criterion_ : str
        With ``n_clusters="auto"`` only: the criterion the scores come from (``"auto"`` decides
        by "silhouette" or "density").
    cluster_centers_ : ndarray of shape (n_clusters_, embedding_dim), in embedding space
    autoencoder_ : torch.nn.Module
    history_ : dict of str to TrainingLog, per phase: loss per epoch, samples, seconds
    n_features_in_ : int
    """

    _constraints: dict[str, tuple] = {}

    def __init__(
        self,
        n_clusters: int | str = 10,
        *,
        k_range: tuple[int, int] = (2, 20),
        k_criterion: str = "auto",
        hidden_dims: tuple[int, ...] = (500, 500, 2000),
        embedding_dim: int = 10,
        architecture: str = "dense",
        input_shape: tuple[int, ...] | None = None,
        noise: float = 0.0,
        augment: bool | str = "auto",
        pretrain_epochs: int | str = "auto",
        batch_size: int = 256,
        lr: float = 1e-3,
        precision: str = "auto",
        device: str = "auto",
        random_state: int | np.random.RandomState | None = None,
        verbose: bool = False,
        checkpoint: str | os.PathLike | None = None,
    ) -> None:
        self.n_clusters = n_clusters
        self.k_range = k_range
        self.k_criterion = k_criterion
        self.hidden_dims = hidden_dims
        self.embedding_dim = embedding_dim
        self.architecture = architecture
        self.input_shape = input_shape
        self.noise = noise
        self.augment = augment
        self.pretrain_epochs = pretrain_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.precision = precision
        self.device = device
        self.random_state = random_state
        self.verbose = verbose
        self.checkpoint = checkpoint

    # ------------------------------------------------------------------ fitting
    def fit(self, X: Any, y: Any = None) -> DeepClusterer:
        """Pretrain the autoencoder on ``X``, then run the method's clustering phase."""
        X = check_features(self, X, reset=True)
        check_n_clusters(self, len(X), allow_auto=True)
        self.device_ = self.check_parameters()
        self._check_before_training(len(X))
        seed = seed_from(self.random_state)
        with seeded(seed, self.device_) as generator:
            data = rows_tensor(X, self.device_)
            self.autoencoder_ = self._build_autoencoder(X.shape[1]).to(self.device_)
            self._augmented_shape()  # refuses augment=True without an image shape before any training
            checkpoint = self._checkpoint(X, seed)
            pretraining = phase_of(checkpoint, "pretraining", {"autoencoder": self.autoencoder_})
            self.history_: dict[str, TrainingLog] = {"pretrain": self._pretrain(data, generator, pretraining)}
            self.n_clusters_ = self._choose_n_clusters(data, seed)
            self._cluster(data, generator, seed, checkpoint)
        z = self._embed(data)
        if not torch.isfinite(z).all():
            raise InputError(
                f"{type(self).__name__}: training diverged (the embedding holds NaN or infinity); "
                "lower lr or cluster_lr, or scale the features"
            )
        self.labels_ = self._assign(z, data).cpu().numpy()
        found = len(np.unique(self.labels_))
        if found < self.n_clusters_:
            warnings.warn(
                f"{type(self).__name__}: only {found} of the {self.n_clusters_} clusters hold training rows; "
                "the data may have fewer distinct groups, or the clustering phase emptied some",
                ConvergenceWarning,
                stacklevel=2,
            )
        if checkpoint is not None:
            checkpoint.remove()
        return self

    def check_parameters(self) -> torch.device:
        """Check every parameter that does not depend on the data; returns the resolved device.

        ``fit`` calls it; the command line calls it before reading the data, so that a bad value
        costs no encoding time.
        """
        check_params(self, {**COMMON_CONSTRAINTS, **self._constraints})
        check_int_tuple(self, "hidden_dims")
        check_int_tuple(self, "input_shape", optional=True)
        check_checkpoint_path(self.checkpoint, type(self).__name__)
        return resolve_device(self.device)

    def _check_before_training(self, n_samples: int) -> None:
        """A method's own checks of its parameters against the data, run before pretraining so
        that a fit it would refuse wastes no training time."""

    def _build_autoencoder(self, n_features: int) -> Autoencoder:
        return build_autoencoder(
            self.architecture,
            n_features,
            hidden_dims=tuple(self.hidden_dims),
            embedding_dim=self.embedding_dim,
            input_shape=self.input_shape,
            noise=self.noise,
        )

    def _augmented_shape(self) -> tuple[int, int, int] | None:
        """``(channels, height, width)`` of the rows when training augments them, else None."""
        image = self.input_shape is not None and len(self.input_shape) in (2, 3) and self.architecture != "temporal"
        if not image:
            if self.augment is True:
                raise InputError(
                    "augment=True rotates and shifts images, so it needs input_shape=(height, width) or "
                    f"(channels, height, width) and architecture 'dense' or 'conv'; got input_shape={self.input_shape!r}, "
                    f"architecture={self.architecture!r}"
                )
            return None
        shape = image_shape(self.input_shape, self.n_features_in_)  # a wrong shape is refused even when unused
        auto = min(shape[1:]) >= MIN_AUTO_AUGMENTED_SIDE
        return shape if self.augment is True or (self.augment == "auto" and auto) else None

    def _training_rows(self, data: torch.Tensor, generator: torch.Generator) -> Callable[[torch.Tensor], torch.Tensor]:
        """``indices -> rows`` for a training phase: ``data[indices]``, rotated and shifted when augmenting."""
        return training_rows(data, self._augmented_shape(), generator)

    def _checkpoint(self, X: np.ndarray, seed: int) -> Checkpoint | None:
        """Where training saves its state (``checkpoint``). Pretraining's fingerprint hashes what pretraining
        depends on: the rows, the method, :class:`DeepClusterer`'s parameters but those of ``NOT_PRETRAINING``,
        and the seed (none for ``random_state=None``, whose fit may resume any unseeded run's pretraining); the
        clustering phase's hashes every parameter but ``verbose`` and ``checkpoint``."""
        owner = type(self).__name__
        path = check_checkpoint_path(self.checkpoint, owner)
        if path is None:
            return None
        names = inspect.signature(DeepClusterer.__init__).parameters
        pretraining = {name: getattr(self, name) for name in names if name not in ("self", *NOT_PRETRAINING)}
        every = {name: value for name, value in self.get_params(deep=False).items() if name not in ("verbose", "checkpoint")}
        seeded_fit = None if self.random_state is None else seed
        return Checkpoint(
            path, {"pretraining": fingerprint(X, owner, pretraining, seeded_fit), "clustering": fingerprint(X, owner, every, seeded_fit)}
        )

    def _pretrain(self, data: torch.Tensor, generator: torch.Generator, checkpoint: PhaseCheckpoint | None = None) -> TrainingLog:
        """Reconstruction-only training of the autoencoder (mean squared error), on augmented rows when augmenting."""
        ae = self.autoencoder_.train()
        rows = self._training_rows(data, generator)

        def reconstruction_loss(indices: torch.Tensor) -> torch.Tensor:
            x = rows(indices)
            return F.mse_loss(ae(x)[1], x)

        return self._train(
            ae.parameters(), reconstruction_loss, len(data), generator, self._pretrain_epochs(len(data)), "pretraining",
            bfloat16=self._in_bfloat16(), checkpoint=checkpoint,
        )

    def _pretrain_epochs(self, n_samples: int) -> int:
        """``pretrain_epochs`` resolved for ``n_samples`` rows."""
        if self.pretrain_epochs != "auto":
            return int(self.pretrain_epochs)
        fewest, most = AUTO_PRETRAIN_EPOCHS
        batches = math.ceil(n_samples / self.batch_size)
        return min(most, max(fewest, math.ceil(MIN_AUTO_PRETRAIN_STEPS / batches)))

    def _in_bfloat16(self) -> bool:
        """``precision`` resolved on the training device and network (pretraining, and the clustering
        phase of DEC, IDEC and DCN); "auto" keeps tiny convolutions in float32."""
        if self.precision != "auto":
            return self.precision == "bfloat16"
        return native_bfloat16(self.device_) and not self._tiny_convolution()

    def _tiny_convolution(self) -> bool:
        """Whether a convolutional or temporal autoencoder sees rows smaller than ``MIN_BFLOAT16_CONV_SIDE``.

        With torch 2.13 on an AMX CPU, bfloat16 gradients of these networks turned NaN within 10 steps
        for series of 1-4 steps and images of 2x2 to 4x4 (random rows, batch 256), never in float32
        and never from 5 steps or 5x5 pixels up.
        """
        if self.architecture == "dense" or self.input_shape is None:
            return False
        sides = self.input_shape[-1:] if self.architecture == "temporal" else self.input_shape[-2:]
        return min(sides) < MIN_BFLOAT16_CONV_SIDE

    def _train(self, parameters, batch_loss, n_samples, generator, epochs, description, lr=None, bfloat16=False, **hooks) -> TrainingLog:  # noqa: ANN001
        """The shared loop with this estimator's batch size, learning rate (unless ``lr`` is given) and verbosity."""
        return train(
            parameters,
            batch_loss,
            n_samples,
            epochs=epochs,
            batch_size=self.batch_size,
            lr=self.lr if lr is None else lr,
            generator=generator,
            autocast=self.device_.type if bfloat16 else None,
            verbose=self.verbose,
            description=description,
            **hooks,
        )

    def _choose_n_clusters(self, data: torch.Tensor, seed: int) -> int:
        """``n_clusters`` itself, or for ``"auto"`` the best count on the pretrained embedding."""
        if self.n_clusters != "auto":
            for stale in ("k_scores_", "k_criterion_"):  # a refit with a fixed k keeps nothing of an earlier choice
                self.__dict__.pop(stale, None)
            return int(self.n_clusters)
        selection = select_n_clusters(
            self._embed(data).cpu().numpy(),
            tuple(self.k_range),  # checked by check_n_clusters at the start of fit
            criterion=self.k_criterion,
            random_state=seed,
        )
        self.k_scores_, self.k_criterion_ = selection.scores, selection.criterion
        return selection.best_k

    def _initial_clusters(self, z: torch.Tensor, data: torch.Tensor, seed: int, init: str) -> tuple[np.ndarray, np.ndarray]:
        """Labels and centres (float32) on the current embedding ``z`` of ``data``, where a clustering phase starts.

        ``"kmeans"``: k-means with 20 restarts. ``"manifold"``: N2D's clusters with its defaults
        (:func:`~deepclust.cluster.manifold.cluster_on_chosen_manifold`: below 5,000 rows on the
        embedding's or the input's manifold, whichever is more clustered), whose mean embeddings
        become the centres; below ``MIN_MANIFOLD_ROWS`` rows, where no manifold is laid out, k-means.
        """
        z = z.cpu().numpy()
        if init == "manifold" and len(z) >= MIN_MANIFOLD_ROWS:
            found = cluster_on_chosen_manifold(z, data, self.n_clusters_, seed=seed).clusters
            return found.labels, found.centres
        kmeans = KMeans(self.n_clusters_, n_init=20, random_state=seed).fit(z)
        return kmeans.labels_, kmeans.cluster_centers_.astype(np.float32)

    def _phase_start(
        self, data: torch.Tensor, seed: int, init: str, checkpoint: Checkpoint | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`_initial_clusters` of the embedded ``data``, where a trained clustering phase starts; zeros of
        the same shapes when the phase resumes from ``checkpoint``, whose restore replaces them (the start
        is the same again, but its manifold layout took 92 s on 100,000 rows)."""
        if self._clustering_resumes(checkpoint):
            return np.zeros(len(data), dtype=np.int64), np.zeros((self.n_clusters_, self.embedding_dim), dtype=np.float32)
        return self._initial_clusters(self._embed(data), data, seed, init)

    @staticmethod
    def _clustering_resumes(checkpoint: Checkpoint | None) -> bool:
        """Whether ``checkpoint`` holds a clustering phase of this fit's parameters to resume."""
        return checkpoint is not None and checkpoint.state("clustering") is not None

    def _cluster(self, data: torch.Tensor, generator: torch.Generator, seed: int, checkpoint: Checkpoint | None) -> None:
        """The method's clustering of the pretrained ``data``; a trained phase saves its state in ``checkpoint``'s
        ``"clustering"`` phase, so that a stopped fit resumes it."""
        raise NotImplementedError

    # ------------------------------------------------------------ using the model
    def _embed(self, data: torch.Tensor) -> torch.Tensor:
        self.autoencoder_.eval()
        return map_batches(self.autoencoder_.encode, data)

    def _assign(self, z: torch.Tensor, data: torch.Tensor) -> torch.Tensor:
        """Cluster of each row of ``data``, embedded as ``z``, for ``labels_`` and ``predict``: the nearest centre by default."""
        centers = torch.as_tensor(self.cluster_centers_, device=z.device)
        return torch.cdist(z, centers).argmin(dim=1)

    def _data(self, X: Any) -> torch.Tensor:
        check_is_fitted(self)
        return rows_tensor(check_features(self, X, reset=False), self.device_)

    def transform(self, X: Any) -> np.ndarray:
        """The learned embedding of ``X``, shape (n_samples, embedding_dim)."""
        return self._embed(self._data(X)).cpu().numpy()

    def predict(self, X: Any) -> np.ndarray:
        """Cluster of each row of ``X`` by the method's rule (the nearest centre unless overridden)."""
        data = self._data(X)
        return self._assign(self._embed(data), data).cpu().numpy()

    def fit_predict(self, X: Any, y: Any = None) -> np.ndarray:
        return self.fit(X).labels_

    # ------------------------------------------- saving (the format: deepclust.io.models)
    #: Estimator classes that learned attributes may hold, e.g. DeepHierarchical's tree.
    _state_classes: tuple[type, ...] = ()

    def _get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """Every learned attribute as JSON metadata and named arrays (weights as ``autoencoder_.<name>``)."""
        return get_state(self)

    def _set_state(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        """Make this estimator (constructed with the saved parameters) the fitted model that was saved."""
        set_state(self, meta, arrays, modules=self._state_modules, classes=self._state_classes)

    def _state_modules(self) -> dict[str, Callable[[], torch.nn.Module]]:
        """How to build each network attribute, empty, before its saved weights are loaded into it.

        Called when every other learned attribute is restored, so it may read ``n_features_in_``,
        ``n_clusters_``, ...; a method with more networks than ``autoencoder_`` extends it.
        """
        return {"autoencoder_": lambda: self._build_autoencoder(self.n_features_in_)}

    def __sklearn_tags__(self):  # noqa: ANN204
        tags = super().__sklearn_tags__()
        tags.non_deterministic = False
        return tags
