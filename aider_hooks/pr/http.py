"""Small HTTP helpers the merge-request hosts' REST clients share (GitHub's, GitLab's)."""
from __future__ import annotations

import urllib.parse
from collections.abc import Mapping
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


class ForeignOrigin(ValueError):
    """An absolute URL (a pagination link, say) that is not on the API's own origin: the
    token must never go there. ``host`` is the origin it names."""

    def __init__(self, host: str) -> None:
        super().__init__(host)
        self.host = host


def resolve_api_url(api_root: str, path_or_url: str,
                    params: Mapping[str, str | int] | None = None) -> str:
    """``path_or_url`` under ``api_root`` (an absolute URL only on the same origin, else
    ``ForeignOrigin``), with ``params`` added to its query."""
    if path_or_url.startswith(("http://", "https://")):
        parsed, root = urllib.parse.urlsplit(path_or_url), urllib.parse.urlsplit(api_root)
        if (parsed.scheme, parsed.netloc) != (root.scheme, root.netloc):
            raise ForeignOrigin(parsed.netloc)
        url = path_or_url
    else:
        url = api_root + "/" + path_or_url.lstrip("/")
    if params:
        separator = "&" if "?" in url else "?"
        url += separator + urllib.parse.urlencode({k: str(v) for k, v in params.items()})
    return url
