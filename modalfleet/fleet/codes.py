"""The registry of problem codes: every code a check or the loader can report, its severity and
what it means. The manual's problem-codes page is generated from this table, and
tests/test_codes.py fails when the code reports a code that is not here, so the two cannot drift.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Code:
    code: str
    severity: str  # "error", "warning", or "warning / error" when the rule has both
    meaning: str

    @property
    def can_warn(self) -> bool:
        return "warning" in self.severity


CODES: tuple[Code, ...] = (
    Code(
        "yaml-syntax",
        "error",
        "the file is not valid YAML (a key without its colon, a line indented to no level, an "
        "unclosed bracket, tab indentation, ...), or nests deeper than 64 levels; the hint says "
        "what to write and where",
    ),
    Code("yaml-encoding", "error", "the file is not UTF-8 (a UTF-8 byte-order mark is accepted)"),
    Code("yaml-size", "error", "the file is over 16 MiB"),
    Code("yaml-empty", "error", "the file is empty or only comments"),
    Code(
        "yaml-duplicate-key",
        "error",
        "a key appears twice in one mapping (YAML would keep the last silently)",
    ),
    Code(
        "yaml-alias-bomb", "error", "anchors/aliases expand past 2,000,000 nodes (billion laughs)"
    ),
    Code("yaml-tag", "error", "a non-plain tag such as `!!python/object/apply`"),
    Code(
        "missing-file",
        "error",
        "`models.yaml`, `gpus.yaml` or `strategies/` is missing, or the `--root` folder itself "
        "does not exist",
    ),
    Code(
        "schema",
        "error",
        "wrong type, missing key, value out of range, not finite, `min_containers` above "
        "`max_containers`",
    ),
    Code(
        "unknown-key",
        "error",
        "a key the schema does not know; the hint says what you probably meant",
    ),
    Code(
        "name",
        "error",
        "a model or strategy name that is not lowercase letters/digits/hyphens, maps to a Python "
        "keyword, collides with another after `-`→`_`, or a strategy whose `name` differs from "
        "its file",
    ),
    Code(
        "strategy-coverage",
        "error",
        "a model without a GPU for some strategy, or naming a strategy that does not exist (also "
        "`compare_to`); the hint shows the `strategies/<name>.yaml` to create",
    ),
    Code("unknown-gpu", "error", "a GPU name not in `gpus.yaml` (with did-you-mean)"),
    Code(
        "unknown-region",
        "error",
        "a `region:` Modal does not list (its region selection guide; with did-you-mean)",
    ),
    Code(
        "endpoint-auth",
        "warning",
        "a strategy or model sets `endpoint: {auth: none}`: its web endpoints answer anyone "
        "with the URL",
    ),
    Code(
        "limits",
        "error",
        "a `limits:` key the model's kind does not have, or a limit below the model's own "
        "default request",
    ),
    Code(
        "unknown-model",
        "error",
        "a strategy's `models:` entry names a model that is not in `models.yaml` "
        "(with did-you-mean)",
    ),
    Code(
        "concurrency",
        "error",
        "`max_inputs` > 1 for a kind whose runtime shares per-request state on one pipeline "
        "(every diffusers kind: the scheduler; lora: `set_adapters`; instantid: "
        "`set_ip_adapter_scale`), or N requests at once that do not fit the GPU's VRAM "
        "(N × `vram_gb`)",
    ),
    Code(
        "timeout-too-short",
        "error",
        "a strategy's (or the model's) container `timeout_s` leaves less time than a request "
        "at the model's limits takes (ESTIMATE for video-upscale: `max_input_frames` at "
        "`max_resolution` on the slowest GPU of the list); Modal would kill it mid-call",
    ),
    Code(
        "trace",
        "error",
        "`traffic.trace` names a file that does not exist, is a folder, or cannot be read",
    ),
    Code(
        "resources",
        "warning",
        "`resources.memory_gb` below the weights the pipeline reads through host memory + 3 GiB "
        "for the process: Modal bills the higher of reservation and use (so the estimate is "
        "low) and may OOM-kill the container",
    ),
    Code("gpu-list", "error", "an empty GPU list or a GPU listed twice"),
    Code(
        "vram-fit",
        "error",
        "a GPU of some strategy has less VRAM than `vram_gb` (+ headroom); the hint names the "
        "cheapest GPUs that fit",
    ),
    Code("weights-size", "error", "the weights after quantization exceed `vram_gb` or the GPU"),
    Code(
        "vram-declared-off",
        "warning",
        "a declared `vram_gb`, weights `size_gb` or `components` size is more than 15% below "
        "what the model's published architecture needs (its parameters x bytes per parameter "
        "in the dtype and declared quantization, from the configs shipped in "
        "`modalfleet/fleet/architectures/`); can be acknowledged",
    ),
    Code("quantization", "error", "quantization names a component no weights entry lists"),
    Code(
        "dtype-support",
        "warning / error",
        "bf16 on a GPU without bf16 (warning: runs fp16; can be acknowledged); fp8 on a GPU "
        "without fp8 (error)",
    ),
    Code(
        "weights-pin",
        "warning",
        "a revision that is not a commit SHA (a branch such as `main` moves); can be acknowledged",
    ),
    Code(
        "weights-role",
        "error",
        "a kind without the weights it needs (e.g. instantid without `face-analysis`)",
    ),
    Code(
        "params",
        "error",
        "a parameter that contradicts the weights (LoRA default adapter not declared)",
    ),
    Code(
        "secret-literal",
        "error",
        "something that looks like a credential (`hf_…`, `sk-…`, AWS/GitHub/Modal tokens, long "
        "random keys); reference Modal Secrets by name",
    ),
    Code(
        "traffic",
        "error",
        "requests/day or seconds/request negative, zero where it must not be, or not finite; a "
        "measured seconds map without `default` that lacks a GPU some strategy uses; an "
        "unknown `profile`, `diurnal` without `peak_to_trough` (>= 1), `peak_to_trough` without "
        "`diurnal`, or a `trace` beside a profile",
    ),
    Code("latency", "error", "`latency_target_s` not positive or not finite"),
)

BY_CODE = {code.code: code for code in CODES}


def markdown_table() -> str:
    """The registry as the manual's table (docs/problem-codes.md is generated from it)."""
    lines = ["| code | severity | what it means |", "|---|---|---|"]
    lines += [f"| `{c.code}` | {c.severity} | {c.meaning} |" for c in CODES]
    return "\n".join(lines)
