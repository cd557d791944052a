"""`python -m bench`: argument parsing, then run, report and exit status."""

import argparse
import logging
import shlex
import sys
from pathlib import Path

from bench import machine, report
from bench.load import LoadError, wrk_path
from bench.runner import SERVERS, Config, ServerRun, run_all
from bench.samples import DataMissing, resolve_npz
from bench.servers import ROOT

RESULTS = ROOT / "bench" / "results"
DEFAULT_MODEL = ROOT / "models" / "mnist" / "2" / "model.keras"

EPILOG = """\
what runs, one server at a time on 127.0.0.1 (free ports):
  service   python -m app --workers N --repository R  (this service, default settings)
  baseline  bench/baseline_app.py: FastAPI + Keras model.predict per request
  ceiling   bench/ceiling_app.py: FastAPI reading the upload, constant answer, no model
  Each gets: 20 MNIST test digits checked (200 + right digit; ceiling: 200), a warm-up,
  wrk on POST /predict at each --connections for --duration s, wrk on POST /predict/batch
  with --batch-size PNGs at --batch-connections, start-up time to /readyz 200, VmRSS per worker.

writes OUT/latest.json, OUT/latest.md (tables, ratios to baseline and ceiling), OUT/latest.png;
scratch files and server logs go to OUT/tmp/ (git-ignored under bench/results/).

needs: wrk (Debian: apt-get install -y wrk) and the MNIST .npz (--data or $MNIST_NPZ).

examples:
  python -m bench                          full run, 2 workers, 10 s per point (~3 min)
  python -m bench --workers 1 2            both worker counts, each against its own baseline
  python -m bench --smoke                  CI: 2 s points, c=1,16, 1 worker; exit 1 on any error
"""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmark the service against a naive Keras app and an HTTP-only ceiling.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add = parser.add_argument
    add("--smoke", action="store_true", help="short end-to-end check; any error exits non-zero")
    add("--workers", type=int, nargs="+", help="worker counts to run (default: 2; smoke: 1)")
    add("--duration", type=int, help="seconds per load round (default: 5; smoke: 2)")
    add("--rounds", type=int, help="rounds per load point, servers taking turns (default: 5; "
        "smoke: 1); the table shows each server's median round")  # fmt: skip
    add("--connections", type=int, nargs="+", help="wrk -c for /predict (default: 1 16 64)")
    add("--batch-connections", type=int, help="wrk -c for /predict/batch (default: 4; smoke: 2)")
    add("--batch-size", type=int, default=64, help="PNGs per /predict/batch request (default: 64)")
    add("--threads", type=int, default=1, help="wrk -t, capped at -c (default: 1)")
    add("--timeout", type=int, default=5, help="wrk --timeout in seconds (default: 5)")
    add("--warmup", type=int, help="un-recorded warm-up seconds at c=16 (default: 2; smoke: 1)")
    add("--servers", nargs="+", choices=SERVERS, default=list(SERVERS), help="which to run")
    add("--data", type=Path, help="MNIST .npz (default: $MNIST_NPZ; never downloaded)")
    add(
        "--model",
        type=Path,
        default=DEFAULT_MODEL,
        help="the model all servers use: <repository>/mnist/<N>/model.keras (the service: "
        "its model.tflite)",
    )
    add("--service-env", action="append", default=[], metavar="KEY=VALUE",
        help="extra environment for the service, e.g. MNIST_API_LOG_LEVEL=warning")  # fmt: skip
    add("--ready-timeout", type=float, default=180.0, help="seconds to wait for a server to start")
    add("--out", type=Path, help="results folder (default: bench/results; smoke: .../tmp/smoke)")
    return parser.parse_args(argv)


def build_config(args: argparse.Namespace) -> tuple[Config, Path]:
    smoke = args.smoke
    out: Path = args.out or (RESULTS / "tmp" / "smoke" if smoke else RESULTS)
    env = dict(item.split("=", 1) for item in args.service_env)
    config = Config(
        npz=resolve_npz(args.data),
        model=args.model.resolve(),
        workers=args.workers or ([1] if smoke else [2]),
        servers=args.servers,
        connections=args.connections or ([1, 16] if smoke else [1, 16, 64]),
        duration_s=args.duration or (2 if smoke else 5),
        rounds=args.rounds or (1 if smoke else 5),
        timeout_s=args.timeout,
        threads=args.threads,
        warmup_s=args.warmup if args.warmup is not None else (1 if smoke else 2),
        batch_size=args.batch_size,
        batch_connections=args.batch_connections or (2 if smoke else 4),
        ready_timeout_s=args.ready_timeout,
        service_env=env,
        work=out / "tmp" if out == RESULTS else out / "work",
    )
    return config, out


def failures(runs: list[ServerRun], strict: bool) -> list[str]:
    """Why the run failed: a server error, or (when `strict`) a load point with any request
    error or with no request completed."""
    found = [f"{run.name} (w={run.workers}): {run.error}" for run in runs if run.error]
    if strict:
        for run in runs:
            for load in run.rounds:
                where = f"{run.name} (w={run.workers}) {load.endpoint} c={load.connections}"
                if load.error_count:
                    found.append(f"{where}: errors {load.errors}")
                if load.requests == 0:
                    found.append(f"{where}: no request completed in {load.duration_s} s")
    return found


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    args = parse_args(argv)
    try:
        wrk_path()
        config, out = build_config(args)
    except (LoadError, DataMissing) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    described = machine.describe()
    runs = run_all(config)
    described["load_average_after"] = machine.load_average()
    settings = {key: str(value) if isinstance(value, Path) else value
                for key, value in vars(config).items()}  # fmt: skip
    settings["command"] = shlex.join(["python", "-m", "bench", *(argv or sys.argv[1:])])
    report.write_all(out, described, settings, runs)
    print((out / "latest.md").read_text())
    problems = failures(runs, strict=args.smoke)
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
