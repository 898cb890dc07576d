"""TLS for DAP's own listener: checking what a server is given before it binds.

Jupyter Server (under ``dap serve``) and JupyterHub do the TLS themselves; DAP only makes sure
that what they are given is usable and that nothing falls back to plain HTTP by accident. A
wrong path, a missing half of the pair, a key that does not belong to its certificate or an
encrypted key (which would make the server wait for a passphrase on a terminal nobody sees)
stops the start with one line naming the file, never its contents.

Plain HTTP is refused on an address other than loopback unless the operator says that something
else encrypts the link (``--allow-plain-http``): API keys and hub tokens travel in every
request's ``Authorization`` header, and on a network anyone on the path would read them.
"""

from __future__ import annotations

import ipaddress
import ssl

from .errors import ConfigError

CERT_ENV = "DAP_TLS_CERTFILE"
KEY_ENV = "DAP_TLS_KEYFILE"


def check_pair(certfile: str, keyfile: str) -> bool:
    """True when TLS is on (both files given and usable together), False when neither is given;
    :class:`ConfigError` for anything in between."""
    if not certfile and not keyfile:
        return False
    if not (certfile and keyfile):
        given, missing = ("certificate", "key") if certfile else ("key", "certificate")
        raise ConfigError(
            f"TLS needs a certificate and its key: a {given} file is given but no {missing} "
            f"file (--certfile/--keyfile, or {CERT_ENV}/{KEY_ENV})"
        )
    for what, path in (("certificate", certfile), ("key", keyfile)):
        try:
            with open(path, "rb"):
                pass
        except OSError as e:
            raise ConfigError(f"the TLS {what} file {path} cannot be read: {e.strerror}") from None
    encrypted = False

    def no_passphrase() -> bytes:
        nonlocal encrypted
        encrypted = True
        return b""

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(certfile, keyfile, password=no_passphrase)
    except ssl.SSLError as e:
        if encrypted:
            why = "the key is encrypted (give the server an unencrypted key only it may read)"
        elif "KEY_VALUES_MISMATCH" in str(e.reason or ""):
            why = "the key does not belong to the certificate"
        else:
            why = f"not a PEM certificate and key ({e.reason or 'no PEM data found'})"
        raise ConfigError(f"TLS with {certfile} and {keyfile} cannot start: {why}") from None
    return True


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address to bind) is reachable from this machine only."""
    if host.strip("[]") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:  # a host name, or "" / "*" (every interface)
        return False


SERVE_REMEDY = "give --certfile and --keyfile, or --allow-plain-http"


def check_listener(ip: str, tls: bool, allow_plain_http: bool, remedy: str = SERVE_REMEDY) -> None:
    """:class:`ConfigError` unless a server binding ``ip`` keeps its callers' credentials off
    the network in clear; ``remedy`` says how to give a certificate or allow plain HTTP."""
    if tls or allow_plain_http or is_loopback(ip):
        return
    raise ConfigError(
        f"refusing plain HTTP on {ip or 'every interface'}: credentials would cross the network "
        f"unencrypted. To serve anyway, {remedy} when something else encrypts the link (a "
        "TLS-terminating proxy, a service mesh)"
    )
