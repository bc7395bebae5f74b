-- Fact extraction in the dream cycle: a cursor per session (the last turn
-- whose facts were extracted), failed attempts, and per-namespace counts of
-- what extraction proposed and what became of it (the junk rate).
--
-- `support` on facts: how many times a fact was stated (an extracted
-- duplicate raises it instead of adding a row). `norm`: the text lower-cased
-- with punctuation runs as single spaces (the store writes it with every
-- fact), so a repeat or a quote is an index lookup, not a scan; facts
-- written before this migration have none until they are edited.

CREATE TABLE fact_cursors (
    session_id   TEXT    PRIMARY KEY REFERENCES sessions (id) ON DELETE CASCADE,
    namespace    TEXT    NOT NULL,
    upto         INTEGER NOT NULL DEFAULT 0,   -- exchanges up to this id are done
    attempts     INTEGER NOT NULL DEFAULT 0,   -- failed extractions in a row
    failed_upto  INTEGER NOT NULL DEFAULT 0,   -- the last turn the failures covered
    last_error   TEXT,
    updated_at   INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE extraction_counts (
    namespace   TEXT    PRIMARY KEY,
    proposed    INTEGER NOT NULL DEFAULT 0,
    added       INTEGER NOT NULL DEFAULT 0,
    superseded  INTEGER NOT NULL DEFAULT 0,
    duplicates  INTEGER NOT NULL DEFAULT 0,
    echoes      INTEGER NOT NULL DEFAULT 0,
    refused     INTEGER NOT NULL DEFAULT 0,
    updated_at  INTEGER NOT NULL
) WITHOUT ROWID;

ALTER TABLE facts ADD COLUMN support INTEGER NOT NULL DEFAULT 1;
ALTER TABLE facts ADD COLUMN norm TEXT;
CREATE INDEX facts_by_norm ON facts (namespace, norm) WHERE norm IS NOT NULL;
