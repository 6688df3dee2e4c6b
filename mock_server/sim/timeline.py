"""Work that must happen once, at a simulated instant.

A job's status is derived from its timestamps and the clock whenever someone
asks; only its side effects (refund a failed job, list a finished artifact,
queue a webhook, forget an expired job) are queued here as due-time entries.
``claim_due`` pops the entries whose time has come inside one atomic block, so
each happens exactly once even when several processes share the store.
"""

from __future__ import annotations

from typing import Any

from ltxstudio_mock.mock_server.sim.context import Context

TASK = "task"
DUE = "due"


class Timeline:
    """A queue of tasks ordered by the simulated time they fall due."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def schedule(self, task_id: str, due_ms: int, task: dict[str, Any]) -> None:
        self.ctx.store.put(TASK, task_id, task)
        self.ctx.store.index_add(DUE, task_id, due_ms)

    def cancel(self, task_id: str) -> None:
        self.ctx.store.index_remove(DUE, task_id)
        self.ctx.store.delete(TASK, task_id)

    def pop(self, task_id: str) -> dict[str, Any] | None:
        """Remove a task before it falls due and return it (None if it is not pending)."""
        task = self.ctx.store.get(TASK, task_id)
        self.cancel(task_id)
        return task

    def next_due(self) -> int | None:
        first = self.ctx.store.index_by_score(DUE, limit=1)
        return int(first[0][1]) if first else None

    def claim_due(self, now: int, limit: int = 256) -> list[tuple[int, dict[str, Any]]]:
        """Remove and return up to ``limit`` tasks due at or before ``now``, oldest first.

        Call inside ``store.atomic()`` together with applying them, so that a
        claimed task is applied in the same atomic step.
        """
        out = []
        for task_id, due in self.ctx.store.index_by_score(DUE, max_score=now, limit=limit):
            self.ctx.store.index_remove(DUE, task_id)
            task = self.ctx.store.get(TASK, task_id)
            self.ctx.store.delete(TASK, task_id)
            if task is not None:
                out.append((int(due), task))
        return out
