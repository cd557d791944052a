"""`python -m bench.launch {baseline,ceiling}`: serve a comparison app under the same uvicorn.run
call as app/__main__.py (factory, workers, log_config=None, no access log, graceful timeout)."""

import argparse
import sys

APPS = {"baseline": "bench.baseline_app:create_app", "ceiling": "bench.ceiling_app:create_app"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.launch")
    parser.add_argument("app", choices=sorted(APPS))
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args(argv)

    import uvicorn

    # Mirror app/__main__.py exactly, so only the application differs between the servers.
    uvicorn.run(
        APPS[args.app],
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=10,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
