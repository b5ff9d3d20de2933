"""Which addresses a receiver may have: checked on the URL's own (at start-up and each
call) and on every address a name resolves to."""

import ipaddress

# Instance metadata of AWS (IPv4, IPv6, ECS tasks), GCP and Azure (169.254.169.254),
# Alibaba, Oracle: never a receiver, whatever the file says.
METADATA = frozenset(
    ipaddress.ip_address(address)
    for address in ("169.254.169.254", "fd00:ec2::254", "169.254.170.2", "169.254.170.23",
                    "fd00:ec2::23", "100.100.100.200", "192.0.0.192")
)  # fmt: skip


def refusal(address: str, private_allowed: bool) -> str | None:
    """Why ``address`` may not be called, or None."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return f"{address!r} is not an address"
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip in METADATA:
        return f"{ip} is a cloud metadata address"
    if ip.is_unspecified or ip.is_multicast or ip.is_reserved:
        return f"{ip} is not a receiver's address"
    # Not global: private, loopback, link-local, shared (100.64/10), documentation, …
    if not private_allowed and not ip.is_global:
        return f"{ip} is private, loopback or link-local (the host is not in privateHosts)"
    return None


def literal_refusal(host: str, private_allowed: bool) -> str | None:
    """For a URL whose host is an address: why it may not be called; None for a name."""
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None
    return refusal(host.strip("[]"), private_allowed)
