"""Encoders and decoders: dense and convolutional autoencoders, and the plain MLP they are built from."""

from deepclust.nn.autoencoder import Autoencoder, ConvAutoencoder, DenseAutoencoder, build_autoencoder, mlp

__all__ = ["Autoencoder", "ConvAutoencoder", "DenseAutoencoder", "build_autoencoder", "mlp"]
