"""Write throughput of the agents' file tools against raw put_object on the same S3 server.

For each object size (64 KiB and 1 MiB by default), N objects are written
three ways against the same server and bucket, one at a time and then several
in flight at once (as parallel tool calls in one model turn do):

  raw        minio ``put_object`` of the bytes (one request per object)
  write_file ``S3Backend.write_file``: path mapping, existence and folder
             checks, the put with its idempotency metadata
  file_tool  the ``file_tool`` activity in the app's own worker (``build_worker``),
             called by a workflow the way ``AgentWorkflow`` calls it: the tool
             call carries a reference to the model's reply, stored in the
             bucket beforehand as the model activity does in a run (the
             activity fetches it from the bucket: a cold cache)

A fourth timing, the same workflow calling a no-op activity N times, shows
what Temporal's dispatch of one activity costs on its own. Modes are
interleaved, repeated, and the median time of each is kept. Prints MiB/s of
each mode per size and, last, the figures to compare for each level of
parallelism: the file tools' throughput / raw put_object throughput over all
bytes (goal >= 0.8).

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
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness import bench_services  # noqa: E402
from pydantic import BaseModel  # noqa: E402
from temporalio import activity, workflow  # noqa: E402
from temporalio.client import Client  # noqa: E402
from temporalio.exceptions import ApplicationError  # noqa: E402
from temporalio.worker import UnsandboxedWorkflowRunner, Worker  # noqa: E402

from deepagents_temporal.backends import S3Backend  # noqa: E402
from deepagents_temporal.conversation import ConversationStore  # noqa: E402
from deepagents_temporal.s3 import ensure_bucket  # noqa: E402
from deepagents_temporal.schema import FileToolInput, FileToolOutput, Message, ToolCall  # noqa: E402
from deepagents_temporal.services import hard_exit, s3_client  # noqa: E402
from worker import build_worker  # noqa: E402

MIB = 1024 * 1024


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


async def in_chunks(jobs: list, parallel: int) -> None:
    """Run the coroutine factories ``jobs``, ``parallel`` at a time."""
    for start in range(0, len(jobs), parallel):
        await asyncio.gather(*(job() for job in jobs[start : start + parallel]))


async def raw_puts(s3, bucket: str, size: int, count: int, parallel: int) -> float:
    prefix = f"bench-raw/{uuid.uuid4().hex[:8]}/"
    blobs = [content_of(size, f"raw{i}").encode("utf-8") for i in range(count)]

    def put(i: int, data: bytes):
        return lambda: asyncio.to_thread(
            s3.put_object,
            bucket,
            f"{prefix}f-{i:04d}.txt",
            io.BytesIO(data),
            len(data),
            content_type="text/plain; charset=utf-8",
        )

    started = time.perf_counter()
    await in_chunks([put(i, data) for i, data in enumerate(blobs)], parallel)
    return time.perf_counter() - started


async def filesystem_writes(s3, bucket: str, size: int, count: int, parallel: int) -> float:
    fs = S3Backend(s3, bucket, f"bench-fs-{uuid.uuid4().hex[:8]}")
    contents = [content_of(size, f"fs{i}") for i in range(count)]

    def write(i: int, content: str):
        async def job() -> None:
            result = await fs.write_file(f"/out/f-{i:04d}.txt", content, operation_id=f"bench/{i}")
            assert result.ok, result.error

        return job

    started = time.perf_counter()
    await in_chunks([write(i, c) for i, c in enumerate(contents)], parallel)
    return time.perf_counter() - started


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


async def main(sizes: list[int], count: int, repeats: int, parallels: list[int]) -> None:
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
        # A store of its own: the activity fetches each reply from the bucket
        # (in a run the worker that stored it usually still has it cached).
        message_store = ConversationStore(s3_client(settings), bucket)
        totals = {p: {"raw": 0.0, "write_file": 0.0, "file_tool": 0.0, "floor": 0.0} for p in parallels}
        total_bytes = 0
        async with app_worker, bench_worker:
            # Warm-up: connections, the first write's stall, the worker's first task.
            await raw_puts(s3, bucket, 4096, 4, 1)
            await filesystem_writes(s3, bucket, 4096, 4, 1)
            await activity_writes(client, bench_queue, app_queue, message_store, 4096, 4, 1)
            print(
                f"{'size':>9} {'N':>4} {'parallel':>8} {'raw MiB/s':>10} {'write_file MiB/s':>17} "
                f"{'file_tool MiB/s':>16} {'write_file/raw':>15} {'file_tool/raw':>14} {'dispatch ms/call':>17}"
            )
            for size in sizes:
                total_bytes += size * count
                for parallel in parallels:
                    times: dict[str, list[float]] = {"raw": [], "write_file": [], "file_tool": [], "floor": []}
                    for _ in range(repeats):
                        times["raw"].append(await raw_puts(s3, bucket, size, count, parallel))
                        times["write_file"].append(await filesystem_writes(s3, bucket, size, count, parallel))
                        times["file_tool"].append(
                            await activity_writes(client, bench_queue, app_queue, message_store, size, count, parallel)
                        )
                        times["floor"].append(
                            await activity_writes(
                                client, bench_queue, app_queue, message_store, size, count, parallel, floor=True
                            )
                        )
                    median = {mode: statistics.median(t) for mode, t in times.items()}
                    for mode, t in median.items():
                        totals[parallel][mode] += t
                    rate = {mode: size * count / MIB / t for mode, t in median.items()}
                    print(
                        f"{size:>9} {count:>4} {parallel:>8} {rate['raw']:>10.1f} {rate['write_file']:>17.1f} "
                        f"{rate['file_tool']:>16.1f} {rate['write_file'] / rate['raw']:>15.2f} "
                        f"{rate['file_tool'] / rate['raw']:>14.2f} {median['floor'] / count * 1000:>17.1f}"
                    )
        figures = []
        for parallel in parallels:
            overall = {mode: total_bytes / MIB / t for mode, t in totals[parallel].items()}
            print(
                f"overall, {parallel} in flight, MiB/s: raw {overall['raw']:.1f}, write_file "
                f"{overall['write_file']:.1f}, file_tool {overall['file_tool']:.1f}"
            )
            figures.append(
                f"{parallel} in flight: file_tool {overall['file_tool'] / overall['raw']:.2f}, "
                f"write_file {overall['write_file'] / overall['raw']:.2f}"
            )
        print("file-tool write throughput / raw put_object: " + "; ".join(figures) + " (goal >= 0.8)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[64 * 1024, MIB])
    parser.add_argument("--count", type=int, default=40)
    parser.add_argument("--timeout", type=float, default=900, help="give up after this many seconds")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--parallel", type=int, nargs="+", default=[1, 8], help="writes in flight at once (default: 1 and 8)"
    )
    options = parser.parse_args()
    code = 0
    try:
        asyncio.run(
            asyncio.wait_for(main(options.sizes, options.count, options.repeats, options.parallel), options.timeout)
        )
    except Exception as err:  # noqa: BLE001 - report, then leave without finalization
        print(f"artifact_throughput failed: {type(err).__name__}: {err}", file=sys.stderr)
        code = 1
    hard_exit(code)
