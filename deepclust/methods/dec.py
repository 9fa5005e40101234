"""DEC and IDEC: sharpen Student's t soft assignments towards a self-training target.

DEC: Xie et al. (2016), "Unsupervised Deep Embedding for Clustering Analysis".
IDEC: Guo et al. (2017), "Improved Deep Embedded Clustering with Local Structure
Preservation" — DEC plus the reconstruction loss, so the embedding keeps the data's
local structure while it is pulled into clusters.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from deepclust.checkpoint import Checkpoint, phase_of
from deepclust.methods.base import CLUSTER_INITS, CLUSTER_PHASE_CONSTRAINTS, DeepClusterer
from deepclust.objectives import StudentTObjective, soft_assignment, target_distribution
from deepclust.registry import register
from deepclust.train import map_batches

STUDENT_T_CONSTRAINTS: dict[str, tuple] = {
    **CLUSTER_PHASE_CONSTRAINTS,
    "update_interval": (int, 1, None),
    "tol": (float, 0.0, 1.0),
    "alpha": (float, 1e-6, None),
    "init": ("choice", CLUSTER_INITS),
}


@register("dec", "Deep Embedded Clustering: KL(P||Q) self-training of encoder and centres.")
class DEC(DeepClusterer):
    """Deep Embedded Clustering (scikit-learn API).

    Pretrains an autoencoder, initialises centres from a clustering of the embedding, then trains
    encoder and centres to minimise KL(P || Q), where Q is the Student's t soft assignment and
    the target P is recomputed over the whole data set every ``update_interval`` batches.
    Training stops when fewer than a fraction ``tol`` of labels change between targets, or
    after ``cluster_epochs``.

    Parameters
    ----------
    cluster_epochs : int
        Upper bound on epochs of the clustering phase.
    update_interval : int
        Batches between recomputations of the target distribution.
    tol : float
        Stop when the fraction of changed labels between two targets falls below this.
    alpha : float
        Degrees of freedom of the Student's t kernel.
    init : {"manifold", "kmeans"}
        Where the centres start. ``"manifold"``: the clusters N2D finds on the pretrained
        embedding (a Gaussian mixture started from ward's clusters, on its UMAP layout: 20 neighbours,
        ``min_dist=0``, one component per cluster; below 5,000 rows on t-SNE's 2-d map, of the
        embedding or of the input, whichever is more clustered, as N2D's ``manifold_of="auto"``),
        each centre the mean embedding of its rows.
        ``"kmeans"``: k-means with 20 restarts, as in the papers. Self-training sharpens the
        clusters it starts from but seldom undoes a merge: from the manifold IDEC reached ACC
        0.888 on digits, 0.945 on USPS and 0.952 on MNIST-test, against 0.821, 0.796 and 0.870
        from k-means; DEC (``cluster_lr`` 1e-3) 0.869, 0.896 and 0.929 against 0.808, 0.771 and
        0.837 (seeds 0-2, ``bench/quality.py``, UMAP's layout on an Intel AMX CPU; on t-SNE's map
        of digits IDEC reached 0.881 on an AMD EPYC). The layout grows about linearly with the rows:
        about 3 s on digits, 7-11 s on MNIST-test, 92 s for 100,000 rows of a 10-d embedding
        (2 cores), where k-means takes about 1 s; IDEC's training of that many rows takes about
        ten times as long.
    cluster_lr : float
        Adam learning rate of the clustering phase (``lr`` is pretraining's). DEC's 3e-4: with no
        reconstruction term to hold the embedding, its self-training at 1e-3 drifted further from
        the clusters it starts from. Measured with everything else default (seeds 0-2): USPS ACC
        0.896 at 1e-3, 0.917 at 3e-4, 0.933 at 1e-4; MNIST-test 0.929, 0.922, 0.860; digits
        0.869, 0.876, 0.884. 1e-4 gains most on USPS and digits but loses 0.07 on MNIST-test.

    The other parameters are those of :class:`~deepclust.methods.base.DeepClusterer`.

    Examples
    --------
    >>> from deepclust import DEC
    >>> from deepclust.datasets import load_digits
    >>> X, y = load_digits()
    >>> labels = DEC(n_clusters=10, pretrain_epochs=5, cluster_epochs=2, random_state=0).fit_predict(X)
    """

    _constraints = STUDENT_T_CONSTRAINTS

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
        cluster_epochs: int = 50,
        update_interval: int = 140,
        tol: float = 1e-3,
        alpha: float = 1.0,
        init: str = "manifold",
        cluster_lr: float = 3e-4,
        batch_size: int = 256,
        lr: float = 1e-3,
        precision: str = "auto",
        device: str = "auto",
        random_state: int | np.random.RandomState | None = None,
        verbose: bool = False,
        checkpoint: str | os.PathLike | None = None,
    ) -> None:
        super().__init__(
            n_clusters,
            k_range=k_range,
            k_criterion=k_criterion,
            hidden_dims=hidden_dims,
            embedding_dim=embedding_dim,
            architecture=architecture,
            input_shape=input_shape,
            noise=noise,
            augment=augment,
            pretrain_epochs=pretrain_epochs,
            batch_size=batch_size,
            lr=lr,
            precision=precision,
            device=device,
            random_state=random_state,
            verbose=verbose,
            checkpoint=checkpoint,
        )
        self.cluster_epochs = cluster_epochs
        self.update_interval = update_interval
        self.tol = tol
        self.alpha = alpha
        self.init = init
        self.cluster_lr = cluster_lr

    def _clustering_weight(self) -> float | None:
        """Weight of the clustering loss beside reconstruction; None: no reconstruction (DEC drops the decoder)."""
        return None

    def _cluster(self, data: torch.Tensor, generator: torch.Generator, seed: int, checkpoint: Checkpoint | None) -> None:
        ae = self.autoencoder_.train()
        _, centres = self._phase_start(data, seed, self.init, checkpoint)
        objective = StudentTObjective(torch.from_numpy(centres).to(data), self.alpha)
        gamma = self._clustering_weight()
        state: dict[str, torch.Tensor] = {}

        def refresh_target(iteration: int) -> bool:
            """Recompute P over all data; report convergence when few labels changed."""
            if iteration % self.update_interval:
                return False
            q = map_batches(lambda x: objective.soft_assignment(ae.encode(x)), data)
            labels = q.argmax(dim=1)
            if "labels" in state and (labels != state["labels"]).float().mean().item() < self.tol:
                return True
            state["labels"], state["target"] = labels, target_distribution(q)
            return False

        rows = self._training_rows(data, generator)

        def batch_loss(indices: torch.Tensor) -> torch.Tensor:
            x = rows(indices)
            z = ae.encode(x)
            loss = objective.loss(z, state["target"][indices])
            if gamma is not None:
                loss = F.mse_loss(ae.decode(z), x) + gamma * loss
            return loss

        parameters = [*(ae.encoder.parameters() if gamma is None else ae.parameters()), *objective.parameters()]
        self.history_["clustering"] = self._train(
            parameters, batch_loss, len(data), generator, self.cluster_epochs, "clustering", lr=self.cluster_lr,
            bfloat16=self._in_bfloat16(), before_step=refresh_target,
            checkpoint=phase_of(checkpoint, "clustering", {"autoencoder": ae, "objective": objective}, state),
        )
        self.cluster_centers_ = objective.centers.detach().cpu().numpy()

    def predict_proba(self, X: Any) -> np.ndarray:
        """Soft assignment Q (Student's t kernel with ``alpha`` around each centre) of each row of ``X``.

        Rows sum to 1; its largest entry is the nearest centre, so ``argmax == predict``.
        """
        z = torch.from_numpy(self.transform(X))  # checks that the model is fitted
        return soft_assignment(z, torch.from_numpy(self.cluster_centers_), self.alpha).numpy()


@register("idec", "Improved DEC: DEC's clustering loss plus reconstruction, weighted by gamma.")
class IDEC(DEC):
    """Improved Deep Embedded Clustering: minimises reconstruction + ``gamma`` * KL(P || Q).

    Parameters
    ----------
    gamma : float
        Weight of the clustering loss against the reconstruction loss (0.1 in the paper).
    cluster_lr : float
        Adam learning rate of the clustering phase: 1e-3, as pretraining; reconstruction holds
        IDEC's embedding where DEC's drifts (see :class:`DEC`). 3e-4 gained on USPS (0.949
        against 0.945) but lost on MNIST-test (seeds 0-1: 0.931 and 0.899 against 0.958 and 0.949).

    The other parameters are those of :class:`DEC`.

    Examples
    --------
    >>> from deepclust import IDEC
    >>> from deepclust.datasets import load_digits
    >>> X, y = load_digits()
    >>> labels = IDEC(n_clusters=10, pretrain_epochs=5, cluster_epochs=2, random_state=0).fit_predict(X)
    """

    _constraints = {**STUDENT_T_CONSTRAINTS, "gamma": (float, 0.0, None)}

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
        cluster_epochs: int = 50,
        update_interval: int = 140,
        tol: float = 1e-3,
        alpha: float = 1.0,
        init: str = "manifold",
        cluster_lr: float = 1e-3,
        gamma: float = 0.1,
        batch_size: int = 256,
        lr: float = 1e-3,
        precision: str = "auto",
        device: str = "auto",
        random_state: int | np.random.RandomState | None = None,
        verbose: bool = False,
        checkpoint: str | os.PathLike | None = None,
    ) -> None:
        super().__init__(
            n_clusters,
            k_range=k_range,
            k_criterion=k_criterion,
            hidden_dims=hidden_dims,
            embedding_dim=embedding_dim,
            architecture=architecture,
            input_shape=input_shape,
            noise=noise,
            augment=augment,
            pretrain_epochs=pretrain_epochs,
            cluster_epochs=cluster_epochs,
            update_interval=update_interval,
            tol=tol,
            alpha=alpha,
            init=init,
            cluster_lr=cluster_lr,
            batch_size=batch_size,
            lr=lr,
            precision=precision,
            device=device,
            random_state=random_state,
            verbose=verbose,
            checkpoint=checkpoint,
        )
        self.gamma = gamma

    def _clustering_weight(self) -> float | None:
        return self.gamma
