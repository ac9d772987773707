"""Validation before running: POST /v1/search/batches/validate and `validate_first` on create."""

from __future__ import annotations

import json

import pytest

from batchsearch.errors import FieldProblem
from batchsearch.jobs.validation import Problem, line_problem

from batch_fakes import AsgiBatches, jsonl

pytestmark = pytest.mark.anyio
MIXED = b"\n".join([
    b'{"custom_id": "a", "query": {"text": "tariffs", "max_chunks": 25}}',
    b'{"custom_id": "b", "query": {"text": "x", "max_chunks": 5000}}',
    b"{broken",
    b'{"custom_id": "a", "query": {"text": "again"}}',
    b'{"custom_id": "no spaces", "query": {"text": "y"}}',
    b"",
    b'{"query": {"text": "z", "max_chunks": 3, "filters": {"nope": 1}}}',
]) + b"\n"


BATCH_SETTINGS = {"batch_max_lines": 100, "batch_max_bytes": 8 * 1024 * 1024}  # for the shared `api` fixture


async def validate(api: AsgiBatches, content: bytes, content_type: str = "application/jsonl") -> dict:  # type: ignore[type-arg]
    response = await api.client.post("/v1/search/batches/validate", content=content,
                                     headers={"Content-Type": content_type})
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def test_a_file_body_gets_every_problem_by_line_and_field(api: AsgiBatches) -> None:
    report = await validate(api, MIXED)
    assert report["valid"] is False
    assert (report["lines_total"], report["lines_valid"], report["lines_invalid"]) == (7, 2, 5)
    fields = {(p["line"], p["field"]) for p in report["problems"]}
    assert fields == {(2, "query.max_chunks"), (3, "body"), (5, "custom_id"), (6, "body"), (7, "query.filters.nope")}
    assert all(p["message"] for p in report["problems"])
    assert report["duplicate_custom_ids"] == [{"custom_id": "a", "lines": [1, 4]}]
    assert report["max_query_units"] == 3.5  # 25/10 + default 10/10
    assert (await api.client.get("/v1/search/batches")).json()["data"] == []  # nothing queued


async def test_a_clean_file_is_valid(api: AsgiBatches) -> None:
    report = await validate(api, jsonl(20))
    assert report["valid"] is True and report["problems"] == [] and report["max_query_units"] == 6.0
    too_long = await validate(api, jsonl(101))
    assert too_long["valid"] is False and too_long["problems"][-1]["field"] == "file"
    assert "100 lines" in too_long["problems"][-1]["message"]


async def test_an_uploaded_job_is_validated_by_batch_id(api: AsgiBatches) -> None:
    batch_id = await api.submit(MIXED)
    report = await validate(api, json.dumps({"batch_id": batch_id}).encode(), "application/json")
    assert report["lines_total"] == 7 and report["valid"] is False
    waiting = (await api.client.post("/v1/search/batches")).json()["batch_id"]
    response = await api.client.post("/v1/search/batches/validate", json={"batch_id": waiting})
    assert response.status_code == 409
    other = await api.client.post("/v1/search/batches/validate", json={"batch_id": batch_id},
                                  headers={"X-API-KEY": api.other})
    assert other.status_code == 404


async def test_validate_first_runs_only_a_valid_file(api: AsgiBatches) -> None:
    good = await api.submit(jsonl(10), {"validate_first": True})
    created = (await api.client.post("/v1/search/batches", json={"validate_first": True})).json()
    put = await api.put(created["presigned_url"], MIXED)
    if api.on_s3:  # S3 took the bytes; the worker that took the upload in failed the job
        assert put.status_code == 200
    else:  # our own upload URL answers at once
        assert put.status_code == 400 and "line 2" in put.json()["message"]
    bad = await api.status(created["batch_id"])
    assert bad["status"] == "failed" and bad["error"].startswith("Validation failed (5 invalid lines of 7)")
    assert "query.max_chunks on line 2" in bad["error"] and "custom_id 'a' on lines 1, 4" in bad["error"]
    plain = await api.submit(MIXED)  # without validate_first the same file runs, with error lines
    api.work()
    assert (await api.status(good))["status"] == "completed"
    assert (await api.status(plain))["request_counts"]["errored"] == 5


async def test_create_options_are_checked_but_other_bodies_still_ignored(api: AsgiBatches) -> None:
    for body in (b"", b"[1]", b"not json", b'{"organizationId": null}'):
        response = await api.client.post("/v1/search/batches", content=body, headers={"Content-Type": "application/json"})
        assert response.status_code == 200
    bad = await api.client.post("/v1/search/batches", json={"validate_first": "yes"})
    assert bad.status_code == 400 and "validate_first" in bad.json()["message"]


def test_line_problems_name_the_field_or_the_character_where_json_stopped() -> None:
    assert line_problem(3, FieldProblem("query.text", "Field required")) == Problem(3, "query.text", "Field required")
    json_error = line_problem(4, FieldProblem("body", "JSON decode error", position=12))
    assert json_error == Problem(4, "body", "JSON decode error at character 12")


DEEP_LINE = b'{"query": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
HUGE_LINE = b'{"query": {"text": "x", "max_chunks": ' + b"9" * 5000 + b"}}"
NAN_LINE = b'{"query": {"text": "x", "filters": {"sentiment": {"ranges": [{"min": NaN}]}}}}'


async def test_deep_huge_or_non_finite_lines_are_reported_by_line_and_field(api: AsgiBatches) -> None:
    data = b"\n".join([b'{"query": {"text": "fine"}}', DEEP_LINE, HUGE_LINE, NAN_LINE]) + b"\n"
    report = await validate(api, data)  # used to answer 500 (RecursionError, ValueError from int())
    assert (report["lines_total"], report["lines_valid"]) == (4, 1)
    assert [(p["line"], p["field"]) for p in report["problems"]] == [
        (2, "body"), (3, "query.max_chunks"), (4, "query.filters.sentiment.ranges.0.min")]
    assert "JSON nests deeper than 64 levels" in report["problems"][0]["message"]
    assert "more than 100 digits" in report["problems"][1]["message"]
    assert "finite number" in report["problems"][2]["message"]


@pytest.mark.deployment("sqlite+file")
async def test_deep_huge_or_non_finite_lines_become_400_error_lines_in_valid_json(api: AsgiBatches) -> None:
    data = b"\n".join([DEEP_LINE, HUGE_LINE, NAN_LINE, b'{"query": {"text": "fine"}}']) + b"\n"
    batch_id = await api.submit(data)
    api.work()
    status = await api.status(batch_id)
    output = (await api.fetch(status["output_file_url"])).content
    rows = [json.loads(line, parse_constant=pytest.fail) for line in output.splitlines()]  # no NaN in the file
    assert [(r["line_number"], r["status"], r["code"]) for r in rows] == [
        (1, "error", 400), (2, "error", 400), (3, "error", 400), (4, "success", 200)]
    assert "query.max_chunks" in rows[1]["error"] and "sentiment.ranges.0.min" in rows[2]["error"]
    assert status["request_counts"]["failed"] == 0 and status["request_counts"]["errored"] == 3


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b'{"priority": ' + b"9" * 5000 + b"}", "priority"),
        (b'{"priority": 1e999}', "priority"),
        (b'{"validate_first": NaN}', "validate_first"),
        (b'{"options": ' + b"[" * 60_000 + b"}", "body"),
    ],
)
async def test_create_bodies_with_huge_deep_or_non_finite_json_are_400(api: AsgiBatches, body: bytes, field: str) -> None:
    response = await api.client.post("/v1/search/batches", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 400, response.text  # the 5,000-digit priority used to answer 500
    assert response.json()["errorCode"] == "VALIDATION_ERROR" and f"\n{field}\n" in response.json()["message"]


async def chunked(data: bytes, piece: int = 64 * 1024):  # type: ignore[no-untyped-def]
    """The body as an async stream: sent without Content-Length, as chunked transfer encoding."""
    for start in range(0, len(data), piece):
        yield data[start:start + piece]


async def test_a_chunked_file_is_validated_as_it_streams(api: AsgiBatches) -> None:
    data = b"".join(b'{"custom_id": "c%d", "query": {"text": "rates %d"}}\n' % (i, i) for i in range(60))
    response = await api.client.post("/v1/search/batches/validate", content=chunked(data + MIXED, piece=1000))
    assert response.status_code == 200, response.text
    report = response.json()
    assert (report["lines_total"], report["lines_valid"]) == (67, 62)
    assert {p["line"] for p in report["problems"]} >= {63, 67}


async def test_a_chunked_body_over_the_byte_limit_is_413_naming_the_limit(api: AsgiBatches) -> None:
    limit = api.service.settings.batch_max_bytes
    response = await api.client.post("/v1/search/batches/validate", content=chunked(b"x" * (limit + 1)))
    assert response.status_code == 413, response.text
    assert str(limit) in response.json()["message"]
