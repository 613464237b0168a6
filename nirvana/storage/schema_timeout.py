"""How long a start's schema work may run, in either store."""

# A start's index builds and drops (MongoDB) and its schema steps (PostgreSQL) run under
# this, not store_timeout: cut off at 5 s a build on a big collection or table failed the
# start and was thrown away, so every start failed the same way. A day is past any a start
# may run (an hour per million messages for the chat store's retired search terms).
SCHEMA_TIMEOUT = 24 * 3600.0
