"""The billing step of the reference gateway: may this key be served, and what the ledger charges.

Before serving: a test key passes, an exhausted plan, an empty wallet or a spent key budget is
refused (402). After serving: the charge, for what was delivered (a stream cut by the client is
charged for the events it got, CHG-5). A rejection is never charged, except under the `charge_*`
defects, which live here with every other defect of what the ledger records.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.requests import HTTPConnection

from conformance.reference.auth import bearer_token
from conformance.reference.ledger import KeyRecord, Ledger
from conformance.reference.middleware import request_id_of
from conformance.reference.rejections import Rejections, Step
from conformance.reference.types import Call, Reject
from conformance.servers import fake_model

# Defects that bill a rejection, by status (CHG-1..4 must catch each).
BILLED_REJECTION_DEFECTS = {401: "charge_401", 429: "charge_429", 400: "charge_bad_params",
                            402: "charge_402_403", 403: "charge_402_403"}
# The `rejection_fee_unitemized` defect: a per-request fee debited outside the charge records.
REJECTION_FEE = 0.0001


class Billing(Step):
    """The credit check before serving and the ledger's charges after."""

    def __init__(self, rejections: Rejections, ledger: Ledger) -> None:
        super().__init__(rejections)
        self.ledger = ledger

    def check(self, key: KeyRecord) -> None:
        """Refuse (402) a key that may not be served now: plan, wallet, monthly key budget."""
        if key.kind == "test" and not self.defects.on("test_key_refused"):
            return  # a test key (pyai_test_) is served whatever the org's credit, and never charged
        if key.plan_exhausted:
            raise self.rejections.reject("over_plan_quota",
                                         "Your plan's quota is exhausted; upgrade the plan to continue.")
        if key.balance <= 0:
            message = "Your wallet balance is insufficient; add credit to continue."
            if self.variants.on("readable_keys"):
                message = "Your wallet balance is insufficient; add credit (or use a pyai_test_ key)."
            raise self.rejections.reject("no_credit", message)
        if key.monthly_budget is not None and key.spend >= key.monthly_budget:
            raise self.rejections.reject("over_key_budget",
                                         "This key has reached its monthly budget; raise it or use another key.")

    def charge(self, call: Call, total_tokens: int) -> None:
        if call.key.kind == "test":
            return  # test keys are never charged
        self.ledger.charge(call.request_id, call.key.key_id, fake_model.cost_of(total_tokens))

    def stream_settlement(self, call: Call, full_completion_tokens: int) -> Callable[[int], None]:
        """What a locally served stream calls with the completion tokens it delivered, when it ends.

        Under `bill_cutoff_stream_in_full` the whole stream is charged now, up front, as a gateway
        that settles at the start does (no race with the client's cut), and the end charges nothing.
        """
        prompt_tokens = call.params["prompt_tokens"]
        if self.defects.on("bill_cutoff_stream_in_full"):
            self.charge(call, prompt_tokens + full_completion_tokens)
            return lambda delivered: None
        return lambda delivered: self.charge(call, prompt_tokens + delivered)

    def bill_rejection(self, connection: HTTPConnection, key: KeyRecord | None, reject: Reject,
                       request_id: str | None = None) -> None:
        """Only under a `charge_*` defect (or a fee defect): bill a rejected request (or refused realtime
        handshake, whose `request_id` the realtime plane makes itself) as if it had been served."""
        defect = BILLED_REJECTION_DEFECTS.get(reject.status)
        itemized = defect is not None and self.defects.on(defect)
        undecodable = getattr(connection.state, "undecodable", False) and self.defects.on("charge_undecodable_body")
        fee = reject.status in BILLED_REJECTION_DEFECTS and self.defects.on("rejection_fee_unitemized")
        if not (itemized or undecodable or fee):
            return
        if key is None:  # rejected at authentication: bill the key the token names, if any
            token = bearer_token(connection)
            key = self.ledger.find_key(token) if token else None
        if key is None:
            return
        if itemized or undecodable:
            self.ledger.charge(request_id or request_id_of(connection.scope),
                               key.key_id, fake_model.cost_of(fake_model.MAX_COMPLETION_TOKENS))
        if fee:  # no charge record: only the key's spend and its wallet show it
            self.ledger.debit_fee(key.key_id, REJECTION_FEE)
