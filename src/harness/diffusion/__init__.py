"""Score-based diffusion in the EDM (Karras et al. 2022) formulation, shared by every diffusion
family (MSDM / ISDM, GMSDI, CompoNet); it imports no family.

- ``edm``: the preconditioned denoiser (k-diffusion's ``Denoiser``), log-normal training noise
  levels, the Karras schedule, the weights' EMA and the training loss.
- ``unet``: the 1-D U-Net (audio-diffusion-pytorch's ``UNetV0``, the original MSDM network).
- ``scores``: score functions (thesis eq. 2.x and 6.2-6.7): the prior score from a denoiser,
  ``dirac_separation_score``, ``gaussian_separation_score`` and the partial-generation projection.
- ``samplers``: the Euler sampler with S_churn and correction rounds, and the thesis's
  inference tasks built on it (``generate``, ``generate_partial``, ``separate_dirac`` =
  Algorithm 3, ``separate_gaussian``).
"""
