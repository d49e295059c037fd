"""Chapter ddpm: Ho, Jain & Abbeel (2020), Denoising Diffusion Probabilistic Models."""
