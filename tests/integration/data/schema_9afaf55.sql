-- schema.sql as of commit 9afaf55 (steps 0001-0002), kept to build a database from before
-- the blogs and social steps: tests/integration/test_schema_upgrade.py upgrades it.
-- Nirvana's PostgreSQL schema, as versioned steps.
--
-- Each step starts with a line "-- migration: NNNN name". At start Nirvana applies, in order
-- and each in its own transaction, every step whose number is not yet in the table
-- schema_migrations, under an advisory lock so two starting processes never race. An existing
-- database is upgraded in place: a schema change is a NEW step appended at the end; a step
-- that has been released is never edited (its checksum is recorded and a change is reported).

-- migration: 0001 accounts
CREATE EXTENSION IF NOT EXISTS citext;
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE EXTENSION IF NOT EXISTS unaccent;

CREATE TABLE users (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email          citext NOT NULL,
    username       citext NOT NULL,
    name           text NOT NULL,
    about          text NOT NULL DEFAULT '',
    avatar_url     text,
    status         text NOT NULL DEFAULT '',
    email_verified boolean NOT NULL DEFAULT false,
    role           text NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'admin')),
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT users_email_key UNIQUE (email),
    CONSTRAINT users_username_key UNIQUE (username)
);

-- Kept apart from users so that reading a profile never reads a hash.
CREATE TABLE credentials (
    user_id               bigint PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    password_hash         text NOT NULL,
    -- access tokens issued before this instant are refused (password change or reset)
    access_revoked_before timestamptz,
    updated_at            timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX credentials_access_revoked_idx ON credentials (access_revoked_before)
    WHERE access_revoked_before IS NOT NULL;

CREATE TABLE refresh_tokens (
    token_hash bytea PRIMARY KEY,          -- sha256 of the opaque token; the token is never stored
    family_id  uuid NOT NULL,              -- one family per sign-in; rotation stays in it
    user_id    bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    used_at    timestamptz,
    revoked_at timestamptz
);
CREATE INDEX refresh_tokens_family_idx ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user_idx ON refresh_tokens (user_id);
CREATE INDEX refresh_tokens_revoked_idx ON refresh_tokens (revoked_at)
    WHERE revoked_at IS NOT NULL;

CREATE TABLE password_resets (
    token_hash bytea PRIMARY KEY,
    user_id    bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    used_at    timestamptz
);
CREATE INDEX password_resets_user_idx ON password_resets (user_id);

-- migration: 0002 social graph
-- Friendship is mutual and stored as two rows, (a, b) and (b, a), written in one
-- transaction, so "friends of X" and "are X and Y friends" are single index lookups.
CREATE TABLE friendships (
    user_id    bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    friend_id  bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, friend_id),
    CHECK (user_id <> friend_id)
);

CREATE TABLE friend_requests (
    from_user  bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    to_user    bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (from_user, to_user),
    CHECK (from_user <> to_user)
);
CREATE INDEX friend_requests_to_idx ON friend_requests (to_user, created_at DESC);

CREATE TABLE follows (
    follower_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    followee_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (follower_id, followee_id),
    CHECK (follower_id <> followee_id)
);
CREATE INDEX follows_followee_idx ON follows (followee_id, created_at DESC);

CREATE TABLE blocks (
    blocker_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    blocked_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (blocker_id, blocked_id),
    CHECK (blocker_id <> blocked_id)
);
CREATE INDEX blocks_blocked_idx ON blocks (blocked_id);
