"""Encoders and decoders: dense and convolutional autoencoders."""

from deepclust.nn.autoencoder import Autoencoder, ConvAutoencoder, DenseAutoencoder, build_autoencoder

__all__ = ["Autoencoder", "ConvAutoencoder", "DenseAutoencoder", "build_autoencoder"]
