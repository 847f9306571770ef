"""Credentials never ride in a URL the suite is given.

A URL is printed everywhere — the verdict line, the report, every evidence item, every curl line,
`reproduce` — so a password in it (`http://admin:secret@host`) or a key in its query (`?key=sk-…`)
would leak in dozens of places. Worse, httpx turns userinfo into `Authorization: Basic …`, which
replaces the role's Bearer key, and the gateway is blamed for rejecting it. So such a URL is refused
up front with one line that shows the URL without the secret and says where keys belong.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlsplit

# Query parameter names that carry a credential (`?key=`, `?api_key=`, `?access_token=`, `?sig=`).
SECRET_PARAM = re.compile(r"(^key$|_key$|api_?key|token|secret|password|passwd|auth|sig(nature)?$|credential)", re.I)
WHERE_KEYS_GO = "put keys in the target config's roles (api_key), never in a URL"


def safe_url(url: str) -> str:
    """The URL without userinfo, query or fragment: what an error message may show."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        port = ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


def credential_problem(url: str, field: str, *, any_query: bool = False) -> str | None:
    """One line when `url` carries a credential (userinfo, or a secret-named query parameter — any
    query at all when `any_query`, as for --target whose query the suite would silently drop)."""
    parts = urlsplit(url)
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        return f"{field} {safe_url(url)}: the URL carries a user name or password (user:password@host); {WHERE_KEYS_GO}"
    if parts.query or parts.fragment:
        names = [name for name, _ in parse_qsl(parts.query, keep_blank_values=True)]
        secret = [n for n in names if SECRET_PARAM.search(n)]
        if secret:
            return (f"{field} {safe_url(url)}: the URL carries a credential in its query ({', '.join(secret)}=…); "
                    f"{WHERE_KEYS_GO}")
        if any_query:
            return (f"{field} {safe_url(url)}: give the gateway's base URL without a query string or fragment "
                    f"(the suite appends /v1/… paths and would drop it); {WHERE_KEYS_GO}")
    return None
