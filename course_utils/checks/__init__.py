"""Students' self-checks, one module per notebook. Each prints one fixed line on success and raises
:class:`CheckError` with expected vs got and a hint on failure."""

from ._core import CheckError
from .nb01_vae import (check_decoder, check_encoder, check_gradient_estimators, check_kl_divergence,
                       check_reparameterize, check_vae_loss)

__all__ = ["CheckError", "check_decoder", "check_encoder", "check_gradient_estimators", "check_kl_divergence",
           "check_reparameterize", "check_vae_loss"]
