//! The network state as ITF variables.

use super::*;
use crate::trace::itf;
use serde_json::{json, Map, Value};

impl NetworkModel {
    pub(super) fn itf_state(&self, s: &NetworkState) -> Map<String, Value> {
        let dips =
            |mask: u16| itf::set((0..16u8).filter(|d| mask & (1 << d) != 0).map(|d| json!(d)));
        let per_app =
            |lists: &[u16]| itf::map(lists.iter().enumerate().map(|(a, m)| (json!(a), dips(*m))));
        let mut vars = Map::new();
        vars.insert(
            "placement".into(),
            itf::map(
                s.placement
                    .iter()
                    .enumerate()
                    .map(|(i, p)| (json!(i), json!({"host": p.host, "dip": p.dip}))),
            ),
        );
        vars.insert("moves".into(), json!(s.moves));
        vars.insert(
            "filters".into(),
            itf::map(
                s.filters
                    .iter()
                    .enumerate()
                    .map(|(h, lists)| (json!(h), per_app(lists))),
            ),
        );
        vars.insert(
            "pending".into(),
            itf::set(
                s.pending
                    .iter()
                    .enumerate()
                    .filter(|(_, p)| p.is_some())
                    .map(|(h, _)| json!(h)),
            ),
        );
        vars.insert(
            "quarantine".into(),
            itf::set(
                s.quarantine
                    .iter()
                    .enumerate()
                    .filter(|(_, q)| **q != 0)
                    .map(|(d, _)| json!(d)),
            ),
        );
        vars.insert(
            "conntrack".into(),
            itf::set(s.conntrack.iter().map(itf::value)),
        );
        vars.insert("broken".into(), itf::claims(s.broken));
        vars
    }
}
