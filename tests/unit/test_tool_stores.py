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


def test_the_refusal_under_a_nirvana_carries_no_other_error(tmp_path):
    settings = replace(Settings(data_dir=tmp_path), database_url="postgresql://unused/x",
                       mongodb_url=None)
    with DataDirLock(tmp_path, holder=SERVER):
        with pytest.raises(EmbeddedError) as refused:
            with tool_stores(settings, "nirvana.admin"):
                pass
    assert "its chat store is not up" in str(refused.value)
    assert refused.value.__context__ is None


def test_a_tool_that_must_run_alone_refuses_instead_of_sharing(tmp_path):
    """`unbundle-receipts`: never beside a running Nirvana, whose writer stores on."""
    settings = replace(Settings(data_dir=tmp_path), database_url="postgresql://unused/x",
                       mongodb_url=None)
    with DataDirLock(tmp_path, holder=SERVER):
        with pytest.raises(EmbeddedError) as refused:
            with tool_stores(settings, "the tool", alone=True):
                pass
    assert str(refused.value).startswith("the tool runs only with every instance stopped, "
                                         "and data directory")
    # Another DATA_DIR would hold other stores than the ones the tool is meant for.
    assert str(refused.value).endswith("; stop it first"), str(refused.value)
    assert refused.value.__context__ is None


def test_a_tool_that_must_run_alone_waits_for_another_tool(tmp_path):
    """A backup or another admin command lets go of the directory when done: wait for it."""
    settings = replace(Settings(data_dir=tmp_path), database_url="postgresql://unused/x",
                       mongodb_url=None)
    with DataDirLock(tmp_path, holder="nirvana.backup"):
        with pytest.raises(EmbeddedError) as refused:
            with tool_stores(settings, "the tool", alone=True):
                pass
    assert "in use by nirvana.backup (pid" in str(refused.value)
    assert str(refused.value).endswith("; wait for it to finish"), str(refused.value)
