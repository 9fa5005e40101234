"""The report's plotly figures; each function returns a ``plotly.graph_objects.Figure``."""

from __future__ import annotations

import colorsys
import html
from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots
from scipy.cluster.hierarchy import dendrogram

from deepclust.cluster.density import JOIN_AFFINITY
from deepclust.report.projection import Map2D
from deepclust.train import TrainingLog

PALETTE: list[str] = qualitative.Plotly + qualitative.Dark24
#: Hue step for clusters past the palette: the golden ratio never brings a hue back.
GOLDEN_RATIO = 0.618033988749895


def cluster_color(cluster: int) -> str:
    """One colour per cluster, the same in every figure and table of the report.

    Clusters past the palette get hues spread by the golden ratio, so no two clusters share a colour.
    """
    cluster = int(cluster)
    if 0 <= cluster < len(PALETTE):
        return PALETTE[cluster]
    hue = ((cluster - len(PALETTE)) * GOLDEN_RATIO) % 1.0
    red, green, blue = colorsys.hls_to_rgb(hue, 0.45, 0.7)
    return f"#{round(red * 255):02x}{round(green * 255):02x}{round(blue * 255):02x}"


def plotly_text(text: object) -> str:
    """``text`` for a plotly label or tooltip: plotly reads ``<b>`` or ``<a>`` as markup, so ``<``, ``>``
    and ``&`` are escaped; quotes are not, as plotly shows ``&quot;`` as it is."""
    return html.escape(str(text), quote=False)


def _layout(fig: go.Figure, height: int, **kwargs) -> go.Figure:
    fig.update_layout(height=height, margin=dict(l=50, r=20, t=40, b=40), template="plotly_white", **kwargs)
    return fig


def map_figure(projection: Map2D, labels: np.ndarray, hover: Sequence[str], outlier: np.ndarray | None = None) -> go.Figure:
    """The sampled rows on the 2-D map, one trace (and legend entry) per cluster; outliers drawn again as crosses."""
    fig = go.Figure()
    labels = labels[projection.rows]
    hover = np.asarray(hover, dtype=object)
    xy = projection.coordinates
    for cluster in np.unique(labels):
        members = labels == cluster
        fig.add_trace(
            go.Scatter(
                x=xy[members, 0], y=xy[members, 1], mode="markers", name=f"cluster {cluster}",
                marker=dict(size=6, color=cluster_color(cluster), opacity=0.8), text=hover[members], hovertemplate="%{text}<extra></extra>",
            )
        )
    flagged = np.zeros(len(labels), bool) if outlier is None else outlier[projection.rows]
    if flagged.any():
        fig.add_trace(
            go.Scatter(
                x=xy[flagged, 0], y=xy[flagged, 1], mode="markers", name="outliers",
                marker=dict(size=9, symbol="x-thin", line=dict(width=2, color="#222")), text=hover[flagged], hovertemplate="%{text}<extra></extra>",
            )
        )
    fig.update_xaxes(showticklabels=False, title=f"{projection.method} 1")
    fig.update_yaxes(showticklabels=False, title=f"{projection.method} 2")
    return _layout(fig, 600, legend=dict(itemsizing="constant"))


def sizes_figure(sizes: Mapping[int, int]) -> go.Figure:
    clusters = list(sizes)
    fig = go.Figure(go.Bar(x=[str(c) for c in clusters], y=list(sizes.values()), marker_color=[cluster_color(c) for c in clusters]))
    fig.update_xaxes(title="cluster", type="category")
    fig.update_yaxes(title="rows")
    return _layout(fig, 300)


def loss_figure(history: Mapping[str, TrainingLog] | TrainingLog) -> go.Figure:
    """Mean loss per epoch, one panel per training phase (their losses have different scales)."""
    phases = {"training": history} if isinstance(history, TrainingLog) else dict(history)
    phases = {name: log for name, log in phases.items() if log.losses}
    fig = make_subplots(rows=1, cols=max(len(phases), 1), subplot_titles=[f"{n} ({log.seconds:.1f} s)" for n, log in phases.items()])
    for i, log in enumerate(phases.values(), start=1):
        fig.add_trace(go.Scatter(x=list(range(1, len(log.losses) + 1)), y=log.losses, mode="lines+markers", showlegend=False), 1, i)
        fig.update_xaxes(title="epoch", dtick=max(1, round(len(log.losses) / 8)), row=1, col=i)
    fig.update_yaxes(title="loss", row=1, col=1)
    return _layout(fig, 320)


def k_selection_figure(scores: Mapping[int, float], chosen: int, criterion: str) -> go.Figure:
    ks = sorted(scores)
    fig = go.Figure(go.Scatter(x=ks, y=[scores[k] for k in ks], mode="lines+markers", name=criterion))
    fig.add_vline(x=chosen, line_dash="dash", annotation_text=f"chosen k = {chosen}")
    fig.update_xaxes(title="number of clusters k", dtick=1)
    if criterion == "density":  # scores are affinities left between clusters; k stops where they fall below the join level
        fig.add_hline(y=JOIN_AFFINITY, line_dash="dot", annotation_text="joined at or above")
        fig.update_yaxes(title="largest affinity between clusters")
    else:
        fig.update_yaxes(title=criterion.replace("_", " "))
    return _layout(fig, 320)


def dendrogram_figure(linkage_matrix: np.ndarray, n_clusters: int, max_leaves: int = 40) -> go.Figure:
    """The top of the tree (at most ``max_leaves`` leaves, each labelled with its size) and the cut."""
    n_leaves = len(linkage_matrix) + 1
    tree = dendrogram(linkage_matrix, truncate_mode="lastp", p=min(max_leaves, n_leaves), no_plot=True)
    fig = go.Figure()
    for xs, ys in zip(tree["icoord"], tree["dcoord"]):
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", line=dict(color="#555", width=1.5), hoverinfo="skip", showlegend=False))
    if 1 < n_clusters <= len(linkage_matrix):
        heights = linkage_matrix[:, 2]
        cut = (heights[-n_clusters] + heights[-n_clusters + 1]) / 2
        fig.add_hline(y=cut, line_dash="dash", line_color="crimson", annotation_text=f"cut into {n_clusters} clusters")
    ticks = [5 + 10 * i for i in range(len(tree["ivl"]))]
    fig.update_xaxes(tickvals=ticks, ticktext=tree["ivl"], title="leaves (size of truncated branches in brackets)")
    fig.update_yaxes(title="merge height")
    return _layout(fig, 380)


def series_figure(curves: Mapping[int, dict[str, np.ndarray]], sizes: Mapping[int, int]) -> go.Figure:
    """Per cluster: its mean series and its medoid (the member closest to all others), titled with its size in ``sizes``."""
    clusters = list(curves)
    cols = min(4, len(clusters))
    rows = -(-len(clusters) // cols)
    titles = [f"cluster {c} ({sizes[c]:,} series)" for c in clusters]
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=titles, shared_xaxes=True)
    for i, cluster in enumerate(clusters):
        row, col = i // cols + 1, i % cols + 1
        c = curves[cluster]
        t = np.arange(len(c["mean"]))
        fig.add_trace(go.Scatter(x=t, y=c["mean"], line=dict(color=cluster_color(cluster), width=2.5), name="mean", showlegend=i == 0, legendgroup="mean"), row, col)
        fig.add_trace(go.Scatter(x=t, y=c["medoid"], line=dict(color="#333", dash="dot"), name="medoid", showlegend=i == 0, legendgroup="medoid"), row, col)
    return _layout(fig, 220 * rows + 60)


def profile_figure(profile: np.ndarray, features: Sequence[str], clusters: Sequence[int]) -> go.Figure:
    """Heatmap of each cluster's mean of each feature, in standard deviations from the overall mean."""
    fig = go.Figure(
        go.Heatmap(
            z=profile,
            x=[plotly_text(feature) for feature in features],
            y=[f"cluster {c}" for c in clusters],
            colorscale="RdBu",
            reversescale=True,
            zmid=0,
            colorbar=dict(title="z-score"),
            hovertemplate="%{y}, %{x}: %{z:.2f} sd<extra></extra>",
        )
    )
    fig.update_yaxes(autorange="reversed")
    return _layout(fig, 120 + 28 * len(clusters))
