//! Dropcast's wire types: the JSON that crosses the network.
//!
//! The server serializes these and the widget (compiled to wasm32) deserializes
//! them, so this crate holds no server code and depends on nothing but `serde`.
//! Field names and shapes follow `shared/API.md`; adding a field is fine,
//! renaming one breaks every embedded widget in the wild.
//!
//! Layout:
//! - [`Product`], [`Countdown`], [`ShowView`]: the public view of a show.
//! - [`ServerMsg`] / [`ClientMsg`]: frames of the live websocket.
//! - [`Clip`], [`Replay`], [`TimelineEvent`]: the clip desk.
//! - [`ErrorBody`]: the error shape of every failed request.

use serde::{Deserialize, Serialize};

/// A product as every viewer sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Product {
    pub id: String,
    pub sku: String,
    pub title: String,
    /// Price in the currency's minor unit (cents for usd).
    pub price_cents: i64,
    /// Lowercase ISO 4217 code.
    pub currency: String,
    /// Units a buyer can still order now (not held by an order in flight, not sold).
    pub available: i64,
    /// Units paid for.
    pub sold: i64,
    /// Most units one buyer may own (paid plus held); `None` means no limit.
    pub max_per_buyer: Option<i64>,
    /// The product's picture: the large size of an uploaded image
    /// (640 px on its longest side), or the creator's own URL.
    pub image_url: Option<String>,
    /// The small size (160 px) of an uploaded image, for lists; absent for
    /// a creator's own URL (use `image_url`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thumb_url: Option<String>,
    /// Shipped (asks for an address) or digital (never does).
    #[serde(default)]
    pub fulfilment: Fulfilment,
    /// The product's own shipping price, charged once per parcel (the
    /// highest of a parcel's products), unless the show sets a flat one.
    #[serde(default)]
    pub shipping_cents: i64,
    /// Taken off the show by its creator: no longer listed or for sale
    /// (a live frame with it set tells viewers to drop the card).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub archived: bool,
}

/// How a product reaches its buyer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fulfilment {
    /// A parcel: the buyer gives an address, the creator ships it.
    #[default]
    Shipping,
    /// Nothing to ship: no address is asked for.
    Digital,
}

impl Fulfilment {
    pub fn as_str(self) -> &'static str {
        match self {
            Fulfilment::Shipping => "shipping",
            Fulfilment::Digital => "digital",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "shipping" => Some(Fulfilment::Shipping),
            "digital" => Some(Fulfilment::Digital),
            _ => None,
        }
    }
}

/// A shipping address (`ADDRESS` in the API): validated by the server,
/// `country` an ISO 3166-1 alpha-2 code in capitals.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Address {
    pub name: String,
    pub line1: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line2: Option<String>,
    pub city: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    pub postal_code: String,
    pub country: String,
}

impl Address {
    /// "Ada L., London": what the widget shows beside Buy.
    pub fn short(&self) -> String {
        let mut words = self.name.split_whitespace();
        let first = words.next().unwrap_or("");
        let last_initial = words
            .last()
            .and_then(|w| w.chars().next())
            .map(|c| format!(" {c}."))
            .unwrap_or_default();
        format!("{first}{last_initial}, {}", self.city)
    }
}

/// What a countdown counts down to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CountdownKind {
    /// The product (or the whole show when no product) cannot be bought before `ends_at_ms`.
    DropOpens,
    /// The product (or the whole show) cannot be bought after `ends_at_ms`.
    SaleEnds,
}

impl CountdownKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CountdownKind::DropOpens => "drop_opens",
            CountdownKind::SaleEnds => "sale_ends",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "drop_opens" => Some(CountdownKind::DropOpens),
            "sale_ends" => Some(CountdownKind::SaleEnds),
            _ => None,
        }
    }
}

/// A countdown pinned to a show, optionally to one product.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Countdown {
    pub id: String,
    pub kind: CountdownKind,
    /// `None`: the countdown applies to every product of the show.
    pub product_id: Option<String>,
    pub label: Option<String>,
    /// Server wall-clock time at which it ends; clients correct for their clock
    /// offset with ping/pong.
    pub ends_at_ms: i64,
    /// Server time at which its end was last set: `ends_at_ms - set_at_ms` is
    /// its full length, which clients never show more of, however their clock
    /// estimate errs. `None` from servers before v1.1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set_at_ms: Option<i64>,
    /// How long an order placed under it holds its stock (the drop's own
    /// hold lifetime); `None`: the server's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold_seconds: Option<i64>,
}

/// `GET /api/v1/shows/{show}`: the public view of a show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShowView {
    pub id: String,
    pub title: String,
    /// Whether a publisher is streaming to the show right now.
    pub live: bool,
    pub products: Vec<Product>,
    pub pinned_product_id: Option<String>,
    pub countdowns: Vec<Countdown>,
    /// Shipping charged once per buyer's parcel instead of the products' own.
    #[serde(default)]
    pub shipping_flat_cents: Option<i64>,
    /// When it is planned to go live.
    #[serde(default)]
    pub scheduled_at_ms: Option<i64>,
    /// Its cover picture, shown before it starts.
    #[serde(default)]
    pub cover_url: Option<String>,
}

/// The show summary carried in a snapshot frame.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShowSummary {
    pub id: String,
    pub title: String,
    pub live: bool,
    /// When the show is planned to go live (pages say "Live in 2 h 14 min").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduled_at_ms: Option<i64>,
    /// Its cover picture, shown before it starts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cover_url: Option<String>,
}

/// A moment of a show's commerce, stamped with the server's wall clock, for
/// replays and clips: which product was pinned, what stock showed, when
/// units sold, when countdowns started and the stream went up or down.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimelineEvent {
    pub at_ms: i64,
    #[serde(flatten)]
    pub event: TimelineKind,
}

/// What happened at a [`TimelineEvent`]; serialized with a `kind` tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TimelineKind {
    Pin {
        product_id: Option<String>,
    },
    Countdown {
        countdown: Countdown,
    },
    /// A countdown was cancelled.
    CountdownRemoved {
        countdown_id: String,
    },
    /// A product's figures after a change (restock, sale, hold, release).
    Stock {
        product_id: String,
        available: i64,
        sold: i64,
    },
    /// Units paid for; sales of one product within a quarter second are
    /// folded into one event.
    Sold {
        product_id: String,
        quantity: i64,
    },
    Live {
        live: bool,
    },
}

/// One timeline thumbnail: the first frame of a replay segment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Thumbnail {
    pub at_ms: i64,
    pub url: String,
}

/// `GET /api/v1/shows/{show}/replay`: what the clip desk draws.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Replay {
    pub live: bool,
    /// The wall-clock span the buffer holds; `None` when it is empty.
    pub start_ms: Option<i64>,
    pub end_ms: Option<i64>,
    /// One per segment (about every 2 s), oldest first.
    pub thumbnails: Vec<Thumbnail>,
    /// The show's commerce events within the span, oldest first.
    pub events: Vec<TimelineEvent>,
}

/// A clip export, as the clip desk shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Clip {
    pub id: String,
    pub show_id: String,
    /// `queued`, `running`, `done` or `failed`.
    pub status: String,
    /// 0.0 to 1.0.
    pub progress: f64,
    /// `original` (cut, not re-encoded) or `vertical` (1080x1920 re-encode).
    pub format: String,
    /// The wall-clock span the clip covers: it starts on the keyframe at
    /// or before the asked start and ends at the asked end.
    pub start_ms: i64,
    pub end_ms: i64,
    /// The start that was asked for; `asked_start_ms - start_ms` is how
    /// much earlier the clip begins (absent for clips made before it was
    /// kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asked_start_ms: Option<i64>,
    pub duration_ms: Option<i64>,
    pub bytes: Option<i64>,
    pub product_id: Option<String>,
    /// Set once `done`.
    pub download_url: Option<String>,
    /// Why it failed, when `failed`.
    pub error: Option<String>,
    pub created_at_ms: i64,
    /// The show's commerce events inside the clip's span (in the clip's
    /// REST views; live `clip` frames leave them out).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events: Option<Vec<TimelineEvent>>,
}

/// Server → client frames of the live channel. Every frame but `pong` and
/// `error` carries the show's `seq`, which strictly increases on a socket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMsg {
    /// Always the first frame, and sent again whenever the socket fell too far
    /// behind to be caught up event by event.
    Snapshot {
        seq: u64,
        server_time_ms: i64,
        show: ShowSummary,
        products: Vec<Product>,
        pinned_product_id: Option<String>,
        countdowns: Vec<Countdown>,
        viewers: u64,
    },
    Stock {
        seq: u64,
        product_id: String,
        available: i64,
        sold: i64,
    },
    /// A product was created, or its title, price or image changed.
    Product {
        seq: u64,
        product: Product,
    },
    Pin {
        seq: u64,
        product_id: Option<String>,
    },
    /// A countdown was started, or replaced (same id, new end).
    Countdown {
        seq: u64,
        countdown: Countdown,
    },
    /// A countdown was cancelled: it no longer applies.
    CountdownRemoved {
        seq: u64,
        countdown_id: String,
    },
    Viewers {
        seq: u64,
        count: u64,
    },
    Sold {
        seq: u64,
        product_id: String,
        quantity: i64,
        /// The buyer's first name, as on their parcel ("Ada just bought…");
        /// absent for digital products.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        buyer: Option<String>,
    },
    Live {
        seq: u64,
        live: bool,
    },
    /// The show's title, schedule or cover changed (pages waiting for it to
    /// start say the new time and show the new picture).
    Show {
        seq: u64,
        title: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        scheduled_at_ms: Option<i64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cover_url: Option<String>,
    },
    /// A clip's status and progress; only to the creator's and editors' sockets.
    Clip {
        seq: u64,
        clip: Clip,
    },
    Pong {
        client_time_ms: i64,
        server_time_ms: i64,
    },
    /// The client sent something the server does not understand.
    Error {
        code: String,
        message: String,
    },
}

/// Client → server frames of the live channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMsg {
    /// Clock sync: answered at once with a `pong` carrying the server's time.
    Ping { client_time_ms: i64 },
}

/// `{"error": {"code", "message"}}`: the body of every error response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetail {
    /// Stable snake_case code that clients branch on.
    pub code: String,
    /// Human-readable explanation; may change between versions.
    pub message: String,
    /// The request field the error is about, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stock_frame_has_the_documented_shape() {
        let msg = ServerMsg::Stock {
            seq: 7,
            product_id: "prd_1".into(),
            available: 3,
            sold: 2,
        };
        let json = serde_json::to_value(&msg).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"type":"stock","seq":7,"product_id":"prd_1","available":3,"sold":2})
        );
    }

    #[test]
    fn ping_parses_and_unknown_types_do_not() {
        let ping: ClientMsg =
            serde_json::from_str(r#"{"type":"ping","client_time_ms":12}"#).unwrap();
        assert_eq!(ping, ClientMsg::Ping { client_time_ms: 12 });
        assert!(serde_json::from_str::<ClientMsg>(r#"{"type":"buy"}"#).is_err());
    }

    #[test]
    fn timeline_events_are_flat_and_round_trip() {
        let event = TimelineEvent {
            at_ms: 1_700_000_000_000,
            event: TimelineKind::Sold {
                product_id: "prd_1".into(),
                quantity: 2,
            },
        };
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"at_ms":1_700_000_000_000i64,"kind":"sold","product_id":"prd_1","quantity":2})
        );
        assert_eq!(
            serde_json::from_value::<TimelineEvent>(json).unwrap(),
            event
        );
    }

    #[test]
    fn addresses_shorten_to_first_name_initial_and_city() {
        let a = Address {
            name: "Ada  Lovelace".into(),
            line1: "12 St James's Square".into(),
            line2: None,
            city: "London".into(),
            region: None,
            postal_code: "SW1Y 4JH".into(),
            country: "GB".into(),
        };
        assert_eq!(a.short(), "Ada L., London");
        let solo = Address {
            name: "Cher".into(),
            ..a.clone()
        };
        assert_eq!(solo.short(), "Cher, London");
        let json = serde_json::to_value(&a).unwrap();
        assert!(json.get("line2").is_none());
        assert_eq!(serde_json::from_value::<Address>(json).unwrap(), a);
    }

    #[test]
    fn products_without_fulfilment_are_shipped() {
        let p: Product = serde_json::from_value(serde_json::json!({
            "id":"p","sku":"s","title":"t","price_cents":1,"currency":"usd",
            "available":1,"sold":0,"max_per_buyer":null,"image_url":null
        }))
        .unwrap();
        assert_eq!((p.fulfilment, p.shipping_cents), (Fulfilment::Shipping, 0));
    }

    #[test]
    fn countdown_kind_round_trips() {
        for kind in [CountdownKind::DropOpens, CountdownKind::SaleEnds] {
            assert_eq!(CountdownKind::parse(kind.as_str()), Some(kind));
            let json = serde_json::to_string(&kind).unwrap();
            assert_eq!(json, format!("\"{}\"", kind.as_str()));
        }
        assert_eq!(CountdownKind::parse("soon"), None);
    }
}
