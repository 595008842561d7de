"""Every generated web app refuses what it cannot serve with HTTP 422 naming the fields: never a
5xx, never an echo of the input (issue 26), whatever the JSON body.

The six routes are the generated modules' own apps: POST / of the image kinds (an entered
Model on tiny weights) and POST /submit of the video kinds (over a backend that counts what it
would spawn). Python's JSON reader takes NaN and Infinity; before runtime/webapp.py, FastAPI's
refusal echoed them back and the echo itself failed (JSON has no NaN): a 500 on every route.
"""

from __future__ import annotations

import base64
import json
from contextlib import ExitStack
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modalfleet.platform import tiny_weights as tiny
from modalfleet.runtime import webapp

from .decode import png
from .handlers import CountingJobs, entered, generated_handler, load_generated, web_app

pytestmark = pytest.mark.runtime

WEIGHTS = {
    "flux_schnell": "flux_schnell_weights",
    "flux_dev": "flux_dev_weights",
    "instantid": "instantid_weights",
    "lora": "lora_weights",
}
JOB_ROUTES = ("wan2_1", "seedvr2")
ROUTES = (*WEIGHTS, *JOB_ROUTES)
RUNTIME = {
    "flux_schnell": "text_to_image",
    "flux_dev": "text_to_image",
    "instantid": "instantid",
    "lora": "lora",
}
IMAGE_NUMBERS = ["seed", "steps", "guidance", "width", "height"]
OUTPUT_NUMBERS = ["quality", "num_images"]
# Every numeric field of every route: the matrix below cannot shrink unnoticed.
NUMERIC = {
    "flux_schnell": [*IMAGE_NUMBERS, "max_sequence_length", *OUTPUT_NUMBERS],
    "flux_dev": [*IMAGE_NUMBERS, "max_sequence_length", *OUTPUT_NUMBERS],
    "instantid": [
        *IMAGE_NUMBERS,
        "ip_adapter_scale",
        "controlnet_conditioning_scale",
        *OUTPUT_NUMBERS,
    ],
    "lora": [*IMAGE_NUMBERS, "adapter_scale", *OUTPUT_NUMBERS],
    "wan2_1": [*IMAGE_NUMBERS, "num_frames", "fps"],
    "seedvr2": ["scale", "resolution", "batch_size", "seed"],
}
NOT_FINITE = ("NaN", "Infinity", "-Infinity")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


BASE = {
    "flux_schnell": {"prompt": "a fox"},
    "flux_dev": {"prompt": "a fox"},
    "instantid": {"prompt": "a portrait", "face_image": b64(tiny.face_image(64))},
    "lora": {"prompt": "a castle"},
    "wan2_1": {"prompt": "waves"},
    "seedvr2": {"media": b64(png((8, 8))), "filename": "a.png"},
}


@dataclass
class Route:
    module: ModuleType
    client: TestClient
    path: str
    jobs: CountingJobs | None = None

    def post(self, content: str | bytes, content_type: str = "application/json") -> Any:
        return self.client.post(self.path, content=content, headers={"content-type": content_type})


@pytest.fixture(scope="module")
def routes(request) -> dict[str, Route]:
    found = {}
    with ExitStack() as stack:
        for name, weights in WEIGHTS.items():
            loaded = generated_handler(name, request.getfixturevalue(weights))
            module, model = stack.enter_context(loaded)
            entered(model)
            found[name] = Route(module, TestClient(web_app(module, model)), "/")
        for name in JOB_ROUTES:
            module = load_generated(name)
            jobs = CountingJobs()
            app = module.make_web_app(jobs, reload_outputs=lambda: None)
            found[name] = Route(module, TestClient(app), "/submit", jobs)
        yield found


def with_field(body: dict[str, Any], field: str, token: str) -> str:
    """The JSON text of body with field set to a bare token (NaN is not JSON, so not dumps)."""
    return json.dumps(body)[:-1] + f', "{field}": {token}}}'


def no_input_echo(detail: Any) -> bool:
    """No refusal entry carries pydantic's `input` (or its `ctx`, which may quote it)."""
    entries = detail if isinstance(detail, list) else []
    return all(isinstance(e, dict) and not {"input", "ctx"} & set(e) for e in entries)


@pytest.mark.parametrize("name", ROUTES)
def test_nan_and_infinity_in_every_numeric_field_are_422_naming_the_field(routes, name):
    route = routes[name]
    fields = route.module.GenerateRequest.model_fields
    numeric = [field for field, info in fields.items() if info.annotation in (int, float)]
    assert numeric == NUMERIC[name]
    answers = {
        (field, token): route.post(with_field(BASE[name], field, token))
        for field in numeric
        for token in NOT_FINITE
    }
    refusal = "Input should be a finite number"
    assert {case: (a.status_code, a.json()) for case, a in answers.items()} == {
        (field, token): (
            422,
            {"detail": [{"loc": ["body", field], "msg": refusal, "type": "finite_number"}]},
        )
        for field in numeric
        for token in NOT_FINITE
    }
    if route.jobs is not None:
        assert route.jobs.spawned == []


@pytest.mark.parametrize("name", ROUTES)
def test_a_5_mb_field_is_refused_in_under_2_kb(routes, name):
    field, limit = ("filename", 255) if name == "seedvr2" else ("prompt", 10000)
    answer = routes[name].post(json.dumps({**BASE[name], field: "x" * 5_000_000}))
    assert answer.status_code == 422
    assert len(answer.content) < 2048
    assert answer.json() == {
        "detail": [
            {
                "loc": ["body", field],
                "msg": f"String should have at most {limit} characters",
                "type": "string_too_long",
            }
        ]
    }


@pytest.mark.parametrize("name", ["flux_schnell", "seedvr2"])  # one app of each shape
def test_bodies_that_are_no_request_at_all_are_422_without_the_input(routes, name):
    route = routes[name]
    big = "y" * 5_000_000
    answers = [
        route.post("NaN"),
        route.post("-Infinity"),
        route.post(json.dumps(big)),
        route.post(big, "text/plain"),
        route.post("[1, NaN]"),
        route.post('{"prompt": '),  # cut short
        route.post(""),
    ]
    assert [a.status_code for a in answers] == [422] * 7
    assert all(len(a.content) < 2048 and no_input_echo(a.json()["detail"]) for a in answers)
    assert answers[-2].json()["detail"][0]["type"] == "json_invalid"
    if route.jobs is not None:
        assert route.jobs.spawned == []


def test_a_body_wrong_everywhere_lists_ten_errors_and_counts_the_rest(routes):
    route = routes["instantid"]  # 13 fields, each sent as a list
    fields = list(route.module.GenerateRequest.model_fields)
    answer = route.post(json.dumps(dict.fromkeys(fields, [])))
    detail = answer.json()["detail"]
    assert (answer.status_code, len(detail)) == (422, webapp.MAX_ERRORS + 1)
    assert [entry["loc"] for entry in detail[:-1]] == [["body", f] for f in fields[:10]]
    assert detail[-1] == {
        "loc": ["body"],
        "msg": "3 more errors not shown",
        "type": "too_many_errors",
    }
    assert len(answer.content) < 2048


def test_error_detail_cuts_long_text_and_keeps_only_loc_msg_and_type():
    errors = [
        {"loc": ("body", "x" * 500, 3), "msg": "m" * 500, "type": "t", "input": float("nan")},
        {"loc": ("body", True), "msg": "short", "type": "value_error", "ctx": {"le": 5}},
    ]
    assert webapp.error_detail(errors) == [
        {"loc": ["body", "x" * 97 + "...", 3], "msg": "m" * 97 + "...", "type": "t"},
        {"loc": ["body", "True"], "msg": "short", "type": "value_error"},
    ]


# --- any JSON body: no 5xx ---------------------------------------------------------------------

JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()  # NaN and both infinities included
    | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=6,
)


def typed(info: Any) -> st.SearchStrategy:
    """Values of a field's own type, out of range as often as in it."""
    if info.annotation is int:
        return st.integers(min_value=-(2**40), max_value=2**40)
    if info.annotation is float:
        return st.floats()
    if info.description == "base64":  # an upload: garbage, or garbage base64-encoded
        return st.binary(max_size=64).map(b64) | st.text(max_size=12)
    return st.text(max_size=40)


def bodies(module: ModuleType, base: dict[str, Any]) -> st.SearchStrategy:
    fields = module.GenerateRequest.model_fields
    shaped = st.fixed_dictionaries(
        {}, optional={name: typed(info) | JSON_VALUES for name, info in fields.items()}
    )
    return JSON_VALUES | shaped | shaped.map(lambda body: {**base, **body})


@pytest.mark.parametrize("name", ROUTES)
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_no_json_body_gets_a_5xx(routes, name, data, monkeypatch):
    """The request layer only: an image kind's pipeline is replaced by a PNG (the pipelines'
    own refusals are tested with them), a video kind's jobs are counted, not run."""
    route = routes[name]
    if name in RUNTIME:
        kind = getattr(route.module, RUNTIME[name])
        monkeypatch.setattr(kind, "generate", lambda handle, **fields: png((4, 4)))
    body = data.draw(bodies(route.module, BASE[name]))
    answer = route.post(json.dumps(body))
    assert answer.status_code < 500, (body, answer.text)
    if answer.status_code == 422:
        assert no_input_echo(answer.json()["detail"])
