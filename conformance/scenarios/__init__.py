"""The scenario book: each way the suite puts a gateway in a state the contract names (no key, a
role's key, bad parameters, unknown paths, realtime handshakes), sent once per run and memoised."""
