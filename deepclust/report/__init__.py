"""The HTML report of a clustering: map, clusters, metrics, training curves and examples per cluster."""

from deepclust.report.html import render_report, write_report
from deepclust.report.projection import MAP_METHODS, map_2d

__all__ = ["MAP_METHODS", "map_2d", "render_report", "write_report"]
