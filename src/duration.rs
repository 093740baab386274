//! Durations: Go `time.Duration` text as Flux and kubectl write it (`5m`, `1h30m`, `1.5s`), parsed
//! once; and the short forms the plugin prints (`45s`, `2m10s`, `3h5m`, an age, how long a step took).

use std::time::Duration;

use k8s_openapi::jiff::{SignedDuration, Timestamp};

/// A flag whose value is not a duration; the message names the flag, the value and an example.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid {flag} {value:?}: use a duration such as {example}")]
pub struct InvalidDuration {
    pub flag: &'static str,
    pub value: String,
    pub example: &'static str,
}

/// Parses Go `time.Duration` strings such as `5m`, `1h30m`, `1.5s`, `500ms` (Go's
/// `time.ParseDuration`, which Flux's `metav1.Duration` fields and kubectl's flags use).
pub(crate) fn parse_go_duration(s: &str) -> Option<SignedDuration> {
    let mut total = 0f64;
    let mut rest = s.trim();
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let num_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        let value: f64 = rest[..num_len].parse().ok()?;
        rest = &rest[num_len..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let factor = match &rest[..unit_len] {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 0.001,
            "us" | "µs" => 0.000_001,
            "ns" => 0.000_000_001,
            _ => return None,
        };
        total += value * factor;
        rest = &rest[unit_len..];
    }
    Some(SignedDuration::from_secs_f64(total))
}

/// A positive duration flag such as `--timeout 5m`.
pub(crate) fn parse_timeout_flag(flag: &'static str, value: &str) -> Result<Duration, InvalidDuration> {
    parse_go_duration(value)
        .and_then(|d| Duration::try_from(d).ok())
        .filter(|d| !d.is_zero())
        .ok_or_else(|| InvalidDuration { flag, value: value.to_string(), example: "90s or 5m" })
}

/// kubectl's `--request-timeout`: `0` (no limit), a number of seconds, or `1h2m3s`-style.
pub(crate) fn parse_request_timeout(value: &str) -> Result<Option<Duration>, InvalidDuration> {
    let s = value.trim();
    if s == "0" {
        return Ok(None);
    }
    if let Ok(secs) = s.parse::<u64>() {
        return Ok(Some(Duration::from_secs(secs)));
    }
    parse_go_duration(s).and_then(|d| d.try_into().ok()).map(Some).ok_or_else(|| InvalidDuration {
        flag: "--request-timeout",
        value: s.to_string(),
        example: "30s or 1m, or 0 for no limit",
    })
}

/// Short human durations: `45s`, `2m10s`, `3h5m`, `4d2h`.
pub(crate) fn human(d: SignedDuration) -> String {
    let secs = d.as_secs().max(0);
    match secs {
        0..60 => format!("{secs}s"),
        60..3600 if secs % 60 == 0 => format!("{}m", secs / 60),
        60..3600 => format!("{}m{}s", secs / 60, secs % 60),
        3600..86400 => format!("{}h{}m", secs / 3600, (secs % 3600) / 60),
        _ => format!("{}d{}h", secs / 86400, (secs % 86400) / 3600),
    }
}

/// How long ago `then` was at `now`, as kubectl's AGE column says it.
pub(crate) fn age(now: Timestamp, then: Timestamp) -> String {
    human(now.duration_since(then))
}

/// How long a step took: `1.2s` under ten seconds, else `45s`, `2m3s`.
pub(crate) fn took(d: Duration) -> String {
    if d.as_secs() < 10 {
        format!("{:.1}s", d.as_secs_f64())
    } else {
        human(SignedDuration::from_secs(d.as_secs() as i64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_go_durations() {
        assert_eq!(parse_go_duration("5m"), Some(SignedDuration::from_mins(5)));
        assert_eq!(parse_go_duration("1h30m"), Some(SignedDuration::from_mins(90)));
        assert_eq!(parse_go_duration("1.5s"), Some(SignedDuration::from_millis(1500)));
        assert_eq!(parse_go_duration("500ms"), Some(SignedDuration::from_millis(500)));
        assert_eq!(parse_go_duration("5 minutes"), None);
        assert_eq!(parse_go_duration(""), None);
    }

    #[test]
    fn flags_are_parsed_once_with_one_error_style() {
        assert_eq!(parse_timeout_flag("--timeout", "2m"), Ok(Duration::from_secs(120)));
        assert_eq!(
            parse_timeout_flag("--timeout", "soon").unwrap_err().to_string(),
            "invalid --timeout \"soon\": use a duration such as 90s or 5m"
        );
        assert!(parse_timeout_flag("--timeout", "0s").is_err());
        assert_eq!(parse_request_timeout("0"), Ok(None));
        assert_eq!(parse_request_timeout("45"), Ok(Some(Duration::from_secs(45))));
        assert_eq!(parse_request_timeout("1m"), Ok(Some(Duration::from_secs(60))));
        assert_eq!(
            parse_request_timeout("x").unwrap_err().to_string(),
            "invalid --request-timeout \"x\": use a duration such as 30s or 1m, or 0 for no limit"
        );
    }

    #[test]
    fn formats_human_durations() {
        assert_eq!(human(SignedDuration::from_secs(45)), "45s");
        assert_eq!(human(SignedDuration::from_secs(130)), "2m10s");
        assert_eq!(human(SignedDuration::from_secs(300)), "5m");
        assert_eq!(human(SignedDuration::from_secs(3 * 3600 + 300)), "3h5m");
        assert_eq!(human(SignedDuration::from_secs(-5)), "0s");
        assert_eq!(took(Duration::from_millis(1234)), "1.2s");
        assert_eq!(took(Duration::from_secs(123)), "2m3s");
    }
}
