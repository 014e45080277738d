"""Live model text, from the model activity to whoever watches the run: PostgreSQL LISTEN/NOTIFY.

The ``call_model`` activity streams its answer from the model and sends the
text as it arrives, in small chunks, with ``NOTIFY`` on one channel per run
(``channel(run_id)``: the supervisor and every sub-agent). `starter.py run`
and `watch` ``LISTEN`` on it. Nothing of it enters Temporal: the workflow's
history, the activity's result and the stored answer are as without streaming.

Delivery is at most once and live only: a chunk reaches the listeners connected
when it is sent, none is stored or sent again, and a chunk that cannot be sent
(PostgreSQL down) is dropped without holding up the model call. An answer's
first ``MAX_LIVE_CHARS`` characters are sent, then a line saying the rest is
in the result. The text a run
keeps is the activity's complete answer (its result), never the chunks.

Each chunk names its call (workflow run and activity id), the agent, the step,
the attempt and its sequence number within the attempt. A retried attempt
(its worker was killed mid-stream) streams the answer again from its start
with a higher attempt number: ``StreamBoard`` then starts the shown text over,
so nothing is shown twice; a reused kept answer is sent whole the same way.

Why not Temporal's workflow streams (``temporalio.contrib.workflow_streams``,
experimental in the SDK this project uses): their publishes are signals, so
every batch of text would become an event of the agent's history (which this
project keeps small and flat per step) and the text would be stored twice.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import asyncpg
from pydantic import BaseModel, ValidationError

from deepagents_temporal.digest import sha256_hex

log = logging.getLogger(__name__)

CHANNEL_PREFIX = "deepagent_stream_"
# PostgreSQL refuses a NOTIFY payload of 8000 bytes or more.
MAX_PAYLOAD_BYTES = 7_900
# Text is sent at most this often per call (batched meanwhile), and once more when it ends.
FLUSH_SECONDS = 0.1
# A NOTIFY that takes longer is given up: the model call never waits for viewers.
SEND_TIMEOUT_SECONDS = 2.0
# What the end of an attempt may wait for its last pieces, all together: the
# answer is kept only after it, so a slow database must not hold it up long.
CLOSE_TIMEOUT_SECONDS = 2.0
# Live text of one attempt beyond this is not sent (a person follows the start;
# the whole answer is the call's result), with a line saying so.
MAX_LIVE_CHARS = 200_000
CUT_NOTICE = "\n… [the live text stops here; the whole answer is in the run's result]"


def channel(run_id: str) -> str:
    """The run's channel: a plain identifier whatever the run id holds (and under 63 bytes)."""
    return CHANNEL_PREFIX + sha256_hex(run_id)[:32]


class StreamChunk(BaseModel):
    run_id: str
    workflow_id: str
    # The call: "<workflow run id>/<activity id>"; its attempts share it.
    call: str
    agent: str
    step: int
    attempt: int
    model: str
    seq: int
    text: str = ""
    # The call's answer is complete (sent after its last text).
    end: bool = False
    # The text is an answer kept by an earlier attempt, sent again whole.
    reused: bool = False


def _pieces(text: str, limit: int) -> list[str]:
    """``text`` cut into pieces of at most ``limit`` characters."""
    return [text[i : i + limit] for i in range(0, len(text), limit)]


class StreamWriter:
    """One attempt's text: buffered, sent in order every ``FLUSH_SECONDS`` and at ``close``.

    Never raises: a failed send is logged once and the rest of the attempt's
    text is dropped (at most once)."""

    def __init__(self, pool: asyncpg.Pool | None, template: StreamChunk) -> None:
        self._pool = pool
        self._template = template
        self._channel = channel(template.run_id)
        self._buffer: list[str] = []
        self._seq = 0
        self._failed = pool is None
        self._left = MAX_LIVE_CHARS
        self._wake = asyncio.Event()
        self._closing = asyncio.Event()
        self._pump: asyncio.Task[None] | None = None
        # Worst case a character takes 6 bytes in the payload (a \uXXXX escape).
        overhead = len(template.model_dump_json().encode())
        self._piece_chars = max(100, (MAX_PAYLOAD_BYTES - overhead) // 6)

    def add(self, text: str) -> None:
        if not text or self._failed or self._left <= 0:
            return
        # A lone surrogate (a hostile or broken model) cannot be sent as JSON: shown as "?".
        text = text.encode("utf-8", "replace").decode("utf-8")
        if len(text) >= self._left:
            text = text[: self._left] + CUT_NOTICE
        self._left -= len(text)
        self._buffer.append(text)
        self._wake.set()
        if self._pump is None:
            self._pump = asyncio.ensure_future(self._run())

    async def close(self, *, end: bool = True) -> None:
        """Send what is left and, with ``end``, say the answer is complete.

        Never raises and never waits more than ``CLOSE_TIMEOUT_SECONDS``: live
        text is a courtesy to viewers, the answer is what must be kept.
        """
        self._closing.set()
        self._wake.set()
        try:
            await asyncio.wait_for(self._finish(end), CLOSE_TIMEOUT_SECONDS)
        except Exception as err:  # noqa: BLE001 - whatever went wrong, viewers only miss text
            log.warning("live text of %s step %d cut short: %s", self._template.agent, self._template.step, err)
            self.abort()

    async def _finish(self, end: bool) -> None:
        if self._pump is not None:
            await self._pump
        await self._flush()
        if end:
            await self._send("", end=True)

    def abort(self) -> None:
        """The attempt failed: send nothing more (the next attempt starts the text over)."""
        self._failed = True
        if self._pump is not None:
            self._pump.cancel()

    async def _run(self) -> None:
        while not self._closing.is_set():
            await self._wake.wait()
            self._wake.clear()
            await self._flush()
            # Batch what arrives meanwhile; a close cuts the pause short.
            try:
                await asyncio.wait_for(self._closing.wait(), FLUSH_SECONDS)
            except TimeoutError:
                pass

    async def _flush(self) -> None:
        text, self._buffer = "".join(self._buffer), []
        for piece in _pieces(text, self._piece_chars):
            await self._send(piece)

    async def _send(self, text: str, *, end: bool = False) -> None:
        if self._failed:
            return
        chunk = self._template.model_copy(update={"seq": self._seq, "text": text, "end": end})
        self._seq += 1
        assert self._pool is not None
        try:
            await asyncio.wait_for(
                self._pool.execute("SELECT pg_notify($1, $2)", self._channel, chunk.model_dump_json()),
                SEND_TIMEOUT_SECONDS,
            )
        except Exception as err:  # noqa: BLE001 - a database or payload problem: viewers miss the text, no more
            self._failed = True
            log.warning("live text of %s step %d not sent (viewers miss it): %s", chunk.agent, chunk.step, err)


class TokenPublisher:
    """The worker's side: a ``StreamWriter`` per model-call attempt, on the worker's pool."""

    def __init__(self, pool: asyncpg.Pool | None) -> None:
        self._pool = pool

    def writer(self, template: StreamChunk) -> StreamWriter:
        return StreamWriter(self._pool, template)


@dataclass
class CallText:
    """What a viewer shows of one model call: the text of its latest attempt."""

    chunk: StreamChunk
    text: str = ""
    next_seq: int = 0
    ended: bool = False
    # Attempts that started the text over (a worker lost mid-stream).
    restarts: int = 0


@dataclass
class StreamChange:
    workflow_id: str
    # The chunk that made this change (``call.chunk`` is the call's latest by the time it is shown).
    chunk: StreamChunk
    call: CallText
    # The text added by this chunk ("" for an end marker).
    added: str
    # This chunk started the call's text over: a new attempt.
    restarted: bool
    # Chunks were missed before this one (the viewer attached mid-stream, or a send failed).
    gap: bool


GAP_MARK = " … "


@dataclass
class StreamBoard:
    """The latest model call of each agent, as the chunks tell it (pure: no I/O)."""

    calls: dict[str, CallText] = field(default_factory=dict)

    def apply(self, chunk: StreamChunk) -> StreamChange | None:
        """Take ``chunk`` in; None when it is stale (an older attempt or call)."""
        current = self.calls.get(chunk.workflow_id)
        restarted = False
        if current is None or current.chunk.call != chunk.call:
            if current is not None and chunk.step < current.chunk.step:
                return None
            current = self.calls[chunk.workflow_id] = CallText(chunk)
        elif chunk.attempt < current.chunk.attempt:
            return None
        elif chunk.attempt > current.chunk.attempt:
            current = self.calls[chunk.workflow_id] = CallText(chunk, restarts=current.restarts + 1)
            restarted = True
        gap = chunk.seq > current.next_seq
        if chunk.seq < current.next_seq:
            return None  # already seen
        added = (GAP_MARK if gap else "") + chunk.text
        current.chunk = chunk
        current.text += added
        current.next_seq = chunk.seq + 1
        current.ended = current.ended or chunk.end
        return StreamChange(chunk.workflow_id, chunk, current, added, restarted, gap)


class StreamListener:
    """LISTENs on a run's channel (its own connection) and hands each chunk to ``on_chunk``.

    ``start`` raises when PostgreSQL cannot be reached; callers then follow the
    run without live text."""

    def __init__(self, dsn: str, run_id: str, on_chunk: Callable[[StreamChunk], None]) -> None:
        self._dsn = dsn
        self._channel = channel(run_id)
        self._on_chunk = on_chunk
        self._connection: asyncpg.Connection | None = None

    async def start(self) -> None:
        self._connection = await asyncpg.connect(self._dsn, timeout=10)
        await self._connection.add_listener(self._channel, self._received)

    async def stop(self) -> None:
        if self._connection is not None:
            connection, self._connection = self._connection, None
            try:
                await asyncio.wait_for(connection.close(), 5)
            except Exception:  # noqa: BLE001 - leaving anyway
                connection.terminate()

    async def __aenter__(self) -> StreamListener:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def _received(self, _connection: object, _pid: int, _channel: str, payload: str) -> None:
        try:
            chunk = StreamChunk.model_validate(json.loads(payload))
        except (ValueError, ValidationError):
            return  # not ours to show
        self._on_chunk(chunk)
