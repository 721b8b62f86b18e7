//! Localized problem titles and details: one JSON catalogue per language in `shared/locales/`.
//! English is the fallback for a language we do not have and for a missing entry.

use std::collections::HashMap;
use std::sync::OnceLock;

use serde::Deserialize;

use super::error::{ErrorCode, FieldIssue, fill};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Locale {
    En,
    Es,
    De,
}

impl Locale {
    pub const ALL: &'static [Locale] = &[Locale::En, Locale::Es, Locale::De];

    pub fn tag(self) -> &'static str {
        match self {
            Locale::En => "en",
            Locale::Es => "es",
            Locale::De => "de",
        }
    }

    fn source(self) -> &'static str {
        match self {
            Locale::En => include_str!("../../locales/en.json"),
            Locale::Es => include_str!("../../locales/es.json"),
            Locale::De => include_str!("../../locales/de.json"),
        }
    }

    /// Picks the best supported language from an `Accept-Language` header (RFC 9110 q-values).
    pub fn negotiate(accept_language: Option<&str>) -> Locale {
        let Some(header) = accept_language else { return Locale::En };
        let mut best: Option<(f32, Locale)> = None;
        for part in header.split(',') {
            let mut pieces = part.trim().split(';');
            let tag = pieces.next().unwrap_or("").trim().to_ascii_lowercase();
            let q = pieces.find_map(|p| p.trim().strip_prefix("q=").and_then(|q| q.parse::<f32>().ok())).unwrap_or(1.0);
            let primary = tag.split('-').next().unwrap_or("");
            let locale = Locale::ALL.iter().copied().find(|l| l.tag() == primary);
            if let Some(locale) = locale
                && q > 0.0
                && best.is_none_or(|(bq, _)| q > bq)
            {
                best = Some((q, locale));
            }
        }
        best.map(|(_, l)| l).unwrap_or(Locale::En)
    }
}

#[derive(Debug, Deserialize)]
struct Entry {
    title: String,
    /// A problem's detail, or a notification's body.
    #[serde(alias = "body")]
    detail: String,
}

#[derive(Debug, Deserialize)]
pub struct Catalogue {
    errors: HashMap<String, Entry>,
    fields: HashMap<String, String>,
    /// What a member is told, by event type name: a title (the email's subject) and a body.
    notifications: HashMap<String, Entry>,
}

static CATALOGUES: OnceLock<HashMap<Locale, Catalogue>> = OnceLock::new();

impl Catalogue {
    pub fn get(locale: Locale) -> &'static Catalogue {
        let all = CATALOGUES.get_or_init(|| {
            Locale::ALL
                .iter()
                .map(|l| {
                    let c: Catalogue = serde_json::from_str(l.source())
                        .unwrap_or_else(|e| panic!("locales/{}.json is invalid: {e}", l.tag()));
                    (*l, c)
                })
                .collect()
        });
        &all[&locale]
    }

    pub fn error(&self, code: ErrorCode, args: &[(&'static str, String)]) -> (String, String) {
        let entry = self.errors.get(code.as_str()).or_else(|| Catalogue::get(Locale::En).errors.get(code.as_str()));
        match entry {
            Some(e) => (fill(&e.title, args), fill(&e.detail, args)),
            None => (code.as_str().to_string(), code.as_str().to_string()),
        }
    }

    /// The title and body telling a member of an event (by its wire name, e.g. `reminder`).
    pub fn notification(&self, event: &str, args: &[(&'static str, String)]) -> (String, String) {
        let entry = self.notifications.get(event).or_else(|| Catalogue::get(Locale::En).notifications.get(event));
        match entry {
            Some(e) => (fill(&e.title, args), fill(&e.detail, args)),
            None => (event.to_string(), String::new()),
        }
    }

    pub fn field(&self, issue: FieldIssue, args: &[(&'static str, String)]) -> String {
        let text = self.fields.get(issue.as_str()).or_else(|| Catalogue::get(Locale::En).fields.get(issue.as_str()));
        text.map(|t| fill(t, args)).unwrap_or_else(|| issue.as_str().to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn placeholders(s: &str) -> Vec<String> {
        let mut out: Vec<String> =
            s.split('{').skip(1).filter_map(|p| p.split_once('}').map(|(name, _)| name.to_string())).collect();
        out.sort();
        out
    }

    #[test]
    fn every_catalogue_covers_every_code_with_the_same_placeholders() {
        let en = Catalogue::get(Locale::En);
        for locale in Locale::ALL {
            let c = Catalogue::get(*locale);
            for code in ErrorCode::ALL {
                let e = c
                    .errors
                    .get(code.as_str())
                    .unwrap_or_else(|| panic!("{} has no entry for {}", locale.tag(), code.as_str()));
                let base = &en.errors[code.as_str()];
                assert_eq!(placeholders(&e.detail), placeholders(&base.detail), "{code:?} in {locale:?}");
            }
            assert_eq!(c.errors.len(), ErrorCode::ALL.len(), "{} has stale entries", locale.tag());
            for issue in FieldIssue::ALL {
                let text = c
                    .fields
                    .get(issue.as_str())
                    .unwrap_or_else(|| panic!("{} has no field text for {}", locale.tag(), issue.as_str()));
                assert_eq!(placeholders(text), placeholders(&en.fields[issue.as_str()]));
            }
        }
    }

    #[test]
    fn every_catalogue_tells_every_notification_with_the_same_placeholders() {
        let en = Catalogue::get(Locale::En);
        let names = [
            "reminder",
            "overdue",
            "escalation",
            "completed",
            "approvalRequested",
            "approvalDecided",
            "memberJoined",
            "memberLeft",
            "digest",
        ];
        for locale in Locale::ALL {
            let c = Catalogue::get(*locale);
            assert_eq!(c.notifications.len(), names.len(), "{} has other notifications", locale.tag());
            for name in names {
                let e = c.notifications.get(name).unwrap_or_else(|| panic!("{} cannot tell {name}", locale.tag()));
                assert_eq!(placeholders(&e.title), placeholders(&en.notifications[name].title), "{name}");
                assert_eq!(placeholders(&e.detail), placeholders(&en.notifications[name].detail), "{name}");
            }
        }
        let (title, body) = Catalogue::get(Locale::De)
            .notification("reminder", &[("task", "Müll".into()), ("when", "Di., 1. Dez. 18:00".into())]);
        assert_eq!(title, "Erinnerung: Müll");
        assert_eq!(body, "Müll ist fällig am Di., 1. Dez. 18:00.");
    }

    #[test]
    fn negotiates_by_quality_with_english_fallback() {
        assert_eq!(Locale::negotiate(None), Locale::En);
        assert_eq!(Locale::negotiate(Some("de-DE,de;q=0.9,en;q=0.8")), Locale::De);
        assert_eq!(Locale::negotiate(Some("fr-FR, es;q=0.5, en;q=0.4")), Locale::Es);
        assert_eq!(Locale::negotiate(Some("fr")), Locale::En);
        assert_eq!(Locale::negotiate(Some("es;q=0")), Locale::En);
        assert_eq!(Locale::negotiate(Some("garbage;;;q=x")), Locale::En);
    }

    #[test]
    fn spanish_and_german_titles_differ_from_english() {
        let (en, _) = Catalogue::get(Locale::En).error(ErrorCode::HouseholdNotFound, &[]);
        let (es, _) = Catalogue::get(Locale::Es).error(ErrorCode::HouseholdNotFound, &[]);
        let (de, _) = Catalogue::get(Locale::De).error(ErrorCode::HouseholdNotFound, &[]);
        assert_ne!(en, es);
        assert_ne!(en, de);
    }
}
