"""Diffs in: git access, diff sources, headers, parsing into hunks, path filters, scopes."""
