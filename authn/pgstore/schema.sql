-- pkb-go token sessions (authn/pgstore). Apply with pgstore.Migrate or run
-- this file yourself (psql -f schema.sql); the store never creates it
-- silently. It is idempotent.
--
-- One row per PKB session: the token (encrypted if the application sets a
-- keyring), a version bumped by every save (the compare-and-save fencing
-- token) and the lease of the replica refreshing it. session_id is a hash
-- (authn.SessionKey.ID); no client id, URL or token is stored in clear
-- unless encryption is off, in which case token holds the token JSON.
CREATE TABLE IF NOT EXISTS pkb_token_sessions (
    session_id    text        PRIMARY KEY,
    version       bigint      NOT NULL DEFAULT 0,
    token         bytea,
    lease_owner   text,
    lease_expires timestamptz,
    updated_at    timestamptz NOT NULL DEFAULT now()
);
