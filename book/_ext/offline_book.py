"""Sphinx extension: the rendered book loads nothing from the network and logs no console error.

- sphinx-thebe (which Jupyter Book always enables) adds a script naming a CDN copy of thebe, twice
  (a console ``SyntaxError``); the book has no live code, so both are dropped from every page.
- The theme needs a colour mode; without one it logs an error on every page. The book is light.
"""

from __future__ import annotations

from typing import Any

from sphinx.application import Sphinx


def _is_thebe(script: Any) -> bool:
    filename = str(getattr(script, "filename", script) or "")
    body = str(getattr(script, "attributes", {}).get("body", ""))
    return "thebe" in filename or "THEBE_JS_URL" in body


def _drop_thebe(app: Sphinx, pagename: str, templatename: str, context: dict, doctree: Any) -> None:
    if "script_files" in context:
        context["script_files"] = [s for s in context["script_files"] if not _is_thebe(s)]


def _light_mode(app: Sphinx, config: Any) -> None:
    config.html_context = {**(config.html_context or {}), "default_mode": "light"}


def setup(app: Sphinx) -> dict:
    app.connect("config-inited", _light_mode)
    app.connect("html-page-context", _drop_thebe, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
