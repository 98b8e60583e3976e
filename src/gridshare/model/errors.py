"""Errors of the domain model."""

from gridshare.errors import DataError


class ModelError(DataError):
    """A model object would violate an invariant (negative capacity, unknown id, ...)."""
