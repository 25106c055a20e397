-- Pools, flavors and the queue catalogue. The same schema, in each
-- database's dialect, lives in ../default (PostgreSQL) and ../sqlite.
-- +goose Up
-- InnoDB for foreign keys and transactions; utf8mb4_bin because queue,
-- pool and flavor names are case-sensitive, as on the other databases.
CREATE TABLE flavors (
    name         VARCHAR(64)  NOT NULL,
    project      VARCHAR(256) NOT NULL DEFAULT '',
    capabilities TEXT         NOT NULL,
    CONSTRAINT pk_flavors PRIMARY KEY (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE TABLE pools (
    name    VARCHAR(64)  NOT NULL,
    uri     VARCHAR(255) NOT NULL,
    weight  BIGINT       NOT NULL CHECK (weight >= 0),
    options TEXT         NOT NULL,
    flavor  VARCHAR(64)  NULL,
    CONSTRAINT pk_pools PRIMARY KEY (name),
    CONSTRAINT uq_pools_uri UNIQUE (uri),
    CONSTRAINT fk_pools_flavor FOREIGN KEY (flavor) REFERENCES flavors (name) ON DELETE SET NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE INDEX ix_pools_flavor ON pools (flavor);
CREATE TABLE catalogue (
    project VARCHAR(256) NOT NULL,
    queue   VARCHAR(64)  NOT NULL,
    pool    VARCHAR(64)  NOT NULL,
    CONSTRAINT pk_catalogue PRIMARY KEY (project, queue),
    CONSTRAINT fk_catalogue_pool FOREIGN KEY (pool) REFERENCES pools (name) ON DELETE RESTRICT
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE INDEX ix_catalogue_pool ON catalogue (pool);

-- +goose Down
DROP TABLE catalogue;
DROP TABLE pools;
DROP TABLE flavors;
