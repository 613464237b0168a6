"""bench.latency_segments cuts each send at its packets: a capture written here, packet by
packet, as tcpdump writes one on the loopback."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from bench.latency_segments import assign_passes, assign_steps, main, read_pcap, sends, summary

SERVER, PEER_SERVER, STORE, WRITER, POOL = 8000, 9000, 27017, 40000, 41000


def _packet(ts: float, sport: int, dport: int, payload: bytes) -> bytes:
    tcp = struct.pack(">HHIIBBHHH", sport, dport, 0, 0, 5 << 4, 0x18, 65535, 0, 0)
    ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp) + len(payload), 0, 0, 64, 6,
                     0, b"\x7f\0\0\x01", b"\x7f\0\0\x01")
    frame = b"\0" * 12 + b"\x08\x00" + ip + tcp + payload
    sec = int(ts)
    return struct.pack("<IIII", sec, round((ts - sec) * 1e6), len(frame), len(frame)) + frame


def _capture(path: Path, packets: list[tuple[float, int, int, bytes]]) -> Path:
    header = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
    path.write_bytes(header + b"".join(_packet(*p) for p in packets))
    return path


def _nirvana_send(t: float, cid: bytes) -> list[tuple[float, int, int, bytes]]:
    return [
        (t, 50001, SERVER, b"\x81\xfe\x00\x80masked frame"),  # the send, masked
        (t + 0.0002, WRITER, STORE, b"\x00insert\x00chat_messages\x00client_id\x00" + cid),
        (t + 0.0011, STORE, WRITER, b"\x00ok reply"),
        *[(t + 0.0013 + i * 0.0002, SERVER, 50001 + i,
           b'\x81~{"type":"newMessage","pos":1,"message":{"client_id":"' + cid + b'"}}')
          for i in range(3)],
    ]


def _peer_send(t: float, cid: bytes) -> list[tuple[float, int, int, bytes]]:
    return [
        (t, 51001, PEER_SERVER, b"\x81\xfe\x00\x80masked socket.io frame"),
        (t + 0.0003, POOL, STORE, b"\x00insert\x00messages\x00clientId\x00" + cid),
        (t + 0.0010, STORE, POOL, b"\x00ok reply"),
        (t + 0.0012, PEER_SERVER, 51001, b'\x81~42["newMessage",{"clientId":"' + cid + b'"}]'),
    ]


def test_each_send_is_cut_at_its_packets(tmp_path: Path) -> None:
    pcap = _capture(tmp_path / "chat.pcap", [
        *_nirvana_send(1.0, b"abcdef12|5:1"),
        *_peer_send(5.0, b"abcdef12|6:1"),
    ])
    found = sends(list(read_pcap(pcap)))
    assign_steps(found, [1.0, 500.0])
    rows = {r["system"]: r for r in summary(found)}
    assert rows["nirvana"] == {
        "system": "nirvana", "step": 1.0, "sends": 1, "in_to_insert": 200.0,
        "insert_to_reply": 900.0, "reply_to_first": 200.0, "reply_to_median": 400.0,
        "reply_to_last": 600.0, "in_to_median": 1500.0}
    assert rows["peer"]["in_to_insert"] == 300.0
    assert rows["peer"]["insert_to_reply"] == 700.0
    assert rows["peer"]["reply_to_first"] == 200.0
    assert rows["peer"]["in_to_median"] == 1200.0


def test_batches_and_far_frames_are_not_taken(tmp_path: Path) -> None:
    """An insert of two messages has no one send to time; a frame long before an insert is
    not its send (another client's, or nothing's)."""
    batch = _nirvana_send(1.0, b"abcdef12|1:1")
    batch[1] = (1.0002, WRITER, STORE, b"insert chat_messages abcdef12|1:1 abcdef12|1:2")
    late = _nirvana_send(2.0, b"abcdef12|2:1")
    late[0] = (1.99, 50001, SERVER, b"\x81\xfe masked")  # 10 ms before the insert
    pcap = _capture(tmp_path / "chat.pcap", [*batch, *late, *_nirvana_send(3.0, b"abcdef12|3:1")])
    found = sends(list(read_pcap(pcap)))
    assert [round(s.t_insert, 4) for s in found] == [3.0002]


def test_the_command_prints_each_system_and_step(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    pcap = _capture(tmp_path / "chat.pcap", [*_nirvana_send(1.0, b"abcdef12|5:1"),
                                             *_peer_send(5.0, b"abcdef12|6:1")])
    assert main([str(pcap), "--steps", "1,500"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].split()[:4] == ["nirvana", "1", "1", "200"]
    assert lines[2].split()[:4] == ["peer", "1", "1", "300"]


def test_a_file_that_is_not_a_pcap_is_refused(tmp_path: Path) -> None:
    (tmp_path / "x.pcap").write_bytes(b"\x0a\x0d\x0d\x0a" + b"\0" * 40)  # pcapng
    with pytest.raises(ValueError, match="not a little-endian pcap"):
        list(read_pcap(tmp_path / "x.pcap"))


def test_a_pause_begins_a_pass_and_steps_follow_the_local_rate(tmp_path: Path) -> None:
    """Sends 10 ms apart are a step of ~100/s; a 5 s pause begins the system's next pass;
    the peer's passes are counted apart."""
    packets = [p for i in range(200)
               for p in _nirvana_send(1.0 + i * 0.01, b"abcdef12|1:%d" % i)]
    packets += [p for p in _nirvana_send(7.0, b"abcdef12|2:1")]
    packets += [p for p in _peer_send(7.5, b"abcdef12|3:1")]
    found = sends(list(read_pcap(_capture(tmp_path / "chat.pcap", packets))))
    assign_steps(found, [1.0, 100.0])
    assign_passes(found)
    assert [(s.system, s.run, s.step) for s in (found[100], *found[-2:])] == [
        ("nirvana", 1, 100.0), ("nirvana", 2, 1.0), ("peer", 1, 1.0)]
    rows = {(r["system"], r["step"]): r["sends"] for r in summary(found, by_pass=True)}
    # At the run's very ends the half second either side holds about half the rate.
    assert rows[("nirvana 1", 100.0)] >= 198
    assert rows[("nirvana 2", 1.0)] == rows[("peer 1", 1.0)] == 1
