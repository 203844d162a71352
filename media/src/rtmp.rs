//! RTMP ingest: `rtmp://HOST:PORT/live/STREAM_KEY`, what OBS sends by default.
//!
//! GStreamer has no RTMP server element, so the handshake and chunk stream
//! are handled by `rml_rtmp`; the audio and video messages are framed as FLV
//! ([`crate::flv`]) and handed to the segmenter's `flvdemux`. Only publishing
//! to the `live` app is accepted; playing over RTMP is not offered (viewers
//! get HLS).

use std::net::SocketAddr;
use std::time::Duration;

use rml_rtmp::handshake::{Handshake, HandshakeProcessResult, PeerType};
use rml_rtmp::sessions::{
    ServerSession, ServerSessionConfig, ServerSessionEvent, ServerSessionResult,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::flv::{self, TagKind};
use crate::ingest::{Ingest, Refusal, Session};
use crate::segmenter::Container;

/// The RTMP application name publishers must use.
pub const APP: &str = "live";

/// A connection that sends nothing for this long is dropped.
const IDLE: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
enum RtmpError {
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    #[error("handshake: {0:?}")]
    Handshake(rml_rtmp::handshake::HandshakeError),
    #[error("session: {0:?}")]
    Session(rml_rtmp::sessions::ServerSessionError),
    #[error("idle for too long")]
    Idle,
    #[error("refused: {0}")]
    Refused(String),
    #[error("did not publish within {0:?} of connecting")]
    Deadline(Duration),
    #[error("sent {0} bytes before publishing")]
    TooMuchBeforePublish(usize),
    #[error(transparent)]
    Cut(crate::MediaError),
}

/// Accepts RTMP publishers on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    ingest: Ingest,
    shutdown: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let ingest = ingest.clone();
                    // Admission may ask another process (shared rate
                    // limits): in the connection's task, not the accept loop.
                    tokio::spawn(async move {
                        if !ingest.admit(peer.ip()).await {
                            return;
                        }
                        let Some(_slot) = ingest.connect(peer.ip()) else {
                            return;
                        };
                        if let Err(e) = connection(stream, peer, ingest).await {
                            tracing::info!(%peer, error = %e, "RTMP connection ended");
                        }
                    });
                }
                Err(e) => {
                    tracing::warn!(error = %e, "RTMP accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }
}

async fn read_some(stream: &mut TcpStream, buf: &mut [u8]) -> Result<usize, RtmpError> {
    match tokio::time::timeout(IDLE, stream.read(buf)).await {
        Ok(read) => Ok(read?),
        Err(_) => Err(RtmpError::Idle),
    }
}

/// Reads with the idle limit and, until the publish is accepted, the
/// connection's deadline and byte budget.
async fn read_limited(
    stream: &mut TcpStream,
    buf: &mut [u8],
    before_publish: &mut Option<PrePublish>,
) -> Result<usize, RtmpError> {
    let Some(pre) = before_publish else {
        return read_some(stream, buf).await;
    };
    let n = match tokio::time::timeout_at(pre.deadline, read_some(stream, buf)).await {
        Ok(read) => read?,
        Err(_) => return Err(RtmpError::Deadline(pre.limits.handshake_deadline)),
    };
    pre.bytes += n;
    if pre.bytes > pre.limits.max_pre_publish_bytes {
        return Err(RtmpError::TooMuchBeforePublish(pre.bytes));
    }
    Ok(n)
}

/// A connection's allowance until its publish is accepted.
struct PrePublish {
    deadline: tokio::time::Instant,
    bytes: usize,
    limits: crate::ingest::IngestLimits,
}

async fn connection(
    mut stream: TcpStream,
    peer: SocketAddr,
    ingest: Ingest,
) -> Result<(), RtmpError> {
    let _ = stream.set_nodelay(true);
    let limits = *ingest.limits();
    let mut pre = Some(PrePublish {
        deadline: tokio::time::Instant::now() + limits.handshake_deadline,
        bytes: 0,
        limits,
    });
    let mut buf = vec![0u8; 64 * 1024];
    let mut handshake = Handshake::new(PeerType::Server);
    let remaining = loop {
        let n = read_limited(&mut stream, &mut buf, &mut pre).await?;
        if n == 0 {
            return Ok(());
        }
        match handshake
            .process_bytes(&buf[..n])
            .map_err(RtmpError::Handshake)?
        {
            HandshakeProcessResult::InProgress { response_bytes } => {
                stream.write_all(&response_bytes).await?
            }
            HandshakeProcessResult::Completed {
                response_bytes,
                remaining_bytes,
            } => {
                stream.write_all(&response_bytes).await?;
                break remaining_bytes;
            }
        }
    };
    let (mut session, results) =
        ServerSession::new(ServerSessionConfig::new()).map_err(RtmpError::Session)?;
    let mut publishing: Option<Session> = None;
    let mut state = State::default();
    let outcome = async {
        handle(
            &mut stream,
            &mut session,
            results,
            &ingest,
            &mut publishing,
            &mut state,
        )
        .await?;
        let results = session
            .handle_input(&remaining)
            .map_err(RtmpError::Session)?;
        handle(
            &mut stream,
            &mut session,
            results,
            &ingest,
            &mut publishing,
            &mut state,
        )
        .await?;
        loop {
            if publishing.is_some() {
                pre = None;
            }
            let n = read_limited(&mut stream, &mut buf, &mut pre).await?;
            if n == 0 {
                return Ok(());
            }
            let results = session
                .handle_input(&buf[..n])
                .map_err(RtmpError::Session)?;
            handle(
                &mut stream,
                &mut session,
                results,
                &ingest,
                &mut publishing,
                &mut state,
            )
            .await?;
            if state.finished {
                return Ok(());
            }
        }
    }
    .await;
    if let Some(publishing) = publishing.take() {
        publishing.end().await;
    }
    if let Err(e) = &outcome {
        tracing::debug!(%peer, error = %e, "RTMP session closed");
    }
    outcome
}

#[derive(Default)]
struct State {
    /// The publisher said it is done.
    finished: bool,
    /// The FLV header went out before the first tag.
    header_sent: bool,
}

async fn handle(
    stream: &mut TcpStream,
    session: &mut ServerSession,
    results: Vec<ServerSessionResult>,
    ingest: &Ingest,
    publishing: &mut Option<Session>,
    state: &mut State,
) -> Result<(), RtmpError> {
    let mut queue = std::collections::VecDeque::from(results);
    while let Some(result) = queue.pop_front() {
        let event = match result {
            ServerSessionResult::OutboundResponse(packet) => {
                stream.write_all(&packet.bytes).await?;
                continue;
            }
            ServerSessionResult::RaisedEvent(event) => event,
            ServerSessionResult::UnhandleableMessageReceived(_) => continue,
        };
        match event {
            ServerSessionEvent::ConnectionRequested {
                request_id,
                app_name,
            } => {
                let more = if app_name == APP {
                    session.accept_request(request_id)
                } else {
                    session.reject_request(
                        request_id,
                        "NetConnection.Connect.Rejected",
                        "unknown app; use /live/KEY",
                    )
                }
                .map_err(RtmpError::Session)?;
                queue.extend(more);
                if app_name != APP {
                    flush(stream, &mut queue).await?;
                    return Err(RtmpError::Refused(format!("app {app_name:?}")));
                }
            }
            ServerSessionEvent::PublishStreamRequested {
                request_id,
                stream_key,
                ..
            } => {
                if publishing.is_some() {
                    return Err(RtmpError::Refused(
                        "second publish on one connection".into(),
                    ));
                }
                match ingest.begin(&stream_key, Container::Flv).await {
                    Ok(started) => {
                        *publishing = Some(started);
                        queue.extend(
                            session
                                .accept_request(request_id)
                                .map_err(RtmpError::Session)?,
                        );
                    }
                    Err(refusal) => {
                        let (code, text) = match &refusal {
                            Refusal::UnknownKey => {
                                ("NetStream.Publish.BadName", "unknown stream key")
                            }
                            Refusal::AlreadyLive => {
                                ("NetStream.Publish.BadName", "stream key already live")
                            }
                            Refusal::Failed(_) => ("NetStream.Publish.Failed", "server error"),
                        };
                        queue.extend(
                            session
                                .reject_request(request_id, code, text)
                                .map_err(RtmpError::Session)?,
                        );
                        flush(stream, &mut queue).await?;
                        return Err(RtmpError::Refused(refusal.to_string()));
                    }
                }
            }
            ServerSessionEvent::VideoDataReceived {
                data, timestamp, ..
            } => {
                push(publishing, state, TagKind::Video, timestamp.value, &data)?;
            }
            ServerSessionEvent::AudioDataReceived {
                data, timestamp, ..
            } => {
                push(publishing, state, TagKind::Audio, timestamp.value, &data)?;
            }
            ServerSessionEvent::PublishStreamFinished { .. } => state.finished = true,
            ServerSessionEvent::PlayStreamRequested { request_id, .. } => {
                queue.extend(
                    session
                        .reject_request(request_id, "NetStream.Play.Failed", "playback is over HLS")
                        .map_err(RtmpError::Session)?,
                );
            }
            _ => {}
        }
    }
    Ok(())
}

/// Writes out what the session has queued before the connection closes.
async fn flush(
    stream: &mut TcpStream,
    queue: &mut std::collections::VecDeque<ServerSessionResult>,
) -> Result<(), RtmpError> {
    while let Some(result) = queue.pop_front() {
        if let ServerSessionResult::OutboundResponse(packet) = result {
            stream.write_all(&packet.bytes).await?;
        }
    }
    Ok(())
}

/// Hands one message to the session; fails (ending the connection) once
/// the stream is cut, or the pipeline no longer takes it.
fn push(
    publishing: &Option<Session>,
    state: &mut State,
    kind: TagKind,
    timestamp: u32,
    data: &[u8],
) -> Result<(), RtmpError> {
    let Some(session) = publishing else {
        return Ok(());
    };
    if !state.header_sent {
        state.header_sent = true;
        session.push(&flv::header()).map_err(RtmpError::Cut)?;
    }
    if let Some(tag) = flv::tag(kind, timestamp, data) {
        session.push(&tag).map_err(RtmpError::Cut)?;
    }
    Ok(())
}
