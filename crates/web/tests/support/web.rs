//! A web door over real HTTPS on loopback for the tests: the provider's engine from the
//! engine's two-gestore test network, a TLS certificate for `localhost` from a test CA,
//! and a reqwest client that trusts that CA, follows no redirect and keeps the cookies it
//! is told to (by hand, so that the tests can read their attributes).
#![allow(dead_code)] // each test binary uses part of it

use std::net::SocketAddr;
use std::sync::Arc;

use engine::Engine;
use reqwest::header::{self, HeaderMap};
use reqwest::{Response, StatusCode};

pub struct Web {
    pub addr: SocketAddr,
    http: reqwest::Client,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for Web {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// A browser: the cookies it holds.
#[derive(Default, Clone)]
pub struct Browser {
    pub cookies: Vec<(String, String)>,
}

impl Browser {
    fn header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// Takes the `Set-Cookie`s of a response (a `Max-Age=0` deletes).
    pub fn absorb(&mut self, headers: &HeaderMap) {
        for v in headers.get_all(header::SET_COOKIE) {
            let v = v.to_str().unwrap();
            let (pair, attrs) = v.split_once(';').unwrap_or((v, ""));
            let (k, val) = pair.split_once('=').unwrap();
            self.cookies.retain(|(name, _)| name != k);
            if !attrs.contains("Max-Age=0") {
                self.cookies.push((k.to_string(), val.to_string()));
            }
        }
    }

    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.cookies
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Percent-encodes a form value.
pub fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

impl Web {
    /// Serves `engine`'s web door on a free loopback port.
    pub async fn start(engine: Arc<Engine>) -> Web {
        Web::start_with(web::WebState::new(
            engine,
            web::WebConfig::new("https://localhost"),
        ))
        .await
    }

    pub async fn start_with(state: web::WebState) -> Web {
        let ca = smime::testca::TestCa::new("web test").unwrap();
        let (cert, key) = ca.server(&["localhost"]).unwrap();
        let tls = smtp::tls_server_config(&cert, &key).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(web::serve(listener, tls, state, async {
            let _ = stop_rx.await;
        }));
        let http = reqwest::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(&ca.cert_pem().unwrap()).unwrap())
            .resolve("localhost", addr)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        Web {
            addr,
            http,
            stop: Some(stop_tx),
        }
    }

    /// The client itself, for requests the helpers do not make (the REST API's).
    pub fn client(&self) -> &reqwest::Client {
        &self.http
    }

    pub fn url(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.addr.port())
    }

    /// GET with the browser's cookies (and extra headers).
    pub async fn get(&self, b: &mut Browser, path: &str, extra: &[(&str, &str)]) -> Response {
        let mut req = self.http.get(self.url(path));
        if !b.cookies.is_empty() {
            req = req.header(header::COOKIE, b.header());
        }
        for (k, v) in extra {
            req = req.header(*k, *v);
        }
        let res = req.send().await.unwrap();
        b.absorb(res.headers());
        res
    }

    /// POST of a form with the browser's cookies.
    pub async fn post(&self, b: &mut Browser, path: &str, form: &[(&str, &str)]) -> Response {
        let body = form
            .iter()
            .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
            .collect::<Vec<_>>()
            .join("&");
        let mut req = self
            .http
            .post(self.url(path))
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(body);
        if !b.cookies.is_empty() {
            req = req.header(header::COOKIE, b.header());
        }
        let res = req.send().await.unwrap();
        b.absorb(res.headers());
        res
    }

    /// POST of a multipart form (file uploads) with the browser's cookies.
    pub async fn post_multipart(
        &self,
        b: &mut Browser,
        path: &str,
        form: reqwest::multipart::Form,
    ) -> Response {
        let mut req = self.http.post(self.url(path)).multipart(form);
        if !b.cookies.is_empty() {
            req = req.header(header::COOKIE, b.header());
        }
        let res = req.send().await.unwrap();
        b.absorb(res.headers());
        res
    }

    /// POST of raw bytes as `content_type` with the browser's cookies; `Err` when the
    /// connection fails before a response.
    pub async fn post_bytes(
        &self,
        b: &mut Browser,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> reqwest::Result<Response> {
        let mut req = self
            .http
            .post(self.url(path))
            .header(header::CONTENT_TYPE, content_type)
            .body(body);
        if !b.cookies.is_empty() {
            req = req.header(header::COOKIE, b.header());
        }
        let res = req.send().await?;
        b.absorb(res.headers());
        Ok(res)
    }

    /// Opens the login page and posts the credentials with its token; the response.
    pub async fn try_login(&self, b: &mut Browser, login: &str, password: &str) -> Response {
        let page = self.get(b, "/login", &[]).await;
        assert_eq!(page.status(), StatusCode::OK);
        let token = b.cookie("pecora_accesso").unwrap().to_string();
        let body = page.text().await.unwrap();
        assert!(
            body.contains(&format!("name=\"csrf\" value=\"{token}\"")),
            "{body}"
        );
        self.post(
            b,
            "/login",
            &[("login", login), ("password", password), ("csrf", &token)],
        )
        .await
    }

    /// A logged-in browser.
    pub async fn login(&self, login: &str, password: &str) -> Browser {
        let mut b = Browser::default();
        let res = self.try_login(&mut b, login, password).await;
        assert_eq!(
            res.status(),
            StatusCode::SEE_OTHER,
            "{}",
            res.text().await.unwrap()
        );
        assert!(b.cookie("pecora_sessione").is_some());
        b
    }

    /// The body of a page that must answer 200.
    pub async fn page(&self, b: &mut Browser, path: &str) -> String {
        let res = self.get(b, path, &[]).await;
        let status = res.status();
        let body = res.text().await.unwrap();
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        body
    }
}

/// The CSRF token in a page's forms.
pub fn csrf_of(page: &str) -> String {
    let at = page
        .find("name=\"csrf\" value=\"")
        .expect("a form with a csrf field")
        + 19;
    page[at..at + 64].to_string()
}
