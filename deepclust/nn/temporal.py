"""A 1-D convolutional autoencoder for time series.

Series arrive flattened, channel by channel (the layout ``deepclust.embed.SeriesEncoder``
produces), and are reshaped here to ``(channels, length)``. Each stage halves the length with
a stride-2 convolution; the decoder mirrors it with transposed convolutions whose output
padding restores the exact length, as :class:`~deepclust.nn.autoencoder.ConvAutoencoder`
does for images.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from deepclust.nn.autoencoder import Autoencoder


class TemporalAutoencoder(Autoencoder):
    """1-D convolutional autoencoder for series of shape ``(channels, length)``.

    Parameters
    ----------
    input_shape : (channels, length)
    channels : widths of the convolution stages; each halves the length.
    kernel_size : odd width of every convolution, in time steps.
    embedding_dim : size of ``z``.
    noise : input dropout rate while training (denoising).
    """

    def __init__(
        self,
        input_shape: Sequence[int],
        channels: Sequence[int] = (16, 32, 64),
        kernel_size: int = 7,
        embedding_dim: int = 10,
        noise: float = 0.0,
    ) -> None:
        c, length = (int(s) for s in input_shape)
        pad = kernel_size // 2
        lengths = [length]
        for _ in channels:
            lengths.append((lengths[-1] + 1) // 2)
        widths = [c, *channels]
        conv: list[nn.Module] = [nn.Unflatten(1, (c, length))]
        for n_in, n_out in zip(widths[:-1], widths[1:]):
            conv += [nn.Conv1d(n_in, n_out, kernel_size, stride=2, padding=pad), nn.ReLU()]
        flat = channels[-1] * lengths[-1]
        encoder = nn.Sequential(*conv, nn.Flatten(), nn.Linear(flat, embedding_dim))

        deconv: list[nn.Module] = [nn.Linear(embedding_dim, flat), nn.ReLU(), nn.Unflatten(1, (channels[-1], lengths[-1]))]
        for i in range(len(channels), 0, -1):
            # A stride-2 transposed convolution gives 2 * n - 1 steps; output_padding adds the odd one back.
            extra = lengths[i - 1] - (2 * lengths[i] - 1)
            deconv.append(nn.ConvTranspose1d(widths[i], widths[i - 1], kernel_size, stride=2, padding=pad, output_padding=extra))
            if i > 1:
                deconv.append(nn.ReLU())
        decoder = nn.Sequential(*deconv, nn.Flatten())
        super().__init__(encoder, decoder, noise)
