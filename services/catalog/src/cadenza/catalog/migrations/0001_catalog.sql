-- The catalog: songs, their assets in object storage, analysis, embeddings, fingerprints.
-- Everything lives in the `catalog` schema; only the catalog service reads or writes it.
CREATE EXTENSION IF NOT EXISTS vector;
CREATE SCHEMA IF NOT EXISTS catalog;

CREATE TABLE catalog.songs (
    id                 uuid PRIMARY KEY,
    owner              text NOT NULL,
    public             boolean NOT NULL DEFAULT false,
    title              text NOT NULL CHECK (length(title) BETWEEN 1 AND 300),
    artist             text NOT NULL DEFAULT '' CHECK (length(artist) <= 300),
    tags               text[] NOT NULL DEFAULT '{}',
    source             text NOT NULL,
    duration_s         double precision CHECK (duration_s >= 0),
    tempo_bpm          double precision CHECK (tempo_bpm > 0),
    key_tonic          smallint CHECK (key_tonic BETWEEN 0 AND 11),
    mode               text CHECK (mode IN ('major', 'minor')),
    time_signature     text,
    analysis           jsonb NOT NULL,
    -- See cadenza.catalog.analysis.embedding.DIMENSIONS for what each dimension means.
    embedding          vector(64) NOT NULL,
    -- Trigrams of title and artist (pg_trgm's way, computed by the service so that no
    -- extension beyond pgvector is needed): typo-tolerant search through a GIN index.
    search_trigrams    text[] NOT NULL,
    near_duplicate_of  uuid REFERENCES catalog.songs (id) ON DELETE SET NULL,
    near_duplicate_similarity double precision,
    -- The ingest job that created the song: a redelivered command finds it again.
    ingest_job_id      uuid NOT NULL UNIQUE,
    created_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX songs_search_trigrams ON catalog.songs USING gin (search_trigrams);
CREATE INDEX songs_tags ON catalog.songs USING gin (tags);
CREATE INDEX songs_owner_created ON catalog.songs (owner, created_at DESC);
CREATE INDEX songs_public_created ON catalog.songs (created_at DESC) WHERE public;
CREATE INDEX songs_tempo ON catalog.songs (tempo_bpm);
CREATE INDEX songs_embedding ON catalog.songs USING hnsw (embedding vector_cosine_ops)
    WITH (m = 16, ef_construction = 64);

CREATE TABLE catalog.song_assets (
    song_id      uuid NOT NULL REFERENCES catalog.songs (id) ON DELETE CASCADE,
    name         text NOT NULL CHECK (name IN ('midi', 'audio')),
    filename     text NOT NULL,
    uri          text NOT NULL,
    media_type   text NOT NULL,
    bytes        bigint NOT NULL CHECK (bytes >= 0),
    sha256       text NOT NULL,
    duration_s   double precision,
    sample_rate  integer,
    channels     integer,
    PRIMARY KEY (song_id, name)
);
CREATE INDEX song_assets_sha256 ON catalog.song_assets (sha256);

-- Audio landmarks (hash of two spectral peaks and their distance, at a frame): the same
-- recording re-encoded or trimmed shares many hashes at one constant frame offset.
CREATE TABLE catalog.fingerprints (
    hash     integer NOT NULL,
    song_id  uuid NOT NULL REFERENCES catalog.songs (id) ON DELETE CASCADE,
    frame    integer NOT NULL
);
CREATE INDEX fingerprints_hash ON catalog.fingerprints (hash);
CREATE INDEX fingerprints_song ON catalog.fingerprints (song_id);
