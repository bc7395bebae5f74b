-- The write firewall's marks: rows whose text the threat scanner named.
-- One table keyed by (tier, row_id) rather than columns on exchanges, facts
-- and items: the clean majority pays nothing (no column, no index entry),
-- `memd ctl quarantine list` reads one table instead of a union of three,
-- and recall skips a quarantined candidate with one primary-key probe.
-- `tier` is recall's tier name (exchange, fact, concept, chunk); item ids
-- are unique across item tiers, so (tier, row_id) names one row.
-- `mark`: 'quarantined' rows are stored but never recalled nor packed
-- until released (the mark is deleted); 'flagged' rows are usable, the
-- mark only records why they were flagged.

CREATE TABLE quarantine (
    tier        TEXT    NOT NULL,
    row_id      INTEGER NOT NULL,
    namespace   TEXT    NOT NULL,
    mark        TEXT    NOT NULL CHECK (mark IN ('quarantined', 'flagged')),
    classes     TEXT    NOT NULL CHECK (json_valid(classes)),  -- ["instruction_override", …]
    reason      TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,   -- unix ms
    PRIMARY KEY (tier, row_id)
) WITHOUT ROWID;

CREATE INDEX quarantine_by_mark ON quarantine (mark, namespace, created_at);

-- A row deleted by any path (session delete, forget, a source row gone)
-- takes its mark with it.
CREATE TRIGGER quarantine_exchange_gone AFTER DELETE ON exchanges BEGIN
    DELETE FROM quarantine WHERE tier = 'exchange' AND row_id = old.id;
END;

CREATE TRIGGER quarantine_fact_gone AFTER DELETE ON facts BEGIN
    DELETE FROM quarantine WHERE tier = 'fact' AND row_id = old.id;
END;

CREATE TRIGGER quarantine_item_gone AFTER DELETE ON items BEGIN
    DELETE FROM quarantine WHERE tier = old.tier AND row_id = old.id;
END;
