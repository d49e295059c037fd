"""Chapter ``score_sde``: Song et al. (2021), Score-Based Generative Modeling through SDEs."""
