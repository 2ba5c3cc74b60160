"""Who may do what in a project: one table, by project role (AriaForge's roles).

owner: everything; admin: project management (settings, archive, members and invitations,
below admin); producer: composition and arrangement; artist: performance and editing —
both start jobs and edit the shared mix; reviewer: reads, comments and approves. Every
member reads the project, its members and its activity. A non-member is told the project
does not exist (404), whatever the action.
"""

from __future__ import annotations

from enum import StrEnum

from cadenza.contracts.projects import ProjectRole


class Action(StrEnum):
    READ = "read the project"
    UPDATE = "change the project's settings"
    ARCHIVE = "archive or restore the project"
    INVITE = "invite members"
    MANAGE_MEMBERS = "change members' roles or remove members"
    TRANSFER = "transfer the ownership"
    START_JOBS = "start jobs in the project"
    EDIT_MIX = "edit the shared mix"
    COMMENT = "comment"
    APPROVE = "approve or request changes"


EVERYONE: frozenset[ProjectRole] = frozenset({"owner", "admin", "producer", "artist", "reviewer"})
MAKERS: frozenset[ProjectRole] = frozenset({"owner", "admin", "producer", "artist"})
MANAGERS: frozenset[ProjectRole] = frozenset({"owner", "admin"})

ALLOWED: dict[Action, frozenset[ProjectRole]] = {
    Action.READ: EVERYONE,
    Action.UPDATE: MANAGERS,
    Action.ARCHIVE: MANAGERS,
    Action.INVITE: MANAGERS,
    Action.MANAGE_MEMBERS: MANAGERS,
    Action.TRANSFER: frozenset({"owner"}),
    Action.START_JOBS: MAKERS,
    Action.EDIT_MIX: MAKERS,
    Action.COMMENT: EVERYONE,
    Action.APPROVE: frozenset({"owner", "reviewer"}),
}

# What a role may still do in an archived project: read it, and bring it back.
WHILE_ARCHIVED: frozenset[Action] = frozenset({Action.READ, Action.ARCHIVE})


def allows(role: ProjectRole, action: Action) -> bool:
    return role in ALLOWED[action]


def may_manage(manager: ProjectRole | None, member: str) -> bool:
    """Whether `manager` may change, remove or invite a member with role `member`: the
    owner anyone but the owner; an admin only those below admin."""
    if manager == "owner":
        return member != "owner"
    if manager == "admin":
        return member not in ("owner", "admin")
    return False
