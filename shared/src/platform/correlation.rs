//! Correlation ids: taken from `X-Correlation-Id` when the caller sends a sane one,
//! otherwise generated, and returned on every response and logged on every line.

pub const HEADER: &str = "x-correlation-id";

pub fn from_header(value: Option<&str>) -> String {
    match value {
        Some(v) if is_acceptable(v) => v.to_string(),
        _ => ulid::Ulid::new().to_string(),
    }
}

/// Printable ASCII without spaces, at most 128 characters: safe to echo and to log.
fn is_acceptable(v: &str) -> bool {
    !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_sane_ids_and_replaces_others() {
        assert_eq!(from_header(Some("abc-123")), "abc-123");
        assert_eq!(from_header(None).len(), 26);
        assert_eq!(from_header(Some("has space")).len(), 26);
        assert_eq!(from_header(Some(&"x".repeat(129))).len(), 26);
        assert_eq!(from_header(Some("")).len(), 26);
    }
}
