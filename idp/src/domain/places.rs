//! The approximate place of a sign-in, for the citizen's sessions page: the
//! operator lists network ranges and a place name for each (a province's
//! networks, a ministry's offices) in a CSV file named by `IDP_SESSION_PLACES`.
//! Without it no place is shown. Only the name is kept with a session, never
//! the address. Written by hand because it is a first-match lookup over the
//! operator's own short list, not a geolocation database.

use std::net::IpAddr;

use crate::config::{in_cidr, parse_cidr};

/// Network ranges and their place names, first match wins.
#[derive(Debug, Default, Clone)]
pub struct Places {
    ranges: Vec<(IpAddr, u8, String)>,
}

impl Places {
    /// Parse `cidr,place name` lines; blank lines and `#` comments are skipped.
    /// An error names the line.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut ranges = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let parsed = line.split_once(',').and_then(|(net, place)| {
                let (addr, len) = parse_cidr(net.trim())?;
                let place = place.trim().trim_matches('"').trim();
                (!place.is_empty() && place.chars().count() <= 80).then(|| (addr, len, place.to_owned()))
            });
            match parsed {
                Some(range) => ranges.push(range),
                None => return Err(format!("line {}: expected `CIDR,place name` (at most 80 characters)", n + 1)),
            }
        }
        Ok(Self { ranges })
    }

    /// The place of `ip`, if a listed range holds it.
    pub fn lookup(&self, ip: IpAddr) -> Option<&str> {
        self.ranges.iter().find(|(net, len, _)| in_cidr(ip, *net, *len)).map(|(_, _, place)| place.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_listed_range_that_holds_the_address_names_the_place() {
        let places = Places::parse(
            "# Hà Nội first\n14.160.0.0/11,Hà Nội\n14.0.0.0/8, Việt Nam\n\n2001:ee0::/32,\"TP. Hồ Chí Minh\"\n",
        )
        .unwrap();
        assert_eq!(places.lookup("14.160.1.2".parse().unwrap()), Some("Hà Nội"));
        assert_eq!(places.lookup("14.1.2.3".parse().unwrap()), Some("Việt Nam"));
        assert_eq!(places.lookup("2001:ee0::1".parse().unwrap()), Some("TP. Hồ Chí Minh"));
        assert_eq!(places.lookup("8.8.8.8".parse().unwrap()), None);
        assert_eq!(Places::default().lookup("14.160.1.2".parse().unwrap()), None);
    }

    #[test]
    fn a_bad_line_is_named() {
        assert_eq!(Places::parse("10.0.0.0/8,Ok\n10.0.0.0/99,Bad").unwrap_err().split(':').next(), Some("line 2"));
        assert!(Places::parse("10.0.0.0/8").is_err(), "no place name");
        assert!(Places::parse("10.0.0.0/8,").is_err(), "empty place name");
    }
}
