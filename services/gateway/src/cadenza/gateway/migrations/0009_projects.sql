-- Projects (workspaces) with per-project roles: the fold of the PROJECTS stream's events
-- (cadenza.gateway.projects.projection). Times come from the events, so a rebuild from
-- the stream gives the same rows.
CREATE TABLE projects (
    id              uuid PRIMARY KEY,
    owner_id        text NOT NULL,
    name            text NOT NULL,
    description     text NOT NULL DEFAULT '',
    tempo_bpm       double precision NOT NULL,
    key             text,
    time_signature  text NOT NULL,
    archived_at     timestamptz,
    -- The sequence of the last event folded in (ProjectEvent.sequence).
    version         integer NOT NULL DEFAULT 1,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL
);
CREATE INDEX projects_owner ON projects (owner_id);

CREATE TABLE project_members (
    project_id  uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    account_id  text NOT NULL,
    role        text NOT NULL
                CHECK (role IN ('owner', 'admin', 'producer', 'artist', 'reviewer')),
    joined_at   timestamptz NOT NULL,
    PRIMARY KEY (project_id, account_id)
);
CREATE INDEX project_members_account ON project_members (account_id);
-- One owner per project.
CREATE UNIQUE INDEX project_members_one_owner ON project_members (project_id)
    WHERE role = 'owner';

CREATE TABLE project_invitations (
    id          uuid PRIMARY KEY,
    project_id  uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    account_id  text,
    email       text,
    role        text NOT NULL CHECK (role IN ('admin', 'producer', 'artist', 'reviewer')),
    invited_by  text NOT NULL,
    status      text NOT NULL DEFAULT 'pending'
                CHECK (status IN ('pending', 'accepted', 'declined', 'revoked')),
    created_at  timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL,
    decided_at  timestamptz,
    CHECK ((account_id IS NULL) <> (email IS NULL))
);
CREATE INDEX project_invitations_project ON project_invitations (project_id, created_at, id);
CREATE INDEX project_invitations_account ON project_invitations (account_id)
    WHERE status = 'pending';
CREATE INDEX project_invitations_email ON project_invitations (lower(email))
    WHERE status = 'pending';

-- Every event folded in, once (keyed by event id): the project's activity and history.
CREATE TABLE project_events (
    position     bigserial PRIMARY KEY,
    event_id     uuid NOT NULL UNIQUE,
    project_id   uuid NOT NULL,
    sequence     integer NOT NULL,
    subject      text NOT NULL,
    actor        text NOT NULL,
    payload      jsonb NOT NULL,
    occurred_at  timestamptz NOT NULL
);
-- Two changes decided as the same step of one project would be a bug: refused here.
CREATE UNIQUE INDEX project_events_sequence ON project_events (project_id, sequence);
