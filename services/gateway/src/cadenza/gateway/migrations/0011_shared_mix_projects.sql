-- A project's shared mix goes with its project (0009 and 0010 landed side by side).
ALTER TABLE shared_mix_updates
    ADD CONSTRAINT shared_mix_updates_project FOREIGN KEY (project_id)
    REFERENCES projects (id) ON DELETE CASCADE;
ALTER TABLE shared_mix_snapshots
    ADD CONSTRAINT shared_mix_snapshots_project FOREIGN KEY (project_id)
    REFERENCES projects (id) ON DELETE CASCADE;
