//! A push service on loopback, played by the test (hyper): it checks each
//! request's VAPID token against the key it names and decrypts the body
//! with the browser's private key, as a real push service and browser
//! would between them.

use std::collections::HashSet;
use std::convert::Infallible;
use std::time::Duration;

use base64ct::{Base64UrlUnpadded, Encoding};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use push::{Message, PushError, Pusher, Subscription, Urgency, VapidKey};
use web_push_native::jwt_simple::prelude::*;
use web_push_native::p256;

/// What the service received: the request's head and body.
type Got = (http::request::Parts, Bytes);

/// Serves on a free port; `/gone/…` answers 410, `/busy/…` 429 with
/// Retry-After, anything else 201.
async fn push_service() -> (String, tokio::sync::mpsc::UnboundedReceiver<Got>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let tx = tx.clone();
            tokio::spawn(async move {
                let serve = service_fn(move |req: Request<Incoming>| {
                    let tx = tx.clone();
                    async move {
                        let (parts, body) = req.into_parts();
                        let body = body.collect().await.unwrap().to_bytes();
                        let path = parts.uri.path().to_string();
                        let _ = tx.send((parts, body));
                        let mut answer = Response::builder();
                        answer = if path.starts_with("/gone/") {
                            answer.status(410)
                        } else if path.starts_with("/busy/") {
                            answer.status(429).header("retry-after", "7")
                        } else {
                            answer.status(201)
                        };
                        Ok::<_, Infallible>(answer.body(Full::new(Bytes::new())).unwrap())
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), serve)
                    .await;
            });
        }
    });
    (base, rx)
}

/// A browser's subscription keys: its private key (to decrypt with) and
/// the base64url `p256dh` and `auth` it would hand the page.
fn browser() -> (p256::SecretKey, [u8; 16], String, String) {
    use p256::elliptic_curve::sec1::ToEncodedPoint;
    let secret = p256::SecretKey::random(&mut p256::elliptic_curve::rand_core::OsRng);
    let auth = *b"0123456789abcdef";
    let p256dh =
        Base64UrlUnpadded::encode_string(secret.public_key().to_encoded_point(false).as_bytes());
    let auth_b64 = Base64UrlUnpadded::encode_string(&auth);
    (secret, auth, p256dh, auth_b64)
}

#[tokio::test]
async fn a_message_arrives_signed_and_only_the_browser_can_read_it() {
    let (base, mut got) = push_service().await;
    let key = VapidKey::generate();
    let pusher = Pusher::new(key.clone(), "mailto:ops@dropcast.test");
    let (secret, auth, p256dh, auth_b64) = browser();
    let to = Subscription::parse(&format!("{base}/send/one"), &p256dh, &auth_b64, true).unwrap();
    let payload = br#"{"title":"Live now","url":"https://shop.test/n/abc"}"#;
    pusher
        .send(
            &to,
            &Message {
                payload,
                ttl: Duration::from_secs(600),
                urgency: Urgency::High,
                topic: Some("drop-soon"),
            },
        )
        .await
        .unwrap();
    let (head, body) = got.recv().await.unwrap();
    assert_eq!(head.method, "POST");
    assert_eq!(head.uri.path(), "/send/one");
    let header = |name: &str| {
        head.headers
            .get(name)
            .unwrap()
            .to_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(header("content-encoding"), "aes128gcm");
    assert_eq!(header("ttl"), "600");
    assert_eq!(header("urgency"), "high");
    assert_eq!(header("topic"), "drop-soon");

    // `vapid t=JWT, k=KEY` (RFC 8292 §3): the key is the server's, the
    // token verifies with it, is for this push service and expires.
    let auth_header = header("authorization");
    let rest = auth_header.strip_prefix("vapid ").unwrap();
    let mut t = None;
    let mut k = None;
    for part in rest.split(',') {
        let (name, value) = part.trim().split_once('=').unwrap();
        match name {
            "t" => t = Some(value.to_string()),
            "k" => k = Some(value.to_string()),
            _ => {}
        }
    }
    let (t, k) = (t.unwrap(), k.unwrap());
    assert_eq!(k, key.public_key());
    let public = ES256PublicKey::from_bytes(&Base64UrlUnpadded::decode_vec(&k).unwrap()).unwrap();
    let claims = public
        .verify_token::<NoCustomClaims>(
            &t,
            Some(VerificationOptions {
                allowed_audiences: Some(HashSet::from([
                    "http://127.0.0.1".to_string(),
                    to.origin(),
                ])),
                ..Default::default()
            }),
        )
        .unwrap();
    assert_eq!(claims.subject.as_deref(), Some("mailto:ops@dropcast.test"));
    let expires = claims.expires_at.unwrap().as_secs();
    let now = Clock::now_since_epoch().as_secs();
    assert!(
        expires > now && expires <= now + 24 * 3600,
        "exp {expires} now {now}"
    );
    // Signed by another key, it would not verify.
    let other = ES256KeyPair::generate().public_key();
    assert!(other.verify_token::<NoCustomClaims>(&t, None).is_err());

    // The body opens with the browser's private key and auth secret only.
    let plain = web_push_native::decrypt(body.to_vec(), &secret, &auth.into()).unwrap();
    assert_eq!(plain, payload);
    let stranger = p256::SecretKey::random(&mut p256::elliptic_curve::rand_core::OsRng);
    assert!(web_push_native::decrypt(body.to_vec(), &stranger, &auth.into()).is_err());
}

#[tokio::test]
async fn gone_busy_unreachable_and_too_large_say_what_to_do() {
    let (base, _got) = push_service().await;
    let pusher = Pusher::new(VapidKey::generate(), "mailto:ops@dropcast.test");
    let (_, _, p256dh, auth) = browser();
    let message = Message {
        payload: b"hi",
        ttl: Duration::from_secs(60),
        urgency: Urgency::Normal,
        topic: None,
    };
    let sub =
        |path: &str| Subscription::parse(&format!("{base}{path}"), &p256dh, &auth, true).unwrap();
    assert_eq!(
        pusher.send(&sub("/gone/x"), &message).await,
        Err(PushError::Gone(410))
    );
    match pusher.send(&sub("/busy/x"), &message).await {
        Err(PushError::Retry { retry_after, .. }) => {
            assert_eq!(retry_after, Some(Duration::from_secs(7)))
        }
        other => panic!("{other:?}"),
    }
    // Nothing listens on port 9 of loopback.
    let nowhere = Subscription::parse("http://127.0.0.1:9/x", &p256dh, &auth, true).unwrap();
    assert!(matches!(
        pusher.send(&nowhere, &message).await,
        Err(PushError::Retry { .. })
    ));
    let big = vec![b'x'; push::MAX_PAYLOAD + 1];
    let too_large = Message {
        payload: &big,
        ..message
    };
    assert!(matches!(
        pusher.send(&sub("/send/x"), &too_large).await,
        Err(PushError::Refused(_))
    ));
}
