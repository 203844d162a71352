//! A show as the pages hold it, and how each live frame changes it.
//!
//! Pure Rust with no browser in sight, so it is tested on the host: the
//! pages only render what this says.

use wire::{Countdown, CountdownKind, Product, ServerMsg};

/// The show as the last snapshot and every frame since made it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ShowState {
    pub title: String,
    pub live: bool,
    /// When the show is planned to go live, if it is.
    pub scheduled_at_ms: Option<i64>,
    /// Its cover picture, shown before it starts.
    pub cover_url: Option<String>,
    pub products: Vec<Product>,
    pub pinned: Option<String>,
    pub countdowns: Vec<Countdown>,
    pub viewers: u64,
    /// The last frame applied: an older or repeated one is ignored.
    pub seq: u64,
}

/// What a frame did, beyond the state (for the "just bought" toasts).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    Nothing,
    Changed,
    Sold {
        product_id: String,
        quantity: i64,
        buyer: Option<String>,
    },
}

impl ShowState {
    /// Applies a frame; a snapshot replaces everything.
    pub fn apply(&mut self, msg: ServerMsg) -> Applied {
        if let ServerMsg::Snapshot {
            seq,
            show,
            products,
            pinned_product_id,
            countdowns,
            viewers,
            ..
        } = msg
        {
            *self = ShowState {
                title: show.title,
                live: show.live,
                scheduled_at_ms: show.scheduled_at_ms,
                cover_url: show.cover_url,
                products: products.into_iter().filter(|p| !p.archived).collect(),
                pinned: pinned_product_id,
                countdowns,
                viewers,
                seq,
            };
            return Applied::Changed;
        }
        let Some(seq) = seq_of(&msg) else {
            return Applied::Nothing;
        };
        if seq <= self.seq {
            return Applied::Nothing;
        }
        self.seq = seq;
        match msg {
            ServerMsg::Stock {
                product_id,
                available,
                sold,
                ..
            } => {
                if let Some(p) = self.products.iter_mut().find(|p| p.id == product_id) {
                    p.available = available;
                    p.sold = sold;
                }
            }
            ServerMsg::Product { product, .. } if product.archived => {
                self.products.retain(|p| p.id != product.id);
            }
            ServerMsg::Product { product, .. } => {
                match self.products.iter_mut().find(|p| p.id == product.id) {
                    Some(p) => *p = product,
                    None => self.products.push(product),
                }
            }
            ServerMsg::Pin { product_id, .. } => self.pinned = product_id,
            ServerMsg::Countdown { countdown, .. } => {
                self.countdowns.retain(|c| c.id != countdown.id);
                self.countdowns.push(countdown);
            }
            ServerMsg::CountdownRemoved { countdown_id, .. } => {
                self.countdowns.retain(|c| c.id != countdown_id);
            }
            ServerMsg::Viewers { count, .. } => self.viewers = count,
            ServerMsg::Live { live, .. } => self.live = live,
            ServerMsg::Show {
                title,
                scheduled_at_ms,
                cover_url,
                ..
            } => {
                self.title = title;
                self.scheduled_at_ms = scheduled_at_ms;
                self.cover_url = cover_url;
            }
            ServerMsg::Sold {
                product_id,
                quantity,
                buyer,
                ..
            } => {
                return Applied::Sold {
                    product_id,
                    quantity,
                    buyer,
                };
            }
            _ => return Applied::Nothing,
        }
        Applied::Changed
    }

    pub fn product(&self, id: &str) -> Option<&Product> {
        self.products.iter().find(|p| p.id == id)
    }

    pub fn pinned_product(&self) -> Option<&Product> {
        self.pinned.as_deref().and_then(|id| self.product(id))
    }

    /// Every product of the show as the shop bag lists it: the pinned one
    /// first, then the rest in the order the creator added them.
    pub fn bag(&self) -> Vec<Product> {
        let pinned = self.pinned.as_deref();
        let mut list: Vec<Product> = self.products.clone();
        list.sort_by_key(|p| Some(p.id.as_str()) != pinned);
        list
    }

    /// The countdown that matters for `product_id` at server time `now_ms`:
    /// a drop that has not opened (it blocks buying) before a sale that has
    /// not ended; the product's own before the whole show's; the soonest.
    pub fn countdown_for(&self, product_id: &str, now_ms: i64) -> Option<&Countdown> {
        let running = |kind: CountdownKind| {
            self.countdowns
                .iter()
                .filter(move |c| c.kind == kind && c.ends_at_ms > now_ms)
                .filter(move |c| c.product_id.as_deref().is_none_or(|p| p == product_id))
                .min_by_key(|c| (c.product_id.is_none(), c.ends_at_ms))
        };
        running(CountdownKind::DropOpens).or_else(|| running(CountdownKind::SaleEnds))
    }
}

fn seq_of(msg: &ServerMsg) -> Option<u64> {
    match msg {
        ServerMsg::Snapshot { seq, .. }
        | ServerMsg::Stock { seq, .. }
        | ServerMsg::Product { seq, .. }
        | ServerMsg::Pin { seq, .. }
        | ServerMsg::Countdown { seq, .. }
        | ServerMsg::CountdownRemoved { seq, .. }
        | ServerMsg::Viewers { seq, .. }
        | ServerMsg::Sold { seq, .. }
        | ServerMsg::Live { seq, .. }
        | ServerMsg::Show { seq, .. }
        | ServerMsg::Clip { seq, .. } => Some(*seq),
        ServerMsg::Pong { .. } | ServerMsg::Error { .. } => None,
    }
}

/// "Ada just bought the runner" ("Someone" when the sale names nobody).
pub fn sale_text(buyer: Option<&str>, quantity: i64, title: &str) -> String {
    let who = buyer.unwrap_or("Someone");
    if quantity == 1 {
        format!("{who} just bought {title}")
    } else {
        format!("{who} just bought {quantity} × {title}")
    }
}

/// "3 left", "Last one!", "Sold out".
pub fn stock_text(available: i64) -> String {
    match available {
        n if n <= 0 => "Sold out".into(),
        1 => "Last one!".into(),
        n => format!("{n} left"),
    }
}

/// How urgent a stock figure is: the badge's colour.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StockLevel {
    /// More than [`LOW_STOCK`] left.
    Plenty,
    /// A handful left.
    Low,
    /// One left.
    Last,
    /// None left.
    Out,
}

/// At or under this many left the badge turns "low".
pub const LOW_STOCK: i64 = 5;

impl StockLevel {
    pub fn of(available: i64) -> Self {
        match available {
            n if n <= 0 => Self::Out,
            1 => Self::Last,
            n if n <= LOW_STOCK => Self::Low,
            _ => Self::Plenty,
        }
    }

    /// The badge's class, `dc-level-…`.
    pub fn class(self) -> &'static str {
        match self {
            Self::Plenty => "dc-level-plenty",
            Self::Low => "dc-level-low",
            Self::Last => "dc-level-last",
            Self::Out => "dc-level-out",
        }
    }
}

/// "$25.00", "€9.50", or "12.00 SEK".
pub fn price_text(cents: i64, currency: &str) -> String {
    let amount = format!("{}.{:02}", cents / 100, (cents % 100).abs());
    match currency {
        "usd" => format!("${amount}"),
        "eur" => format!("€{amount}"),
        "gbp" => format!("£{amount}"),
        other => format!("{amount} {}", other.to_uppercase()),
    }
}

/// "Drop opens in 1:59", "Sale ends in 0:07" (the label, when the creator gave one).
/// Never more than the countdown's full length: `now_ms` is an estimate of the
/// server's clock and may run a few ms behind, which would make a minute's
/// countdown open on "1:01".
pub fn countdown_text(c: &Countdown, now_ms: i64) -> String {
    let mut left_ms = (c.ends_at_ms - now_ms).max(0);
    if let Some(set_at) = c.set_at_ms {
        left_ms = left_ms.min((c.ends_at_ms - set_at).max(0));
    }
    let left = (left_ms + 999) / 1000;
    let clock = format!("{}:{:02}", left / 60, left % 60);
    let what = match (&c.label, c.kind) {
        (Some(label), _) => label.clone(),
        (None, CountdownKind::DropOpens) => "Drop opens".into(),
        (None, CountdownKind::SaleEnds) => "Sale ends".into(),
    };
    format!("{what} in {clock}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use wire::ShowSummary;

    fn product(id: &str, available: i64) -> Product {
        Product {
            id: id.into(),
            sku: id.into(),
            title: format!("Product {id}"),
            price_cents: 2500,
            currency: "usd".into(),
            available,
            sold: 0,
            max_per_buyer: None,
            image_url: None,
            thumb_url: None,
            fulfilment: wire::Fulfilment::Shipping,
            shipping_cents: 0,
            archived: false,
        }
    }

    fn snapshot(seq: u64) -> ServerMsg {
        ServerMsg::Snapshot {
            seq,
            server_time_ms: 0,
            show: ShowSummary {
                id: "shw".into(),
                title: "Launch".into(),
                live: false,
                scheduled_at_ms: None,
                cover_url: None,
            },
            products: vec![product("a", 5), product("b", 1)],
            pinned_product_id: Some("a".into()),
            countdowns: vec![],
            viewers: 3,
        }
    }

    fn countdown(id: &str, kind: CountdownKind, product: Option<&str>, ends: i64) -> Countdown {
        Countdown {
            id: id.into(),
            kind,
            product_id: product.map(str::to_string),
            label: None,
            ends_at_ms: ends,
            set_at_ms: None,
            hold_seconds: None,
        }
    }

    #[test]
    fn frames_apply_in_order_and_old_ones_are_ignored() {
        let mut s = ShowState::default();
        s.apply(snapshot(10));
        assert_eq!(s.pinned_product().unwrap().available, 5);
        let stock = |seq, available| ServerMsg::Stock {
            seq,
            product_id: "a".into(),
            available,
            sold: 5 - available,
        };
        assert_eq!(s.apply(stock(12, 3)), Applied::Changed);
        assert_eq!(
            s.apply(stock(11, 4)),
            Applied::Nothing,
            "older than applied"
        );
        assert_eq!(s.pinned_product().unwrap().available, 3);
        s.apply(ServerMsg::Pin {
            seq: 13,
            product_id: Some("b".into()),
        });
        assert_eq!(s.pinned_product().unwrap().id, "b");
        assert_eq!(
            s.apply(ServerMsg::Sold {
                seq: 14,
                product_id: "b".into(),
                quantity: 1,
                buyer: Some("Ada".into()),
            }),
            Applied::Sold {
                product_id: "b".into(),
                quantity: 1,
                buyer: Some("Ada".into()),
            }
        );
        // A fresh snapshot (a resync) wins whatever came before.
        s.apply(snapshot(20));
        assert_eq!(s.pinned_product().unwrap().id, "a");
        assert_eq!(s.seq, 20);
    }

    #[test]
    fn a_drop_not_open_wins_over_a_sale_ending_and_past_ones_are_gone() {
        let mut s = ShowState::default();
        s.apply(snapshot(1));
        s.countdowns = vec![
            countdown("show-sale", CountdownKind::SaleEnds, None, 5_000),
            countdown("a-drop", CountdownKind::DropOpens, Some("a"), 2_000),
            countdown("b-drop", CountdownKind::DropOpens, Some("b"), 9_000),
        ];
        assert_eq!(s.countdown_for("a", 1_000).unwrap().id, "a-drop");
        assert_eq!(s.countdown_for("a", 2_000).unwrap().id, "show-sale");
        assert_eq!(s.countdown_for("a", 5_000), None);
        assert_eq!(s.countdown_for("b", 1_000).unwrap().id, "b-drop");
    }

    #[test]
    fn a_show_frame_moves_the_schedule_and_cover() {
        let mut s = ShowState::default();
        s.apply(snapshot(1));
        let moved = ServerMsg::Show {
            seq: 2,
            title: "Later".into(),
            scheduled_at_ms: Some(7_200_000),
            cover_url: Some("/images/c-640.jpg".into()),
        };
        assert_eq!(s.apply(moved), Applied::Changed);
        assert_eq!(
            (s.title.as_str(), s.scheduled_at_ms, s.cover_url.as_deref()),
            ("Later", Some(7_200_000), Some("/images/c-640.jpg"))
        );
        let cleared = ServerMsg::Show {
            seq: 3,
            title: "Later".into(),
            scheduled_at_ms: None,
            cover_url: None,
        };
        s.apply(cleared);
        assert_eq!((s.scheduled_at_ms, s.cover_url), (None, None));
    }

    #[test]
    fn the_bag_lists_the_pinned_product_first() {
        let mut s = ShowState::default();
        s.apply(snapshot(1));
        let ids = |s: &ShowState| s.bag().into_iter().map(|p| p.id).collect::<Vec<_>>();
        assert_eq!(ids(&s), ["a", "b"]);
        s.pinned = Some("b".into());
        assert_eq!(ids(&s), ["b", "a"]);
        s.pinned = None;
        assert_eq!(ids(&s), ["a", "b"]);
    }

    #[test]
    fn texts() {
        assert_eq!(stock_text(3), "3 left");
        assert_eq!(stock_text(1), "Last one!");
        assert_eq!(stock_text(0), "Sold out");
        assert_eq!(stock_text(-2), "Sold out");
        let levels: Vec<_> = [9, 6, 5, 2, 1, 0].map(StockLevel::of).into();
        use StockLevel::*;
        assert_eq!(levels, [Plenty, Plenty, Low, Low, Last, Out]);
        assert_eq!(
            sale_text(Some("Ada"), 1, "the runner"),
            "Ada just bought the runner"
        );
        assert_eq!(sale_text(None, 2, "Cap"), "Someone just bought 2 × Cap");
        assert_eq!(price_text(2500, "usd"), "$25.00");
        assert_eq!(price_text(905, "sek"), "9.05 SEK");
        let c = countdown("c", CountdownKind::DropOpens, None, 120_000);
        assert_eq!(countdown_text(&c, 0), "Drop opens in 2:00");
        assert_eq!(countdown_text(&c, 119_001), "Drop opens in 0:01");
        assert_eq!(countdown_text(&c, 200_000), "Drop opens in 0:00");
        // A clock estimate behind the server's never shows more than its length.
        let set = Countdown {
            set_at_ms: Some(60_000),
            ends_at_ms: 120_000,
            ..c.clone()
        };
        assert_eq!(countdown_text(&set, 59_990), "Drop opens in 1:00");
        assert_eq!(countdown_text(&set, 60_001), "Drop opens in 1:00");
        assert_eq!(countdown_text(&set, 61_000), "Drop opens in 0:59");
    }
}
