"""MSDM / ISDM (thesis section 6.3): one diffusion model over the stacked stems of a song (MSDM),
or one per stem (ISDM, weakly supervised), and a model of the same network over mixtures
(Table 6.1); total generation, partial generation and separation with the Dirac and Gaussian
likelihoods; supervised HDemucs / ConvTasNet baselines; Tables 6.1-6.3 and a listening page."""
