-- A job started in a project (JobSubmitted.project_id): the project's members see it. No
-- foreign key: a rebuild from the streams folds jobs before projects.
ALTER TABLE jobs ADD COLUMN project_id uuid;
CREATE INDEX jobs_project ON jobs (project_id, created_at DESC, id DESC)
    WHERE project_id IS NOT NULL;
