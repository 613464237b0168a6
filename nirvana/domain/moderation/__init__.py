"""Moderation: roles, reports gathered into cases, moderators' actions, suspensions, and the
audit log of every action. See docs/moderation.md."""
