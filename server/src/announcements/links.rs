//! The links announcements carry: the double opt-in's confirmation link
//! (signed, so nothing secret is stored), the tracking link of each message
//! (its delivery's random id) and the one-click unsubscribe link (the
//! subscription's random token).

use hmac::{Hmac, Mac};
use sha2::Sha256;
use sqlx::AnyPool;

/// Makes and checks announcement links. The key is shared by every node
/// (the `secrets` table).
#[derive(Clone)]
pub struct AnnounceLinks {
    key: Vec<u8>,
    base: String,
}

impl AnnounceLinks {
    pub async fn load(pool: &AnyPool, public_base: &str) -> Result<AnnounceLinks, sqlx::Error> {
        let key = crate::store::shared_secret(pool, "announce_links").await?;
        Ok(AnnounceLinks {
            key: key.into_bytes(),
            base: public_base.to_string(),
        })
    }

    fn mac(&self, subscription_id: &str) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes any key");
        mac.update(b"dropcast confirm subscription\n");
        mac.update(subscription_id.as_bytes());
        mac
    }

    /// `{public}/subscriptions/{id}/confirm?k=SIG`: the double opt-in link.
    pub fn confirm_url(&self, subscription_id: &str) -> String {
        let sig = hex::encode(&self.mac(subscription_id).finalize().into_bytes()[..16]);
        format!(
            "{}/subscriptions/{subscription_id}/confirm?k={sig}",
            self.base
        )
    }

    /// Whether `sig` signs the subscription (compared in constant time).
    pub fn verify_confirm(&self, subscription_id: &str, sig: &str) -> bool {
        match hex::decode(sig) {
            Ok(bytes) if bytes.len() == 16 => self
                .mac(subscription_id)
                .verify_truncated_left(&bytes)
                .is_ok(),
            _ => false,
        }
    }

    /// `{public}/n/{delivery}`: counts the click, then opens the show.
    pub fn track_url(&self, delivery_id: &str) -> String {
        format!("{}/n/{delivery_id}", self.base)
    }

    /// `{public}/u/{token}`: a POST there unsubscribes (RFC 8058).
    pub fn unsubscribe_url(&self, token: &str) -> String {
        format!("{}/u/{token}", self.base)
    }

    /// `{public}/watch/{show}`.
    pub fn watch_url(&self, show_id: &str) -> String {
        format!("{}/watch/{show_id}", self.base)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confirmation_links_verify_only_for_their_subscription() {
        let links = AnnounceLinks {
            key: b"k".to_vec(),
            base: "https://shop.test".into(),
        };
        let url = links.confirm_url("sub_1");
        let sig = url.rsplit_once("k=").unwrap().1;
        assert!(url.starts_with("https://shop.test/subscriptions/sub_1/confirm?k="));
        assert!(links.verify_confirm("sub_1", sig));
        assert!(!links.verify_confirm("sub_2", sig));
        assert!(!links.verify_confirm("sub_1", "00"));
        assert!(!links.verify_confirm("sub_1", "zz"));
    }
}
