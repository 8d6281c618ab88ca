//! Where a webhook may be sent: https only, and only to public addresses, so that a clinic
//! admin cannot make the server reach its own loopback, the private network, link-local
//! cloud metadata (169.254.169.254) and the like (SSRF). The operator may allow plain
//! http and private targets in `[delivery]` (a receiver on the clinic's own network).
//!
//! Checked when the URL is saved (after resolving its host) and again at every send, where
//! the HTTP client's resolver drops every non-public address it would connect to, so a
//! name that resolved to a public address when saved cannot later point inside.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::config::DeliveryConfig;

/// Why a webhook target is refused: a rule to show the admin (it names the setting that
/// would allow it), never anything the target said.
pub type Refusal = &'static str;

const NOT_HTTPS: Refusal = "must be an https URL (plain http needs delivery.webhook_allow_http)";
const NOT_PUBLIC: Refusal = "must point to a public address, not loopback, private, link-local or \
     metadata ones (those need delivery.webhook_allow_private_targets)";
const INVALID: Refusal = "must be an http(s) URL with a host";

/// What the operator allows beyond public https targets.
#[derive(Clone, Copy, Debug)]
pub struct TargetPolicy {
    /// Plain `http://` URLs.
    pub allow_http: bool,
    /// Loopback, private, link-local and other non-public addresses.
    pub allow_private: bool,
}

impl TargetPolicy {
    /// The policy `[delivery]` configures.
    pub fn from_config(config: &DeliveryConfig) -> Self {
        Self {
            allow_http: config.webhook_allow_http,
            allow_private: config.webhook_allow_private_targets,
        }
    }

    /// Checks `url` as far as it can be now: scheme, then the host's addresses (an IP
    /// literal, `localhost`, or what the name resolves to). A name that does not resolve
    /// at all is let through: the resolver decides at send time.
    pub async fn check(&self, url: &str) -> Result<(), Refusal> {
        let parsed = reqwest::Url::parse(url).map_err(|_| INVALID)?;
        match parsed.scheme() {
            "https" => {}
            "http" if self.allow_http => {}
            "http" => return Err(NOT_HTTPS),
            _ => return Err(INVALID),
        }
        if self.allow_private {
            return Ok(());
        }
        let host = parsed.host_str().ok_or(INVALID)?;
        let literal = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = literal.parse::<IpAddr>() {
            return public_or_refused(ip);
        }
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        if host == "localhost" || host.ends_with(".localhost") {
            return Err(NOT_PUBLIC);
        }
        let port = parsed.port_or_known_default().unwrap_or(443);
        match tokio::net::lookup_host((host.as_str(), port)).await {
            Ok(addrs) => {
                for addr in addrs {
                    public_or_refused(addr.ip())?;
                }
                Ok(())
            }
            Err(_) => Ok(()),
        }
    }

    /// The resolver the webhook client connects through.
    pub fn resolver(&self) -> PublicOnlyResolver {
        PublicOnlyResolver {
            allow_private: self.allow_private,
        }
    }
}

fn public_or_refused(ip: IpAddr) -> Result<(), Refusal> {
    if is_public(ip) {
        Ok(())
    } else {
        Err(NOT_PUBLIC)
    }
}

/// Whether `ip` is a globally routable unicast address.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public_v4(v4);
            }
            let s = v6.segments();
            // NAT64 (64:ff9b::/96) carries an IPv4 address in its last 32 bits.
            if s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0] {
                let [a, b] = s[6].to_be_bytes();
                let [c, d] = s[7].to_be_bytes();
                return is_public_v4(Ipv4Addr::new(a, b, c, d));
            }
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00 // unique local, fd00:ec2::254 metadata too
                || (s[0] & 0xffc0) == 0xfe80 // link-local
                || (s[0] & 0xffc0) == 0xfec0 // site-local (deprecated)
                || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
                || v6 == Ipv6Addr::from_bits(1) // ::1 spelled out
                || s[0..6] == [0, 0, 0, 0, 0, 0]) // IPv4-compatible ::a.b.c.d
        }
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local() // 169.254.0.0/16: cloud metadata
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0 // "this network"
        || (a == 100 && (b & 0xc0) == 64) // 100.64.0.0/10 shared (100.100.100.200 metadata)
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (b & 0xfe) == 18) // benchmarking
        || a >= 240) // reserved
}

/// The webhook client's DNS resolver: the system's, minus every address that is not
/// public (unless allowed). When nothing is left the connection fails with
/// [`RefusedTarget`], which the channel reports as a permanent refusal.
#[derive(Clone, Copy, Debug)]
pub struct PublicOnlyResolver {
    allow_private: bool,
}

/// Every address of a webhook host was refused by the target policy.
#[derive(Debug, thiserror::Error)]
#[error("the webhook host resolves only to non-public addresses")]
pub struct RefusedTarget;

impl reqwest::dns::Resolve for PublicOnlyResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allow_private = self.allow_private;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|addr| allow_private || is_public(addr.ip()))
                .collect();
            if addrs.is_empty() {
                return Err(Box::new(RefusedTarget) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_addresses_are_public() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.100.100.200",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "::",
            "fd00:ec2::254",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a9fe:a9fe",
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
        for public in ["93.184.216.34", "1.1.1.1", "2606:4700:4700::1111"] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
    }

    #[tokio::test]
    async fn urls_are_checked_by_scheme_and_address() {
        let strict = TargetPolicy {
            allow_http: false,
            allow_private: false,
        };
        for (url, refusal) in [
            ("http://93.184.216.34/hook", NOT_HTTPS),
            ("https://169.254.169.254/latest/meta-data", NOT_PUBLIC),
            ("https://127.0.0.1:8443/", NOT_PUBLIC),
            ("https://[::1]/", NOT_PUBLIC),
            ("https://10.0.0.5/", NOT_PUBLIC),
            ("https://localhost/", NOT_PUBLIC),
            ("https://api.localhost/", NOT_PUBLIC),
            ("ftp://example.org/", INVALID),
            ("not a url", INVALID),
        ] {
            assert_eq!(strict.check(url).await, Err(refusal), "{url}");
        }
        assert_eq!(strict.check("https://93.184.216.34/hook").await, Ok(()));
        let open = TargetPolicy {
            allow_http: true,
            allow_private: true,
        };
        assert_eq!(open.check("http://127.0.0.1:9000/hook").await, Ok(()));
    }

    #[tokio::test]
    async fn the_resolver_drops_non_public_addresses() {
        use reqwest::dns::Resolve;
        let name = || "localhost".parse::<reqwest::dns::Name>().unwrap();
        let strict = PublicOnlyResolver {
            allow_private: false,
        };
        let refused = strict.resolve(name()).await.err().unwrap();
        assert!(refused.is::<RefusedTarget>());
        let open = PublicOnlyResolver {
            allow_private: true,
        };
        assert!(
            open.resolve(name())
                .await
                .unwrap()
                .any(|a| a.ip().is_loopback())
        );
    }
}
