"""The video kinds' asynchronous job endpoint, driven in-process through the generated module:
POST /submit -> job id, GET /result/{id} -> 202 running, 200 the file, 404 unknown, 500 failed.

Jobs run through LocalJobs, which calls the generated class's own run_job (the method Modal
spawns) on a thread; the deployed module uses jobs.ModalJobs (spawn + FunctionCall.from_id).
"""

from __future__ import annotations

import os
import threading
import time

import pytest
from fastapi.testclient import TestClient

from modalfleet.runtime import jobs

from .decode import mp4_frames
from .handlers import CountingJobs, entered, generated_handler, load_generated

pytestmark = pytest.mark.runtime

CLIP = {"prompt": "waves", "seed": 2, "steps": 1, "width": 32, "height": 32, "fps": 8}


class LocalJobs:
    """Jobs on threads, held at a gate until the test opens it (so 'running' can be seen)."""

    def __init__(self, model):
        self.model = model
        self.gate = threading.Event()
        self.threads: dict[str, threading.Thread] = {}
        self.states: dict[str, tuple[str, object]] = {}

    def submit(self, fields, submitted_at):
        job_id = f"job-{len(self.threads) + 1}"

        def run():
            self.gate.wait(timeout=120)
            try:
                done = self.model.run_job.local(fields, job_id, submitted_at)
                self.states[job_id] = ("done", done)
            except Exception as error:
                self.states[job_id] = ("failed", f"{type(error).__name__}: {error}")

        self.threads[job_id] = threading.Thread(target=run)
        self.threads[job_id].start()
        return job_id

    def poll(self, job_id):
        if job_id not in self.threads:
            return "unknown", None
        return self.states.get(job_id, ("running", None))

    def finish(self):
        self.gate.set()
        for thread in self.threads.values():
            thread.join(timeout=120)


@pytest.fixture()
def wan_jobs(wan_weights, tmp_path, monkeypatch):
    with generated_handler("wan2_1", wan_weights) as (module, model):
        monkeypatch.setattr(module, "OUTPUTS_DIR", str(tmp_path))
        backend = LocalJobs(model)
        client = TestClient(module.make_web_app(backend, reload_outputs=lambda: None))
        try:
            yield module, client, backend, tmp_path
        finally:
            backend.finish()


def test_submit_then_poll_202_then_200_with_the_clip(wan_jobs):
    module, client, backend, outputs = wan_jobs
    submitted = client.post("/submit", json={**CLIP, "num_frames": 9})
    assert submitted.status_code == 202
    assert submitted.json() == {"job_id": "job-1", "result": "/result/job-1"}

    running = client.get("/result/job-1")
    assert running.status_code == 202

    waited = 0.3
    time.sleep(waited)
    backend.finish()
    done = client.get("/result/job-1")
    assert done.status_code == 200, done.text
    assert done.headers["content-type"] == "video/mp4"
    assert mp4_frames(done.content).shape == (9, 32, 32, 3)
    # The file went through the outputs Volume, named after the job, its timing beside it.
    assert sorted(path.name for path in outputs.iterdir()) == ["job-1.mp4", "job-1.timing.json"]
    queued = float(done.headers["X-Queue-Seconds"])
    assert queued >= waited  # the job waited at the gate for at least that long before it ran
    assert float(done.headers["X-Inference-Seconds"]) > 0
    assert float(done.headers["X-Load-Seconds"]) >= 0


def test_unknown_ids_are_404(wan_jobs):
    _, client, _, _ = wan_jobs
    assert client.get("/result/job-404").status_code == 404
    assert client.get("/result/not..an..id").status_code == 404


def test_a_failed_job_is_500_with_its_error(wan_jobs, monkeypatch):
    """A job can still fail on the GPU for what no submit check can see (here the pipeline)."""
    module, client, backend, _ = wan_jobs

    def out_of_memory(**kwargs):
        raise RuntimeError("CUDA out of memory")

    monkeypatch.setattr(entered(backend.model).handle, "pipe", out_of_memory)
    job_id = client.post("/submit", json={**CLIP, "num_frames": 1}).json()["job_id"]
    backend.finish()
    failed = client.get(f"/result/{job_id}")
    assert failed.status_code == 500
    assert failed.json()["detail"] == "RuntimeError: CUDA out of memory"


def test_bad_or_over_limit_requests_are_422_and_never_spawned(wan_jobs):
    module, client, backend, _ = wan_jobs
    over = client.post("/submit", json={**CLIP, "num_frames": 293})
    assert over.status_code == 422
    assert over.json()["detail"][0]["loc"] == ["body", "num_frames"]
    missing = client.post("/submit", json={"seed": 1})
    assert missing.status_code == 422
    assert missing.json()["detail"][0]["loc"] == ["body", "prompt"]
    assert backend.threads == {}


def test_outputs_past_the_retention_window_are_pruned_at_submit(wan_jobs):
    module, client, backend, outputs = wan_jobs
    old, fresh = outputs / "job-0.mp4", outputs / "job-x.mp4"
    old.write_bytes(b"old")
    fresh.write_bytes(b"fresh")
    now = time.time()
    os.utime(old, (now - module.RETENTION_S - 60, now - module.RETENTION_S - 60))
    assert module.RETENTION_S == 24 * 3600
    client.post("/submit", json={**CLIP, "num_frames": 1})
    assert not old.exists() and fresh.exists()
    assert jobs.prune(str(outputs), retention_s=0, now=now + 10) == ["job-x.mp4"]


def test_timing_is_measured_from_the_submit_and_read_back_as_headers(tmp_path):
    timing = jobs.job_timing(submitted_at=100.0, started=112.5, load_s=10.25, now=130.0)
    assert timing == {"queue_s": 12.5, "load_s": 10.25, "inference_s": 17.5}
    assert jobs.job_timing(0.0, 112.5, 0.0, now=113.0)["queue_s"] == 0.0  # run, not submitted
    assert jobs.save_output(str(tmp_path), "job-7", b"\x89PNG...", timing) == "job-7.png"
    assert jobs.timing_headers(str(tmp_path), "job-7") == {
        "X-Queue-Seconds": "12.500",
        "X-Load-Seconds": "10.250",
        "X-Inference-Seconds": "17.500",
    }
    (tmp_path / "job-8.timing.json").write_text("{not json")
    assert jobs.timing_headers(str(tmp_path), "job-8") == {}  # a broken sidecar: no headers
    assert jobs.timing_headers(str(tmp_path), "job-9") == {}


def refusals(client, jobs, base, cases):
    """(status, loc, type) of the first error of each case's submit; nothing may be spawned."""
    found = {}
    for name, body in cases.items():
        answer = client.post("/submit", json={**base, **body})
        detail = answer.json()["detail"]
        first = detail[0] if isinstance(detail, list) else {"loc": None, "type": detail}
        found[name] = (answer.status_code, first["loc"], first["type"])
    assert jobs.spawned == []
    return found


def test_every_field_a_wan_job_would_refuse_is_422_at_submit_and_spawns_nothing():
    module = load_generated("wan2_1")
    jobs = CountingJobs()
    client = TestClient(module.make_web_app(jobs, reload_outputs=lambda: None))
    cases = {
        "frames not 4k+1": {"num_frames": 8},
        "frames over the limit": {"num_frames": 293},
        "size not a multiple of 16": {"width": 40},
        "side over the limit": {"width": 2064},
        "pixels over the limit": {"width": 1600, "height": 1600},
        "pixel-frames over the limit": {"width": 1024, "height": 1024, "num_frames": 289},
        "steps over the limit": {"steps": 61},
        "fps out of range": {"fps": 0},
        "empty prompt": {"prompt": ""},
    }
    assert refusals(client, jobs, CLIP, cases) == {
        "frames not 4k+1": (422, ["body", "num_frames"], "value_error"),
        "frames over the limit": (422, ["body", "num_frames"], "limit"),
        "size not a multiple of 16": (422, ["body", "width"], "multiple_of"),
        "side over the limit": (422, ["body", "width"], "limit"),
        "pixels over the limit": (422, ["body", "width"], "limit"),
        "pixel-frames over the limit": (422, ["body", "num_frames"], "limit"),
        "steps over the limit": (422, ["body", "steps"], "limit"),
        "fps out of range": (422, ["body", "fps"], "greater_than_equal"),
        "empty prompt": (422, ["body", "prompt"], "string_too_short"),
    }
    assert client.post("/submit", json={**CLIP, "num_frames": 9}).status_code == 202
    assert [fields["num_frames"] for fields in jobs.spawned] == [9]  # the counter counts


def test_every_field_a_seedvr2_job_would_refuse_is_422_at_submit_and_spawns_nothing():
    import base64

    from .decode import png

    module = load_generated("seedvr2")
    jobs = CountingJobs()
    client = TestClient(module.make_web_app(jobs, reload_outputs=lambda: None))
    photo = png((64, 64))

    def media(data: bytes) -> str:
        return base64.b64encode(data).decode()

    base = {"media": media(photo), "filename": "photo.png"}
    cases = {
        "truncated image": {"media": media(photo[: len(photo) // 2])},
        "batch not 4n+1": {"batch_size": 4},
        "batch over the limit": {"batch_size": 13},
        "resolution over the limit": {"resolution": 1500},
        "unknown file kind": {"filename": "notes.txt"},
        "not an image": {"media": media(b"garbage")},
        "not a video": {"media": media(b"garbage"), "filename": "clip.mp4"},
        "not base64": {"media": "not base64!"},
        "scale zero": {"scale": 0},
    }
    assert refusals(client, jobs, base, cases) == {
        "truncated image": (422, ["body", "media"], "value_error"),
        "batch not 4n+1": (422, ["body", "batch_size"], "value_error"),
        "batch over the limit": (422, ["body", "batch_size"], "limit"),
        "resolution over the limit": (422, ["body", "resolution"], "limit"),
        "unknown file kind": (422, ["body", "filename"], "value_error"),
        "not an image": (422, ["body", "media"], "limit"),
        "not a video": (422, ["body", "media"], "limit"),
        "not base64": (422, ["body", "media"], "value_error"),
        "scale zero": (422, ["body", "scale"], "greater_than"),
    }
    truncated = client.post("/submit", json={**base, **cases["truncated image"]})
    assert truncated.json()["detail"][0]["msg"].startswith("media is not a readable image: ")
    assert client.post("/submit", json=base).status_code == 202
    assert [fields["filename"] for fields in jobs.spawned] == ["photo.png"]


class DoneWith:
    """A backend whose every job is done and returned `value`: what /result must not trust."""

    def __init__(self, value):
        self.value = value
        self.polled: list[str] = []

    def submit(self, fields, submitted_at):
        raise AssertionError("nothing is submitted here")

    def poll(self, job_id):
        self.polled.append(job_id)
        return "done", self.value


@pytest.mark.parametrize(
    "value",
    [b"job-1.mp4", "../secret.txt", "/etc/passwd", "job-1.exe", "job-2.mp4", 42, None],
    ids=["bytes", "parent", "absolute", "suffix", "other-job", "int", "none"],
)
def test_result_serves_the_file_named_from_the_job_id_whatever_the_job_returned(tmp_path, value):
    module = load_generated("wan2_1")
    outputs = tmp_path / "outputs"
    outputs.mkdir()
    (outputs / "job-1.mp4").write_bytes(b"job one's clip")
    (outputs / "job-2.mp4").write_bytes(b"job two's clip")
    (tmp_path / "secret.txt").write_bytes(b"not an output")
    backend = DoneWith(value)
    app = module.jobs.job_app(
        module.GenerateRequest, module.prepare, backend, str(outputs), lambda: None, 3600
    )
    client = TestClient(app)
    one = client.get("/result/job-1")
    assert (one.status_code, one.content, one.headers["content-type"]) == (
        200,
        b"job one's clip",
        "video/mp4",
    )
    gone = client.get("/result/job-3")  # done, but no file of its own: never the value's file
    assert (gone.status_code, gone.json()) == (
        404,
        {"detail": "job 'job-3' output is gone (retention window)"},
    )


def test_a_job_id_with_a_trailing_newline_never_reaches_the_backend():
    module = load_generated("wan2_1")
    backend = DoneWith("job-1.mp4")
    client = TestClient(module.make_web_app(backend, reload_outputs=lambda: None))
    answers = [client.get(f"/result/{job_id}") for job_id in ("job-1%0A", "job-1%0D", "%0Ajob-1")]
    assert [(a.status_code, a.json()["detail"]) for a in answers] == [
        (404, "no job 'job-1\\n'"),
        (404, "no job 'job-1\\r'"),
        (404, "no job '\\njob-1'"),
    ]
    assert backend.polled == []
    assert jobs.JOB_ID.fullmatch("job-1\n") is None and jobs.JOB_ID.fullmatch("fc-01AB_z")
