"""scalinglab: the package behind the course on the scaling laws of language models.

One module a job (see ``DESIGN.md``): :mod:`scalinglab.fermi` holds closed-form
estimates, :mod:`scalinglab.mode` the fast/full switch, :mod:`scalinglab.plots` the
figure style.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("scalinglab")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
