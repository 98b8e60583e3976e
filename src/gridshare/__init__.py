"""gridshare: a community renewable-energy microgrid from meter to settlement."""

__version__ = "0.1.0"
