//! Who does the next occurrence of a chore. Pure and deterministic: the same pool, history
//! and seed always give the same answer, so households can trust it and tests can pin it.

use serde::{Deserialize, Serialize};

/// How a chore's next occurrence is assigned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase", rename_all_fields = "camelCase", deny_unknown_fields)]
pub enum Strategy {
    /// Always the same member.
    Fixed { user_id: String },
    /// The pool in its order, one after another.
    RoundRobin,
    /// A seeded random pick from the pool.
    Random,
    /// The member with the fewest assignments of this chore.
    LeastAssigned,
    /// The member with the fewest completions of this chore.
    LeastCompleted,
    /// The member with the lowest effort-weighted load over the last `weeks` weeks,
    /// scaled by the share of time each member says they have.
    FairShare { weeks: u32 },
    /// Whoever had it last keeps it.
    KeepLast,
    /// Anyone in the pool; the first to complete gets the credit.
    Anyone,
    /// Every pool member completes the occurrence before it advances.
    Everyone,
}

/// What the strategy needs to know about one pool member at the moment of assignment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub user_id: String,
    /// Assignments of this chore so far.
    pub assigned: u32,
    /// Completions of this chore so far.
    pub completed: u32,
    /// Sum of the effort of everything they completed in the fair-share window.
    pub effort_load: u32,
    /// The share of household work they declared they can take, 1–100 (%).
    pub availability: u8,
    /// Away (an availability range covers the due date): skipped by automatic assignment.
    pub away: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum Assignment {
    /// One member is responsible.
    Member { user_id: String },
    /// Any of these members may do it.
    Anyone { user_ids: Vec<String> },
    /// Each of these members must do it.
    Everyone { user_ids: Vec<String> },
    /// Nobody is available: the occurrence waits unassigned.
    Unassigned,
}

impl Assignment {
    /// Whether an occurrence with this assignment is (also) `user_id`'s to do.
    pub fn includes(&self, user_id: &str) -> bool {
        match self {
            Assignment::Member { user_id: u } => u == user_id,
            Assignment::Anyone { user_ids } | Assignment::Everyone { user_ids } => {
                user_ids.iter().any(|u| u == user_id)
            }
            Assignment::Unassigned => false,
        }
    }
}

/// The assignment for the next occurrence. `pool` is in the household's chosen order;
/// `current` is who had the previous occurrence; `seed` and `occurrence` fix random picks.
pub fn assign(
    strategy: &Strategy,
    pool: &[Candidate],
    current: Option<&str>,
    seed: u64,
    occurrence: u64,
) -> Assignment {
    let present: Vec<&Candidate> = pool.iter().filter(|c| !c.away).collect();
    let member = |c: &Candidate| Assignment::Member { user_id: c.user_id.clone() };
    let lowest = |key: &dyn Fn(&Candidate) -> u64| {
        // Ties go to the earlier member in pool order: `min_by_key` keeps the first minimum.
        present.iter().min_by_key(|c| key(c)).map(|c| member(c)).unwrap_or(Assignment::Unassigned)
    };
    match strategy {
        Strategy::Fixed { user_id } => Assignment::Member { user_id: user_id.clone() },
        Strategy::KeepLast => match current {
            Some(u) if present.iter().any(|c| c.user_id == u) => Assignment::Member { user_id: u.to_string() },
            _ => present.first().map(|c| member(c)).unwrap_or(Assignment::Unassigned),
        },
        Strategy::RoundRobin => {
            let start = current.and_then(|u| pool.iter().position(|c| c.user_id == u)).map(|i| i + 1).unwrap_or(0);
            (0..pool.len())
                .map(|k| &pool[(start + k) % pool.len()])
                .find(|c| !c.away)
                .map(member)
                .unwrap_or(Assignment::Unassigned)
        }
        Strategy::Random => {
            if present.is_empty() {
                Assignment::Unassigned
            } else {
                let i =
                    (splitmix64(seed ^ occurrence.wrapping_mul(0x9E37_79B9_7F4A_7C15)) % present.len() as u64) as usize;
                member(present[i])
            }
        }
        Strategy::LeastAssigned => lowest(&|c| u64::from(c.assigned)),
        Strategy::LeastCompleted => lowest(&|c| u64::from(c.completed)),
        // Load per unit of availability, in integers: load × 100 / availability% (scaled).
        Strategy::FairShare { .. } => {
            lowest(&|c| u64::from(c.effort_load) * 10_000 / u64::from(c.availability.clamp(1, 100)))
        }
        Strategy::Anyone => {
            if present.is_empty() {
                Assignment::Unassigned
            } else {
                Assignment::Anyone { user_ids: present.iter().map(|c| c.user_id.clone()).collect() }
            }
        }
        Strategy::Everyone => {
            if present.is_empty() {
                Assignment::Unassigned
            } else {
                Assignment::Everyone { user_ids: present.iter().map(|c| c.user_id.clone()).collect() }
            }
        }
    }
}

/// A well-mixed 64-bit hash (SplitMix64), enough for fair, reproducible picks.
fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(id: &str, assigned: u32, completed: u32, load: u32, availability: u8, away: bool) -> Candidate {
        Candidate { user_id: id.into(), assigned, completed, effort_load: load, availability, away }
    }

    fn who(a: Assignment) -> String {
        match a {
            Assignment::Member { user_id } => user_id,
            other => format!("{other:?}"),
        }
    }

    #[test]
    fn round_robin_follows_the_pool_order_and_skips_the_away() {
        let pool = [c("a", 0, 0, 0, 100, false), c("b", 0, 0, 0, 100, true), c("c", 0, 0, 0, 100, false)];
        assert_eq!(who(assign(&Strategy::RoundRobin, &pool, None, 0, 0)), "a");
        assert_eq!(who(assign(&Strategy::RoundRobin, &pool, Some("a"), 0, 0)), "c");
        assert_eq!(who(assign(&Strategy::RoundRobin, &pool, Some("c"), 0, 0)), "a");
        assert_eq!(who(assign(&Strategy::RoundRobin, &pool, Some("gone"), 0, 0)), "a");
    }

    #[test]
    fn least_assigned_least_completed_and_ties_in_pool_order() {
        let pool = [c("a", 3, 1, 0, 100, false), c("b", 2, 2, 0, 100, false), c("c", 2, 0, 0, 100, false)];
        assert_eq!(who(assign(&Strategy::LeastAssigned, &pool, None, 0, 0)), "b");
        assert_eq!(who(assign(&Strategy::LeastCompleted, &pool, None, 0, 0)), "c");
    }

    #[test]
    fn fair_share_weighs_effort_by_availability() {
        // a did 10 effort at full time; b did 6 but only has 50 %: b's load counts as 12.
        let pool = [c("a", 0, 0, 10, 100, false), c("b", 0, 0, 6, 50, false)];
        assert_eq!(who(assign(&Strategy::FairShare { weeks: 4 }, &pool, None, 0, 0)), "a");
        let pool = [c("a", 0, 0, 10, 100, false), c("b", 0, 0, 4, 50, false)];
        assert_eq!(who(assign(&Strategy::FairShare { weeks: 4 }, &pool, None, 0, 0)), "b");
    }

    #[test]
    fn random_is_reproducible_and_spreads() {
        let pool: Vec<_> = ["a", "b", "c"].iter().map(|id| c(id, 0, 0, 0, 100, false)).collect();
        let picks: Vec<String> = (0..300).map(|i| who(assign(&Strategy::Random, &pool, None, 42, i))).collect();
        let again: Vec<String> = (0..300).map(|i| who(assign(&Strategy::Random, &pool, None, 42, i))).collect();
        assert_eq!(picks, again);
        for id in ["a", "b", "c"] {
            let n = picks.iter().filter(|p| *p == id).count();
            assert!((60..140).contains(&n), "{id} picked {n} times of 300");
        }
    }

    #[test]
    fn pools_everyone_keep_last_and_nobody_available() {
        let pool = [c("a", 0, 0, 0, 100, false), c("b", 0, 0, 0, 100, true)];
        assert_eq!(assign(&Strategy::Anyone, &pool, None, 0, 0), Assignment::Anyone { user_ids: vec!["a".into()] });
        assert_eq!(assign(&Strategy::Everyone, &pool, None, 0, 0), Assignment::Everyone { user_ids: vec!["a".into()] });
        assert_eq!(who(assign(&Strategy::KeepLast, &pool, Some("a"), 0, 0)), "a");
        assert_eq!(who(assign(&Strategy::KeepLast, &pool, Some("b"), 0, 0)), "a");
        let away = [c("a", 0, 0, 0, 100, true)];
        assert_eq!(assign(&Strategy::LeastAssigned, &away, None, 0, 0), Assignment::Unassigned);
        assert_eq!(who(assign(&Strategy::Fixed { user_id: "z".into() }, &away, None, 0, 0)), "z");
    }
}
