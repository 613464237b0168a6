"""Signed-in devices: what a session remembers of where it was started, kept coarse.

A session is one sign-in (one refresh-token family). Its list shows a device named from the
user agent and an IP cut to its network (IPv4 /24, IPv6 /48): enough for a user to tell
their phone from a stranger's laptop, without keeping a precise address.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from datetime import datetime

# Checked in order: Edge and Opera also say "Chrome", Chrome also says "Safari".
_BROWSERS = (
    ("Edge", r"Edg(e|A|iOS)?/"),
    ("Opera", r"OPR/|Opera"),
    ("Firefox", r"Firefox/|FxiOS/"),
    ("Chrome", r"Chrome/|CriOS/|Chromium/"),
    ("Safari", r"Safari/"),
    ("curl", r"^curl/"),
    ("Python", r"python-httpx|python-requests|aiohttp|Python"),
)
_SYSTEMS = (
    ("Android", r"Android"),
    ("iPhone", r"iPhone"),
    ("iPad", r"iPad"),
    ("Windows", r"Windows"),
    ("macOS", r"Mac OS X|Macintosh"),
    ("ChromeOS", r"CrOS"),
    ("Linux", r"Linux|X11"),
)
MAX_DEVICE = 80


def describe_device(user_agent: str) -> str:
    """A short name for a user agent, such as "Firefox on Linux"; "Unknown device" if none."""
    browser = next((name for name, pattern in _BROWSERS if re.search(pattern, user_agent)),
                   None)
    system = next((name for name, pattern in _SYSTEMS if re.search(pattern, user_agent)),
                  None)
    if browser and system:
        return f"{browser} on {system}"
    if browser or system:
        return browser or system or ""
    return "Unknown device"


def coarse_ip(ip: str) -> str:
    """The network of an address (IPv4 /24, IPv6 /48), never the address itself."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ""
    prefix = 24 if address.version == 4 else 48
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))


@dataclass(frozen=True, slots=True)
class DeviceSession:
    """One open session of a user, as the session list shows it."""

    id: str
    device: str
    ip: str
    created_at: datetime
    last_used_at: datetime
