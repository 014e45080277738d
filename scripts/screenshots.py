"""Screenshots of runs in the Temporal UI, for the README (not part of CI).

    .venv/bin/pip install -e '.[screenshots]'   # playwright (the Python package only) and pillow
    sudo apt-get install chromium              # the browser: Debian's package, used as it is
    .venv/bin/python scripts/screenshots.py    # writes docs/screenshots/*.png

Starts an ephemeral embedded stack (Temporal dev server with its UI, S3,
PostgreSQL) with a worker and the scripted demo model, makes three runs: one
finished, one running (its model call held), one waiting for a person to
approve a ``write_file`` call; opens each in the Temporal UI with headless
Chromium and saves two screenshots of each to ``docs/screenshots/``: the run's
page (input, result, the timeline with every activity's summary) and its "User
Metadata" tab (static summary and details, current details with the todos and
the calls waiting for approval). Everything is stopped and removed at the end.

The browser is the system's Chromium (``CHROMIUM`` or the first of
``chromium``, ``chromium-browser``, ``google-chrome`` on PATH):
``playwright install`` downloads its own build from cdn.playwright.dev, which
machines without internet access beyond package registries cannot reach.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from deepagents_temporal.devstack import start_dev_stack  # noqa: E402
from deepagents_temporal.schema import AgentInput, AgentResult  # noqa: E402
from deepagents_temporal.services import connect, open_database  # noqa: E402
from deepagents_temporal.settings import Settings  # noqa: E402
from scripted_llm import ChatRequest, Reply, ScriptedLLM  # noqa: E402
from scripted_llm.demo_brain import demo_brain  # noqa: E402
from worker import build_worker  # noqa: E402

OUT = ROOT / "docs" / "screenshots"
VIEWPORT = {"width": 1360, "height": 1250}
HELD = "Draft a regression plan for the checkout page"
GATED_REQUEST = "Write the release notes for version 2.4"
GATED_PROFILE = """
name: release
description: Writes release notes a person approves before they are saved
system_prompt: You write release notes and save them with write_file.
tools: [write_todos, write_file, read_file]
interrupt_on:
  write_file: {allow: [approve, reject, edit]}
"""


def _browser() -> str:
    found = os.environ.get("CHROMIUM") or next(
        (path for name in ("chromium", "chromium-browser", "google-chrome") if (path := shutil.which(name))), None
    )
    if not found:
        sys.exit("no Chromium: `apt-get install chromium`, or set CHROMIUM to a Chrome/Chromium binary")
    return found


def _asks(text: str) -> Callable[[ChatRequest], bool]:
    """The requests of a run of ``text`` (its user message)."""
    return lambda req: text in str(req.messages[1:2])


def _model() -> ScriptedLLM:
    llm = ScriptedLLM(brain=demo_brain)
    llm.add_rule(_asks(HELD), Reply.hold(3600))
    llm.add_rule(
        lambda req: _asks(GATED_REQUEST)(req) and req.turn == 0,
        Reply.tool_calls(
            [("write_file", {"file_path": "/notes/release-2.4.md", "content": "# 2.4\n\n- Faster search\n"})]
        ),
    )
    return llm


async def _shoot(ui: str, runs: dict[str, str]) -> None:
    """Each run's page (header, input, result, the timeline with the activities' summaries), then
    its "User Metadata" tab (static summary and details, current details: todos, waiting calls)."""
    from PIL import Image
    from playwright.async_api import Page, async_playwright

    async def save(page: Page, name: str) -> None:
        await page.wait_for_timeout(3_000)  # the history and details render after the header
        path = OUT / f"{name}.png"
        await page.screenshot(path=str(path))
        # 128 colours: a third of the bytes, the same to read (the files are committed).
        Image.open(path).convert("RGB").quantize(colors=128).save(path, optimize=True)
        print(f"{path.relative_to(ROOT)} ({path.stat().st_size:,} bytes)")

    OUT.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=_browser(), args=["--no-sandbox"])
        page = await browser.new_page(viewport=VIEWPORT)
        for name, workflow_id in runs.items():
            await page.goto(f"{ui}/namespaces/default/workflows/{quote(workflow_id, safe='')}")
            await page.get_by_text(workflow_id).first.wait_for(timeout=60_000)
            await save(page, name)
            await page.get_by_text("User Metadata", exact=True).first.click()
            await save(page, f"{name}-details")
        await browser.close()


async def main() -> None:
    _browser()  # before minutes of setup
    with tempfile.TemporaryDirectory() as profiles:
        Path(profiles, "release.yaml").write_text(GATED_PROFILE)
        llm = _model()
        base_url = llm.start()
        stack = await start_dev_stack(ephemeral=True, log=print)
        try:
            settings = stack.settings(
                Settings(),
                openai_base_url=base_url,
                openai_api_key=None,
                deepagent_model="gpt-4o-mini",
                deepagent_profiles=[profiles],
            )
            client = await connect(settings)
            pool = await open_database(settings)
            async with await build_worker(client, settings, pool):

                async def start(request: str, profile: str) -> str:
                    run_id = f"{profile}-screenshot-{uuid.uuid4().hex[:6]}"
                    await client.start_workflow(
                        "AgentWorkflow",
                        AgentInput(request=request, profile=profile, model_chain=["gpt-4o-mini"]),
                        id=run_id,
                        task_queue=settings.temporal_task_queue,
                        static_summary=f"{profile}: {request}",
                        static_details=f"**profile:** {profile}\n\n**request:** {request}",
                    )
                    return run_id

                finished = await start("Generate test scenarios for e-commerce search feature", "qa")
                await client.get_workflow_handle(finished, result_type=AgentResult).result()
                running = await start(HELD, "qa")
                waiting = await start(GATED_REQUEST, "release")
                await asyncio.to_thread(llm.wait_for, lambda r: _asks(HELD)(r.request), 60)
                await asyncio.sleep(3)  # the approval wait reaches the current details
                await _shoot(stack.ui_url, {"finished-run": finished, "running-run": running, "waiting-run": waiting})
                for run_id in (running, waiting):
                    await client.get_workflow_handle(run_id).terminate("screenshots taken")
            await pool.close()
        finally:
            await stack.stop()
            llm.stop()


if __name__ == "__main__":
    asyncio.run(main())
