"""The root of every gridshare exception.

Each package raises subclasses of :class:`GridshareError` whose message tells the
user what is wrong and what to do about it.
"""

__all__ = ["ConfigurationError", "DataError", "GridshareError"]


class GridshareError(Exception):
    """Base class of all errors raised by gridshare on purpose."""


class ConfigurationError(GridshareError):
    """A setting, scenario or file the user supplied is not usable."""


class DataError(GridshareError):
    """Data (readings, profiles, weather) violates an invariant."""
