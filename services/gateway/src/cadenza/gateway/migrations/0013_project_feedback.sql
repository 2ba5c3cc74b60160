-- Comments (threads one level deep, anchored to a track/artifact and a time range) and
-- reviewers' decisions on artifact versions: the fold of project.comment.* and
-- project.approval.recorded (cadenza.gateway.projects.projection).
CREATE TABLE project_comments (
    id           uuid PRIMARY KEY,
    project_id   uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    author       text NOT NULL,
    body         text NOT NULL,
    anchor       jsonb,
    parent_id    uuid,
    resolved_at  timestamptz,
    resolved_by  text,
    created_at   timestamptz NOT NULL
);
CREATE INDEX project_comments_project ON project_comments (project_id, created_at, id);

CREATE TABLE project_approvals (
    id          uuid PRIMARY KEY,
    project_id  uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    job_id      uuid NOT NULL,
    artifact    text NOT NULL,
    sha256      text NOT NULL,
    decision    text NOT NULL CHECK (decision IN ('approved', 'changes_requested')),
    reviewer    text NOT NULL,
    note        text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL
);
CREATE INDEX project_approvals_project ON project_approvals (project_id, created_at DESC, id);
