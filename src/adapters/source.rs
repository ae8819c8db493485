//! Where `ip-ranges.json` comes from: the first of the two I/O boundaries.
//!
//! [`HttpSource`] downloads it from the configured URL (never from a URL taken from an event), with a timeout,
//! bounded retries on 5xx answers and connection errors, a body size cap, and redirects followed only on the
//! configured host, never from https down to http. [`FileSource`] reads a local copy (for the CLI).

use std::path::PathBuf;
use std::time::Duration;

use crate::config::Config;
use crate::deadline::{Backoff, Budget};
use crate::error::{Error, Result};
use crate::ports::RangesSource;

/// Downloads over HTTP(S).
#[derive(Debug, Clone)]
pub struct HttpSource {
    client: reqwest::Client,
    url: String,
    attempts: u32,
    max_bytes: u64,
}

const MAX_REDIRECTS: usize = 5;

impl HttpSource {
    /// Build the client once; no network I/O happens here.
    pub fn new(config: &Config) -> Result<HttpSource> {
        HttpSource::with_client(config, reqwest::Client::builder())
    }

    /// As [`HttpSource::new`], from a client builder the caller has prepared (tests map a host to 127.0.0.1).
    pub fn with_client(config: &Config, builder: reqwest::ClientBuilder) -> Result<HttpSource> {
        let url = config.ip_ranges_url.clone();
        let parsed = reqwest::Url::parse(&url).map_err(|e| Error::Config {
            variable: "IP_RANGES_URL",
            value: url.clone(),
            reason: e.to_string(),
        })?;
        let policy = reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() > MAX_REDIRECTS {
                attempt.error("too many redirects")
            } else if may_follow(&parsed, attempt.url()) {
                attempt.follow()
            } else {
                // Not followed: the 3xx answer comes back and is reported as an error.
                attempt.stop()
            }
        });
        let client = builder
            .timeout(config.download_timeout)
            .connect_timeout(config.download_timeout.min(Duration::from_secs(10)))
            .redirect(policy)
            .user_agent(concat!("cloudfront-sg-sync/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::HttpClient { reason: e.to_string() })?;
        Ok(HttpSource {
            client,
            url,
            attempts: config.download_attempts,
            max_bytes: config.download_max_bytes,
        })
    }

    /// One attempt. `Err((retryable, reason))` on failure.
    async fn attempt(&self) -> std::result::Result<Vec<u8>, Attempt> {
        let mut response = self
            .client
            .get(&self.url)
            .send()
            .await
            .map_err(|e| Attempt::Retry(describe(&e)))?;
        let status = response.status();
        if status.is_redirection() {
            let to = response
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|l| l.to_str().ok())
                .unwrap_or("nowhere");
            return Err(Attempt::Fail(format!(
                "HTTP {status}: redirect to {to} not followed off the configured host or down to plain http"
            )));
        }
        if status.is_server_error() {
            return Err(Attempt::Retry(format!("HTTP {status}")));
        }
        if !status.is_success() {
            return Err(Attempt::Fail(format!("HTTP {status}")));
        }
        if response.content_length().is_some_and(|n| n > self.max_bytes) {
            return Err(Attempt::TooLarge);
        }
        let mut body = Vec::with_capacity(response.content_length().unwrap_or(0) as usize);
        while let Some(chunk) = response.chunk().await.map_err(|e| Attempt::Retry(describe(&e)))? {
            if body.len() as u64 + chunk.len() as u64 > self.max_bytes {
                return Err(Attempt::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

enum Attempt {
    Retry(String),
    Fail(String),
    TooLarge,
}

/// A reqwest error with its causes, which hold the useful part ("connection refused", "unexpected EOF").
fn describe(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The pause before the second download attempt (jittered: every subscriber of the notification downloads the
/// file at the same moment); each next one doubles, up to [`MAX_RETRY_PAUSE`].
const FIRST_RETRY_PAUSE: Duration = Duration::from_millis(400);
/// The longest pause between two download attempts.
const MAX_RETRY_PAUSE: Duration = Duration::from_millis(12_800);

impl RangesSource for HttpSource {
    async fn fetch(&self) -> Result<Vec<u8>> {
        let mut attempt = 0;
        let mut backoff = Backoff::new(FIRST_RETRY_PAUSE, MAX_RETRY_PAUSE, Duration::MAX).jittered();
        loop {
            attempt += 1;
            let reason = match self.attempt().await {
                Ok(body) => {
                    tracing::info!(url = %self.url, bytes = body.len(), attempt, "downloaded ip-ranges.json");
                    return Ok(body);
                }
                Err(Attempt::TooLarge) => {
                    return Err(Error::TooLarge {
                        url: self.url.clone(),
                        limit: self.max_bytes,
                    });
                }
                Err(Attempt::Fail(reason)) => {
                    return Err(Error::Download {
                        url: self.url.clone(),
                        attempts: attempt,
                        reason,
                    });
                }
                Err(Attempt::Retry(reason)) => reason,
            };
            if attempt >= self.attempts {
                return Err(Error::Download {
                    url: self.url.clone(),
                    attempts: attempt,
                    reason,
                });
            }
            tracing::warn!(url = %self.url, attempt, %reason, "download failed; retrying after a pause");
            // The download is bounded by the run's deadline as a whole (see `fetch_verified`).
            backoff.pause(Budget::unbounded()).await;
        }
    }

    fn location(&self) -> &str {
        &self.url
    }
}

/// Whether a redirect from the configured `url` to `to` is followed: only on the same host, and never from
/// https down to plain http (a plain http `url` is a loopback one: see `IP_RANGES_URL`).
fn may_follow(url: &reqwest::Url, to: &reqwest::Url) -> bool {
    let same_host = to.host_str() == url.host_str();
    let secure = to.scheme() == "https" || url.scheme() == "http";
    same_host && secure
}

/// Reads a local copy of the file.
#[derive(Debug, Clone)]
pub struct FileSource {
    path: PathBuf,
    display: String,
}

impl FileSource {
    /// A source reading `path`.
    pub fn new(path: impl Into<PathBuf>) -> FileSource {
        let path = path.into();
        let display = path.display().to_string();
        FileSource { path, display }
    }
}

impl RangesSource for FileSource {
    async fn fetch(&self) -> Result<Vec<u8>> {
        tokio::fs::read(&self.path).await.map_err(|e| Error::ReadFile {
            path: self.display.clone(),
            reason: e.to_string(),
        })
    }

    fn location(&self) -> &str {
        &self.display
    }
}

#[cfg(test)]
mod tests {
    use super::may_follow;

    fn url(text: &str) -> reqwest::Url {
        reqwest::Url::parse(text).unwrap()
    }

    #[test]
    fn a_redirect_is_followed_only_on_the_same_host_and_never_down_to_plain_http() {
        let https = url("https://ip-ranges.amazonaws.com/ip-ranges.json");
        assert!(may_follow(
            &https,
            &url("https://ip-ranges.amazonaws.com/v2/ip-ranges.json")
        ));
        assert!(!may_follow(
            &https,
            &url("http://ip-ranges.amazonaws.com/ip-ranges.json")
        ));
        assert!(!may_follow(&https, &url("https://elsewhere.example/ip-ranges.json")));
        let loopback = url("http://127.0.0.1:8000/ip-ranges.json");
        assert!(may_follow(&loopback, &url("http://127.0.0.1:8000/moved.json")));
        assert!(may_follow(&loopback, &url("https://127.0.0.1:8443/moved.json")));
        assert!(!may_follow(&loopback, &url("http://10.0.0.1/ip-ranges.json")));
    }
}
