-- How many composes there are per source type and state (#18 item 5), so that
-- a page of the list and the metrics do not count the whole table each time.
-- Triggers only ever append +1/-1 rows (the same table and triggers as on
-- PostgreSQL, where rows updated in place would serialize state changes);
-- Store::fold_compose_counts adds the rows up into one per group.
CREATE TABLE compose_counts (
    id INTEGER PRIMARY KEY,
    source_type BIGINT NOT NULL,
    state BIGINT NOT NULL,
    n BIGINT NOT NULL
);

INSERT INTO compose_counts (source_type, state, n)
SELECT source_type, state, COUNT(*) FROM composes GROUP BY source_type, state;

CREATE TRIGGER compose_counts_on_insert AFTER INSERT ON composes
BEGIN
    INSERT INTO compose_counts (source_type, state, n) VALUES (NEW.source_type, NEW.state, 1);
END;

CREATE TRIGGER compose_counts_on_delete AFTER DELETE ON composes
BEGIN
    INSERT INTO compose_counts (source_type, state, n) VALUES (OLD.source_type, OLD.state, -1);
END;

CREATE TRIGGER compose_counts_on_update AFTER UPDATE OF source_type, state ON composes
WHEN NEW.state <> OLD.state OR NEW.source_type <> OLD.source_type
BEGIN
    INSERT INTO compose_counts (source_type, state, n) VALUES (OLD.source_type, OLD.state, -1);
    INSERT INTO compose_counts (source_type, state, n) VALUES (NEW.source_type, NEW.state, 1);
END;
