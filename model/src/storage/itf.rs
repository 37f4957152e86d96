//! The storage state as ITF variables.

use super::*;
use crate::trace::itf;
use serde_json::{json, Map, Value};

impl StorageModel {
    pub(super) fn itf_state(&self, s: &StorageState) -> Map<String, Value> {
        let stored_map = |copies: &[Option<Stored>]| {
            itf::map(copies.iter().enumerate().filter_map(|(b, c)| {
                c.map(|c| (json!(b), json!({"version": c.version, "block": c.block})))
            }))
        };
        let versions = |values: &[Option<u8>]| {
            itf::map(
                values
                    .iter()
                    .enumerate()
                    .filter_map(|(b, v)| v.map(|v| (json!(b), json!(v)))),
            )
        };
        let bits = |mask: u8| itf::set((0..8u8).filter(|n| mask & bit(*n) != 0).map(|n| json!(n)));
        let mut vars = Map::new();
        vars.insert("scenario".into(), itf::value(&s.scenario));
        vars.insert("clock".into(), json!(s.clock));
        vars.insert(
            "keys".into(),
            itf::map(Slot::ALL.map(|slot| (json!(slot.name()), json!(s.keys[slot.index()])))),
        );
        vars.insert(
            "clients".into(),
            itf::map(
                s.clients
                    .iter()
                    .enumerate()
                    .map(|(c, cred)| (json!(c), itf::value(cred))),
            ),
        );
        vars.insert("sas_issued".into(), json!(s.sas_issued));
        vars.insert(
            "policies".into(),
            itf::map(
                s.policies
                    .iter()
                    .enumerate()
                    .filter_map(|(id, p)| p.map(|p| (json!(id), itf::value(&p)))),
            ),
        );
        vars.insert("policy_changes".into(), json!(s.policy_changes));
        vars.insert("public".into(), itf::value(&s.public));
        vars.insert("public_changes".into(), json!(s.public_changes));
        vars.insert(
            "leases".into(),
            itf::map(
                s.leases
                    .iter()
                    .enumerate()
                    .map(|(b, l)| (json!(b), itf::value(l))),
            ),
        );
        vars.insert("puts".into(), json!(s.puts));
        vars.insert("snapshots".into(), json!(s.snapshots));
        vars.insert("crashes".into(), json!(s.crashes));
        vars.insert(
            "pending".into(),
            itf::set(s.pending.iter().map(|p| {
                json!({
                    "op": itf::value(&p.op),
                    "replicas": bits(p.replicas),
                    "acked": p.acked,
                    "observed": p.observed,
                })
            })),
        );
        vars.insert(
            "replicas".into(),
            itf::map(s.replicas.iter().enumerate().map(|(r, rep)| {
                (
                    json!(r),
                    json!({
                        "location": itf::value(&rep.location),
                        "up": rep.up,
                        "blobs": stored_map(&rep.blobs),
                        "snapshots": stored_map(&rep.snapshots),
                        "blocks": itf::map(rep.blocks.iter().enumerate().map(|(k, b)| (json!(k), json!(b)))),
                    }),
                )
            })),
        );
        vars.insert("acked".into(), versions(&s.acked));
        vars.insert("acked_snapshots".into(), versions(&s.acked_snapshots));
        vars.insert("deleted".into(), bits(s.deleted));
        vars.insert("zeroed".into(), bits(s.zeroed));
        vars.insert("reused".into(), bits(s.reused));
        vars.insert("app_refused".into(), json!(s.app_refused));
        vars.insert("broken".into(), itf::claims(s.broken));
        vars
    }
}
