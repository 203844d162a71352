//! Dropcast's Web Push: the server's VAPID key ([`VapidKey`], RFC 8292), a
//! browser's [`Subscription`], and the [`Pusher`] that encrypts a message
//! for it (RFC 8291 `aes128gcm`, on the `web-push-native` crate) and posts
//! it to the subscription's push service (RFC 8030).
//!
//! ```text
//!  VapidKey (made once, kept by the server) ──┐
//!  Subscription {endpoint, p256dh, auth} ─────┼─▶ encrypted body + `Authorization: vapid t=JWT, k=KEY`
//!  Message {payload ≤ 3 kB, TTL, urgency} ────┘        │
//!                                                      ▼ POST endpoint (HTTPS)
//!                     201/202 → Accepted · 404/410 → Gone (forget the subscription)
//!                     429/5xx/unreachable → Retry (maybe after Retry-After) · other 4xx → Refused
//! ```
//!
//! The server decides whom to tell, what and when, and keeps the queue in
//! its database; this crate only knows how to say it and sorts what the
//! push service answered into what to do next.

use std::sync::Arc;
use std::time::Duration;

use base64ct::{Base64Url, Base64UrlUnpadded, Encoding};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use web_push_native::jwt_simple::algorithms::{ECDSAP256PublicKeyLike, ES256KeyPair};
use web_push_native::{Auth, WebPushBuilder, p256};

/// The largest payload sent: a push service must take 4096 bytes of
/// encrypted body (RFC 8291 §4), which is this much plain text after the
/// record's header, padding delimiter and tag.
pub const MAX_PAYLOAD: usize = 3993;

/// The longest a message waits at the push service for an offline browser
/// (and the VAPID token's life, which RFC 8292 caps at 24 h).
pub const MAX_TTL: Duration = Duration::from_secs(12 * 3600);

/// How long one POST to a push service may take.
const TIMEOUT: Duration = Duration::from_secs(15);

/// The server's application-server key pair (P-256), which signs every
/// request's VAPID token; browsers subscribe with its public half.
#[derive(Clone)]
pub struct VapidKey(Arc<ES256KeyPair>);

impl std::fmt::Debug for VapidKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("VapidKey").field(&self.public_key()).finish()
    }
}

/// Why a kept VAPID key cannot be read back.
#[derive(Debug, thiserror::Error)]
#[error("not a VAPID private key (base64url of a P-256 scalar): {0}")]
pub struct KeyError(String);

impl VapidKey {
    /// A new random key pair.
    pub fn generate() -> VapidKey {
        VapidKey(Arc::new(ES256KeyPair::generate()))
    }

    /// The key kept as [`VapidKey::secret`] wrote it.
    pub fn from_secret(secret: &str) -> Result<VapidKey, KeyError> {
        let bytes = decode_b64url(secret).ok_or_else(|| KeyError("not base64url".into()))?;
        ES256KeyPair::from_bytes(&bytes)
            .map(|k| VapidKey(Arc::new(k)))
            .map_err(|e| KeyError(e.to_string()))
    }

    /// The private scalar, base64url: what the server keeps.
    pub fn secret(&self) -> String {
        Base64UrlUnpadded::encode_string(&self.0.to_bytes())
    }

    /// The public key as browsers take it for `applicationServerKey`: the
    /// uncompressed point (65 bytes), base64url without padding.
    pub fn public_key(&self) -> String {
        let public = self.0.public_key().public_key().to_bytes_uncompressed();
        Base64UrlUnpadded::encode_string(&public)
    }
}

/// Base64url with or without padding (browsers' `toJSON()` leaves it off,
/// some libraries put it on).
fn decode_b64url(s: &str) -> Option<Vec<u8>> {
    let s = s.trim();
    if s.ends_with('=') {
        Base64Url::decode_vec(s).ok()
    } else {
        Base64UrlUnpadded::decode_vec(s).ok()
    }
}

/// What is wrong with a subscription a browser sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubscriptionError {
    #[error("`endpoint` {0}")]
    Endpoint(&'static str),
    #[error("`keys.p256dh` must be the browser's P-256 public key, base64url")]
    Key,
    #[error("`keys.auth` must be the browser's 16-byte secret, base64url")]
    Auth,
}

/// A browser's push subscription (`PushSubscription.toJSON()`): where to
/// post, and the keys the payload is encrypted to.
#[derive(Clone, Debug)]
pub struct Subscription {
    endpoint: http::Uri,
    key: p256::PublicKey,
    auth: Auth,
}

impl Subscription {
    /// Checks a subscription: an absolute HTTPS endpoint (plain HTTP only
    /// when `allow_http`, for a push service on a test machine), a public
    /// key on the curve, a 16-byte auth secret.
    pub fn parse(
        endpoint: &str,
        p256dh: &str,
        auth: &str,
        allow_http: bool,
    ) -> Result<Subscription, SubscriptionError> {
        if endpoint.len() > 2048 {
            return Err(SubscriptionError::Endpoint(
                "is longer than 2048 characters",
            ));
        }
        let url =
            url::Url::parse(endpoint).map_err(|_| SubscriptionError::Endpoint("is not a URL"))?;
        match url.scheme() {
            "https" => {}
            "http" if allow_http => {}
            _ => return Err(SubscriptionError::Endpoint("must be an https:// URL")),
        }
        if url.host_str().is_none_or(str::is_empty)
            || !url.username().is_empty()
            || url.password().is_some()
            || url.fragment().is_some()
        {
            return Err(SubscriptionError::Endpoint(
                "must name a host, with no user or fragment",
            ));
        }
        let endpoint: http::Uri = url
            .as_str()
            .parse()
            .map_err(|_| SubscriptionError::Endpoint("is not a URL"))?;
        let key = decode_b64url(p256dh)
            .filter(|k| k.len() == 65 && k[0] == 4)
            .and_then(|k| p256::PublicKey::from_sec1_bytes(&k).ok())
            .ok_or(SubscriptionError::Key)?;
        let auth = decode_b64url(auth)
            .and_then(|a| <[u8; 16]>::try_from(a.as_slice()).ok())
            .map(Auth::from)
            .ok_or(SubscriptionError::Auth)?;
        Ok(Subscription {
            endpoint,
            key,
            auth,
        })
    }

    /// The push service's URL.
    pub fn endpoint(&self) -> String {
        self.endpoint.to_string()
    }

    /// `scheme://host[:port]`: the audience of the VAPID token.
    pub fn origin(&self) -> String {
        let scheme = self.endpoint.scheme_str().unwrap_or("https");
        let authority = self.endpoint.authority().map_or("", |a| a.as_str());
        format!("{scheme}://{authority}")
    }
}

/// How soon the browser should be woken for a message (RFC 8030 §5.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Urgency {
    Normal,
    High,
}

/// One message to one subscription.
#[derive(Debug, Clone)]
pub struct Message<'a> {
    /// What the service worker receives (JSON, say); at most [`MAX_PAYLOAD`].
    pub payload: &'a [u8],
    /// How long the push service keeps it for an offline browser (at most
    /// [`MAX_TTL`]): a "live now" is worthless an hour later.
    pub ttl: Duration,
    pub urgency: Urgency,
    /// A newer message with the same topic replaces an undelivered older
    /// one (RFC 8030 §5.4): at most 32 base64url characters.
    pub topic: Option<&'a str>,
}

/// What posting a message came to, when the push service did not take it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PushError {
    /// 404/410: the subscription is gone for good (the browser
    /// unsubscribed, or it expired): forget it.
    #[error("the subscription is gone ({0})")]
    Gone(u16),
    /// The push service could not be reached, timed out, was overloaded
    /// (429, 5xx): try again, after `retry_after` if it said so.
    #[error("not taken yet: {reason}")]
    Retry {
        reason: String,
        retry_after: Option<Duration>,
    },
    /// Refused for good (a bad request, a VAPID token it does not take, a
    /// payload too large): trying again will not help.
    #[error("refused: {0}")]
    Refused(String),
}

type HttpsClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// Posts messages to push services, signing as one VAPID key; one pool of
/// connections (cheap to clone).
#[derive(Clone)]
pub struct Pusher {
    client: HttpsClient,
    key: VapidKey,
    /// The `sub` of every token: a `mailto:` or `https:` the push service
    /// can reach the sender at.
    contact: Arc<str>,
}

impl std::fmt::Debug for Pusher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pusher")
            .field("key", &self.key)
            .field("contact", &self.contact)
            .finish_non_exhaustive()
    }
}

impl Pusher {
    /// A pusher signing with `key`, naming `contact` (`mailto:…` or
    /// `https://…`) as whom to reach about its messages.
    pub fn new(key: VapidKey, contact: &str) -> Pusher {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("ring supports the default TLS versions")
            .with_root_certificates(rustls::RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            })
            .with_no_client_auth();
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .build();
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(32)
            .build(https);
        Pusher {
            client,
            key,
            contact: contact.into(),
        }
    }

    /// The key browsers subscribe with.
    pub fn public_key(&self) -> String {
        self.key.public_key()
    }

    /// The request that carries `message` to `to`: the encrypted body and
    /// the VAPID, TTL, urgency and topic headers.
    pub fn request(
        &self,
        to: &Subscription,
        message: &Message<'_>,
    ) -> Result<http::Request<Vec<u8>>, PushError> {
        if message.payload.len() > MAX_PAYLOAD {
            return Err(PushError::Refused(format!(
                "the payload is {} bytes; at most {MAX_PAYLOAD} go",
                message.payload.len()
            )));
        }
        let ttl = message.ttl.min(MAX_TTL).max(Duration::from_secs(1));
        let mut request = WebPushBuilder::new(to.endpoint.clone(), to.key, to.auth)
            .with_valid_duration(ttl)
            .with_vapid(&self.key.0, &self.contact)
            .build(message.payload.to_vec())
            .map_err(|e| PushError::Refused(format!("cannot encrypt: {e}")))?;
        let headers = request.headers_mut();
        headers.insert("ttl", http::HeaderValue::from(ttl.as_secs()));
        headers.insert(
            "urgency",
            http::HeaderValue::from_static(match message.urgency {
                Urgency::Normal => "normal",
                Urgency::High => "high",
            }),
        );
        if let Some(topic) = message.topic {
            let topic: String = topic
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
                .take(32)
                .collect();
            if let Ok(v) = http::HeaderValue::from_str(&topic)
                && !topic.is_empty()
            {
                headers.insert("topic", v);
            }
        }
        Ok(request)
    }

    /// Posts `message` to `to`'s push service; `Ok` once it took it (201).
    pub async fn send(&self, to: &Subscription, message: &Message<'_>) -> Result<(), PushError> {
        let request = self
            .request(to, message)?
            .map(|b| Full::new(Bytes::from(b)));
        let response = match tokio::time::timeout(TIMEOUT, self.client.request(request)).await {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => {
                return Err(PushError::Retry {
                    reason: format!("{}: {e}", to.origin()),
                    retry_after: None,
                });
            }
            Err(_) => {
                return Err(PushError::Retry {
                    reason: format!("{} did not answer in {}s", to.origin(), TIMEOUT.as_secs()),
                    retry_after: None,
                });
            }
        };
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(http::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        // Why it refused, if it said (a little of it, for the log).
        let body = Limited::new(response.into_body(), 2048)
            .collect()
            .await
            .map(|b| String::from_utf8_lossy(&b.to_bytes()).trim().to_string())
            .unwrap_or_default();
        classify(status, retry_after, &body)
    }
}

/// What a push service's answer means for the message.
fn classify(status: u16, retry_after: Option<Duration>, body: &str) -> Result<(), PushError> {
    let said = if body.is_empty() {
        format!("HTTP {status}")
    } else {
        format!("HTTP {status}: {body}")
    };
    match status {
        200..=299 => Ok(()),
        404 | 410 => Err(PushError::Gone(status)),
        408 | 429 | 500..=599 => Err(PushError::Retry {
            reason: said,
            retry_after,
        }),
        _ => Err(PushError::Refused(said)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kept_key_reads_back_the_same() {
        let key = VapidKey::generate();
        let again = VapidKey::from_secret(&key.secret()).unwrap();
        assert_eq!(key.public_key(), again.public_key());
        // 65 bytes, uncompressed: what `applicationServerKey` takes.
        let raw = Base64UrlUnpadded::decode_vec(&key.public_key()).unwrap();
        assert_eq!((raw.len(), raw[0]), (65, 4));
        assert!(VapidKey::from_secret("not a key").is_err());
    }

    fn browser_keys() -> (String, String) {
        let secret = p256::SecretKey::random(&mut p256::elliptic_curve::rand_core::OsRng);
        use p256::elliptic_curve::sec1::ToEncodedPoint;
        let public = secret.public_key().to_encoded_point(false);
        (
            Base64UrlUnpadded::encode_string(public.as_bytes()),
            Base64UrlUnpadded::encode_string(&[7u8; 16]),
        )
    }

    #[test]
    fn subscriptions_are_checked() {
        let (p256dh, auth) = browser_keys();
        let ok =
            Subscription::parse("https://push.example/send/abc", &p256dh, &auth, false).unwrap();
        assert_eq!(ok.origin(), "https://push.example");
        // Padded base64url is taken too.
        let padded = format!("{auth}==");
        assert!(Subscription::parse("https://push.example/a", &p256dh, &padded, false).is_ok());
        for (endpoint, allow_http, want) in [
            ("http://127.0.0.1:9/a", false, "must be an https:// URL"),
            ("ftp://push.example/a", true, "must be an https:// URL"),
            ("/relative", true, "is not a URL"),
            (
                "https://user:pw@push.example/a",
                false,
                "must name a host, with no user or fragment",
            ),
        ] {
            assert_eq!(
                Subscription::parse(endpoint, &p256dh, &auth, allow_http).unwrap_err(),
                SubscriptionError::Endpoint(want),
                "{endpoint}"
            );
        }
        assert!(Subscription::parse("http://127.0.0.1:9/a", &p256dh, &auth, true).is_ok());
        assert_eq!(
            Subscription::parse("https://p.example/a", "AAAA", &auth, false).unwrap_err(),
            SubscriptionError::Key
        );
        assert_eq!(
            Subscription::parse("https://p.example/a", &p256dh, "AAAA", false).unwrap_err(),
            SubscriptionError::Auth
        );
    }

    #[test]
    fn answers_sort_into_what_to_do() {
        assert_eq!(classify(201, None, ""), Ok(()));
        assert_eq!(classify(410, None, ""), Err(PushError::Gone(410)));
        assert_eq!(classify(404, None, "no"), Err(PushError::Gone(404)));
        assert_eq!(
            classify(429, Some(Duration::from_secs(5)), ""),
            Err(PushError::Retry {
                reason: "HTTP 429".into(),
                retry_after: Some(Duration::from_secs(5))
            })
        );
        assert!(matches!(
            classify(503, None, ""),
            Err(PushError::Retry { .. })
        ));
        assert_eq!(
            classify(413, None, "too big"),
            Err(PushError::Refused("HTTP 413: too big".into()))
        );
    }
}
