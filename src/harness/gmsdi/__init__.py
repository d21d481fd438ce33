"""GMSDI (thesis section 6.4): Generalized Multi-Source Diffusion Inference. One text-conditioned
time-domain diffusion model, trained on mixtures and the labels of the stems they contain, is
used for total generation (eqs. 6.13 / 6.14), partial generation (eq. 6.15) and zero-shot source
separation (the Separator, eq. 6.16, and the Extractor, eq. 6.17); Tables 6.4-6.5 and Figures
6.4-6.5, and listening examples on the MSDM page."""
