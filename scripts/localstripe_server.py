"""Runs localstripe (the Stripe-compatible test server from PyPI) for Dropcast.

Changes from `localstripe --port N`:
- it listens on 127.0.0.1 only (not on every interface);
- it keeps its state in memory instead of pickling the whole store to the
  shared /tmp/localstripe.pickle on every write, which is slow under load and
  clobbered by a second instance; with `--state FILE` it keeps it in FILE
  instead (loaded at start, written on every change), so a test can stop
  it and start it again as an outage of Stripe that loses nothing;
- its PaymentIntents take `shipping` (name and address), as Stripe's do;
  localstripe refuses the field (its Customers already keep one);
- its Stripe.js stand-in gains `createPaymentMethod({type: "card", card})`,
  which it lacks (a no-op there): the widget saves cards the way Stripe.js
  does, and the stand-in creates the PaymentMethod from its fake card
  element's fields through `/_config/payment_methods` (localstripe lets
  `/_config/` through without a secret key).
"""

import argparse

from aiohttp import web
from localstripe import resources
from localstripe.errors import UserError
from localstripe.server import app

parser = argparse.ArgumentParser()
parser.add_argument("--host", default="127.0.0.1")
parser.add_argument("--port", type=int, default=8420)
parser.add_argument("--state", help="keep the state in this file across restarts")
args = parser.parse_args()

if args.state:
    import pickle

    def dump_to_disk(self):
        with open(args.state + ".tmp", "wb") as f:
            pickle.dump(dict(self), f, protocol=pickle.HIGHEST_PROTOCOL)
        import os

        os.replace(args.state + ".tmp", args.state)

    resources.Store.dump_to_disk = dump_to_disk
    try:
        with open(args.state, "rb") as f:
            dict.update(resources.store, pickle.load(f))
    except FileNotFoundError:
        pass
else:
    resources.Store.dump_to_disk = lambda self: None
resources.Store.try_load_from_disk = lambda self: None

SHIPPING_ADDRESS_KEYS = {"line1", "line2", "city", "state", "postal_code", "country"}
_intent_init = resources.PaymentIntent.__init__


def _intent_init_with_shipping(self, shipping=None, **kwargs):
    if shipping is not None:
        address = shipping.get("address") if isinstance(shipping, dict) else None
        if (
            not isinstance(shipping.get("name"), str)
            or not isinstance(address, dict)
            or not set(address).issubset(SHIPPING_ADDRESS_KEYS)
            or not all(isinstance(v, str) for v in address.values())
        ):
            raise UserError(400, "Bad request: shipping")
    _intent_init(self, **kwargs)
    self.shipping = shipping


resources.PaymentIntent.__init__ = _intent_init_with_shipping

CREATE_PAYMENT_METHOD = """
;(function () {
  const base = LOCALSTRIPE_BASE_API;
  const original = window.Stripe;
  window.Stripe = function (key, options) {
    const stripe = original(key, options);
    stripe.createPaymentMethod = async function (data) {
      const card = (data.card && data.card.value && data.card.value.card) || {};
      // A form post, like the stand-in's createToken: a "simple" cross-origin
      // request, so no preflight (localstripe answers none).
      const form = new URLSearchParams({
        number: card.number || "",
        exp_month: card.exp_month || "",
        exp_year: card.exp_year || "",
        cvc: card.cvc || "",
      });
      const response = await fetch(base + "/_config/payment_methods", { method: "POST", body: form });
      const body = await response.json().catch(() => ({}));
      return response.ok && !body.error ? { paymentMethod: body } : { error: body.error || body };
    };
    return stripe;
  };
})();
"""


@web.middleware
async def stripe_js_patch(request, handler):
    response = await handler(request)
    if request.path == "/js.stripe.com/v3/" and response.status == 200:
        return web.Response(
            text=response.text + CREATE_PAYMENT_METHOD,
            content_type="application/javascript",
        )
    return response


async def create_payment_method(request):
    form = await request.post()
    card = {k: form.get(k, "") for k in ("number", "exp_month", "exp_year", "cvc")}
    try:
        pm = resources.PaymentMethod._api_create(type="card", card=card)
    except UserError as e:
        return web.json_response({"error": e.body["error"]}, status=e.code)
    return web.json_response(pm._export())


app.middlewares.append(stripe_js_patch)
app.router.add_post("/_config/payment_methods", create_payment_method)

web.run_app(app, host=args.host, port=args.port, access_log=None, print=None)
