-- The facts tier: atomic declarative statements about a subject, each
-- bi-temporal. `valid_from`/`valid_to` say when the fact was true in the
-- world; `recorded_at`/`retired_at` say when memd believed it (NULL
-- recorded_at: never believed, a candidate awaiting review or a rejected
-- one). A contradicted fact is retired and linked to its replacement
-- (`superseded_by`), never deleted; forget is the one hard delete.
-- `superseded_by` has no foreign key: an export lists facts by id, so an
-- old fact names its newer replacement before that row exists; forget
-- clears the pointers itself.

CREATE TABLE facts (
    id                  INTEGER PRIMARY KEY,
    namespace           TEXT    NOT NULL,
    text                TEXT    NOT NULL,
    kind                TEXT    NOT NULL
        CHECK (kind IN ('user_profile', 'preference', 'env', 'project', 'event', 'other')),
    subject             TEXT,
    entities            TEXT    NOT NULL DEFAULT '[]' CHECK (json_valid(entities)),
    slot                TEXT,               -- normalised attribute (residence, employer, …)
    status              TEXT    NOT NULL
        CHECK (status IN ('candidate', 'active', 'superseded', 'invalid')),
    confidence          REAL    NOT NULL DEFAULT 1.0,
    reference_count     INTEGER NOT NULL DEFAULT 0,
    last_referenced_at  INTEGER,
    valid_from          INTEGER NOT NULL,   -- unix ms
    valid_to            INTEGER,
    recorded_at         INTEGER,
    retired_at          INTEGER,
    superseded_by       INTEGER,
    provenance          TEXT    NOT NULL DEFAULT '{}' CHECK (json_valid(provenance)),
    created_at          INTEGER NOT NULL,   -- the row was written
    updated_at          INTEGER NOT NULL,
    embedding           BLOB,
    embed_model_id      INTEGER REFERENCES embed_models (id)
);

CREATE INDEX facts_by_status ON facts (namespace, status);
CREATE INDEX facts_by_slot ON facts (namespace, subject, slot);
CREATE INDEX facts_by_successor ON facts (superseded_by) WHERE superseded_by IS NOT NULL;
CREATE INDEX facts_by_model ON facts (embed_model_id);

-- Namespace-scoped like exchanges_fts: `ns` holds 'n' || hex(namespace).
CREATE VIRTUAL TABLE facts_fts USING fts5 (
    text,
    ns,
    content = '',
    contentless_delete = 1,
    tokenize = 'porter unicode61 remove_diacritics 2'
);

CREATE TRIGGER facts_fts_insert AFTER INSERT ON facts BEGIN
    INSERT INTO facts_fts (rowid, text, ns) VALUES (new.id, new.text, 'n' || hex(new.namespace));
END;

CREATE TRIGGER facts_fts_delete AFTER DELETE ON facts BEGIN
    DELETE FROM facts_fts WHERE rowid = old.id;
END;

CREATE TRIGGER facts_fts_update AFTER UPDATE OF text, namespace ON facts BEGIN
    DELETE FROM facts_fts WHERE rowid = old.id;
    INSERT INTO facts_fts (rowid, text, ns) VALUES (new.id, new.text, 'n' || hex(new.namespace));
END;
