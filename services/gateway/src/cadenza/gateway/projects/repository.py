"""The projects' SQL (migration 0009): projects, members, invitations and the events folded
into them. Reads take the caller's account id and find only projects it is a member of."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, TypeVar

import asyncpg

from cadenza.contracts.projects import ProjectEvent, ProjectRole, ProjectSettings
from cadenza.gateway.cursors import keyset_cursor, keyset_position

PROJECT_COLUMNS = (
    "p.id, p.owner_id, p.name, p.description, p.tempo_bpm, p.key, p.time_signature,"
    " p.archived_at, p.version, p.created_at, p.updated_at"
)
INVITATION_COLUMNS = (
    "i.id, i.project_id, i.account_id, i.email, i.role, i.invited_by, i.status, i.created_at,"
    " i.expires_at, i.decided_at"
)


@dataclass(frozen=True)
class Project:
    id: uuid.UUID
    owner_id: str
    settings: ProjectSettings
    archived_at: datetime | None
    version: int  # the sequence of its last event
    created_at: datetime
    updated_at: datetime
    role: ProjectRole | None  # the reader's (None: not a member, e.g. an invitee)
    members: int

    @property
    def archived(self) -> bool:
        return self.archived_at is not None


@dataclass(frozen=True)
class Member:
    account_id: str
    role: ProjectRole
    joined_at: datetime
    email: str | None


@dataclass(frozen=True)
class Invitation:
    id: uuid.UUID
    project_id: uuid.UUID
    account_id: str | None
    email: str | None
    role: str
    invited_by: str
    status: str
    created_at: datetime
    expires_at: datetime
    decided_at: datetime | None
    project_name: str = ""


@dataclass(frozen=True)
class Activity:
    sequence: int
    event_id: uuid.UUID
    subject: str
    actor: str
    payload: dict[str, Any]
    occurred_at: datetime


def _project(row: asyncpg.Record) -> Project:
    settings = ProjectSettings(
        name=row["name"],
        description=row["description"],
        tempo_bpm=row["tempo_bpm"],
        key=row["key"],
        time_signature=row["time_signature"],
    )
    return Project(
        id=row["id"],
        owner_id=row["owner_id"],
        settings=settings,
        archived_at=row["archived_at"],
        version=row["version"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        role=row["role"],
        members=row["members"],
    )


def _invitation(row: asyncpg.Record) -> Invitation:
    return Invitation(
        **{k: row[k] for k in INVITATION_COLUMNS.replace("i.", "").split(", ")},
        project_name=row.get("project_name") or "",
    )


_MEMBERS = "(SELECT count(*) FROM project_members c WHERE c.project_id = p.id) AS members"


class _Keyed(Protocol):
    @property
    def id(self) -> uuid.UUID: ...
    @property
    def created_at(self) -> datetime: ...


K = TypeVar("K", bound=_Keyed)


async def _keyset_page(
    pool: asyncpg.Pool,
    select: str,
    where: str,
    key: Any,
    limit: int,
    cursor: str | None,
    make: Callable[[asyncpg.Record], K],
    *,
    alias: str = "",
    newest_first: bool = False,
) -> tuple[list[K], str | None]:
    """A page of `select … WHERE where` ($1 = `key`) in (created_at, id) order, from the
    position `cursor` names; and the next page's cursor (None at the end)."""
    column = f"{alias}." if alias else ""
    args: list[Any] = [key, limit + 1]
    if cursor:
        created, row_id = keyset_position(cursor)
        where += f" AND ({column}created_at, {column}id) {'<' if newest_first else '>'} ($3, $4)"
        args += [created, row_id]
    way = " DESC" if newest_first else ""
    rows = await pool.fetch(
        f"{select} WHERE {where} ORDER BY {column}created_at{way}, {column}id{way} LIMIT $2",
        *args,
    )
    page = [make(r) for r in rows[:limit]]
    return page, keyset_cursor(page[-1].created_at, page[-1].id) if len(rows) > limit else None


async def project_for(
    conn: asyncpg.Connection | asyncpg.Pool,
    account_id: str,
    project_id: uuid.UUID,
    *,
    lock: bool = False,
) -> Project | None:
    """The project as `account_id` (a member) sees it; None for a non-member. `lock`: the
    project's row is locked until the transaction ends (changes to one project queue)."""
    row = await conn.fetchrow(
        f"SELECT {PROJECT_COLUMNS}, m.role, {_MEMBERS} FROM projects p"
        " JOIN project_members m ON m.project_id = p.id AND m.account_id = $2"
        " WHERE p.id = $1" + (" FOR UPDATE OF p" if lock else ""),
        project_id,
        account_id,
    )
    return _project(row) if row else None


async def lock_project(conn: asyncpg.Connection, project_id: uuid.UUID) -> Project:
    """The project, locked, as someone who is not (yet) a member sees it (`role` None)."""
    row = await conn.fetchrow(
        f"SELECT {PROJECT_COLUMNS}, NULL AS role, {_MEMBERS} FROM projects p WHERE p.id = $1"
        " FOR UPDATE OF p",
        project_id,
    )
    return _project(row)


async def projects_of(
    pool: asyncpg.Pool, account_id: str, limit: int, cursor: str | None, *, archived: bool
) -> tuple[list[Project], str | None]:
    """The projects `account_id` is a member of, oldest first, a page at a time."""
    return await _keyset_page(
        pool,
        f"SELECT {PROJECT_COLUMNS}, m.role, {_MEMBERS} FROM projects p"
        " JOIN project_members m ON m.project_id = p.id AND m.account_id = $1",
        "p.archived_at IS " + ("NOT NULL" if archived else "NULL"),
        account_id,
        limit,
        cursor,
        _project,
        alias="p",
    )


async def owned_count(conn: asyncpg.Connection, account_id: str) -> int:
    count: int = await conn.fetchval(
        "SELECT count(*) FROM projects WHERE owner_id = $1", account_id
    )
    return count


async def lock_account_projects(conn: asyncpg.Connection, account_id: str) -> None:
    """Serialises project creation per account (the count checked against the limit)."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext('projects/' || $1))", account_id)


async def members(conn: asyncpg.Connection | asyncpg.Pool, project_id: uuid.UUID) -> list[Member]:
    rows = await conn.fetch(
        "SELECT m.account_id, m.role, m.joined_at, u.email FROM project_members m"
        " LEFT JOIN users u ON u.id::text = m.account_id"
        " WHERE m.project_id = $1"
        " ORDER BY array_position(ARRAY['owner','admin','producer','artist','reviewer'], m.role),"
        " m.joined_at, m.account_id",
        project_id,
    )
    return [Member(r["account_id"], r["role"], r["joined_at"], r["email"]) for r in rows]


async def member_role(
    conn: asyncpg.Connection, project_id: uuid.UUID, account_id: str
) -> ProjectRole | None:
    role: ProjectRole | None = await conn.fetchval(
        "SELECT role FROM project_members WHERE project_id = $1 AND account_id = $2",
        project_id,
        account_id,
    )
    return role


async def seats_taken(conn: asyncpg.Connection, project_id: uuid.UUID) -> int:
    """Members and pending, unexpired invitations."""
    taken: int = await conn.fetchval(
        "SELECT (SELECT count(*) FROM project_members WHERE project_id = $1)"
        " + (SELECT count(*) FROM project_invitations WHERE project_id = $1"
        "    AND status = 'pending' AND expires_at > now())",
        project_id,
    )
    return taken


async def pending_invitation_for(
    conn: asyncpg.Connection, project_id: uuid.UUID, account_id: str | None, email: str | None
) -> Invitation | None:
    row = await conn.fetchrow(
        f"SELECT {INVITATION_COLUMNS} FROM project_invitations i WHERE i.project_id = $1"
        " AND i.status = 'pending' AND i.expires_at > now()"
        " AND (i.account_id = $2 OR lower(i.email) = lower($3))",
        project_id,
        account_id,
        email,
    )
    return _invitation(row) if row else None


async def invitation(
    conn: asyncpg.Connection | asyncpg.Pool, invitation_id: uuid.UUID, *, lock: bool = False
) -> Invitation | None:
    row = await conn.fetchrow(
        f"SELECT {INVITATION_COLUMNS}, p.name AS project_name FROM project_invitations i"
        " JOIN projects p ON p.id = i.project_id WHERE i.id = $1"
        + (" FOR UPDATE OF i" if lock else ""),
        invitation_id,
    )
    return _invitation(row) if row else None


async def invitations_of_project(
    pool: asyncpg.Pool, project_id: uuid.UUID, limit: int, cursor: str | None
) -> tuple[list[Invitation], str | None]:
    return await _keyset_page(
        pool,
        f"SELECT {INVITATION_COLUMNS} FROM project_invitations i",
        "i.project_id = $1",
        project_id,
        limit,
        cursor,
        _invitation,
        alias="i",
    )


async def invitations_for(
    pool: asyncpg.Pool, account_id: str, email: str | None
) -> list[Invitation]:
    """Pending, unexpired invitations addressed to the account or its email (at most 100:
    each project invites an account once)."""
    rows = await pool.fetch(
        f"SELECT {INVITATION_COLUMNS}, p.name AS project_name FROM project_invitations i"
        " JOIN projects p ON p.id = i.project_id"
        " WHERE i.status = 'pending' AND i.expires_at > now() AND p.archived_at IS NULL"
        " AND (i.account_id = $1 OR ($2::text IS NOT NULL AND lower(i.email) = lower($2)))"
        " ORDER BY i.created_at, i.id LIMIT 100",
        account_id,
        email,
    )
    return [_invitation(r) for r in rows]


async def activity(
    pool: asyncpg.Pool, project_id: uuid.UUID, limit: int, before: int | None
) -> list[Activity]:
    """The project's events, newest first (those before sequence `before`, if given)."""
    rows = await pool.fetch(
        "SELECT sequence, event_id, subject, actor, payload, occurred_at FROM project_events"
        " WHERE project_id = $1 AND ($3::integer IS NULL OR sequence < $3)"
        " ORDER BY sequence DESC LIMIT $2",
        project_id,
        limit,
        before,
    )
    return [Activity(**dict(r)) for r in rows]


# ---- the fold's writes (cadenza.gateway.projects.projection) ----------------------------


async def record_event(conn: asyncpg.Connection, event: ProjectEvent) -> bool:
    """Once per event id; False if it was already folded in."""
    recorded = await conn.fetchval(
        "INSERT INTO project_events"
        " (event_id, project_id, sequence, subject, actor, payload, occurred_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (event_id) DO NOTHING"
        " RETURNING event_id",
        event.event_id,
        event.project_id,
        event.sequence,
        event.subject,
        event.actor,
        event.model_dump(mode="json"),
        event.occurred_at,
    )
    return recorded is not None


async def insert_project(
    conn: asyncpg.Connection,
    project_id: uuid.UUID,
    owner_id: str,
    settings: ProjectSettings,
    at: datetime,
) -> None:
    await conn.execute(
        "INSERT INTO projects (id, owner_id, name, description, tempo_bpm, key, time_signature,"
        " created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)"
        " ON CONFLICT (id) DO NOTHING",
        project_id,
        owner_id,
        settings.name,
        settings.description,
        settings.tempo_bpm,
        settings.key,
        settings.time_signature,
        at,
    )
    await upsert_member(conn, project_id, owner_id, "owner", at)


async def set_version(conn: asyncpg.Connection, project_id: uuid.UUID, sequence: int) -> None:
    await conn.execute(
        "UPDATE projects SET version = greatest(version, $2) WHERE id = $1", project_id, sequence
    )


async def update_settings(
    conn: asyncpg.Connection, project_id: uuid.UUID, settings: ProjectSettings, at: datetime
) -> None:
    await conn.execute(
        "UPDATE projects SET name = $2, description = $3, tempo_bpm = $4, key = $5,"
        " time_signature = $6, updated_at = $7 WHERE id = $1",
        project_id,
        settings.name,
        settings.description,
        settings.tempo_bpm,
        settings.key,
        settings.time_signature,
        at,
    )


async def set_archived(
    conn: asyncpg.Connection, project_id: uuid.UUID, archived_at: datetime | None, at: datetime
) -> None:
    await conn.execute(
        "UPDATE projects SET archived_at = $2, updated_at = $3 WHERE id = $1",
        project_id,
        archived_at,
        at,
    )


async def upsert_member(
    conn: asyncpg.Connection, project_id: uuid.UUID, account_id: str, role: str, at: datetime
) -> None:
    await conn.execute(
        "INSERT INTO project_members (project_id, account_id, role, joined_at)"
        " VALUES ($1, $2, $3, $4)"
        " ON CONFLICT (project_id, account_id) DO UPDATE SET role = excluded.role",
        project_id,
        account_id,
        role,
        at,
    )


async def remove_member(conn: asyncpg.Connection, project_id: uuid.UUID, account_id: str) -> None:
    await conn.execute(
        "DELETE FROM project_members WHERE project_id = $1 AND account_id = $2",
        project_id,
        account_id,
    )


async def transfer_owner(
    conn: asyncpg.Connection, project_id: uuid.UUID, old: str, new: str, at: datetime
) -> None:
    # The old owner steps down first: one owner per project (a unique index).
    await conn.execute(
        "UPDATE project_members SET role = 'admin' WHERE project_id = $1 AND account_id = $2",
        project_id,
        old,
    )
    await upsert_member(conn, project_id, new, "owner", at)
    await conn.execute(
        "UPDATE projects SET owner_id = $2, updated_at = $3 WHERE id = $1", project_id, new, at
    )


async def insert_invitation(conn: asyncpg.Connection, found: Invitation) -> None:
    await conn.execute(
        "INSERT INTO project_invitations (id, project_id, account_id, email, role, invited_by,"
        " status, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, 'pending', $7, $8)"
        " ON CONFLICT (id) DO NOTHING",
        found.id,
        found.project_id,
        found.account_id,
        found.email,
        found.role,
        found.invited_by,
        found.created_at,
        found.expires_at,
    )


async def decide_invitation(
    conn: asyncpg.Connection, invitation_id: uuid.UUID, status: str, at: datetime
) -> None:
    await conn.execute(
        "UPDATE project_invitations SET status = $2, decided_at = $3"
        " WHERE id = $1 AND status = 'pending'",
        invitation_id,
        status,
        at,
    )


async def account_email(conn: asyncpg.Connection | asyncpg.Pool, account_id: str) -> str | None:
    """The email an account signs in with (None: no such account, or not an account's id)."""
    try:
        user_id = uuid.UUID(account_id)
    except ValueError:
        return None
    email: str | None = await conn.fetchval(
        "SELECT email FROM users WHERE id = $1 AND NOT disabled", user_id
    )
    return email


# ---- comments and approvals (migration 0013) ----------------------------------------------

COMMENT_COLUMNS = (
    "id, project_id, author, body, anchor, parent_id, resolved_at, resolved_by, created_at"
)
APPROVAL_COLUMNS = "id, project_id, job_id, artifact, sha256, decision, reviewer, note, created_at"


@dataclass(frozen=True)
class Comment:
    id: uuid.UUID
    project_id: uuid.UUID
    author: str
    body: str
    anchor: dict[str, Any] | None
    parent_id: uuid.UUID | None
    resolved_at: datetime | None
    resolved_by: str | None
    created_at: datetime


@dataclass(frozen=True)
class Approval:
    id: uuid.UUID
    project_id: uuid.UUID
    job_id: uuid.UUID
    artifact: str
    sha256: str
    decision: str
    reviewer: str
    note: str
    created_at: datetime


async def comment(
    conn: asyncpg.Connection | asyncpg.Pool, project_id: uuid.UUID, comment_id: uuid.UUID
) -> Comment | None:
    row = await conn.fetchrow(
        f"SELECT {COMMENT_COLUMNS} FROM project_comments WHERE id = $1 AND project_id = $2",
        comment_id,
        project_id,
    )
    return Comment(**dict(row)) if row else None


async def comments(
    pool: asyncpg.Pool, project_id: uuid.UUID, limit: int, cursor: str | None
) -> tuple[list[Comment], str | None]:
    """Oldest first (a thread's replies after their comment, in time)."""
    return await _keyset_page(
        pool,
        f"SELECT {COMMENT_COLUMNS} FROM project_comments",
        "project_id = $1",
        project_id,
        limit,
        cursor,
        lambda r: Comment(**dict(r)),
    )


async def count_comments(conn: asyncpg.Connection, project_id: uuid.UUID) -> int:
    found: int = await conn.fetchval(
        "SELECT count(*) FROM project_comments WHERE project_id = $1", project_id
    )
    return found


async def insert_comment(conn: asyncpg.Connection, found: Comment) -> None:
    await conn.execute(
        f"INSERT INTO project_comments ({COMMENT_COLUMNS}) VALUES"
        " ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (id) DO NOTHING",
        *(getattr(found, c) for c in COMMENT_COLUMNS.split(", ")),
    )


async def set_resolved(
    conn: asyncpg.Connection, comment_id: uuid.UUID, by: str | None, at: datetime | None
) -> None:
    await conn.execute(
        "UPDATE project_comments SET resolved_at = $2, resolved_by = $3 WHERE id = $1",
        comment_id,
        at,
        by,
    )


async def approval(conn: asyncpg.Connection, approval_id: uuid.UUID) -> Approval | None:
    row = await conn.fetchrow(
        f"SELECT {APPROVAL_COLUMNS} FROM project_approvals WHERE id = $1", approval_id
    )
    return Approval(**dict(row)) if row else None


async def approvals(
    pool: asyncpg.Pool, project_id: uuid.UUID, limit: int, cursor: str | None
) -> tuple[list[Approval], str | None]:
    """Newest first."""
    return await _keyset_page(
        pool,
        f"SELECT {APPROVAL_COLUMNS} FROM project_approvals",
        "project_id = $1",
        project_id,
        limit,
        cursor,
        lambda r: Approval(**dict(r)),
        newest_first=True,
    )


async def review_state(
    conn: asyncpg.Connection | asyncpg.Pool, project_id: uuid.UUID, limit: int = 100
) -> list[Approval]:
    """Each artifact version's latest decision (the project's review state), newest first."""
    rows = await conn.fetch(
        f"SELECT {APPROVAL_COLUMNS} FROM ("
        f"  SELECT DISTINCT ON (job_id, artifact, sha256) {APPROVAL_COLUMNS}"
        "   FROM project_approvals WHERE project_id = $1"
        "   ORDER BY job_id, artifact, sha256, created_at DESC, id DESC"
        ") latest ORDER BY created_at DESC, id DESC LIMIT $2",
        project_id,
        limit,
    )
    return [Approval(**dict(r)) for r in rows]


async def count_approvals(conn: asyncpg.Connection, project_id: uuid.UUID) -> int:
    found: int = await conn.fetchval(
        "SELECT count(*) FROM project_approvals WHERE project_id = $1", project_id
    )
    return found


async def insert_approval(conn: asyncpg.Connection, found: Approval) -> None:
    await conn.execute(
        f"INSERT INTO project_approvals ({APPROVAL_COLUMNS}) VALUES"
        " ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (id) DO NOTHING",
        *(getattr(found, c) for c in APPROVAL_COLUMNS.split(", ")),
    )


async def project_ids_of(
    conn: asyncpg.Connection | asyncpg.Pool, account_id: str, limit: int = 1000
) -> tuple[uuid.UUID, ...]:
    """The projects `account_id` is a member of, most recently joined first (at most
    `limit`: what one catalog query names)."""
    rows = await conn.fetch(
        "SELECT project_id FROM project_members WHERE account_id = $1"
        " ORDER BY joined_at DESC LIMIT $2",
        account_id,
        limit,
    )
    return tuple(r["project_id"] for r in rows)
