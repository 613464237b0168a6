"""The refusal a second process gets on a held data directory (storage/datadir_lock.py):
it names the holder, and its advice fits it — a server is stopped (or another DATA_DIR
used), a tool is waited for, since it lets go when done."""

from __future__ import annotations

import os

import pytest

from nirvana.storage.datadir_lock import SERVER, DataDirInUseError, DataDirLock, holder_of


def test_a_running_nirvana_is_named_with_its_url_and_the_advice_to_stop_it(tmp_path):
    with DataDirLock(tmp_path) as held:
        held.announce("http://127.0.0.1:8000")
        with pytest.raises(DataDirInUseError) as refused:
            DataDirLock(tmp_path).acquire()
        assert holder_of(tmp_path) == {"pid": os.getpid(), "holder": SERVER,
                                       "url": "http://127.0.0.1:8000"}
    assert str(refused.value) == (
        f"data directory {tmp_path} is in use by Nirvana (pid {os.getpid()}, "
        "http://127.0.0.1:8000); stop it first or set DATA_DIR")
    assert not refused.value.by_tool


@pytest.mark.parametrize("tool", ["nirvana.admin unbundle-receipts", "nirvana.backup"])
def test_a_start_beside_a_tool_is_told_to_wait_for_it(tmp_path, tool):
    with DataDirLock(tmp_path, holder=tool):
        with pytest.raises(DataDirInUseError) as refused:
            DataDirLock(tmp_path).acquire()
    assert str(refused.value) == (f"data directory {tmp_path} is in use by {tool} "
                                  f"(pid {os.getpid()}, starting); wait for it to finish")
    assert refused.value.by_tool
    # Released: the directory is free again.
    assert holder_of(tmp_path) is None
    DataDirLock(tmp_path).acquire().release()


def test_an_unreadable_holder_is_another_process_to_stop(tmp_path):
    with DataDirLock(tmp_path):
        (tmp_path / "nirvana.lock").write_text("not json")
        with pytest.raises(DataDirInUseError) as refused:
            DataDirLock(tmp_path).acquire()
    assert str(refused.value).endswith("in use by another process; stop it first or set "
                                       "DATA_DIR")
