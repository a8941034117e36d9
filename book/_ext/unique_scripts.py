"""Sphinx extension: each page lists each of its scripts once.

sphinx-thebe adds its inline configuration (``const THEBE_JS_URL = ...``) with
``app.add_js_file(None, body=...)`` once the HTML builder exists. Sphinx 7.4 then holds
the script twice: the builder's copy with the file name ``None``, and the registry's
copy, which ``prepare_writing`` adds again under the name ``''``. The two do not compare
equal, so every page declared the constant twice: a SyntaxError in the browser's console.
This drops a script from a page's list when one with the same file name (``None`` and
``''`` both meaning an inline script) and the same attributes, body included, came before.
"""

from __future__ import annotations

from typing import Any

from sphinx.application import Sphinx


def _script_key(script: Any) -> tuple[str, tuple[tuple[str, str], ...]]:
    """What makes two entries of ``script_files`` the same ``<script>`` tag."""
    attributes = getattr(script, "attributes", {})
    return str(getattr(script, "filename", script) or ""), tuple(sorted(attributes.items()))


def drop_repeated_scripts(app: Sphinx, pagename: str, templatename: str, context: dict[str, Any],
                          doctree: Any) -> None:
    """Keep the first of each repeated entry of the page's ``script_files``, in place."""
    scripts = context.get("script_files")
    if not scripts:
        return
    seen: set[tuple[str, tuple[tuple[str, str], ...]]] = set()
    unique = []
    for script in scripts:
        key = _script_key(script)
        if key not in seen:
            seen.add(key)
            unique.append(script)
    scripts[:] = unique


def setup(app: Sphinx) -> dict[str, bool]:
    # After the other handlers (default priority 500), which may still add scripts.
    app.connect("html-page-context", drop_repeated_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
