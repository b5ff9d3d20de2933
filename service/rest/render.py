"""How a cached answer goes out: its body, ETag, freshness headers and 304, built once
for the routes and for the edge's cache-hit fast path, so the two cannot drift apart."""

import json
from dataclasses import dataclass

from fastapi import Response

from service.errors import CacheInfo
from service.freshness import entity_tag, not_modified
from service.models import InstanceSummary
from service.snapshot import Snapshot

Headers = list[tuple[bytes, bytes]]
JSON_TYPE = (b"content-type", b"application/json")


@dataclass(frozen=True, slots=True)
class Rendered:
    status: int
    headers: Headers
    body: bytes

    def response(self) -> Response:
        response = Response(self.body, self.status)
        response.raw_headers = self.headers
        return response


def json_object(**members: bytes | list[bytes] | str | None) -> bytes:
    """AWS-shaped JSON from cached JSON parts, members in order, None members left out."""
    parts = []
    for name, value in members.items():
        if value is None:
            continue
        if isinstance(value, list):
            encoded = b"[" + b",".join(value) + b"]"
        elif isinstance(value, str):
            encoded = json.dumps(value).encode()
        else:
            encoded = value
        parts.append(b'"' + name.encode() + b'":' + encoded)
    return b"{" + b",".join(parts) + b"}"


def instance_body(snapshot: Snapshot[InstanceSummary]) -> bytes:
    return b'{"instanceSummary":' + snapshot.body + b"}"


def render_json(
    body: bytes, cache: CacheInfo, if_none_match: str | None, etag: str | None = None
) -> Rendered:
    """``body`` with the cache's headers and an ETag (a snapshot's own when the body is a
    fixed wrapping of it, which it then identifies as well); 304 with the same headers
    and no body when ``If-None-Match`` names it."""
    etag = etag or entity_tag(body)
    headers = [
        (b"x-cache", b"STALE" if cache.stale else b"HIT" if cache.hit else b"MISS"),
        (b"cache-control", b"max-age=%d%s" % (cache.max_age, cache.directives)),
        (b"etag", etag.encode()),
    ]
    if cache.stale:  # given past its lifetime: how old, and which failure it stands in for
        headers += [(b"age", b"%d" % cache.age), (b"x-stale-reason", cache.stale.encode())]
    if not_modified(if_none_match, etag):
        return Rendered(304, headers, b"")
    headers += [(b"content-length", b"%d" % len(body)), JSON_TYPE]
    return Rendered(200, headers, body)
