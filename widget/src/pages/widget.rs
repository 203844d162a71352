//! The shopping widget: the pinned product, live stock and countdown, and a
//! Buy button. The first purchase asks once for an email and a card (Stripe's
//! own field), and for a shipping address when the product ships; after that
//! one tap buys, showing where it ships ("Ship to Ada L., London · change").
//! Digital products never ask for an address. The tap answers at once ("1
//! reserved", the button pressed), then says how it ended: paid, sold out,
//! not open yet, ended, declined. A payment the bank must confirm is
//! finished with Stripe.js.
//!
//! A purchase survives the network ([`crate::purchase`]): one intention,
//! one idempotency key, kept in storage until the order ends; retried with
//! backoff and on `online`; resumed by a reload or another tab; its outcome
//! learned by the server's long poll. Embedded, the widget runs in a frame
//! on Dropcast's origin, so that storage (the session token, the intent) is
//! out of the host page's reach. "Forget my card" ends the session.

use std::cell::RefCell;
use std::rc::Rc;

use leptos::html;
use leptos::prelude::*;
use serde_json::json;
use wasm_bindgen::JsValue;

use crate::api::{self, Api, ApiError};
use crate::components::{ProductCard, Remind};
use crate::live::Live;
use crate::purchase::{self, Intent, Next, Step};
use crate::state::{StockLevel, price_text, stock_text};
use crate::stripe;

/// Where a purchase stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Phase {
    Idle,
    /// Tapped: a unit is being held for the buyer (the request may be
    /// waiting for the network; it is sent again with the same key).
    Reserving,
    /// Held: the payment is being confirmed.
    Confirming,
    /// A card is needed first (the form is open).
    NeedCard,
    Paid,
    /// Refused or failed, with what to tell the buyer.
    Failed(String),
}

impl Phase {
    fn in_flight(&self) -> bool {
        matches!(self, Phase::Reserving | Phase::Confirming)
    }
}

/// Stripe.js and the mounted card field, once the form was shown.
type Card = Rc<RefCell<Option<(JsValue, JsValue)>>>;

/// How an order followed to its end came out.
enum Followed {
    Done(Phase),
    /// Nothing was charged and the attempt is over: try again as a new order.
    NewAttempt,
}

struct Buyer {
    api: Api,
    show_id: String,
    phase: RwSignal<Phase>,
    card: Card,
    /// The saved card's words ("visa ··4242"), once known.
    saved_card: RwSignal<Option<String>>,
    /// Where parcels go, once the buyer gave an address.
    saved_shipping: RwSignal<Option<wire::Address>>,
    /// A purchase is being driven in this tab (another tab may drive the
    /// same intent: the server's idempotency makes that one order).
    running: Rc<std::cell::Cell<bool>>,
    /// The product of the purchase in flight or last ended (the card's, or
    /// one from the shop bag).
    buying: RwSignal<Option<String>>,
    /// The clip the buyer is watching, if the widget sells one: its orders
    /// count for the clip in the show's stats.
    clip_id: Option<String>,
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

    fn save(&self, intent: &Intent) {
        api::save_intent(&self.api.base, &self.show_id, intent);
    }

    /// The purchase is over: forget it and tell the buyer.
    fn finish(&self, phase: Phase) {
        api::forget_intent(&self.api.base, &self.show_id);
        self.phase.set(phase);
    }

    /// Starts (or carries on with) the purchase in flight, unless this tab
    /// is already driving it.
    fn start(self: &Rc<Self>, intent: Intent) {
        if self.running.replace(true) {
            return;
        }
        self.save(&intent);
        self.buying.set(Some(intent.product_id.clone()));
        self.phase.set(if intent.order_id.is_some() {
            Phase::Confirming
        } else {
            Phase::Reserving
        });
        let buyer = self.clone();
        wasm_bindgen_futures::spawn_local(async move {
            buyer.run(intent).await;
            buyer.running.set(false);
        });
    }

    /// Drives a purchase until the server gives a definitive answer: every
    /// transient failure is retried with backoff (sooner when the browser
    /// comes back online) under the same idempotency key.
    async fn run(&self, mut intent: Intent) {
        let mut retries = 0;
        loop {
            let placed = match self.viewer().await {
                Ok(token) => self.place(&token, &intent).await.map(|o| (token, o)),
                Err(e) => Err(e),
            };
            let (token, order) = match placed {
                Ok(answer) => answer,
                Err(e) => match purchase::after_error(&e, retries) {
                    Next::Retry { wait_ms } => {
                        retries += 1;
                        crate::live::sleep_or_online(wait_ms as i32).await;
                        continue;
                    }
                    Next::NewAttempt { wait_ms } => {
                        intent.next_attempt();
                        self.save(&intent);
                        retries += 1;
                        crate::live::sleep_or_online(wait_ms as i32).await;
                        continue;
                    }
                    Next::NeedCard => {
                        if e.code == "invalid_token" {
                            // The session is gone (expired, ended): a new one.
                            api::forget_viewer(&self.api.base);
                            self.saved_card.set(None);
                        }
                        // The intent waits in storage for the card form.
                        self.phase.set(Phase::NeedCard);
                        return;
                    }
                    Next::End(text) => return self.finish(Phase::Failed(text)),
                },
            };
            retries = 0;
            intent.order_id = order["id"].as_str().map(str::to_string);
            self.save(&intent);
            match self.follow(&token, order).await {
                Followed::Done(phase) => return self.finish(phase),
                Followed::NewAttempt => {
                    intent.next_attempt();
                    self.save(&intent);
                }
            }
        }
    }

    /// Places (or, with the same key, finds again) the intent's order.
    async fn place(&self, token: &str, intent: &Intent) -> Result<serde_json::Value, ApiError> {
        let mut body = json!({
            "product_id": intent.product_id,
            "quantity": 1,
            "idempotency_key": intent.idempotency_key(),
        });
        if let Some(clip) = &self.clip_id {
            body["clip_id"] = clip.as_str().into();
        }
        let path = format!("/api/v1/shows/{}/orders", self.show_id);
        self.api.call("POST", &path, Some(token), Some(&body)).await
    }

    /// Follows an order to its end: Stripe.js for 3-D Secure, then the
    /// server's long poll (the outcome is pushed, never asked of Stripe).
    async fn follow(&self, token: &str, mut order: serde_json::Value) -> Followed {
        let id = order["id"].as_str().unwrap_or_default().to_string();
        let mut retries = 0;
        loop {
            let status = order["status"].as_str().unwrap_or_default().to_string();
            let step = purchase::after_order(
                &status,
                order["failure_code"].as_str(),
                order["client_secret"].as_str(),
            );
            match step {
                Step::Paid => return Followed::Done(Phase::Paid),
                Step::NewAttempt => return Followed::NewAttempt,
                Step::End(text) => return Followed::Done(Phase::Failed(text)),
                Step::Authenticate { client_secret } => {
                    self.phase.set(Phase::Confirming);
                    let stripe = match self.stripe().await {
                        Ok(stripe) => stripe,
                        Err(e) => return Followed::Done(Phase::Failed(purchase::refusal_text(&e))),
                    };
                    if let Err(message) = stripe::confirm(&stripe, &client_secret).await {
                        return Followed::Done(Phase::Failed(message));
                    }
                }
                Step::Wait => self.phase.set(Phase::Confirming),
            }
            let path = format!("/api/v1/orders/{id}?wait_ms=20000&status={status}");
            match self
                .api
                .call_within("GET", &path, Some(token), None, 35_000)
                .await
            {
                Ok(now) => {
                    order = now;
                    retries = 0;
                }
                Err(e) => match purchase::after_error(&e, retries) {
                    Next::Retry { wait_ms } | Next::NewAttempt { wait_ms } => {
                        retries += 1;
                        crate::live::sleep_or_online(wait_ms as i32).await;
                    }
                    Next::NeedCard => return Followed::Done(Phase::NeedCard),
                    Next::End(text) => return Followed::Done(Phase::Failed(text)),
                },
            }
        }
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
        .map_err(|m| ApiError::local("stripe_js", m))
    }

    /// Opens Stripe's card field in `into`.
    async fn open_card_form(&self, into: web_sys::Element) -> Result<(), ApiError> {
        if self.card.borrow().is_some() {
            return Ok(());
        }
        let stripe = self.stripe().await?;
        let card =
            stripe::mount_card(&stripe, &into).map_err(|m| ApiError::local("stripe_js", m))?;
        *self.card.borrow_mut() = Some((stripe, card));
        Ok(())
    }

    /// Saves the typed address as where this buyer's parcels go.
    async fn save_shipping(&self, address: &serde_json::Value) -> Result<(), ApiError> {
        let token = self.viewer().await?;
        let saved = self
            .api
            .call(
                "PUT",
                "/api/v1/viewers/me/shipping",
                Some(&token),
                Some(address),
            )
            .await?;
        self.saved_shipping
            .set(serde_json::from_value(saved["shipping"].clone()).ok());
        Ok(())
    }

    /// Saves the typed card (and the address, when one was asked for) for
    /// this buyer (the purchase then carries on).
    async fn save_card(
        &self,
        email: &str,
        shipping: Option<&serde_json::Value>,
    ) -> Result<(), ApiError> {
        let (stripe, card) = self
            .card
            .borrow()
            .clone()
            .ok_or_else(|| ApiError::local("stripe_js", "the card field is not ready"))?;
        let pm = stripe::payment_method(&stripe, &card, email)
            .await
            // Stripe's own words for what is wrong with the card.
            .map_err(|m| ApiError::local("card_invalid", m))?;
        let token = self.viewer().await?;
        let saved = self
            .api
            .call(
                "PUT",
                "/api/v1/viewers/me/payment-method",
                Some(&token),
                Some(&match shipping {
                    Some(address) => {
                        json!({"email": email, "payment_method": pm, "shipping": address})
                    }
                    None => json!({"email": email, "payment_method": pm}),
                }),
            )
            .await?;
        self.saved_card.set(card_words(&saved["card"]));
        self.saved_shipping
            .set(serde_json::from_value(saved["shipping"].clone()).ok());
        Ok(())
    }

    /// The saved card, if this browser has a session with one.
    async fn load_saved_card(&self) {
        let Some(token) = api::saved_viewer(&self.api.base) else {
            return;
        };
        if let Ok(me) = self
            .api
            .call("GET", "/api/v1/viewers/me", Some(&token), None)
            .await
        {
            self.saved_card.set(card_words(&me["card"]));
            self.saved_shipping
                .set(serde_json::from_value(me["shipping"].clone()).ok());
        }
    }

    /// "Forget my card": detached at Stripe, the session ended.
    async fn forget_card(&self) -> Result<(), ApiError> {
        if let Some(token) = api::saved_viewer(&self.api.base) {
            match self
                .api
                .call("DELETE", "/api/v1/viewers/me", Some(&token), None)
                .await
            {
                Ok(_) => {}
                Err(e) if e.code == "invalid_token" => {}
                Err(e) => return Err(e),
            }
        }
        api::forget_viewer(&self.api.base);
        self.saved_card.set(None);
        self.saved_shipping.set(None);
        Ok(())
    }
}

/// The address form's fields, one signal each.
#[derive(Clone, Copy, Default)]
struct Address {
    name: RwSignal<String>,
    line1: RwSignal<String>,
    line2: RwSignal<String>,
    city: RwSignal<String>,
    region: RwSignal<String>,
    postal_code: RwSignal<String>,
    country: RwSignal<String>,
}

impl Address {
    fn signal(&self, key: &str) -> RwSignal<String> {
        match key {
            "name" => self.name,
            "line1" => self.line1,
            "line2" => self.line2,
            "city" => self.city,
            "region" => self.region,
            "postal_code" => self.postal_code,
            _ => self.country,
        }
    }

    fn fill(&self, a: &wire::Address) {
        self.name.set(a.name.clone());
        self.line1.set(a.line1.clone());
        self.line2.set(a.line2.clone().unwrap_or_default());
        self.city.set(a.city.clone());
        self.region.set(a.region.clone().unwrap_or_default());
        self.postal_code.set(a.postal_code.clone());
        self.country.set(a.country.clone());
    }

    /// ADDRESS as the API takes it (the server checks it field by field).
    fn json(&self) -> serde_json::Value {
        let opt = |s: RwSignal<String>| {
            let v = s.get_untracked();
            (!v.trim().is_empty()).then_some(v)
        };
        json!({
            "name": self.name.get_untracked(),
            "line1": self.line1.get_untracked(),
            "line2": opt(self.line2),
            "city": self.city.get_untracked(),
            "region": opt(self.region),
            "postal_code": opt(self.postal_code),
            "country": self.country.get_untracked().trim().to_uppercase(),
        })
    }

    fn field(
        self,
        label: &'static str,
        key: &'static str,
        class: &'static str,
        autocomplete: &'static str,
        required: impl Fn() -> bool + Send + Sync + 'static,
    ) -> impl IntoView {
        let value = self.signal(key);
        view! {
            <label class="dc-label">{label}
                <input class=class type="text" autocomplete=autocomplete name=key
                    required=required
                    prop:value=move || value.get()
                    on:input=move |ev| value.set(event_target_value(&ev)) />
            </label>
        }
    }
}

/// "visa ··4242" for a card object of the API.
fn card_words(card: &serde_json::Value) -> Option<String> {
    Some(format!(
        "{} ··{}",
        card["brand"].as_str()?,
        card["last4"].as_str()?
    ))
}

/// The widget: the card, Buy, and the shop bag. `clip_id` when it sells a
/// clip's product (the clip page).
#[component]
pub fn Widget(
    live: Live,
    api: Api,
    show_id: String,
    #[prop(optional)] clip_id: Option<String>,
) -> impl IntoView {
    let phase = RwSignal::new(Phase::Idle);
    let buying = RwSignal::new(None::<String>);
    let buyer = Rc::new(Buyer {
        api,
        show_id,
        phase,
        card: Rc::default(),
        saved_card: RwSignal::new(None),
        saved_shipping: RwSignal::new(None),
        running: Rc::default(),
        buying,
        clip_id,
    });
    let saved_card = buyer.saved_card;
    let saved_shipping = buyer.saved_shipping;
    let email = RwSignal::new(String::new());
    let address = Address::default();
    // "change" beside the address: the form opens on the address alone.
    let editing_address = RwSignal::new(false);
    // Whether Stripe's card field is mounted (the form stays up while saving).
    let card_open = RwSignal::new(false);
    let card_box = NodeRef::<html::Div>::new();

    // A purchase left in flight (a reload, another tab) carries on.
    if let Some(intent) = api::saved_intent(&buyer.api.base, &buyer.show_id) {
        buyer.start(intent);
    }
    {
        let buyer = buyer.clone();
        wasm_bindgen_futures::spawn_local(async move { buyer.load_saved_card().await });
    }

    // The product on the card (pinned at the picture's moment, on the watch page).
    let pinned = move || live.shown_pinned();
    let product = move |id: &str| live.state.with(|s| s.as_ref()?.product(id).cloned());
    // The product being (or last) bought, else the card's: what the
    // purchase's words are about.
    let bought = move || buying.get().and_then(|id| product(&id)).or_else(pinned);
    // What the panel is about: the purchase while it is going on (or waits
    // for the form), else the card's product.
    let current = move || {
        let p = phase.get();
        if p.in_flight() || p == Phase::NeedCard {
            bought()
        } else {
            pinned()
        }
    };
    let not_open = move || pinned().is_some_and(|p| not_open_yet(live, &p.id));
    let sold_out = move || pinned().is_some_and(|p| p.available <= 0);
    let ships = move || current().is_some_and(|p| p.fulfilment == wire::Fulfilment::Shipping);
    // The form asks for an address: the product ships and none is saved,
    // or the buyer asked to change it.
    let needs_address =
        move || ships() && (saved_shipping.get().is_none() || editing_address.get());
    // The show's flat price per parcel, if it sets one.
    let flat_shipping = RwSignal::new(None::<i64>);
    {
        let api = buyer.api.clone();
        let path = format!("/api/v1/shows/{}", buyer.show_id);
        wasm_bindgen_futures::spawn_local(async move {
            if let Ok(show) = api.call("GET", &path, None, None).await {
                flat_shipping.set(show["shipping_flat_cents"].as_i64());
            }
        });
    }
    let shipping_line = move || {
        let p = current()?;
        if p.fulfilment == wire::Fulfilment::Digital {
            return Some("Digital — nothing to ship".to_string());
        }
        let cents = flat_shipping.get().unwrap_or(p.shipping_cents);
        Some(if cents == 0 {
            "Free shipping".to_string()
        } else {
            format!(
                "+ {} shipping, once per parcel",
                price_text(cents, &p.currency)
            )
        })
    };
    // Buys one of `product_id` (the card's, or one from the bag).
    let buy_product = {
        let buyer = buyer.clone();
        Rc::new(move |product_id: String| {
            if phase.get_untracked().in_flight() {
                return;
            }
            // One tap, one intention: a purchase another tab started is
            // carried on rather than doubled.
            let intent = api::saved_intent(&buyer.api.base, &buyer.show_id).unwrap_or_else(|| {
                Intent::new(api::idempotency_key(), product_id, js_sys::Date::now())
            });
            buyer.start(intent);
        })
    };
    let buy = {
        let buy_product = buy_product.clone();
        move |_| {
            if let Some(product) = pinned() {
                buy_product(product.id);
            }
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
                    Err(e) => buyer.phase.set(Phase::Failed(purchase::refusal_text(&e))),
                }
            });
        });
    }
    let save = {
        let buyer = buyer.clone();
        move |ev: web_sys::SubmitEvent| {
            ev.prevent_default();
            let Some(product) = current() else { return };
            let shipping = untrack(needs_address).then(|| address.json());
            let card_needed = saved_card.get_untracked().is_none();
            let buying = phase.get_untracked() == Phase::NeedCard;
            phase.set(if buying {
                Phase::Reserving
            } else {
                Phase::Idle
            });
            let buyer = buyer.clone();
            let email = email.get_untracked();
            wasm_bindgen_futures::spawn_local(async move {
                let saved = match (card_needed, &shipping) {
                    (true, _) => buyer.save_card(&email, shipping.as_ref()).await,
                    (false, Some(a)) => buyer.save_shipping(a).await,
                    (false, None) => Ok(()),
                };
                if saved.is_ok() {
                    editing_address.set(false);
                }
                match saved {
                    Ok(()) if !buying => {}
                    Ok(()) => {
                        let intent = api::saved_intent(&buyer.api.base, &buyer.show_id)
                            .unwrap_or_else(|| {
                                Intent::new(
                                    api::idempotency_key(),
                                    product.id.clone(),
                                    js_sys::Date::now(),
                                )
                            });
                        buyer.start(intent);
                    }
                    Err(e) => buyer.phase.set(Phase::Failed(purchase::refusal_text(&e))),
                }
            });
        }
    };
    let forget = {
        let buyer = buyer.clone();
        move |_| {
            let buyer = buyer.clone();
            wasm_bindgen_futures::spawn_local(async move {
                if buyer.forget_card().await.is_err() {
                    buyer.phase.set(Phase::Failed(
                        "Your card could not be forgotten right now".into(),
                    ));
                }
            });
        }
    };

    // The card's product is the one being bought.
    let on_card = move || {
        let card = pinned().map(|p| p.id);
        card.is_some() && buying.get().is_none_or(|b| Some(b) == card)
    };
    let label = move || match phase.get() {
        Phase::Reserving if on_card() => "Reserving…".to_string(),
        Phase::Confirming if on_card() => "Confirming…".into(),
        _ if sold_out() => "Sold out".into(),
        _ if not_open() => "Not open yet".into(),
        Phase::Paid if on_card() => "Buy another".into(),
        _ => "Buy now".into(),
    };
    // Which product the words are about, when it is not the card's.
    let about = move || {
        if on_card() {
            String::new()
        } else {
            bought()
                .map(|p| format!("{}: ", p.title))
                .unwrap_or_default()
        }
    };
    let status = move || match phase.get() {
        Phase::Reserving => format!("{}1 reserved — holding it for you", about()),
        Phase::Confirming => format!("{}1 reserved — confirming your payment", about()),
        Phase::Paid => format!("{}Paid — thank you! Your order is confirmed.", about()),
        Phase::Failed(why) => format!("{}{why}", about()),
        Phase::NeedCard if saved_card.get().is_some() => {
            "Where should it go? Next time it is one tap.".into()
        }
        Phase::NeedCard => "Add your email and card once; next time it is one tap.".into(),
        Phase::Idle => String::new(),
    };

    // Before the show: when it starts, and "Remind me"; a sold-out card:
    // "Notify me when back".
    let known = move || live.state.with(Option::is_some);
    let not_live = move || live.state.with(|s| s.as_ref().is_some_and(|s| !s.live));
    let starts_in = move || {
        let at = live
            .state
            .with(|s| s.as_ref().and_then(|s| s.scheduled_at_ms))?;
        let left = at - live.now_ms.get();
        (left > 0).then(|| crate::components::starts_in_text(left))
    };
    let remind_api = buyer.api.clone();
    let remind_show = buyer.show_id.clone();
    let notify_api = buyer.api.clone();
    let notify_show = buyer.show_id.clone();
    let sold_out_id = Signal::derive(move || pinned().filter(|p| p.available <= 0).map(|p| p.id));
    view! {
        <div class="dc-widget" class:dc-offline=move || !live.connected.get()>
            <div class="dc-before" hidden=move || !(known() && not_live())>
                <p class="dc-starts" hidden=move || starts_in().is_none()>{move || starts_in().unwrap_or_default()}</p>
                <Remind api=remind_api show_id=remind_show product_id=Signal::derive(|| None::<String>)
                    label="Remind me" source="widget:remind_me" />
            </div>
            <ProductCard live=live />
            <div class="dc-shipping-price" hidden=move || shipping_line().is_none()>{shipping_line}</div>
                <button class="dc-buy" type="button" hidden=move || pinned().is_none()
                    on:click=buy
                    disabled=move || sold_out() || not_open() || phase.get().in_flight()
                    aria-busy=move || phase.get().in_flight().to_string()
                    class:dc-pressed=move || phase.get().in_flight() && on_card()>
                    {label}
                </button>
            <Show when=move || sold_out_id.with(Option::is_some)>
                <Remind api=notify_api.clone() show_id=notify_show.clone() product_id=sold_out_id
                    label="Notify me when back" source="widget:notify_me" />
            </Show>
            <Bag live=live phase=phase buying=buying buy=buy_product.clone() />
            <div class="dc-status" role="status" aria-live="polite"
                class:dc-ok=move || phase.get() == Phase::Paid
                class:dc-pending=move || phase.get().in_flight()
                class:dc-bad=move || matches!(phase.get(), Phase::Failed(_))>
                {status}
            </div>
            <div class="dc-saved" hidden=move || saved_card.get().is_none() || phase.get().in_flight()>
                <span class="dc-saved-card">
                    {move || saved_card.get().map(|c| format!("Pay with {c}")).unwrap_or_default()}
                </span>
                " · "
                <button class="dc-forget" type="button" on:click=forget>"Forget my card"</button>
            </div>
            <div class="dc-shipto" hidden=move || !ships() || saved_shipping.get().is_none()
                || phase.get().in_flight() || editing_address.get() || phase.get() == Phase::NeedCard>
                <span class="dc-shipto-text">
                    {move || saved_shipping.get().map(|a| format!("Ship to {}", a.short())).unwrap_or_default()}
                </span>
                " · "
                <button class="dc-change" type="button" on:click=move |_| {
                    if let Some(a) = saved_shipping.get_untracked() {
                        address.fill(&a);
                    }
                    editing_address.set(true);
                }>"change"</button>
            </div>
            // Kept in the page once shown, so Stripe's field stays mounted.
            <form class="dc-cardform" on:submit=save
                hidden=move || {
                    let p = phase.get();
                    !(p == Phase::NeedCard
                        || (editing_address.get() && !p.in_flight())
                        || (p.in_flight() && card_open.get() && saved_card.get().is_none()))
                }>
                    <div class="dc-cardpart" hidden=move || saved_card.get().is_some()>
                        <label class="dc-label">"Email"
                            <input class="dc-email" type="email" autocomplete="email"
                                required=move || saved_card.get().is_none()
                                prop:value=move || email.get()
                                on:input=move |ev| email.set(event_target_value(&ev)) />
                        </label>
                        <div class="dc-label">"Card"</div>
                        <div class="dc-cardfield" node_ref=card_box></div>
                    </div>
                    <fieldset class="dc-address" hidden=move || !needs_address()>
                        <legend class="dc-label">"Ship to"</legend>
                        {address.field("Full name", "name", "dc-ship-name", "shipping name", needs_address)}
                        {address.field("Address", "line1", "dc-ship-line1", "shipping address-line1", needs_address)}
                        {address.field("Flat, suite (optional)", "line2", "dc-ship-line2", "shipping address-line2", move || false)}
                        <div class="dc-row">
                            {address.field("City", "city", "dc-ship-city", "shipping address-level2", needs_address)}
                            {address.field("Postal code", "postal_code", "dc-ship-postal", "shipping postal-code", move || false)}
                        </div>
                        <div class="dc-row">
                            {address.field("State / region", "region", "dc-ship-region", "shipping address-level1", move || false)}
                            {address.field("Country (GB, US…)", "country", "dc-ship-country", "shipping country", needs_address)}
                        </div>
                    </fieldset>
                    <button class="dc-save" type="submit">
                        {move || match (saved_card.get().is_some(), phase.get() == Phase::NeedCard) {
                            (false, _) => "Save and buy",
                            (true, true) => "Ship here and buy",
                            (true, false) => "Save address",
                        }}
                    </button>
            </form>
        </div>
    }
}

/// The drop of `product_id` has not opened (on the server's clock): buying
/// it is refused.
fn not_open_yet(live: Live, product_id: &str) -> bool {
    let now = live.now_ms.get();
    live.state.with(|s| {
        s.as_ref().is_some_and(|s| {
            s.countdown_for(product_id, now)
                .is_some_and(|c| c.kind == wire::CountdownKind::DropOpens)
        })
    })
}

/// The shop bag: a button ("Shop · 4") opening a sheet with every product
/// of the show, the pinned one first, each with its picture, price, stock
/// and a Buy of its own (one tap with a saved card; the sheet closes so the
/// buyer sees how it goes). A native modal `<dialog>`: focus moves into it
/// and stays there, Escape closes it, and focus returns to the button.
#[component]
fn Bag(
    live: Live,
    phase: RwSignal<Phase>,
    buying: RwSignal<Option<String>>,
    buy: Rc<dyn Fn(String)>,
) -> impl IntoView {
    let sheet = NodeRef::<html::Dialog>::new();
    let products = move || {
        live.state
            .with(|s| s.as_ref().map(|s| s.bag()).unwrap_or_default())
    };
    let count = move || products().len();
    let pinned = move || {
        live.state
            .with(|s| s.as_ref().and_then(|s| s.pinned.clone()))
    };
    let open = move |_| {
        if let Some(d) = sheet.get_untracked() {
            let _ = d.show_modal();
        }
    };
    let close = move || {
        if let Some(d) = sheet.get_untracked() {
            d.close();
        }
    };
    let buy = StoredValue::new_local(buy);
    view! {
        <button class="dc-bag-open" type="button" on:click=open hidden=move || count() == 0
            aria-haspopup="dialog">
            {move || format!("Shop · {}", count())}
        </button>
        <dialog class="dc-bag" node_ref=sheet aria-labelledby="dc-bag-title">
            <div class="dc-bag-head">
                <h2 id="dc-bag-title" class="dc-bag-title">"Shop this show"</h2>
                <button class="dc-bag-close" type="button" on:click=move |_| close()
                    aria-label="Close the shop">"×"</button>
            </div>
            <ul class="dc-bag-list">
                <For each=products key=|p| p.id.clone() let(p)>
                    {
                        // Keyed by id: a row stays (and keeps focus) while its
                        // stock changes; what it shows follows the state.
                        let id = p.id.clone();
                        let p = {
                            let id = id.clone();
                            Memo::new(move |_| live.state.with(|s| s.as_ref().and_then(|s| s.product(&id).cloned())))
                        };
                        let available = move || p.with(|p| p.as_ref().map_or(0, |p| p.available));
                        let sold_out = move || available() <= 0;
                        let is_pinned = {
                            let id = id.clone();
                            Memo::new(move |_| pinned().as_deref() == Some(id.as_str()))
                        };
                        let not_open = {
                            let id = id.clone();
                            Memo::new(move |_| not_open_yet(live, &id))
                        };
                        let busy = {
                            let id = id.clone();
                            move || phase.get().in_flight() && buying.get().as_deref() == Some(id.as_str())
                        };
                        let tap = {
                            let id = id.clone();
                            move |_| {
                                close();
                                buy.with_value(|b| b(id.clone()));
                            }
                        };
                        let picture = move || p.with(|p| p.as_ref().and_then(|p| p.thumb_url.clone().or(p.image_url.clone())));
                        let title = move || p.with(|p| p.as_ref().map(|p| p.title.clone()).unwrap_or_default());
                        let price = move || p.with(|p| p.as_ref().map(|p| price_text(p.price_cents, &p.currency)).unwrap_or_default());
                        view! {
                            <li class="dc-bag-item" class:dc-bag-soldout=sold_out data-product=id.clone()>
                                {move || match picture() {
                                    Some(src) => view! { <img class="dc-bag-image" src=src alt="" loading="lazy" /> }.into_any(),
                                    None => view! { <div class="dc-bag-image" aria-hidden="true"></div> }.into_any(),
                                }}
                                <div class="dc-bag-body">
                                    <div class="dc-bag-name">
                                        {title}
                                        {move || is_pinned.get().then(|| view! { <span class="dc-bag-pinned">"On screen"</span> })}
                                    </div>
                                    <div class="dc-bag-price">{price}</div>
                                    <div class=move || format!("dc-badge {}", StockLevel::of(available()).class())>
                                        {move || stock_text(available())}
                                    </div>
                                </div>
                                <button class="dc-bag-buy" type="button" aria-label=move || format!("Buy {}", title())
                                    disabled=move || sold_out() || not_open.get() || phase.get().in_flight()
                                    on:click=tap>
                                    {move || if sold_out() { "Sold out" } else if not_open.get() { "Soon" } else if busy() { "…" } else { "Buy" }}
                                </button>
                            </li>
                        }
                    }
                </For>
            </ul>
        </dialog>
    }
}
