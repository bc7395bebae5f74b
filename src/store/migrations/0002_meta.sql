-- Small key/value state that must survive restarts (e.g. the cursor of a
-- forced re-embedding), kept out of the memory tiers and out of exports.
CREATE TABLE meta (
    key    TEXT PRIMARY KEY,
    value  TEXT NOT NULL
) WITHOUT ROWID;
