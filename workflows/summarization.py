"""When an agent's conversation is summarized (the workflow side of summarization.py).

The conversation's size is counted from what the model reports (input plus
output tokens of the last call), estimated before the first call, and, for a
model that reports nothing, from the messages the workflow sees. Past the
profile's ``summarize_after_tokens`` the agent asks for a summary before its
next model call. Workflow code: deterministic, no I/O.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from deepagents_temporal.schema import Message, ModelCallResult
    from deepagents_temporal.summarization import rough_tokens

# Recent messages kept whole (deepagents keeps 6).
KEEP_MESSAGES = 6


class ConversationSize:
    def __init__(self, limit: int, tokens: int = 0, messages: int = 0) -> None:
        self.limit = limit
        self.tokens = tokens
        # Messages in the stored conversation (a summarization needs some beyond the kept ones).
        self.messages = messages

    def due(self, pending: list[Message]) -> bool:
        return self.tokens + rough_tokens(pending) >= self.limit and self.messages + len(pending) > KEEP_MESSAGES + 2

    def after_call(self, sent: list[Message], result: ModelCallResult) -> None:
        self.messages += len(sent) + 1
        used = result.usage
        if used.input_tokens:
            self.tokens = used.input_tokens + used.output_tokens
        else:
            self.tokens += rough_tokens([*sent, result.message])

    def after_summary(self, result: ModelCallResult) -> None:
        self.tokens = result.context_tokens
        # The kept messages do not count towards the next one: it condenses new ones.
        self.messages = 2
