"""Sizes as the pages show them (the profile's storage line), in the units the README uses."""

import pytest

from nirvana.web.templating import human_bytes


@pytest.mark.parametrize("n,shown", [(0, "0 bytes"), (999, "999 bytes"), (1000, "1 kB"),
                                     (1234567, "1.2 MB"), (500_000_000, "500 MB"),
                                     (10**16, "10000 TB")])
def test_sizes_are_shown_in_decimal_units(n, shown):
    assert human_bytes(n) == shown
