"""Every private Modal SDK name modalfleet relies on, and nothing else.

The SDK has no public call for some of what deploy and status need: deployment history, the
list of apps with their tags, a bounded first connection, importing a module the way
`modal deploy` does, a class endpoint's URL. The Modal CLI itself uses these internals. They
can change in any minor release, so they live here only, pyproject pins modal to the range they
were checked against (TESTED_MODAL), and `contract_problems()` (run by
tests/test_modal_internals.py) fails loudly, naming each one, on a version where they moved.

Imported lazily, like modal itself: validate, render, cost and plan never load this.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

TESTED_MODAL = ">=1.6.4,<1.7"  # keep equal to the modal requirement in pyproject.toml

T = TypeVar("T")


async def client_from_env():
    """The SDK's async client, configured from the environment and ~/.modal.toml."""
    from modal.client import _Client

    return await _Client.from_env()


def stub(client):
    """The gRPC stub of an async client: the RPCs below have no public wrapper."""
    return client._stub


def run_blocking(coroutine_function: Callable[[], Awaitable[T]]) -> T:
    """Run an async function on the SDK's own event loop thread (its clients live there)."""
    from modal._utils.async_utils import synchronizer

    return synchronizer.create_blocking(coroutine_function)()


@contextmanager
def connect_attempts(attempts: int) -> Iterator[None]:
    """Cap the attempts of the SDK's @retry-decorated channel creation (its own test knob)."""
    from modal._utils import async_utils

    previous = getattr(async_utils, "RETRY_N_ATTEMPTS_OVERRIDE", None)
    async_utils.RETRY_N_ATTEMPTS_OVERRIDE = max(1, attempts)
    try:
        yield
    finally:
        async_utils.RETRY_N_ATTEMPTS_OVERRIDE = previous


def read_retry(attempt_timeout_s: float, total_timeout_s: float):
    """The SDK's retry policy object for a stub call, bounded per attempt and in total."""
    from modal._utils.grpc_utils import Retry

    return Retry(attempt_timeout=attempt_timeout_s, total_timeout=total_timeout_s)


def import_context():
    """The context `modal deploy` imports a module in (App.deploy() refuses to run inside it)."""
    from modal._runtime import execution_context

    return execution_context._import_context()


def class_web_url(cls) -> str | None:
    """A web endpoint's URL on a deployed modal.Cls: deploy stored it in the handle metadata of
    the class's service function (what `modal deploy` prints from)."""
    from modal._utils.async_utils import synchronizer

    service = synchronizer._translate_in(cls._get_class_service_function())
    for metadata in (service._method_handle_metadata or {}).values():
        if metadata.web_url:
            return metadata.web_url
    return None


# --- the contract ----------------------------------------------------------------------------

STUB_RPCS = (
    "ClientHello",
    "AppGetByDeploymentName",
    "AppDeploymentHistory",
    "AppList",
    "AppGetTags",
)


def contract_problems() -> list[str]:
    """What of the above no longer exists in the installed modal, one line each ([] = all well)."""
    problems: list[str] = []

    def check(what: str, probe: Callable[[], Any]) -> None:
        try:
            if not probe():
                problems.append(f"{what}: not as expected")
        except Exception as exc:  # ImportError, AttributeError...: the name moved or went
            problems.append(f"{what}: {type(exc).__name__}: {exc}")

    def client_class():
        from modal.client import _Client

        return _Client

    check("modal.client._Client.from_env", lambda: callable(client_class().from_env))
    check("modal.client._Client._stub", lambda: isinstance(client_class()._stub, property))

    def stub_class():
        from modal_proto import api_grpc

        return api_grpc.ModalClientStub

    for rpc in STUB_RPCS:
        check(
            f"modal_proto.api_grpc.ModalClientStub.{rpc}",
            lambda rpc=rpc: rpc in _stub_rpcs(stub_class()),
        )

    def async_utils():
        from modal._utils import async_utils

        return async_utils

    check(
        "modal._utils.async_utils.synchronizer.create_blocking",
        lambda: callable(async_utils().synchronizer.create_blocking),
    )
    check(
        "modal._utils.async_utils.synchronizer._translate_in",
        lambda: callable(async_utils().synchronizer._translate_in),
    )
    check(
        "modal._utils.async_utils.RETRY_N_ATTEMPTS_OVERRIDE",
        lambda: hasattr(async_utils(), "RETRY_N_ATTEMPTS_OVERRIDE"),
    )

    def retry_parameters():
        from modal._utils.grpc_utils import Retry

        return set(inspect.signature(Retry).parameters)

    check(
        "modal._utils.grpc_utils.Retry(attempt_timeout=, total_timeout=)",
        lambda: {"attempt_timeout", "total_timeout"} <= retry_parameters(),
    )

    def import_context_function():
        from modal._runtime import execution_context

        return execution_context._import_context

    check(
        "modal._runtime.execution_context._import_context",
        lambda: callable(import_context_function()),
    )

    def cls_and_function():
        import modal
        from modal._functions import _Function

        return modal.Cls, _Function

    check(
        "modal.Cls._get_class_service_function",
        lambda: callable(cls_and_function()[0]._get_class_service_function),
    )
    check(
        "modal._functions._Function._method_handle_metadata",
        lambda: "_method_handle_metadata" in _attributes(cls_and_function()[1]),
    )
    return problems


def _stub_rpcs(stub_class) -> set[str]:
    # The stub sets one attribute per RPC in __init__; read them off an instance over no channel.
    return set(vars(stub_class(_NoChannel())))


def _attributes(cls) -> set[str]:
    # _method_handle_metadata is set on instances; the class declares it as an annotation.
    names = set(dir(cls))
    for klass in cls.__mro__:
        names |= set(getattr(klass, "__annotations__", {}))
    return names


class _NoChannel:
    """Enough of a grpclib Channel for a stub's constructor, which only stores it."""

    def request(self, *args, **kwargs):  # pragma: no cover - never called
        raise RuntimeError("no channel")
