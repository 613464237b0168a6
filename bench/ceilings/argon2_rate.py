"""Ceiling for sign-in: argon2id verifications per second on one core with Nirvana's own
parameters (the defaults of nirvana.security.Argon2Hasher), no HTTP, no database.
`python -m bench.ceilings.argon2_rate SECONDS` prints {"verifications_per_s": ...}."""

from __future__ import annotations

import inspect
import json
import sys
import time

import argon2

from nirvana.security import Argon2Hasher


def main() -> None:
    duration = float(sys.argv[1]) if len(sys.argv) > 1 else 3.0
    params = {name: p.default for name, p in inspect.signature(Argon2Hasher).parameters.items()
              if name in {"time_cost", "memory_cost", "parallelism"}}
    hasher = argon2.PasswordHasher(**params)
    stored = hasher.hash("correct horse battery")
    count, start = 0, time.perf_counter()
    while count < 10_000 and time.perf_counter() - start < duration:
        hasher.verify(stored, "correct horse battery")
        count += 1
    elapsed = time.perf_counter() - start
    print(json.dumps({"verifications_per_s": count / elapsed, "verifications": count,
                      "params": params}))


if __name__ == "__main__":
    main()
