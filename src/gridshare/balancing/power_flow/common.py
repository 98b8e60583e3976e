"""What the power-flow modules share: array types, pandapower's network type, the error."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from gridshare.errors import DataError

ComplexArray = NDArray[np.complex128]
PandapowerNet = Any
"""A ``pandapower.auxiliary.pandapowerNet`` (pandapower ships no type information)."""


class PowerFlowError(DataError):
    """A network, a member mapping or an injection the power flow cannot use."""
