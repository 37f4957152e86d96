//! The properties: an `always` and a `sometimes` per claim.

use super::*;
use stateright::Property;

/// Every property of the network model: for each of NET-1 to NET-15, the
/// claim as an `always` and its allowed case as a `sometimes`.
pub fn network_properties() -> Vec<Property<NetworkModel>> {
    crate::kit::claim_pairs![NetworkState, Witness;
        NET-1,
        "NET-1 main VLAN never initiates to FC VLAN",
        "NET-1 reached: FC opens into main VLAN and gets a reply",
        [FcGotReply, FaAnsweredFc];
        NET-2,
        "NET-2 main VLAN never reaches device VLAN",
        "NET-2 reached: FC reaches a device",
        [FcReachedDevice];
        NET-3,
        "NET-3 FA never initiates to FC or privileged nodes",
        "NET-3 reached: FA answers an FC request",
        [FaAnsweredFc];
        NET-4,
        "NET-4 guest VM cannot spoof its source",
        "NET-4 reached: guest traffic with its own source is delivered",
        [IntraApp, IntraAppAfterMove];
        NET-5,
        "NET-5 guest VM receives only traffic addressed to it",
        "NET-5 reached: guest receives traffic addressed to it",
        [IntraApp, IntraAppAfterMove];
        NET-6,
        "NET-6 guest VM cannot reach infrastructure endpoints",
        "NET-6 reached: guest reaches the Internet",
        [VmReachedInternet];
        NET-7,
        "NET-7 guest VM neither sends nor receives broadcast",
        "NET-7 reached: host broadcast reaches infrastructure",
        [HostBroadcast];
        NET-8,
        "NET-8 intra-app traffic only between current instance IPs",
        "NET-8 reached: instances talk after a move",
        [IntraAppAfterMove];
        NET-9,
        "NET-9 cross-app traffic is Internet traffic",
        "NET-9 reached: instance reaches another app through its VIP",
        [CrossAppViaVip];
        NET-10,
        "NET-10 remote access to VMs refused by default",
        "NET-10 reached: web role serves its app port",
        [WebServedInternet];
        NET-11,
        "NET-11 only web roles reachable from the Internet",
        "NET-11 reached: worker opens outbound and gets a reply",
        [WorkerGotReply];
        NET-12,
        "NET-12 only corp reaches the management endpoint",
        "NET-12 reached: corp reaches the management endpoint",
        [CorpReachedMgmt];
        NET-13,
        "NET-13 device VLAN out of reach of Internet-exposed nodes",
        "NET-13 reached: FC reaches a device",
        [FcReachedDevice];
        NET-14,
        "NET-14 control traffic only over mutually authenticated TLS",
        "NET-14 reached: FA accepts an FC command, FC accepts a pinned SMAPI or admin client",
        [FaAcceptedFc, FcAcceptedPinnedClient];
        NET-15,
        "NET-15 an FA's answer changes only its own record",
        "NET-15 reached: FC refuses a hostile answer and keeps its state",
        [FcRefusedHostileAnswer];
    ]
}
