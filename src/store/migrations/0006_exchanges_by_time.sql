-- A session's exchanges in time order, as GET /v1/sessions/{id} streams
-- them page by page (keyset on created_at, id): each page is an index
-- range instead of a sort of the whole session.
CREATE INDEX exchanges_by_session_time ON exchanges (session_id, created_at, id);
