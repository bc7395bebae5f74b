-- Core tiers: sessions and exchanges, the FTS5 shadow of exchange content,
-- and the registry of embedding models that vectors refer to.

CREATE TABLE embed_models (
    id          INTEGER PRIMARY KEY,
    name        TEXT    NOT NULL UNIQUE,
    dim         INTEGER NOT NULL CHECK (dim > 0),
    created_at  INTEGER NOT NULL
);

CREATE TABLE sessions (
    id          TEXT    PRIMARY KEY,
    namespace   TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,   -- unix ms, when memd first saw the session
    updated_at  INTEGER NOT NULL    -- unix ms, last write to the session
) WITHOUT ROWID;

CREATE INDEX sessions_by_namespace ON sessions (namespace, updated_at);

CREATE TABLE exchanges (
    id              INTEGER PRIMARY KEY,
    session_id      TEXT    NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    role            TEXT    NOT NULL CHECK (role IN ('user', 'assistant', 'system', 'tool')),
    content         TEXT    NOT NULL,
    created_at      INTEGER NOT NULL,   -- unix ms, as the client says
    ext_id          TEXT,
    metadata        TEXT    CHECK (metadata IS NULL OR json_valid(metadata)),
    embedding       BLOB,               -- little-endian f32 x dim, L2-normalised
    embed_model_id  INTEGER REFERENCES embed_models (id)
);

CREATE INDEX exchanges_by_session ON exchanges (session_id, id);
-- Re-importing the same turn is idempotent.
CREATE UNIQUE INDEX exchanges_ext_id ON exchanges (session_id, ext_id) WHERE ext_id IS NOT NULL;
CREATE INDEX exchanges_by_model ON exchanges (embed_model_id);

CREATE VIRTUAL TABLE exchanges_fts USING fts5 (
    content,
    content = 'exchanges',
    content_rowid = 'id',
    tokenize = 'porter unicode61 remove_diacritics 2'
);

CREATE TRIGGER exchanges_fts_insert AFTER INSERT ON exchanges BEGIN
    INSERT INTO exchanges_fts (rowid, content) VALUES (new.id, new.content);
END;

CREATE TRIGGER exchanges_fts_delete AFTER DELETE ON exchanges BEGIN
    INSERT INTO exchanges_fts (exchanges_fts, rowid, content) VALUES ('delete', old.id, old.content);
END;

CREATE TRIGGER exchanges_fts_update AFTER UPDATE OF content ON exchanges BEGIN
    INSERT INTO exchanges_fts (exchanges_fts, rowid, content) VALUES ('delete', old.id, old.content);
    INSERT INTO exchanges_fts (rowid, content) VALUES (new.id, new.content);
END;
