"""The records every handler container logs (issue 24's contract, runtime/records.py): one
cold_start record when it is ready, one request record per finished request, for every kind,
through the generated modules on tiny weights."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import time
from pathlib import Path

import pytest
import yaml
from fastapi import HTTPException
from fastapi.testclient import TestClient

from modalfleet.economics.observe import ColdStartRecord
from modalfleet.platform import tiny_weights as tiny
from modalfleet.platform.bench import parse_cold_starts
from modalfleet.runtime import records
from modalfleet.runtime.errors import FieldError, InputError, UpstreamError

from .decode import png
from .handlers import REPO, entered, generated_handler, logged_records, web_app

pytestmark = pytest.mark.runtime

COLD_START_KEYS = [
    "event",
    "model",
    "strategy",
    "gpu",
    "container_id",
    "container_started_at",
    "ready_at",
    "phases",
]
REQUEST_KEYS = [
    "event",
    "model",
    "strategy",
    "gpu",
    "container_id",
    "started_at",
    "finished_at",
    "status",
]
PHASES = ["start_to_enter_s", "weights_read_s", "to_gpu_s", "warm_up_s"]
TINY_IMAGE = {"seed": 1, "steps": 2, "width": 32, "height": 32}
FLUX = {"prompt": "a red fox", "max_sequence_length": 16, **TINY_IMAGE}
# An image kind's weights fixture, a request it serves (web body; the method takes the same
# fields, an upload as bytes) and the same body with one field its runtime refuses.
SYNC = {
    "flux_schnell": ("flux_schnell_weights", FLUX, {"steps": 9}),  # over its limit of 8
    "flux_dev": ("flux_dev_weights", FLUX, {"steps": 9999}),
    "lora": ("lora_weights", {"prompt": "a castle", **TINY_IMAGE}, {"adapter": "none"}),
    "instantid": (
        "instantid_weights",
        {"prompt": "a portrait", "face_image": tiny.face_image(), **TINY_IMAGE},
        {"face_image": tiny.dark_image()},
    ),
}


@pytest.fixture(autouse=True)
def outside_a_container(monkeypatch):
    monkeypatch.delenv("MODAL_TASK_ID", raising=False)
    monkeypatch.delenv("MODAL_IS_REMOTE", raising=False)


def check_cold_start(record: dict, module, instance) -> None:
    assert list(record) == COLD_START_KEYS
    assert record["event"] == "modalfleet.cold_start"
    assert (record["model"], record["strategy"]) == (module.MODEL["name"], "hybrid")
    assert record["gpu"] == records.gpu_name(instance.device) == "cpu"  # the device: no GPU here
    assert record["container_id"] == f"local-{os.getpid()}"
    assert record["container_started_at"] == module.STARTED_AT  # the module's import
    assert list(record["phases"]) == PHASES  # a plain start: every phase
    assert all(isinstance(s, float) and s >= 0 for s in record["phases"].values())
    # ready when the last phase ended: at least the phases' seconds (each rounded to 1 ms)
    # after the import
    assert isinstance(record["ready_at"], float)
    earliest = record["container_started_at"] + sum(record["phases"].values()) - 0.002
    assert record["ready_at"] >= earliest
    assert record["ready_at"] - 0.05 <= time.time()


def check_requests(found: list[dict], cold: dict, statuses: list[int]) -> None:
    assert [r["status"] for r in found] == statuses
    for record in found:
        assert list(record) == REQUEST_KEYS
        assert record["event"] == "modalfleet.request"
        labels = ("model", "strategy", "gpu", "container_id")
        assert {k: record[k] for k in labels} == {k: cold[k] for k in labels}
        assert isinstance(record["started_at"], float) and isinstance(record["finished_at"], float)
        assert cold["ready_at"] <= record["started_at"] <= record["finished_at"]


def web_body(fields: dict) -> dict:
    """A request's fields as its JSON body: uploads base64-encoded."""
    return {
        k: base64.b64encode(v).decode() if isinstance(v, bytes) else v for k, v in fields.items()
    }


@pytest.mark.parametrize("name", SYNC)
def test_an_image_container_logs_its_cold_start_and_each_request_web_and_method(
    name, request, capsys
):
    weights, body, refused = SYNC[name]
    capsys.readouterr()
    with generated_handler(name, request.getfixturevalue(weights)) as (module, model):
        instance = entered(model)
        client = TestClient(web_app(module, model))
        served = client.post("/", json=web_body(body))
        nan = client.post(
            "/", content='{"seed": NaN}', headers={"content-type": "application/json"}
        )
        refusal = client.post("/", json=web_body({**body, **refused}))
        docs = client.get("/docs")  # not a request for the model: no record
        model.generate.local(**body)
        with pytest.raises(InputError):
            model.generate.local(**{**body, **refused})
    assert [a.status_code for a in (served, nan, refusal, docs)] == [200, 422, 422, 200]
    captured = capsys.readouterr()
    assert logged_records(captured.out) == []  # outside a container: stdout stays the caller's
    cold, *found = logged_records(captured.err)
    check_cold_start(cold, module, instance)
    check_requests(found, cold, [200, 422, 422, 200, 422])


def test_a_text_to_video_job_logs_its_request_and_its_web_function_none(
    wan_weights, tmp_path, monkeypatch, capsys
):
    from .handlers import CountingJobs

    capsys.readouterr()
    with generated_handler("wan2_1", wan_weights) as (module, model):
        monkeypatch.setattr(module, "OUTPUTS_DIR", str(tmp_path))
        instance = entered(model)
        clip = {"prompt": "waves", "seed": 0, "steps": 1, "width": 32, "height": 32, "fps": 8}
        fields = module.GenerateRequest(**clip, num_frames=1).model_dump()
        assert model.run_job.local(fields, "job-1", time.time()) == "job-1.mp4"
        with pytest.raises(FieldError):
            model.run_job.local({**fields, "num_frames": 8}, "job-2", time.time())
        # The submit's web function runs on no GPU: its answers are not request records.
        web = TestClient(module.make_web_app(CountingJobs(), reload_outputs=lambda: None))
        assert web.post("/submit", json={**clip, "num_frames": 1}).status_code == 202
        assert web.post("/submit", json={**clip, "num_frames": 8}).status_code == 422
    cold, *found = logged_records(capsys.readouterr().err)
    check_cold_start(cold, module, instance)
    check_requests(found, cold, [200, 422])


def test_a_video_upscale_job_logs_its_request_and_an_upstream_failure_as_502(
    seedvr2_weights, seedvr2_upstream, tmp_path, monkeypatch, capsys
):
    capsys.readouterr()
    with generated_handler("seedvr2", seedvr2_weights) as (module, model):
        monkeypatch.setattr(module, "OUTPUTS_DIR", str(tmp_path))
        instance = entered(model)
        fields = {"media": png((8, 8)), "filename": "a.png", "scale": 2.0}
        fields |= {"resolution": 64, "batch_size": 1, "seed": 0}
        assert model.run_job.local(fields, "job-1", 0.0) == "job-1.png"
        instance.handle.session.cli.FAIL = "CUDA out of memory"
        with pytest.raises(UpstreamError):
            model.run_job.local(fields, "job-2", 0.0)
    cold, *found = logged_records(capsys.readouterr().err)
    check_cold_start(cold, module, instance)
    check_requests(found, cold, [200, 502])


def test_records_go_to_stdout_in_a_container_with_its_task_id(monkeypatch, capsys):
    monkeypatch.setenv("MODAL_IS_REMOTE", "1")
    monkeypatch.setenv("MODAL_TASK_ID", "ta-01JX8ZTQ")
    log = records.Records("flux-dev", "hybrid", "L40S")
    log.cold_start(100.0, {"to_gpu_s": 3.0, "warm_up_s": 1.0}, ready_at=104.5)
    log.request(105.0, 106.25, 200)
    captured = capsys.readouterr()
    assert captured.err == ""
    labels = (
        '"model": "flux-dev", "strategy": "hybrid", "gpu": "L40S", "container_id": "ta-01JX8ZTQ"'
    )
    assert captured.out.splitlines() == [
        '{"event": "modalfleet.cold_start", ' + labels + ', "container_started_at": 100.0, '
        '"ready_at": 104.5, "phases": {"to_gpu_s": 3.0, "warm_up_s": 1.0}}',
        '{"event": "modalfleet.request", ' + labels + ', "started_at": 105.0, '
        '"finished_at": 106.25, "status": 200}',
    ]
    # bench reads the cold start back, a timestamp before it
    assert parse_cold_starts("2026-12-06T10:00:00Z " + captured.out) == [
        ColdStartRecord(
            "flux-dev",
            "hybrid",
            "L40S",
            "ta-01JX8ZTQ",
            100.0,
            104.5,
            (("to_gpu_s", 3.0), ("warm_up_s", 1.0)),
        )
    ]


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (None, 200),
        (FieldError("num_frames", "num_frames must be 4k+1"), 422),
        (InputError("no face found"), 422),
        (UpstreamError("SeedVR2 failed"), 502),
        (HTTPException(status_code=404), 404),
        (RuntimeError("CUDA error"), 500),
        (KeyboardInterrupt(), 500),
    ],
)
def test_a_timed_request_records_the_status_its_outcome_answers(error, status, capsys):
    log = records.Records("m", "s", "cpu", "c")
    with pytest.raises(type(error)) if error else contextlib.nullcontext():
        with log.timed_request():
            if error:
                raise error
    (record,) = logged_records(capsys.readouterr().err)
    assert record["status"] == status


# What the driver calls each card (torch.cuda.get_device_name, as reported on Modal and in the
# vendors' documentation) and its memory in GiB -> Modal's name.
DRIVER_NAMES = [
    ("Tesla T4", 14.6, "T4"),
    ("NVIDIA L4", 22.0, "L4"),
    ("NVIDIA A10", 22.0, "A10"),
    ("NVIDIA A10G", 22.0, "A10"),
    ("NVIDIA L40S", 44.4, "L40S"),
    ("NVIDIA A100-SXM4-40GB", 39.4, "A100-40GB"),
    ("NVIDIA A100-PCIE-40GB", 39.4, "A100-40GB"),
    ("NVIDIA A100-SXM4-80GB", 79.1, "A100-80GB"),
    ("NVIDIA A100 80GB PCIe", 79.1, "A100-80GB"),
    ("NVIDIA H100 80GB HBM3", 79.1, "H100"),
    ("NVIDIA H200", 139.8, "H200"),
    ("NVIDIA B200", 178.4, "B200"),
    ("NVIDIA RTX PRO 6000 Blackwell Server Edition", 94.9, "RTX-PRO-6000"),
]


def test_driver_names_map_to_the_catalogs_modal_names():
    catalog = yaml.safe_load(Path(REPO / "gpus.yaml").read_text())["gpus"]
    found = [records.modal_gpu_name(name, int(gib * 2**30)) for name, gib, _ in DRIVER_NAMES]
    assert found == [modal for *_, modal in DRIVER_NAMES]
    assert set(found) <= set(catalog)
    # a card the table does not know keeps the driver's name: never silently another card
    assert (
        records.modal_gpu_name("NVIDIA GeForce RTX 4090", 24 * 2**30) == "NVIDIA GeForce RTX 4090"
    )


def test_gpu_name_reads_the_device(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda index: "NVIDIA A100-SXM4-80GB")

    class Properties:
        total_memory = int(79.1 * 2**30)

    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda index: Properties)
    assert records.gpu_name("cuda") == "A100-80GB"
    assert records.gpu_name("cpu") == "cpu"


def test_container_id_is_modals_task_id_else_this_process(monkeypatch):
    assert records.container_id() == f"local-{os.getpid()}"
    monkeypatch.setenv("MODAL_TASK_ID", "ta-123")
    assert records.container_id() == "ta-123"


def test_observe_reads_back_what_a_handler_logged(flux_schnell_weights, tmp_path, capsys):
    """Both sides of the contract together: a generated handler's records, saved as `modal app
    logs` prints them (a timestamp before each line, other output between), read by `observe`."""
    from workspace import copy_fleet, run_cli

    capsys.readouterr()
    with generated_handler("flux_schnell", flux_schnell_weights) as (_, model):
        instance = entered(model)
        for body in (FLUX, FLUX, {**FLUX, "steps": 9}):  # two served, one refused (422)
            with contextlib.suppress(InputError):
                model.generate.local(**body)

        def broken(*args, **kwargs):
            raise RuntimeError("CUDA error: an illegal memory access was encountered")

        instance.handle.pipe = broken
        with pytest.raises(RuntimeError):  # a failure on our side: 500, an error
            model.generate.local(**FLUX)
    lines = capsys.readouterr().err.splitlines()
    cold, *found = logged_records("\n".join(lines))
    assert [r["status"] for r in found] == [200, 200, 422, 500]
    log = tmp_path / "flux-schnell.log"
    log.write_text(
        "".join(
            f"2026-12-06T10:00:{n % 60:02d}.000000Z {line}\n" if n % 2 else f"{line}\n"
            for n, line in enumerate(["Loading pipeline components...", *lines])
        )
    )
    fleet_dir = copy_fleet(tmp_path / "fleet", with_generated=False)
    args = ("observe", "--strategy", "hybrid", "--from-logs", str(log))
    result = run_cli(*args, "--format", "json", root=fleet_dir)
    assert result.exit_code == 0, result.text
    (row,) = json.loads(result.output)["models"]
    served = sorted(r["finished_at"] - r["started_at"] for r in found if r["status"] < 500)
    # observe's rule (docs/commands/observe.md): the requests a container took first, within
    # 1 s of becoming ready, waited for its cold start (here the first follows at once)
    waited = sum(r["started_at"] <= cold["ready_at"] + 1.0 for r in found)
    assert row == {
        "model": "flux-schnell",
        "strategy": "hybrid",
        "gpu": "cpu",
        "requests": 4,
        "containers": 1,
        "seconds_per_request_p50": round(served[1], 3),  # nearest rank of 3
        "seconds_per_request_p95": round(served[2], 3),
        "cold_start_s_p50": round(cold["ready_at"] - cold["container_started_at"], 3),
        "cold_start_s_p95": round(cold["ready_at"] - cold["container_started_at"], 3),
        "cold_start_rate": waited / 4,
        "errors": 1,
    }
    text = run_cli(*args, root=fleet_dir)
    assert text.exit_code == 0, text.text
    assert f"flux-schnell on cpu: start_to_enter_s {cold['phases']['start_to_enter_s']:.2f} s" in (
        text.output
    )
    # --write records nothing from a run without a GPU, and says why
    before = (fleet_dir / "models.yaml").read_bytes()
    written = run_cli(*args, "--write", root=fleet_dir)
    assert written.exit_code == 0, written.text
    assert written.stderr.splitlines() == [
        "observe: flux-schnell ran on 'cpu', which gpus.yaml does not know: not recorded",
        "observe: nothing measured enough to write",
    ]
    assert (fleet_dir / "models.yaml").read_bytes() == before
    # the library call: the records grouped under the container id a local run has
    from modalfleet.fleet.load import load_fleet
    from modalfleet.platform.observe import observe

    seen = observe(load_fleet(fleet_dir).fleet, "hybrid", log_files=[log])
    ids = [r.container_id for r in (*seen.records.cold_starts, *seen.records.requests)]
    assert ids == [f"local-{os.getpid()}"] * 5
    assert [r.status for r in seen.records.requests] == [200, 200, 422, 500]
