#!/usr/bin/env bash
# Buys one unit as a new viewer, the way the widget does: a card made at the
# Stripe-compatible server (as Stripe.js would), saved once, then one tap.
# Usage: STRIPE_API_BASE=http://127.0.0.1:PORT scripts/demo_buy.sh SHOW_ID PRODUCT_ID [CARD]
# CARD defaults to 4242424242424242; 4000000000000341 is declined, 4000002760003184 asks for 3-D Secure.
set -euo pipefail
show="$1" product="$2" card="${3:-4242424242424242}"
base="http://${DROPCAST_HTTP_ADDR:-127.0.0.1:8080}/api/v1"
stripe="${STRIPE_API_BASE:?set STRIPE_API_BASE to the localstripe URL run.sh printed}"
json() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }

token=$(curl -sf -X POST "$base/viewers" | json '["token"]')
pm=$(curl -sf -u sk_test_demo: "$stripe/v1/payment_methods" -d type=card \
    -d "card[number]=$card" -d "card[exp_month]=12" -d "card[exp_year]=2031" -d "card[cvc]=123" | json '["id"]')
curl -sf -X PUT "$base/viewers/me/payment-method" -H "authorization: Bearer $token" \
    -H 'content-type: application/json' -d "{\"email\":\"demo@example.com\",\"payment_method\":\"$pm\"}" >/dev/null
curl -s -X POST "$base/shows/$show/orders" -H "authorization: Bearer $token" \
    -H 'content-type: application/json' \
    -d "{\"product_id\":\"$product\",\"quantity\":1,\"idempotency_key\":\"demo-$RANDOM$RANDOM\"}"
echo
