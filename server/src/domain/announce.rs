//! Announcements' words: the channels a buyer can be told on, where a
//! subscription stands, what a notice is about, and the checked inputs
//! (an email address, a notice's text, the restock factor).

use std::fmt;

use super::order::UnknownState;

/// How a buyer is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    Email,
    Push,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Push => "push",
        }
    }
}

impl TryFrom<String> for Channel {
    type Error = UnknownState;
    fn try_from(s: String) -> Result<Self, UnknownState> {
        match s.as_str() {
            "email" => Ok(Channel::Email),
            "push" => Ok(Channel::Push),
            _ => Err(UnknownState::new(s)),
        }
    }
}

/// Where a subscription stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubscriptionStatus {
    /// An email address that has not followed its confirmation link yet:
    /// nothing but that letter goes to it.
    Pending,
    Active,
    /// A waitlist entry told of a restock: told once.
    Woken,
    Unsubscribed,
    /// The push service said the browser's subscription is gone.
    Gone,
}

impl SubscriptionStatus {
    pub const ALL: [SubscriptionStatus; 5] = [
        SubscriptionStatus::Pending,
        SubscriptionStatus::Active,
        SubscriptionStatus::Woken,
        SubscriptionStatus::Unsubscribed,
        SubscriptionStatus::Gone,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SubscriptionStatus::Pending => "pending",
            SubscriptionStatus::Active => "active",
            SubscriptionStatus::Woken => "woken",
            SubscriptionStatus::Unsubscribed => "unsubscribed",
            SubscriptionStatus::Gone => "gone",
        }
    }
}

impl TryFrom<String> for SubscriptionStatus {
    type Error = UnknownState;
    fn try_from(s: String) -> Result<Self, UnknownState> {
        Self::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or(UnknownState::new(s))
    }
}

/// What a notice is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoticeKind {
    /// The stream started.
    Live,
    /// A `drop_opens` countdown ends in two minutes (or sooner).
    DropSoon,
    /// A waited-for product is back.
    Restock,
    /// Written by the creator in the studio.
    Manual,
}

impl NoticeKind {
    pub const ALL: [NoticeKind; 4] = [
        NoticeKind::Live,
        NoticeKind::DropSoon,
        NoticeKind::Restock,
        NoticeKind::Manual,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            NoticeKind::Live => "live",
            NoticeKind::DropSoon => "drop_soon",
            NoticeKind::Restock => "restock",
            NoticeKind::Manual => "manual",
        }
    }
}

impl TryFrom<String> for NoticeKind {
    type Error = UnknownState;
    fn try_from(s: String) -> Result<Self, UnknownState> {
        Self::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or(UnknownState::new(s))
    }
}

impl fmt::Display for NoticeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An email address to send announcements to: one `@`, a dotted domain,
/// no spaces or angle brackets, at most 254 characters; kept lowercased
/// in its domain (the local part is the owner's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailAddress(String);

impl EmailAddress {
    pub fn parse(s: &str) -> Result<EmailAddress, String> {
        let s = s.trim();
        let bad = || format!("{s:?} is not an email address");
        if s.is_empty() || s.len() > 254 {
            return Err(bad());
        }
        let (local, domain) = s.rsplit_once('@').ok_or_else(bad)?;
        let clean = |p: &str| {
            !p.is_empty()
                && !p
                    .chars()
                    .any(|c| c.is_whitespace() || c.is_control() || "<>()[],;:\\\"@".contains(c))
        };
        if !clean(local)
            || !clean(domain)
            || local.len() > 64
            || !domain.contains('.')
            || domain.starts_with('.')
            || domain.ends_with('.')
            || domain.contains("..")
        {
            return Err(bad());
        }
        Ok(EmailAddress(format!(
            "{local}@{}",
            domain.to_ascii_lowercase()
        )))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A notice written by hand: 1 to 140 characters, one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoticeText(String);

impl NoticeText {
    pub const MAX: usize = 140;

    pub fn parse(s: &str) -> Result<NoticeText, String> {
        let s = s.trim();
        if s.is_empty() {
            return Err("a notice needs some text".into());
        }
        if s.chars().count() > Self::MAX {
            return Err(format!("a notice is at most {} characters", Self::MAX));
        }
        if s.chars().any(char::is_control) {
            return Err("a notice is one line of text".into());
        }
        Ok(NoticeText(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// How many waiting buyers a restock wakes per new unit: 1 to 100.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WakeFactor(i64);

impl WakeFactor {
    pub fn parse(n: i64) -> Result<WakeFactor, String> {
        if (1..=100).contains(&n) {
            Ok(WakeFactor(n))
        } else {
            Err("the restock wake factor is a whole number from 1 to 100".into())
        }
    }

    pub fn get(self) -> i64 {
        self.0
    }
}

impl crate::input::FromJson for EmailAddress {
    fn from_json(value: &serde_json::Value) -> Result<Self, String> {
        EmailAddress::parse(value.as_str().ok_or("must be a string")?)
    }
}

impl crate::input::FromJson for NoticeText {
    fn from_json(value: &serde_json::Value) -> Result<Self, String> {
        NoticeText::parse(value.as_str().ok_or("must be a string")?)
    }
}

impl crate::input::FromJson for WakeFactor {
    fn from_json(value: &serde_json::Value) -> Result<Self, String> {
        WakeFactor::parse(
            value
                .as_i64()
                .ok_or("must be a whole number from 1 to 100")?,
        )
    }
}

impl crate::input::FromJson for Channel {
    fn from_json(value: &serde_json::Value) -> Result<Self, String> {
        value
            .as_str()
            .and_then(|s| Channel::try_from(s.to_string()).ok())
            .ok_or_else(|| "must be \"email\" or \"push\"".into())
    }
}

/// A browser's push subscription as `PushSubscription.toJSON()` gives it:
/// `{"endpoint","keys":{"p256dh","auth"}}` (an `expirationTime` is
/// ignored). Only its shape is checked here; the push layer checks the URL
/// and the keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushSubscriptionJson {
    pub endpoint: String,
    pub p256dh: String,
    pub auth: String,
}

impl crate::input::FromJson for PushSubscriptionJson {
    fn from_json(value: &serde_json::Value) -> Result<Self, String> {
        let shape = "must be {\"endpoint\", \"keys\": {\"p256dh\", \"auth\"}}";
        let field = |v: Option<&serde_json::Value>| {
            v.and_then(serde_json::Value::as_str)
                .filter(|s| !s.is_empty() && s.len() <= 2048)
                .map(str::to_string)
        };
        let keys = value.get("keys");
        match (
            field(value.get("endpoint")),
            field(keys.and_then(|k| k.get("p256dh"))),
            field(keys.and_then(|k| k.get("auth"))),
        ) {
            (Some(endpoint), Some(p256dh), Some(auth)) => Ok(PushSubscriptionJson {
                endpoint,
                p256dh,
                auth,
            }),
            _ => Err(shape.into()),
        }
    }
}

/// Where a consent was given (`"source"`: the page and button, as the
/// widget names them): up to 64 characters of `[a-z0-9_:/.-]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentSource(String);

impl ConsentSource {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl crate::input::FromJson for ConsentSource {
    fn from_json(value: &serde_json::Value) -> Result<Self, String> {
        let s = value.as_str().ok_or("must be a string")?;
        let ok = !s.is_empty()
            && s.len() <= 64
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_:/.-".contains(&b));
        if ok {
            Ok(ConsentSource(s.to_string()))
        } else {
            Err("must be up to 64 characters of a-z, 0-9 and _:/.-".into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_addresses() {
        assert_eq!(
            EmailAddress::parse(" Ada@Example.COM ").unwrap().as_str(),
            "Ada@example.com"
        );
        for bad in [
            "",
            "ada",
            "ada@",
            "@x.com",
            "a b@x.com",
            "ada@x",
            "ada@x..com",
            "<a@x.com>",
            "a@b@c.com",
        ] {
            assert!(EmailAddress::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn notice_text_and_factor() {
        assert!(NoticeText::parse("  Doors open in 5!  ").is_ok());
        assert!(NoticeText::parse(" ").is_err());
        assert!(NoticeText::parse(&"x".repeat(141)).is_err());
        assert!(NoticeText::parse("two\nlines").is_err());
        assert!(WakeFactor::parse(0).is_err());
        assert_eq!(WakeFactor::parse(3).unwrap().get(), 3);
        assert!(WakeFactor::parse(101).is_err());
    }

    #[test]
    fn kinds_and_states_round_trip() {
        for k in NoticeKind::ALL {
            assert_eq!(NoticeKind::try_from(k.as_str().to_string()).unwrap(), k);
        }
        for s in SubscriptionStatus::ALL {
            assert_eq!(
                SubscriptionStatus::try_from(s.as_str().to_string()).unwrap(),
                s
            );
        }
        assert!(Channel::try_from("sms".to_string()).is_err());
    }
}
