"""What a stored password hash must be in a deployment: argon2id at OWASP's minimum or above.
Shared by the services' hashing tests and run.py's (tests/e2e/test_run.py)."""

from __future__ import annotations

import argon2

# OWASP's minimum for argon2id (19 MiB, 2 passes): what a deployment must not go below.
MIN_MEMORY_KIB, MIN_PASSES = 19 * 1024, 2


def assert_at_least_the_minimum(password_hash: str) -> None:
    used = argon2.extract_parameters(password_hash)
    assert used.type is argon2.Type.ID
    assert used.memory_cost >= MIN_MEMORY_KIB and used.time_cost >= MIN_PASSES
    assert used.hash_len >= 32 and used.salt_len >= 16
