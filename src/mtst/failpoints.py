"""Named failpoints: SIGKILL this process the N-th time it passes a point, for crash-recovery tests.

``MTST_FAILPOINTS="train.step=17,io.between_renames=3"`` kills the process (a real SIGKILL: no cleanup,
no ``finally``) when it reaches ``train.step`` for the 17th time, or the 3rd folder replace. Unset, a
failpoint costs one dictionary lookup. Tests and ``benchmarks/fault_injection.py`` use it to land kills
on the exact instants that matter (between two renames, right after a stage-end checkpoint), which a
timer could only hit by luck.
"""

from __future__ import annotations

import os
import signal
from collections import Counter

from mtst.environment import Environment, env_name

ENV = env_name("failpoints")
_hits: Counter[str] = Counter()


def failpoint(name: str) -> None:
    """Pass the point ``name``; die here if the plan says this is the hit to die on."""
    if ENV not in os.environ:
        return
    _hits[name] += 1
    if Environment.current().failpoints.get(name) == _hits[name]:
        os.kill(os.getpid(), signal.SIGKILL)
