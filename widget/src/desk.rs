//! The studio's arithmetic and wording, apart from the browser so it is
//! tested on the host: prices typed by a person, the clip desk's timeline
//! (positions, the in/out selection, which thumbnails to draw), the sales
//! chart's bars and the words for timeline events.

use wire::{CountdownKind, Product, TimelineEvent, TimelineKind};

/// The longest clip the server cuts.
pub const MAX_CLIP_MS: i64 = 60_000;

/// "12", "12.5", "12.50", "$1,299.00" → cents. At most two decimals, more
/// than zero, and below a million.
pub fn parse_price(text: &str) -> Result<i64, String> {
    let cleaned: String = text
        .trim()
        .trim_start_matches(['$', '€', '£'])
        .chars()
        .filter(|c| *c != ',' && *c != ' ')
        .collect();
    let bad = || format!("“{}” is not a price like 12.50", text.trim());
    let (whole, frac) = match cleaned.split_once('.') {
        Some((w, f)) => (w, f),
        None => (cleaned.as_str(), ""),
    };
    if whole.is_empty() && frac.is_empty()
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
        || frac.len() > 2
        || whole.len() > 6
    {
        return Err(bad());
    }
    let whole: i64 = if whole.is_empty() {
        0
    } else {
        whole.parse().map_err(|_| bad())?
    };
    let frac: i64 = match frac.len() {
        0 => 0,
        1 => frac.parse::<i64>().map_err(|_| bad())? * 10,
        _ => frac.parse().map_err(|_| bad())?,
    };
    let cents = whole * 100 + frac;
    if cents <= 0 {
        return Err("the price must be more than zero".into());
    }
    Ok(cents)
}

/// Cents back into what a person types: 1250 → "12.50".
pub fn price_input(cents: i64) -> String {
    format!("{}.{:02}", cents / 100, cents % 100)
}

/// A span of time as "m:ss" (or "h:mm:ss"), rounded down to the second.
pub fn duration_text(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

/// Where `at` sits between `start` and `end`, from 0.0 to 1.0.
pub fn fraction(at: i64, start: i64, end: i64) -> f64 {
    if end <= start {
        return 1.0;
    }
    ((at - start) as f64 / (end - start) as f64).clamp(0.0, 1.0)
}

/// The in/out selection kept inside the buffer `[start, end]`, `out` not
/// before `in`.
pub fn clamp_selection(start: i64, end: i64, inp: i64, out: i64) -> (i64, i64) {
    let inp = inp.clamp(start, end);
    let out = out.clamp(inp, end);
    (inp, out)
}

/// What is wrong with the selection, if anything.
pub fn selection_problem(inp: i64, out: i64) -> Option<String> {
    if out - inp < 1000 {
        Some("Pick at least a second: move Out after In.".into())
    } else if out - inp > MAX_CLIP_MS {
        Some(format!(
            "A clip is at most 1:00; this selection is {}.",
            duration_text(out - inp)
        ))
    } else {
        None
    }
}

/// Up to `want` indices of `total` thumbnails, spread evenly, first and last
/// included: the strip shows a handful, not one per segment.
pub fn thumbnail_picks(total: usize, want: usize) -> Vec<usize> {
    if total == 0 || want == 0 {
        return Vec::new();
    }
    if total <= want {
        return (0..total).collect();
    }
    if want == 1 {
        return vec![total - 1];
    }
    (0..want)
        .map(|i| i * (total - 1) / (want - 1))
        .collect::<Vec<_>>()
}

fn title_of(products: &[Product], id: &str) -> String {
    products
        .iter()
        .find(|p| p.id == id)
        .map(|p| p.title.clone())
        .unwrap_or_else(|| "a product".into())
}

/// A timeline event in words: "Pinned Mug", "Sold 2 × Mug".
pub fn event_text(event: &TimelineEvent, products: &[Product]) -> String {
    match &event.event {
        TimelineKind::Pin {
            product_id: Some(id),
        } => format!("Pinned {}", title_of(products, id)),
        TimelineKind::Pin { product_id: None } => "Unpinned".into(),
        TimelineKind::Countdown { countdown } => {
            let what = match countdown.kind {
                CountdownKind::DropOpens => "Drop countdown",
                CountdownKind::SaleEnds => "Sale-ends countdown",
            };
            match &countdown.product_id {
                Some(id) => format!("{what} for {}", title_of(products, id)),
                None => what.to_string(),
            }
        }
        TimelineKind::CountdownRemoved { .. } => "Countdown cancelled".into(),
        TimelineKind::Stock {
            product_id,
            available,
            ..
        } => format!("{}: {available} left", title_of(products, product_id)),
        TimelineKind::Sold {
            product_id,
            quantity,
        } => format!("Sold {quantity} × {}", title_of(products, product_id)),
        TimelineKind::Live { live: true } => "Stream started".into(),
        TimelineKind::Live { live: false } => "Stream stopped".into(),
    }
}

/// A short tag for styling an event's marker.
pub fn event_class(event: &TimelineEvent) -> &'static str {
    match event.event {
        TimelineKind::Pin { .. } => "pin",
        TimelineKind::Countdown { .. } | TimelineKind::CountdownRemoved { .. } => "countdown",
        TimelineKind::Stock { .. } => "stock",
        TimelineKind::Sold { .. } => "sold",
        TimelineKind::Live { .. } => "live",
    }
}

/// One bar of the sales chart, in the chart's own units.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bar {
    pub x: f64,
    pub y: f64,
    pub width: f64,
    pub height: f64,
}

/// Bars for `values` in a `width` x `height` box, the tallest reaching the
/// top, a gap between bars; zero is no bar at all.
pub fn bars(values: &[i64], width: f64, height: f64) -> Vec<Bar> {
    let max = values.iter().copied().max().unwrap_or(0).max(1) as f64;
    let step = width / values.len().max(1) as f64;
    values
        .iter()
        .enumerate()
        .filter(|(_, v)| **v > 0)
        .map(|(i, v)| {
            let h = (*v as f64 / max * height).max(1.0);
            Bar {
                x: i as f64 * step + step * 0.1,
                y: height - h,
                width: step * 0.8,
                height: h,
            }
        })
        .collect()
}

/// "812 kB", "4.2 MB".
pub fn bytes_text(bytes: i64) -> String {
    if bytes >= 1_000_000 {
        format!("{:.1} MB", bytes as f64 / 1e6)
    } else {
        format!("{} kB", (bytes + 999) / 1000)
    }
}

/// How much earlier than asked a clip begins: a clip starts on the keyframe
/// at or before the in-point (a cut that is not re-encoded must; a vertical
/// short does too, from the same segments). None when it
/// starts where asked (or the clip predates the asked start being kept).
pub fn snap_text(start_ms: i64, asked_start_ms: Option<i64>) -> Option<String> {
    let early = asked_start_ms? - start_ms;
    // Tenths of a second, half up.
    let tenths = (early + 50) / 100;
    (early >= 50).then(|| {
        format!(
            "Starts {}.{} s before your in-point, at the keyframe there: clips start on one.",
            tenths / 10,
            tenths % 10
        )
    })
}

/// A refund still owed to a buyer (the stats' `owed`), in words.
pub fn owed_text(owed: &serde_json::Value) -> String {
    let amount = crate::state::price_text(
        owed["amount_cents"].as_i64().unwrap_or(0),
        owed["currency"].as_str().unwrap_or("usd"),
    );
    let why = match owed["reason"].as_str() {
        Some("unfilled") => " (paid after the item sold out)",
        _ => "",
    };
    match owed["status"].as_str() {
        Some("failed") => format!(
            "Refund of {amount}{why}: Stripe refused it ({}). Settle it in Stripe's dashboard.",
            owed["last_error"].as_str().unwrap_or("no reason given")
        ),
        _ => {
            let tries = owed["attempts"].as_i64().unwrap_or(0);
            format!(
                "Refund of {amount}{why}: waiting for Stripe ({tries} {}); it will go through once Stripe answers.",
                if tries == 1 { "try" } else { "tries" }
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clip_says_how_far_its_start_moved() {
        assert_eq!(
            snap_text(10_000, Some(11_400)).as_deref(),
            Some("Starts 1.4 s before your in-point, at the keyframe there: clips start on one.")
        );
        assert_eq!(
            snap_text(0, Some(1_250)).as_deref(),
            Some("Starts 1.3 s before your in-point, at the keyframe there: clips start on one.")
        );
        assert_eq!(snap_text(10_000, Some(10_020)), None);
        assert_eq!(snap_text(10_000, None), None);
    }

    #[test]
    fn prices_parse_as_people_type_them() {
        assert_eq!(parse_price("12"), Ok(1200));
        assert_eq!(parse_price("12.5"), Ok(1250));
        assert_eq!(parse_price(" $1,299.09 "), Ok(129_909));
        assert_eq!(parse_price(".99"), Ok(99));
        for bad in [
            "", "0", "0.00", "12.345", "abc", "-3", "1e3", "1234567", ".",
        ] {
            assert!(parse_price(bad).is_err(), "{bad}");
        }
        assert_eq!(price_input(1250), "12.50");
        assert_eq!(parse_price(&price_input(705)), Ok(705));
    }

    #[test]
    fn durations_read_like_clocks() {
        assert_eq!(duration_text(0), "0:00");
        assert_eq!(duration_text(59_999), "0:59");
        assert_eq!(duration_text(60_000), "1:00");
        assert_eq!(duration_text(3_723_000), "1:02:03");
        assert_eq!(duration_text(-5), "0:00");
    }

    #[test]
    fn the_selection_stays_in_the_buffer_and_under_a_minute() {
        assert_eq!(clamp_selection(1000, 9000, 500, 20_000), (1000, 9000));
        assert_eq!(clamp_selection(1000, 9000, 5000, 2000), (5000, 5000));
        assert!(selection_problem(0, 60_000).is_none());
        assert!(selection_problem(0, 60_001).unwrap().contains("1:00"));
        assert!(selection_problem(5000, 5000).is_some());
        assert_eq!(fraction(5, 0, 10), 0.5);
        assert_eq!(fraction(-5, 0, 10), 0.0);
        assert_eq!(fraction(5, 10, 10), 1.0);
    }

    #[test]
    fn thumbnails_are_spread_with_both_ends() {
        assert_eq!(thumbnail_picks(0, 8), Vec::<usize>::new());
        assert_eq!(thumbnail_picks(3, 8), vec![0, 1, 2]);
        assert_eq!(thumbnail_picks(300, 4), vec![0, 99, 199, 299]);
        assert_eq!(thumbnail_picks(300, 1), vec![299]);
    }

    #[test]
    fn events_read_in_words() {
        let products = vec![Product {
            id: "p".into(),
            sku: "S".into(),
            title: "Mug".into(),
            price_cents: 100,
            currency: "usd".into(),
            available: 1,
            sold: 0,
            max_per_buyer: None,
            image_url: None,
            thumb_url: None,
            fulfilment: wire::Fulfilment::Shipping,
            shipping_cents: 0,
            archived: false,
        }];
        let at = |event| TimelineEvent { at_ms: 0, event };
        assert_eq!(
            event_text(
                &at(TimelineKind::Sold {
                    product_id: "p".into(),
                    quantity: 2
                }),
                &products
            ),
            "Sold 2 × Mug"
        );
        assert_eq!(
            event_text(
                &at(TimelineKind::Pin {
                    product_id: Some("gone".into())
                }),
                &products
            ),
            "Pinned a product"
        );
    }

    #[test]
    fn bars_scale_to_the_tallest() {
        let b = bars(&[0, 2, 4], 30.0, 10.0);
        assert_eq!(b.len(), 2);
        assert_eq!(b[1].height, 10.0);
        assert_eq!(b[0].height, 5.0);
        assert_eq!(b[0].y, 5.0);
        assert!((b[0].x - 11.0).abs() < 1e-9);
        assert!(bars(&[0, 0], 10.0, 10.0).is_empty());
        assert_eq!(bytes_text(812_001), "813 kB");
        assert_eq!(bytes_text(4_200_000), "4.2 MB");
    }

    #[test]
    fn owed_refunds_read_as_what_happens_next() {
        let pending = serde_json::json!({"amount_cents": 4900, "currency": "usd", "reason": "creator",
            "status": "pending", "attempts": 3});
        assert_eq!(
            owed_text(&pending),
            "Refund of $49.00: waiting for Stripe (3 tries); it will go through once Stripe answers."
        );
        let failed = serde_json::json!({"amount_cents": 500, "currency": "usd", "reason": "unfilled",
            "status": "failed", "last_error": "charge_already_refunded"});
        assert!(
            owed_text(&failed)
                .starts_with("Refund of $5.00 (paid after the item sold out): Stripe refused it")
        );
    }
}
