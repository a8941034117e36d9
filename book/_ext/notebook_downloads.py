"""Sphinx extension: each chapter's download button offers its executed ``.ipynb`` too.

sphinx-book-theme adds a ``.ipynb`` entry to a page's download button when the page's
context holds ``ipynb_source``, but it sets that only while a launch button (Binder,
JupyterHub, Colab, Thebe) is configured, and this book has none: it must work offline.
For every page written from a MyST Markdown notebook, this copies the notebook that
MyST-NB executed during the build (``<build>/jupyter_execute/<page>.ipynb``, outputs
and figures included) next to the page's source in ``_sources`` and sets
``ipynb_source``, so that readers can take away both the ``.md`` and the ``.ipynb``.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from sphinx.application import Sphinx
from sphinx.util import logging

logger = logging.getLogger(__name__)


def offer_executed_notebook(app: Sphinx, pagename: str, templatename: str, context: dict[str, Any],
                            doctree: Any) -> None:
    """Copy a notebook page's executed ``.ipynb`` into ``_sources`` and name it in the context."""
    if doctree is None or "kernelspec" not in app.env.metadata.get(pagename, {}):
        return
    if not context.get("sourcename", "").endswith((".md", ".md.txt")):
        return
    executed = Path(app.outdir).parent / "jupyter_execute" / f"{pagename}.ipynb"
    if not executed.exists():
        logger.warning("no executed notebook %s to offer for download", executed, location=pagename)
        return
    target = Path(app.outdir) / "_sources" / f"{pagename}.ipynb"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(executed, target)
    context["ipynb_source"] = f"{pagename}.ipynb"


def setup(app: Sphinx) -> dict[str, bool]:
    # Before sphinx-book-theme builds its header buttons (priority 501).
    app.connect("html-page-context", offer_executed_notebook, priority=450)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
