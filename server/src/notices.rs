//! Letters to buyers: what the order confirmation, the shipping notice and
//! the refund notice say, the signed link to the buyer's order page that
//! each carries, and the worker that sends what `mail_jobs` owes.
//!
//! ```text
//!  payment settled ─┐
//!  parcel shipped  ─┼─ same transaction ─▶ mail_jobs row (pending)
//!  refund landed   ─┘                            │ claimed by one worker (any node)
//!                                                ▼
//!                         drawn from the rows it names ─▶ mail::Mailer ─▶ SMTP
//!                                                │ refused for now: tried again later
//!                                                ▼
//!                                     sent / failed (never touches an order)
//! ```

use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha256;
use sqlx::AnyPool;

use crate::store::mail::{self as jobs, MailJob, MailKind, Outcome};
use crate::store::orders::OrderRow;
use crate::store::{self, outbox, shipments};

/// Signs and checks the links that open a buyer's order page without a
/// password. The key is shared by every node (the `secrets` table).
#[derive(Clone)]
pub struct OrderLinks {
    key: Vec<u8>,
    base: String,
}

impl OrderLinks {
    pub async fn load(pool: &AnyPool, public_base: &str) -> Result<OrderLinks, sqlx::Error> {
        let key = store::shared_secret(pool, "order_links").await?;
        Ok(OrderLinks {
            key: key.into_bytes(),
            base: public_base.to_string(),
        })
    }

    fn mac(&self, order_id: &str) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes any key");
        mac.update(b"dropcast order link\n");
        mac.update(order_id.as_bytes());
        mac
    }

    /// The signature of an order's link.
    pub fn sign(&self, order_id: &str) -> String {
        hex::encode(&self.mac(order_id).finalize().into_bytes()[..16])
    }

    /// Whether `sig` is the order's signature (compared in constant time).
    pub fn verify(&self, order_id: &str, sig: &str) -> bool {
        match hex::decode(sig) {
            Ok(bytes) if bytes.len() == 16 => {
                self.mac(order_id).verify_truncated_left(&bytes).is_ok()
            }
            _ => false,
        }
    }

    /// `{public}/order/{id}?k=SIG`: the buyer's order page.
    pub fn url(&self, order_id: &str) -> String {
        format!("{}/order/{order_id}?k={}", self.base, self.sign(order_id))
    }
}

/// Currencies whose minor unit is the unit itself (Stripe's zero-decimal list).
const ZERO_DECIMAL: &[&str] = &[
    "bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv",
    "xaf", "xof", "xpf",
];

/// "USD 138.00", "JPY 6500".
pub fn money(cents: i64, currency: &str) -> String {
    let code = currency.to_ascii_uppercase();
    if ZERO_DECIMAL.contains(&currency) {
        return format!("{code} {cents}");
    }
    let sign = if cents < 0 { "-" } else { "" };
    let c = cents.unsigned_abs();
    format!("{code} {sign}{}.{:02}", c / 100, c % 100)
}

/// An address as lines for a label.
fn address_lines(a: &wire::Address) -> Vec<String> {
    let mut lines = vec![a.name.clone(), a.line1.clone()];
    lines.extend(a.line2.clone());
    let mut town = a.city.clone();
    if let Some(region) = &a.region {
        town = format!("{town}, {region}");
    }
    if !a.postal_code.is_empty() {
        town = format!("{town} {}", a.postal_code);
    }
    lines.push(town);
    lines.push(
        celes::Country::from_alpha2(&a.country)
            .map(|c| c.long_name.to_string())
            .unwrap_or_else(|_| a.country.clone()),
    );
    lines
}

/// A letter's content before it is laid out: a heading, a greeting,
/// lines of items with amounts, blocks of text, the link.
struct Draft {
    to: String,
    reply_to: Option<String>,
    subject: String,
    heading: String,
    intro: String,
    /// (label, amount) rows.
    rows: Vec<(String, String)>,
    /// (title, lines) blocks: the address, the tracking.
    blocks: Vec<(String, Vec<String>)>,
    link: String,
    shop: String,
}

impl Draft {
    fn letter(self) -> ::mail::Letter {
        use ::mail::escape_html as e;
        let mut text = format!("{}\n\n{}\n\n", self.heading, self.intro);
        for (label, amount) in &self.rows {
            text.push_str(&format!("  {label:<48} {amount}\n"));
        }
        for (title, lines) in &self.blocks {
            text.push_str(&format!("\n{title}:\n"));
            for line in lines {
                text.push_str(&format!("  {line}\n"));
            }
        }
        text.push_str(&format!(
            "\nYour order, any time: {}\n\nReply to this email to reach {}.\n",
            self.link, self.shop
        ));
        let mut html = format!(
            "<!doctype html><html><body style=\"font-family:system-ui,sans-serif;color:#111\">\
             <h1 style=\"font-size:20px\">{}</h1><p>{}</p>\
             <table style=\"border-collapse:collapse\">",
            e(&self.heading),
            e(&self.intro)
        );
        for (label, amount) in &self.rows {
            html.push_str(&format!(
                "<tr><td style=\"padding:2px 16px 2px 0\">{}</td><td style=\"text-align:right\">{}</td></tr>",
                e(label),
                e(amount)
            ));
        }
        html.push_str("</table>");
        for (title, lines) in &self.blocks {
            html.push_str(&format!(
                "<h2 style=\"font-size:15px\">{}</h2><p>",
                e(title)
            ));
            html.push_str(&lines.iter().map(|l| e(l)).collect::<Vec<_>>().join("<br>"));
            html.push_str("</p>");
        }
        html.push_str(&format!(
            "<p><a href=\"{}\">See your order</a></p><p style=\"color:#555\">Reply to this email to reach {}.</p></body></html>",
            e(&self.link),
            e(&self.shop)
        ));
        ::mail::Letter {
            list_unsubscribe: None,
            to: self.to,
            reply_to: self.reply_to,
            subject: self.subject,
            text,
            html,
        }
    }
}

/// Who sells: the creator's name and reply-to address, and the show.
struct Shop {
    name: String,
    email: Option<String>,
    show_title: String,
}

async fn shop_of(pool: &AnyPool, show_id: &str) -> Result<Option<Shop>, sqlx::Error> {
    let Some(show) = store::get_show(pool, show_id).await? else {
        return Ok(None);
    };
    let creator = store::get_creator(pool, &show.creator_id).await?;
    Ok(Some(Shop {
        name: creator
            .as_ref()
            .map_or_else(|| "the shop".into(), |c| c.name.clone()),
        email: creator.and_then(|c| c.email),
        show_title: show.title,
    }))
}

async fn item_row(pool: &AnyPool, o: &OrderRow) -> Result<(String, String), sqlx::Error> {
    let product = store::get_product(pool, &o.show_id, &o.product_id).await?;
    let title = product.map_or_else(
        || o.product_id.clone(),
        |p| format!("{} ({})", p.title, p.sku),
    );
    Ok((
        format!("{} × {title}", o.quantity),
        money(o.items_cents(), &o.currency),
    ))
}

/// Draws the letter a job owes from the rows it names; `None` if there is
/// nothing to tell (the rows are gone, or the order has no email).
pub async fn draw(
    pool: &AnyPool,
    links: &OrderLinks,
    job: &MailJob,
) -> Result<Option<::mail::Letter>, sqlx::Error> {
    Ok(match job.kind {
        MailKind::OrderPaid => order_paid(pool, links, &job.subject_id).await?,
        MailKind::Shipped => shipped(pool, links, &job.subject_id).await?,
        MailKind::Refunded => refunded(pool, links, &job.subject_id).await?,
    }
    .map(Draft::letter))
}

async fn order_paid(
    pool: &AnyPool,
    links: &OrderLinks,
    order_id: &str,
) -> Result<Option<Draft>, sqlx::Error> {
    let Some(o) = store::orders::get_order(pool, order_id).await? else {
        return Ok(None);
    };
    let (Some(to), Some(shop)) = (o.buyer_email.clone(), shop_of(pool, &o.show_id).await?) else {
        return Ok(None);
    };
    let mut rows = vec![item_row(pool, &o).await?];
    if o.shipping_cents > 0 || o.shipping_json.is_some() {
        rows.push(("Shipping".into(), money(o.shipping_cents, &o.currency)));
    }
    rows.push(("Total charged".into(), money(o.amount_cents, &o.currency)));
    let mut blocks = Vec::new();
    if let Some(a) = o.shipping() {
        blocks.push(("Ships to".to_string(), address_lines(&a)));
    }
    blocks.push(("Order number".to_string(), vec![o.id.clone()]));
    Ok(Some(Draft {
        to,
        reply_to: shop.email.clone(),
        subject: format!("Your order {} from {}", o.id, shop.name),
        heading: format!("Thanks for your order from {}", shop.name),
        intro: format!(
            "You bought this during \u{201c}{}\u{201d}. Here is your receipt.",
            shop.show_title
        ),
        rows,
        blocks,
        link: links.url(&o.id),
        shop: shop.name,
    }))
}

async fn shipped(
    pool: &AnyPool,
    links: &OrderLinks,
    shipment_id: &str,
) -> Result<Option<Draft>, sqlx::Error> {
    let Some(s) = shipments::get(pool, shipment_id).await? else {
        return Ok(None);
    };
    let Some(shop) = shop_of(pool, &s.show_id).await? else {
        return Ok(None);
    };
    let orders = shipments::paid_orders(pool, &s.id).await?;
    let Some(first) = orders.first() else {
        return Ok(None);
    };
    let mut rows = Vec::new();
    for o in &orders {
        rows.push(item_row(pool, o).await?);
    }
    let carrier = s.carrier.clone().unwrap_or_default();
    let tracking = s.tracking.clone().unwrap_or_default();
    let mut blocks = vec![(
        "Tracking".to_string(),
        vec![format!("{carrier}: {tracking}")],
    )];
    if let Some(a) = s.shipping() {
        blocks.push(("Ships to".to_string(), address_lines(&a)));
    }
    let numbers: Vec<String> = orders.iter().map(|o| o.id.clone()).collect();
    blocks.push(("Order numbers".to_string(), numbers));
    Ok(Some(Draft {
        to: s.email.clone(),
        reply_to: shop.email.clone(),
        subject: format!(
            "Your order from {} has shipped ({carrier} {tracking})",
            shop.name
        ),
        heading: format!("Your parcel from {} is on its way", shop.name),
        intro: format!("It left with {carrier}; the tracking number is {tracking}."),
        rows,
        blocks,
        link: links.url(&first.id),
        shop: shop.name,
    }))
}

async fn refunded(
    pool: &AnyPool,
    links: &OrderLinks,
    job_id: &str,
) -> Result<Option<Draft>, sqlx::Error> {
    let Some(job) = outbox::get_job(pool, job_id).await? else {
        return Ok(None);
    };
    let Some(o) = store::orders::get_order(pool, &job.order_id).await? else {
        return Ok(None);
    };
    let (Some(to), Some(shop)) = (o.buyer_email.clone(), shop_of(pool, &o.show_id).await?) else {
        return Ok(None);
    };
    let amount = job.amount_cents.unwrap_or(o.amount_cents);
    let why = match job.reason {
        outbox::RefundReason::Cancel => "Your order was cancelled and refunded.",
        outbox::RefundReason::Unfilled => {
            "Your payment arrived after the last unit had gone, so it was refunded in full."
        }
        outbox::RefundReason::Partial => "Part of your order's payment was refunded.",
        outbox::RefundReason::Creator => "Your order was refunded.",
    };
    let rows = vec![
        item_row(pool, &o).await?,
        ("Charged".into(), money(o.amount_cents, &o.currency)),
        ("Refunded now".into(), money(amount, &o.currency)),
    ];
    Ok(Some(Draft {
        to,
        reply_to: shop.email.clone(),
        subject: format!(
            "Refund of {} for your order {} from {}",
            money(amount, &o.currency),
            o.id,
            shop.name
        ),
        heading: format!("{} refunded you {}", shop.name, money(amount, &o.currency)),
        intro: format!(
            "{why} It goes back to the card you paid with; banks take a few days to show it."
        ),
        rows,
        blocks: vec![("Order number".to_string(), vec![o.id.clone()])],
        link: links.url(&o.id),
        shop: shop.name,
    }))
}

/// The wait before attempt `attempts + 1`: 1 s doubling to 30 s.
fn backoff_ms(attempts: i64) -> i64 {
    (1_000i64 << attempts.clamp(1, 6).saturating_sub(1)).min(30_000)
}

/// How long a letter is tried before it is given up.
const GIVE_UP_AFTER_MS: i64 = 2 * 24 * 3600 * 1000;

/// Sends what `mail_jobs` owes: every second, claims due letters (those no
/// other worker holds) and tries each once. Without a mailer each is
/// logged with where it would have gone and marked `unsent`.
pub async fn run_mail(
    pool: AnyPool,
    mailer: Option<::mail::Mailer>,
    links: OrderLinks,
    claimer: String,
    shutdown: tokio_util::sync::CancellationToken,
) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {
                let jobs = match jobs::claim_due(&pool, &claimer, 20).await {
                    Ok(jobs) => jobs,
                    Err(e) => {
                        tracing::warn!(error = %e, "mail claim failed");
                        continue;
                    }
                };
                for job in jobs {
                    if let Err(e) = send_one(&pool, mailer.as_ref(), &links, &job).await {
                        tracing::warn!(mail = %job.id, error = %e, "mail outcome not recorded; its claim will lapse");
                    }
                }
            }
        }
    }
}

async fn send_one(
    pool: &AnyPool,
    mailer: Option<&::mail::Mailer>,
    links: &OrderLinks,
    job: &MailJob,
) -> Result<(), sqlx::Error> {
    let Some(letter) = draw(pool, links, job).await? else {
        return jobs::finish(
            pool,
            &job.id,
            Outcome::Failed {
                error: "nothing to tell: its rows are gone",
            },
        )
        .await;
    };
    let Some(mailer) = mailer else {
        tracing::info!(mail = %job.id, kind = job.kind.as_str(), to = %letter.to, subject = %letter.subject,
            "mail not sent (DROPCAST_SMTP_URL is not set); it would have gone to this address");
        return jobs::finish(pool, &job.id, Outcome::Unsent { to: &letter.to }).await;
    };
    match mailer.send(&letter).await {
        Ok(()) => {
            tracing::info!(mail = %job.id, kind = job.kind.as_str(), attempts = job.attempts, "mail sent");
            jobs::finish(pool, &job.id, Outcome::Sent { to: &letter.to }).await
        }
        Err(::mail::SendError::Permanent(e)) => {
            tracing::warn!(mail = %job.id, error = %e, "mail refused for good");
            jobs::finish(pool, &job.id, Outcome::Failed { error: &e }).await
        }
        Err(::mail::SendError::Transient(e)) => {
            let now = crate::now_ms();
            if now - job.created_at_ms > GIVE_UP_AFTER_MS {
                tracing::warn!(mail = %job.id, error = %e, "mail given up after two days");
                return jobs::finish(pool, &job.id, Outcome::Failed { error: &e }).await;
            }
            tracing::info!(mail = %job.id, error = %e, attempts = job.attempts, "mail not sent yet; trying again");
            jobs::finish(
                pool,
                &job.id,
                Outcome::Retry {
                    error: &e,
                    next_at_ms: now + backoff_ms(job.attempts),
                },
            )
            .await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_reads_like_a_receipt() {
        assert_eq!(money(13_800, "usd"), "USD 138.00");
        assert_eq!(money(5, "eur"), "EUR 0.05");
        assert_eq!(money(6_500, "jpy"), "JPY 6500");
    }

    #[test]
    fn links_verify_only_their_own_order() {
        let links = OrderLinks {
            key: b"k".to_vec(),
            base: "http://x".into(),
        };
        let sig = links.sign("ord_1");
        assert!(links.verify("ord_1", &sig));
        assert!(!links.verify("ord_2", &sig));
        assert!(!links.verify("ord_1", "00"));
        assert!(!links.verify("ord_1", "not hex"));
        assert_eq!(links.url("ord_1"), format!("http://x/order/ord_1?k={sig}"));
    }

    #[test]
    fn backoff_doubles_to_thirty_seconds() {
        assert_eq!(backoff_ms(1), 1_000);
        assert_eq!(backoff_ms(2), 2_000);
        assert_eq!(backoff_ms(10), 30_000);
    }

    #[test]
    fn letters_escape_what_buyers_and_creators_typed() {
        let d = Draft {
            to: "a@b.c".into(),
            reply_to: None,
            subject: "s".into(),
            heading: "Thanks from <Shop>".into(),
            intro: "i".into(),
            rows: vec![("1 × <script>".into(), "USD 1.00".into())],
            blocks: vec![],
            link: "http://x/order/o?k=1&a=2".into(),
            shop: "<Shop>".into(),
        };
        let l = d.letter();
        assert!(l.html.contains("&lt;script&gt;") && !l.html.contains("<script>"));
        assert!(l.html.contains("k=1&amp;a=2"));
        assert!(l.text.contains("1 × <script>"));
    }
}
