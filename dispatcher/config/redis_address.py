"""Where the Redis of sms-dispatch is: one server, or the master a set of Sentinels name. Pure.

``redis_url`` (``SMSD_REDIS_URL``) is a redis-py URL (``redis://``, ``rediss://``, ``unix://``)
or kombu's Sentinel form, one ``sentinel://`` part a Sentinel, the master's password (and user)
in the first part and its database at the end::

    sentinel://[[USER]:PASSWORD@]h1:26379;sentinel://h2:26380;sentinel://h3:26381/0

``sentinel_master`` (``SMSD_SENTINEL_MASTER``) names the master the Sentinels watch, and
``sentinel_password`` (``SMSD_SENTINEL_PASSWORD``) is the Sentinels' own password, when they
ask for one. The broker, the store, the API and ``send_sms`` all reach the same master.
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass

__all__ = ["SENTINEL_SCHEME", "RedisAddress", "SentinelHosts", "parse_sentinels"]

SENTINEL_SCHEME = "sentinel://"
_DEFAULT_SENTINEL_PORT = 26379


@dataclass(frozen=True, slots=True)
class SentinelHosts:
    """The parts of a ``sentinel://`` URL."""

    hosts: tuple[tuple[str, int], ...]
    username: str | None
    password: str | None
    db: int


def parse_sentinels(url: str) -> SentinelHosts:
    """The Sentinels, the master's credentials and database of a ``sentinel://`` URL;
    :class:`ValueError` saying what is wrong."""
    hosts: list[tuple[str, int]] = []
    username = password = None
    dbs: set[int] = set()
    for part in url.split(";"):
        if not part.startswith(SENTINEL_SCHEME):
            raise ValueError(f"each part of a Sentinel URL must start with sentinel:// ({part!r})")
        split = urllib.parse.urlsplit(part)
        try:
            host, port = split.hostname, split.port or _DEFAULT_SENTINEL_PORT
        except ValueError as exc:  # a port that is not a number
            raise ValueError(f"has a bad port in {part.split('@')[-1]!r}") from exc
        if not host:
            raise ValueError(f"names no Sentinel host in {part.split('@')[-1]!r}")
        hosts.append((host, port))
        if split.password is not None or split.username:
            if hosts[1:]:
                raise ValueError("gives the master's password in its first part only")
            username = urllib.parse.unquote(split.username) if split.username else None
            password = urllib.parse.unquote(split.password) if split.password else None
        path = split.path.strip("/")
        if path:
            if not path.isdigit():
                raise ValueError(f"names database {path!r}: it must be a number")
            dbs.add(int(path))
    if len(dbs) > 1:
        raise ValueError(f"names more than one database ({sorted(dbs)})")
    return SentinelHosts(tuple(hosts), username, password, dbs.pop() if dbs else 0)


@dataclass(frozen=True, slots=True)
class RedisAddress:
    """A Redis server (``url``), or with a ``sentinel://`` URL the master ``master`` that its
    Sentinels name (``sentinel_password``: theirs, when they ask for one)."""

    url: str
    master: str | None = None
    sentinel_password: str | None = None

    @property
    def is_sentinel(self) -> bool:
        return self.url.startswith(SENTINEL_SCHEME)

    def sentinels(self) -> SentinelHosts:
        """The parts of its ``sentinel://`` URL (:class:`ValueError` for another URL)."""
        return parse_sentinels(self.url)

    def broker_url(self) -> str:
        """Its Sentinel URL for kombu, every part with the database, so kombu (which reads the
        first part) and redis-py agree on it."""
        found = self.sentinels()
        auth = ""
        if found.password is not None or found.username:
            user = urllib.parse.quote(found.username or "", safe="")
            auth = f"{user}:{urllib.parse.quote(found.password or '', safe='')}@"
        parts = [
            f"{SENTINEL_SCHEME}{auth if n == 0 else ''}{_host(host)}:{port}/{found.db}"
            for n, (host, port) in enumerate(found.hosts)
        ]
        return ";".join(parts)

    def password(self) -> str | None:
        """The password of the master (or the server)."""
        if self.is_sentinel:
            return self.sentinels().password
        return urllib.parse.urlsplit(self.url).password


def _host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
