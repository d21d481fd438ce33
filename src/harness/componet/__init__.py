"""CompoNet (thesis 6.5): one ControlNet adapter on a text-conditioned latent diffusion model of
mixtures for every compositional task (unconditional and accompaniment generation, separation,
adding and replacing stems), Tables 6.6-6.8."""
