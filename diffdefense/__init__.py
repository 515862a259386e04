"""DiffDefense: adversarial defence by diffusion-model reconstruction (Silva et al., 2023)."""

__version__ = "0.1.0"
