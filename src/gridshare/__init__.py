"""gridshare: a community renewable-energy microgrid from meter to settlement."""

__all__ = ["__version__"]

__version__ = "0.1.0"
