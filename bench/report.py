"""Pure helpers of the benchmark: percentiles, summaries over repetitions, ratios to the
ceilings, targets, and the three outputs (latest.json, latest.md, latency.png).

Nothing here starts a process or opens a socket, so it is unit-tested as plain functions.
"""

from __future__ import annotations

import json
import math
import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Literal


def percentile(values: Iterable[float], q: float) -> float | None:
    """The q-th percentile (0–100) with linear interpolation between ranks (NumPy's default);
    None for no values."""
    data = sorted(values)
    if not data:
        return None
    if not 0 <= q <= 100:
        raise ValueError(f"percentile {q} is not within 0..100")
    rank = (len(data) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return data[low] + (data[high] - data[low]) * (rank - low)


def summarize(runs: list[float]) -> dict[str, Any]:
    """Median of the repetitions (the figure reported) with min, max and every run kept."""
    if not runs:
        return {"median": None, "min": None, "max": None, "runs": []}
    return {"median": statistics.median(runs), "min": min(runs), "max": max(runs),
            "runs": list(runs)}


def median_of(runs: list[dict[str, Any]], *keys: str) -> dict[str, dict[str, Any]]:
    """Each key's summary over the runs that have it."""
    return {k: summarize([r[k] for r in runs if r.get(k) is not None]) for k in keys}


def med(summary: dict[str, dict[str, Any]], key: str) -> float | None:
    return summary[key]["median"]


def median_steps(passes: list[list[dict[str, Any]]], rates: list[float],
                 keys: Iterable[str]) -> list[dict[str, Any]]:
    """One step per offered rate: the median of each figure in `keys` over the passes (the
    figure reported), each figure's summary under "summary" and every pass's step under "runs".
    A pass that stopped early counts in the steps it reached."""
    keys = tuple(keys)
    steps = []
    for i, rate in enumerate(rates):
        runs = [p[i] for p in passes if i < len(p)]
        summary = {k: summarize([r[k] for r in runs if r.get(k) is not None]) for k in keys}
        step: dict[str, Any] = {k: summary[k]["median"] for k in keys}
        step.update(offered_sends_per_s=rate, summary=summary, runs=runs)
        steps.append(step)
    return steps


def ratio(value: float | None, ceiling: float | None) -> float | None:
    if value is None or ceiling is None or ceiling == 0:
        return None
    return value / ceiling


@dataclass(frozen=True)
class Target:
    """A target of issue 5: `on` the ratio or the value itself, `op` `>=` or `<=` `limit`."""

    op: Literal[">=", "<=", "<", "=="]
    limit: float
    on: Literal["ratio", "value"] = "ratio"

    def check(self, value: float | None, ratio_: float | None) -> bool | None:
        subject = ratio_ if self.on == "ratio" else value
        if subject is None:
            return None
        return {">=": subject >= self.limit, "<=": subject <= self.limit,
                "<": subject < self.limit, "==": subject == self.limit}[self.op]

    def __str__(self) -> str:
        sign = {">=": "≥", "<=": "≤", "<": "<", "==": "="}[self.op]
        return f"{sign} {self.limit:g}×" if self.on == "ratio" else f"{sign} {self.limit:g}"


@dataclass
class Row:
    """One line of the table. `ceiling` is the same-run figure the value is divided by."""

    measurement: str
    value: float | None
    unit: str
    ceiling: float | None = None
    ceiling_name: str = ""
    target: Target | None = None
    note: str = ""
    # (lowest, highest) over the repetitions, where they swing enough to matter: a median
    # of three alone hid that a p99 was 45 ms in one run and 76 ms in the next.
    spread: tuple[float, float] | None = None
    ratio: float | None = field(default=None, init=False)
    result: str = field(default="—", init=False)

    def __post_init__(self) -> None:
        self.ratio = ratio(self.value, self.ceiling)
        if self.target is not None:
            verdict = self.target.check(self.value, self.ratio)
            self.result = {True: "pass", False: "FAIL", None: "—"}[verdict]

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["target"] = str(self.target) if self.target else None
        return out


def spread_of(summary: dict[str, Any]) -> tuple[float, float] | None:
    """(min, max) of a `summarize` result, None without runs."""
    if summary.get("min") is None:
        return None
    return summary["min"], summary["max"]


def value_text(row: Row) -> str:
    if row.value is None:
        return ""
    text = fmt(row.value, row.unit)
    if row.spread is not None and row.spread[0] != row.spread[1]:
        low, high = (fmt(v) for v in row.spread)
        text += f" ({low}–{high})"
    return text


def skipped_row(measurement: str, note: str) -> Row:
    row = Row(measurement, None, "", note=note)
    row.result = "skipped"
    return row


def fmt(value: float | None, unit: str = "") -> str:
    if value is None:
        return "—"
    if value == 0:
        text = "0"
    elif abs(value) >= 100:
        text = f"{value:,.0f}"
    elif abs(value) >= 10:
        text = f"{value:.1f}"
    elif abs(value) >= 0.01:
        text = f"{value:.2f}"
    else:
        text = f"{value:.2g}"
    return f"{text} {unit}".strip()


def markdown(rows: list[Row], meta: dict[str, Any]) -> str:
    lines = [f"# Nirvana benchmark — {meta.get('label', 'run')}", ""]
    facts = [
        ("date (UTC)", meta.get("date")),
        ("git commit", meta.get("git_commit")),
        ("machine", meta.get("machine")),
        ("pinning", meta.get("pinning")),
        ("repetitions", meta.get("repetitions")),
        ("load average before / after", meta.get("loadavg")),
    ]
    lines += [f"- {name}: {value}" for name, value in facts if value is not None]
    lines += ["", "Every value is the median of the repetitions, with the lowest and highest "
              "run in brackets where shown; the ratio divides the median by the ceiling "
              "measured in the same run. Every run is in `latest.json`.", "",
              "| measurement | value | ceiling | ratio | target | result |",
              "|---|---|---|---|---|---|"]
    for row in rows:
        ceiling = fmt(row.ceiling, row.unit) if row.ceiling is not None else ""
        if row.ceiling_name and row.ceiling is not None:
            ceiling = f"{ceiling} ({row.ceiling_name})"
        ratio_text = f"{row.ratio:.2f}×" if row.ratio is not None else ""
        measurement = row.measurement + (f" — {row.note}" if row.note else "")
        lines.append(f"| {measurement} | {value_text(row)}"
                     f" | {ceiling} | {ratio_text} | {row.target or ''} | {row.result} |")
    return "\n".join(lines) + "\n"


def write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")
    tmp.replace(path)


def plot_latency(series: dict[str, list[dict[str, Any]]], path: Path) -> str | None:
    """p50/p99 end-to-end latency against offered load, one pair of lines per server.
    Each step is {"offered_deliveries_per_s", "p50_ms", "p99_ms"}. Returns why not, or None."""
    try:
        import matplotlib
    except ImportError:
        return "matplotlib is not installed (pip install -e '.[bench]'): no plot"
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=110)
    for name, steps in series.items():
        steps = [s for s in steps if s.get("p50_ms") is not None]
        if not steps:
            continue
        x = [s["offered_deliveries_per_s"] for s in steps]
        line, = ax.plot(x, [s["p99_ms"] for s in steps], marker="o", label=f"{name} p99")
        ax.plot(x, [s["p50_ms"] for s in steps], marker=".", linestyle="--",
                color=line.get_color(), label=f"{name} p50")
    ax.set_xlabel("offered load (deliveries/s)")
    ax.set_ylabel("end-to-end latency (ms)")
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    ax.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.grid(True, which="both", alpha=0.3)
    ax.set_title("send → every recipient, open-loop")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return None
