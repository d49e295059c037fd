"""Chapter ``score_matching``: Hyvärinen (2005), Vincent (2011), Song et al. (2019, sliced)."""
