"""The node's REST API under ``/v1`` (FastAPI): Sign-In with Ethereum sessions, members'
readings and balances with row-level access, community aggregates.

The node mounts the app :func:`create_app` builds; see :mod:`gridshare.api.app`.
"""

from gridshare.api.app import create_app

__all__ = ["create_app"]
