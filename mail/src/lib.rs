//! Dropcast's mail: a [`Letter`] (plain text with an HTML alternative) sent
//! through a real SMTP server by [`Mailer`], on lettre.
//!
//! The server decides what to say and when (it queues letters in its
//! database and retries them); this crate only knows how to say it: it
//! builds the MIME message, escapes what goes into HTML ([`escape_html`]),
//! and sorts what the SMTP server answered into [`SendError`] — worth
//! trying again, or refused for good.
//!
//! `DROPCAST_SMTP_URL` is `smtp://user:pass@host:port` (STARTTLS when the
//! server offers it, plain otherwise; `?tls=required` insists on it) or
//! `smtps://…` (TLS from the first byte).

use std::time::Duration;

use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

/// One letter to one buyer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Letter {
    pub to: String,
    /// The creator's address, so a buyer's answer reaches the shop.
    pub reply_to: Option<String>,
    pub subject: String,
    pub text: String,
    /// Already escaped by its author ([`escape_html`]).
    pub html: String,
    /// An HTTPS link that unsubscribes the recipient in one POST (RFC
    /// 8058): sent as `List-Unsubscribe` with `List-Unsubscribe-Post:
    /// List-Unsubscribe=One-Click`, so a mail client can offer it. Letters
    /// someone asked for (announcements) carry it; receipts do not.
    pub list_unsubscribe: Option<String>,
}

/// Why a mailer could not be made from its settings.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("DROPCAST_SMTP_URL is not a URL: {0}")]
    Url(String),
    #[error("DROPCAST_SMTP_URL: {0}")]
    Smtp(String),
    #[error("DROPCAST_MAIL_FROM is not a mailbox ({0})")]
    From(String),
}

/// What sending a letter came to, when it was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// The server could not be reached, timed out, or answered 4xx: try later.
    #[error("not sent yet: {0}")]
    Transient(String),
    /// The server refused it for good (5xx), or the letter cannot be built
    /// (a recipient that is not an address): trying again will not help.
    #[error("refused: {0}")]
    Permanent(String),
}

/// Sends letters through one SMTP server (a small pool of connections).
#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    /// `host:port`, for the log (never the password).
    pub server: String,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer")
            .field("server", &self.server)
            .field("from", &self.from.to_string())
            .finish_non_exhaustive()
    }
}

/// `smtp://` without a `tls` parameter means STARTTLS when offered.
fn with_default_tls(url: &str) -> Result<(String, String), ConfigError> {
    let mut parsed = url::Url::parse(url).map_err(|e| ConfigError::Url(e.to_string()))?;
    let server = format!(
        "{}:{}",
        parsed.host_str().unwrap_or("?"),
        parsed
            .port()
            .map_or_else(|| "default".to_string(), |p| p.to_string())
    );
    if parsed.scheme() == "smtp" && !parsed.query_pairs().any(|(k, _)| k == "tls") {
        parsed.query_pairs_mut().append_pair("tls", "opportunistic");
    }
    Ok((parsed.to_string(), server))
}

impl Mailer {
    /// A mailer for `smtp_url`, sending as `from` (`Name <addr>` or `addr`).
    pub fn new(smtp_url: &str, from: &str) -> Result<Mailer, ConfigError> {
        let (url, server) = with_default_tls(smtp_url)?;
        let from: Mailbox = from
            .parse()
            .map_err(|e: lettre::address::AddressError| ConfigError::From(e.to_string()))?;
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(&url)
            .map_err(|e| ConfigError::Smtp(e.to_string()))?
            .timeout(Some(Duration::from_secs(15)))
            .build();
        Ok(Mailer {
            transport,
            from,
            server,
        })
    }

    /// Builds the MIME message of a letter (plain text first, HTML as the
    /// alternative), without sending it.
    pub fn message(&self, letter: &Letter) -> Result<Message, SendError> {
        let to: Mailbox = letter
            .to
            .parse()
            .map_err(|e| SendError::Permanent(format!("recipient {:?}: {e}", letter.to)))?;
        let mut builder = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(letter.subject.clone());
        if let Some(reply_to) = &letter.reply_to
            && let Ok(reply_to) = reply_to.parse::<Mailbox>()
        {
            builder = builder.reply_to(reply_to);
        }
        if let Some(url) = &letter.list_unsubscribe {
            if url.contains(['<', '>', '\r', '\n']) {
                return Err(SendError::Permanent(format!("unsubscribe link {url:?}")));
            }
            builder = builder
                .raw_header(HeaderValue::new(
                    HeaderName::new_from_ascii_str("List-Unsubscribe"),
                    format!("<{url}>"),
                ))
                .raw_header(HeaderValue::new(
                    HeaderName::new_from_ascii_str("List-Unsubscribe-Post"),
                    "List-Unsubscribe=One-Click".to_string(),
                ));
        }
        builder
            .multipart(MultiPart::alternative_plain_html(
                letter.text.clone(),
                letter.html.clone(),
            ))
            .map_err(|e| SendError::Permanent(format!("letter: {e}")))
    }

    /// Hands the letter to the SMTP server.
    pub async fn send(&self, letter: &Letter) -> Result<(), SendError> {
        let message = self.message(letter)?;
        match self.transport.send(message).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_permanent() => Err(SendError::Permanent(e.to_string())),
            Err(e) => Err(SendError::Transient(e.to_string())),
        }
    }
}

/// Escapes text for HTML element content and attribute values.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn letter() -> Letter {
        Letter {
            to: "ada@example.com".into(),
            reply_to: Some("Shop <shop@example.com>".into()),
            subject: "Your order ord_1 — Hoodie".into(),
            text: "Thanks!\n".into(),
            html: format!("<p>{}</p>", escape_html("<b>Hoodie & co</b>")),
            list_unsubscribe: None,
        }
    }

    #[tokio::test]
    async fn announcements_carry_a_one_click_unsubscribe() {
        let mailer =
            Mailer::new("smtp://127.0.0.1:2525", "Dropcast <no-reply@dropcast.test>").unwrap();
        let raw = String::from_utf8(mailer.message(&letter()).unwrap().formatted()).unwrap();
        assert!(!raw.contains("List-Unsubscribe"), "{raw}");
        let told = Letter {
            list_unsubscribe: Some("https://shop.test/u/u_1".into()),
            ..letter()
        };
        let raw = String::from_utf8(mailer.message(&told).unwrap().formatted()).unwrap();
        assert!(
            raw.contains("List-Unsubscribe: <https://shop.test/u/u_1>"),
            "{raw}"
        );
        assert!(
            raw.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click"),
            "{raw}"
        );
        let injected = Letter {
            list_unsubscribe: Some("https://x/>\r\nBcc: a@b".into()),
            ..letter()
        };
        assert!(matches!(
            mailer.message(&injected),
            Err(SendError::Permanent(_))
        ));
    }

    #[test]
    fn html_is_escaped() {
        assert_eq!(
            escape_html(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }

    #[test]
    fn urls_default_to_starttls_when_offered() {
        let (url, server) = with_default_tls("smtp://u:p@mail.example:587").unwrap();
        assert!(url.ends_with("?tls=opportunistic"), "{url}");
        assert_eq!(server, "mail.example:587");
        let (url, _) = with_default_tls("smtp://mail.example:25?tls=required").unwrap();
        assert!(!url.contains("opportunistic"));
        let (url, _) = with_default_tls("smtps://mail.example").unwrap();
        assert!(!url.contains("tls="));
        assert!(with_default_tls("not a url").is_err());
    }

    #[tokio::test]
    async fn letters_are_plain_text_with_an_html_alternative_and_a_reply_to() {
        let mailer =
            Mailer::new("smtp://127.0.0.1:2525", "Dropcast <no-reply@dropcast.test>").unwrap();
        let raw = String::from_utf8(mailer.message(&letter()).unwrap().formatted()).unwrap();
        assert!(raw.contains("Reply-To: Shop <shop@example.com>"), "{raw}");
        assert!(raw.contains("multipart/alternative"));
        assert!(raw.contains("text/plain"));
        assert!(raw.contains("text/html"));
        assert!(raw.contains("&lt;b&gt;Hoodie &amp; co&lt;/b&gt;"));
        let bad = Letter {
            to: "not an address".into(),
            ..letter()
        };
        assert!(matches!(mailer.message(&bad), Err(SendError::Permanent(_))));
    }

    #[tokio::test]
    async fn an_unreachable_server_is_worth_trying_again() {
        // A port nobody listens on: the connection is refused.
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let mailer = Mailer::new(
            &format!("smtp://127.0.0.1:{port}"),
            "no-reply@dropcast.test",
        )
        .unwrap();
        assert!(matches!(
            mailer.send(&letter()).await,
            Err(SendError::Transient(_))
        ));
    }
}
