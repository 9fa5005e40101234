"""Encoders and decoders: dense, convolutional (images) and temporal (series) autoencoders, and the plain MLP."""

from deepclust.nn.autoencoder import Autoencoder, ConvAutoencoder, DenseAutoencoder, build_autoencoder, mlp
from deepclust.nn.temporal import TemporalAutoencoder

__all__ = ["Autoencoder", "ConvAutoencoder", "DenseAutoencoder", "TemporalAutoencoder", "build_autoencoder", "mlp"]
