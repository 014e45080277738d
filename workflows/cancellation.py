"""What a cancelled agent records: the reason given to `cancel` (read from the
cancellation request, which Temporal keeps in history), on its row and in its log."""

from __future__ import annotations


def cancellation_text(reason: str | None, is_root: bool) -> str:
    """A sub-agent is cancelled by its parent's cancellation, which carries no
    reason of its own: its row says so, and the reason is on the parent's row."""
    if reason:
        return f"cancelled: {reason}"
    return "cancelled" if is_root else "cancelled with its parent run"
