-- Sources: rows of source databases become concepts, watched files become
-- documents cut into chunks. The searchable text of both lives in `items`
-- (tiers 'concept' and 'chunk'); these tables keep what syncing needs.

-- One row of an allowed table of a database source. `source_text` is the
-- row as last read from the source; `overlay` a user's edit shown instead
-- (dropped, with an overwrite warning, when the source changes the row);
-- `removed` a user's removal from memory (the source is never touched).
CREATE TABLE concepts (
    source       TEXT    NOT NULL,
    tbl          TEXT    NOT NULL,
    row_id       TEXT    NOT NULL,
    namespace    TEXT    NOT NULL,
    name         TEXT    NOT NULL,   -- 'table:row_id' or 'source/table:row_id'
    item_id      INTEGER REFERENCES items (id) ON DELETE SET NULL,
    fingerprint  TEXT    NOT NULL,   -- sha256 of source_text
    source_text  TEXT    NOT NULL,
    overlay      TEXT,
    strength     REAL    NOT NULL,
    marker       TEXT,               -- the cursor column's value when read
    removed      INTEGER NOT NULL DEFAULT 0,
    synced_at    INTEGER NOT NULL,   -- unix ms
    edited_at    INTEGER,            -- unix ms of the last user edit
    PRIMARY KEY (source, tbl, row_id)
) WITHOUT ROWID;

CREATE INDEX concepts_by_name ON concepts (name, namespace);
CREATE INDEX concepts_by_item ON concepts (item_id);

-- Where incremental reads by a cursor column resume.
CREATE TABLE source_cursors (
    source      TEXT    NOT NULL,
    tbl         TEXT    NOT NULL,
    cursor,                           -- any SQLite value (PostgreSQL: text)
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (source, tbl)
) WITHOUT ROWID;

-- One watched file; its chunks are items with parent 'source/path'.
CREATE TABLE documents (
    source      TEXT    NOT NULL,
    path        TEXT    NOT NULL,    -- relative to the source's folder
    namespace   TEXT    NOT NULL,
    file_hash   TEXT    NOT NULL,    -- sha256 of the content
    bytes       INTEGER NOT NULL,
    mtime_ns    INTEGER NOT NULL,
    chunks      INTEGER NOT NULL,
    synced_at   INTEGER NOT NULL,
    PRIMARY KEY (source, path)
) WITHOUT ROWID;
