"""The web dashboard at /ui: served with strict security headers, and driven in a real headless Chromium
against a real `batchsearch serve` (sign in, upload and validate, watch, open a line, cancel, search, the
knowledge graph, another tenant's job), with no console errors on any page."""

from __future__ import annotations

import http.client
import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from batch_servers import BatchClient
from dashboard_server import ARTIFACTS, CHROMIUM_ARGS, WIDE, ConsoleWatch, ServeProcess, build_data_dir, \
    chromium_or_skip, screenshot, unlabelled_controls

STATIC_ROOT = Path(__file__).resolve().parents[1] / "src" / "batchsearch" / "dashboard" / "static"
WORDS = "contract revenue guidance demand margin outlook shares market analyst lawsuit merger".split()


@pytest.fixture(scope="module")
def serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    """One real `batchsearch serve` for the module, over a small generated index."""
    index = build_data_dir(tmp_path_factory.mktemp("dashboard-index"))
    server = ServeProcess(index, tmp_path_factory.mktemp("dashboard-serve"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def keys(serve: ServeProcess) -> dict[str, str]:
    """An API key for each of two tenants."""
    return {"alice": serve.create_key("alice"), "bob": serve.create_key("bob")}


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless system Chromium through Playwright (nothing is downloaded)."""
    executable = chromium_or_skip()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[tuple[Any, ConsoleWatch]]:
    """A fresh browser context (empty sessionStorage) and page at 1280x800; no console errors allowed."""
    context = browser.new_context(viewport=WIDE)
    context.set_default_timeout(15_000)
    tab = context.new_page()
    watch = ConsoleWatch(tab)
    yield tab, watch
    context.close()
    assert not watch.unexpected(), f"console errors: {watch.unexpected()}"


def sign_in(tab: Any, base_url: str, key: str) -> None:
    tab.goto(f"{base_url}/ui/")
    tab.get_by_test_id("api-key-input").fill(key)
    tab.get_by_test_id("sign-in").click()
    tab.get_by_role("heading", name="Jobs").wait_for()


def batch_file(n: int, bad_lines: tuple[int, ...]) -> bytes:
    """n search lines; the lines in bad_lines are invalid (malformed JSON, max_chunks out of range)."""
    rng = random.Random(9)
    lines = []
    for i in range(1, n + 1):
        if i == bad_lines[0]:
            lines.append('{"query": {"text": "unterminated')
        elif i in bad_lines:
            lines.append(json.dumps({"query": {"text": "too many chunks", "max_chunks": 5000}}))
        else:
            lines.append(json.dumps({"query": {"text": " ".join(rng.sample(WORDS, 3)), "max_chunks": 3}}))
    return ("\n".join(lines) + "\n").encode()


# --- plain HTTP: headers, content types, traversal ------------------------------------------------


def test_pages_carry_a_strict_content_security_policy(serve: ServeProcess) -> None:
    for path in ("/ui", "/ui/"):
        response = httpx.get(serve.base_url + path)
        assert response.status_code == 200 and response.headers["content-type"] == "text/html; charset=utf-8"
        policy = response.headers["content-security-policy"]
        for directive in ("default-src 'self'", "script-src 'self'", "style-src 'self'", "connect-src 'self'",
                          "img-src 'self' data:", "frame-ancestors 'none'", "object-src 'none'", "base-uri 'none'"):
            assert directive in policy
        assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "no-referrer"
        assert "<script type=\"module\" src=\"/ui/static/js/app.js\"></script>" in response.text
    schema = httpx.get(serve.base_url + "/openapi.json").json()
    assert not [p for p in schema["paths"] if p.startswith("/ui")]


def test_no_inline_script_or_style_in_the_package() -> None:
    html = (STATIC_ROOT / "index.html").read_text()
    assert "<style" not in html and " style=" not in html and "<script>" not in html
    for script in (STATIC_ROOT / "js").rglob("*.js"):
        text = script.read_text()
        assert "innerHTML" not in text and "insertAdjacentHTML" not in text and "eval(" not in text, script


@pytest.mark.parametrize(("path", "content_type"), [
    ("/ui/static/js/app.js", "text/javascript; charset=utf-8"),
    ("/ui/static/js/pages/job.js", "text/javascript; charset=utf-8"),
    ("/ui/static/app.css", "text/css; charset=utf-8"),
    ("/ui/static/vendor/uplot/uPlot.esm.js", "text/javascript; charset=utf-8"),
    ("/ui/static/vendor/uplot/uPlot.min.css", "text/css; charset=utf-8"),
    ("/ui/static/favicon.svg", "image/svg+xml"),
])
def test_assets_are_served_with_their_content_type(serve: ServeProcess, path: str, content_type: str) -> None:
    response = httpx.get(serve.base_url + path)
    assert response.status_code == 200
    assert response.headers["content-type"] == content_type
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "content-security-policy" in response.headers


@pytest.mark.parametrize("path", [
    "/ui/static/../routes.py", "/ui/static/%2e%2e/routes.py", "/ui/static/..%2froutes.py",
    "/ui/static/%2e%2e/%2e%2e/dashboard/routes.py", "/ui/static/..%2f..%2f..%2fconfig.py", "/ui/static//etc/passwd",
    "/ui/static/%2fetc%2fpasswd", "/ui/static/js/..%5c..%5croutes.py", "/ui/static/", "/ui/static/js",
    "/ui/static/vendor/uplot/LICENSE", "/ui/static/app.css%00.js",
])
def test_paths_outside_the_static_files_are_refused(serve: ServeProcess, path: str) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", serve.port, timeout=10)
    connection.request("GET", path)  # sent as written: no client-side normalisation of the dots
    response = connection.getresponse()
    body = response.read()
    connection.close()
    assert response.status == 404, (path, response.status)
    assert b"def " not in body and b"root:" not in body


# --- in the browser -------------------------------------------------------------------------------


def test_sign_in_shows_the_servers_message_for_a_wrong_key(serve: ServeProcess, keys: dict[str, str],
                                                           page: tuple[Any, ConsoleWatch]) -> None:
    tab, watch = page
    watch.allow_failed_request(403, "/v1/search/batches")
    tab.goto(f"{serve.base_url}/ui/#/jobs")
    tab.get_by_test_id("api-key-input").fill("not-a-key")
    tab.get_by_test_id("sign-in").click()
    tab.get_by_role("alert").get_by_text("Invalid API key").wait_for()
    assert not unlabelled_controls(tab)
    screenshot(tab, "sign-in")
    tab.get_by_test_id("api-key-input").fill(keys["alice"])
    tab.get_by_test_id("api-key-input").press("Enter")  # the form works from the keyboard
    tab.get_by_role("heading", name="Jobs").wait_for()
    assert tab.evaluate("sessionStorage.getItem('batchsearch.apiKey')") == keys["alice"]
    assert tab.evaluate("localStorage.length") == 0
    assert not [url for url in watch.request_urls if keys["alice"] in url or "not-a-key" in url]


def test_upload_validate_submit_and_watch_it_complete(serve: ServeProcess, keys: dict[str, str],
                                                      page: tuple[Any, ConsoleWatch], tmp_path: Path) -> None:
    tab, watch = page
    sign_in(tab, serve.base_url, keys["alice"])
    tab.get_by_role("link", name="New batch").first.click()
    upload = tmp_path / "queries.jsonl"
    upload.write_bytes(batch_file(200, bad_lines=(17, 150)))
    tab.get_by_test_id("new-batch-file").set_input_files(str(upload))
    problems = tab.get_by_test_id("validate-problems")
    problems.wait_for()
    rows = problems.get_by_test_id("problem-row")
    assert rows.count() == 2
    assert rows.nth(0).locator("td").first.inner_text() == "17"
    assert rows.nth(1).locator("td").first.inner_text() == "150"
    assert "max_chunks" in rows.nth(1).inner_text()
    assert not unlabelled_controls(tab)
    screenshot(tab, "new-batch")
    tab.get_by_label("Priority").fill("5")
    tab.get_by_label("Idempotency key").fill("dashboard-test-upload")
    tab.get_by_test_id("submit-batch").click()
    tab.wait_for_url("**/ui/#/jobs/*")
    batch_id = tab.url.rsplit("/", 1)[-1]
    tab.locator(".page-head").get_by_test_id("job-status").filter(has_text="completed").wait_for(timeout=60_000)
    assert tab.locator("[data-outcome=errored] strong").inner_text() == "2"
    assert tab.locator("[data-outcome=succeeded] strong").inner_text() == "198"
    assert BatchClient(serve.base_url, keys["alice"]).status(batch_id)["priority"] == 5

    lines = tab.get_by_test_id("results-row")
    lines.first.wait_for()
    assert lines.count() == 25  # one page
    assert lines.first.get_attribute("data-line") == "1"
    tab.get_by_role("button", name="Next →").click()
    tab.locator("[data-testid=results-row][data-line='26']").wait_for()
    tab.get_by_label("Line status").select_option("error")
    tab.locator("[data-testid=results-row][data-line='150']").wait_for()
    tab.get_by_label("Line status").select_option("")
    tab.get_by_role("button", name="Open line 1", exact=True).click()
    detail = tab.get_by_test_id("line-detail")
    detail.get_by_test_id("line-document").first.wait_for()
    assert detail.locator(".chunk").count() >= 1
    assert detail.locator(".chunk-meta").first.inner_text().count("relevance") == 1
    assert detail.locator("mark").count() >= 1  # highlighted terms or entities
    assert tab.get_by_test_id("download-output").get_attribute("href").startswith(serve.base_url + "/files/")
    assert not unlabelled_controls(tab)
    screenshot(tab, "job")
    tab.set_viewport_size(WIDE)
    tab.locator("h1").scroll_into_view_if_needed()
    tab.screenshot(path=str(ARTIFACTS / "job-top-1280x800.png"))

    tab.get_by_role("link", name="Jobs", exact=True).first.click()
    row = tab.locator(f"[data-testid=job-row][data-batch-id='{batch_id}']")
    row.get_by_test_id("job-status").filter(has_text="completed").wait_for()
    assert "200 / 200" in row.inner_text()
    assert not unlabelled_controls(tab)
    screenshot(tab, "jobs")
    assert not [url for url in watch.request_urls if keys["alice"] in url]


def test_jobs_list_pages_with_the_cursor_filters_and_deletes(serve: ServeProcess, page: tuple[Any, ConsoleWatch]) -> None:
    tab, _ = page
    key = serve.create_key("carol")
    client = BatchClient(serve.base_url, key)
    finished = client.submit(batch_file(3, bad_lines=(3,)))
    assert client.wait(finished)["status"] == "completed"
    waiting = [client.http.post("/v1/search/batches").json()["batch_id"] for _ in range(21)]  # never uploaded
    sign_in(tab, serve.base_url, key)
    rows = tab.get_by_test_id("job-row")
    rows.nth(19).wait_for()
    assert rows.count() == 20 and rows.first.get_attribute("data-batch-id") == waiting[-1]  # newest first
    tab.get_by_role("button", name="Older →").click()
    tab.locator(f"[data-testid=job-row][data-batch-id='{finished}']").wait_for()
    assert rows.count() == 2 and tab.get_by_role("button", name="Older →").is_disabled()
    tab.get_by_role("button", name="← Newer").click()
    tab.locator(f"[data-testid=job-row][data-batch-id='{waiting[-1]}']").wait_for()
    tab.get_by_label("Status").select_option("completed")
    tab.locator(f"[data-testid=job-row][data-batch-id='{waiting[-1]}']").wait_for(state="detached")
    assert rows.count() == 1 and rows.first.get_attribute("data-batch-id") == finished
    rows.first.get_by_role("link").click()
    tab.get_by_test_id("delete-job").click()
    tab.get_by_role("button", name="Click again to delete").click()
    tab.get_by_role("heading", name="Jobs").wait_for()
    assert client.http.get(f"/v1/search/batches/{finished}").status_code == 404


def test_cancel_a_long_job_keeps_its_finished_lines(serve: ServeProcess, keys: dict[str, str],
                                                    page: tuple[Any, ConsoleWatch]) -> None:
    tab, _ = page
    client = BatchClient(serve.base_url, keys["alice"])
    batch_id = client.submit(batch_file(20_000, bad_lines=(5,)))
    client.wait(batch_id, lines_done=1, timeout=60)
    sign_in(tab, serve.base_url, keys["alice"])
    tab.locator(f"[data-testid=job-row][data-batch-id='{batch_id}']").get_by_role("link").click()
    tab.locator(".page-head").get_by_test_id("job-status").filter(has_text="processing").wait_for()
    tab.get_by_test_id("results-row").first.wait_for()
    tab.wait_for_timeout(6500)  # a few polls: the throughput chart has points
    assert tab.locator(".chart canvas").count() == 1
    assert not unlabelled_controls(tab)
    screenshot(tab, "job-running")
    tab.get_by_test_id("cancel-job").click()
    tab.locator(".page-head").get_by_test_id("job-status").filter(has_text="cancelled").wait_for(timeout=60_000)
    status = client.status(batch_id)
    assert status["status"] == "cancelled" and 0 < status["lines_done"] < 20_000
    assert tab.get_by_test_id("results-row").count() == 25
    assert tab.get_by_test_id("cancel-job").is_disabled()
    tab.get_by_test_id("download-output").wait_for()  # polled until the finished lines' output is written
    assert not unlabelled_controls(tab)
    screenshot(tab, "job-cancelled")


def test_search_with_an_entity_chosen_from_autocomplete(serve: ServeProcess, keys: dict[str, str],
                                                        page: tuple[Any, ConsoleWatch]) -> None:
    tab, _ = page
    entity = an_indexed_company(serve.base_url, keys["alice"])
    sign_in(tab, serve.base_url, keys["alice"])
    tab.get_by_role("link", name="Search", exact=True).click()
    tab.get_by_test_id("entity-input").type(entity["name"][:5], delay=30)
    option = tab.get_by_test_id("entity-input-option").filter(has_text=entity["id"])
    option.wait_for()
    option.click()
    tab.get_by_role("button", name=f"Remove {entity['name']} ({entity['id']}) · any of").wait_for()
    source = tab.get_by_test_id("source-input")  # the keyboard path: type, arrow down, Enter
    source.type(entity["source"][:6], delay=30)
    tab.get_by_test_id("source-input-option").first.wait_for()
    source.press("ArrowDown")
    source.press("ArrowUp")
    source.press("Enter")
    tab.get_by_role("list", name="Chosen sources").get_by_text(entity["source"]).wait_for()
    tab.get_by_role("button", name=f"Remove {entity['source']}", exact=False).press("Enter")  # removed again
    assert tab.get_by_role("list", name="Chosen sources").locator("li").count() == 0
    body = json.loads(tab.get_by_test_id("request-body").inner_text())
    assert body["query"]["filters"] == {"entity": {"any_of": [entity["id"]]}}
    tab.get_by_test_id("search-input").fill("revenue")
    tab.get_by_test_id("search-submit").click()
    results = tab.get_by_test_id("search-result")
    results.first.wait_for()
    assert results.count() >= 1
    assert results.first.locator("mark.entity").count() >= 1
    assert "$BATCHSEARCH_API_KEY" in tab.locator("pre").nth(1).inner_text()
    tab.get_by_role("button", name="Copy as curl").click()  # no clipboard permission here: it selects the text
    tab.locator("#toast").get_by_text("Cop").or_(tab.locator("#toast").get_by_text("Selected")).wait_for()
    assert keys["alice"] not in tab.content()
    assert not unlabelled_controls(tab)
    screenshot(tab, "search")


def test_knowledge_graph_browser_finds_a_company_and_its_identifier(serve: ServeProcess, keys: dict[str, str],
                                                                    page: tuple[Any, ConsoleWatch]) -> None:
    tab, _ = page
    sign_in(tab, serve.base_url, keys["alice"])
    tab.get_by_role("link", name="Knowledge graph").click()
    tab.get_by_test_id("kg-company-input").fill("Bayer")
    tab.get_by_test_id("kg-company-input").press("Enter")
    first = tab.get_by_test_id("kg-company-row").first
    first.wait_for()
    assert "Bayer" in first.inner_text()
    isin = httpx.post(f"{serve.base_url}/v1/knowledge-graph/companies", json={"query": "Bayer"},
                      headers={"X-API-KEY": keys["alice"]}).json()["results"][0]["isin_values"][0]
    tab.get_by_test_id("kg-id-input").fill(f"{isin}\nXX0000000000")
    tab.get_by_test_id("kg-id-submit").click()
    rows = tab.get_by_test_id("kg-id-row")
    rows.nth(1).wait_for()
    assert "Bayer" in rows.nth(0).inner_text() and "not found" in rows.nth(1).inner_text()
    assert not unlabelled_controls(tab)
    screenshot(tab, "knowledge-graph")
    first_search = rows.nth(0).get_by_role("button", name="Search news about Bayer")
    first_search.click()
    tab.get_by_role("heading", name="Search playground").wait_for()
    assert "Bayer" in tab.get_by_role("list", name="Chosen entities").inner_text()


def test_another_tenants_job_shows_the_apis_404(serve: ServeProcess, keys: dict[str, str],
                                                page: tuple[Any, ConsoleWatch]) -> None:
    tab, watch = page
    batch_id = BatchClient(serve.base_url, keys["alice"]).submit(batch_file(3, bad_lines=(2,)))
    watch.allow_failed_request(404, f"/v1/search/batches/{batch_id}")
    sign_in(tab, serve.base_url, keys["bob"])
    assert tab.locator(f"[data-batch-id='{batch_id}']").count() == 0
    tab.goto(f"{serve.base_url}/ui/#/jobs/{batch_id}")
    tab.get_by_role("alert").get_by_text(f"Batch job {batch_id} not found").wait_for()
    assert tab.get_by_test_id("results-row").count() == 0
    assert not unlabelled_controls(tab)
    screenshot(tab, "other-tenant")


def an_indexed_company(base_url: str, key: str) -> dict[str, str]:
    """A company detected in an indexed chunk, with its name from the knowledge graph, and a source's name."""
    headers = {"X-API-KEY": key}
    answer = httpx.post(f"{base_url}/v1/search", headers=headers,
                        json={"query": {"text": "revenue", "max_chunks": 20, "auto_enrich_filters": False}}).json()
    ids = [d["id"] for doc in answer["results"] for chunk in doc["chunks"] for d in chunk["detections"]]
    found = httpx.post(f"{base_url}/v1/knowledge-graph/entities/id", headers=headers, json={"values": ids[:100]}).json()
    companies = [e for e in found["results"].values() if e.get("category") == "companies" and len(e["name"]) >= 5]
    assert companies, "the generated corpus mentions companies"
    return {"id": companies[0]["id"], "name": companies[0]["name"], "source": answer["results"][0]["source"]["name"]}


def test_the_demo_prints_the_dashboard_url(tmp_path: Path) -> None:
    from rich.console import Console

    from batchsearch.config import Settings
    from batchsearch.demo import DemoFiles, print_next_steps

    console = Console(record=True, width=200)
    settings = Settings(data_dir=tmp_path, host="127.0.0.1", port=8123)
    print_next_steps(settings, "the-key", DemoFiles(tmp_path / "demo"), [], console)
    assert "Dashboard (sign in with the API key above): http://127.0.0.1:8123/ui" in console.export_text()


def test_the_policy_lets_uploads_reach_the_object_store_only() -> None:
    from batchsearch.config import Settings
    from batchsearch.dashboard.routes import security_headers

    def connect_src(**settings: Any) -> str:
        policy = security_headers(Settings(data_dir=Path("unused"), **settings))["Content-Security-Policy"]
        return next(d for d in policy.split("; ") if d.startswith("connect-src"))

    assert connect_src() == "connect-src 'self'"
    assert connect_src(public_url="https://search.example.com/base/") == "connect-src 'self' https://search.example.com"
    assert connect_src(object_store_url="s3://bucket/prefix", s3_endpoint_url="http://127.0.0.1:9000") \
        == "connect-src 'self' http://127.0.0.1:9000"
    assert connect_src(object_store_url="s3://bucket/prefix") == "connect-src 'self' https://*.amazonaws.com"
