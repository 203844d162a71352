//! The fan-out floor: the least any websocket server could do on this
//! machine to deliver one frame to N sockets, so the fan-out figure can be
//! read against it.
//!
//! `dropcast-bench fanout-floor` accepts websocket connections (the
//! handshake by hand, then one text frame as the "snapshot"), keeps the bare
//! TCP streams, and for each `go AVAILABLE` line on stdin writes one
//! pre-encoded text frame carrying that figure to every stream, in a loop on
//! one thread: one `write` per socket, nothing else — no room, no task per
//! socket, no channel, no encoding per socket. The same load generators
//! (`fanout-client`) read it the same way they read `dropcast`. What it takes
//! is what the kernel (the TCP send and, on loopback, the receive in the
//! sender's context) and the generators take.
//!
//! ```text
//!  coordinator ──stdin "go N"──▶ fanout-floor ──write×N──▶ sockets ──▶ fanout-client×k
//!              ◀─"sent N µs"───  (µs: how long the N writes took)
//! ```

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

type Error = Box<dyn std::error::Error>;

/// A text frame as a server sends it (unmasked, one fragment).
fn text_frame(payload: &[u8]) -> Vec<u8> {
    let mut frame = Vec::with_capacity(payload.len() + 4);
    frame.push(0x81);
    match payload.len() {
        n if n < 126 => frame.push(n as u8),
        n => {
            frame.push(126);
            frame.extend_from_slice(&(n as u16).to_be_bytes());
        }
    }
    frame.extend_from_slice(payload);
    frame
}

/// Reads the client's upgrade request and answers it; false if it is not one.
fn handshake(stream: &mut TcpStream) -> std::io::Result<bool> {
    let mut request = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf)?;
        if n == 0 || request.len() > 16 * 1024 {
            return Ok(false);
        }
        request.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&request);
    let Some(key) = text.lines().find_map(|l| {
        let (name, value) = l.split_once(':')?;
        name.trim()
            .eq_ignore_ascii_case("sec-websocket-key")
            .then(|| value.trim().to_string())
    }) else {
        return Ok(false);
    };
    let answer = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {}\r\n\r\n",
        derive_accept_key(key.as_bytes())
    );
    stream.write_all(answer.as_bytes())?;
    stream.write_all(&text_frame(br#"{"type":"snapshot","seq":0}"#))?;
    Ok(true)
}

/// `dropcast-bench fanout-floor`: prints `listening PORT`, then serves.
pub fn serve() -> Result<(), Error> {
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    let listener = TcpListener::bind("127.0.0.1:0")?;
    println!("listening {}", listener.local_addr()?.port());
    std::io::stdout().flush()?;
    let streams: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
    {
        let streams = streams.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let _ = stream.set_nodelay(true);
                if let Ok(true) = handshake(&mut stream) {
                    streams
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push(stream);
                }
            }
        });
    }
    let mut seq = 0u64;
    for line in BufReader::new(std::io::stdin()).lines() {
        let line = line?;
        let Some(available) = line.strip_prefix("go ") else {
            continue;
        };
        seq += 1;
        // The shape (and about the size) of dropcast's stock frame.
        let frame = text_frame(
            format!(
                r#"{{"type":"stock","seq":{seq},"product_id":"prd_floor0000000000000","available":{available},"sold":0}}"#
            )
            .as_bytes(),
        );
        let mut streams = streams.lock().unwrap_or_else(|e| e.into_inner());
        let started = std::time::Instant::now();
        // A socket whose write fails is dropped; the generator counts it missing.
        streams.retain_mut(|s| s.write_all(&frame).is_ok());
        let took = started.elapsed();
        println!("sent {} {}", streams.len(), took.as_micros());
        std::io::stdout().flush()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_carry_their_length() {
        assert_eq!(text_frame(b"hi"), vec![0x81, 2, b'h', b'i']);
        let long = vec![b'x'; 300];
        let frame = text_frame(&long);
        assert_eq!(&frame[..4], &[0x81, 126, 1, 44]);
        assert_eq!(frame.len(), 304);
    }
}
