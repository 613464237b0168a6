"""A tool's stores beside a Nirvana that holds the data directory (nirvana/storage/
tool_postgres.py): its refusal is the one error raised, not one "during handling of" the
lock's refusal, which its traceback would show too."""

from __future__ import annotations

from dataclasses import replace

import pytest

from nirvana.settings import Settings
from nirvana.storage.datadir_lock import SERVER, DataDirLock
from nirvana.storage.embedded import EmbeddedError
from nirvana.storage.tool_postgres import tool_stores


def refusal(tmp_path, holder: str, tool: str, alone: bool = False) -> EmbeddedError:
    """What `tool_stores` raises for `tool` while `holder` holds the data directory."""
    settings = replace(Settings(data_dir=tmp_path), database_url="postgresql://unused/x",
                       mongodb_url=None)
    with DataDirLock(tmp_path, holder=holder):
        with pytest.raises(EmbeddedError) as refused:
            with tool_stores(settings, tool, alone=alone):
                pass
    return refused.value


def test_the_refusal_under_a_nirvana_carries_no_other_error(tmp_path):
    refused = refusal(tmp_path, SERVER, "nirvana.admin")
    assert "its chat store is not up" in str(refused)
    assert refused.__context__ is None


def test_a_tool_that_must_run_alone_refuses_instead_of_sharing(tmp_path):
    """`unbundle-receipts`: never beside a running Nirvana, whose writer stores on."""
    refused = refusal(tmp_path, SERVER, "the tool", alone=True)
    assert str(refused).startswith("the tool runs only with every instance stopped, "
                                   "and data directory")
    # Another DATA_DIR would hold other stores than the ones the tool is meant for.
    assert str(refused).endswith("; stop it first"), str(refused)
    assert refused.__context__ is None


def test_a_tool_that_must_run_alone_waits_for_another_tool(tmp_path):
    """A backup or another admin command lets go of the directory when done: wait for it."""
    refused = refusal(tmp_path, "nirvana.backup", "the tool", alone=True)
    assert "in use by nirvana.backup (pid" in str(refused)
    assert str(refused).endswith("; wait for it to finish"), str(refused)
