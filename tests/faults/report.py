"""What the kills of one step showed, per kill and summed up, and the table the benchmark prints."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .outputs import Rerun


@dataclass
class Kill:
    index: int
    trigger: str                      # "after 2.31 s" or "failpoint io.between_renames=1"
    with_previous: bool
    killed_mid_run: bool
    states: dict[str, str]
    strays: list[str]                 # right after the kill
    strays_after_rerun: list[str]     # still there once the step ran again
    rerun: Rerun

    @property
    def partial(self) -> list[str]:
        return [o for o, s in self.states.items() if s == "partial"]

    @property
    def mixed(self) -> bool:
        """A new output next to an old one it must match."""
        return "new" in self.states.values() and "previous" in self.states.values()


@dataclass
class StepReport:
    step: str
    duration_s: float
    kills: list[Kill] = field(default_factory=list)

    @property
    def timer_kills(self) -> int:
        return sum(not k.trigger.startswith("failpoint") for k in self.kills)

    @property
    def killed_mid_run(self) -> int:
        return sum(k.killed_mid_run for k in self.kills)

    @property
    def partial(self) -> int:
        return sum(len(k.partial) + k.mixed for k in self.kills)

    @property
    def stray_files(self) -> list[str]:
        return sorted({s for k in self.kills for s in k.strays})

    @property
    def strays_after_rerun(self) -> list[str]:
        return sorted({s for k in self.kills for s in k.strays_after_rerun})

    @property
    def rerun_identical(self) -> bool:
        return all(k.rerun.identical_files for k in self.kills)

    @property
    def metric_differences(self) -> list[str]:
        return sorted({d for k in self.kills for d in k.rerun.metric_differences})

    def summary(self) -> dict[str, Any]:
        return {"step": self.step, "duration_s": round(self.duration_s, 1), "kills": len(self.kills),
                "killed_mid_run": self.killed_mid_run, "partial_outputs": self.partial,
                "stray_temp_files": self.stray_files, "strays_after_rerun": self.strays_after_rerun,
                "rerun_identical": self.rerun_identical, "metric_differences": self.metric_differences,
                "kills_detail": [{"trigger": k.trigger, "with_previous": k.with_previous, "killed": k.killed_mid_run,
                                  "states": k.states, "strays": k.strays} for k in self.kills]}


def format_table(reports: Sequence[StepReport]) -> str:
    header = ["step", "clean s", "kills (timer+failpoint)", "killed mid-run", "partial outputs", "stray temp files",
              "strays after re-run", "re-run identical", "metric differences"]
    rows = [[r.step, f"{r.duration_s:.1f}", f"{r.timer_kills}+{len(r.kills) - r.timer_kills}", str(r.killed_mid_run),
             str(r.partial), str(len(r.stray_files)), str(len(r.strays_after_rerun)),
             "yes" if r.rerun_identical else "no", str(len(r.metric_differences))] for r in reports]
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(header)]
    lines = [" | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)),
             "-+-".join("-" * w for w in widths)]
    lines += [" | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    return "\n".join(lines)
