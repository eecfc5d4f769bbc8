//! The lab's HTTP request handling, in-process: paths, query parameters (selectors, watch and
//! paging parameters), content types and bodies.
#![no_main]

use std::sync::OnceLock;

use futures::{FutureExt, StreamExt};
use lbctl::lab::{Lab, Scenario};
use libfuzzer_sys::fuzz_target;

struct Env {
    lab: Lab,
    rt: tokio::runtime::Runtime,
}

fn env() -> &'static Env {
    static ENV: OnceLock<Env> = OnceLock::new();
    ENV.get_or_init(|| {
        let s = Scenario::load("doctor-healthy").expect("embedded scenario");
        Env {
            lab: Lab::start("127.0.0.1:0".parse().unwrap(), &[s]).expect("lab starts"),
            rt: tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .build()
                .unwrap(),
        }
    })
}

fuzz_target!(|data: &[u8]| {
    // Line 1: `METHOD PATH[?QUERY]`; line 2: Content-Type; the rest: the body.
    let mut parts = data.splitn(3, |b| *b == b'\n');
    let Ok(line) = std::str::from_utf8(parts.next().unwrap_or_default()) else {
        return;
    };
    let ct = parts.next().unwrap_or_default().to_vec();
    let body = parts.next().unwrap_or_default().to_vec();
    let (method, uri) = line.split_once(' ').unwrap_or(("GET", line));
    let Ok(req) = axum::http::Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", ct)
        .body(axum::body::Body::from(body))
    else {
        return;
    };
    let e = env();
    e.rt.block_on(async {
        let resp = e.lab.handle(req).await;
        let status = resp.status().as_u16();
        assert!(
            (200..600).contains(&status),
            "{line}: status {status}"
        );
        // Read what the handler has ready (a watch streams on; its task ends at the cut).
        let mut body = resp.into_body().into_data_stream();
        for _ in 0..64 {
            tokio::task::yield_now().await;
            match body.next().now_or_never() {
                Some(Some(_)) => {}
                _ => break,
            }
        }
        drop(body);
        e.lab.cut_watches();
        for _ in 0..4 {
            tokio::task::yield_now().await;
        }
    });
    e.lab.clear_requests();
});
