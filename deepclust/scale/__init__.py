"""Speed and scale: data larger than memory, several processes or machines, Dask clusters.

- :mod:`deepclust.scale.streaming`: fit on a sample of a Parquet/``.npy`` file, then
  predict or embed the whole file block by block (:func:`predict_file`, :func:`transform_file`).
- :mod:`deepclust.scale.distributed`: pretraining under torch.distributed (DDP), started by torchrun.
- :mod:`deepclust.scale.dask`: assignment and embedding of Dask arrays and DataFrames on the
  workers (needs ``pip install 'deepclust[dask]'``; imported on its own, not from here).
"""

from deepclust.scale.distributed import fit_distributed, init_distributed
from deepclust.scale.streaming import fit_sample, predict_chunks, predict_file, transform_file

__all__ = ["fit_distributed", "fit_sample", "init_distributed", "predict_chunks", "predict_file", "transform_file"]
