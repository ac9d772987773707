"""The README documents every setting, route and error code the service has."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from batchsearch.api.app import create_app
from batchsearch.config import Settings
from batchsearch.errors import ERROR_CLASSES

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def test_every_setting_is_documented() -> None:
    missing = [f"BATCHSEARCH_{name.upper()}" for name in Settings.model_fields
               if f"`BATCHSEARCH_{name.upper()}`" not in README]
    assert not missing, f"settings missing from README's Configuration table: {missing}"


def test_every_error_code_is_documented() -> None:
    missing = [cls.error_code for cls in ERROR_CLASSES if f"`{cls.error_code}`" not in README]
    assert not missing, f"error codes missing from README's Errors section: {missing}"


@pytest.fixture(scope="module")
def routes(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[str, str]]:
    app = create_app(Settings(data_dir=tmp_path_factory.mktemp("docs")))
    paths = app.openapi()["paths"]
    found = [(method.upper(), path) for path, ops in paths.items() for method in ops]
    assert len(found) > 10, "the OpenAPI schema lists the routes"
    return found


def test_every_route_is_documented(routes: list[tuple[str, str]]) -> None:
    section = README.split("## HTTP API reference", 1)
    assert len(section) == 2, "README needs a '## HTTP API reference' section"
    documented = set(re.findall(r"`(GET|POST|PUT|PATCH|DELETE) (/[^`\s]*)`", section[1]))
    missing = [f"{m} {p}" for m, p in routes if (m, p) not in documented]
    assert not missing, f"routes missing from README's HTTP API reference: {missing}"
