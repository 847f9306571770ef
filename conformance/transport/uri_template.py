"""One URL-template expander for every configured URL the suite fills in (billing oracle views,
task routes, the realtime URL): RFC 6570 simple string expansion.

`{name}` substitutes the value with every character outside the unreserved set percent-encoded
(RFC 6570 §3.2.2), so a request id in trace-context form (`4bf9…/7;o=1`) stays one path segment;
`{+name}` is reserved expansion (§3.2.3), for a value that is itself a path. An expression naming
no value given here is left as written.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import quote

_EXPRESSION = re.compile(r"\{(\+?)([A-Za-z0-9_.%]+)\}")
# RFC 3986 §2.2 reserved characters, which `{+name}` keeps as they are.
_RESERVED = ":/?#[]@!$&'()*+,;="


def expand(template: str, values: Mapping[str, str]) -> str:
    """`template` with each `{name}` / `{+name}` whose name is in `values` replaced, encoded as RFC 6570 says."""

    def substitute(match: re.Match[str]) -> str:
        operator, name = match.group(1), match.group(2)
        if name not in values:
            return match.group(0)
        return quote(str(values[name]), safe=_RESERVED + "%" if operator == "+" else "")

    return _EXPRESSION.sub(substitute, template)
