"""Models of the course, one module per family (``vae`` from notebook 01)."""

from .vae import VAE, ConvEncoder, MLPDecoder, reparameterize

__all__ = ["VAE", "ConvEncoder", "MLPDecoder", "reparameterize"]
