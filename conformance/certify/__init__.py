"""Self-certification: a bundle anyone can verify (certify, verify, replay) — issue #23.

`bundle` writes it after a run, `har` turns recorded exchanges into HAR 1.2 and back, `manifest`
hashes it, `verify` recomputes its verdict and re-runs the pure checks on its evidence, `replay`
resends one requirement's exchanges against a gateway.
"""
