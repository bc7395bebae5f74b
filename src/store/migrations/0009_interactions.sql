-- Interactions: the audit log of what a client asked, which context memd
-- gave it (the `ids` of a context pack) and what the model answered. A
-- response that echoes a live fact of the pack reinforces it (confidence,
-- reference_count, last_referenced_at on `facts`), in the same write.
--
-- Self-contained: it adds two tables and names no other migration's
-- objects, so it can be renumbered.
--
-- `context_ids` keeps the client's list verbatim ([{tier, id}], id a number
-- or a name); `interaction_refs` indexes it (and the facts reinforced) by
-- tier and id, so "which interactions used fact 7" is a lookup, not a scan.
-- Neither names a fact or exchange by foreign key: the log outlives what it
-- names (a forgotten fact's id stays in the audit row).

CREATE TABLE interactions (
    id           INTEGER PRIMARY KEY,
    namespace    TEXT    NOT NULL,
    session_id   TEXT,
    client       TEXT,
    prompt       TEXT    NOT NULL,
    response     TEXT    NOT NULL,
    context_ids  TEXT    NOT NULL DEFAULT '[]' CHECK (json_valid(context_ids)),
    reinforced   TEXT    NOT NULL DEFAULT '[]' CHECK (json_valid(reinforced)),
    created_at   INTEGER NOT NULL    -- unix ms
);

CREATE INDEX interactions_by_session ON interactions (namespace, session_id, id);

-- One row per (interaction, tier, id, role): role `context` for an id the
-- pack held, `reinforced` for a fact the response echoed.
CREATE TABLE interaction_refs (
    interaction_id  INTEGER NOT NULL REFERENCES interactions (id) ON DELETE CASCADE,
    tier            TEXT    NOT NULL,
    ref_id          TEXT    NOT NULL,
    role            TEXT    NOT NULL CHECK (role IN ('context', 'reinforced')),
    PRIMARY KEY (tier, ref_id, interaction_id, role)
) WITHOUT ROWID;

CREATE INDEX interaction_refs_by_interaction ON interaction_refs (interaction_id);
