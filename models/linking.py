"""Linking a second chat account to a person ("绑定其他账号"), so one person has one vote.

The person asks on the app they already use for a code (six digits, valid ten minutes, single
use) and sends it from the other app. Every link and unlink is an `AccountLink` row (the audit
trail). An account already linked to someone else is refused, never moved; a wrong code counts
against the sending account (five a day), so codes cannot be guessed.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import Field, SQLModel, col

from models.db import UTCDateTime, utcnow
from models.errors import DomainError
from models.tables import ChannelAccount, Person

CODE_LIFETIME = timedelta(minutes=10)
MAX_FAILURES = 5
FAILURE_WINDOW = timedelta(days=1)


def _ts(**kw: Any) -> Any:
    return Field(sa_type=UTCDateTime, **kw)


class LinkCode(SQLModel, table=True):
    """A one-time code that links the account that sends it to `person_id`."""

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=8, index=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    created_at: datetime = _ts(default_factory=utcnow)
    expires_at: datetime = _ts()
    used_at: datetime | None = _ts(default=None)
    used_by_account_id: int | None = Field(default=None, foreign_key="channelaccount.id")


class AccountLink(SQLModel, table=True):
    """The audit trail of linking: who linked or unlinked which account, when, how."""

    id: int | None = Field(default=None, primary_key=True)
    person_id: int | None = Field(default=None, foreign_key="person.id", index=True)
    account_id: int = Field(foreign_key="channelaccount.id")
    action: str = Field(max_length=16)  # link / unlink / refused / bad_code
    by_account_id: int | None = Field(default=None, foreign_key="channelaccount.id")
    code_id: int | None = Field(default=None, foreign_key="linkcode.id")
    at: datetime = _ts(default_factory=utcnow)


async def new_link_code(session: AsyncSession, person: Person, now: datetime) -> LinkCode:
    """A fresh code for this person; their earlier unused codes stop working."""
    await session.execute(
        update(LinkCode)
        .where(col(LinkCode.person_id) == person.id, col(LinkCode.used_at).is_(None))
        .values(expires_at=now)
        .execution_options(synchronize_session=False)
    )
    while True:
        code = f"{secrets.randbelow(900_000) + 100_000}"
        clash = await session.execute(
            select(LinkCode.id).where(
                col(LinkCode.code) == code,
                col(LinkCode.used_at).is_(None),
                col(LinkCode.expires_at) > now,
            )
        )
        if clash.first() is None:
            break
    link = LinkCode(
        code=code, person_id=person.id or 0, created_at=now, expires_at=now + CODE_LIFETIME
    )
    session.add(link)
    await session.flush()
    return link


def looks_like_link_code(text: str) -> bool:
    """Six digits, as the code is printed."""
    s = text.strip().replace(" ", "")
    return len(s) == 6 and s.isdigit()


async def _failures(session: AsyncSession, account_id: int, now: datetime) -> int:
    rows = await session.execute(
        select(func.count())
        .select_from(AccountLink)
        .where(
            col(AccountLink.by_account_id) == account_id,
            col(AccountLink.action) == "bad_code",
            col(AccountLink.at) > now - FAILURE_WINDOW,
        )
    )
    return int(rows.scalar_one())


async def redeem_link_code(
    session: AsyncSession, account: ChannelAccount, text: str, now: datetime
) -> Person:
    """Link `account` (the one sending the code) to the code's person; the person is returned.

    Refusals: too many wrong codes, a wrong / used / expired code (counted), an account already
    linked to another person (audited, nothing moved)."""
    if await _failures(session, account.id or 0, now) >= MAX_FAILURES:
        raise DomainError("linking.too_many")
    code = text.strip().replace(" ", "")
    found = (
        await session.execute(
            select(LinkCode)
            .where(
                col(LinkCode.code) == code,
                col(LinkCode.used_at).is_(None),
                col(LinkCode.expires_at) > now,
            )
            .with_for_update()
        )
    ).scalar_one_or_none()
    if found is None:
        # The failure is recorded by the caller's transaction even though we refuse: a refusal
        # that counts is the point here.
        session.add(
            AccountLink(
                person_id=account.person_id,
                account_id=account.id or 0,
                action="bad_code",
                by_account_id=account.id,
                at=now,
            )
        )
        raise DomainError("linking.bad_code")
    person = await session.get(Person, found.person_id)
    if person is None:
        raise DomainError("linking.bad_code")
    if account.person_id == person.id:
        raise DomainError("linking.already_yours")
    if account.person_id is not None:
        session.add(
            AccountLink(
                person_id=person.id or 0,
                account_id=account.id or 0,
                action="refused",
                by_account_id=account.id,
                code_id=found.id,
                at=now,
            )
        )
        raise DomainError("linking.linked_to_someone_else")
    account.person_id = person.id
    found.used_at = now
    found.used_by_account_id = account.id
    session.add(
        AccountLink(
            person_id=person.id or 0,
            account_id=account.id or 0,
            action="link",
            by_account_id=account.id,
            code_id=found.id,
            at=now,
        )
    )
    return person


async def accounts_of(session: AsyncSession, person_id: int) -> list[ChannelAccount]:
    rows = await session.execute(
        select(ChannelAccount)
        .where(col(ChannelAccount.person_id) == person_id)
        .order_by(col(ChannelAccount.id))
    )
    return list(rows.scalars())


async def unlink_account(
    session: AsyncSession, person: Person, account_id: int, by: ChannelAccount, now: datetime
) -> ChannelAccount:
    """Undo a link: the person's other account no longer speaks for them (audited). The account
    asking cannot unlink itself (that would leave the person unreachable from here)."""
    account = await session.get(ChannelAccount, account_id)
    if account is None or account.person_id != person.id:
        raise DomainError("linking.not_yours")
    if account.id == by.id:
        raise DomainError("linking.not_this_one")
    account.person_id = None
    session.add(
        AccountLink(
            person_id=person.id or 0,
            account_id=account.id or 0,
            action="unlink",
            by_account_id=by.id,
            at=now,
        )
    )
    return account
