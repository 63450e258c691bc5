-- zkppd schema, version 4 (PRAGMA user_version). Applied to an empty file
-- at start-up; a later release migrates from this version.

-- Per-install values; `install_secret` keys the profile-token hashes and
-- the fake salts and verifiers of unknown profiles.
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value BLOB NOT NULL
) WITHOUT ROWID;

-- Profile bucket: only a keyed blake3 hash of each token. A consumed token
-- stays, marked used, so that it can never be filled again.
CREATE TABLE profile_tokens (
    hash BLOB PRIMARY KEY CHECK (length(hash) = 32),
    used INTEGER NOT NULL DEFAULT 0 CHECK (used IN (0, 1))
) WITHOUT ROWID;

-- Signup bucket: tokens as given, in dense slots 0..n-1 so that a uniform
-- random slot is one primary-key lookup; a draw moves the last slot into
-- the hole it leaves.
CREATE TABLE signup_tokens (
    slot  INTEGER PRIMARY KEY CHECK (slot >= 0),
    token TEXT NOT NULL UNIQUE
);

-- created_ms: when the profile signed up or was imported (0 for profiles
-- from before schema 4, which did not record it).
CREATE TABLE profiles (
    id         TEXT PRIMARY KEY,
    verifier   TEXT NOT NULL,
    salt       TEXT NOT NULL,
    created_ms INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;

-- Sessions: only a blake3 hash of the auth token is kept.
CREATE TABLE sessions (
    token_hash BLOB PRIMARY KEY CHECK (length(token_hash) = 32),
    profile_id TEXT NOT NULL REFERENCES profiles (id) ON DELETE CASCADE,
    expiry     TEXT NOT NULL,
    expires_ms INTEGER NOT NULL,
    created_ms INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX sessions_by_profile ON sessions (profile_id, created_ms);
CREATE INDEX sessions_by_expiry ON sessions (expires_ms);

-- Failed-proof streaks (the lockout), by a keyed hash of the profile id so
-- that ids guessed at (often unknown ones) are not kept in clear. Written
-- on every failed proof, so a restart forgets no guess. (Version 2.)
CREATE TABLE lockouts (
    key             BLOB PRIMARY KEY CHECK (length(key) = 32),
    failures        INTEGER NOT NULL,
    locked_until_ms INTEGER NOT NULL,
    last_failure_ms INTEGER NOT NULL
) WITHOUT ROWID;

-- Operator reset tokens: at most one per profile, only a keyed hash, with
-- its expiry; consumed by a password reset. (Version 3.)
CREATE TABLE reset_tokens (
    profile_id TEXT PRIMARY KEY REFERENCES profiles (id) ON DELETE CASCADE,
    token_hash BLOB NOT NULL CHECK (length(token_hash) = 32),
    expires_ms INTEGER NOT NULL
) WITHOUT ROWID;
