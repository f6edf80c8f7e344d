"""An example aider-review plugin: see docs/plugins.md in aider-hooks."""
