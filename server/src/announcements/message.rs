//! What announcements say: a notice worded when it goes out (the stock and
//! time left then, not when it was scheduled), and each message drawn from
//! it for its channel — the Web Push payload the service worker shows, or
//! the letter with its one-click unsubscribe.

use sqlx::AnyPool;

use super::links::AnnounceLinks;
use crate::domain::announce::NoticeKind;
use crate::notices::money;
use crate::store::{self, announcements as rows};

/// "2:00", "0:45".
fn clock(ms: i64) -> String {
    let s = (ms.max(0) + 999) / 1000;
    format!("{}:{:02}", s / 60, s % 60)
}

/// "12 available", "the last one", "sold out".
fn left(available: i64) -> String {
    match available {
        n if n <= 0 => "sold out".into(),
        1 => "the last one".into(),
        n => format!("{n} available"),
    }
}

/// The one line a notice says when it goes out; `None` if there is
/// nothing to say any more (its show is gone).
pub async fn word(pool: &AnyPool, notice: &rows::NoticeRow) -> Result<Option<String>, sqlx::Error> {
    let Some(show) = store::get_show(pool, &notice.show_id).await? else {
        return Ok(None);
    };
    let product = match &notice.product_id {
        Some(p) => store::get_product(pool, &notice.show_id, p).await?,
        None => None,
    };
    Ok(Some(match notice.kind {
        NoticeKind::Manual => notice.text.clone(),
        NoticeKind::Live => format!("{} is live now: tap to watch and shop", show.title),
        NoticeKind::DropSoon => {
            let ends = match rows::countdown_of(&notice.dedupe_key) {
                Some(cd) => store::countdowns_of_show(pool, &show.id)
                    .await?
                    .into_iter()
                    .find(|c| c.id == cd)
                    .map(|c| c.ends_at_ms),
                None => None,
            };
            let when = ends.map_or_else(
                || "soon".to_string(),
                |e| format!("in {}", clock(e - crate::now_ms())),
            );
            match product {
                Some(p) => format!(
                    "{} drops {when}: {}, {}",
                    p.title,
                    money(p.price_cents, &p.currency),
                    left(p.available)
                ),
                None => format!("The drop opens {when} on {}", show.title),
            }
        }
        NoticeKind::Restock => match product {
            Some(p) => format!(
                "{} is back: {}, first come first served",
                p.title,
                left(p.available)
            ),
            None => format!("Back in stock on {}", show.title),
        },
    }))
}

/// The Web Push payload the service worker shows (JSON, well under the
/// 3993-byte limit: the text is one line of at most a few hundred).
pub fn push_payload(
    links: &AnnounceLinks,
    show_title: &str,
    delivery: &rows::DueDelivery,
    text: &str,
) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "title": show_title,
        "body": text,
        "url": links.track_url(&delivery.id),
        "unsubscribe": links.unsubscribe_url(&delivery.unsubscribe_token),
        "tag": delivery.notice_id,
        "kind": delivery.kind,
    }))
    .expect("a JSON object serialises")
}

/// Who announces: the show's title, the creator's name and reply-to.
pub struct Sender {
    pub show_title: String,
    pub shop: String,
    pub reply_to: Option<String>,
}

pub async fn sender(pool: &AnyPool, show_id: &str) -> Result<Option<Sender>, sqlx::Error> {
    let Some(show) = store::get_show(pool, show_id).await? else {
        return Ok(None);
    };
    let creator = store::get_creator(pool, &show.creator_id).await?;
    Ok(Some(Sender {
        show_title: show.title,
        shop: creator
            .as_ref()
            .map_or_else(|| "the shop".into(), |c| c.name.clone()),
        reply_to: creator.and_then(|c| c.email),
    }))
}

/// A notice's letter: the line, the tracking link, why they get it and how
/// to stop, with `List-Unsubscribe` for the mail client's own button.
pub fn notice_letter(
    links: &AnnounceLinks,
    from: &Sender,
    to: &str,
    delivery: &rows::DueDelivery,
    text: &str,
) -> mail::Letter {
    use mail::escape_html as e;
    let track = links.track_url(&delivery.id);
    let unsubscribe = links.unsubscribe_url(&delivery.unsubscribe_token);
    let why = format!(
        "You asked {} to tell you about \u{201c}{}\u{201d}.",
        from.shop, from.show_title
    );
    mail::Letter {
        to: to.to_string(),
        reply_to: from.reply_to.clone(),
        subject: text.to_string(),
        text: format!(
            "{text}\n\nWatch and shop: {track}\n\n{why}\nStop these emails: {unsubscribe}\n"
        ),
        html: format!(
            "<!doctype html><html><body style=\"font-family:system-ui,sans-serif;color:#111\">\
             <h1 style=\"font-size:20px\">{}</h1>\
             <p><a href=\"{}\" style=\"display:inline-block;padding:10px 18px;background:#111;color:#fff;\
             border-radius:8px;text-decoration:none\">Watch and shop</a></p>\
             <p style=\"color:#555\">{} <a href=\"{}\">Stop these emails</a>.</p></body></html>",
            e(text),
            e(&track),
            e(&why),
            e(&unsubscribe)
        ),
        list_unsubscribe: Some(unsubscribe),
    }
}

/// The double opt-in letter: nothing else goes to the address until its
/// link is followed.
pub fn confirmation_letter(
    links: &AnnounceLinks,
    from: &Sender,
    to: &str,
    delivery: &rows::DueDelivery,
    product_title: Option<&str>,
) -> mail::Letter {
    use mail::escape_html as e;
    let confirm = links.confirm_url(&delivery.subscription_id);
    let unsubscribe = links.unsubscribe_url(&delivery.unsubscribe_token);
    let what = match product_title {
        Some(p) => format!(
            "when {p} is back in stock on \u{201c}{}\u{201d}",
            from.show_title
        ),
        None => format!(
            "when \u{201c}{}\u{201d} goes live and before its drops",
            from.show_title
        ),
    };
    let ask = format!(
        "Someone (we hope you) asked {} to email this address {what}.",
        from.shop
    );
    mail::Letter {
        to: to.to_string(),
        reply_to: from.reply_to.clone(),
        subject: format!("Confirm: {} will email you", from.shop),
        text: format!(
            "{ask}\n\nConfirm: {confirm}\n\nIf it was not you, ignore this letter: nothing more will be sent.\n"
        ),
        html: format!(
            "<!doctype html><html><body style=\"font-family:system-ui,sans-serif;color:#111\">\
             <p>{}</p><p><a href=\"{}\">Yes, email me</a></p>\
             <p style=\"color:#555\">If it was not you, ignore this letter: nothing more will be sent.</p>\
             </body></html>",
            e(&ask),
            e(&confirm)
        ),
        list_unsubscribe: Some(unsubscribe),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn clocks_and_stock_words() {
        assert_eq!(super::clock(120_000), "2:00");
        assert_eq!(super::clock(44_001), "0:45");
        assert_eq!(super::clock(-5), "0:00");
        assert_eq!(super::left(0), "sold out");
        assert_eq!(super::left(1), "the last one");
        assert_eq!(super::left(12), "12 available");
    }
}
