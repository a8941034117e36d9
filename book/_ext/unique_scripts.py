"""Sphinx extension: each page's scripts listed once.

sphinx-thebe registers its inline configuration script in a handler that runs each time
Sphinx reads the sources, and Jupyter Book 1 reads them twice, so every page declared
``const THEBE_JS_URL`` twice: a SyntaxError in the browser's console. This drops repeated
entries from a page's script list before the page is written.
"""

from __future__ import annotations

from typing import Any


def _unique_scripts(app: Any, pagename: str, templatename: str, context: dict[str, Any], doctree: Any) -> None:
    scripts = context.get("script_files")
    if not scripts:
        return
    seen: set[tuple[str, str]] = set()
    unique = []
    for script in scripts:
        key = (str(script), str(getattr(script, "attributes", {}).get("body", "")))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    context["script_files"] = unique


def setup(app: Any) -> dict[str, bool]:
    app.connect("html-page-context", _unique_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
