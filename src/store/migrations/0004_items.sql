-- Derived memory: the searchable tiers beyond exchanges (gists and eras
-- written by the dream cycle, concepts and chunks written by sources) share
-- one `items` table, one FTS5 table and the vector index, so recall treats
-- them alike. Tier-specific facts live in their own tables keyed by item id
-- or by what they describe.

CREATE TABLE items (
    id              INTEGER PRIMARY KEY,
    tier            TEXT    NOT NULL CHECK (tier IN ('gist', 'era', 'concept', 'chunk')),
    namespace       TEXT    NOT NULL,
    key             TEXT    NOT NULL,   -- unique within (tier, namespace): session id, 'YYYY-MM', concept name, 'path#n'
    parent          TEXT,               -- what the item belongs to, for bulk removal (session, source table, file)
    text            TEXT    NOT NULL,
    attrs           TEXT    NOT NULL DEFAULT '{}' CHECK (json_valid(attrs)),
    weight          REAL    NOT NULL DEFAULT 1.0, -- multiplies the item's fused recall score
    created_at      INTEGER NOT NULL,   -- unix ms
    updated_at      INTEGER NOT NULL,   -- unix ms, last change of text or attrs
    embedding       BLOB,
    embed_model_id  INTEGER REFERENCES embed_models (id)
);

CREATE UNIQUE INDEX items_by_key ON items (tier, namespace, key);
CREATE INDEX items_by_parent ON items (tier, namespace, parent);
CREATE INDEX items_by_model ON items (embed_model_id);

-- `scope` holds two tokens: the tier and 'n' || hex(namespace), so a MATCH
-- can be limited to some tiers of one namespace inside FTS5.
CREATE VIRTUAL TABLE items_fts USING fts5 (
    text,
    scope,
    content = '',
    contentless_delete = 1,
    tokenize = 'porter unicode61 remove_diacritics 2'
);

CREATE TRIGGER items_fts_insert AFTER INSERT ON items BEGIN
    INSERT INTO items_fts (rowid, text, scope)
    VALUES (new.id, new.text, new.tier || ' n' || hex(new.namespace));
END;

CREATE TRIGGER items_fts_delete AFTER DELETE ON items BEGIN
    DELETE FROM items_fts WHERE rowid = old.id;
END;

CREATE TRIGGER items_fts_update AFTER UPDATE OF text ON items BEGIN
    DELETE FROM items_fts WHERE rowid = old.id;
    INSERT INTO items_fts (rowid, text, scope)
    VALUES (new.id, new.text, new.tier || ' n' || hex(new.namespace));
END;

-- The dream cycle's tiers. A gist's text is its item; the row here is the
-- watermark that makes passes resumable.
CREATE TABLE gists (
    session_id        TEXT    PRIMARY KEY REFERENCES sessions (id) ON DELETE CASCADE,
    item_id           INTEGER NOT NULL UNIQUE REFERENCES items (id) ON DELETE CASCADE,
    namespace         TEXT    NOT NULL,
    month             TEXT    NOT NULL,  -- 'YYYY-MM' of the session's first exchange
    last_exchange_id  INTEGER NOT NULL,  -- watermark: turns up to here are summarised
    turns             INTEGER NOT NULL,  -- turns covered
    facts             TEXT    NOT NULL DEFAULT '[]' CHECK (json_valid(facts)), -- first-person statements found
    provider          TEXT    NOT NULL,
    model             TEXT,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL
) WITHOUT ROWID;

CREATE INDEX gists_by_namespace ON gists (namespace, updated_at);

-- Bounded retries of sessions whose summary failed (an unusable LLM answer).
CREATE TABLE dream_attempts (
    session_id       TEXT    PRIMARY KEY REFERENCES sessions (id) ON DELETE CASCADE,
    attempts         INTEGER NOT NULL,
    upto_exchange_id INTEGER NOT NULL,  -- the session's last turn when it last failed
    last_error       TEXT,
    last_attempt_at  INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE eras (
    namespace   TEXT    NOT NULL,
    month       TEXT    NOT NULL,
    item_id     INTEGER REFERENCES items (id) ON DELETE SET NULL,
    gist_ids    TEXT    NOT NULL DEFAULT '[]' CHECK (json_valid(gist_ids)),
    sessions    TEXT    NOT NULL DEFAULT '[]' CHECK (json_valid(sessions)),
    stale       INTEGER NOT NULL DEFAULT 0,  -- a covered session was deleted
    provider    TEXT,
    built_at    INTEGER NOT NULL,
    PRIMARY KEY (namespace, month)
) WITHOUT ROWID;

CREATE TABLE profiles (
    namespace         TEXT    PRIMARY KEY,
    text              TEXT    NOT NULL,
    facts             TEXT    NOT NULL DEFAULT '[]' CHECK (json_valid(facts)),
    sessions_covered  INTEGER NOT NULL,
    stale             INTEGER NOT NULL DEFAULT 0,
    provider          TEXT,
    built_at          INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE narratives (
    namespace   TEXT    PRIMARY KEY,
    text        TEXT    NOT NULL,
    stale       INTEGER NOT NULL DEFAULT 0,
    provider    TEXT,
    built_at    INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE self_states (
    namespace   TEXT    PRIMARY KEY,
    state       TEXT    NOT NULL CHECK (json_valid(state)),
    built_at    INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE dream_runs (
    id            INTEGER PRIMARY KEY,
    namespace     TEXT    NOT NULL,
    trigger       TEXT    NOT NULL,   -- schedule, idle, manual
    dry_run       INTEGER NOT NULL DEFAULT 0,
    started_at    INTEGER NOT NULL,
    ended_at      INTEGER,
    outcome       TEXT    NOT NULL,   -- running, done, nothing, stopped, failed
    drives_before TEXT    CHECK (drives_before IS NULL OR json_valid(drives_before)),
    drives_after  TEXT    CHECK (drives_after IS NULL OR json_valid(drives_after)),
    actions       TEXT    NOT NULL DEFAULT '[]' CHECK (json_valid(actions)),
    llm_calls     INTEGER NOT NULL DEFAULT 0,
    tokens_in     INTEGER NOT NULL DEFAULT 0,
    tokens_out    INTEGER NOT NULL DEFAULT 0,
    errors        TEXT    NOT NULL DEFAULT '[]' CHECK (json_valid(errors)),
    note          TEXT
);

CREATE INDEX dream_runs_by_namespace ON dream_runs (namespace, id);
