"""``"package_code"``: real code at scale, the installed packages' Python source without its docstrings.

The same modules as the ``"docstrings"`` kind, read by the same extraction (see
:mod:`scalinglab.corpora.docstrings`, which documents both): each module's source with
the lines of its docstrings removed, comments kept, one document a module, with its own
disk cache and identity. The course's environment holds 133M bytes of it; the
universality experiment's runs use the first 35M.
"""

from __future__ import annotations

from .docstrings import extracted_kind

KIND = extracted_kind("package_code", "Python source of the installed packages", "source")
