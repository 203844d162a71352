//! SRT ingest: `srt://HOST:PORT?streamid=STREAM_KEY` (caller mode, MPEG-TS).
//!
//! One UDP port serves every show: each caller's stream id is read before the
//! connection is accepted, so an unknown key or a second publisher is refused
//! at the handshake. The MPEG-TS it carries goes to the segmenter's `tsdemux`.

use std::net::SocketAddr;

use futures_util::StreamExt;
use srt_tokio::SrtListener;
use srt_tokio::access::{RejectReason, ServerRejectReason};

use crate::ingest::{Ingest, Refusal};
use crate::segmenter::Container;

/// The stream key in an SRT stream id: the id itself (`streamid=KEY`, what OBS
/// and ffmpeg send), or the `r=` resource of the access-control syntax
/// (`#!::r=KEY,m=publish`). A request to play (`m=request`) is not a publish.
pub fn stream_key(stream_id: &str) -> Option<&str> {
    let Some(fields) = stream_id.strip_prefix("#!::") else {
        return (!stream_id.is_empty()).then_some(stream_id);
    };
    let mut key = None;
    for field in fields.split(',') {
        match field.split_once('=') {
            Some(("r", value)) => key = Some(value),
            Some(("m", mode)) if mode != "publish" => return None,
            _ => {}
        }
    }
    key.filter(|k| !k.is_empty())
}

/// Binds the SRT listener on `addr`; publishers are served until `shutdown`.
pub async fn serve(
    addr: SocketAddr,
    ingest: Ingest,
    shutdown: impl std::future::Future<Output = ()>,
) -> std::io::Result<()> {
    let (_listener, mut incoming) = SrtListener::builder().bind(addr).await?;
    tracing::info!(%addr, "SRT ingest listening");
    tokio::pin!(shutdown);
    loop {
        let request = tokio::select! {
            _ = &mut shutdown => return Ok(()),
            request = incoming.incoming().next() => match request {
                Some(request) => request,
                None => return Ok(()),
            },
        };
        let ingest = ingest.clone();
        tokio::spawn(async move {
            let peer = request.remote();
            if !ingest.admit(peer.ip()).await {
                let _ = request
                    .reject(RejectReason::Server(ServerRejectReason::Overload))
                    .await;
                return;
            }
            let Some(_slot) = ingest.connect(peer.ip()) else {
                let _ = request
                    .reject(RejectReason::Server(ServerRejectReason::Overload))
                    .await;
                return;
            };
            let key = request
                .stream_id()
                .and_then(|id| stream_key(id.as_str()))
                .map(str::to_string);
            let Some(key) = key else {
                let _ = request
                    .reject(RejectReason::Server(ServerRejectReason::BadRequest))
                    .await;
                return;
            };
            let session = match ingest.begin(&key, Container::MpegTs).await {
                Ok(session) => session,
                Err(refusal) => {
                    let reason = match refusal {
                        Refusal::UnknownKey => ServerRejectReason::Forbidden,
                        Refusal::AlreadyLive => ServerRejectReason::Conflict,
                        Refusal::Failed(_) => ServerRejectReason::Fallback,
                    };
                    tracing::info!(%peer, %refusal, "SRT publisher refused");
                    let _ = request.reject(RejectReason::Server(reason)).await;
                    return;
                }
            };
            let mut socket = match request.accept(None).await {
                Ok(socket) => socket,
                Err(e) => {
                    tracing::warn!(%peer, error = %e, "SRT accept failed");
                    session.end().await;
                    return;
                }
            };
            while let Some(Ok((_, bytes))) = socket.next().await {
                if let Err(e) = session.push(&bytes) {
                    tracing::warn!(%peer, error = %e, "could not push media");
                    break;
                }
            }
            session.end().await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::stream_key;

    #[test]
    fn stream_ids() {
        assert_eq!(stream_key("live_abc"), Some("live_abc"));
        assert_eq!(stream_key("#!::r=live_abc,m=publish"), Some("live_abc"));
        assert_eq!(stream_key("#!::m=publish,r=k"), Some("k"));
        assert_eq!(stream_key("#!::r=k,m=request"), None);
        assert_eq!(stream_key(""), None);
        assert_eq!(stream_key("#!::m=publish"), None);
    }
}
