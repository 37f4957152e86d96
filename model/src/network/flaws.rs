//! The network model's deliberate defects, one declaration per flaw.

use serde::{Deserialize, Serialize};

crate::kit::flaws! {
    /// A deliberate defect: each removes one mechanism the seeds describe.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
    pub enum Flaw {
        /// The router forgets connection direction: main-VLAN packets into the FC
        /// VLAN pass as if they were replies.
        RouterForgetsDirection => "router-forgets-direction", [NET-1, NET-3],
            "the router no longer tells a reply from a new connection";
        /// A pinhole lets an FA dial the FC's control port ("FA registers itself").
        FaMayDialFc => "fa-may-dial-fc", [NET-1, NET-3],
            "a router pinhole lets an FA open connections to the FC's control port";
        /// The router forwards main-VLAN traffic into the device VLAN.
        RouterAllowsMainToDevice => "router-allows-main-to-device", [NET-2, NET-3],
            "the router forwards main-VLAN traffic into the device VLAN";
        /// VM port filters do not check the source address.
        FilterSkipsSourceCheck => "filter-skips-source-check", [NET-4, NET-8, NET-9],
            "VM port filters no longer check the source address";
        /// The virtual switch floods unicast frames to every VM port on the host.
        SwitchFloodsPorts => "switch-floods-ports", [NET-5, NET-8, NET-9],
            "the virtual switch floods unicast frames to every VM port on a host";
        /// VM port filters let guests reach infrastructure endpoints.
        FilterAllowsInfrastructure => "filter-allows-infrastructure", [NET-6],
            "VM port filters let guests address FC, FA, devices and storage back ends";
        /// Broadcast is not dropped at VM ports.
        BroadcastNotDropped => "broadcast-not-dropped", [NET-6, NET-7],
            "VM port filters no longer drop broadcast";
        /// The FA merges a pushed list into the old one instead of replacing it,
        /// so a moved instance's old IP is never removed.
        FaMergesLists => "fa-merges-lists", [NET-8, NET-9],
            "the FA adds pushed IPs but never removes a moved instance's old IP";
        /// The FC reuses a freed IP before every FA has applied a list without it.
        FcReusesIpEarly => "fc-reuses-ip-early", [NET-8, NET-9],
            "the FC hands out a freed IP before every FA has applied a list without it";
        /// The egress filter ignores an application's outbound-Internet setting.
        EgressIgnoresOutbound => "egress-ignores-outbound", [NET-9],
            "the egress filter ignores the application's outbound-Internet setting";
        /// Remote desktop, debugging and file sharing are open by default.
        RemoteAccessOpen => "remote-access-open", [NET-10],
            "remote desktop, debugging and file sharing are open by default";
        /// The edge forwards Internet traffic to any DIP, worker roles included.
        EdgeExposesDips => "edge-exposes-dips", [NET-11],
            "the edge forwards Internet traffic to any DIP, worker roles included";
        /// The management endpoint has no corporate ACL.
        MgmtAclMissing => "mgmt-acl-missing", [NET-3, NET-12],
            "the platform-management endpoint has no corporate ACL";
        /// The edge routes Internet traffic into the device VLAN.
        EdgeRoutesToDevices => "edge-routes-to-devices", [NET-13],
            "the edge routes Internet traffic into the device VLAN";
        /// The FA does not verify the client certificate of whoever connects.
        FaSkipsClientAuth => "fa-skips-client-auth", [NET-14],
            "the FA accepts any TLS client without verifying its certificate chain";
        /// The FC accepts SMAPI and admin clients without checking pinned fingerprints.
        FcSkipsPinning => "fc-skips-pinning", [NET-14],
            "the FC accepts SMAPI and admin clients without checking pinned fingerprints";
        /// The FC believes the host an FA's answer names instead of the peer it
        /// authenticated, so one FA can acknowledge pushes for another.
        FcTrustsResponseFields => "fc-trusts-response-fields", [NET-8, NET-9, NET-15],
            "the FC believes the host an FA's answer names, not the peer it authenticated";
    }
}
