-- A project's shared mix (cadenza.gateway.shared_mix, a Yjs document): the updates members'
-- clients sent, each checked and accepted in order (seq), and a snapshot that folds the
-- updates up to a seq into one state. The current state is the snapshot with the later
-- updates applied; compaction (every 100 updates) writes a new snapshot and deletes the
-- updates it folded, in one transaction, so a read sees one or the other, never neither.
-- (The foreign keys to projects come with the projects' migration.)
CREATE TABLE shared_mix_updates (
    project_id  uuid NOT NULL,
    seq         bigint NOT NULL,
    update      bytea NOT NULL,
    actor       text NOT NULL,
    at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, seq)
);

CREATE TABLE shared_mix_snapshots (
    project_id  uuid PRIMARY KEY,
    state       bytea NOT NULL,
    -- The last update folded in; later ones are applied on top when the state is read.
    up_to_seq   bigint NOT NULL,
    at          timestamptz NOT NULL DEFAULT now()
);
