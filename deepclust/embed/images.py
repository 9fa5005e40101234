"""Images as rows a clustering method can use: pixels for the convolutional autoencoder, or ResNet-18 features.

The default representation is learned: :class:`ImageEncoder` turns each image into its
normalised pixels (channels first, flattened), and a deep method with
``architecture="conv", input_shape=encoder.input_shape_`` learns the embedding it clusters.
With a local ResNet-18 weights file the encoder gives pretrained 512-d features instead.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from numbers import Integral
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from deepclust._validation import check_params
from deepclust.errors import InputError
from deepclust.io.images import decode_images, probe_image, read_backbone_weights, read_image_folder
from deepclust.nn.resnet import ResNet18Features
from deepclust.registry import get_method
from deepclust.train import map_batches, resolve_device

# ImageNet statistics: what torchvision's pretrained ResNet weights expect.
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)
RESNET_SIZE = (224, 224)
_CHUNK = 2048  # images decoded at a time: bounds memory for large collections


class ImageEncoder(TransformerMixin, BaseEstimator):
    """Decode, resize and normalise images; output pixels or pretrained ResNet-18 features.

    Parameters
    ----------
    backbone : {"pixels", "resnet18"}
        ``"pixels"``: values in [0, 1], channels first, flattened to ``C*H*W`` columns, for a deep
        method with ``architecture="conv"`` (see ``method_params_``). ``"resnet18"``: the 512-d
        pooled features of ResNet-18 loaded from ``weights`` (ImageNet normalisation, RGB).
    weights : str or path-like, optional
        Local ``.pth``/``.pt``/``.safetensors`` state dict of torchvision's ``resnet18``; required
        for ``backbone="resnet18"``. Nothing is downloaded.
    image_size : int or (height, width), optional
        Size every image is resized to. Default: the first readable image's size for
        ``"pixels"``, 224x224 for ``"resnet18"``.
    color : {"auto", "grey", "rgb"}
        Convert to one channel or three; ``"auto"`` keeps the first readable image's kind.
        ResNet-18 always gets three channels (grey is repeated).
    batch_size : int
        Images per forward pass of the backbone.
    n_threads : int
        Threads decoding files (decoding is I/O bound and Pillow releases the GIL).
    device : str
        ``"auto"`` (CUDA when present), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``; for the backbone.

    Input
    -----
    A list of image file paths (see :func:`deepclust.io.read_image_folder`), or an array
    ``(n, H, W)`` / ``(n, H, W, C)``: integers are divided by their maximum (255 for uint8),
    floats are taken as already in [0, 1].

    Attributes
    ----------
    image_size_ : tuple (height, width)
    channels_ : int
        1 or 3: channels of the decoded images (ResNet-18 gets grey repeated three times).
    input_shape_ : tuple (channels, height, width) of the decoded images
    method_params_ : dict
        Parameters a deep method needs for this output, e.g. ``{"architecture": "conv",
        "input_shape": (1, 28, 28)}``.
    skipped_ : dict of int to str
        Rows of the last ``fit``/``transform`` input whose file could not be read, with the reason.
        They were skipped with a warning; their output row holds the mean of the readable rows so
        that shapes still line up in a pipeline (:func:`cluster_images` labels them -1).
    backbone_ : torch.nn.Module, for ``"resnet18"`` only

    Example
    -------
    >>> paths, y, classes = deepclust.io.read_image_folder("photos/")        # doctest: +SKIP
    >>> encoder = ImageEncoder(image_size=32)                                 # doctest: +SKIP
    >>> X = encoder.fit_transform(paths)                                      # doctest: +SKIP
    >>> IDEC(n_clusters=10, **encoder.method_params_).fit(X)                  # doctest: +SKIP
    """

    def __init__(
        self,
        backbone: str = "pixels",
        *,
        weights: str | os.PathLike | None = None,
        image_size: int | tuple[int, int] | None = None,
        color: str = "auto",
        batch_size: int = 256,
        n_threads: int = 8,
        device: str = "auto",
    ) -> None:
        self.backbone = backbone
        self.weights = weights
        self.image_size = image_size
        self.color = color
        self.batch_size = batch_size
        self.n_threads = n_threads
        self.device = device

    # ------------------------------------------------------------------ fitting
    def fit(self, X: Any, y: Any = None) -> ImageEncoder:
        """Fix the image size and channels (from the parameters or the first readable image); load the backbone."""
        self._validate_params()
        kind, data = _check_images(X)
        if kind == "array":
            size, grey = data.shape[1:3], data.shape[3] == 1
        else:
            _, size, grey, _ = probe_image(data)
        if self.image_size is not None:
            size = _size_pair(self.image_size)
        elif self.backbone == "resnet18":
            size = RESNET_SIZE
        grey = {"auto": grey, "grey": True, "rgb": False}[self.color]
        self.image_size_ = (int(size[0]), int(size[1]))
        self.channels_ = 1 if grey else 3
        self.device_ = resolve_device(self.device)
        if self.backbone == "resnet18":
            self.backbone_ = _resnet18(read_backbone_weights(self.weights), str(self.weights)).to(self.device_)
        self._set_output_params()
        return self

    def _validate_params(self) -> None:
        check_params(
            self,
            {
                "backbone": ("choice", ("pixels", "resnet18")),
                "color": ("choice", ("auto", "grey", "rgb")),
                "batch_size": (int, 1, None),
                "n_threads": (int, 1, None),
            },
        )
        if self.image_size is not None:
            _size_pair(self.image_size)
        if self.backbone == "resnet18" and self.weights is None:
            raise InputError(
                "ImageEncoder: backbone='resnet18' needs weights=<path to a local resnet18 state dict "
                "(.pth or .safetensors)>; weights are never downloaded"
            )

    def _set_output_params(self) -> None:
        self.input_shape_ = (self.channels_, *self.image_size_)
        if self.backbone == "pixels":
            self.method_params_ = {"architecture": "conv", "input_shape": self.input_shape_}
        else:
            self.method_params_ = {"architecture": "dense"}

    def fit_transform(self, X: Any, y: Any = None, **fit_params: Any) -> np.ndarray:
        return self.fit(X).transform(X)

    # ------------------------------------------------------------ using it
    def transform(self, X: Any) -> np.ndarray:
        """One float32 row per image: flattened pixels, or 512 ResNet-18 features."""
        check_is_fitted(self)
        kind, data = _check_images(X)
        self.skipped_: dict[int, str] = {}
        if kind == "array":
            return self._encode(self._normalise_array(data))
        blocks = []
        for start in range(0, len(data), _CHUNK):
            decoded = decode_images(
                data[start : start + _CHUNK], size=self.image_size_, grey=self.channels_ == 1, n_threads=self.n_threads
            )
            self.skipped_.update({start + i: reason for i, reason in decoded.failures.items()})
            blocks.append(self._encode(decoded.pixels.astype(np.float32) / 255))
        out = np.concatenate(blocks)
        if self.skipped_:
            ok = np.ones(len(out), dtype=bool)
            ok[list(self.skipped_)] = False
            if not ok.any():
                raise InputError(f"none of the {len(out)} image files could be read; first failure: {next(iter(self.skipped_.values()))}")
            out[~ok] = out[ok].mean(axis=0)
            shown = "; ".join(list(self.skipped_.values())[:5])
            more = f" and {len(self.skipped_) - 5} more" if len(self.skipped_) > 5 else ""
            warnings.warn(f"skipped {len(self.skipped_)} unreadable image file(s): {shown}{more}", stacklevel=2)
        return out

    def _normalise_array(self, images: np.ndarray) -> np.ndarray:
        """An (n, H, W, C) array as float32 in [0, 1] with the fitted size and channels."""
        if images.dtype.kind in "ui":
            images = images.astype(np.float32) / np.iinfo(images.dtype).max
        images = images.astype(np.float32, copy=False)
        if images.shape[3] == 4:  # drop alpha, as Pillow's RGBA -> RGB does
            images = images[..., :3]
        if self.channels_ == 1 and images.shape[3] == 3:  # ITU-R 601 luma, Pillow's "L" conversion
            images = images @ np.array([0.299, 0.587, 0.114], dtype=np.float32)[:, None]
        if images.shape[1:3] != self.image_size_:
            tensor = torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2)))
            tensor = F.interpolate(tensor, size=self.image_size_, mode="bilinear", antialias=True, align_corners=False)
            images = tensor.clamp_(0, 1).numpy().transpose(0, 2, 3, 1)
        return images

    def _encode(self, images: np.ndarray) -> np.ndarray:
        """(n, H, W, C) floats in [0, 1] -> output rows."""
        if images.shape[3] == 1 and (self.channels_ == 3 or self.backbone == "resnet18"):
            images = np.repeat(images, 3, axis=3)
        if self.backbone == "pixels":
            return np.ascontiguousarray(images.transpose(0, 3, 1, 2)).reshape(len(images), -1)
        tensor = torch.from_numpy(np.ascontiguousarray(((images - IMAGENET_MEAN) / IMAGENET_STD).transpose(0, 3, 1, 2)))
        self.backbone_.eval()
        features = map_batches(lambda x: self.backbone_(x.to(self.device_)).cpu(), tensor, self.batch_size)
        return features.numpy().astype(np.float32, copy=False)

    # ------------------------------------------------------------ saved models
    def _get_state(self) -> tuple[dict, dict[str, np.ndarray]]:
        """Image size and channels in the metadata; the backbone's weights as arrays (so the file stands alone)."""
        check_is_fitted(self)
        meta = {"image_size": list(self.image_size_), "channels": self.channels_}
        arrays = {}
        if self.backbone == "resnet18":
            arrays = {f"backbone.{k}": v.detach().cpu().numpy() for k, v in self.backbone_.state_dict().items()}
        return meta, arrays

    def _set_state(self, meta: dict, arrays: dict[str, np.ndarray]) -> None:
        try:
            self.image_size_ = (int(meta["image_size"][0]), int(meta["image_size"][1]))
            self.channels_ = int(meta["channels"])
        except (KeyError, TypeError, IndexError, ValueError) as err:
            raise InputError(f"saved ImageEncoder state is incomplete or malformed: {err!r}") from err
        self.device_ = resolve_device(self.device)
        if self.backbone == "resnet18":
            weights = {k.removeprefix("backbone."): v for k, v in arrays.items() if k.startswith("backbone.")}
            self.backbone_ = _resnet18(weights, "the saved model").to(self.device_)
        self._set_output_params()


def _size_pair(size: Any) -> tuple[int, int]:
    pair = (size, size) if isinstance(size, Integral) else size
    if (
        not isinstance(pair, (tuple, list))
        or len(pair) != 2
        or not all(isinstance(s, Integral) and not isinstance(s, bool) and s >= 1 for s in pair)
    ):
        raise InputError(f"ImageEncoder: image_size must be a positive int or (height, width), got {size!r}")
    return int(pair[0]), int(pair[1])


def _check_images(X: Any) -> tuple[str, Any]:
    """``("paths", list of str)`` or ``("array", (n, H, W, C) array)``, or an InputError saying what was expected."""
    if isinstance(X, (str, os.PathLike)):
        raise InputError(
            f"ImageEncoder takes a list of image paths or an array, got the single path {str(X)!r}; "
            "for a folder use deepclust.io.read_image_folder(path) or deepclust.cluster_images(path)"
        )
    if isinstance(X, np.ndarray) or (hasattr(X, "__array__") and not isinstance(X, Sequence)):
        images = np.asarray(X)
        if images.ndim == 1 and images.dtype.kind in "UO":  # paths in an array or a pandas Series
            return _check_images(images.tolist())
        if images.ndim == 3:
            images = images[..., None]
        if images.ndim != 4 or images.shape[3] not in (1, 3, 4) or len(images) == 0:
            raise InputError(
                f"ImageEncoder: an image array must have shape (n, height, width) or (n, height, width, channels) "
                f"with 1, 3 or 4 channels and n >= 1, got {images.shape}"
            )
        if images.dtype.kind not in "uif":
            raise InputError(f"ImageEncoder: an image array must hold numbers, got dtype {images.dtype}")
        if images.dtype.kind == "f" and not np.isfinite(images).all():
            raise InputError("ImageEncoder: the image array holds NaN or infinity")
        return "array", images
    paths = list(X)
    if not paths or not all(isinstance(p, (str, os.PathLike)) for p in paths):
        raise InputError("ImageEncoder: expected a non-empty list of image file paths or an image array")
    return "paths", [str(p) for p in paths]


def _resnet18(weights: dict[str, np.ndarray], source: str) -> ResNet18Features:
    """ResNet-18 features with ``weights`` (torchvision's names; the ``fc.*`` classifier is dropped)."""
    model = ResNet18Features()
    state = {k: torch.from_numpy(np.array(v)) for k, v in weights.items() if not k.startswith("fc.")}
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as err:
        lines = str(err).strip().splitlines()
        raise InputError(f"weights from {source} do not fit torchvision's resnet18: " + " ".join(l.strip() for l in lines[:3])) from err
    return model.eval()


def cluster_images(
    images: str | os.PathLike | Sequence[str] | np.ndarray,
    n_clusters: int = 10,
    *,
    method: str = "n2d",
    random_state: int | None = 0,
    backbone: str = "pixels",
    weights: str | os.PathLike | None = None,
    image_size: int | tuple[int, int] | None = None,
    color: str = "auto",
    **method_params: Any,
) -> np.ndarray:
    """Cluster a folder of images (or a list of paths, or an image array) in one call; returns labels.

    The images are decoded by :class:`ImageEncoder` (``backbone``, ``weights``, ``image_size``,
    ``color``) and clustered by the registered deep ``method`` — by default N2D (autoencoder,
    UMAP, Gaussian mixture) on the convolutional autoencoder — with ``method_params`` passed on
    (e.g. ``pretrain_epochs=20``). bench/images.py compares methods on MNIST. For a folder the
    labels follow the sorted file order of :func:`deepclust.io.read_image_folder`. Files that
    cannot be read are skipped with a warning and labelled -1.
    """
    if isinstance(images, (str, os.PathLike)):
        images, _, _ = read_image_folder(images)
    encoder = ImageEncoder(backbone, weights=weights, image_size=image_size, color=color)
    X = encoder.fit_transform(images)
    readable = np.ones(len(X), dtype=bool)
    readable[list(encoder.skipped_)] = False
    model = get_method(method)(n_clusters=n_clusters, random_state=random_state, **{**encoder.method_params_, **method_params})
    labels = np.full(len(X), -1, dtype=np.int64)
    labels[readable] = model.fit(X[readable]).labels_
    return labels
