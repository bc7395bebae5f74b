-- Lexical search filtered by namespace inside FTS5. The exchange FTS table
-- gains an `ns` column holding one token per namespace ('n' || hex(name)),
-- so `content : (…) AND ns : "n…"` ranks only that namespace's rows, with no
-- join per match. The table becomes contentless (the text lives in
-- `exchanges`); contentless_delete lets the triggers remove rows by rowid.

DROP TRIGGER exchanges_fts_insert;
DROP TRIGGER exchanges_fts_delete;
DROP TRIGGER exchanges_fts_update;
DROP TABLE exchanges_fts;

CREATE VIRTUAL TABLE exchanges_fts USING fts5 (
    content,
    ns,
    content = '',
    contentless_delete = 1,
    tokenize = 'porter unicode61 remove_diacritics 2'
);

CREATE TRIGGER exchanges_fts_insert AFTER INSERT ON exchanges BEGIN
    INSERT INTO exchanges_fts (rowid, content, ns)
    VALUES (new.id, new.content, 'n' || hex((SELECT namespace FROM sessions WHERE id = new.session_id)));
END;

CREATE TRIGGER exchanges_fts_delete AFTER DELETE ON exchanges BEGIN
    DELETE FROM exchanges_fts WHERE rowid = old.id;
END;

CREATE TRIGGER exchanges_fts_update AFTER UPDATE OF content ON exchanges BEGIN
    DELETE FROM exchanges_fts WHERE rowid = old.id;
    INSERT INTO exchanges_fts (rowid, content, ns)
    VALUES (new.id, new.content, 'n' || hex((SELECT namespace FROM sessions WHERE id = new.session_id)));
END;

INSERT INTO exchanges_fts (rowid, content, ns)
SELECT e.id, e.content, 'n' || hex(s.namespace) FROM exchanges e JOIN sessions s ON s.id = e.session_id;
