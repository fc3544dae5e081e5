"""Small training loops: a progress bar, a history of losses, sample snapshots and a divergence guard.

One module per concern; every name is importable from ``course_utils.training`` directly:

- :mod:`.history`: :class:`History`, what a run records;
- :mod:`.guards`: :class:`DivergenceGuard` and :func:`check_finite` (NaN/inf, losses exploding);
- :mod:`.loop`: :func:`train`, the generic loop (one optimizer, one loss);
- :mod:`.vae`: :func:`train_vae`, :func:`evaluate_vae` and :func:`importance_weighted_bound`, notebook 01's VAE,
  reused by 02 for the CVAE;
- :mod:`.gan`: :func:`train_gan` with :func:`discriminator_step` / :func:`generator_step` (notebook 03),
  shared by 04-05, and :func:`endless`;
- :mod:`.iterations`: :func:`gan_iteration` (04, ``d_train_iters``) and :func:`wgan_iteration` (05);
- :mod:`.cyclegan`: :func:`cyclegan_step` (06).
"""

from .cyclegan import cyclegan_step
from .gan import discriminator_step, endless, generator_step, train_gan
from .guards import DivergenceError, DivergenceGuard, check_finite
from .history import History
from .iterations import gan_iteration, wgan_iteration
from .loop import LossFn, _autocast, train
from .vae import evaluate_vae, importance_weighted_bound, train_vae

__all__ = ["DivergenceError", "DivergenceGuard", "History", "LossFn", "check_finite", "cyclegan_step",
           "discriminator_step", "endless", "evaluate_vae", "gan_iteration", "generator_step",
           "importance_weighted_bound", "train",
           "train_gan", "train_vae", "wgan_iteration"]
