// SPDX-License-Identifier: GPL-2.0
//! The attribute policies of the IPVS generic netlink family, as upstream declares them: the
//! top-level one, which genetlink checks before a handler runs, and those of the nested
//! SERVICE, DEST and DAEMON attributes, which decoding checks (`super::decode`).

use super::nlattr::{Rule, Table};
use super::uapi::{self, cmd_attr, daemon_attr, dest_attr, svc_attr};

pub const CMD_SLOTS: usize = cmd_attr::MAX as usize + 1;
pub(crate) const SVC_SLOTS: usize = svc_attr::MAX as usize + 1;
pub(crate) const DEST_SLOTS: usize = dest_attr::MAX as usize + 1;
pub(crate) const DAEMON_SLOTS: usize = daemon_attr::MAX as usize + 1;

/// Top-level attributes, indexed by `cmd_attr`.
pub type CmdAttrs<'a> = Table<'a, CMD_SLOTS>;

/// A policy from (attribute, rule) pairs; the attributes not named are `Ignore`. Only the
/// policy constants below call it, so it runs at compile time: an attribute beyond `N` fails
/// the build.
#[allow(clippy::indexing_slicing)] // compile-time evaluation: out of range is a build error
const fn policy<const N: usize>(rules: &[(u16, Rule)]) -> [Rule; N] {
    let mut p = [Rule::Ignore; N];
    let mut i = 0;
    while i < rules.len() {
        let (kind, rule) = rules[i];
        p[kind as usize] = rule;
        i += 1;
    }
    p
}

/// Policy of the top-level attributes (registered with the family, so genetlink checks it).
pub const CMD_POLICY: [Rule; CMD_SLOTS] = policy(&[
    (cmd_attr::SERVICE, Rule::Nested),
    (cmd_attr::DEST, Rule::Nested),
    (cmd_attr::DAEMON, Rule::Nested),
    (cmd_attr::TIMEOUT_TCP, Rule::U32),
    (cmd_attr::TIMEOUT_TCP_FIN, Rule::U32),
    (cmd_attr::TIMEOUT_UDP, Rule::U32),
]);

/// Policy of the attributes nested in SERVICE. STATS64 is absent upstream, so unchecked.
pub const SVC_POLICY: [Rule; SVC_SLOTS] = policy(&[
    (svc_attr::AF, Rule::U16),
    (svc_attr::PROTOCOL, Rule::U16),
    (svc_attr::ADDR, Rule::Binary(uapi::INET_ADDR_LEN)),
    (svc_attr::PORT, Rule::U16),
    (svc_attr::FWMARK, Rule::U32),
    (svc_attr::SCHED_NAME, Rule::NulString(uapi::SCHEDNAME_MAXLEN - 1)),
    (svc_attr::FLAGS, Rule::Binary(uapi::FLAGS_LEN)),
    (svc_attr::TIMEOUT, Rule::U32),
    (svc_attr::NETMASK, Rule::U32),
    (svc_attr::STATS, Rule::Nested),
    (svc_attr::PE_NAME, Rule::NulString(uapi::PENAME_MAXLEN)),
]);

/// Policy of the attributes nested in DEST. STATS64 is absent upstream, so unchecked.
pub const DEST_POLICY: [Rule; DEST_SLOTS] = policy(&[
    (dest_attr::ADDR, Rule::Binary(uapi::INET_ADDR_LEN)),
    (dest_attr::PORT, Rule::U16),
    (dest_attr::FWD_METHOD, Rule::U32),
    (dest_attr::WEIGHT, Rule::U32),
    (dest_attr::U_THRESH, Rule::U32),
    (dest_attr::L_THRESH, Rule::U32),
    (dest_attr::ACTIVE_CONNS, Rule::U32),
    (dest_attr::INACT_CONNS, Rule::U32),
    (dest_attr::PERSIST_CONNS, Rule::U32),
    (dest_attr::STATS, Rule::Nested),
    (dest_attr::ADDR_FAMILY, Rule::U16),
    (dest_attr::TUN_TYPE, Rule::U8),
    (dest_attr::TUN_PORT, Rule::U16),
    (dest_attr::TUN_FLAGS, Rule::U16),
]);

/// Policy of the attributes nested in DAEMON. The sync daemon is not implemented, but its
/// attributes are checked as upstream checks them, errnos included.
pub const DAEMON_POLICY: [Rule; DAEMON_SLOTS] = policy(&[
    (daemon_attr::STATE, Rule::U32),
    (daemon_attr::MCAST_IFN, Rule::NulString(uapi::IFNAME_MAXLEN - 1)),
    (daemon_attr::SYNC_ID, Rule::U32),
    (daemon_attr::SYNC_MAXLEN, Rule::U16),
    (daemon_attr::MCAST_GROUP, Rule::U32),
    (daemon_attr::MCAST_GROUP6, Rule::MinLen(16)),
    (daemon_attr::MCAST_PORT, Rule::U16),
    (daemon_attr::MCAST_TTL, Rule::U8),
]);
