//! `ceiling`: the most requests per second this machine's HTTP/1.1 and JSON
//! can carry, measured against a bare hyper 1.x server started inside the
//! bench process that parses each JSON body and echoes it back.
//!
//! Not zkppd itself: zkppd answering a trivial route would share its own
//! wrappers, routing and runtime settings with `verify`, so verify ÷
//! ceiling would compare zkppd with itself. An independent echo server is a
//! limit zkppd's overhead cannot move. It runs in this process, so its row
//! has no server CPU or memory.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{Request, Response, StatusCode};
use zkppd_proto::paths;

use super::{Fixed, fixed_op, invalid_verify_body};
use crate::cli::Args;
use crate::load::run_workers;
use crate::report::{Row, row};
use crate::sampler;

/// A hyper JSON echo server on 127.0.0.1:0; stopped on drop.
struct EchoServer {
    addr: SocketAddr,
    runtime: Option<tokio::runtime::Runtime>,
}

impl EchoServer {
    fn start() -> std::io::Result<EchoServer> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(sampler::cores())
            .thread_name("ceiling-echo")
            .enable_all()
            .build()?;
        let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
        let addr = listener.local_addr()?;
        runtime.spawn(async move {
            loop {
                let stream = match listener.accept().await {
                    Ok((stream, _)) => stream,
                    Err(_) => {
                        // Out of descriptors, most likely: let some close.
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                tokio::spawn(async move {
                    let io = hyper_util::rt::TokioIo::new(stream);
                    let service = hyper::service::service_fn(echo);
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(io, service)
                        .await;
                });
            }
        });
        Ok(EchoServer {
            addr,
            runtime: Some(runtime),
        })
    }
}

impl Drop for EchoServer {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

/// Parses the body as JSON and answers it re-serialized: 200, or 400 if
/// it is not JSON.
async fn echo(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let (status, body) = match req.into_body().collect().await {
        Ok(b) => match serde_json::from_slice::<serde_json::Value>(&b.to_bytes()) {
            Ok(v) => (StatusCode::OK, serde_json::to_vec(&v).unwrap_or_default()),
            Err(_) => (StatusCode::BAD_REQUEST, b"{}".to_vec()),
        },
        Err(_) => (StatusCode::BAD_REQUEST, b"{}".to_vec()),
    };
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Ok(resp)
}

pub(crate) fn ceiling(args: &Args, warmup: Duration) -> Result<Vec<Row>, String> {
    let c = args.concurrency.max(1);
    let echo = EchoServer::start().map_err(|e| format!("echo server: {e}"))?;
    // Same shape and size as a real verify body.
    let body = invalid_verify_body();
    let workers = (0..c)
        .map(|_| {
            let client = zkppd_client::Client::new(echo.addr);
            let request = client.build_request(paths::VERIFY, &body, None);
            Fixed::new(client, request)
        })
        .collect();
    let m = run_workers(None, warmup, args.duration, 1, workers, fixed_op(200, 0));
    drop(echo);
    let mut r = row("ceiling", c, &m, 0, None, None);
    r.note = Some("bare hyper JSON echo in the bench process (verify-sized body)".into());
    Ok(vec![r])
}
