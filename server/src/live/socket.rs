//! One live websocket: snapshot first, then the room's frames in `seq` order.
//!
//! The task waits on four things at once (`tokio::select!`): the room's next
//! frame, the client's next message, the heartbeat and shutdown. Writes go
//! through actix-ws's bounded channel; a client that stops reading makes only
//! its own task wait, and is closed once a write has waited `send_timeout`.
//! Meanwhile the room keeps broadcasting; when the task resumes and finds it
//! fell behind the broadcast buffer, it sends a fresh snapshot instead of the
//! frames it missed.

use std::sync::Arc;
use std::time::Duration;

use actix_ws::{AggregatedMessage, CloseCode, CloseReason, MessageStream, Session};
use bytestring::ByteString;
use futures_util::StreamExt;
use tokio::time::{Instant, MissedTickBehavior, timeout};
use tokio_util::sync::CancellationToken;
use wire::{ClientMsg, ServerMsg};

use super::room::{Frame, Next, Subscription};
use crate::configuration::LiveSettings;
use crate::telemetry::Metrics;

/// Largest frame a client may send; clients only send small pings.
const MAX_CLIENT_FRAME: usize = 4096;

/// Everything a socket task needs besides its session.
pub struct SocketContext {
    pub settings: LiveSettings,
    pub metrics: Arc<Metrics>,
    pub shutdown: CancellationToken,
}

/// Why the server ended a socket.
enum End {
    /// The client closed, or the connection dropped: nothing more to send.
    Gone,
    /// We close, with this reason.
    Close(CloseReason),
}

fn reason(code: CloseCode, description: &str) -> End {
    End::Close(CloseReason {
        code,
        description: Some(description.to_string()),
    })
}

/// Counts the socket in the `live_sockets` gauge for as long as it lives.
struct Gauge(Arc<Metrics>);

impl Drop for Gauge {
    fn drop(&mut self) {
        self.0.live_sockets.dec();
    }
}

/// Runs one socket until it closes.
pub async fn run(
    mut session: Session,
    stream: MessageStream,
    mut sub: Subscription,
    ctx: SocketContext,
) {
    ctx.metrics.live_sockets.inc();
    let _gauge = Gauge(ctx.metrics.clone());
    let mut stream = stream
        .max_frame_size(MAX_CLIENT_FRAME)
        .aggregate_continuations()
        .max_continuation_size(MAX_CLIENT_FRAME);

    let end = 'socket: {
        let Some(mut last_seq) = send_snapshot(&mut session, &sub, &ctx).await else {
            break 'socket End::Gone;
        };
        let mut heartbeat = tokio::time::interval_at(
            Instant::now() + ctx.settings.heartbeat_interval,
            ctx.settings.heartbeat_interval,
        );
        heartbeat.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut last_heard = Instant::now();
        // Made once, not per turn of the loop: every socket shares the token,
        // and each new `cancelled()` future would register with (and on drop
        // leave) its one waiter list, under a lock all sockets contend for.
        let shutdown = ctx.shutdown.cancelled();
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => {
                    break reason(CloseCode::Away, "server shutting down");
                }
                next = sub.recv() => match next {
                    Next::Frame(frame) => {
                        if frame.seq <= last_seq {
                            continue;
                        }
                        if !send(&mut session, frame.text, ctx.settings.send_timeout).await {
                            break reason(CloseCode::Policy, "client is not reading");
                        }
                        last_seq = frame.seq;
                        ctx.metrics.live_frames.inc();
                    }
                    Next::Resync => match send_snapshot(&mut session, &sub, &ctx).await {
                        Some(seq) => last_seq = seq,
                        None => break End::Gone,
                    },
                    Next::Closed => break reason(CloseCode::Away, "show closed"),
                },
                msg = stream.next() => {
                    let msg = match msg {
                        None => break End::Gone,
                        Some(Err(_)) => break reason(CloseCode::Protocol, "protocol error"),
                        Some(Ok(msg)) => msg,
                    };
                    last_heard = Instant::now();
                    match msg {
                        AggregatedMessage::Text(text) => {
                            let reply = answer(&text);
                            if !send(&mut session, reply, ctx.settings.send_timeout).await {
                                break End::Gone;
                            }
                        }
                        AggregatedMessage::Binary(_) => {
                            let reply = error_frame("unsupported_frame", "send JSON text frames");
                            if !send(&mut session, reply, ctx.settings.send_timeout).await {
                                break End::Gone;
                            }
                        }
                        AggregatedMessage::Ping(bytes) => {
                            if session.pong(&bytes).await.is_err() {
                                break End::Gone;
                            }
                        }
                        AggregatedMessage::Pong(_) => {}
                        AggregatedMessage::Close(_) => break End::Gone,
                    }
                }
                _ = heartbeat.tick() => {
                    if last_heard.elapsed() > ctx.settings.client_timeout {
                        break reason(CloseCode::Normal, "heartbeat timeout");
                    }
                    if session.ping(b"").await.is_err() {
                        break End::Gone;
                    }
                }
            }
        }
    };
    if let End::Close(reason) = end {
        let _ = timeout(Duration::from_secs(1), session.close(Some(reason))).await;
    }
}

/// Sends the room's current snapshot; returns its `seq`, or `None` if the
/// socket is gone (or the room has no state).
async fn send_snapshot(
    session: &mut Session,
    sub: &Subscription,
    ctx: &SocketContext,
) -> Option<u64> {
    let Frame { seq, text, .. } = sub.snapshot_frame()?;
    ctx.metrics.live_snapshots.inc();
    send(session, text, ctx.settings.send_timeout)
        .await
        .then_some(seq)
}

/// Writes one text frame; false if the socket is closed or the write waited
/// longer than `limit` (the client stopped reading).
async fn send(session: &mut Session, text: ByteString, limit: Duration) -> bool {
    matches!(timeout(limit, session.text(text)).await, Ok(Ok(())))
}

/// The answer to a client's text frame.
fn answer(text: &str) -> ByteString {
    match serde_json::from_str::<ClientMsg>(text) {
        Ok(ClientMsg::Ping { client_time_ms }) => to_text(&ServerMsg::Pong {
            client_time_ms,
            server_time_ms: crate::now_ms(),
        }),
        Err(_) => error_frame(
            "bad_message",
            "expected {\"type\":\"ping\",\"client_time_ms\":N}",
        ),
    }
}

fn error_frame(code: &str, message: &str) -> ByteString {
    to_text(&ServerMsg::Error {
        code: code.into(),
        message: message.into(),
    })
}

fn to_text(msg: &ServerMsg) -> ByteString {
    ByteString::from(serde_json::to_string(msg).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pings_get_pongs_and_anything_else_an_error() {
        let pong: ServerMsg =
            serde_json::from_str(&answer(r#"{"type":"ping","client_time_ms":42}"#)).unwrap();
        match pong {
            ServerMsg::Pong {
                client_time_ms,
                server_time_ms,
            } => {
                assert_eq!(client_time_ms, 42);
                assert!(server_time_ms > 1_600_000_000_000);
            }
            other => panic!("{other:?}"),
        }
        for bad in ["", "{}", r#"{"type":"ping"}"#, "[]", r#"{"type":"buy"}"#] {
            let reply: ServerMsg = serde_json::from_str(&answer(bad)).unwrap();
            assert!(matches!(reply, ServerMsg::Error { .. }), "{bad}");
        }
    }
}
