"""pix2pixHD networks (Wang et al. 2018) as Everybody Dance Now uses them: generator, discriminator, losses."""

from .discriminator import MultiscaleDiscriminator, NLayerDiscriminator
from .generator import GlobalGenerator

__all__ = ["GlobalGenerator", "MultiscaleDiscriminator", "NLayerDiscriminator"]
