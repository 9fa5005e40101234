"""Where data enters and results leave: readers per kind of file, atomic writers, saved models.

No other layer opens files. Each submodule covers one concern (``write`` for atomic output).
"""

from deepclust.io.images import read_image_folder
from deepclust.io.models import load_model, save
from deepclust.io.text import read_text
from deepclust.io.write import write_atomic, write_json, write_labels

__all__ = ["load_model", "read_image_folder", "read_text", "save", "write_atomic", "write_json", "write_labels"]
