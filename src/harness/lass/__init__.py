"""LASS: latent autoregressive source separation on images (thesis ch. 5)."""
