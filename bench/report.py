"""Turn a results file into ``docs/performance.md`` and its plots (``docs/performance/``).

Everything in the page comes from the results JSON except ``bench/analysis.md``, the
hand-written reading of the profiles ("what limits us"), which is included as it is: the
numbers around it change with every run, the explanation only when the code does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "performance.md"
PLOTS = ROOT / "docs" / "performance"
ANALYSIS = Path(__file__).resolve().parent / "analysis.md"


def _num(value: Any, unit: str = "") -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and not value.is_integer():
        text = f"{value:,.1f}" if abs(value) >= 10 else f"{value:,.2f}"
    else:
        text = f"{int(value):,}"
    return f"{text} {unit}".strip()


def _ratio(figure: dict[str, Any]) -> str:
    value = figure.get("ratio")
    if value is None:
        return "-"
    if figure["unit"] in ("ms", "s"):
        return f"{value:.2f}x"
    return f"{100 * value:.0f}%"


def _met(value: bool | None) -> str:
    return {True: "yes", False: "**no**", None: ""}[value]


def table(results: dict[str, Any]) -> list[str]:
    lines = [
        "| Figure | Tessera | Ceiling (same run) | Ratio | Target | Met? |",
        "|---|---:|---|---:|---|---|",
    ]
    for section in results["sections"]:
        lines.append(f"| **{section['name']}** | | | | | |")
        for f in section["figures"]:
            ceiling = (
                f"{_num(f['ceiling'], f['unit'])} ({f['ceiling_label']})"
                if f["ceiling"] is not None
                else "-"
            )
            name = f["name"] + (f"<br><sub>{f['note']}</sub>" if f["note"] else "")
            lines.append(
                f"| {name} | {_num(f['tessera'], f['unit'])} | {ceiling} | {_ratio(f)} | "
                f"{f['target']} | {_met(f['met'])} |"
            )
        if section["error"]:
            lines.append(f"| {section['name']} did not complete: `{section['error']}` | | | | | |")
    return lines


def _save(fig: Any, name: str) -> str:
    PLOTS.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(PLOTS / name, dpi=110)
    plt.close(fig)
    return f"performance/{name}"


def _section(results: dict[str, Any], name: str) -> dict[str, Any] | None:
    return next((s for s in results["sections"] if s["name"] == name), None)


def _nan(values: list[Any]) -> list[float]:
    return [float("nan") if v is None else float(v) for v in values]


def plot_reads(series: dict[str, Any]) -> list[str]:
    curves = series.get("reads_curves") or {}
    if not curves:
        return []
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    for kind, points in curves.items():
        if kind.startswith("bare") and kind != "bare gallery":
            continue
        xs = [p["concurrency"] for p in points]
        style = "--" if kind.startswith("bare") else "-"
        left.plot(xs, [p["rps"] for p in points], style, marker="o", label=kind)
        if not kind.startswith("bare"):
            right.plot(xs, _nan([p["p99_ms"] for p in points]), marker="o", label=f"{kind} p99")
            right.plot(
                xs, _nan([p["p50_ms"] for p in points]), ":", marker=".", label=f"{kind} p50"
            )
    left.set(
        xscale="log",
        yscale="log",
        xlabel="requests in flight",
        ylabel="requests/s",
        title="Reads: throughput against load",
    )
    left.axhline(1000, color="grey", linewidth=0.8)
    left.set_xticks([1, 8, 32], ["1", "8", "32"])
    right.set(
        xscale="log",
        yscale="log",
        xlabel="requests in flight",
        ylabel="ms",
        title="Reads: latency against load",
    )
    right.set_xticks([1, 8, 32], ["1", "8", "32"])
    left.legend(fontsize=7)
    right.legend(fontsize=6, ncol=2)
    return [_save(fig, "reads.png")]


def plot_inbox(series: dict[str, Any]) -> list[str]:
    data = series.get("inbox")
    if not data:
        return []
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    for label, points, style in (
        ("Tessera", data["curve"], "-"),
        ("bare Starlette", data["bare"], "--"),
        ("bare verify + store", data.get("least", []), "-."),
    ):
        if not points:  # runs from before the verify-and-store ceiling
            continue
        xs = [p["concurrency"] for p in points]
        left.plot(xs, [p["rps"] for p in points], style, marker="o", label=f"{label} req/s")
    twin = left.twinx()
    twin.plot(
        [p["concurrency"] for p in data["curve"]],
        [p["p99_ms"] for p in data["curve"]],
        ":",
        color="red",
        marker="x",
        label="Tessera p99 ms",
    )
    twin.set_ylabel("p99 ms")
    left.set(
        xscale="log",
        yscale="log",
        xlabel="deliveries in flight",
        ylabel="accepted/s",
        title="Inbox: accepted against load",
    )
    left.set_xticks([1, 8, 32], ["1", "8", "32"])
    left.legend(loc="upper left", fontsize=7)
    twin.legend(loc="lower right", fontsize=7)
    points = data.get("backlog") or []
    if points:
        right.plot([p[0] for p in points], [p[1] for p in points], label="pending")
        right.plot([p[0] for p in points], [p[2] for p in points], label="processed")
        right.set(xlabel="seconds", ylabel="rows", title="Inbox: backlog over time")
        right.legend(fontsize=7)
    return [_save(fig, "inbox.png")]


def plot_fanout(series: dict[str, Any]) -> list[str]:
    data = series.get("fanout")
    if not data or not data.get("progress"):
        return []
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot([p[0] for p in data["progress"]], [p[1] for p in data["progress"]])
    ax.axvline(data["publish_seconds"], color="grey", linestyle=":", label="publish answered")
    ax.set(
        xlabel="seconds since publishing",
        ylabel="deliveries received",
        title=f"Fan-out to {data['followers']:,} followers: progress",
    )
    ax.legend(fontsize=8)
    return [_save(fig, "fanout.png")]


def plot_media(series: dict[str, Any]) -> list[str]:
    data = series.get("media")
    if not data:
        return []
    fig, ax = plt.subplots(figsize=(6, 4))
    sizes = list(data)
    xs = range(len(sizes))
    med = lambda v: sorted(v)[len(v) // 2]  # noqa: E731
    ax.bar(
        [x - 0.2 for x in xs],
        [1000 * med(data[s]["tessera"]) for s in sizes],
        0.4,
        label="Tessera upload to ready",
    )
    ax.bar(
        [x + 0.2 for x in xs],
        [1000 * med(data[s]["bare"]) for s in sizes],
        0.4,
        label="bare Pillow",
    )
    ax.set_xticks(list(xs), [f"{s}x{s} PNG" for s in sizes])
    ax.set(ylabel="ms (median)", title="Media: upload to ready against bare Pillow")
    ax.legend(fontsize=8)
    return [_save(fig, "media.png")]


def plot_memory(series: dict[str, Any]) -> list[str]:
    data = series.get("rss_mb")
    if not data:
        return []
    fig, ax = plt.subplots(figsize=(8, 4))
    ax.barh([label for label, _ in data][::-1], [v for _, v in data][::-1])
    ax.axvline(100, color="grey", linestyle=":")
    ax.set(xlabel="resident MB", title="Footprint: memory of tessera serve through the run")
    return [_save(fig, "memory.png")]


def plan_summary(plans: dict[str, Any]) -> str:
    """``1 passed, 2 xfailed`` plus the known scans' test names."""
    lines = plans.get("summary") or []
    if not lines:
        return "not run"
    counts = lines[-1].split(" in ")[0]
    known = [
        line.split("::", 1)[1].split(" - ", 1)[0]
        for line in lines
        if line.startswith("XFAIL") and "::" in line
    ]
    return counts + (f" (known scans, see below: {', '.join(known)})" if known else "")


def profile_lines(results: dict[str, Any]) -> list[str]:
    reads = _section(results, "Reads")
    profiles = (reads or {}).get("series", {}).get("profiles", {})
    lines: list[str] = []
    for kind, summary in profiles.items():
        if "error" in summary:
            lines += [f"- {kind}: no profile ({summary['error']})"]
            continue
        comps = ", ".join(f"{name} {share}%" for name, share in summary["components"][:8])
        ours = ", ".join(f"`{name}` {share}%" for name, share in summary["our_functions"][:6])
        lines += [
            f"- **{kind}, 8 in flight**: event loop busy {summary.get('loop_busy_pct', '?')}% "
            f"({summary['samples']} samples); its samples by component of the innermost frame: "
            f"{comps}.",
            f"  Our code, inclusive: {ours}.",
        ]
    return lines


def federation_profile_lines(results: dict[str, Any]) -> list[str]:
    lines = []
    for section_name, key, label in (
        ("Inbox", "profile", "inbox acceptance (with processing running beside it)"),
        ("Inbox", "processing_profile", "inbox processing after acceptance"),
        ("Fan-out", "profile", "fan-out delivery"),
    ):
        section = _section(results, section_name)
        data = (
            (section or {}).get("series", {}).get("inbox" if section_name == "Inbox" else "fanout")
        )
        summary = (data or {}).get(key)
        if not summary or "error" in summary:
            continue
        comps = ", ".join(f"{n} {v}%" for n, v in summary["components"][:7])
        ours = ", ".join(f"`{n}` {v}%" for n, v in summary["our_functions"][:8])
        lines += [
            f"- **{label}**: event loop busy {summary.get('loop_busy_pct', '?')}%; by component: "
            f"{comps}.",
            f"  Our code, inclusive: {ours}.",
        ]
    return lines


def write_docs(results: dict[str, Any]) -> None:
    series: dict[str, Any] = {}
    for section in results["sections"]:
        series.update(section["series"])
    images = [
        *plot_reads(series),
        *plot_media(series),
        *plot_inbox(series),
        *plot_fanout(series),
        *plot_memory(series),
    ]
    m = results["machine"]
    plans = results.get("query_plans", {})
    notes = [n for s in results["sections"] for n in s["notes"]]
    lines = [
        "# Performance",
        "",
        "Generated by `make bench` (`python -m bench.run`) from "
        f"`bench/results/` on {results['started']} ({results['seconds']:.0f} s"
        f"{', quick run' if results['quick'] else ''}). Do not edit by hand: the table, the machine "
        "and the plots are rewritten on every full run; the analysis comes from `bench/analysis.md`.",
        "",
        "Every figure is measured beside its bare ceiling in the same run, on the same machine, "
        "through the real `tessera serve` over loopback (real images, real RSA signatures); "
        "ratios are what to compare across machines and runs. Rates: Tessera / ceiling (100% is "
        "the ceiling). Times: how many times the bare work Tessera takes.",
        "",
        f"Data: {results['seed']['size']} seed "
        + ", ".join(f"{n:,} {t}" for t, n in results["seed"]["rows"].items())
        + " rows.",
        "",
        *table(results),
        "",
        "## Machine",
        "",
        f"- CPU: {m['cpu']}, {m['cores']} cores, {m['memory']} ({m['os']}); load average at "
        f"start {m['load_average_at_start']} (the machine is shared: absolute figures drift, "
        "ratios much less)",
        f"- Python {m['python']}, SQLite {m['sqlite']}, Pillow {m['pillow']} (libwebp "
        f"{m['libwebp']}), cryptography {m['cryptography']}",
        f"- uvicorn {m['uvicorn']} with uvloop {m['uvloop']} and httptools {m['httptools']}, "
        f"Starlette {m['starlette']}, SQLAlchemy {m['sqlalchemy']}, aiosqlite {m['aiosqlite']}, "
        f"httpx {m['httpx']}",
        "- Load generator: `bench/loadgen.py`, raw HTTP/1.1 keep-alive connections on uvloop with "
        "httptools parsing, a fixed number of requests in flight, in its own process",
        "",
        "## Query plans",
        "",
        "`tests/test_query_plans.py` asks SQLite for the plan of every query the gallery, profile, "
        "tag, home and post pages, the client API's home, public and hashtag timelines, the blob "
        "reference check and the notification count send, and fails on a full scan of `post`, "
        "`media_attachment`, `follow` or `notification` (or an index search on a column nearly "
        "every row matches, followed by a sort). This run: " + plan_summary(plans) + ".",
        "",
        "## Plots",
        "",
        *[f"![{Path(i).stem}]({i})" for i in images],
        "",
        "## What limits us",
        "",
        "Profiles of the running server (py-spy, during extra load runs; raw stacks in "
        "`bench/results/work-*/profile-*.txt`). SQLAlchemy's async layer runs ORM work in "
        "greenlets, which py-spy shows apart from the request's stack, so the inclusive shares "
        "of our functions under-count database work; the component shares are the reliable part. "
        "`asyncio / uvloop` is mostly the loop waiting for the GIL while aiosqlite's threads "
        "build result rows.",
        "",
        *profile_lines(results),
        *federation_profile_lines(results),
        "",
        ANALYSIS.read_text().strip() if ANALYSIS.exists() else "",
        "",
    ]
    if notes:
        lines += ["## Notes from this run", "", *[f"- {n}" for n in notes], ""]
    lines += [
        "## Running it",
        "",
        "`make bench` installs the `bench` extra and runs everything (about 10-15 minutes on "
        "2 cores); `make bench-quick` is a 2-minute smoke run on a small database that leaves "
        "this page alone. Results land in `bench/results/` (not committed). For an A/B "
        "of one area, `python -m bench.run --only inbox --no-growth --skip-plans --no-docs` "
        "runs one section (reads, media, inbox, fanout) without the 20,000-request growth "
        "batch; `--report-only FILE` rewrites this page from a results file.",
        "",
    ]
    DOC.write_text("\n".join(lines))
