"""The wire formats every reader of a response shares: one parser per idea.

Retry-After (`retry_after`), HTTP-dates (`http_date`), points in time as headers give them and
RFC 3339 timestamps (`instant`), the rate-limit reset formats a profile may name
(`ratelimit_reset`) and server-sent events (`sse`). The checks judge with them, the scenarios wait
by them and the reference gateway writes and relays with them, so a value one accepts the others
accept too. Pure: standard library only, no import of anything else in `conformance`, so every
layer above may import it.
"""
