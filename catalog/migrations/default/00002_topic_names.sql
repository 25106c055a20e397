-- Storage names of topics are the topic's name behind a one-character
-- prefix: one more than the longest queue name.
-- +goose Up
ALTER TABLE catalogue ALTER COLUMN queue TYPE VARCHAR(65);

-- +goose Down
ALTER TABLE catalogue ALTER COLUMN queue TYPE VARCHAR(64);
