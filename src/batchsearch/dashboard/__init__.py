"""The web dashboard: a static single-page app over the JSON API, served at /ui from package files."""

from batchsearch.dashboard.routes import install_dashboard

__all__ = ["install_dashboard"]
