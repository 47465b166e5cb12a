// SPDX-License-Identifier: GPL-2.0
//! The IPVS generic netlink ABI (family "IPVS", version 1), as `include/uapi/linux/ip_vs.h`
//! defines it on the wire. These numbers are the contract with ipvsadm, keepalived and friends.

pub const GENL_NAME: &str = "IPVS";
pub const GENL_VERSION: u8 = 1;

/// Version reported by GET_INFO and /proc/net/ip_vs: 1.2.1.
pub const VERSION_CODE: u32 = 0x010201;

/// Generic netlink commands.
pub mod cmd {
    pub const NEW_SERVICE: u8 = 1;
    pub const SET_SERVICE: u8 = 2;
    pub const DEL_SERVICE: u8 = 3;
    pub const GET_SERVICE: u8 = 4;
    pub const NEW_DEST: u8 = 5;
    pub const SET_DEST: u8 = 6;
    pub const DEL_DEST: u8 = 7;
    pub const GET_DEST: u8 = 8;
    pub const NEW_DAEMON: u8 = 9;
    pub const DEL_DAEMON: u8 = 10;
    pub const GET_DAEMON: u8 = 11;
    pub const SET_CONFIG: u8 = 12;
    pub const GET_CONFIG: u8 = 13;
    pub const SET_INFO: u8 = 14;
    pub const GET_INFO: u8 = 15;
    pub const ZERO: u8 = 16;
    pub const FLUSH: u8 = 17;
    /// Upstream's `resv_start_op`: commands below it keep the old, liberal validation.
    pub const RESV_START_OP: u8 = FLUSH + 1;
}

/// Top-level attributes of every command.
pub mod cmd_attr {
    pub const SERVICE: u16 = 1;
    pub const DEST: u16 = 2;
    pub const DAEMON: u16 = 3;
    pub const TIMEOUT_TCP: u16 = 4;
    pub const TIMEOUT_TCP_FIN: u16 = 5;
    pub const TIMEOUT_UDP: u16 = 6;
    pub const MAX: u16 = 6;
}

/// Attributes nested in `cmd_attr::SERVICE`.
pub mod svc_attr {
    pub const AF: u16 = 1;
    pub const PROTOCOL: u16 = 2;
    pub const ADDR: u16 = 3;
    pub const PORT: u16 = 4;
    pub const FWMARK: u16 = 5;
    pub const SCHED_NAME: u16 = 6;
    pub const FLAGS: u16 = 7;
    pub const TIMEOUT: u16 = 8;
    pub const NETMASK: u16 = 9;
    pub const STATS: u16 = 10;
    pub const PE_NAME: u16 = 11;
    pub const STATS64: u16 = 12;
    pub const MAX: u16 = 12;
}

/// Attributes nested in `cmd_attr::DEST`.
pub mod dest_attr {
    pub const ADDR: u16 = 1;
    pub const PORT: u16 = 2;
    pub const FWD_METHOD: u16 = 3;
    pub const WEIGHT: u16 = 4;
    pub const U_THRESH: u16 = 5;
    pub const L_THRESH: u16 = 6;
    pub const ACTIVE_CONNS: u16 = 7;
    pub const INACT_CONNS: u16 = 8;
    pub const PERSIST_CONNS: u16 = 9;
    pub const STATS: u16 = 10;
    pub const ADDR_FAMILY: u16 = 11;
    pub const STATS64: u16 = 12;
    pub const TUN_TYPE: u16 = 13;
    pub const TUN_PORT: u16 = 14;
    pub const TUN_FLAGS: u16 = 15;
    pub const MAX: u16 = 15;
}

/// Attributes nested in `cmd_attr::DAEMON`.
pub mod daemon_attr {
    pub const STATE: u16 = 1;
    pub const MCAST_IFN: u16 = 2;
    pub const SYNC_ID: u16 = 3;
    pub const SYNC_MAXLEN: u16 = 4;
    pub const MCAST_GROUP: u16 = 5;
    pub const MCAST_GROUP6: u16 = 6;
    pub const MCAST_PORT: u16 = 7;
    pub const MCAST_TTL: u16 = 8;
    pub const MAX: u16 = 8;
}

/// Attributes nested in a STATS or STATS64 attribute.
pub mod stats_attr {
    pub const CONNS: u16 = 1;
    pub const INPKTS: u16 = 2;
    pub const OUTPKTS: u16 = 3;
    pub const INBYTES: u16 = 4;
    pub const OUTBYTES: u16 = 5;
    pub const CPS: u16 = 6;
    pub const INPPS: u16 = 7;
    pub const OUTPPS: u16 = 8;
    pub const INBPS: u16 = 9;
    pub const OUTBPS: u16 = 10;
    // 11 is PAD, which a 64-bit counter needs only where unaligned access is slow (not x86-64).
}

/// Attributes of the SET_INFO reply to GET_INFO.
pub mod info_attr {
    pub const VERSION: u16 = 1;
    pub const CONN_TAB_SIZE: u16 = 2;
}

/// Forwarding methods (the low bits of a dest's connection flags).
pub mod fwd {
    pub const MASK: u32 = 0x0007;
    pub const MASQ: u32 = 0;
    pub const LOCALNODE: u32 = 1;
    pub const TUNNEL: u32 = 2;
    pub const DROUTE: u32 = 3;
    /// A connection `cache_bypass` made: its packets go on to where they were sent.
    pub const BYPASS: u32 = 4;
}

/// Connection flags (`IP_VS_CONN_F_*`), as /proc and the sync messages show them. A version 1
/// sync message carries all 32 bits, a version 0 one the low 16; a backup keeps `BACKUP_MASK`.
pub mod conn_flag {
    pub const FWD_MASK: u32 = super::fwd::MASK;
    /// Made by the backup from a sync message.
    pub const SYNC: u32 = 0x0020;
    pub const HASHED: u32 = 0x0040;
    /// No reply seen through the director yet.
    pub const NOOUTPUT: u32 = 0x0080;
    /// Not established: counted in the dest's InActConn.
    pub const INACTIVE: u32 = 0x0100;
    /// Sequence numbers adjusted on output, on input.
    pub const OUT_SEQ: u32 = 0x0200;
    pub const IN_SEQ: u32 = 0x0400;
    pub const SEQ_MASK: u32 = OUT_SEQ | IN_SEQ;
    /// The client port is not known yet (a port-zero template's connection).
    pub const NO_CPORT: u32 = 0x0800;
    /// A persistence template, not a connection.
    pub const TEMPLATE: u32 = 0x1000;
    pub const ONE_PACKET: u32 = 0x2000;
    /// What a backup keeps of a message's flags when it makes an entry.
    pub const BACKUP_MASK: u32 = FWD_MASK | NOOUTPUT | INACTIVE | SEQ_MASK | NO_CPORT | TEMPLATE;
    /// Packets go through netfilter conntrack (a backup decides that for itself).
    pub const NFCT: u32 = 1 << 16;
}

/// Tunnel types of a TUNNEL dest (`IP_VS_CONN_F_TUNNEL_TYPE_*`).
pub mod tun_type {
    pub const IPIP: u8 = 0;
    pub const GUE: u8 = 1;
    pub const GRE: u8 = 2;
}

/// Virtual service flags (`IP_VS_SVC_F_*`).
pub mod svc_flags {
    pub const PERSISTENT: u32 = 0x0001;
    pub const HASHED: u32 = 0x0002;
    pub const ONEPACKET: u32 = 0x0004;
    /// sh-fallback, mh-fallback.
    pub const SCHED1: u32 = 0x0008;
    /// sh-port, mh-port.
    pub const SCHED2: u32 = 0x0010;
}

pub const AF_INET: u16 = 2;
pub const AF_INET6: u16 = 10;
pub const IPPROTO_IP: u16 = 0;
pub const IPPROTO_ICMP: u16 = 1;
pub const IPPROTO_TCP: u16 = 6;
pub const IPPROTO_UDP: u16 = 17;
pub const IPPROTO_ICMPV6: u16 = 58;
pub const IPPROTO_SCTP: u16 = 132;

/// Sizes fixed by the ABI.
pub const IFNAME_MAXLEN: usize = 16;
pub const SCHEDNAME_MAXLEN: usize = 16;
pub const PENAME_MAXLEN: usize = 16;
/// The longest persistence-engine data a connection carries (`IP_VS_PEDATA_MAXLEN`).
pub const PEDATA_MAXLEN: usize = 255;
/// `union nf_inet_addr`: room for an IPv6 address.
pub const INET_ADDR_LEN: usize = 16;
/// `struct ip_vs_flags { u32 flags; u32 mask; }`.
pub const FLAGS_LEN: usize = 8;
