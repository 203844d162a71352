//! Bearer tokens and roles.
//!
//! A token is 256 random bits with a role prefix (`dcc_` creator, `dce_`
//! editor, `dcv_` viewer). Only its SHA-256 is stored: the tokens are random,
//! so a fast hash is enough, and a copy of the database lets nobody in. The
//! admin token comes from the configuration and is compared in constant time.
//!
//! Every route states which roles it serves through the [`Caller`] methods;
//! ownership of a show is checked by [`Caller::owner_of`] against the show row.

use std::future::Future;
use std::pin::Pin;

use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, dev::Payload, web};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::ApiError;
use crate::state::AppState;
use crate::store::{self, ShowRow, TokenRole};

/// Who is calling, once their token has been checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    Admin,
    Creator {
        creator_id: String,
    },
    /// May cut clips of this one show.
    Editor {
        show_id: String,
    },
    /// An anonymous buyer session.
    Viewer {
        viewer_id: String,
    },
}

/// The caller of a request: `None` when no `Authorization` header was sent.
#[derive(Debug, Clone)]
pub struct Caller(pub Option<Principal>);

/// SHA-256 of a token, hex encoded: the form tokens are stored and looked up in.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A fresh token for `role` and the hash to store.
pub fn new_token(role: TokenRole) -> (String, String) {
    let prefix = match role {
        TokenRole::Creator => "dcc",
        TokenRole::Editor => "dce",
        TokenRole::Viewer => "dcv",
    };
    let token = crate::domain::ids::new_secret(prefix);
    let hash = hash_token(&token);
    (token, hash)
}

/// The admin token, kept only as its hash so it can be compared in constant time.
#[derive(Clone)]
pub struct AdminToken {
    hash: [u8; 32],
}

impl AdminToken {
    pub fn new(token: &str) -> Self {
        AdminToken {
            hash: Sha256::digest(token.as_bytes()).into(),
        }
    }

    pub fn matches(&self, candidate: &str) -> bool {
        let candidate: [u8; 32] = Sha256::digest(candidate.as_bytes()).into();
        self.hash.ct_eq(&candidate).into()
    }
}

impl std::fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdminToken(hidden)")
    }
}

fn missing() -> ApiError {
    ApiError::unauthorized(
        "missing_token",
        "this route needs `Authorization: Bearer TOKEN`",
    )
}

fn wrong_role(needed: &str) -> ApiError {
    ApiError::forbidden("wrong_role", format!("this route is for {needed} tokens"))
}

impl Caller {
    pub fn require_admin(&self) -> Result<(), ApiError> {
        match &self.0 {
            None => Err(missing()),
            Some(Principal::Admin) => Ok(()),
            Some(_) => Err(wrong_role("the admin")),
        }
    }

    /// The calling creator's id.
    pub fn require_creator(&self) -> Result<&str, ApiError> {
        match &self.0 {
            None => Err(missing()),
            Some(Principal::Creator { creator_id }) => Ok(creator_id),
            Some(_) => Err(wrong_role("creator")),
        }
    }

    /// The calling viewer's id.
    pub fn require_viewer(&self) -> Result<&str, ApiError> {
        match &self.0 {
            None => Err(missing()),
            Some(Principal::Viewer { viewer_id }) => Ok(viewer_id),
            Some(_) => Err(wrong_role("viewer")),
        }
    }

    /// The show's own creator, and nobody else.
    pub fn owner_of(&self, show: &ShowRow) -> Result<(), ApiError> {
        let creator_id = self.require_creator()?;
        if creator_id == show.creator_id {
            Ok(())
        } else {
            Err(ApiError::forbidden(
                "not_your_show",
                "this show belongs to another creator",
            ))
        }
    }

    /// The show's creator or one of its editors: who may work on its clips.
    pub fn staff_of(&self, show: &ShowRow) -> Result<(), ApiError> {
        match &self.0 {
            None => Err(missing()),
            Some(Principal::Editor { show_id }) if *show_id == show.id => Ok(()),
            Some(Principal::Editor { .. }) => Err(ApiError::forbidden(
                "not_your_show",
                "this editor token is for another show",
            )),
            Some(Principal::Creator { .. }) => self.owner_of(show),
            Some(_) => Err(wrong_role("creator or editor")),
        }
    }

    /// Whether the caller is the show's creator (for extra fields on public views).
    pub fn is_owner_of(&self, show: &ShowRow) -> bool {
        matches!(&self.0, Some(Principal::Creator { creator_id }) if *creator_id == show.creator_id)
    }
}

/// Resolves a raw token to its principal; `None` for an unknown token.
pub async fn resolve(state: &AppState, token: &str) -> Result<Option<Principal>, ApiError> {
    if state.admin_token.matches(token) {
        return Ok(Some(Principal::Admin));
    }
    if !crate::domain::ids::looks_like_id(token) {
        return Ok(None);
    }
    let hash = hash_token(token);
    let Some(found) = store::find_token(&state.pool, &hash).await? else {
        return Ok(None);
    };
    if let Some(expires_at_ms) = found.expires_at_ms {
        // Sliding expiry, written at most about once a tenth of the session
        // (a day at most), not on every request.
        let ttl = state.settings.viewer_session.as_millis() as i64;
        let now = crate::now_ms();
        let slack = (ttl / 10).min(86_400_000);
        if expires_at_ms - now < ttl - slack {
            store::extend_token(&state.pool, &hash, now + ttl).await?;
        }
    }
    let subject = found.subject_id;
    Ok(Some(match found.role {
        TokenRole::Creator => Principal::Creator {
            creator_id: subject,
        },
        TokenRole::Editor => Principal::Editor { show_id: subject },
        TokenRole::Viewer => Principal::Viewer { viewer_id: subject },
    }))
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let header = req
            .headers()
            .get(header::AUTHORIZATION)
            .map(|v| v.to_str().map(str::to_string));
        let state = req.app_data::<web::Data<AppState>>().cloned();
        Box::pin(async move {
            let state = state.ok_or_else(ApiError::internal)?;
            let token = match header {
                None => return Ok(Caller(None)),
                Some(Err(_)) => return Err(invalid_token()),
                Some(Ok(value)) => match value.strip_prefix("Bearer ") {
                    Some(token) if !token.trim().is_empty() => token.trim().to_string(),
                    _ => return Err(invalid_token()),
                },
            };
            match resolve(&state, &token).await? {
                Some(principal) => Ok(Caller(Some(principal))),
                None => Err(invalid_token()),
            }
        })
    }
}

/// The client's address: the connection's peer, or — when the peer is a
/// trusted proxy (`DROPCAST_TRUSTED_PROXIES`) — the last address in
/// `X-Forwarded-For` that is not one of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub std::net::IpAddr);

impl ClientIp {
    pub fn of(req: &HttpRequest, trusted: &[std::net::IpAddr]) -> ClientIp {
        let peer = req
            .peer_addr()
            .map(|a| a.ip())
            .unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
        if !trusted.contains(&peer) {
            return ClientIp(peer);
        }
        let forwarded = req
            .headers()
            .get_all("x-forwarded-for")
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect::<Vec<_>>();
        let client = forwarded
            .iter()
            .rev()
            .filter_map(|a| a.parse::<std::net::IpAddr>().ok())
            .find(|a| !trusted.contains(a));
        ClientIp(client.unwrap_or(peer))
    }

    /// Counts one request of `limit` from this address.
    pub async fn limit(
        self,
        state: &AppState,
        limit: crate::limits::Limit,
    ) -> Result<(), ApiError> {
        state
            .limits
            .check_ip(limit, self.0)
            .await
            .map_err(ApiError::rate_limited)
    }
}

impl FromRequest for ClientIp {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let trusted = req
            .app_data::<web::Data<AppState>>()
            .map(|s| s.settings.trusted_proxies.clone())
            .unwrap_or_default();
        std::future::ready(Ok(ClientIp::of(req, &trusted)))
    }
}

/// Counts one request of `limit` for `key` (a session).
pub async fn limit_key(
    state: &AppState,
    limit: crate::limits::Limit,
    key: &str,
) -> Result<(), ApiError> {
    state
        .limits
        .check(limit, key)
        .await
        .map_err(ApiError::rate_limited)
}

fn invalid_token() -> ApiError {
    ApiError::unauthorized(
        "invalid_token",
        "the Authorization header must be `Bearer TOKEN` with a token this server issued",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_prefixed_and_hashed() {
        let (token, hash) = new_token(TokenRole::Editor);
        assert!(token.starts_with("dce_"));
        assert_eq!(hash, hash_token(&token));
        assert_eq!(hash.len(), 64);
        assert!(!hash.contains(&token[4..]));
    }

    #[test]
    fn admin_token_compares_exactly() {
        let admin = AdminToken::new("correct horse battery staple");
        assert!(admin.matches("correct horse battery staple"));
        assert!(!admin.matches("correct horse battery stapl"));
        assert!(!format!("{admin:?}").contains("horse"));
    }
}
