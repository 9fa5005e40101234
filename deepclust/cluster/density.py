"""The ``"density"`` criterion for the number of clusters: dense groups of a UMAP layout, joined
where the embedding's neighbours cross between them.

1. A 10-d UMAP layout of the embedding (20 neighbours, ``min_dist=0``: N2D's manifold) packs each
   cluster tightly; HDBSCAN's leaf clusters of it (at least 3% of the rows each) are its dense groups.
2. A leaf is not always a cluster: UMAP breaks a small Gaussian blob into a few fragments. So two
   groups whose rows are neighbours of each other in the embedding itself (15 neighbours per row)
   are joined: their *affinity* is the number of neighbour links between them over the links of the
   smaller group, and groups with affinity of at least 0.05 become one cluster (single linkage).
3. The number of clusters left is the choice; ``scores[k]`` is the largest affinity left between
   any two clusters when the groups are joined down to k (lower: better separated).

Measured on the pretrained ``AEKMeans`` embeddings of digits, USPS and MNIST-test (seeds 0-2): the
leaves alone were 10 on all nine, and the largest affinity between two of them 0.014-0.038, while
the fragments of one blob (``make_blobs``, 10-d, 3/7/15 centres, 40 or 200 rows each, spread 1-3)
had 0.10-0.56; joining at 0.05 gave 10 on all nine embeddings (also with other UMAP seeds) and the
true count on all 18 blob sets and on five blobs of 400 to 30 rows.
"""

from __future__ import annotations

import numpy as np
from scipy.cluster.hierarchy import linkage
from scipy.spatial.distance import squareform
from sklearn.cluster import HDBSCAN
from sklearn.neighbors import NearestNeighbors

from deepclust.cluster.manifold import umap_layout

#: Smallest dense group, as a share of the rows (at least ``MIN_LEAF_ROWS`` rows).
LEAF_SHARE = 0.03
MIN_LEAF_ROWS = 5
#: Neighbours per row in the embedding that link groups.
LINK_NEIGHBOURS = 15
#: Groups with at least this affinity are one cluster.
JOIN_AFFINITY = 0.05
#: The layout is made of at most this many random rows: about 8 s on 2 cores. On 5,000 rows of
#: MNIST-test one of the three embeddings gave 9 groups, where all of its 10,000 gave 10.
MAX_ROWS = 10_000


def density_scores(Z: np.ndarray, ks: range, seed: int) -> tuple[dict[int, float], int]:
    """``(scores, best_k)``: the largest affinity left at each k in ``ks`` (NaN above the number of
    dense groups) and the number of clusters left after joining, within ``ks``."""
    if len(Z) < 2 * MIN_LEAF_ROWS:  # no room for two dense groups: one cluster, so the smallest k allowed
        return {k: float("nan") for k in ks}, ks.start
    if len(Z) > MAX_ROWS:
        Z = Z[np.random.default_rng(seed).choice(len(Z), MAX_ROWS, replace=False)]
    layout = umap_layout(np.asarray(Z, dtype=np.float32), 10, n_neighbors=20, min_dist=0.0, seed=seed)
    leaves = HDBSCAN(min_cluster_size=max(MIN_LEAF_ROWS, int(LEAF_SHARE * len(Z))), cluster_selection_method="leaf", copy=True).fit_predict(layout)
    left = _affinity_left(Z, leaves)  # left[k]: the largest affinity between k clusters, k = 1..leaves
    joined = max(k for k, affinity in left.items() if affinity < JOIN_AFFINITY)
    scores = {k: left.get(k, float("nan")) for k in ks}
    return scores, min(max(joined, ks.start), ks.stop - 1)


def _affinity_left(Z: np.ndarray, leaves: np.ndarray) -> dict[int, float]:
    """For k = 1 .. number of leaves: the largest affinity between two of the k clusters that
    joining the leaves by single linkage on affinity leaves."""
    n_leaves = int(leaves.max()) + 1
    if n_leaves < 2:
        return {1: 0.0}
    neighbours = NearestNeighbors(n_neighbors=min(LINK_NEIGHBOURS, len(Z) - 1) + 1).fit(Z).kneighbors(Z, return_distance=False)[:, 1:]
    source, target = np.repeat(leaves, neighbours.shape[1]), leaves[neighbours.ravel()]
    kept = (source >= 0) & (target >= 0)  # links between rows of dense groups (HDBSCAN's noise is -1)
    links = np.zeros((n_leaves, n_leaves))
    np.add.at(links, (source[kept], target[kept]), 1)
    links += links.T
    degree = links.sum(axis=1)
    affinity = links / np.maximum(np.minimum.outer(degree, degree), 1)
    np.fill_diagonal(affinity, 0.0)
    # Single linkage on 1 - affinity joins the most linked pair first; before the j-th join
    # (0-based) n_leaves - j clusters are left, and the affinity between them is 1 - its height.
    heights = linkage(squareform(1.0 - affinity, checks=False), method="single")[:, 2]
    return {1: 0.0} | {n_leaves - j: float(1.0 - h) for j, h in enumerate(heights)}
