"""Where status callbacks may go: public addresses only, unless the operator allows private ones.

A ``callback_url`` is given by whoever sends the message, and the workers POST to it from inside
the operator's network. Unchecked, it reaches what only that network should: Redis on loopback, a
cloud metadata service on 169.254.169.254, an admin page on 10.x. So, with
``callbacks.allow_private_networks`` off (the default):

- at the door, a URL whose host is ``localhost`` or an address literal that is not public is
  refused, naming ``callback_url`` (:func:`callback_host_problem`);
- at the moment of posting, the callback session resolves names through
  :class:`~dispatcher.sending.public_resolver.PublicOnlyResolver`, which drops every address that is
  not public, so a name that resolves (or is re-pointed) to a private address is never connected to;
  an address literal is checked again there too (aiohttp does not resolve literals).

Not public: loopback, private (RFC 1918, unique local), link-local, multicast, reserved,
unspecified and shared (100.64/10) ranges, and IPv4 addresses mapped into IPv6.
"""

from __future__ import annotations

import ipaddress

__all__ = [
    "callback_host_problem",
    "is_public_address",
    "refused_literal",
]

_LOCAL_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """``text`` as an IP address (brackets and a zone index allowed), or None when it is none."""
    try:
        return ipaddress.ip_address(text.strip("[]").split("%", 1)[0])
    except ValueError:
        return None


def is_public_address(text: str) -> bool:
    """Whether ``text`` is an IP address that is reachable on the public internet."""
    address = _address(text)
    if address is None:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


def refused_literal(url_host: str | None) -> bool:
    """Whether a URL's host is an address literal that is not public (checked before posting)."""
    return (
        url_host is not None and _address(url_host) is not None and not is_public_address(url_host)
    )


def callback_host_problem(host: str) -> str | None:
    """Why a callback to ``host`` is refused at the door (None: it may go, for now)."""
    name = host.lower().rstrip(".")
    if name in _LOCAL_NAMES or name.endswith(".localhost"):
        return "must not point at this machine (localhost)"
    if refused_literal(name):
        return "must not point at a loopback, private, link-local or reserved address"
    return None
