"""vton: virtual try-on from scratch (preprocess -> flow warp -> latent diffusion) and its lab."""

__version__ = "0.1.0"
