//! HTTP downloads with errors in words: which host could not be reached, and why.

use std::error::Error as _;
use std::time::Duration;

/// Starts a GET of `url`; a failure says which host and what went wrong, in one line.
pub(crate) fn get(url: &str) -> Result<ureq::Response, String> {
    ureq::AgentBuilder::new()
        .timeout_connect(Duration::from_secs(30))
        .timeout_read(Duration::from_secs(120))
        .build()
        .get(url)
        .call()
        .map_err(|e| in_words(url, &e))
}

/// One line saying what a failed request ran into.
fn in_words(url: &str, error: &ureq::Error) -> String {
    let transport = match error {
        ureq::Error::Status(code, response) => {
            return format!("{url} answered HTTP {code} {}", response.status_text());
        }
        ureq::Error::Transport(t) => t,
    };
    let host = transport
        .url()
        .and_then(|u| u.host_str().map(str::to_string))
        .unwrap_or_else(|| url.to_string());
    let cause = transport
        .source()
        .map(|s| format!(": {s}"))
        .or_else(|| transport.message().map(|m| format!(": {m}")))
        .unwrap_or_default();
    use ureq::ErrorKind as K;
    match transport.kind() {
        K::Dns => format!("cannot resolve the host {host} (no network, or no DNS){cause}"),
        K::ConnectionFailed => format!("cannot connect to {host}{cause}"),
        K::Io => format!("the connection to {host} failed{cause}"),
        K::InvalidUrl | K::UnknownScheme => format!("`{url}` is not a URL this client can fetch"),
        K::ProxyConnect | K::InvalidProxyUrl | K::ProxyUnauthorized => {
            format!("the proxy for {host} failed{cause}")
        }
        other => format!("{host}: {other}{cause}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unreachable_host_is_named_in_one_line() {
        // A port nothing listens on: bound, then released.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let err = get(&format!("http://127.0.0.1:{port}/x.tgz")).unwrap_err();
        assert!(
            err.starts_with("cannot connect to 127.0.0.1") && !err.contains('\n'),
            "{err}"
        );
        let err = get("nonsense").unwrap_err();
        assert!(err.contains("`nonsense` is not a URL"), "{err}");
    }
}
