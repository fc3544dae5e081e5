"""Students' self-checks, one module per notebook. Each prints one fixed line on success and raises
:class:`CheckError` with expected vs got and a hint on failure."""

from ._core import CheckError
from .nb01_vae import (check_decoder, check_encoder, check_gradient_estimators, check_kl_divergence,
                       check_reparameterize, check_vae_loss)
from .nb02_cvae import check_condition_on_label, check_cvae, check_cvae_loss, check_one_hot
from .nb03_gan import check_gan_losses, check_gan_steps, check_mlp_gan

__all__ = [
    "CheckError",
    # 01
    "check_decoder", "check_encoder", "check_gradient_estimators", "check_kl_divergence", "check_reparameterize",
    "check_vae_loss",
    # 02
    "check_condition_on_label", "check_cvae", "check_cvae_loss", "check_one_hot",
    # 03
    "check_gan_losses", "check_gan_steps", "check_mlp_gan",
]
