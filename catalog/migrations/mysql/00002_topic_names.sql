-- Storage names of topics are the topic's name behind a one-character
-- prefix: one more than the longest queue name.
-- +goose Up
ALTER TABLE catalogue MODIFY queue VARCHAR(65) NOT NULL;

-- +goose Down
ALTER TABLE catalogue MODIFY queue VARCHAR(64) NOT NULL;
