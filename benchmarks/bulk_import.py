"""Bulk import rate as the interaction table grows.

    python -m benchmarks.bulk_import [--entities 1000000] [--users 500000]
                                     [--stored 1000000 10000000] [--rounds 15]
                                     [--parallel 2] [--event-ids] [--compare REF]
                                     [--data-dir DIR]

Loading ten million interactions through the API to see how the import behaves at that
size takes most of an hour. This benchmark instead fills the tables straight through
SQL (COPY, with the synthetic catalogue's and log's distributions: Zipf-like item
popularity and user activity, timestamps over 300 days) up to each size in --stored,
builds the model once, and then measures what matters: ``POST
/api/v1/interactions/bulk`` in requests of 10,000 rows, --parallel at a time, against a
service running as users run it (background jobs on: trending folds and incremental
model updates go on while the rows arrive).

Each size is filled once into a template data directory (kept under --data-dir; the
next size starts from a copy of it); every measured service gets a fresh copy of it, so
each variant starts from the same data. With --compare REF the same measurement runs
first on the code of the git revision REF (exported with `git archive`), then on this
working tree, and the report gives both and their ratio. The template is created by the
oldest code measured, so that a newer migration finds it at the schema it expects.

Reported per size and variant: the median of the rounds' rates (rows/s; a round is
--parallel requests sent together), every round's rate, the median request latency, the
CPU time per row (the service's request handling, its training threads, the database),
which other work on the machine disturbs far less than the rates, and what PostgreSQL
wrote for the measured requests (WAL bytes and full-page images per row, checkpoints,
buffers written by backends).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import statistics
import subprocess
import tarfile
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import numpy as np
import orjson

from benchmarks import datasets
from benchmarks.foundation import HEADERS, write_report
from benchmarks.recommendations import wait_for_new_model
from benchmarks.server import RunningServer, running_server

BATCH = 10_000
ROOT = Path(__file__).resolve().parent.parent
TENANT = "default"


# --- filling the template straight through SQL --------------------------------------


def _log_chunk(
    rng: np.random.Generator,
    size: int,
    n_entities: int,
    n_users: int,
    start: datetime,
    event_ids: bool,
) -> list[tuple[Any, ...]]:
    items = rng.choice(n_entities, size=size, p=datasets._zipf(n_entities, 0.9))
    users = rng.choice(n_users, size=size, p=datasets._zipf(n_users, 0.6))
    kinds = rng.integers(0, len(datasets.INTERACTION_TYPES), size=size)
    offsets = np.sort(rng.integers(0, 300 * 86400, size=size))
    return [
        (
            TENANT,
            datasets.user_id(int(users[k])),
            "product",
            datasets.entity_id(int(items[k])),
            datasets.INTERACTION_TYPES[int(kinds[k])],
            str(uuid.UUID(bytes=rng.bytes(16), version=4)) if event_ids else None,
            start + timedelta(seconds=int(offsets[k])),
        )
        for k in range(size)
    ]


async def _fill(url: str, args: argparse.Namespace, target: int) -> dict[str, Any]:
    """Bring the template to ``args.entities`` entities and ``target`` interactions."""
    conn = await asyncpg.connect(url, command_timeout=None)
    report: dict[str, Any] = {}
    try:
        # Foreign keys are not checked for this session's rows: the fill only writes
        # entity keys it created first.
        await conn.execute("SET session_replication_role = replica")
        await conn.execute("SET maintenance_work_mem = '1GB'")
        have = await conn.fetchval("SELECT count(*) FROM entities")
        if have < args.entities:
            started = time.perf_counter()
            await conn.copy_records_to_table(
                "entities",
                records=(
                    (TENANT, "product", datasets.entity_id(i), "{}", True)
                    for i in range(have, args.entities)
                ),
                columns=["tenant_id", "entity_type", "entity_id", "attributes", "indexed"],
            )
            report["entities_seconds"] = round(time.perf_counter() - started, 1)
        have = await conn.fetchval("SELECT count(*) FROM interactions")
        if have >= target:
            return report
        started = time.perf_counter()
        # Secondary indexes are built again after the rows are in, far faster than row
        # by row. A fillfactor of 70 leaves their pages as full as a B-tree grown by
        # random inserts keeps them (after page splits), rather than packed to 90 %,
        # which would make the first measured inserts split nearly every page they touch.
        indexes = await conn.fetch(
            """
            SELECT c.relname AS name, pg_get_indexdef(c.oid) AS definition
            FROM pg_index x JOIN pg_class c ON c.oid = x.indexrelid
            WHERE x.indrelid = 'interactions'::regclass AND NOT x.indisprimary
            """
        )
        for index in indexes:
            await conn.execute(f'DROP INDEX "{index["name"]}"')
        end = datetime.now(UTC)
        rng = np.random.default_rng(1000 + have)
        done = have
        while done < target:
            size = min(500_000, target - done)
            rows = _log_chunk(
                rng, size, args.entities, args.users, end - timedelta(days=300), args.event_ids
            )
            rows.sort(key=lambda r: r[6])
            await conn.copy_records_to_table(
                "interactions",
                records=rows,
                columns=[
                    "tenant_id",
                    "user_id",
                    "entity_type",
                    "entity_id",
                    "interaction_type",
                    "event_id",
                    "occurred_at",
                ],
            )
            done += size
            print(f"  filled {done:,} interactions", flush=True)
        report["interactions_copy_seconds"] = round(time.perf_counter() - started, 1)
        for index in indexes:
            definition = index["definition"]
            where = ""
            if " WHERE " in definition:
                definition, where = definition.split(" WHERE ", 1)
                where = " WHERE " + where
            await conn.execute(f"{definition} WITH (fillfactor = 70){where}")
            await conn.execute(f'ALTER INDEX "{index["name"]}" RESET (fillfactor)')
        await conn.execute("VACUUM (ANALYZE) interactions")
        await conn.execute("VACUUM (ANALYZE) entities")
        await conn.execute("CHECKPOINT")
        report["interactions_fill_seconds"] = round(time.perf_counter() - started, 1)
        return report
    finally:
        await conn.close()


def _server_env(tree: Path | None) -> dict[str, str]:
    """Run the service from ``tree``'s sources (None: this working tree)."""
    if tree is None:
        return {}
    path = os.pathsep.join(p for p in (str(tree / "src"), os.environ.get("PYTHONPATH")) if p)
    return {"PYTHONPATH": path}


def build_template(
    template: Path, smaller: Path | None, tree: Path | None, args: argparse.Namespace, target: int
) -> dict[str, Any]:
    """Fill ``template`` to ``target`` interactions (from a copy of the ``smaller`` size's
    template, when there is one) and train its model; once per size."""
    marker = template / "filled.json"
    if marker.exists():
        print(f"template at {target:,} interactions: reused", flush=True)
        return json.loads(marker.read_text())
    print(f"template: filling to {target:,} interactions", flush=True)
    if template.exists():
        shutil.rmtree(template)
    if smaller is not None:
        subprocess.run(["cp", "-a", "--reflink=auto", str(smaller), str(template)], check=True)
        (template / "filled.json").unlink()
    with (
        running_server(
            data_dir=template, quiet=True, BACKGROUND_JOBS="false", **_server_env(tree)
        ) as server,
        httpx.Client(base_url=server.url, headers=HEADERS, timeout=900) as http,
    ):
        report = asyncio.run(_fill(server.database_url(), args, target))
        before = http.get("/api/v1/model/status").json()["version"]
        started = time.perf_counter()
        http.post("/api/v1/model/rebuild").raise_for_status()
        report["model_rebuild_seconds"] = wait_for_new_model(http, before, started)
        print(f"  filled and trained: {report}", flush=True)
    marker.write_text(json.dumps(report))
    return report


# --- measuring ---------------------------------------------------------------------


async def _pg_counters(url: str) -> dict[str, float]:
    conn = await asyncpg.connect(url)
    try:
        wal = await conn.fetchrow("SELECT wal_records, wal_fpi, wal_bytes FROM pg_stat_wal")
        checkpoints = await conn.fetchrow(
            "SELECT num_timed + num_requested AS checkpoints, buffers_written "
            "FROM pg_stat_checkpointer"
        )
        io = await conn.fetchrow(
            "SELECT coalesce(sum(writes), 0) AS backend_writes, "
            "coalesce(sum(reads), 0) AS backend_reads FROM pg_stat_io "
            "WHERE backend_type = 'client backend'"
        )
        rows = await conn.fetchval("SELECT count(*) FROM interactions")
    finally:
        await conn.close()
    counters = {**dict(wal), **dict(checkpoints), **dict(io), "rows": rows}
    return {name: float(value) for name, value in counters.items()}


_TICKS = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(stat: Path) -> float:
    """User and system CPU time in a /proc/.../stat file (0 when it is gone)."""
    try:
        fields = stat.read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICKS


def _cpu(server: RunningServer) -> dict[str, float]:
    """CPU seconds used so far by the service's event loop thread, by its other threads
    (model training runs there), and by the database's processes (the postmaster's
    children, backends and background processes alike; exited ones are not counted)."""
    pid = server.process.pid
    main = _cpu_seconds(Path(f"/proc/{pid}/task/{pid}/stat"))
    threads = sum(
        _cpu_seconds(task / "stat")
        for task in Path(f"/proc/{pid}/task").iterdir()
        if task.name != str(pid)
    )
    postmaster = int((server.data_dir / "postgres" / "postmaster.pid").read_text().split()[0])
    children = Path(f"/proc/{postmaster}/task/{postmaster}/children").read_text().split()
    database = _cpu_seconds(Path(f"/proc/{postmaster}/stat")) + sum(
        _cpu_seconds(Path(f"/proc/{child}/stat")) for child in children
    )
    return {"service_requests": main, "service_training": threads, "database": database}


def _requests(args: argparse.Namespace, count: int, seed: int) -> Iterator[bytes]:
    rows = datasets.interactions(
        count * BATCH, args.entities, args.users, seed=seed, end=datetime.now(UTC)
    )
    for _ in range(count):
        chunk = [next(rows) for _ in range(BATCH)]
        if args.event_ids:
            for row in chunk:
                row["event_id"] = str(uuid.uuid4())
        yield orjson.dumps({"interactions": chunk})


async def _measure(server: RunningServer, args: argparse.Namespace, seed: int) -> dict[str, Any]:
    bodies = list(_requests(args, (args.rounds + 1) * args.parallel, seed))
    latencies: list[float] = []
    rates: list[float] = []
    async with httpx.AsyncClient(base_url=server.url, headers=HEADERS, timeout=600) as client:

        async def send(body: bytes) -> float:
            started = time.perf_counter()
            response = await client.post(
                "/api/v1/interactions/bulk",
                content=body,
                headers={"content-type": "application/json"},
            )
            response.raise_for_status()
            result = response.json()
            assert result["created"] == BATCH, result
            return time.perf_counter() - started

        # One round to warm up (connections, prepared statements), not counted. With
        # background jobs on, a service that just started first reads the whole log back
        # to resume incremental updates (once per process): the rounds are measured after
        # that first update, while later ones run as they do in a service that stays up.
        version = (await client.get("/api/v1/model/status")).json()["version"]
        await asyncio.gather(*(send(b) for b in bodies[: args.parallel]))
        caught_up = time.perf_counter()
        while args.background_jobs:
            status = (await client.get("/api/v1/model/status")).json()
            if status["version"] != version:
                break
            if time.perf_counter() - caught_up > 1800:
                raise TimeoutError("no incremental update within 30 minutes")
            await asyncio.sleep(1)
        caught_up = time.perf_counter() - caught_up
        before = await _pg_counters(server.database_url())
        cpu_before = _cpu(server)
        for r in range(1, args.rounds + 1):
            round_bodies = bodies[r * args.parallel : (r + 1) * args.parallel]
            started = time.perf_counter()
            latencies += await asyncio.gather(*(send(b) for b in round_bodies))
            rates.append(len(round_bodies) * BATCH / (time.perf_counter() - started))
        cpu_after = _cpu(server)
        after = await _pg_counters(server.database_url())
    rows = args.rounds * args.parallel * BATCH
    cpu = {name: (cpu_after[name] - cpu_before[name]) / rows * 1e6 for name in cpu_after}
    return {
        # CPU per row does not depend on what else the machine runs as the rates do.
        "cpu_us_per_row": {name: round(value, 1) for name, value in cpu.items()},
        "rows_per_s_median": round(statistics.median(rates)),
        "rows_per_s_rounds": [round(r) for r in rates],
        "request_seconds_median": round(statistics.median(latencies), 3),
        "first_update_seconds": round(caught_up, 1),
        "stored_before": int(before["rows"]),
        "wal_bytes_per_row": round((after["wal_bytes"] - before["wal_bytes"]) / rows),
        "wal_fpi_per_row": round((after["wal_fpi"] - before["wal_fpi"]) / rows, 3),
        "checkpoints": int(after["checkpoints"] - before["checkpoints"]),
        "backend_buffer_writes": int(after["backend_writes"] - before["backend_writes"]),
        "backend_buffer_reads": int(after["backend_reads"] - before["backend_reads"]),
    }


def measure(
    template: Path, run_dir: Path, tree: Path | None, args: argparse.Namespace, seed: int
) -> dict[str, Any]:
    if run_dir.exists():
        shutil.rmtree(run_dir)
    subprocess.run(["cp", "-a", "--reflink=auto", str(template), str(run_dir)], check=True)
    (run_dir / "filled.json").unlink()
    env = {} if args.background_jobs else {"BACKGROUND_JOBS": "false"}
    try:
        with running_server(
            data_dir=run_dir, quiet=not args.verbose, **env, **_server_env(tree)
        ) as server:
            return asyncio.run(_measure(server, args, seed))
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)


def export(revision: str, into: Path) -> Path:
    """The sources of ``revision`` (git archive) under ``into``."""
    archive = into / "source.tar"
    with archive.open("wb") as out:
        subprocess.run(["git", "archive", revision], cwd=ROOT, stdout=out, check=True)
    tree = into / "source"
    with tarfile.open(archive) as tar:
        tar.extractall(tree, filter="data")
    return tree


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--entities", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=500_000)
    parser.add_argument(
        "--stored",
        type=int,
        nargs="+",
        default=[1_000_000, 10_000_000],
        help="interactions already stored when the import is measured (ascending)",
    )
    parser.add_argument("--rounds", type=int, default=15, help="measured rounds per size")
    parser.add_argument("--parallel", type=int, default=2, help="requests in flight per round")
    parser.add_argument(
        "--event-ids", action="store_true", help="every row (stored and imported) has an event_id"
    )
    parser.add_argument(
        "--no-background-jobs",
        dest="background_jobs",
        action="store_false",
        help="measure with BACKGROUND_JOBS=false (no trending folds or model updates)",
    )
    parser.add_argument("--compare", metavar="REF", help="also measure the code of this revision")
    parser.add_argument(
        "--repeat", type=int, default=1, help="measure each variant this many times, alternating"
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path(tempfile.gettempdir()) / "bulk-import-bench",
        help="where the templates (kept and reused) and the runs' copies live",
    )
    parser.add_argument("--verbose", action="store_true", help="show the services' output")
    args = parser.parse_args()

    args.data_dir.mkdir(parents=True, exist_ok=True)
    suffix = "-event-ids" if args.event_ids else ""
    templates = f"template-{args.entities}-{args.users}{suffix}"
    report: dict[str, Any] = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "arguments": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "sizes": {},
    }
    with tempfile.TemporaryDirectory(prefix="bulk-import-") as tmp:
        variants: list[tuple[str, Path | None]] = []
        if args.compare:
            variants.append((f"before ({args.compare})", export(args.compare, Path(tmp))))
        variants.append(("this tree", None))
        oldest = variants[0][1]
        smaller = None
        for target in sorted(args.stored):
            template = args.data_dir / f"{templates}-{target}"
            size: dict[str, Any] = {
                "template": build_template(template, smaller, oldest, args, target)
            }
            smaller = template
            for attempt in range(args.repeat):
                for name, tree in variants:
                    print(f"{target:,} stored, {name}, run {attempt + 1}", flush=True)
                    result = measure(template, args.data_dir / "run", tree, args, seed=77 + attempt)
                    print("  ", json.dumps(result), flush=True)
                    size.setdefault(name, []).append(result)
            for name, _ in variants:
                runs = size[name]
                size[name] = {
                    "rows_per_s_median": round(
                        statistics.median(r["rows_per_s_median"] for r in runs)
                    ),
                    "runs": runs,
                }
            if args.compare:
                before, after = (size[name]["rows_per_s_median"] for name, _ in variants)
                size["ratio"] = round(after / before, 2)
            report["sizes"][str(target)] = size
    write_report("bulk_import", report)


if __name__ == "__main__":
    main()
