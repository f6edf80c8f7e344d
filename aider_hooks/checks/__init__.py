"""Checks that need no model, each registered by name like a plugin check."""
