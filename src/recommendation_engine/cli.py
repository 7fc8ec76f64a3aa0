"""The `recommendation-engine` command: serve, migrate, import, export."""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import sys
import tempfile
import threading
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, TypeVar

import orjson
from pydantic import ValidationError

from recommendation_engine import __version__
from recommendation_engine.config import Settings, get_settings
from recommendation_engine.logging_setup import configure_logging
from recommendation_engine.progress import bar

if TYPE_CHECKING:
    from recommendation_engine.service.container import Services

T = TypeVar("T")


def _settings() -> Settings:
    try:
        return get_settings()
    except ValidationError as error:
        lines = [
            f"  {'.'.join(map(str, e['loc'])) or 'settings'}: {e['msg']}" for e in error.errors()
        ]
        sys.exit("configuration error:\n" + "\n".join(lines))


def serve(_: argparse.Namespace) -> int:
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    from recommendation_engine.api.lifecycle import DrainingServer
    from recommendation_engine.service import low_priority
    from recommendation_engine.storage.setup import open_database

    settings = _settings()
    configure_logging(settings.server.log_level, settings.server.log_format)
    database = open_database(settings)
    lost = threading.Event()

    def stop_for_good() -> None:  # the embedded server died and would not start again
        lost.set()
        os.kill(os.getpid(), signal.SIGTERM)

    database.supervise(on_lost=stop_for_good)
    # Worker processes use the server this process started (or the configured one).
    os.environ["DATABASE_URL"] = database.url
    get_settings.cache_clear()
    metrics_dir = None
    if settings.server.workers > 1:
        # Each worker writes its metric samples here; a scrape of any worker sums them.
        metrics_dir = tempfile.mkdtemp(prefix="recommendation-engine-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    signal.signal(signal.SIGTERM, _exit_on_signal)
    try:
        config = uvicorn.Config(
            "recommendation_engine.api.app:create_app",
            factory=True,
            host=settings.server.host,
            port=settings.server.port,
            workers=settings.server.workers,
            loop="uvloop",
            http="httptools",
            log_level="warning"
            if settings.server.log_level in ("warn", "warning", "error")
            else "info",
            access_log=settings.server.log_level in ("debug", "trace"),
            log_config=None,
            timeout_graceful_shutdown=int(settings.server.shutdown_timeout_secs),
            # X-Forwarded-For is applied only from these addresses.
            forwarded_allow_ips=settings.server.trusted_proxies,
            server_header=False,
        )
        if config.workers > 1:
            # On SIGTERM the supervisor passes it to the workers, which drain (see
            # api.lifecycle), finish their requests in flight and stop.
            Multiprocess(config, sockets=[config.bind_socket()]).run()
        else:
            server = DrainingServer(config, settings.server.shutdown_drain_secs)
            server.run()
            if not server.started:
                return 3  # it never served (the port was taken, startup failed)
    except KeyboardInterrupt:
        pass
    finally:
        low_priority.stop()  # a model build in hand is cut short (redone later)
        database.stop()
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)
    return 4 if lost.is_set() else 0


def _exit_on_signal(signum: int, _frame: object) -> None:
    # Uvicorn re-raises the signal that stopped it; exit cleanly so the database stops too.
    raise KeyboardInterrupt


def migrate(_: argparse.Namespace) -> int:
    from recommendation_engine.storage.setup import open_database

    settings = _settings()
    configure_logging(settings.server.log_level, settings.server.log_format)
    database = open_database(settings)  # applies every pending migration
    database.stop()
    print("database schema is up to date")
    return 0


def _run_with_services(settings: Settings, work: Callable[[Services], Awaitable[T]]) -> T:
    """Open the database (embedded or external), run ``work`` with the services, close."""
    from recommendation_engine.service.container import Services
    from recommendation_engine.storage.database import create_pool
    from recommendation_engine.storage.setup import open_database

    async def run(url: str) -> T:
        pool = await create_pool(url, 4)
        try:
            return await work(Services.build(settings, pool))
        finally:
            await pool.close()

    database = open_database(settings)
    try:
        return asyncio.run(run(database.url))
    finally:
        database.stop()


def import_(args: argparse.Namespace) -> int:
    from recommendation_engine.service.transfer import import_lines

    settings = _settings()
    configure_logging("warning", settings.server.log_format)
    tenant = args.tenant or settings.tenancy.default_tenant_id
    source: IO[bytes] = sys.stdin.buffer if args.file == "-" else Path(args.file).open("rb")  # noqa: SIM115
    with source, bar("importing", unit=" lines") as progress:

        def lines() -> Iterator[bytes]:
            for line in source:
                progress.update()
                yield line

        summary = _run_with_services(
            settings,
            lambda services: import_lines(
                services, tenant, lines(), settings.limits.max_bulk_items
            ),
        )
    report = {
        "lines": summary.lines,
        "unreadable_lines": summary.unreadable,
        "entities": summary.entities.as_dict(position="line", max_errors=100),
        "interactions": summary.interactions.as_dict(position="line", max_errors=100),
    }
    print(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode())
    failed = summary.entities.failed + summary.interactions.failed + len(summary.unreadable)
    return 1 if failed else 0


def export(args: argparse.Namespace) -> int:
    from recommendation_engine.api.responses import dumps
    from recommendation_engine.service.transfer import export_records

    settings = _settings()
    configure_logging("warning", settings.server.log_format)
    tenant = args.tenant or settings.tenancy.default_tenant_id
    target: IO[bytes] = sys.stdout.buffer if args.output == "-" else Path(args.output).open("wb")  # noqa: SIM115

    async def write(services: Services) -> int:
        count = 0
        async for record in export_records(services, tenant, args.what):
            target.write(dumps(record) + b"\n")
            count += 1
            progress.update()
        return count

    with target, bar("exporting", unit=" records") as progress:
        count = _run_with_services(settings, write)
    print(f"exported {count} records", file=sys.stderr)
    return 0


def evaluate(args: argparse.Namespace) -> int:
    from recommendation_engine.service.offline_evaluation import read_dataset, render, run

    weights = None
    if args.use_settings:
        settings = _settings()
        weights = (settings.engine.collaborative_weight, settings.engine.content_based_weight)
    elif args.collaborative_weight is not None or args.content_based_weight is not None:
        if args.collaborative_weight is None or args.content_based_weight is None:
            print("give both --collaborative-weight and --content-based-weight", file=sys.stderr)
            return 2
        weights = (args.collaborative_weight, args.content_based_weight)
    dataset = read_dataset(
        Path(args.file),
        Path(args.items) if args.items else None,
        min_rating=args.min_rating,
        dimension=args.dimension,
    )
    with bar("evaluating", unit=" steps") as progress:

        def step(done: int, total: int, what: str) -> None:
            progress.total = total
            progress.set_postfix_str(what, refresh=False)
            progress.update(done - progress.n)

        report = run(dataset, tuned=not args.no_tuning, weights=weights, progress=step)
    if args.json:
        print(orjson.dumps(report.__dict__, option=orjson.OPT_INDENT_2).decode())
    else:
        print(render(report))
    return 0


def demo(args: argparse.Namespace) -> int:
    try:
        from recommendation_engine.demo import fetch_movielens, load
    except ModuleNotFoundError as missing:
        if missing.name != "recommendation_client":
            raise
        print(
            "the demo loads its data through the Python client: pip install ./clients/python",
            file=sys.stderr,
        )
        return 2

    api_key = args.api_key or os.environ.get("API_KEY")
    folder = fetch_movielens(Path(args.data_dir))
    load(args.url, api_key, folder)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="recommendation-engine",
        description="Self-hosted recommendation service. Configuration comes from the "
        "environment (and .env); see the README.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("serve", help="start the HTTP API").set_defaults(run=serve)
    commands.add_parser("migrate", help="apply pending database migrations").set_defaults(
        run=migrate
    )
    importer = commands.add_parser("import", help="import entities and interactions (NDJSON)")
    importer.add_argument("file", help="NDJSON file, or - for standard input")
    importer.add_argument("--tenant", help="tenant to import into (default: DEFAULT_TENANT_ID)")
    importer.set_defaults(run=import_)
    exporter = commands.add_parser("export", help="export entities and interactions (NDJSON)")
    exporter.add_argument("-o", "--output", default="-", help="file to write (default: stdout)")
    exporter.add_argument("--what", choices=["entities", "interactions", "all"], default="all")
    exporter.add_argument("--tenant", help="tenant to export (default: DEFAULT_TENANT_ID)")
    exporter.set_defaults(run=export)
    evaluator = commands.add_parser(
        "evaluate",
        help="offline evaluation of every algorithm on an interaction log",
        description="Temporal hold-out evaluation (last 20%% of each user's history) of the "
        "collaborative, content-based and hybrid algorithms and a most-popular baseline, "
        "the model built as a full rebuild builds it (tuned on a validation split). "
        "Reads MovieLens u.data, RecBole .inter (+ .item), CSV with a header, or NDJSON.",
    )
    evaluator.add_argument("file", help="interaction log")
    evaluator.add_argument("--items", help="item attributes: RecBole .item or NDJSON entities")
    evaluator.add_argument("--min-rating", type=float, help="keep only ratings >= this value")
    evaluator.add_argument(
        "--collaborative-weight", type=float, help="pin the hybrid blend (default: tuned)"
    )
    evaluator.add_argument("--content-based-weight", type=float, help="see above")
    evaluator.add_argument(
        "--use-settings",
        action="store_true",
        help="pin the hybrid weights to COLLABORATIVE_WEIGHT / CONTENT_BASED_WEIGHT",
    )
    evaluator.add_argument(
        "--no-tuning", action="store_true", help="build with the default settings, untuned"
    )
    evaluator.add_argument("--dimension", type=int, default=512, help="feature vector size")
    evaluator.add_argument("--json", action="store_true", help="print the full report as JSON")
    evaluator.set_defaults(run=evaluate)
    demo_parser = commands.add_parser(
        "demo", help="load MovieLens-100K into a running service and show recommendations"
    )
    demo_parser.add_argument("--url", default="http://localhost:8080", help="the service")
    demo_parser.add_argument("--api-key", help="default: API_KEY from the environment")
    demo_parser.add_argument(
        "--data-dir", default="./data/movielens", help="where the data set is kept"
    )
    demo_parser.set_defaults(run=demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.run(args))
