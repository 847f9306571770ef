"""`gateway-conformance init`: a commented target.yaml a gateway team fills in."""

from __future__ import annotations

from conformance.contract.profiles import load_profile

# What a target must offer for each scope it claims (the comment `init` writes beside it).
SCOPE_FACTS = {
    "core": "any gateway with keys (always checked)",
    "billing": "a billing oracle (section billing) for every 'not charged' requirement",
    "upstream": "the fault-injecting provider your gateway routes to (section provider)",
    "realtime": "the realtime WebSocket endpoint (section realtime)",
    "management": "the console / management routes (section management)",
    "tasks": "async tasks that hold credit (section tasks)",
}

ROLE_FACTS = {
    "valid": '{api_key: "${GW_VALID}", key_id: key_123}   # a working key and a cheap model it may call',
    "disabled": '{api_key: "${GW_DISABLED}"}              # a revoked key (SEC-2)',
    "restricted": '{api_key: "${GW_RESTRICTED}", forbidden_model: gpt-4o}',
    "ip_restricted": '{api_key: "${GW_IP_RESTRICTED}"}     # IP allow-list excludes this runner',
    "publishable": '{api_key: "${GW_PUBLISHABLE}", allowed_origin: "https://ok.example", disallowed_origin: "https://evil.example"}',
    "no_credit": '{api_key: "${GW_NO_CREDIT}"}             # wallet / org with no balance',
    "over_key_budget": '{api_key: "${GW_OVER_BUDGET}"}     # over its monthly limit',
    "over_plan_quota": '{api_key: "${GW_OVER_QUOTA}"}      # on an exhausted plan',
    "rate_limited": '{api_key: "${GW_RATE_LIMITED}", limit: 5}   # small requests-per-window limit',
    "daily_capped": '{api_key: "${GW_DAILY_CAPPED}", resets_at: "00:00Z"}   # past its daily cap; when it resets',
    "concurrency_limited": '{api_key: "${GW_CONCURRENCY}", limit: 2}   # concurrent realtime sessions',
    "fuzzing": '{api_key: "${GW_FUZZING}", key_id: key_456}   # optional: a working key FUZ-3 alone charges (else valid)',
    "test_key": '{api_key: "${GW_TEST_KEY}"}              # a test key (pyai_test_...) of an org with no credit (MAP-9)',
}


def target_config_template(profile_ref: str) -> str:
    profile = load_profile(profile_ref)
    roles = ["valid", "disabled"] + [c.role for c in profile.codes if c.role and c.role != "realtime"] + ["fuzzing"]
    if any("_test_ key" in c.action for c in profile.codes):  # pyai: "Add credit (or use a pyai_test_ key)"
        roles.append("test_key")
    seen: list[str] = []
    for role in roles:
        if role not in seen and role in ROLE_FACTS:
            seen.append(role)
    from conformance.contract.claims import profile_scopes

    lines = [
        f"# gateway-conformance target config for profile `{profile.id}` ({profile.title}).",
        "# ${VAR} expands from the environment: keep keys out of this file. Every section is optional:",
        "# a missing role skips the requirements that need it (verdict `incomplete`), it never crashes.",
        "# An unset ${VAR} in the `valid` role stops the run with one line naming it and its field; in",
        "# another role or an optional section it only makes that role or section unusable (said up front).",
        "target: https://staging.gw.example      # --target overrides it",
        f"profile: {profile.id}",
        "# The scopes this run certifies. Requirements of a scope left out are not run and are reported",
        "# `not claimed` (never skipped); inside a claimed scope a missing role or section is `incomplete`.",
        "# Leave out what your target cannot offer (e.g. upstream without the provider). Default: all.",
        "claims:",
    ]
    lines += [f"  - {scope + '':<12}# {SCOPE_FACTS[scope]}" for scope in profile_scopes(profile)]
    lines += [
        "model: gpt-4o-mini                      # a cheap model the `valid` role may call",
        "request_timeout_s: 30",
        "# headers: {x-route: primary}          # sent with every request",
        "limits: {max_requests: 2000, max_rps: 20, allow_billable: false, retry_after_cap_s: 10}"
        "   # retry_after_cap_s: the longest Retry-After the SDK retry check waits out",
        "roles:",
    ]
    lines += [f"  {role + ':':<21}{ROLE_FACTS[role]}" for role in seen]
    if any(c.plane == "realtime" for c in profile.codes):
        lines += [
            "realtime:                               # WebSocket; errors come as the HTTP answer to the handshake",
            '  url: "wss://staging.gw.example/v1/realtime?agent_id={agent_id}"',
            "  role: valid",
        ]
    if profile.has_tasks:
        lines += [
            "tasks:                                  # async jobs that hold credit",
            '  create: {method: POST, path: /v1/tasks, body: {model: "...", input: "..."}}',
            '  failing_body: {model: "...", input: "...", fail: true}      # a task the gateway will fail',
            '  expiring_body: {model: "...", input: "...", ttl_s: 5}       # a task the gateway will let expire',
            "  expires_after_s: 5                     # by then it has expired; the suite then polls up to request_timeout_s",
            '  get:    {method: GET, path: "/v1/tasks/{id}"}',
            '  cancel: {method: POST, path: "/v1/tasks/{id}/cancel"}',
            "  # role: valid                          # whose key creates the tasks",
            "  # id_pointer: /id                      # where the create answer puts the task id",
            "  # status_pointer: /status              # where the task view puts its status",
            "  # statuses:                            # the words that end a task (these are the defaults)",
            "  #   succeeded: [succeeded, completed]",
            "  #   failed: [failed]",
            "  #   cancelled: [cancelled, canceled]",
            "  #   expired: [expired]",
        ]
    lines += [
        "streaming:",
        "  midstream_error: {model: fail-midstream}   # body overlay that makes the gateway fail after the first event",
    ]
    lines += [
        "provider:                               # `gateway-conformance provider` your gateway routes gwc-ok / gwc-fault/* to (UPS)",
        "  records_url: http://127.0.0.1:8090",
        '  api_key: "${GWC_PROVIDER_KEY}"          # the gateway\'s provider key: must never reach a client',
        "  # models: {ok: upstream-ok, \"503\": upstream-503}   # only if the gateway renames models",
    ]
    if profile.has_management:
        lines += [
            "management:                             # console routes (problem+json)",
            "  base_url: https://console.staging.gw.example/api",
            "  role: valid",
            "  failing_requests:",
            "    - {method: GET, path: /keys/does-not-exist, status: 404}",
            "    - {method: POST, path: /keys, body: {name: 7}, status: 400}",
        ]
    lines += [
        "billing:                                # the oracle for every 'not charged' requirement",
        '  api_key: "${GW_ADMIN}"',
        '  request_cost: {method: GET, url: "https://console.staging.gw.example/api/requests/{request_id}", pointer: /cost, not_found_means: 0}',
        '  key_spend:    {method: GET, url: "https://console.staging.gw.example/api/keys/{key_id}", pointer: /spend}',
        '  balance:      {method: GET, url: "https://console.staging.gw.example/api/keys/{key_id}", pointer: /balance}'
        "   # available credit (shows holds: tasks, streams)",
        "  settle_s: 2",
    ]
    return "\n".join(lines) + "\n"
