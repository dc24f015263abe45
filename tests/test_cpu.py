"""`mtst.cpu`: the instruction sets this CPU has, capped the way oneDNN caps its kernels (`ONEDNN_MAX_CPU_ISA`),
so a newer machine can be asked to behave as an older class. The kernels a capped process really runs are checked
in tests/test_onnx_export.py (the AVX2 class)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mtst import cpu


def test_flags_are_this_cpus_own(monkeypatch):
    monkeypatch.delenv(cpu.ISA_CAP, raising=False)
    text = Path("/proc/cpuinfo").read_text()
    flags = set(next(line for line in text.splitlines() if line.startswith("flags")).split(":", 1)[1].split())
    assert cpu.cap() is None
    assert cpu.instruction_sets() == [flag for flag in cpu.FLAGS if flag in flags]
    assert cpu.has_bf16() == bool(flags & {"avx512_bf16", "amx_bf16"})
    assert cpu.describe().endswith(" ".join(cpu.instruction_sets()) or "no AVX2")


@pytest.mark.parametrize(("level", "most"), [
    ("AVX2", {"avx2"}),
    ("avx2_vnni", {"avx2", "avx_vnni"}),
    ("AVX512_CORE_VNNI", {"avx2", "avx512f", "avx512_vnni"}),
    ("AVX512_CORE_BF16", {"avx2", "avx512f", "avx512_vnni", "avx512_bf16"}),
    ("AVX512_CORE_AMX", set(cpu.FLAGS)),
    ("DEFAULT", set(cpu.FLAGS)),
])
def test_a_cap_admits_no_instruction_set_above_its_level(monkeypatch, level, most):
    monkeypatch.delenv(cpu.ISA_CAP, raising=False)
    uncapped = set(cpu.instruction_sets())
    monkeypatch.setenv(cpu.ISA_CAP, level)
    assert set(cpu.instruction_sets()) == uncapped & most
    assert cpu.has_bf16() == bool(uncapped & most & {"avx512_bf16", "amx_bf16"})
    assert cpu.describe().endswith(f", capped at {level.upper()}") == (level.upper() not in ("AVX512_CORE_AMX", "DEFAULT"))


def test_an_unknown_level_is_ignored_as_onednn_ignores_it(monkeypatch):
    monkeypatch.delenv(cpu.ISA_CAP, raising=False)
    uncapped = cpu.instruction_sets()
    monkeypatch.setenv(cpu.ISA_CAP, "AVX9000")
    assert cpu.cap() is None and cpu.instruction_sets() == uncapped
