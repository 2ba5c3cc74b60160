-- A song added into a project (SongMetadata.project_id): the project's members read it.
ALTER TABLE catalog.songs ADD COLUMN project_id uuid;
CREATE INDEX songs_project ON catalog.songs (project_id) WHERE project_id IS NOT NULL;
