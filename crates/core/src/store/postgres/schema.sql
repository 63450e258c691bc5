-- zkppd schema for PostgreSQL, version 1 (zkppd_meta 'schema_version').
-- Applied to an empty schema at start-up, under an advisory lock so that
-- instances starting together create it once. The tables mirror the
-- SQLite ones (schema.sql at the top of the repository).

-- Per-install values: 'application' = 'zkppd', 'schema_version', and
-- 'install_secret', which keys the profile-token hashes and the fake salts
-- and verifiers of unknown profiles (every instance reads the same one).
CREATE TABLE zkppd_meta (
    key   text PRIMARY KEY,
    value bytea NOT NULL
);

-- Profile bucket: only a keyed blake3 hash of each token; a consumed
-- token stays, marked used, so that it can never be filled again.
CREATE TABLE profile_tokens (
    hash bytea PRIMARY KEY CHECK (length(hash) = 32),
    used boolean NOT NULL DEFAULT false
);

-- Signup bucket: dense slots 0..n-1, so that a uniform draw is one
-- primary-key lookup; a draw moves the last slot into its hole. Draws and
-- fills hold an advisory lock (see buckets.rs).
CREATE TABLE signup_tokens (
    slot  bigint PRIMARY KEY CHECK (slot >= 0),
    token text NOT NULL UNIQUE
);

CREATE TABLE profiles (
    id         text PRIMARY KEY,
    verifier   text NOT NULL,
    salt       text NOT NULL,
    -- When it signed up or was imported (ms since the epoch; 0: migrated).
    created_ms bigint NOT NULL DEFAULT 0
);

-- Sessions: only a blake3 hash of the auth token.
CREATE TABLE sessions (
    token_hash bytea PRIMARY KEY CHECK (length(token_hash) = 32),
    profile_id text NOT NULL REFERENCES profiles (id) ON DELETE CASCADE,
    expiry     text NOT NULL,
    expires_ms bigint NOT NULL,
    created_ms bigint NOT NULL
);
CREATE INDEX sessions_by_profile ON sessions (profile_id, created_ms);
CREATE INDEX sessions_by_expiry ON sessions (expires_ms);

-- Failed-proof streaks by keyed hash of the profile id, shared by every
-- instance: a guess is checked and counted in one statement.
CREATE TABLE lockouts (
    key             bytea PRIMARY KEY CHECK (length(key) = 32),
    failures        integer NOT NULL,
    locked_until_ms bigint NOT NULL,
    last_failure_ms bigint NOT NULL
);

CREATE TABLE reset_tokens (
    profile_id text PRIMARY KEY REFERENCES profiles (id) ON DELETE CASCADE,
    token_hash bytea NOT NULL CHECK (length(token_hash) = 32),
    expires_ms bigint NOT NULL
);

-- Pending sign-in handshakes, by keyed hash of the profile id. No secret
-- b: a nonce it is derived from under a key that is not in the database.
-- UNLOGGED: they live a minute, need not survive a crash and stay out of
-- the WAL, its archive and the replicas.
CREATE UNLOGGED TABLE handshakes (
    key        bytea PRIMARY KEY CHECK (length(key) = 32),
    nonce      bytea NOT NULL CHECK (length(nonce) = 32),
    a          bytea NOT NULL,
    big_b      bytea NOT NULL,
    salt       text NOT NULL,
    verifier   text,
    expires_ms bigint NOT NULL
);
CREATE INDEX handshakes_by_expiry ON handshakes (expires_ms);
