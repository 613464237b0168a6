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

-- migration: 0003 blogs
-- unaccent() is only STABLE (it looks its dictionary up through search_path), so it cannot
-- appear in an index or a generated column. This wrapper names the dictionary explicitly and
-- is parsed once at creation (SQL-standard body), which makes IMMUTABLE a true promise.
CREATE FUNCTION nirvana_fold(text) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN lower(public.unaccent('public.unaccent'::regdictionary, $1));

-- What full-text search indexes and queries: folded text with angle brackets blanked. The
-- text-search parser drops anything shaped like an HTML tag from documents but not from
-- websearch queries, so "<b>" typed in a blog and in a search would otherwise never meet.
CREATE FUNCTION nirvana_search_text(text) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN translate(nirvana_fold($1), '<>', '  ');

-- Unique by (city, country) compared case- and accent-insensitively: "Zürich, CH" and
-- "zurich, ch" are one place. The keys are stored so ON CONFLICT can name them.
CREATE TABLE locations (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    city        text NOT NULL,
    country     text NOT NULL,
    city_key    text GENERATED ALWAYS AS (nirvana_fold(city)) STORED,
    country_key text GENERATED ALWAYS AS (nirvana_fold(country)) STORED,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT locations_place_key UNIQUE (city_key, country_key)
);
-- Prefix autocomplete (LIKE 'abc%') on the folded names, whatever the collation.
CREATE INDEX locations_city_prefix_idx ON locations (city_key text_pattern_ops);
CREATE INDEX locations_country_prefix_idx ON locations (country_key text_pattern_ops);

CREATE TABLE blogs (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    author_id      bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    title          text NOT NULL,
    body           text NOT NULL,            -- Markdown, exactly as written; never HTML
    summary        text NOT NULL DEFAULT '',
    header_image   text,
    images         text[] NOT NULL DEFAULT '{}',
    -- Tags are values of a blog (normalised lower case), not entities of their own: kept in
    -- the row, the feed reads them without a join and the tag filter is a GIN containment.
    tags           text[] NOT NULL DEFAULT '{}',
    location_id    bigint REFERENCES locations (id),
    status         text NOT NULL CHECK (status IN ('draft', 'published')),
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    published_at   timestamptz,
    likes_count    integer NOT NULL DEFAULT 0 CHECK (likes_count >= 0),
    comments_count integer NOT NULL DEFAULT 0 CHECK (comments_count >= 0),
    -- 'simple' config on accent-folded text: no language-specific stemming (blogs come in
    -- every language), but "café" finds "cafe". Title ranks above summary above body.
    search         tsvector GENERATED ALWAYS AS (
                       setweight(to_tsvector('simple', nirvana_search_text(title)), 'A') ||
                       setweight(to_tsvector('simple', nirvana_search_text(summary)), 'B') ||
                       setweight(to_tsvector('simple', nirvana_search_text(body)), 'C')) STORED,
    CHECK (status = 'draft' OR published_at IS NOT NULL)
);
-- The feed, bulk and paginated_bulk walk this index newest first.
CREATE INDEX blogs_published_idx ON blogs (published_at DESC, id DESC)
    WHERE status = 'published';
-- The following feed and the author filter: one author's published blogs, newest first.
CREATE INDEX blogs_author_published_idx ON blogs (author_id, published_at DESC, id DESC)
    WHERE status = 'published';
CREATE INDEX blogs_author_idx ON blogs (author_id);
CREATE INDEX blogs_location_idx ON blogs (location_id);
CREATE INDEX blogs_tags_idx ON blogs USING gin (tags);
CREATE INDEX blogs_search_idx ON blogs USING gin (search);

-- The number of published blogs, kept exact by triggers in the writing transaction so that
-- paginated_bulk's total costs one primary-key read instead of a count over the table.
-- Statement-level triggers with transition tables make a COPY of 100,000 rows one update.
CREATE TABLE blog_counters (
    name  text PRIMARY KEY,
    value bigint NOT NULL
);

CREATE FUNCTION blog_counters_add(delta bigint) RETURNS void LANGUAGE sql AS $$
    INSERT INTO blog_counters AS c (name, value) VALUES ('published', delta)
    ON CONFLICT (name) DO UPDATE SET value = c.value + EXCLUDED.value;
$$;

CREATE FUNCTION blogs_count_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM blog_counters_add((SELECT count(*) FROM new_rows WHERE status = 'published'));
    RETURN NULL;
END $$;

CREATE FUNCTION blogs_count_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM blog_counters_add(-(SELECT count(*) FROM old_rows WHERE status = 'published'));
    RETURN NULL;
END $$;

CREATE FUNCTION blogs_count_status_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM blog_counters_add(CASE WHEN NEW.status = 'published' THEN 1 ELSE -1 END);
    RETURN NULL;
END $$;

CREATE FUNCTION blogs_count_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM blog_counters WHERE name = 'published';
    RETURN NULL;
END $$;

CREATE TRIGGER blogs_count_insert AFTER INSERT ON blogs
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION blogs_count_inserted();
CREATE TRIGGER blogs_count_delete AFTER DELETE ON blogs
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION blogs_count_deleted();
-- Row level with WHEN: a like (which updates likes_count) does not reach the function at all.
CREATE TRIGGER blogs_count_status AFTER UPDATE OF status ON blogs
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION blogs_count_status_changed();
CREATE TRIGGER blogs_count_truncate AFTER TRUNCATE ON blogs
    FOR EACH STATEMENT EXECUTE FUNCTION blogs_count_truncated();

-- One like per user per blog; blogs.likes_count is changed in the same statement.
CREATE TABLE blog_likes (
    blog_id    bigint NOT NULL REFERENCES blogs (id) ON DELETE CASCADE,
    user_id    bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (blog_id, user_id)
);
CREATE INDEX blog_likes_user_idx ON blog_likes (user_id);

CREATE TABLE blog_comments (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    blog_id    bigint NOT NULL REFERENCES blogs (id) ON DELETE CASCADE,
    author_id  bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    body       text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX blog_comments_blog_idx ON blog_comments (blog_id, id);
CREATE INDEX blog_comments_author_idx ON blog_comments (author_id);

-- likes_count and comments_count follow their rows in the same transaction, whatever path
-- writes them (a route, the seeder's COPY, a cascade from a deleted user). Statement level
-- with transition tables: one grouped update per statement, not one per row.
CREATE FUNCTION blog_likes_added() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE blogs b SET likes_count = b.likes_count + d.n
    FROM (SELECT blog_id, count(*) AS n FROM new_rows GROUP BY blog_id) d WHERE b.id = d.blog_id;
    RETURN NULL;
END $$;

CREATE FUNCTION blog_likes_removed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE blogs b SET likes_count = b.likes_count - d.n
    FROM (SELECT blog_id, count(*) AS n FROM old_rows GROUP BY blog_id) d WHERE b.id = d.blog_id;
    RETURN NULL;
END $$;

CREATE FUNCTION blog_comments_added() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE blogs b SET comments_count = b.comments_count + d.n
    FROM (SELECT blog_id, count(*) AS n FROM new_rows GROUP BY blog_id) d WHERE b.id = d.blog_id;
    RETURN NULL;
END $$;

CREATE FUNCTION blog_comments_removed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE blogs b SET comments_count = b.comments_count - d.n
    FROM (SELECT blog_id, count(*) AS n FROM old_rows GROUP BY blog_id) d WHERE b.id = d.blog_id;
    RETURN NULL;
END $$;

CREATE TRIGGER blog_likes_count_insert AFTER INSERT ON blog_likes
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION blog_likes_added();
CREATE TRIGGER blog_likes_count_delete AFTER DELETE ON blog_likes
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION blog_likes_removed();
CREATE TRIGGER blog_comments_count_insert AFTER INSERT ON blog_comments
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION blog_comments_added();
CREATE TRIGGER blog_comments_count_delete AFTER DELETE ON blog_comments
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION blog_comments_removed();

-- migration: 0004 social
-- Search folds case and accents the same way in the indexes and in the queries. unaccent()
-- alone is only STABLE (it reads its dictionary by name), so it cannot appear in an index; a
-- SQL-standard function naming the dictionary explicitly is safe to declare IMMUTABLE.
CREATE FUNCTION social_fold(text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
    RETURN lower(public.unaccent('public.unaccent'::regdictionary, $1));

-- Trigram indexes serve exact, prefix, substring and fuzzy user search in one index each.
CREATE INDEX users_username_trgm_idx ON users USING gin (social_fold(username::text) gin_trgm_ops);
CREATE INDEX users_name_trgm_idx ON users USING gin (social_fold(name) gin_trgm_ops);

-- Newest-first lists of each side of each link table (the other side has its index in 0002).
CREATE INDEX follows_follower_idx ON follows (follower_id, created_at DESC);
CREATE INDEX friendships_user_created_idx ON friendships (user_id, created_at DESC);
CREATE INDEX friend_requests_from_idx ON friend_requests (from_user, created_at DESC);
CREATE INDEX blocks_blocker_idx ON blocks (blocker_id, created_at DESC);

-- migration: 0005 notifications
-- One row per recipient and thing told; its actors apart, so likes on one blog coalesce into
-- one row ("Ann and 3 others liked …") and an unlike takes exactly its liker off.
CREATE TABLE notifications (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    recipient_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind         text NOT NULL,
    subject      text NOT NULL,            -- what it is about ("blog:12"): undo finds it by it
    group_key    text NOT NULL,            -- unread rows with the same key are one
    blog_id      bigint REFERENCES blogs (id) ON DELETE CASCADE,
    comment_id   bigint REFERENCES blog_comments (id) ON DELETE CASCADE,
    text         text,
    actor_count  integer NOT NULL DEFAULT 0,
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL,
    read_at      timestamptz
);
-- The list, latest activity first (cursor on updated_at, id).
CREATE INDEX notifications_list_idx ON notifications (recipient_id, updated_at DESC, id DESC);
-- Coalescing: at most one unread row per group, which concurrent adds meet through ON
-- CONFLICT. Small (unread rows only), it also answers the unread count.
CREATE UNIQUE INDEX notifications_unread_group_key ON notifications (recipient_id, group_key)
    WHERE read_at IS NULL;
-- Withdrawals by subject when the recipients are not known (a deleted comment's mentions).
CREATE INDEX notifications_unread_subject_idx ON notifications (subject) WHERE read_at IS NULL;

CREATE TABLE notification_actors (
    notification_id bigint NOT NULL REFERENCES notifications (id) ON DELETE CASCADE,
    actor_id        bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    at              timestamptz NOT NULL,
    PRIMARY KEY (notification_id, actor_id)
);
CREATE INDEX notification_actors_recent_idx ON notification_actors (notification_id, at DESC);
CREATE INDEX notification_actors_actor_idx ON notification_actors (actor_id);

-- The mail outbox: every mail is a row, written by what causes it, and sent by one task that
-- retries with backoff (storage/mail_sender.py). A row keeps its Message-ID across retries.
CREATE TABLE mail_outbox (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    message_id      text NOT NULL UNIQUE,
    recipient       text NOT NULL,
    subject         text NOT NULL,
    body            text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    sent_at         timestamptz,
    failed_at       timestamptz,        -- refused for good (SMTP 5xx): never retried
    last_error      text
);
CREATE INDEX mail_outbox_due_idx ON mail_outbox (next_attempt_at)
    WHERE sent_at IS NULL AND failed_at IS NULL;

-- migration: 0006 accounts lifecycle
-- A session is one sign-in: its refresh-token family (refresh_tokens.family_id, the access
-- token's `sid`) and where it was started. It is open while its family holds an unused,
-- unrevoked, unexpired refresh token, so nothing here has to be kept in step with logout.
CREATE TABLE sessions (
    id           uuid PRIMARY KEY,
    user_id      bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    device       text NOT NULL DEFAULT '',   -- named from the user agent ("Firefox on Linux")
    ip           text NOT NULL DEFAULT '',   -- coarse: the IPv4 /24 or IPv6 /48, never the address
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sessions_user_idx ON sessions (user_id);
CREATE INDEX refresh_tokens_open_family_idx ON refresh_tokens (family_id)
    WHERE used_at IS NULL AND revoked_at IS NULL;

-- A deleted account leaves only this: its id and when (no email, no name), so its tokens
-- stay refused after a restart and the erasure of its chat text is retried until done.
CREATE TABLE deleted_users (
    id         bigint PRIMARY KEY,
    deleted_at timestamptz NOT NULL,
    erased_at  timestamptz            -- when its content outside PostgreSQL was erased
);
CREATE INDEX deleted_users_pending_idx ON deleted_users (deleted_at) WHERE erased_at IS NULL;

-- migration: 0007 publishing
-- Slugs. blogs.slug is the current one; blog_slugs holds every slug a blog has held, so a
-- link made before a title change still finds it and no other blog can take it over.
-- The foreign key is checked at commit: a new blog's slug is claimed before its row exists.
ALTER TABLE blogs ADD COLUMN slug text;
CREATE TABLE blog_slugs (
    slug       text PRIMARY KEY,
    blog_id    bigint NOT NULL REFERENCES blogs (id) ON DELETE CASCADE
                   DEFERRABLE INITIALLY DEFERRED,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX blog_slugs_blog_idx ON blog_slugs (blog_id);

-- The first of base, base-2, base-3, ... that no other blog holds, claimed for the blog.
-- The primary key decides races: a concurrent claim of the same candidate waits for the
-- other transaction, and the loop moves on if that one committed.
CREATE FUNCTION blog_take_slug(p_blog bigint, p_base text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    candidate text := p_base;
    n integer := 1;
    holder bigint;
BEGIN
    LOOP
        INSERT INTO blog_slugs (slug, blog_id) VALUES (candidate, p_blog)
            ON CONFLICT (slug) DO NOTHING;
        SELECT blog_id INTO holder FROM blog_slugs WHERE slug = candidate;
        IF holder = p_blog THEN
            RETURN candidate;
        END IF;
        n := n + 1;
        candidate := p_base || '-' || n;
    END LOOP;
END $$;

-- The slug rule in SQL, for rows written without one (the backfill below, the seeder's
-- COPY): the application's rule (nirvana/domain/blogs/slugs.py) on what unaccent folds.
CREATE FUNCTION blog_slug_of(title text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
RETURN (SELECT CASE WHEN s = '' THEN 'post' WHEN s ~ '^[0-9]+$' THEN 'post-' || s ELSE s END
        FROM (SELECT trim(BOTH '-' FROM left(trim(BOTH '-' FROM regexp_replace(
                  lower(public.unaccent('public.unaccent'::regdictionary, title)),
                  '[^[:alnum:]]+', '-', 'g')), 80)) AS s) AS t);

-- On insert, the slug column carries the slug asked for (the application's, from the
-- title) or nothing (then the SQL rule's); the row gets the first free variant of it.
CREATE FUNCTION blogs_claim_slug() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.slug := blog_take_slug(NEW.id, coalesce(NEW.slug, blog_slug_of(NEW.title)));
    RETURN NEW;
END $$;
CREATE TRIGGER blogs_slug_insert BEFORE INSERT ON blogs
    FOR EACH ROW EXECUTE FUNCTION blogs_claim_slug();

DO $$
DECLARE r record;
BEGIN
    -- Oldest first: the first blog of a title keeps the plain slug.
    FOR r IN SELECT id, title FROM blogs ORDER BY id LOOP
        UPDATE blogs SET slug = blog_take_slug(r.id, blog_slug_of(r.title)) WHERE id = r.id;
    END LOOP;
END $$;
ALTER TABLE blogs ALTER COLUMN slug SET NOT NULL;
ALTER TABLE blogs ADD CONSTRAINT blogs_slug_key UNIQUE (slug);

-- Scheduled blogs: status 'scheduled' with the time to publish them in published_at, public
-- only once the server turns them 'published' (blogs.publish_due in the application).
ALTER TABLE blogs DROP CONSTRAINT blogs_status_check;
ALTER TABLE blogs ADD CONSTRAINT blogs_status_check
    CHECK (status IN ('draft', 'published', 'scheduled'));
CREATE INDEX blogs_scheduled_idx ON blogs (published_at) WHERE status = 'scheduled';
-- With a third status, a change is not always to or from 'published' (draft <-> scheduled).
CREATE OR REPLACE FUNCTION blogs_count_status_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM blog_counters_add((NEW.status = 'published')::int - (OLD.status = 'published')::int);
    RETURN NULL;
END $$;

-- Audience: who may read a published blog. 'followers' are its author's followers and
-- friends; 'friends' its author's friends only. Every read applies it (blogs.visible_to).
ALTER TABLE blogs ADD COLUMN audience text NOT NULL DEFAULT 'public'
    CHECK (audience IN ('public', 'followers', 'friends'));

-- migration: 0008 moderation
-- Roles: 'moderator' handles reports and acts on content and accounts; 'admin' also names
-- moderators and reads the audit log. The first admin is made by `python -m nirvana.admin`.
ALTER TABLE users DROP CONSTRAINT users_role_check;
ALTER TABLE users ADD CONSTRAINT users_role_check CHECK (role IN ('user', 'moderator', 'admin'));

-- A suspended account cannot sign in until `until` (NULL: for good). One row per account;
-- restoring deletes it, and a row whose `until` has passed no longer counts.
CREATE TABLE suspensions (
    user_id    bigint PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    until      timestamptz,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Hidden content is kept but shown to nobody but its author (blogs) or nobody (comments)
-- until a moderator shows it again.
ALTER TABLE blogs ADD COLUMN hidden_at timestamptz;
ALTER TABLE blog_comments ADD COLUMN hidden_at timestamptz;

-- A report case: everything reported about one thing, gathered. `target` names it
-- ("blog:12", "comment:5", "message:<conversation>:<seq>", "user:7"); at most one case per
-- target is open at a time, so repeated reports join it.
CREATE TABLE report_cases (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    target      text NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('blog', 'comment', 'message', 'user')),
    status      text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'actioned', 'dismissed')),
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    handled_at  timestamptz,
    handled_by  bigint,      -- no foreign key: a handled case outlives its moderator
    outcome     text
);
CREATE UNIQUE INDEX report_cases_open_target_key ON report_cases (target) WHERE status = 'open';
CREATE INDEX report_cases_queue_idx ON report_cases (status, updated_at DESC, id DESC);

-- One report per reporter per case: reporting again changes nothing.
CREATE TABLE reports (
    case_id     bigint NOT NULL REFERENCES report_cases (id) ON DELETE CASCADE,
    reporter_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    reason      text NOT NULL,
    created_at  timestamptz NOT NULL,
    PRIMARY KEY (case_id, reporter_id)
);
CREATE INDEX reports_reporter_idx ON reports (reporter_id);

-- Every moderation action: who, what, when, why. Append-only: the trigger refuses UPDATE and
-- DELETE for everyone, the application included. No foreign keys, so deleting an account
-- (which cascades) never needs to touch it: it holds ids and the moderator's reason only.
CREATE TABLE moderation_audit (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    actor_id   bigint NOT NULL,
    action     text NOT NULL,
    target     text NOT NULL,
    reason     text NOT NULL,
    detail     text NOT NULL DEFAULT '',
    case_id    bigint,
    created_at timestamptz NOT NULL
);
CREATE INDEX moderation_audit_recent_idx ON moderation_audit (created_at DESC, id DESC);

CREATE FUNCTION moderation_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the moderation audit log is append-only'
        USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER moderation_audit_no_change BEFORE UPDATE OR DELETE ON moderation_audit
    FOR EACH ROW EXECUTE FUNCTION moderation_audit_append_only();

-- migration: 0009 two-factor sign-in and export
-- Two-factor sign-in (domain/accounts/two_factor.py). A row with enabled_at NULL is a setup
-- waiting for its first code. last_step is the latest TOTP time step accepted: codes of it
-- and of every earlier step are refused, so a code works once.
CREATE TABLE two_factor (
    user_id    bigint PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    secret     text NOT NULL,
    created_at timestamptz NOT NULL,
    enabled_at timestamptz,
    last_step  bigint
);
-- sha256 of each recovery code (60 random bits: see two_factor.py); the code is never kept.
CREATE TABLE two_factor_recovery_codes (
    user_id   bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash bytea NOT NULL,
    used_at   timestamptz,
    PRIMARY KEY (user_id, code_hash)
);

-- Exports (domain/exports/): one row per archive asked for. 'pending' rows are built by the
-- export worker, also after a restart; a 'building' row whose claim is older than the lease
-- is taken again (the process building it stopped).
CREATE TABLE exports (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id      bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    state        text NOT NULL
                 CHECK (state IN ('pending', 'building', 'ready', 'failed', 'expired')),
    requested_at timestamptz NOT NULL,
    claimed_at   timestamptz,
    ready_at     timestamptz,
    expires_at   timestamptz,
    size         bigint,
    attempts     integer NOT NULL DEFAULT 0
);
CREATE INDEX exports_todo_idx ON exports (requested_at) WHERE state IN ('pending', 'building');
CREATE INDEX exports_user_idx ON exports (user_id, requested_at DESC);
CREATE INDEX exports_expiry_idx ON exports (expires_at) WHERE state = 'ready';

-- migration: 0010 reactions
-- Reactions on blogs (MySocial's: like, love, haha, wow, sad, angry), one per user per blog.
-- A like is the reaction 'like': the likes table becomes the reactions table and every
-- existing like keeps its row, now of kind 'like'. likes_count stays the count of 'like';
-- each other kind has its own column, all kept by triggers in the writing transaction.
ALTER TABLE blog_likes RENAME TO blog_reactions;
ALTER TABLE blog_reactions RENAME CONSTRAINT blog_likes_pkey TO blog_reactions_pkey;
ALTER INDEX blog_likes_user_idx RENAME TO blog_reactions_user_idx;
ALTER TABLE blog_reactions ADD COLUMN kind text NOT NULL DEFAULT 'like'
    CHECK (kind IN ('like', 'love', 'haha', 'wow', 'sad', 'angry'));
-- Who reacted, newest first.
CREATE INDEX blog_reactions_blog_idx ON blog_reactions (blog_id, created_at DESC, user_id DESC);
DROP TRIGGER blog_likes_count_insert ON blog_reactions;
DROP TRIGGER blog_likes_count_delete ON blog_reactions;
DROP FUNCTION blog_likes_added();
DROP FUNCTION blog_likes_removed();

ALTER TABLE blogs
    ADD COLUMN love_count  integer NOT NULL DEFAULT 0 CHECK (love_count >= 0),
    ADD COLUMN haha_count  integer NOT NULL DEFAULT 0 CHECK (haha_count >= 0),
    ADD COLUMN wow_count   integer NOT NULL DEFAULT 0 CHECK (wow_count >= 0),
    ADD COLUMN sad_count   integer NOT NULL DEFAULT 0 CHECK (sad_count >= 0),
    ADD COLUMN angry_count integer NOT NULL DEFAULT 0 CHECK (angry_count >= 0);

-- The counts move by what a statement changed: +1 for each row in new_rows, -1 for each in
-- old_rows (a changed reaction is in both, with its old and its new kind). One grouped
-- update per statement, whatever writes (a route, the seeder's COPY, a cascade). The
-- transition tables are visible to EXECUTE, so one function serves the three triggers.
CREATE FUNCTION blog_reactions_counted() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    changes text := CASE TG_OP
        WHEN 'INSERT' THEN 'SELECT blog_id, kind, 1 AS n FROM new_rows'
        WHEN 'DELETE' THEN 'SELECT blog_id, kind, -1 AS n FROM old_rows'
        ELSE 'SELECT blog_id, kind, 1 AS n FROM new_rows '
             'UNION ALL SELECT blog_id, kind, -1 FROM old_rows' END;
BEGIN
    EXECUTE format($q$
        UPDATE blogs b SET likes_count = b.likes_count + d.n_like,
                           love_count = b.love_count + d.n_love,
                           haha_count = b.haha_count + d.n_haha,
                           wow_count = b.wow_count + d.n_wow,
                           sad_count = b.sad_count + d.n_sad,
                           angry_count = b.angry_count + d.n_angry
        FROM (SELECT blog_id,
                     coalesce(sum(n) FILTER (WHERE kind = 'like'), 0) AS n_like,
                     coalesce(sum(n) FILTER (WHERE kind = 'love'), 0) AS n_love,
                     coalesce(sum(n) FILTER (WHERE kind = 'haha'), 0) AS n_haha,
                     coalesce(sum(n) FILTER (WHERE kind = 'wow'), 0) AS n_wow,
                     coalesce(sum(n) FILTER (WHERE kind = 'sad'), 0) AS n_sad,
                     coalesce(sum(n) FILTER (WHERE kind = 'angry'), 0) AS n_angry
              FROM (%s) c GROUP BY blog_id) d
        WHERE b.id = d.blog_id$q$, changes);
    RETURN NULL;
END $$;

CREATE TRIGGER blog_reactions_count_insert AFTER INSERT ON blog_reactions
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION blog_reactions_counted();
CREATE TRIGGER blog_reactions_count_delete AFTER DELETE ON blog_reactions
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION blog_reactions_counted();
CREATE TRIGGER blog_reactions_count_update AFTER UPDATE ON blog_reactions
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION blog_reactions_counted();

-- Tags with counts: how many public published blogs carry each tag (what anyone may see;
-- a tag of a friends-only blog is not revealed). Kept by triggers on blogs in the writing
-- transaction, so the list is one index read instead of unnesting every blog's tags.
-- (No CHECK (n >= 0): PostgreSQL checks the row an upsert proposes to insert, and a delta
-- of -1 for an existing tag is proposed as a row of -1 before it becomes an update.)
CREATE TABLE tag_counts (
    tag text PRIMARY KEY,
    n   integer NOT NULL
);
CREATE INDEX tag_counts_popular_idx ON tag_counts (n DESC, tag);

-- Adds `delta` (+1/-1) for every tag of every counted row of a change; in tag order, so
-- concurrent writers lock the counter rows in one order and never deadlock on them.
CREATE FUNCTION tag_counts_add(p_tags text[], p_delta integer[]) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO tag_counts AS t (tag, n)
    SELECT tag, sum(delta) FROM unnest(p_tags, p_delta) AS c(tag, delta)
    GROUP BY tag HAVING sum(delta) <> 0 ORDER BY tag
    ON CONFLICT (tag) DO UPDATE SET n = t.n + EXCLUDED.n;
    -- A tag no blog carries any more is gone, not kept at 0: a deleted account's tags
    -- leave no trace.
    DELETE FROM tag_counts WHERE tag = ANY(p_tags) AND n <= 0;
$$;

CREATE FUNCTION blogs_tags_counted() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    changes text := CASE TG_OP
        WHEN 'INSERT' THEN 'SELECT tags, 1 AS d, status, audience FROM new_rows'
        ELSE 'SELECT tags, -1 AS d, status, audience FROM old_rows' END;
    tags text[];
    deltas integer[];
BEGIN
    EXECUTE format($q$SELECT coalesce(array_agg(tag), '{}'), coalesce(array_agg(d), '{}')
                      FROM (%s) c CROSS JOIN LATERAL unnest(c.tags) AS tag
                      WHERE c.status = 'published' AND c.audience = 'public'$q$, changes)
        INTO tags, deltas;
    IF cardinality(tags) > 0 THEN
        PERFORM tag_counts_add(tags, deltas);
    END IF;
    RETURN NULL;
END $$;

-- An edit, a publication or a change of audience: the old row's tags out, the new row's in.
CREATE FUNCTION blogs_tags_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    was text[] := CASE WHEN OLD.status = 'published' AND OLD.audience = 'public'
                       THEN OLD.tags ELSE '{}' END;
    now_ text[] := CASE WHEN NEW.status = 'published' AND NEW.audience = 'public'
                        THEN NEW.tags ELSE '{}' END;
BEGIN
    IF cardinality(was) + cardinality(now_) > 0 THEN
        PERFORM tag_counts_add(now_ || was,
                               array_fill(1, ARRAY[cardinality(now_)])
                               || array_fill(-1, ARRAY[cardinality(was)]));
    END IF;
    RETURN NULL;
END $$;

CREATE FUNCTION blogs_tags_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM tag_counts;
    RETURN NULL;
END $$;

CREATE TRIGGER blogs_tags_insert AFTER INSERT ON blogs
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION blogs_tags_counted();
CREATE TRIGGER blogs_tags_delete AFTER DELETE ON blogs
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION blogs_tags_counted();
-- Row level with WHEN: a reaction or a comment (which update the counts on blogs) never
-- reaches the function.
CREATE TRIGGER blogs_tags_update AFTER UPDATE OF tags, status, audience ON blogs
    FOR EACH ROW WHEN (OLD.tags IS DISTINCT FROM NEW.tags OR OLD.status IS DISTINCT FROM NEW.status
                       OR OLD.audience IS DISTINCT FROM NEW.audience)
    EXECUTE FUNCTION blogs_tags_changed();
CREATE TRIGGER blogs_tags_truncate AFTER TRUNCATE ON blogs
    FOR EACH STATEMENT EXECUTE FUNCTION blogs_tags_truncated();

INSERT INTO tag_counts (tag, n)
SELECT tag, count(*) FROM blogs b CROSS JOIN LATERAL unnest(b.tags) AS tag
WHERE b.status = 'published' AND b.audience = 'public' GROUP BY tag;

-- migration: 0011 notification preferences, mutes, mail parts, missed messages
-- A user's choices per kind x channel, only where they differ from the defaults
-- (domain/notifications/preferences.py): a new kind or default needs no backfill.
CREATE TABLE notification_preferences (
    user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind    text NOT NULL,
    channel text NOT NULL CHECK (channel IN ('app', 'email')),
    enabled boolean NOT NULL,
    PRIMARY KEY (user_id, kind, channel)
);

-- A muted conversation (a MongoDB id) gives its member no badge, no mention and no mail.
CREATE TABLE conversation_mutes (
    user_id         bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    conversation_id text NOT NULL,
    muted_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, conversation_id)
);

-- A mention in a group chat: the conversation it links to (a MongoDB id).
ALTER TABLE notifications ADD COLUMN conversation_id text;

-- Every mail has an HTML part beside its text, and may carry headers (List-Unsubscribe).
ALTER TABLE mail_outbox ADD COLUMN html text;
ALTER TABLE mail_outbox ADD COLUMN headers jsonb NOT NULL DEFAULT '{}';

-- Missed chat messages (nirvana/missed_messages.py): per recipient and conversation, the
-- seqs waiting to be mailed and when; `mailed_through` is the last seq a mail covered. The
-- mail and the new watermark are written in one transaction, so no message is mailed twice.
CREATE TABLE missed_messages (
    user_id         bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    conversation_id text NOT NULL,
    pending         bigint[] NOT NULL DEFAULT '{}',
    due_at          timestamptz,
    mailed_through  bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, conversation_id)
);
CREATE INDEX missed_messages_due_idx ON missed_messages (due_at) WHERE due_at IS NOT NULL;

-- migration: 0012 media uploads
-- Every upload and whom it was issued to: a chat attachment naming a local path is accepted
-- only if its URL is here, and the sizes make each user's storage usage.
CREATE TABLE media_uploads (
    url        text PRIMARY KEY,
    owner_id   bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind       text NOT NULL CHECK (kind IN ('image', 'audio', 'video', 'file')),
    mime       text NOT NULL,
    size       bigint NOT NULL CHECK (size >= 0),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX media_uploads_owner_idx ON media_uploads (owner_id);
-- Bytes reserved per user, raised before a file is stored (within the quota, in one UPDATE)
-- and lowered again if storing it fails.
CREATE TABLE media_usage (
    user_id    bigint PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    used_bytes bigint NOT NULL DEFAULT 0 CHECK (used_bytes >= 0)
);

-- migration: 0013 uploads of deleted accounts
-- An account's ledger rows go with it (ON DELETE CASCADE); their URLs are kept here until the
-- files are removed by the erasure of the account's content (nirvana/account_deletion.py),
-- which a crash only postpones: the account stays pending until it is done.
CREATE TABLE media_orphans (
    url      text PRIMARY KEY,
    owner_id bigint NOT NULL
);
CREATE INDEX media_orphans_owner_idx ON media_orphans (owner_id);
CREATE FUNCTION media_uploads_orphaned() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO media_orphans (url, owner_id) SELECT url, owner_id FROM old_rows
        ON CONFLICT (url) DO NOTHING;
    RETURN NULL;
END $$;
CREATE TRIGGER media_uploads_orphaned AFTER DELETE ON media_uploads
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION media_uploads_orphaned();

-- migration: 0014 leases
-- A named lease that one running process holds and renews: 'instance' keeps a second
-- process off the same databases when REDIS_URL is not set. Times are the database's, so
-- the processes' clocks never have to agree. `epoch` grows each time the lease changes
-- hands (a fencing token); a release only ends it (expires_at = now()), so an epoch is
-- never handed out twice.
CREATE TABLE leases (
    name       text PRIMARY KEY,
    holder     text NOT NULL,
    epoch      bigint NOT NULL,
    expires_at timestamptz NOT NULL,
    detail     jsonb NOT NULL DEFAULT '{}'
);

-- migration: 0015 public blog indexes
-- What an anonymous reader may see, in the two orders its reads walk. Newest first: a deep
-- paginated_bulk page skips its OFFSET rows in the index alone (an index-only scan), where
-- blogs_published_idx had to read each skipped row from the table to test its audience and
-- hidden_at (1.4 s cold for page 1,000 at a million blogs). By id with the slug and time
-- it names: a sitemap part is one index-only range scan. Built at start, before serving;
-- its cost at 100,000 and 1,000,000 blogs is in docs/performance.md.
CREATE INDEX blogs_public_idx ON blogs (published_at DESC, id DESC)
    WHERE status = 'published' AND audience = 'public' AND hidden_at IS NULL;
CREATE INDEX blogs_public_pages_idx ON blogs (id) INCLUDE (slug, updated_at)
    WHERE status = 'published' AND audience = 'public' AND hidden_at IS NULL;

-- migration: 0016 non-public blogs by author
-- A signed-in reader's search reads the kept public matches and, from here, the followers-
-- and friends-only blogs of the authors close to them (nirvana/domain/blogs/search.py):
-- by author, newest first, only the ~10% of blogs that are not public, so a reader close
-- to 40 authors reads a few hundred rows instead of their ~4,000 (docs/performance.md).
CREATE INDEX blogs_private_author_idx ON blogs (author_id, published_at DESC, id DESC)
    WHERE status = 'published' AND audience <> 'public' AND hidden_at IS NULL;

-- migration: 0017 paginated_bulk's total per reader
-- The counter counted every published blog, so a stranger watching paginated_bulk's total
-- saw it move when a friends-only blog was posted. It now counts what an anonymous reader
-- may read (published, public, not hidden): the same set as blogs_public_idx. A signed-in
-- reader's total adds the non-public blogs they may read and takes away the public ones
-- a block hides (storage/postgres/blog_lists.py, total_for). Reads and writes of blogs by
-- another running instance wait for this step (well under a second), so the recount below
-- misses none; the strongest lock is taken first because DROP TRIGGER needs it, and
-- upgrading a weaker one could deadlock with a transaction that read blogs meanwhile.
LOCK TABLE blogs IN ACCESS EXCLUSIVE MODE;
CREATE OR REPLACE FUNCTION blog_counters_add(delta bigint) RETURNS void LANGUAGE sql AS $$
    INSERT INTO blog_counters AS c (name, value) VALUES ('public', delta)
    ON CONFLICT (name) DO UPDATE SET value = c.value + EXCLUDED.value;
$$;

CREATE FUNCTION blog_is_public(status text, audience text, hidden_at timestamptz)
    RETURNS int LANGUAGE sql IMMUTABLE AS $$
    SELECT (status = 'published' AND audience = 'public' AND hidden_at IS NULL)::int;
$$;

CREATE OR REPLACE FUNCTION blogs_count_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM blog_counters_add((SELECT coalesce(sum(blog_is_public(status, audience, hidden_at)), 0)
                               FROM new_rows));
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION blogs_count_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM blog_counters_add(-(SELECT coalesce(sum(blog_is_public(status, audience, hidden_at)), 0)
                                FROM old_rows));
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION blogs_count_status_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM blog_counters_add(blog_is_public(NEW.status, NEW.audience, NEW.hidden_at)
                              - blog_is_public(OLD.status, OLD.audience, OLD.hidden_at));
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION blogs_count_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM blog_counters WHERE name = 'public';
    RETURN NULL;
END $$;

-- Still row level with WHEN: a like (which updates likes_count) does not reach the function.
DROP TRIGGER blogs_count_status ON blogs;
CREATE TRIGGER blogs_count_visibility AFTER UPDATE OF status, audience, hidden_at ON blogs
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status
                       OR OLD.audience IS DISTINCT FROM NEW.audience
                       OR (OLD.hidden_at IS NULL) <> (NEW.hidden_at IS NULL))
    EXECUTE FUNCTION blogs_count_status_changed();

DELETE FROM blog_counters WHERE name = 'published';
INSERT INTO blog_counters (name, value)
    SELECT 'public', count(*) FROM blogs
    WHERE status = 'published' AND audience = 'public' AND hidden_at IS NULL
    ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value;

-- migration: 0018 a session row for every open refresh family
-- A refresh locks its session's row before it rotates (so a revocation cannot race it), and
-- stores its next token only through that row: a sign-in from before 0006 has none, and
-- would otherwise be signed out at its next refresh.
INSERT INTO sessions (id, user_id, created_at, last_used_at)
    SELECT family_id, min(user_id), min(created_at), max(created_at) FROM refresh_tokens
    WHERE used_at IS NULL AND revoked_at IS NULL AND expires_at > now()
      AND family_id NOT IN (SELECT id FROM sessions)
    GROUP BY family_id;

-- migration: 0019 sign-in challenges used once
-- The nonce of each two-factor sign-in challenge that started a session: a challenge is
-- stateless (signed), and this is what refuses it the second time, on every instance. Rows
-- are kept until the challenge expires (housekeeping deletes them after).
CREATE TABLE used_sign_in_challenges (
    nonce      text PRIMARY KEY,
    user_id    bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    expires_at timestamptz NOT NULL
);
CREATE INDEX used_sign_in_challenges_expires_at ON used_sign_in_challenges (expires_at);
CREATE INDEX used_sign_in_challenges_user_id ON used_sign_in_challenges (user_id);

-- migration: 0020 deployment identity
-- One row: the random id the first start of this deployment made. The chat store and Redis
-- keep a copy, and a start whose chat store or Redis holds another id refuses: they belong
-- to another deployment, whose user ids are not these (nirvana/deployment_identity.py).
CREATE TABLE deployment (
    only_row   boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    id         text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- migration: 0021 uploads by owner, newest first and by name
-- The list of a user's uploads walks the first index in its order
-- (GET /api/v1/media: newest first, by created_at then url), and a deletion finds an upload
-- by name, the URL's last segment (DELETE /api/v1/media/{name}), in the second. The first
-- leads with owner_id, so it serves every lookup by owner, and the owner-only index goes:
-- dropped first, because DROP INDEX takes the strongest lock on media_uploads, and upgrading
-- CREATE INDEX's weaker one could deadlock with a transaction that read it meanwhile (0017).
DROP INDEX media_uploads_owner_idx;
CREATE INDEX media_uploads_owner_newest_idx
    ON media_uploads (owner_id, created_at DESC, url DESC);
CREATE INDEX media_uploads_owner_name_idx
    ON media_uploads (owner_id, (regexp_replace(url, '^.*/', '')));

-- migration: 0022 a deployment made as a copy
-- When `nirvana.backup restore --new-deployment` made this deployment's id (a copy of
-- another's backup): the refusal of a copy started on the original's chat store or Redis
-- says so, instead of suggesting that the store's id be forgotten, which would join the
-- copy to the original's users (nirvana/deployment_identity.py).
ALTER TABLE deployment ADD COLUMN copied_at timestamptz;

-- migration: 0023 the original names of uploads
-- The name a file had on its owner's device, cleaned (nirvana/domain/upload_names.py), so
-- their list of files says `notes.txt` and not only the random storage name. NULL for a
-- file uploaded before this step, or sent without a name. A nullable column with no default
-- and no CHECK: adding it neither rewrites nor scans the table, so media_uploads is locked
-- for an instant. Its bound (200 characters) is upload_names.py's, the one writer's: a CHECK
-- here would scan every row under that lock (even NOT VALID checks each new row with
-- char_length, which counts bytes, not characters, on a SQL_ASCII database).
ALTER TABLE media_uploads ADD COLUMN original_name text;

-- migration: 0024 idempotency keys of created blogs
-- The Idempotency-Key a create was sent with (nirvana/domain/idempotency.py), stored by
-- the insert itself, with a fingerprint of the request: a retry after a commit whose
-- answer was lost finds the row instead of storing a second one, whatever died in between.
-- Nullable columns with no default: adding them rewrites nothing. The index is partial,
-- over keyed rows only, so it starts empty, but building it still reads every row of the
-- table under the ALTER's lock, which blocks all reads and writes of blogs until the step
-- commits (its time at a million blogs is in docs/performance.md). One table per step, so
-- no step holds two tables' locks at once (see 0017's deadlock).
ALTER TABLE blogs ADD COLUMN idempotency_key text, ADD COLUMN idempotency_fingerprint text;
CREATE UNIQUE INDEX blogs_author_idempotency_key_idx ON blogs (author_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;

-- migration: 0025 idempotency keys of created comments
-- As 0024, for blog_comments: the build reads every comment under this step's lock.
ALTER TABLE blog_comments
    ADD COLUMN idempotency_key text, ADD COLUMN idempotency_fingerprint text;
CREATE UNIQUE INDEX blog_comments_author_idempotency_key_idx
    ON blog_comments (author_id, idempotency_key) WHERE idempotency_key IS NOT NULL;

-- migration: 0026 idempotency keys of uploads
-- As 0024, for media_uploads: the key an upload was sent with, stored by the ledger's insert
-- with the fingerprint of the request (the file's bytes, its name, the kind asked for). The
-- build reads every upload's row under this step's lock, which holds back every upload, the
-- media list and usage, /media/<name> and each chat send with attachments until the step
-- commits (its time at 3,000,000 uploads is in docs/performance.md).
ALTER TABLE media_uploads
    ADD COLUMN idempotency_key text, ADD COLUMN idempotency_fingerprint text;
CREATE UNIQUE INDEX media_uploads_owner_idempotency_key_idx
    ON media_uploads (owner_id, idempotency_key) WHERE idempotency_key IS NOT NULL;

-- migration: 0027 uploads under way
-- An upload's reservation as a row, made in the statement that raises media_usage and
-- naming the file before it is written (nirvana/storage/postgres/uploads.py): the ledger's
-- insert of the upload deletes it in the same transaction, and a failed upload deletes it
-- and gives its bytes back in one. One left behind by a crash (kill -9 between the
-- reservation and the insert) is swept once no upload request can still be running: its
-- file is removed and its bytes given back (PENDING_BOUND in nirvana/domain/upload_sweep.py).
-- No foreign key to users: the row must outlive its account, or the file's name would go
-- with it.
CREATE TABLE media_pending (
    url         text PRIMARY KEY,
    user_id     bigint NOT NULL,
    size        bigint NOT NULL CHECK (size >= 0),
    reserved_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX media_pending_reserved_idx ON media_pending (reserved_at);
-- The counter's leaks so far (a crash between the reservation and the insert kept the bytes
-- counted for good; a lost answer to the insert gave them back while the row stayed): each
-- user's usage becomes the sum of their rows. An upload under way on an instance of an
-- earlier release while this step runs is left uncounted once it lands.
UPDATE media_usage AS u
   SET used_bytes = coalesce((SELECT sum(m.size) FROM media_uploads AS m
                              WHERE m.owner_id = u.user_id), 0);

-- migration: 0028 the next slug of a title from a counter
-- 0007's claim tried base, base-2, base-3, ... one by one, so a create's cost grew with every
-- blog that ever held a variant of its title. Now each base keeps the highest number given
-- (blog_slug_counters) and a claim starts after it; the loop stays only to step over a number
-- somebody holds by its literal title ("Hello 5" holds hello-5), so a held slug is still never
-- handed out. Bumping the counter locks its row to the end of the claim's transaction:
-- concurrent claims of one title queue there, as they already queued on the same candidate's
-- primary key under 0007; claims of other titles do not touch it. A transaction claiming
-- several slugs (a seed batch) can deadlock with a single claim (it holds a number the claim
-- waits on, then waits on the counter the claim holds): the app retries a create or an edit
-- once (storage/postgres/blogs.py).
-- The step fills nothing: a title without a row tries its base, then walks the taken
-- variants from 2 once, as 0007 did, and stores where it stopped. A fill from blog_slugs
-- could not tell a variant from a literal title (post-2024 is the title "2024", not the
-- 2024th "post").
CREATE TABLE blog_slug_counters (
    base text PRIMARY KEY,
    last integer NOT NULL
);

CREATE OR REPLACE FUNCTION blog_take_slug(p_blog bigint, p_base text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    candidate text;
    n integer;
    holder bigint;
BEGIN
    -- A blog given its earlier title again keeps the slug it held for it: the base, or a
    -- number from 2 the counter has reached, written as the counter writes it (a higher
    -- number, hello-1 or hello-05 was held by its own literal title: "Hello 2024", "Hello 1",
    -- "Hello 05").
    -- CASE, not AND: SQL does not promise to test the pattern before the cast.
    SELECT slug INTO candidate FROM blog_slugs
     WHERE blog_id = p_blog
       AND (slug = p_base OR (starts_with(slug, p_base || '-') AND CASE
                WHEN substr(slug, length(p_base) + 2) ~ '^[1-9][0-9]{0,8}$'
                THEN substr(slug, length(p_base) + 2)::integer BETWEEN 2 AND coalesce(
                    (SELECT last FROM blog_slug_counters WHERE base = p_base), 1)
                ELSE false END))
     ORDER BY length(slug), slug LIMIT 1;
    IF candidate IS NOT NULL THEN
        RETURN candidate;
    END IF;
    -- A title's first blog takes the plain base and writes no counter, so the table holds a
    -- row only for a title given twice; a title without one walks from 2 once.
    IF NOT EXISTS (SELECT 1 FROM blog_slug_counters WHERE base = p_base) THEN
        INSERT INTO blog_slugs (slug, blog_id) VALUES (p_base, p_blog)
            ON CONFLICT (slug) DO NOTHING;
        IF (SELECT blog_id FROM blog_slugs WHERE slug = p_base) = p_blog THEN
            RETURN p_base;
        END IF;
    END IF;
    INSERT INTO blog_slug_counters AS c (base, last) VALUES (p_base, 2)
        ON CONFLICT (base) DO UPDATE SET last = c.last + 1
        RETURNING c.last INTO n;
    LOOP
        candidate := p_base || '-' || n;
        INSERT INTO blog_slugs (slug, blog_id) VALUES (candidate, p_blog)
            ON CONFLICT (slug) DO NOTHING;
        SELECT blog_id INTO holder FROM blog_slugs WHERE slug = candidate;
        IF holder = p_blog THEN
            UPDATE blog_slug_counters SET last = n WHERE base = p_base AND last < n;
            RETURN candidate;
        END IF;
        n := n + 1;
    END LOOP;
END $$;

-- migration: 0029 the instance that made a reservation
-- A reservation names the process that made it (the 'instance' lease's holder without
-- REDIS_URL, the instance id on Redis with it), so its bytes are given back as soon as that
-- process is known gone instead of after PENDING_BOUND: at the start of a single instance,
-- whose lease says every other process has stopped; on Redis, once the instance's live key
-- has been missing a while (nirvana/domain/upload_sweep.py). Giving back keeps the row, of
-- no bytes, naming the file until the sweep removes it after the bound as before. Rows made
-- before this step, or by an earlier release, name none: on Redis they wait for the bound; a
-- single instance gives them back at its start like any other process's.
ALTER TABLE media_pending ADD COLUMN reserved_by text;

-- migration: 0030 notifications by blog
-- A blog's notifications by its id: who holds one unread when the blog's readers change
-- (hidden, shown, audience changed: domain/notifications/service.py), and the cascade of a
-- blog's deletion, which scanned the table without it.
CREATE INDEX notifications_blog_idx ON notifications (blog_id) WHERE blog_id IS NOT NULL;
