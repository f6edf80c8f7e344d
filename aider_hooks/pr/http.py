"""Small HTTP helpers the merge-request hosts' REST clients share (GitHub's, GitLab's)."""
from __future__ import annotations

import urllib.parse
from typing import Any


def next_page_url(link_header: str) -> str | None:
    """The ``rel="next"`` target of a ``Link`` header, if any."""
    for part in link_header.split(","):
        pieces = [p.strip() for p in part.split(";")]
        if len(pieces) < 2 or not (pieces[0].startswith("<") and pieces[0].endswith(">")):
            continue
        rels = {p.split("=", 1)[1].strip('"') for p in pieces[1:] if p.startswith("rel=")}
        if "next" in {r for rel in rels for r in rel.split()}:
            return pieces[0][1:-1]
    return None


def url_path(url: str) -> str:
    """The path of a URL without query or origin, for messages."""
    return urllib.parse.urlsplit(url).path or url


def lower_headers(headers: Any) -> dict[str, str]:
    if headers is None:
        return {}
    return {str(k).lower(): str(v) for k, v in headers.items()}


def header_number(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        return float(text.strip())
    except ValueError:
        return None
