"""dae.speedups.allocator: glibc's malloc thresholds, set where there is glibc."""

import sys

from dae.speedups.allocator import keep_freed_memory


def test_allocator_settings_are_accepted_on_linux():
    assert keep_freed_memory() is sys.platform.startswith("linux")
