"""Write throughput of the agents' file tools against raw put_object on the same S3 server.

For each object size (64 KiB and 1 MiB by default), N objects are written
three ways against the same server and bucket, one at a time and then several
in flight at once (as parallel tool calls in one model turn do); raw and the
real path take turns chunk by chunk, so a busy machine slows both alike:

  raw        minio ``put_object`` of the bytes (one request per object)
  real path  the headline: a ``write_file`` tool call as the worker executes
             it, minus Temporal: ``FileCalls.run`` (activities/file_calls.py),
             which the model activity runs a reply's file calls with, its
             arguments in memory: the arguments parsed, the run's files
             composed (``CompositeBackend`` over ``S3Backend``, ``/memories/``
             routed to PostgreSQL), the tool called, then its tool message
  file_tool  the ``file_tool`` activity in the app's own worker (``build_worker``),
             called by a workflow the way ``AgentWorkflow`` calls a file call
             the model activity left to it: the real path plus one Temporal
             activity dispatch and the fetch of the call's arguments from the
             model reply stored in the bucket beforehand (the activity's own
             store: a cold cache). Secondary: it shows what the dispatch and
             that fetch add, which a step no longer pays.

A fourth timing, the same workflow calling a no-op activity N times, shows
what Temporal's dispatch of one activity costs on its own ("dispatch
ms/call"), and "args GET ms/call" what the fetch of one write's arguments
from a reply not in the cache costs. Modes are interleaved, repeated, and the
median time of each is kept; "S3 requests/write" counts the real path's.

Before that, each file tool is called a few times through the real path with
a client that counts the S3 requests it sends: requests per call (by kind)
and the median time per call.

Prints MiB/s of each mode per size and, last, for the largest size and each
level of parallelism, the real path's throughput / raw put_object (goal >= 0.8
at 1 MiB) next to the file_tool activity's.

    python bench/artifact_throughput.py [--sizes 65536 1048576] [--count 40] [--repeats 3] [--parallel 1 8]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import statistics
import sys
import time
import uuid
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness import bench_services  # noqa: E402
from minio import Minio  # noqa: E402
from pydantic import BaseModel  # noqa: E402
from temporalio import activity, workflow  # noqa: E402
from temporalio.client import Client  # noqa: E402
from temporalio.exceptions import ApplicationError  # noqa: E402
from temporalio.worker import UnsandboxedWorkflowRunner, Worker  # noqa: E402

from activities.file_calls import FileCalls  # noqa: E402
from deepagents_temporal import pgstore  # noqa: E402
from deepagents_temporal.conversation import ConversationStore  # noqa: E402
from deepagents_temporal.s3 import ensure_bucket  # noqa: E402
from deepagents_temporal.schema import FileToolInput, FileToolOutput, Message, ToolCall  # noqa: E402
from deepagents_temporal.services import hard_exit, s3_client  # noqa: E402
from worker import build_worker  # noqa: E402

MIB = 1024 * 1024


class CountingHTTP:
    """The minio client's connection pool, counting the requests sent through it by kind."""

    def __init__(self, pool: Any) -> None:
        self._pool = pool
        self.counts: Counter[str] = Counter()

    def urlopen(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        self.counts["LIST" if method == "GET" and "list-type=" in url else method] += 1
        return self._pool.urlopen(method, url, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._pool, name)


def counting(client: Minio) -> CountingHTTP:
    """Count ``client``'s requests from now on (the client keeps its pool in ``_http``)."""
    counter = CountingHTTP(client._http)
    client._http = counter  # type: ignore[assignment]
    return counter


class WriteBatch(BaseModel):
    run_id: str
    calls: list[ToolCall]
    # Writes in flight at once, as with parallel tool calls in one model turn.
    parallel: int = 1
    # The app worker's queue, where file_tool runs.
    activity_queue: str
    # Call a no-op activity instead: what Temporal's dispatch alone costs per call.
    floor: bool = False


@activity.defn(name="bench_noop")
async def bench_noop(request: FileToolInput) -> None:
    return None


@workflow.defn(name="FileToolWriteBench")
class FileToolWriteBench:
    """Calls file_tool once per call, one after another, like an agent's successive write_file calls."""

    @workflow.run
    async def run(self, batch: WriteBatch) -> int:
        written = 0
        for start in range(0, len(batch.calls), batch.parallel):
            chunk = batch.calls[start : start + batch.parallel]
            for size in await asyncio.gather(*(self._write(batch, call) for call in chunk)):
                written += size
        return written

    async def _write(self, batch: WriteBatch, call: ToolCall) -> int:
        request = FileToolInput(run_id=batch.run_id, agent="bench", call=call, profile="qa")
        if batch.floor:
            await workflow.execute_activity(bench_noop, request, start_to_close_timeout=timedelta(seconds=120))
            return 0
        output: FileToolOutput = await workflow.execute_activity(
            "file_tool",
            request,
            result_type=FileToolOutput,
            task_queue=batch.activity_queue,
            start_to_close_timeout=timedelta(seconds=120),
        )
        if output.error or output.artifact is None:
            raise ApplicationError(f"write failed: {output.error}", non_retryable=True)
        return output.artifact.size


def content_of(size: int, seed: str) -> str:
    line = ((seed + " lorem ipsum dolor sit amet ") * 8)[:99] + "\n"
    return (line * (size // len(line) + 1))[:size]


async def paired_writes(s3: Minio, bucket: str, path: RealPath, size: int, count: int, parallel: int) -> list[float]:
    """Seconds taken by ``count`` raw put_object calls and by as many writes through the real path,
    ``parallel`` at a time, alternating chunk by chunk so that both see the same load on the machine."""
    prefix = f"bench-raw/{uuid.uuid4().hex[:8]}/"
    run_id = f"bench-fs-{uuid.uuid4().hex[:8]}"
    raw_blobs = [content_of(size, f"raw{i}").encode("utf-8") for i in range(count)]
    contents = [content_of(size, f"fs{i}") for i in range(count)]

    async def put(i: int) -> None:
        data = raw_blobs[i]
        key = f"{prefix}f-{i:04d}.txt"
        await asyncio.to_thread(
            s3.put_object, bucket, key, io.BytesIO(data), len(data), content_type="text/plain; charset=utf-8"
        )

    async def write(i: int) -> None:
        args = {"file_path": f"/out/f-{i:04d}.txt", "content": contents[i]}
        result = await path.call(run_id, "write_file", args, f"{run_id}/{i}")
        assert result.error is None and result.artifact is not None and result.artifact.size == size, result.summary

    taken = [0.0, 0.0]
    for start in range(0, count, parallel):
        chunk = range(start, min(start + parallel, count))
        for mode, job in enumerate((put, write)):
            started = time.perf_counter()
            await asyncio.gather(*(job(i) for i in chunk))
            taken[mode] += time.perf_counter() - started
    return taken


class RealPath:
    """A file tool call as the worker executes it, without Temporal around it: the
    function the model activity runs a reply's file calls with (the file_tool
    activity too), ``FileCalls.run``."""

    def __init__(self, calls: FileCalls) -> None:
        self.calls = calls

    async def call(self, run_id: str, name: str, args: dict[str, Any], operation_id: str) -> FileToolOutput:
        call = ToolCall(id=f"call_{uuid.uuid4().hex[:8]}", name=name, args=args)
        files = self.calls.files(run_id, "qa", None)
        return await self.calls.run(files, run_id, "bench", call, args, operation_id)


def store_reply(store: ConversationStore, run_id: str, reply: Message) -> str:
    """Store a model reply the way call_model does: the segment hash is what ToolCall.args_stored_in names."""
    return store.append(run_id, None, [reply])


async def activity_writes(
    client: Client,
    task_queue: str,
    activity_queue: str,
    store: ConversationStore,
    size: int,
    count: int,
    parallel: int,
    floor: bool = False,
) -> float:
    run_id = f"bench-act-{uuid.uuid4().hex[:8]}"
    calls = []
    for i in range(count):
        call = ToolCall(
            id=f"call_{i}",
            name="write_file",
            args={"file_path": f"/out/f-{i:04d}.txt", "content": content_of(size, f"act{i}")},
        )
        # What call_model does with a reply whose arguments are large: store it, send a reference.
        digest = await asyncio.to_thread(store_reply, store, run_id, Message(role="assistant", tool_calls=[call]))
        calls.append(ToolCall(id=call.id, name=call.name, args_stored_in=digest))
    started = time.perf_counter()
    written = await client.execute_workflow(
        FileToolWriteBench.run,
        WriteBatch(run_id=run_id, calls=calls, activity_queue=activity_queue, floor=floor, parallel=parallel),
        id=run_id,
        task_queue=task_queue,
    )
    elapsed = time.perf_counter() - started
    assert written == (0 if floor else size * count), written
    return elapsed


async def args_fetch_ms(settings: Any, bucket: str, size: int, count: int) -> float:
    """Median ms the file_tool activity spends fetching a write's arguments from a reply it has
    not cached (one GET of the reply and its parsing), measured on its own."""
    writer = ConversationStore(s3_client(settings), bucket)
    run_id = f"bench-args-{uuid.uuid4().hex[:8]}"
    calls = []
    for i in range(count):
        args = {"file_path": f"/a{i}", "content": content_of(size, "a")}
        call = ToolCall(id=f"call_{i}", name="write_file", args=args)
        digest = await asyncio.to_thread(store_reply, writer, run_id, Message(role="assistant", tool_calls=[call]))
        calls.append(ToolCall(id=call.id, name=call.name, args_stored_in=digest))
    cold = ConversationStore(s3_client(settings), bucket)
    times = []
    for call in calls:
        started = time.perf_counter()
        await asyncio.to_thread(cold.call_arguments, run_id, call)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


async def tool_requests(path: RealPath, counter: CountingHTTP, calls: int) -> None:
    """S3 requests and median ms per call of each file tool, through the real path."""
    run_id = f"bench-tools-{uuid.uuid4().hex[:8]}"
    body = content_of(64 * 1024, "tools")
    for i in range(10):  # a run with some files to list, glob and grep
        await path.call(run_id, "write_file", {"file_path": f"/src/f{i}.txt", "content": body}, f"seed/{i}")

    def cases(i: int) -> list[tuple[str, str, dict[str, Any], str]]:
        new = f"/out/w{i}.txt"
        return [
            ("write_file (new file)", "write_file", {"file_path": new, "content": body}, f"w/{i}"),
            ("write_file (retry)", "write_file", {"file_path": new, "content": body}, f"w/{i}"),
            ("write_file (exists)", "write_file", {"file_path": new, "content": "other"}, f"x/{i}"),
            ("write_file (folder)", "write_file", {"file_path": "/src", "content": "x"}, f"d/{i}"),
            ("edit_file", "edit_file", _edit_args(new), f"e/{i}"),
            ("edit_file (retry)", "edit_file", _edit_args(new), f"e/{i}"),
            ("read_file", "read_file", {"file_path": new}, ""),
            ("read_file (missing)", "read_file", {"file_path": f"/none{i}.txt"}, ""),
            ("ls /", "ls", {"path": "/"}, ""),
            ("ls /src", "ls", {"path": "/src"}, ""),
            ("glob **/*.txt", "glob", {"pattern": "**/*.txt"}, ""),
            ("grep (10 files)", "grep", {"pattern": "needle", "path": "/src"}, ""),
        ]

    requests: dict[str, list[Counter[str]]] = {}
    times: dict[str, list[float]] = {}
    for i in range(calls):
        for label, name, args, operation in cases(i):
            before = counter.counts.copy()
            started = time.perf_counter()
            await path.call(run_id, name, args, operation or f"r/{i}")
            times.setdefault(label, []).append((time.perf_counter() - started) * 1000)
            requests.setdefault(label, []).append(counter.counts - before)
    print(f"{'file tool (64 KiB files)':<24} {'S3 requests':>11} {'by kind':<28} {'ms':>6}")
    for label, counted in requests.items():
        last = counted[-1]
        kinds = ", ".join(f"{kind} {n}" for kind, n in sorted(last.items()))
        print(f"{label:<24} {sum(last.values()):>11} {kinds:<28} {statistics.median(times[label]):>6.1f}")


def _edit_args(path: str) -> dict[str, Any]:
    return {"file_path": path, "old_string": "tools lorem", "new_string": "TOOLS lorem", "replace_all": True}


async def main(sizes: list[int], count: int, repeats: int, parallels: list[int], tool_calls: int) -> None:
    async with bench_services(s3_bucket="bench-artifacts") as bench:
        client, settings, pool = bench.client, bench.settings, bench.pool
        s3 = s3_client(settings)
        bucket = settings.s3_bucket
        await asyncio.to_thread(ensure_bucket, s3, bucket)
        app_worker = await build_worker(client, settings, pool)
        app_queue = settings.temporal_task_queue
        # The bench workflow (defined here, so unsandboxed) and the no-op floor on their own queue.
        bench_queue = f"{app_queue}-bench"
        bench_worker = Worker(
            client,
            task_queue=bench_queue,
            workflows=[FileToolWriteBench],
            activities=[bench_noop],
            workflow_runner=UnsandboxedWorkflowRunner(),
        )
        # The real path on a client of its own, whose requests are counted.
        tools_client = s3_client(settings)
        counter = counting(tools_client)
        conversations = ConversationStore(tools_client, bucket)
        real = RealPath(FileCalls(tools_client, bucket, conversations, pgstore.PostgresStore(pool)))
        # A store of its own: the activity fetches each reply from the bucket
        # (in a run the worker that stored it usually still has it cached).
        message_store = ConversationStore(s3_client(settings), bucket)
        modes = ["raw", "real path", "file_tool", "floor"]
        totals = {p: dict.fromkeys(modes, 0.0) for p in parallels}
        largest = max(sizes)
        async with app_worker, bench_worker:
            # Warm-up: connections, the first write's stall, the worker's first task.
            await paired_writes(s3, bucket, real, 4096, 4, 1)
            await activity_writes(client, bench_queue, app_queue, message_store, 4096, 4, 1)
            await tool_requests(real, counter, tool_calls)
            print(
                f"{'size':>9} {'N':>4} {'parallel':>8} {'raw MiB/s':>10} {'real path MiB/s':>16} "
                f"{'file_tool MiB/s':>16} {'real path/raw':>14} {'file_tool/raw':>14} {'dispatch ms/call':>17} "
                f"{'S3 requests/write':>18} {'args GET ms/call':>17}"
            )
            for size in sizes:
                for parallel in parallels:
                    times: dict[str, list[float]] = {mode: [] for mode in modes}
                    before = counter.counts.copy()
                    for _ in range(repeats):
                        raw, real_path = await paired_writes(s3, bucket, real, size, count, parallel)
                        times["raw"].append(raw)
                        times["real path"].append(real_path)
                        times["file_tool"].append(
                            await activity_writes(client, bench_queue, app_queue, message_store, size, count, parallel)
                        )
                        times["floor"].append(
                            await activity_writes(
                                client, bench_queue, app_queue, message_store, size, count, parallel, floor=True
                            )
                        )
                    per_write = sum((counter.counts - before).values()) / (count * repeats)
                    fetch_ms = await args_fetch_ms(settings, bucket, size, count)
                    median = {mode: statistics.median(t) for mode, t in times.items()}
                    if size == largest:
                        for mode, t in median.items():
                            totals[parallel][mode] += t
                    rate = {mode: size * count / MIB / t for mode, t in median.items()}
                    print(
                        f"{size:>9} {count:>4} {parallel:>8} {rate['raw']:>10.1f} {rate['real path']:>16.1f} "
                        f"{rate['file_tool']:>16.1f} {rate['real path'] / rate['raw']:>14.2f} "
                        f"{rate['file_tool'] / rate['raw']:>14.2f} {median['floor'] / count * 1000:>17.1f} "
                        f"{per_write:>18.1f} {fetch_ms:>17.1f}"
                    )
        figures = []
        for parallel in parallels:
            ratio = {mode: totals[parallel]["raw"] / t for mode, t in totals[parallel].items()}
            figures.append(
                f"{parallel} in flight: real path {ratio['real path']:.2f}, file_tool activity {ratio['file_tool']:.2f}"
            )
        print(
            f"file-tool write throughput / raw put_object: {largest} B writes, " + "; ".join(figures) + " (goal >= 0.8)"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[64 * 1024, MIB])
    parser.add_argument("--count", type=int, default=40)
    parser.add_argument("--timeout", type=float, default=900, help="give up after this many seconds")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--parallel", type=int, nargs="+", default=[1, 8], help="writes in flight at once (default: 1 and 8)"
    )
    parser.add_argument("--tool-calls", type=int, default=5, help="calls of each file tool counted (default: 5)")
    options = parser.parse_args()
    code = 0
    try:
        asyncio.run(
            asyncio.wait_for(
                main(options.sizes, options.count, options.repeats, options.parallel, options.tool_calls),
                options.timeout,
            )
        )
    except Exception as err:  # noqa: BLE001 - report, then leave without finalization
        print(f"artifact_throughput failed: {type(err).__name__}: {err}", file=sys.stderr)
        code = 1
    hard_exit(code)
