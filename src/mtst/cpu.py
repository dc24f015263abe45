"""What this CPU can compute, as the backends see it: the instruction sets that decide whether bf16 really
computes in bf16 and whether int8 dot products saturate. Its own module, importing nothing of mtst, because the
backends (``mtst.export``) and the records (the serving table, the registry) both name the CPU.

Why it matters: the same graph answers differently on different classes of CPU.
- **bf16** runs only with AVX512-BF16 or AMX; elsewhere a bf16 request computes in fp32, so ``openvino-bf16``
  runs as ``openvino`` there and is reported so (:func:`has_bf16`).
- **int8** products of u8 × s8 accumulate in 32 bits with VNNI (AVX512-VNNI, AVX-VNNI, AMX); without it
  (AVX2 only) they go through 16-bit intermediates that can saturate. The ``openvino-int8`` export quantises
  its weights to 7 bits so no product saturates on any class (``mtst.export.openvino_int8``).

**Checking an older class on a newer CPU.** oneDNN, which runs torch's and OpenVINO's int8 and bf16 kernels,
caps its instruction sets at ``ONEDNN_MAX_CPU_ISA`` (``AVX2``: no AVX-512, no VNNI, no bf16); this module
applies the same cap, so with :data:`CLASS_CAPS` ``["avx2"]`` in the environment a newer machine picks the
kernels, and makes the choices, of an AVX2-only one. Not covered by the cap: ONNX Runtime's own kernels
(MLAS chooses from CPUID, so ``onnx`` and ``onnx-int8`` still use VNNI where the CPU has it), OpenVINO's fp32
MatMuls (MLAS as well) and the speed of the older class (its caches, clocks and core count)."""

from __future__ import annotations

import functools
import os
import platform
from pathlib import Path

ISA_CAP = "ONEDNN_MAX_CPU_ISA"
"""The environment setting oneDNN reads to cap its instruction sets (its levels: :data:`_ALLOWED`)."""

FLAGS = ("avx2", "avx512f", "avx_vnni", "avx512_vnni", "avx512_bf16", "amx_int8", "amx_bf16")
"""The ``/proc/cpuinfo`` flags that change what the backends run (reported with every measurement)."""

BF16 = ("avx512_bf16", "amx_bf16")

_AVX2 = {"avx2"}
_AVX512 = _AVX2 | {"avx512f"}
_VNNI512 = _AVX512 | {"avx512_vnni"}
_FP16 = _VNNI512 | {"avx512_bf16", "avx_vnni"}
_ALLOWED: dict[str, set[str]] = {
    "SSE41": set(), "AVX": set(), "AVX2": _AVX2, "AVX2_VNNI": _AVX2 | {"avx_vnni"},
    "AVX2_VNNI_2": _AVX2 | {"avx_vnni"}, "AVX512_CORE": _AVX512, "AVX512_CORE_VNNI": _VNNI512,
    "AVX512_CORE_BF16": _VNNI512 | {"avx512_bf16"}, "AVX512_CORE_FP16": _FP16, "AVX10_1_512": _FP16,
}
"""What each oneDNN level admits of :data:`FLAGS`; a higher level (AMX, AVX10.2, ``DEFAULT``) admits all."""

CLASS_CAPS: dict[str, dict[str, str]] = {
    "avx2": {ISA_CAP: "AVX2", "ATEN_CPU_CAPABILITY": "avx2", "MKL_ENABLE_INSTRUCTIONS": "AVX2"},
}
"""The environment that makes a newer CPU compute as an older class: oneDNN's cap (torch's and OpenVINO's int8
and bf16 kernels), torch's own vectorised kernels and MKL's (torch's fp32 matrix products)."""

CAP_ENV: tuple[str, ...] = tuple(sorted({name for caps in CLASS_CAPS.values() for name in caps}))
"""Those settings' names: a process started for a task (a container) gets them, so it computes as the shell's
class."""


@functools.cache
def _cpuinfo() -> tuple[str, frozenset[str]]:
    """The CPU's model name and flags, read once (``/proc/cpuinfo``; empty where there is none)."""
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return platform.processor() or "unknown", frozenset()
    model, flags = "unknown", frozenset[str]()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "model name" and model == "unknown":
            model = value.strip()
        elif key.strip() == "flags" and not flags:
            flags = frozenset(value.split())
    return model, flags


def cap() -> str | None:
    """The oneDNN level this process is capped at (``ONEDNN_MAX_CPU_ISA``), or None when it runs uncapped."""
    value = os.environ.get(ISA_CAP, "").strip().upper()
    return value if value in _ALLOWED else None


def instruction_sets() -> list[str]:
    """The :data:`FLAGS` this CPU has and the cap admits, in :data:`FLAGS`' order."""
    present = _cpuinfo()[1]
    allowed = _ALLOWED.get(cap() or "", set(FLAGS))
    return [flag for flag in FLAGS if flag in present and flag in allowed]


def has_bf16() -> bool:
    """Whether bf16 really computes in bf16 here (AVX512-BF16 or AMX, within the cap)."""
    return any(flag in instruction_sets() for flag in BF16)


def describe() -> str:
    """The CPU in one line for reports: model, cores, the instruction sets that matter, the cap if any."""
    capped = f", capped at {cap()}" if cap() else ""
    return f"{_cpuinfo()[0]}, {os.cpu_count()} cores, {' '.join(instruction_sets()) or 'no AVX2'}{capped}"
