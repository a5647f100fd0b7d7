"""Eager PyTorch: the module itself is the callable (already on device, in dtype, eval).

The default backend and the reference every other backend is compared with.
"""

from avbench.backends.base import Backend

BACKEND = Backend
