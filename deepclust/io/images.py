"""Reading images: list a folder (sub-folders as classes), decode files in bulk, read backbone weights.

Decoding is I/O and C-library bound (Pillow releases the GIL while it decodes), so files are
decoded by a thread pool straight into one preallocated uint8 array. A file that cannot be read
never stops the run: it is reported back with the reason, and the caller decides what to do
with its row.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import ExifTags, Image, ImageOps

from deepclust.errors import InputError

#: File name endings read as images (case-insensitive); formats every Pillow build decodes.
IMAGE_EXTENSIONS = (
    ".png", ".jpg", ".jpeg", ".jpe", ".jfif", ".bmp", ".gif", ".tif", ".tiff", ".webp",
    ".ppm", ".pgm", ".pbm", ".pnm", ".tga", ".qoi",
)
#: Pillow modes taken as greyscale when ``color="auto"`` decides from the first image.
GREY_MODES = ("1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "F")
_QUARTER_TURNS = (5, 6, 7, 8)  # EXIF orientations that swap width and height


def read_image_folder(path: str | os.PathLike) -> tuple[list[str], np.ndarray | None, list[str]]:
    """List the image files under a folder, in sorted order, searching sub-folders too.

    Files are recognised by their ending (:data:`IMAGE_EXTENSIONS`); hidden files and folders
    are left out. When every image sits in an immediate sub-folder (``root/cat/1.png``,
    ``root/dog/2.png``), the sub-folder names are the classes: ground truth for evaluation
    only, never used for fitting.

    Returns
    -------
    paths : list of str
    labels : ndarray of int64 (index into ``class_names``), or None without class sub-folders
    class_names : list of str, sorted; empty without class sub-folders
    """
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise InputError(f"{folder} is not a folder; expected a folder of image files")
    files, others = [], []
    for file in sorted(folder.rglob("*")):
        relative = file.relative_to(folder)
        if any(part.startswith(".") for part in relative.parts) or not file.is_file():
            continue
        (files if file.suffix.lower() in IMAGE_EXTENSIONS else others).append(relative)
    if not files:
        found = f"{len(others)} other files, e.g. {', '.join(map(str, others[:3]))}" if others else "no files"
        raise InputError(
            f"{folder} holds no image files (searched sub-folders too for {', '.join(IMAGE_EXTENSIONS)}); found {found}"
        )
    paths = [str(folder / f) for f in files]
    if all(len(f.parts) == 2 for f in files):
        class_names = sorted({f.parts[0] for f in files})
        index = {name: i for i, name in enumerate(class_names)}
        return paths, np.array([index[f.parts[0]] for f in files], dtype=np.int64), class_names
    return paths, None, []


@dataclass
class DecodedImages:
    """Images decoded to one array; rows of files that failed are zero and listed in ``failures``."""

    pixels: np.ndarray  # (n, height, width, channels) uint8
    failures: dict[int, str]  # row -> "path: reason"

    @property
    def ok(self) -> np.ndarray:
        """Boolean mask of the rows that were decoded."""
        mask = np.ones(len(self.pixels), dtype=bool)
        mask[list(self.failures)] = False
        return mask


def probe_image(paths: list[str]) -> tuple[int, tuple[int, int], bool, dict[int, str]]:
    """Open files in order until one reads: its row, ``(height, width)``, whether it is greyscale.

    Only the header is read. Also returns the failures met on the way (row -> "path: reason").
    """
    failures: dict[int, str] = {}
    for i, path in enumerate(paths):
        try:
            with Image.open(path) as image:
                size = (image.height, image.width)
                if image.getexif().get(ExifTags.Base.Orientation) in _QUARTER_TURNS:
                    size = size[::-1]
                return i, size, image.mode in GREY_MODES, failures
        except Exception as err:  # noqa: BLE001 - any failure of one untrusted file only skips it
            failures[i] = f"{path}: {err}"
    raise InputError(
        f"none of the {len(paths)} image files could be read; first failure: {failures.get(0, 'no files given')}"
    )


def decode_images(
    paths: list[str],
    *,
    size: tuple[int, int] | None = None,
    grey: bool | None = None,
    n_threads: int = 8,
) -> DecodedImages:
    """Decode image files to a ``(n, height, width, channels)`` uint8 array with a thread pool.

    ``size=(height, width)`` resizes every image (bilinear, antialiased); None takes the size of
    the first readable file. ``grey`` converts to one channel (True) or RGB (False); None decides
    from the first readable file's mode. EXIF orientation is applied, as a viewer would.
    Unreadable files (not an image, truncated, corrupt) are recorded in ``failures``.
    """
    first, first_size, first_grey, failures = probe_image(paths)
    size = first_size if size is None else size
    grey = first_grey if grey is None else grey
    height, width = int(size[0]), int(size[1])
    pixels = np.zeros((len(paths), height, width, 1 if grey else 3), dtype=np.uint8)
    mode = "L" if grey else "RGB"

    def decode(i: int) -> None:
        try:
            with Image.open(paths[i]) as image:
                image.draft(mode, (width, height))  # JPEG: decode at a reduced scale when much larger
                image = ImageOps.exif_transpose(image).convert(mode)
                if image.size != (width, height):
                    image = image.resize((width, height), Image.Resampling.BILINEAR)
                pixels[i] = np.asarray(image).reshape(height, width, -1)
        except Exception as err:  # noqa: BLE001 - see above
            failures[i] = f"{paths[i]}: {err}"

    with ThreadPoolExecutor(max_workers=max(1, n_threads)) as pool:
        list(pool.map(decode, range(first, len(paths))))
    return DecodedImages(pixels, dict(sorted(failures.items())))


def read_backbone_weights(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """A backbone's state dict from a local ``.safetensors`` or ``.pth``/``.pt`` file, as NumPy arrays.

    Accepts a plain state dict, one wrapped as ``{"state_dict": ...}`` or ``{"model": ...}``,
    and DataParallel's ``module.`` prefixes. ``.pth`` files are read with ``weights_only=True``:
    tensors only, no pickled code runs. Nothing is ever downloaded.
    """
    import torch

    file = Path(path).expanduser()
    if not file.is_file():
        raise InputError(f"backbone weights file {file} does not exist (weights are never downloaded; pass a local file)")
    try:
        if file.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(file)
        else:
            state = torch.load(file, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - torch/safetensors raise many types for a bad file
        raise InputError(f"cannot read backbone weights from {file}: {err}") from err
    for key in ("state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise InputError(f"{file} does not hold a state dict (a mapping of parameter names to tensors)")
    return {str(k).removeprefix("module."): v.numpy() for k, v in state.items()}
