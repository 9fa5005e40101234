"""Autoencoders that map a batch to an embedding ``z`` and back.

Every method trains one of these: the encoder gives the representation that is
clustered, the decoder gives the reconstruction loss that keeps it faithful to the data.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from deepclust.errors import InputError


class Autoencoder(nn.Module):
    """An encoder/decoder pair; ``forward`` returns ``(z, reconstruction)``.

    ``noise`` is the dropout rate applied to the *input* during training, which turns
    pretraining into denoising pretraining (as in DEC's stacked denoising autoencoder).
    """

    def __init__(self, encoder: nn.Module, decoder: nn.Module, noise: float = 0.0) -> None:
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder
        self.corrupt = nn.Dropout(noise) if noise > 0 else nn.Identity()

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = self.encoder(self.corrupt(x))
        return z, self.decoder(z)


def mlp(sizes: Sequence[int]) -> nn.Sequential:
    """Linear layers with ReLU between them and none after the last (a linear output)."""
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(n_in, n_out))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class DenseAutoencoder(Autoencoder):
    """Fully connected autoencoder ``d - hidden... - embedding_dim`` with a mirrored decoder.

    The default ``(500, 500, 2000)`` hidden sizes with a 10-d embedding are those of DEC/IDEC.
    """

    def __init__(
        self,
        input_dim: int,
        hidden_dims: Sequence[int] = (500, 500, 2000),
        embedding_dim: int = 10,
        noise: float = 0.0,
    ) -> None:
        sizes = [input_dim, *hidden_dims, embedding_dim]
        super().__init__(mlp(sizes), mlp(sizes[::-1]), noise)


class ConvAutoencoder(Autoencoder):
    """Convolutional autoencoder for image-shaped input ``(channels, height, width)``.

    Input arrives flattened (the scikit-learn convention) and is reshaped here. Each
    stage halves the spatial size with a stride-2 convolution; the decoder mirrors it with
    transposed convolutions whose output padding restores the exact input size.
    """

    def __init__(
        self,
        input_shape: Sequence[int],
        channels: Sequence[int] = (32, 64, 128),
        embedding_dim: int = 10,
        noise: float = 0.0,
    ) -> None:
        c, h, w = (int(s) for s in input_shape)
        sizes = [(h, w)]
        for _ in channels:
            sizes.append(((sizes[-1][0] + 1) // 2, (sizes[-1][1] + 1) // 2))
        widths = [c, *channels]
        conv: list[nn.Module] = [nn.Unflatten(1, (c, h, w))]
        for n_in, n_out in zip(widths[:-1], widths[1:]):
            conv += [nn.Conv2d(n_in, n_out, 3, stride=2, padding=1), nn.ReLU()]
        flat = channels[-1] * sizes[-1][0] * sizes[-1][1]
        encoder = nn.Sequential(*conv, nn.Flatten(), nn.Linear(flat, embedding_dim))

        deconv: list[nn.Module] = [
            nn.Linear(embedding_dim, flat),
            nn.ReLU(),
            nn.Unflatten(1, (channels[-1], *sizes[-1])),
        ]
        for i in range(len(channels), 0, -1):
            (h_in, w_in), (h_out, w_out) = sizes[i], sizes[i - 1]
            padding = (h_out - (2 * h_in - 1), w_out - (2 * w_in - 1))
            deconv.append(
                nn.ConvTranspose2d(widths[i], widths[i - 1], 3, stride=2, padding=1, output_padding=padding)
            )
            if i > 1:
                deconv.append(nn.ReLU())
        decoder = nn.Sequential(*deconv, nn.Flatten())
        super().__init__(encoder, decoder, noise)


def build_autoencoder(
    architecture: str,
    n_features: int,
    *,
    hidden_dims: Sequence[int],
    embedding_dim: int,
    input_shape: Sequence[int] | None,
    noise: float,
) -> Autoencoder:
    """Build the autoencoder a method's parameters describe, checking they fit the data."""
    if architecture == "dense":
        return DenseAutoencoder(n_features, hidden_dims, embedding_dim, noise)
    if architecture == "conv":
        if input_shape is None or len(input_shape) not in (2, 3):
            raise InputError(
                "architecture='conv' needs input_shape=(height, width) or (channels, height, width); "
                f"got input_shape={input_shape!r}"
            )
        shape = tuple(input_shape) if len(input_shape) == 3 else (1, *input_shape)
        if int(torch.tensor(shape).prod()) != n_features:
            raise InputError(f"input_shape={shape} holds {int(torch.tensor(shape).prod())} values per sample, but X has {n_features} features")
        return ConvAutoencoder(shape, embedding_dim=embedding_dim, noise=noise)
    if architecture == "temporal":
        from deepclust.nn.temporal import TemporalAutoencoder  # imports this module: import here, not at the top

        if input_shape is None or len(input_shape) not in (1, 2):
            raise InputError(
                "architecture='temporal' needs input_shape=(length,) or (channels, length); "
                f"got input_shape={input_shape!r}"
            )
        shape = tuple(int(s) for s in input_shape) if len(input_shape) == 2 else (1, int(input_shape[0]))
        if shape[0] * shape[1] != n_features:
            raise InputError(f"input_shape={shape} holds {shape[0] * shape[1]} values per series, but X has {n_features} features")
        return TemporalAutoencoder(shape, embedding_dim=embedding_dim, noise=noise)
    raise InputError(f"architecture must be 'dense', 'conv' or 'temporal', got {architecture!r}")
