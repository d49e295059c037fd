"""Chapter ``ncsn``: Song & Ermon (2019), noise-conditional score networks and annealed Langevin dynamics."""
