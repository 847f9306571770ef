"""Where money is read: the billing oracle and every "not charged" judgement built on it.

`oracle` (the target config's billing views, `BillingOracle.snapshot`), `spend` (FUZ-3's view of
those snapshots), `control` (the CHG-0 control: a billable success must show), `rejection_pass`
(the one oracle pass around every rejection), `charge_book` (the session's control and pass, run
once, for CHG-1..6), `cut_stream` (CHG-5), `tasks` (CHG-6).
"""
