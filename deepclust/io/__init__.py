"""Where data enters and results leave: readers per kind of file, atomic writers, saved models.

No other layer opens files. Each submodule covers one concern (``write`` for atomic output).
"""

from deepclust.io.models import load_model, save
from deepclust.io.write import write_atomic, write_json, write_labels

__all__ = ["load_model", "save", "write_atomic", "write_json", "write_labels"]
