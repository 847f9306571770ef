"""Failures the client must not blame on the target (issue 21: no outcome may depend on load)."""

from __future__ import annotations

import errno

import httpx

from conformance.transport.client import _local_fault


def _read_error(cause: OSError) -> httpx.ReadError:
    try:
        try:
            raise cause
        except OSError as inner:
            raise httpx.ReadError(str(inner)) from inner
    except httpx.ReadError as outer:
        return outer


def test_a_bad_file_descriptor_is_this_process_fault() -> None:
    assert _local_fault(_read_error(OSError(errno.EBADF, "Bad file descriptor")))


def test_a_reset_or_refusal_is_the_targets() -> None:
    assert not _local_fault(_read_error(ConnectionResetError(errno.ECONNRESET, "Connection reset by peer")))
    assert not _local_fault(httpx.ConnectError("refused"))

