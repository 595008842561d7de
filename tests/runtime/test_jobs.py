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
from .handlers import generated_handler

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


def test_a_failed_job_is_500_with_its_error(wan_jobs):
    _, client, backend, _ = wan_jobs
    # 8 frames is within the limits (checked at submit) but not 4k+1 (checked by the pipeline).
    job_id = client.post("/submit", json={**CLIP, "num_frames": 8}).json()["job_id"]
    backend.finish()
    failed = client.get(f"/result/{job_id}")
    assert failed.status_code == 500
    assert failed.json()["detail"] == (
        "InputError: num_frames must be 4k+1 (1, 5, 9, ... 81), got 8"
    )


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
