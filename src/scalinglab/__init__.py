"""scalinglab: the package behind the course on the scaling laws of language models.

One module a job, in layers whose imports point down only (``ARCHITECTURE.md`` in the
repository draws them): :mod:`scalinglab.corpora` (one file a kind of corpus),
:mod:`scalinglab.runs` (configs and results), :mod:`scalinglab.model`,
:mod:`scalinglab.inference`, :mod:`scalinglab.probes`, :mod:`scalinglab.train` and
:mod:`scalinglab.sweep` on the torch side; :mod:`scalinglab.store`,
:mod:`scalinglab.results`, :mod:`scalinglab.fit` and :mod:`scalinglab.plots` read and
fit recorded runs without torch; :mod:`scalinglab.fermi` and :mod:`scalinglab.limits`
are closed-form calculators.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("scalinglab")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
