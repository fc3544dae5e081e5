"""Models of the course, one module per family: ``vae`` (01), ``cvae`` (02), ``gan`` (03), ``cyclegan`` (06),
``classifier`` (scores generated digits)."""

from .cvae import CVAE, condition_on_label, one_hot
from .vae import VAE, ConvEncoder, MLPDecoder, MLPEncoder, notebook01_vae, reparameterize

__all__ = ["CVAE", "condition_on_label", "one_hot", "VAE", "ConvEncoder", "MLPDecoder", "MLPEncoder", "notebook01_vae",
           "reparameterize"]
