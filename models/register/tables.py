"""The register's tables: what it says about a person beyond `Person`, and each import."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Column, LargeBinary, Text, UniqueConstraint
from sqlalchemy import text as sql_text
from sqlmodel import Field, SQLModel

from models.db import UTCDateTime, utcnow


class ResidentRecord(SQLModel, table=True):
    """What the register says about a person beyond `Person`: the ID number and care notes."""

    __table_args__ = (UniqueConstraint("community_id", "id_hash"),)
    person_id: int = Field(foreign_key="person.id", primary_key=True)
    community_id: int = Field(foreign_key="community.id", index=True)
    # Keyed hash (HMAC-SHA256) to find a person by ID number; the number itself only encrypted.
    id_hash: str | None = Field(default=None, max_length=64)
    id_cipher: str | None = Field(default=None, sa_type=Text)
    id_masked: str | None = Field(default=None, max_length=18)
    relation: str | None = Field(default=None, max_length=16)  # 与户主关系
    lives_alone: bool = False
    limited_mobility: bool = False
    notes: str | None = Field(default=None, max_length=200)
    updated_at: datetime = Field(sa_type=UTCDateTime, default_factory=utcnow)


class RegisterImport(SQLModel, table=True):
    """One import of a register file: who, when, what came of it (the audit trail)."""

    id: int | None = Field(default=None, primary_key=True)
    community_id: int = Field(foreign_key="community.id", index=True)
    by_id: int | None = Field(default=None, foreign_key="person.id")
    source: str = Field(max_length=16)  # chat / cli
    filename: str = Field(max_length=128)
    rows: int = 0
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    at: datetime = Field(sa_type=UTCDateTime, default_factory=utcnow)
    # The rejected rows, [line, name, masked ID or null, reason key, {values}]: never a raw ID.
    # The per-row report file is made from them when the manager asks for it.
    rejections: list[list[Any]] = Field(
        default_factory=list,
        sa_column=Column(JSON, nullable=False, server_default=sql_text("'[]'")),
    )


class RegisterUpload(SQLModel, table=True):
    """A register file sent in the chat whose import has not ended yet, so that a restart in
    the middle resumes it (the import is idempotent: it starts again from the first row).

    The file holds raw ID numbers, so it is kept only encrypted (`IdCipher.encrypt_bytes`), and
    only until the import's last transaction, which deletes this row with the final report.
    """

    id: int | None = Field(default=None, primary_key=True)
    community_id: int = Field(foreign_key="community.id", index=True)
    by_id: int = Field(foreign_key="person.id")
    filename: str = Field(max_length=128)
    source: str = Field(max_length=16)
    today: date
    run_id: str = Field(max_length=12)  # the progress and report messages' dedupe keys
    data: bytes = Field(sa_type=LargeBinary)  # the file, encrypted
    received_at: datetime = Field(sa_type=UTCDateTime, default_factory=utcnow)
    # When the import last committed a chunk (or began): an upload whose import has not moved
    # for a while belongs to no running import (the process importing it has stopped).
    beat_at: datetime = Field(sa_type=UTCDateTime, default_factory=utcnow)
