-- An upload made into a project: the project's members see it and may use it in jobs.
ALTER TABLE uploads ADD COLUMN project_id uuid REFERENCES projects (id) ON DELETE SET NULL;
CREATE INDEX uploads_project ON uploads (project_id) WHERE project_id IS NOT NULL;
