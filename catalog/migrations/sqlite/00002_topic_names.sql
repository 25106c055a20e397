-- Storage names of topics are the topic's name behind a one-character
-- prefix, one more than the longest queue name: SQLite does not enforce
-- VARCHAR lengths, so its schema stays as it is.
-- +goose Up
SELECT 1;

-- +goose Down
SELECT 1;
