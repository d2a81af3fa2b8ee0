"""Long work a message starts, run beside the chat: today the resident register's import.

A manager sends a register of 100,000 rows; the handler checks the role and the header and
hands the file here, then answers at once. `BackgroundJobs` runs the import as a task of the
service's loop. The import writes in chunks of bounded size, one transaction each (on SQLite the
one writer is free between chunks, so everybody else's messages are answered meanwhile), and
its progress ("已处理 40,000 / 100,000 行") and final report are outbox rows committed with
the chunk they describe: they reach the manager through the delivery worker, on whatever
channel she uses, and a crash loses none of them. The file is kept too, encrypted with the ID
keys (it holds raw ID numbers), in `RegisterUpload` until the final report's transaction
deletes it: after a restart in the middle the leader starts the import again
(`RegisterImports.resume`; the import is idempotent, so it goes through the file from its first
row) and tells the manager.
"""

from __future__ import annotations

import asyncio
import logging
import math
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime, timedelta

from cryptography.fernet import InvalidToken
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from bot.i18n import translate
from handlers.benefits import render_import_report
from models.db import Database
from models.errors import DomainError
from models.idcard import IdCipher
from models.outbox import enqueue
from models.register import (
    CHUNK_ROWS,
    ImportReport,
    ImportRequest,
    RegisterUpload,
    import_register,
)
from models.register.report import LISTED_IN_CHAT
from models.tables import Person

log = logging.getLogger("linli.background")

PROGRESS_STEPS = 5  # a progress line about every fifth of the file …
MIN_PROGRESS_EVERY = 10_000  # … but not more often than every 10,000 rows
# An import commits a chunk every second or so; one whose kept file has not moved for this long
# runs nowhere (its process stopped) and is resumed by the leader.
STALE_AFTER = timedelta(minutes=2)


class BackgroundJobs:
    """Tasks started by messages, one per key at a time; errors are logged, never lost silently."""

    def __init__(self) -> None:
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def running(self, key: str) -> bool:
        """True while a job with this key runs."""
        task = self._tasks.get(key)
        return task is not None and not task.done()

    def start(self, key: str, work: Callable[[], Awaitable[None]]) -> bool:
        """Run `work` as a task; False (and nothing started) while a job with this key runs."""
        if self.running(key):
            return False

        async def run() -> None:
            try:
                await work()
            except Exception:
                log.exception("background job %s failed", key)
            finally:
                if self._tasks.get(key) is task:
                    del self._tasks[key]

        task = asyncio.get_running_loop().create_task(run(), name=f"job:{key}")
        self._tasks[key] = task
        return True

    async def idle(self) -> None:
        """Wait until every job has ended (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks.values()), return_exceptions=True)

    async def close(self) -> None:
        """Cancel what still runs (an import resumes when its file is sent again)."""
        for task in list(self._tasks.values()):
            task.cancel()
        await asyncio.gather(*list(self._tasks.values()), return_exceptions=True)
        self._tasks.clear()


def progress_every(total: int, chunk_rows: int = CHUNK_ROWS) -> int:
    """Rows between two progress lines: about a fifth of the file, in whole chunks."""
    step = max(MIN_PROGRESS_EVERY, math.ceil(total / PROGRESS_STEPS))
    return math.ceil(step / chunk_rows) * chunk_rows


class RegisterImports:
    """Starts register imports in the background, one per community at a time."""

    def __init__(
        self,
        jobs: BackgroundJobs,
        db: Database,
        cipher: IdCipher | None,
        clock: Callable[[], datetime],
        wake: Callable[[], None],
    ) -> None:
        self.jobs = jobs
        self.db = db
        self.cipher = cipher
        self.clock = clock
        self.wake = wake  # the delivery worker's wake-up (Linli.after_commit listeners)
        self.chunk_rows = CHUNK_ROWS
        self.progress_every: Callable[[int], int] = lambda total: progress_every(
            total, self.chunk_rows
        )
        # Awaited after each committed chunk with (rows done, rows in all): a seam for pacing
        # (and for tests, to hold an import half-way).
        self.after_chunk: Callable[[int, int], Awaitable[None]] | None = None

    def start(self, request: ImportRequest) -> bool:
        """Begin importing; False while this community's previous import still runs."""
        return self.jobs.start(f"register:{request.community_id}", lambda: self._run(request))

    async def resume(self) -> int:
        """Start again the imports a restart interrupted (their files were kept, encrypted):
        those that have not committed a chunk for `STALE_AFTER` (another process may still be
        importing a fresher one). The manager is told. The number of imports resumed.

        The leader calls this at start and then every few seconds (`bot/runtime.Background`).
        """
        if self.cipher is None:
            return 0
        u = RegisterUpload
        async with self.db.session() as session:
            # Not the files themselves: the job reads its own (a skipped one is not read at all).
            uploads = (
                await session.execute(
                    select(
                        col(u.id), col(u.run_id), col(u.community_id), col(u.by_id),
                        col(u.filename), col(u.today), col(u.source),
                    )
                    .where(col(u.beat_at) < self.clock() - STALE_AFTER)
                    .order_by(col(u.id))
                )
            ).all()  # fmt: skip
        resumed = 0
        for upload_id, run_id, community_id, by_id, filename, today, source in uploads:
            if self.jobs.running(f"register:{community_id}"):
                continue
            request = ImportRequest(
                community_id=community_id, by_id=by_id, data=b"", filename=filename,
                today=today, source=source,
            )  # fmt: skip
            if self.jobs.start(
                f"register:{community_id}",
                lambda r=request, k=(upload_id, run_id): self._run(r, k),
            ):
                resumed += 1
        return resumed

    async def _keep(self, request: ImportRequest, run_id: str) -> int:
        """The file, encrypted, until the import ends (a restart meanwhile resumes it)."""
        assert self.cipher is not None
        async with self.db.session() as session:
            upload = RegisterUpload(
                community_id=request.community_id, by_id=request.by_id,
                filename=request.filename[-128:], source=request.source[:16],
                today=request.today, run_id=run_id,
                data=self.cipher.encrypt_bytes(request.data), received_at=self.clock(),
                beat_at=self.clock(),
            )  # fmt: skip
            session.add(upload)
            await session.flush()
            assert upload.id is not None
            return upload.id

    async def _run(self, request: ImportRequest, kept: tuple[int, str] | None = None) -> None:
        assert self.cipher is not None
        if kept is None:
            run_id = uuid.uuid4().hex[:12]
            upload_id = await self._keep(request, run_id)
        else:
            upload_id, run_id = kept
            async with self.db.session() as session:
                token = (
                    await session.execute(
                        select(col(RegisterUpload.data)).where(col(RegisterUpload.id) == upload_id)
                    )
                ).scalar_one_or_none()
            if token is None:  # finished meanwhile
                return
            try:
                request = replace(request, data=self.cipher.decrypt_bytes(token))
            except InvalidToken:  # the keys changed since: nothing to resume with
                log.error("a kept register file (upload %s) no longer decrypts", upload_id)
                async with self.db.session() as session:
                    await self._done(session, upload_id)
                    await self._tell(session, request, f"register:{run_id}:lost", lost=True)
                self.wake()
                return
            async with self.db.session() as session:
                await self._beat(session, upload_id)
                await self._tell(
                    session, request, f"register:{run_id}:resumed:{uuid.uuid4().hex[:8]}",
                    resumed=True,
                )  # fmt: skip
            self.wake()
        every: list[int] = []

        async def on_chunk(session: AsyncSession, done: int, total: int) -> None:
            await self._beat(session, upload_id)
            if not every:
                every.append(self.progress_every(total))
            if done < total and done % every[0] < self.chunk_rows and done >= every[0]:
                await enqueue(
                    session, person_id=request.by_id, kind="register",
                    dedupe_key=f"register:{run_id}:{done}", now=self.clock(),
                    text_key="roster.progress",
                    values={"done": f"{done:,}", "total": f"{total:,}"}, priority=0,
                )  # fmt: skip

        async def on_finish(session: AsyncSession, report: ImportReport, import_id: int) -> None:
            await self._done(session, upload_id)
            await self._tell(
                session, request, f"register:{run_id}:done", report=report, import_id=import_id
            )

        async def committed(done: int, total: int) -> None:
            self.wake()
            if self.after_chunk is not None:
                await self.after_chunk(done, total)

        try:
            await import_register(
                self.db, self.cipher, community_id=request.community_id, data=request.data,
                filename=request.filename, now=self.clock(), today=request.today,
                by_id=request.by_id, source=request.source, chunk_rows=self.chunk_rows,
                on_chunk=on_chunk, on_finish=on_finish, committed=committed,
            )  # fmt: skip
        except DomainError as err:
            async with self.db.session() as session:
                await self._done(session, upload_id)
                await self._tell(session, request, f"register:{run_id}:refused", error=err)
        except Exception:
            error_id = uuid.uuid4().hex[:8]
            log.exception("error %s importing the register %r", error_id, request.filename)
            async with self.db.session() as session:
                await self._done(session, upload_id)
                await self._tell(session, request, f"register:{run_id}:failed", failed=error_id)
        self.wake()

    async def _beat(self, session: AsyncSession, upload_id: int) -> None:
        """The import is alive (in the transaction of a chunk it has written)."""
        await session.execute(
            update(RegisterUpload)
            .where(col(RegisterUpload.id) == upload_id)
            .values(beat_at=self.clock())
        )

    @staticmethod
    async def _done(session: AsyncSession, upload_id: int) -> None:
        """The kept file is no longer needed (in the transaction that tells the manager)."""
        await session.execute(delete(RegisterUpload).where(col(RegisterUpload.id) == upload_id))

    async def _tell(
        self,
        session: AsyncSession,
        request: ImportRequest,
        key: str,
        *,
        report: ImportReport | None = None,
        error: DomainError | None = None,
        failed: str | None = None,
        import_id: int | None = None,
        resumed: bool = False,
        lost: bool = False,
    ) -> None:
        person = await session.get(Person, request.by_id)
        locale = person.locale if person else "zh"

        def t(k: str, **values: object) -> str:
            text = translate(locale, k)
            return text.format(**values) if values else text

        choices: list[list[str]] | None = None
        if report is not None and import_id is not None and len(report.rejected) > LISTED_IN_CHAT:
            # A long list does not fit a chat message: the first rows, the rest as a file.
            text = render_import_report(t, report, request.filename, listed=LISTED_IN_CHAT)
            text += "\n" + t("roster.rows_in_file")
            choices = [["roster.btn_rows_file", f"rrows:{import_id}"]]
        elif report is not None:
            text = render_import_report(t, report, request.filename)
        elif error is not None:
            text = t(error.key, **error.values)
        elif resumed:
            text = t("roster.import_resumed", file=request.filename)
        elif lost:
            text = t("roster.import_lost", file=request.filename)
        else:
            text = t("roster.import_failed", file=request.filename, error=failed)
        await enqueue(
            session, person_id=request.by_id, kind="register", dedupe_key=key, now=self.clock(),
            text=text, choices=choices, priority=0,
        )  # fmt: skip
