"""Work that must happen once, at a simulated instant.

A job's status is derived from its timestamps and the clock whenever someone
asks; only its side effects (refund a failed job, list a finished artifact,
queue a webhook, forget an expired job) are queued here as due-time entries.
``claim_due`` pops the entries whose time has come inside one atomic block, so
each happens exactly once even when several processes share the store.

A task is its id, ``<type>:<jobId>`` (``finish``, ``expire``), a member of one
ordered index scored by its due time: no record per task, so scheduling one is one
index write and claiming it one index read and one removal.
"""

from __future__ import annotations

from mock_server.sim.context import Context

DUE = "due"
Task = dict[str, str]  # {"type": "finish" | "expire", "jobId": ...}, rebuilt from the member


def task_id(kind: str, job_id: str) -> str:
    return f"{kind}:{job_id}"


class Timeline:
    """A queue of tasks ordered by the simulated time they fall due."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def schedule_job(self, kind: str, job_id: str, due_ms: int) -> None:
        """Do ``kind`` (``finish``, ``expire``) to the job at ``due_ms`` (moved there if already scheduled)."""
        self.ctx.store.index_add(DUE, task_id(kind, job_id), due_ms)

    def cancel_job(self, kind: str, job_id: str) -> bool:
        """Drop a task before it falls due; True if it was pending."""
        return self.ctx.store.index_remove(DUE, task_id(kind, job_id))

    def next_due(self) -> int | None:
        first = self.ctx.store.index_by_score(DUE, limit=1, hint=True)
        return int(first[0][1]) if first else None

    def claim_due(self, now: int, limit: int = 256) -> list[tuple[int, Task]]:
        """Remove and return up to ``limit`` tasks due at or before ``now``, oldest first.

        Call inside ``store.atomic()`` together with applying them, so that a
        claimed task is applied in the same atomic step.
        """
        out = []
        for member, due in self.ctx.store.index_by_score(DUE, max_score=now, limit=limit):
            self.ctx.store.index_remove(DUE, member)
            kind, _, job_id = member.partition(":")
            out.append((int(due), {"type": kind, "jobId": job_id}))
        return out
