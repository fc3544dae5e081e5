"""Students' self-checks, one module per notebook. Each prints one fixed line on success and raises
:class:`CheckError` with expected vs got and a hint on failure."""

from ._core import CheckError
from .nb01_vae import (check_decoder, check_encoder, check_gradient_estimators, check_kl_divergence,
                       check_reparameterize, check_vae_loss)
from .nb02_cvae import check_condition_on_label, check_cvae, check_cvae_loss, check_one_hot
from .nb03_gan import check_gan_losses, check_gan_steps, check_mlp_gan
from .nb04_dcgan import (check_dc_discriminator, check_dc_generator, check_gan_iteration, check_lsgan_losses,
                         check_power_iteration)
from .nb05_wgan import check_clip_weights, check_gradient_penalty, check_wgan_iteration, check_wgan_losses
from .nb06_cyclegan import (check_cycle_losses, check_cyclegan_step, check_edge_correlation, check_image_pool,
                            check_patch_discriminator, check_residual_block, check_resnet_generator)
from .nb07_evaluation import check_frechet_distance, check_kid, check_precision_recall
from .nb08_stylegan import check_adain, check_mapping_network, check_noise_injection

__all__ = [
    "CheckError",
    # 01
    "check_decoder", "check_encoder", "check_gradient_estimators", "check_kl_divergence", "check_reparameterize",
    "check_vae_loss",
    # 02
    "check_condition_on_label", "check_cvae", "check_cvae_loss", "check_one_hot",
    # 03
    "check_gan_losses", "check_gan_steps", "check_mlp_gan",
    # 04
    "check_dc_discriminator", "check_dc_generator", "check_gan_iteration", "check_lsgan_losses", "check_power_iteration",
    # 05
    "check_clip_weights", "check_gradient_penalty", "check_wgan_iteration", "check_wgan_losses",
    # 06
    "check_cycle_losses", "check_cyclegan_step", "check_image_pool", "check_patch_discriminator", "check_residual_block",
    "check_resnet_generator", "check_edge_correlation",
    # 07
    "check_frechet_distance", "check_kid", "check_precision_recall",
    # 08
    "check_adain", "check_mapping_network", "check_noise_injection",
]
