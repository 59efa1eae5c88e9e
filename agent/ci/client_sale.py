"""One whole sale driven by a client that openapi-python-client generated from
agent/openapi.json (the package `client`, on PYTHONPATH): identify the customer, put the
cart, pay part with a gift card, close with a cash payment for the rest, return a line.
Nothing here speaks HTTP itself; it only calls the generated client and checks answers.

Usage: python3 client_sale.py BASE_URL TOKEN DEMO_DIR
"""

import json
import sys
import uuid

from client import AuthenticatedClient
from client.api.identify import identify
from client.api.sessions import add_return, add_tender, close_session, get_session, put_session
from client.models import (
    Currency,
    CartInput,
    CartLine,
    CartLineQuantityType0,
    CloseRequest,
    IdentifyRequest,
    Money,
    Payment,
    Problem,
    PutSession,
    ReturnLineInput,
    ReturnRequest,
    ReturnView,
    SessionView,
    TenderInputType1,
    TenderInputType1Type,
    TenderRequest,
)


def expect(answer, kind, what):
    if not isinstance(answer, kind):
        detail = answer.to_dict() if isinstance(answer, Problem) else answer
        sys.exit(f"{what}: expected {kind.__name__}, got {detail!r}")
    return answer


def key():
    return str(uuid.uuid4())


def main():
    base, token, demo_dir = sys.argv[1], sys.argv[2], sys.argv[3]
    with open(f"{demo_dir}/demo.json", encoding="utf-8") as f:
        demo = json.load(f)
    api = AuthenticatedClient(base_url=base, token=token, raise_on_unexpected_status=True)
    sale = f"CI-{uuid.uuid4().hex[:12]}"

    who = identify.sync(client=api, body=IdentifyRequest(scan=demo["customer_pass"]["text"]))
    if who is None or "customer" not in json.dumps(who.to_dict()):
        sys.exit(f"identify: no customer in {who!r}")

    eur = lambda amount: Money(amount=amount, currency=Currency.EUR)  # noqa: E731
    cart = CartInput(
        currency=Currency.EUR,
        lines=[
            CartLine(line_id="1", sku="8410000000017", quantity=CartLineQuantityType0(units=2),
                     unit_price=eur(250)),
            CartLine(line_id="2", sku="8410000000024", quantity=CartLineQuantityType0(units=1),
                     unit_price=eur(1200)),
        ],
    )
    session = expect(
        put_session.sync(sale, client=api, body=PutSession(cart=cart), idempotency_key=key()),
        SessionView, "put the cart")
    if session.customer is None:
        sys.exit("put the cart: the identified customer is not on the sale")
    due = session.amount_due.amount

    session = expect(
        add_tender.sync(sale, client=api, idempotency_key=key(), body=TenderRequest(
            version=session.version,
            tender=TenderInputType1(type_=TenderInputType1Type.GIFT_CARD,
                                    scan=demo["gift_card"], amount=eur(100)))),
        SessionView, "tender the gift card")
    if session.amount_due.amount != due - 100:
        sys.exit(f"tender: amount due {session.amount_due.amount}, expected {due - 100}")

    closed = expect(
        close_session.sync(sale, client=api, idempotency_key=key(), body=CloseRequest(
            version=session.version,
            payments=[Payment(method="cash", amount=session.amount_due)])),
        SessionView, "close")
    if closed.state != "closed" or not closed.receipt:
        sys.exit(f"close: state {closed.state}, receipt {closed.receipt!r}")

    again = expect(get_session.sync(sale, client=api), SessionView, "read the sale")
    if again.version != closed.version:
        sys.exit("read the sale: another version than the close answered")

    returned = expect(
        add_return.sync(sale, client=api, idempotency_key=key(), body=ReturnRequest(
            return_id=f"{sale}-R1", lines=[ReturnLineInput(line="1", qty=1)])),
        ReturnView, "return a line")
    if returned.sale_id != sale:
        sys.exit(f"return: sale {returned.sale_id}, expected {sale}")
    print(f"sale {sale}: {due} due, gift card 100, cash {closed.receipt.payments[0].amount.amount},"
          f" one unit returned")


if __name__ == "__main__":
    main()
