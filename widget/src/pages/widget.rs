//! The shopping widget: the pinned product, live stock and countdown, and a
//! Buy button. The first purchase asks once for an email and a card (Stripe's
//! own field); after that one tap buys. The tap answers at once (the button
//! shows it is working), then says how it ended: paid, sold out, not open
//! yet, ended, declined. A payment the bank must confirm is finished with
//! Stripe.js.

use std::cell::RefCell;
use std::rc::Rc;

use leptos::html;
use leptos::prelude::*;
use serde_json::json;
use wasm_bindgen::JsValue;

use crate::api::{self, Api, ApiError};
use crate::components::ProductCard;
use crate::live::Live;
use crate::stripe;

/// Where a purchase stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Phase {
    Idle,
    /// Tapped: working on it.
    Busy,
    /// A card is needed first (the form is open).
    NeedCard,
    Paid,
    /// Refused or failed, with what to tell the buyer.
    Failed(String),
}

/// What the buyer is told for a refusal's code.
pub fn refusal_text(e: &ApiError) -> String {
    match e.code.as_str() {
        "sold_out" => "Sold out".into(),
        "drop_not_open" => "Not open yet".into(),
        "sale_ended" => "Sale ended".into(),
        "payment_failed" | "card_declined" => "Declined — try another card".into(),
        "limit_exceeded" => "You have reached the limit for this item".into(),
        "payments_unavailable" => "Payments are unavailable right now".into(),
        "network" => "Connection lost — try again".into(),
        _ => e.message.clone(),
    }
}

/// Stripe.js and the mounted card field, once the form was shown.
type Card = Rc<RefCell<Option<(JsValue, JsValue)>>>;

struct Buyer {
    api: Api,
    show_id: String,
    phase: RwSignal<Phase>,
    card: Card,
}

impl Buyer {
    /// The buyer's session token, made on the first purchase.
    async fn viewer(&self) -> Result<String, ApiError> {
        if let Some(token) = api::saved_viewer(&self.api.base) {
            return Ok(token);
        }
        let made = self
            .api
            .call("POST", "/api/v1/viewers", None, Some(&json!({})))
            .await?;
        let token = made["token"].as_str().unwrap_or_default().to_string();
        api::save_viewer(&self.api.base, &token);
        Ok(token)
    }

    /// Orders one unit; says how it ended.
    async fn order(&self, token: &str, product_id: &str) -> Result<Phase, ApiError> {
        let body = json!({
            "product_id": product_id,
            "quantity": 1,
            "idempotency_key": api::idempotency_key(),
        });
        let path = format!("/api/v1/shows/{}/orders", self.show_id);
        let mut order = match self.api.call("POST", &path, Some(token), Some(&body)).await {
            Err(e) if e.code == "no_payment_method" => return Ok(Phase::NeedCard),
            Err(e) if e.code == "invalid_token" => {
                // The session is gone (another server, a wiped database): start over.
                api::forget_viewer(&self.api.base);
                return Ok(Phase::NeedCard);
            }
            other => other?,
        };
        if order["status"] == "requires_action" {
            let secret = order["client_secret"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let stripe = self.stripe().await?;
            if let Err(message) = stripe::confirm(&stripe, &secret).await {
                return Ok(Phase::Failed(message));
            }
        }
        // Until the payment is final (a confirmed 3-D Secure, a slow bank).
        let id = order["id"].as_str().unwrap_or_default().to_string();
        for _ in 0..20 {
            match order["status"].as_str() {
                Some("paid") => return Ok(Phase::Paid),
                Some("pending" | "requires_action") => {
                    crate::live::sleep_ms(500).await;
                    order = self
                        .api
                        .call("GET", &format!("/api/v1/orders/{id}"), Some(token), None)
                        .await?;
                }
                _ => break,
            }
        }
        Ok(Phase::Failed(match order["status"].as_str() {
            Some("failed") => "Declined — try another card".into(),
            Some(other) => format!("Payment {other}"),
            None => "Payment failed".into(),
        }))
    }

    async fn stripe(&self) -> Result<JsValue, ApiError> {
        if let Some((stripe, _)) = self.card.borrow().as_ref() {
            return Ok(stripe.clone());
        }
        let config = self
            .api
            .call("GET", "/api/v1/checkout/config", None, None)
            .await?;
        stripe::client(
            config["stripe_js_url"].as_str().unwrap_or_default(),
            config["publishable_key"].as_str().unwrap_or_default(),
        )
        .await
        .map_err(|m| ApiError {
            status: 0,
            code: "stripe_js".into(),
            message: m,
        })
    }

    /// Opens Stripe's card field in `into`.
    async fn open_card_form(&self, into: web_sys::Element) -> Result<(), ApiError> {
        if self.card.borrow().is_some() {
            return Ok(());
        }
        let stripe = self.stripe().await?;
        let card = stripe::mount_card(&stripe, &into).map_err(|m| ApiError {
            status: 0,
            code: "stripe_js".into(),
            message: m,
        })?;
        *self.card.borrow_mut() = Some((stripe, card));
        Ok(())
    }

    /// Saves the typed card for this buyer, then buys.
    async fn save_card_and_buy(&self, email: &str, product_id: &str) -> Result<Phase, ApiError> {
        let (stripe, card) = self.card.borrow().clone().ok_or_else(|| ApiError {
            status: 0,
            code: "stripe_js".into(),
            message: "the card field is not ready".into(),
        })?;
        let pm = stripe::payment_method(&stripe, &card, email)
            .await
            // Stripe's own words for what is wrong with the card.
            .map_err(|m| ApiError {
                status: 0,
                code: "card_invalid".into(),
                message: m,
            })?;
        let token = self.viewer().await?;
        self.api
            .call(
                "PUT",
                "/api/v1/viewers/me/payment-method",
                Some(&token),
                Some(&json!({"email": email, "payment_method": pm})),
            )
            .await?;
        self.order(&token, product_id).await
    }
}

#[component]
pub fn Widget(live: Live, api: Api, show_id: String) -> impl IntoView {
    let phase = RwSignal::new(Phase::Idle);
    let buyer = Rc::new(Buyer {
        api,
        show_id,
        phase,
        card: Rc::default(),
    });
    let email = RwSignal::new(String::new());
    // Whether Stripe's card field is mounted (the form stays up while saving).
    let card_open = RwSignal::new(false);
    let card_box = NodeRef::<html::Div>::new();

    let pinned = move || {
        live.state
            .with(|s| s.as_ref().and_then(|s| s.pinned_product().cloned()))
    };
    // The drop has not opened (on the server's clock): buying is refused.
    let not_open = move || {
        let now = live.now_ms.get();
        live.state.with(|s| {
            s.as_ref().is_some_and(|s| {
                s.pinned
                    .as_deref()
                    .and_then(|id| s.countdown_for(id, now))
                    .is_some_and(|c| c.kind == wire::CountdownKind::DropOpens)
            })
        })
    };
    let sold_out = move || pinned().is_some_and(|p| p.available <= 0);

    let buy = {
        let buyer = buyer.clone();
        move |_| {
            let Some(product) = pinned() else { return };
            if phase.get_untracked() == Phase::Busy {
                return;
            }
            phase.set(Phase::Busy);
            let buyer = buyer.clone();
            wasm_bindgen_futures::spawn_local(async move {
                let outcome = match buyer.viewer().await {
                    Ok(token) => buyer.order(&token, &product.id).await,
                    Err(e) => Err(e),
                };
                buyer
                    .phase
                    .set(outcome.unwrap_or_else(|e| Phase::Failed(refusal_text(&e))));
            });
        }
    };
    // The card form opens Stripe's field as soon as it is on the page.
    {
        let buyer = buyer.clone();
        Effect::new(move |_| {
            if phase.get() != Phase::NeedCard {
                return;
            }
            let Some(div) = card_box.get() else { return };
            let buyer = buyer.clone();
            wasm_bindgen_futures::spawn_local(async move {
                match buyer.open_card_form(div.into()).await {
                    Ok(()) => card_open.set(true),
                    Err(e) => buyer.phase.set(Phase::Failed(refusal_text(&e))),
                }
            });
        });
    }
    let save = {
        let buyer = buyer.clone();
        move |ev: web_sys::SubmitEvent| {
            ev.prevent_default();
            let Some(product) = pinned() else { return };
            phase.set(Phase::Busy);
            let buyer = buyer.clone();
            let email = email.get_untracked();
            wasm_bindgen_futures::spawn_local(async move {
                let outcome = buyer.save_card_and_buy(&email, &product.id).await;
                buyer
                    .phase
                    .set(outcome.unwrap_or_else(|e| Phase::Failed(refusal_text(&e))));
            });
        }
    };

    let label = move || match phase.get() {
        Phase::Busy => "Buying…".to_string(),
        _ if sold_out() => "Sold out".into(),
        _ if not_open() => "Not open yet".into(),
        Phase::Paid => "Buy another".into(),
        _ => "Buy now".into(),
    };
    let status = move || match phase.get() {
        Phase::Paid => "Paid — thank you! Your order is confirmed.".to_string(),
        Phase::Failed(why) => why,
        Phase::NeedCard => "Add your email and card once; next time it is one tap.".into(),
        _ => String::new(),
    };

    view! {
        <div class="dc-widget" class:dc-offline=move || !live.connected.get()>
            <ProductCard live=live />
                <button class="dc-buy" type="button" hidden=move || pinned().is_none()
                    on:click=buy
                    disabled=move || sold_out() || not_open() || phase.get() == Phase::Busy
                    aria-busy=move || (phase.get() == Phase::Busy).to_string()
                    class:dc-pressed=move || phase.get() == Phase::Busy>
                    {label}
                </button>
            <div class="dc-status" role="status" aria-live="polite"
                class:dc-ok=move || phase.get() == Phase::Paid
                class:dc-bad=move || matches!(phase.get(), Phase::Failed(_))>
                {status}
            </div>
            // Kept in the page once shown, so Stripe's field stays mounted.
            <form class="dc-cardform" on:submit=save
                hidden=move || {
                    let p = phase.get();
                    !(p == Phase::NeedCard || (p == Phase::Busy && card_open.get()))
                }>
                    <label class="dc-label">"Email"
                        <input class="dc-email" type="email" required autocomplete="email"
                            prop:value=move || email.get()
                            on:input=move |ev| email.set(event_target_value(&ev)) />
                    </label>
                    <div class="dc-label">"Card"</div>
                    <div class="dc-cardfield" node_ref=card_box></div>
                    <button class="dc-save" type="submit">"Save card and buy"</button>
            </form>
        </div>
    }
}
