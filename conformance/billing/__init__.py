"""Where money is read: the billing oracle and every "not charged" judgement built on it.

`oracle` (the target config's billing views), `spend` (FUZ-3's snapshots), `passes` (the CHG-0
control and the one oracle pass around every rejection), `charges` (the session's bookkeeping
for CHG-1..6), `cut_stream` (CHG-5), `tasks` (CHG-6).
"""
