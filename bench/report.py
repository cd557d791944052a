"""Write a run's results: latest.json (everything), latest.md (tables), latest.png (plot)."""

import json
from pathlib import Path
from typing import Any

from bench.load import LoadResult
from bench.runner import ServerRun

Row = dict[str, Any]


def _ratio(value: float, reference: float | None) -> float | None:
    return round(value / reference, 4) if reference else None


def _find(runs: list[ServerRun], name: str, workers: int) -> ServerRun | None:
    return next((r for r in runs if r.name == name and r.workers == workers), None)


def _load_at(run: ServerRun | None, connections: int) -> LoadResult | None:
    if run is None:
        return None
    return next((x for x in run.loads if x.connections == connections), None)


def predict_rows(runs: list[ServerRun]) -> list[Row]:
    """One row per server and concurrency, with req/s and p99 relative to the same-w baseline
    and req/s relative to the same-w ceiling, measured in the same run."""
    rows = []
    for run in runs:
        for load in run.loads:
            base = _load_at(_find(runs, "baseline", run.workers), load.connections)
            ceiling = _load_at(_find(runs, "ceiling", run.workers), load.connections)
            rows.append({
                "server": run.name, "workers": run.workers, **load.to_dict(),
                "rps_vs_baseline": _ratio(load.rps, base.rps if base else None),
                "rps_vs_ceiling": _ratio(load.rps, ceiling.rps if ceiling else None),
                "p99_vs_baseline": _ratio(load.p99_ms, base.p99_ms if base else None),
            })  # fmt: skip
    return rows


def batch_rows(runs: list[ServerRun]) -> list[Row]:
    rows = []
    for run in runs:
        if run.batch is None:
            continue
        base = _find(runs, "baseline", run.workers)
        ceiling = _find(runs, "ceiling", run.workers)
        base_ips = base.batch.images_per_s if base and base.batch else None
        ceiling_ips = ceiling.batch.images_per_s if ceiling and ceiling.batch else None
        rows.append({
            "server": run.name, "workers": run.workers, **run.batch.to_dict(),
            "images_vs_baseline": _ratio(run.batch.images_per_s, base_ips),
            "images_vs_ceiling": _ratio(run.batch.images_per_s, ceiling_ips),
        })  # fmt: skip
    return rows


def write_json(
    path: Path, machine: dict[str, Any], config: dict[str, Any], runs: list[ServerRun]
) -> None:
    document = {
        "machine": machine,
        "config": config,
        "predict": predict_rows(runs),
        "batch": batch_rows(runs),
        "servers": [run.to_dict() for run in runs],
    }
    path.write_text(json.dumps(document, indent=2) + "\n")


def _errors(row: Row) -> str:
    parts = [f"{kind} {count}" for kind, count in row["errors"].items() if count]
    return f"{row['error_count']} ({', '.join(parts)})" if parts else "0"


def _x(value: float | None, suffix: str = "×") -> str:
    if value is None:
        return "—"
    return f"{value:.2g}{suffix}" if value < 0.1 else f"{value:.2f}{suffix}"


def _mb(values: object) -> str:
    if not isinstance(values, list) or not values:
        return "—"
    return ", ".join("?" if v is None else f"{v:.0f}" for v in values)


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(cells) + " |" for cells in rows]


def _predict_table(runs: list[ServerRun]) -> list[str]:
    header = ["server", "w", "c", "req/s", "p50 ms", "p99 ms", "errors", "req/s ÷ baseline",
              "req/s ÷ ceiling", "p99 ÷ baseline"]  # fmt: skip
    return _table(header, [
        [r["server"], str(r["workers"]), str(r["connections"]), f"{r['rps']:.0f}",
         f"{r['p50_ms']:.1f}", f"{r['p99_ms']:.1f}", _errors(r), _x(r["rps_vs_baseline"]),
         _x(r["rps_vs_ceiling"]), _x(r["p99_vs_baseline"])]
        for r in predict_rows(runs)
    ])  # fmt: skip


def _batch_table(runs: list[ServerRun]) -> list[str]:
    header = ["server", "w", "c", "images/s", "req/s", "p50 ms", "p99 ms", "errors",
              "images/s ÷ baseline", "images/s ÷ ceiling"]  # fmt: skip
    return _table(header, [
        [r["server"], str(r["workers"]), str(r["connections"]), f"{r['images_per_s']:.0f}",
         f"{r['rps']:.1f}", f"{r['p50_ms']:.1f}", f"{r['p99_ms']:.1f}", _errors(r),
         _x(r["images_vs_baseline"]), _x(r["images_vs_ceiling"])]
        for r in batch_rows(runs)
    ])  # fmt: skip


def _startup_table(runs: list[ServerRun]) -> list[str]:
    header = ["server", "w", "start → /readyz 200 (s)", "start → all workers idle (s)",
              "RSS per worker, idle (MiB)", "RSS per worker, after load (MiB)",
              "supervisor RSS (MiB)", "answer bytes (predict / batch)"]  # fmt: skip
    rows = []
    for run in runs:
        supervisor = run.memory_loaded.get("supervisor_rss_mb")
        rows.append([
            run.name, str(run.workers), _x(run.ready_s, ""), _x(run.settled_s, ""),
            _mb(run.memory_idle.get("worker_rss_mb")), _mb(run.memory_loaded.get("worker_rss_mb")),
            _mb([supervisor] if supervisor is not None else None),
            f"{run.answer_bytes.get('predict', '—')} / {run.answer_bytes.get('batch', '—')}",
        ])  # fmt: skip
    return _table(header, rows)


def _heading(machine: dict[str, Any], config: dict[str, Any]) -> list[str]:
    git = machine["git"]
    dirty = " + uncommitted app/ changes" if git["app_uncommitted_changes"] else ""
    return [
        "# Benchmark: this service vs a naive Keras app vs the HTTP ceiling",
        "",
        f"{machine['date']} · {machine['cpu']}, {machine['cores']} cores, "
        f"{machine['memory_gib']} GiB · load average before {machine['load_average']}, "
        f"after {machine.get('load_average_after')} · commit {git['commit']}{dirty}",
        "",
        f"Command: `{config['command']}`",
    ]


def markdown(machine: dict[str, Any], config: dict[str, Any], runs: list[ServerRun]) -> str:
    """The report: /predict table, /predict/batch table, start-up and memory, machine, method."""
    versions = ", ".join(f"{k} {v}" for k, v in machine["versions"].items())
    lines = _heading(machine, config)
    per_point = f"{config['rounds']} × {config['duration_s']} s per point, the median round"
    lines += ["", f"## POST /predict, one MNIST PNG per request ({per_point})", "",
              *_predict_table(runs)]  # fmt: skip
    lines += ["", f"## POST /predict/batch, {config['batch_size']} PNGs per request", ""]
    lines += _batch_table(runs)
    lines += ["", "## Start-up and memory", "", *_startup_table(runs)]
    failed = [run for run in runs if run.error]
    if failed:
        lines += ["", "## Failures", ""] + [
            f"- {r.name} (w={r.workers}): {r.error}" for r in failed
        ]
    lines += ["", "## Machine", "", f"- {versions}", f"- {machine['wrk']}",
              f"- kernel {machine['kernel']}, usable cores {machine['cores_usable']}"]  # fmt: skip
    lines += ["", "## Method", "", *METHOD]
    return "\n".join(lines) + "\n"


METHOD = [
    "- Servers run on 127.0.0.1, each under the same `uvicorn.run` call "
    "(factory, workers, `log_config=None`, no access log): **service** is `python -m app "
    "--workers N` with its default settings; **baseline** (bench/baseline_app.py) calls Keras "
    "`model.predict` inline per request; **ceiling** (bench/ceiling_app.py) reads the upload and "
    "returns the service's own answer as constant bytes.",
    "- Before the load, 20 MNIST test digits must each get 200 and their label (ceiling: 200).",
    "- They are started (and timed to ready) one after another, then all stay up, idle but for "
    "the one under load. Each load point runs in rounds; in each round every server is loaded "
    "once, in turn, so the servers compared are measured seconds apart. A row is the server's "
    "round with the median req/s; its `errors` are summed over all its rounds. Every round is in "
    "latest.json.",
    "- Load: wrk with bench/post_png.lua posting the same multipart body on every request; "
    "latency percentiles from wrk's histogram; `errors` are socket errors, timeouts and "
    "responses with status >= 400. A warm-up run precedes the measured points of each server.",
    "- Ratios compare servers with the same worker count in this run on a shared 2-core machine "
    "that also runs wrk: read them, not the absolute numbers, across runs.",
    "- RSS: VmRSS from /proc of each uvicorn worker (the process itself with w=1; the "
    "supervisor's spawned children with w>1).",
]


def plot(path: Path, runs: list[ServerRun]) -> None:
    """Throughput and p99 latency against concurrency, one line per server and worker count."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    for run in runs:
        if not run.loads:
            continue
        c = [x.connections for x in run.loads]
        label = f"{run.name} (w={run.workers})"
        left.plot(c, [x.rps for x in run.loads], marker="o", label=label)
        right.plot(c, [x.p99_ms for x in run.loads], marker="o", label=label)
    ticks = sorted({x.connections for run in runs for x in run.loads})
    for ax, title, unit in ((left, "throughput", "requests / s"), (right, "p99 latency", "ms")):
        ax.set_xscale("log", base=2)
        ax.set_xticks(ticks, [str(c) for c in ticks])
        ax.set_yscale("log")
        ax.set_xlabel("concurrent connections")
        ax.set_ylabel(unit)
        ax.set_title(f"POST /predict {title}")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8)
    fig.text(0.5, 0.01, "p99 of completed requests; requests past wrk's timeout count as errors "
             "(see latest.md)", ha="center", fontsize=8, color="0.4")  # fmt: skip
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_all(
    out: Path, machine: dict[str, Any], config: dict[str, Any], runs: list[ServerRun]
) -> None:
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "latest.json", machine, config, runs)
    (out / "latest.md").write_text(markdown(machine, config, runs))
    plot(out / "latest.png", runs)
