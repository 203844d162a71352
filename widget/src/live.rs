//! The live channel in the browser: one websocket per page, reconnected
//! with backoff, resumed from the snapshot the server sends first, and a
//! clock offset from ping/pong so countdowns follow the server's clock, not
//! the viewer's.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use leptos::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use web_sys::{MessageEvent, WebSocket};
use wire::{ClientMsg, ServerMsg};

use crate::state::{Applied, ShowState};

/// A sale as the "just bought" toasts show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sale {
    /// Counts sales, so the same sale twice still shows.
    pub n: u32,
    pub product_id: String,
    pub quantity: i64,
    /// The buyer's first name, if the sale carries one.
    pub buyer: Option<String>,
}

/// The signals a page renders from.
#[derive(Clone, Copy)]
pub struct Live {
    pub state: RwSignal<Option<ShowState>>,
    /// Server time minus this browser's clock, in ms.
    pub offset_ms: RwSignal<f64>,
    /// Server time now, ticking four times a second.
    pub now_ms: RwSignal<i64>,
    /// Whether the socket is open.
    pub connected: RwSignal<bool>,
    /// The latest sale.
    pub last_sale: RwSignal<Option<Sale>>,
    /// The latest clip frame (only staff sockets get them: the studio).
    pub last_clip: RwSignal<Option<wire::Clip>>,
    /// Counts snapshots: a page that keeps lists of its own (orders, clips)
    /// fetches them again after each, since frames may have been missed.
    pub snapshots: RwSignal<u32>,
    /// Where the page's video is in the show, read from the stream's
    /// program dates and `EXT-X-DATERANGE`s by the watch page (elsewhere —
    /// the embedded widget, the studio — there is no picture and cards
    /// follow the live channel). What was pinned at the picture's moment:
    /// `Some(None)` unpinned, `None` no pin in the stream yet.
    pub picture_pin: RwSignal<Option<Option<String>>>,
    /// How far the picture is behind the server's clock, ms.
    pub picture_behind_ms: RwSignal<i64>,
}

/// Resolves after `ms`.
pub async fn sleep_ms(ms: i32) {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        let _ = window().set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms);
    });
    let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
}

/// Waits `ms`, or less if the browser comes back online meanwhile.
pub async fn sleep_or_online(ms: i32) {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        let w = window();
        let _ = w.set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms);
        let options = web_sys::AddEventListenerOptions::new();
        options.set_once(true);
        let _ = w.add_event_listener_with_callback_and_add_event_listener_options(
            "online", &resolve, &options,
        );
    });
    let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
}

fn browser_now() -> f64 {
    js_sys::Date::now()
}

fn window() -> web_sys::Window {
    web_sys::window().expect("a browser window")
}

/// Runs `f` after `ms`.
pub fn after(ms: i32, f: impl FnOnce() + 'static) {
    let f = Closure::once_into_js(f);
    let _ = window().set_timeout_with_callback_and_timeout_and_arguments_0(f.unchecked_ref(), ms);
}

/// Runs `f` every `ms`, for the life of the page.
pub fn every(ms: i32, f: impl FnMut() + 'static) {
    let f = Closure::<dyn FnMut()>::new(f);
    let _ = window()
        .set_interval_with_callback_and_timeout_and_arguments_0(f.as_ref().unchecked_ref(), ms);
    f.forget();
}

impl Live {
    /// The product the viewer should see pinned: the one pinned at the
    /// picture's moment if the page plays the stream, else the live one.
    /// Its stock and price are the live figures either way.
    pub fn shown_pinned(&self) -> Option<wire::Product> {
        let picture = self.picture_pin.get();
        self.state.with(|s| {
            let s = s.as_ref()?;
            match picture {
                Some(id) => s.product(id.as_deref()?).cloned(),
                None => s.pinned_product().cloned(),
            }
        })
    }

    /// The server's time as the picture shows it (countdowns end when the
    /// host on screen says so); the server's own clock still decides what
    /// can be bought.
    pub fn shown_now_ms(&self) -> i64 {
        self.now_ms.get() - self.picture_behind_ms.get()
    }

    /// Connects to the show's live channel on `api_base` (`http(s)://host`).
    pub fn connect(api_base: &str, show_id: &str) -> Live {
        Live::connect_as(api_base, show_id, None)
    }

    /// Connects with a creator's or editor's token, whose socket also gets
    /// the show's `clip` frames.
    pub fn connect_as(api_base: &str, show_id: &str, token: Option<&str>) -> Live {
        let live = Live {
            state: RwSignal::new(None),
            offset_ms: RwSignal::new(0.0),
            now_ms: RwSignal::new(browser_now() as i64),
            connected: RwSignal::new(false),
            last_sale: RwSignal::new(None),
            last_clip: RwSignal::new(None),
            snapshots: RwSignal::new(0),
            picture_pin: RwSignal::new(None),
            picture_behind_ms: RwSignal::new(0),
        };
        every(250, move || {
            live.now_ms
                .set((browser_now() + live.offset_ms.get_untracked()) as i64)
        });
        let mut url = format!(
            "{}/api/v1/shows/{show_id}/live",
            api_base
                .replacen("https://", "wss://", 1)
                .replacen("http://", "ws://", 1)
        );
        if let Some(token) = token {
            url.push_str("?token=");
            url.push_str(&String::from(js_sys::encode_uri_component(token)));
        }
        let current: Socket = Rc::default();
        // Re-sync the clock now and then: clocks drift and latency changes.
        {
            let current = current.clone();
            every(15_000, move || {
                if let Some(ws) = current.borrow().as_ref()
                    && ws.ready_state() == WebSocket::OPEN
                {
                    send_ping(ws);
                }
            });
        }
        open(live, Rc::new(url), Rc::new(Cell::new(0)), current);
        live
    }
}

fn send_ping(ws: &WebSocket) {
    let ping = ClientMsg::Ping {
        client_time_ms: browser_now() as i64,
    };
    if let Ok(text) = serde_json::to_string(&ping) {
        let _ = ws.send_with_str(&text);
    }
}

/// The socket open now, if any.
type Socket = Rc<RefCell<Option<WebSocket>>>;

/// Opens the socket; on close, tries again after a backoff that grows to
/// 10 s (with jitter) and resets once a snapshot arrives.
fn open(live: Live, url: Rc<String>, failures: Rc<Cell<u32>>, current: Socket) {
    let Ok(ws) = WebSocket::new(&url) else {
        retry(live, url, failures, current);
        return;
    };
    *current.borrow_mut() = Some(ws.clone());
    let sales = Rc::new(Cell::new(0u32));
    let on_message = {
        let failures = failures.clone();
        Closure::<dyn FnMut(MessageEvent)>::new(move |e: MessageEvent| {
            let Some(text) = e.data().as_string() else {
                return;
            };
            let Ok(msg) = serde_json::from_str::<ServerMsg>(&text) else {
                return;
            };
            match msg {
                ServerMsg::Pong {
                    client_time_ms,
                    server_time_ms,
                } => {
                    let now = browser_now();
                    let rtt = now - client_time_ms as f64;
                    live.offset_ms
                        .set(server_time_ms as f64 - (client_time_ms as f64 + rtt / 2.0));
                }
                ServerMsg::Clip { clip, .. } => live.last_clip.set(Some(clip)),
                msg => {
                    if let ServerMsg::Snapshot { server_time_ms, .. } = &msg {
                        failures.set(0);
                        // A first estimate until the pong refines it.
                        live.offset_ms.set(*server_time_ms as f64 - browser_now());
                        live.snapshots.update(|n| *n += 1);
                    }
                    let mut applied = Applied::Nothing;
                    live.state.update(|s| {
                        applied = s.get_or_insert_with(ShowState::default).apply(msg);
                    });
                    if let Applied::Sold {
                        product_id,
                        quantity,
                        buyer,
                    } = applied
                    {
                        sales.set(sales.get() + 1);
                        live.last_sale.set(Some(Sale {
                            n: sales.get(),
                            product_id,
                            quantity,
                            buyer,
                        }));
                    }
                }
            }
        })
    };
    ws.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    on_message.forget();
    let on_open = {
        let ws = ws.clone();
        Closure::<dyn FnMut()>::new(move || {
            live.connected.set(true);
            send_ping(&ws);
        })
    };
    ws.set_onopen(Some(on_open.as_ref().unchecked_ref()));
    on_open.forget();
    let on_close = Closure::once_into_js(move |e: web_sys::CloseEvent| {
        live.connected.set(false);
        if e.code() == GOING_AWAY {
            // The node is being stopped (a deploy): every socket it had hears
            // this at once, so they come back spread over a few seconds
            // through the load balancer to the other nodes, and resume from
            // the snapshot there.
            let wait = 100.0 + js_sys::Math::random() * GOING_AWAY_SPREAD_MS;
            after(wait as i32, move || open(live, url, failures, current));
        } else {
            retry(live, url, failures, current);
        }
    });
    ws.set_onclose(Some(on_close.unchecked_ref()));
}

/// The close code of a node that is stopping (RFC 6455 "going away").
const GOING_AWAY: u16 = 1001;
/// Over how long the sockets of a stopping node come back.
const GOING_AWAY_SPREAD_MS: f64 = 3_000.0;

fn retry(live: Live, url: Rc<String>, failures: Rc<Cell<u32>>, current: Socket) {
    let n = failures.get();
    failures.set(n + 1);
    let base = (500.0 * 2f64.powi(n.min(5) as i32)).min(10_000.0);
    let wait = base * (0.5 + js_sys::Math::random() / 2.0);
    after(wait as i32, move || open(live, url, failures, current));
}
