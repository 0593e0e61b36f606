"""Peak memory: framing the worst inputs the default limits admit stays under the stated peak.

Each case runs in a fresh process (tests/memory_peak.py) that reports its peak resident
size. Two promises are checked: the README's stated peak, and that smartframe's estimate
of a decode (what ``Limits.max_decode_bytes`` is compared with) is not an underestimate.
"""

import sys

import pytest

from smartframe import Limits

from memory_peak import CASES, MemoryCase, measure

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads VmHWM from /proc"),
]

MIB = 2**20
#: Beyond the estimate: row-band temporaries, library state, the output. Measured: 3-35 MiB.
SLACK = 64 * MIB
#: The peak the README states for the default limits and outputs up to 4K.
STATED_PEAK = 1200 * MIB


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_peak_memory_of_the_worst_admitted_inputs(case: MemoryCase, tmp_path):
    result = measure(case, tmp_path)
    assert result["outcome"] == case.outcome
    peak, baseline = result["peak"], result["baseline"]
    assert peak <= baseline + Limits().max_decode_bytes + SLACK
    assert peak <= STATED_PEAK, f"{peak / MIB:.0f} MiB"
    if result["estimate"] is not None:
        assert peak - baseline <= result["estimate"] + SLACK, (
            f"measured {(peak - baseline) / MIB:.0f} MiB over the baseline, "
            f"estimated {result['estimate'] / MIB:.0f} MiB")
    if case.outcome == "ImageTooLargeError":
        assert peak - baseline < 32 * MIB  # refused before anything was allocated
