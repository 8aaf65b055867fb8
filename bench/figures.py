"""What a benchmark hands back: figures (Tessera beside its ceiling, the ratio, the target)
plus series for the plots and notes for the report."""

from __future__ import annotations

import platform
import sqlite3
import sys
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any


@dataclass
class Figure:
    """One row of the table. ``ratio`` is Tessera over the ceiling for rates (higher is
    better, 1.0 is the ceiling) and for times (lower is better: how many times the bare
    work Tessera takes); ``met`` is None when the figure has no target of its own."""

    group: str
    name: str
    tessera: float | None
    unit: str
    ceiling: float | None = None
    ceiling_label: str = ""
    ratio: float | None = None
    target: str = ""
    met: bool | None = None
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Section:
    """The outcome of one benchmark."""

    name: str
    figures: list[Figure] = field(default_factory=list)
    series: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    error: str | None = None

    def add(self, figure: Figure) -> Figure:
        self.figures.append(figure)
        return figure

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "figures": [f.to_dict() for f in self.figures],
            "series": self.series,
            "notes": self.notes,
            "seconds": round(self.seconds, 1),
            "error": self.error,
        }


def ratio(tessera: float | None, ceiling: float | None) -> float | None:
    if tessera is None or not ceiling:
        return None
    return round(tessera / ceiling, 4)


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine() -> dict[str, Any]:
    """The machine and the versions of what does the work, for the report."""
    import os

    from PIL import features

    try:
        import psutil

        memory = f"{psutil.virtual_memory().total / 2**30:.1f} GiB"
        load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    except Exception:  # pragma: no cover - psutil is in the bench extra
        memory, load = "unknown", "unknown"
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "memory": memory,
        "load_average_at_start": load,
        "os": f"{platform.system()} {platform.release()}",
        "python": sys.version.split()[0],
        "sqlite": sqlite3.sqlite_version,
        "pillow": _version("pillow"),
        "libwebp": features.version("webp") or "unknown",
        "uvicorn": _version("uvicorn"),
        "uvloop": _version("uvloop"),
        "httptools": _version("httptools"),
        "starlette": _version("starlette"),
        "sqlalchemy": _version("sqlalchemy"),
        "aiosqlite": _version("aiosqlite"),
        "cryptography": _version("cryptography"),
        "httpx": _version("httpx"),
    }
