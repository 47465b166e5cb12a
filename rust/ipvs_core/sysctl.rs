// SPDX-License-Identifier: GPL-2.0
//! The /proc/sys/net/ipv4/vs/ entries, keyed by name (never by position), with upstream's
//! defaults and value checks.

/// How an entry is read and written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Any `int`.
    Int,
    /// An `int` within `[min, max]`; other values are refused with EINVAL.
    IntRange(i32, i32),
    /// An `int` of jiffies shown and set in seconds; its default is in seconds.
    Jiffies,
    /// `Check::count` ints, parsed and then checked together: a write the check refuses
    /// fails with EINVAL and changes nothing.
    Checked(Check),
    /// An `unsigned long`.
    ULong,
    /// A list of CPUs ("0-3", `ipvs_core::cpulist`), defaulting to every possible CPU.
    CpuList,
    /// A defense mode, 0..=3 (other values refused with EINVAL): a write that changes it
    /// re-evaluates the defense at once, which may rewrite it (upstream's
    /// `proc_do_defense_mode`).
    DefenseMode,
}

/// The checks of [`Kind::Checked`] entries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Check {
    /// `sync_threshold`: threshold and period both non-negative, and the period either 0
    /// or above the threshold (upstream's `proc_do_sync_threshold`).
    SyncThreshold,
    /// `sync_ports`: a power of two, at least 1 (upstream's `proc_do_sync_ports`).
    PowerOfTwo,
}

impl Check {
    /// How many ints the entry has.
    pub const fn count(self) -> usize {
        match self {
            Check::SyncThreshold => 2,
            Check::PowerOfTwo => 1,
        }
    }

    /// Whether a write of `v` (its first `count` ints) is taken.
    pub fn accepts(self, v: [i32; 2]) -> bool {
        let [a, b] = v;
        match self {
            Check::SyncThreshold => a >= 0 && b >= 0 && (b == 0 || a < b),
            Check::PowerOfTwo => a >= 1 && a & (a - 1) == 0,
        }
    }
}

/// One entry: its file name (NUL-terminated for the kernel), kind and default.
#[derive(Clone, Copy, Debug)]
pub struct Def {
    pub cname: &'static str,
    pub kind: Kind,
    pub default: [i32; 2],
}

const fn int(cname: &'static str, default: i32) -> Def {
    Def { cname, kind: Kind::Int, default: [default, 0] }
}

const fn range(cname: &'static str, default: i32, min: i32, max: i32) -> Def {
    Def { cname, kind: Kind::IntRange(min, max), default: [default, 0] }
}

const fn defense(cname: &'static str) -> Def {
    Def { cname, kind: Kind::DefenseMode, default: [0, 0] }
}

/// The values a `DefenseMode` entry accepts.
pub const DEFENSE_MODES: core::ops::RangeInclusive<i32> = 0..=3;

/// Every entry upstream 6.12 has (except `debug_level`, which exists only with
/// CONFIG_IP_VS_DEBUG). `sync_qlen_max` and `est_cpulist` are sized at runtime.
pub const DEFS: &[Def] = &[
    int("amemthresh\0", 1024),
    int("am_droprate\0", 10),
    defense("drop_entry\0"),
    defense("drop_packet\0"),
    int("conntrack\0", 0),
    defense("secure_tcp\0"),
    int("snat_reroute\0", 1),
    range("sync_version\0", 1, 0, 1),
    Def { cname: "sync_ports\0", kind: Kind::Checked(Check::PowerOfTwo), default: [1, 0] },
    int("sync_persist_mode\0", 0),
    Def { cname: "sync_qlen_max\0", kind: Kind::ULong, default: [0, 0] },
    int("sync_sock_size\0", 0),
    int("cache_bypass\0", 0),
    int("expire_nodest_conn\0", 0),
    int("sloppy_tcp\0", 0),
    int("sloppy_sctp\0", 0),
    int("expire_quiescent_template\0", 0),
    Def { cname: "sync_threshold\0", kind: Kind::Checked(Check::SyncThreshold), default: [3, 50] },
    Def { cname: "sync_refresh_period\0", kind: Kind::Jiffies, default: [0, 0] },
    range("sync_retries\0", 0, 0, 3),
    int("nat_icmp_send\0", 0),
    int("pmtu_disc\0", 1),
    int("backup_only\0", 0),
    int("conn_reuse_mode\0", 1),
    int("schedule_icmp\0", 0),
    int("ignore_tunneled\0", 0),
    int("run_estimation\0", 1),
    Def { cname: "est_cpulist\0", kind: Kind::CpuList, default: [0, 0] },
    range("est_nice\0", 0, -20, 19),
    // Registered by ip_vs_lblc.ko and ip_vs_lblcr.ko upstream; this module carries both.
    Def { cname: "lblc_expiration\0", kind: Kind::Jiffies, default: [24 * 60 * 60, 0] },
    Def { cname: "lblcr_expiration\0", kind: Kind::Jiffies, default: [24 * 60 * 60, 0] },
];

/// Number of entries.
pub const COUNT: usize = DEFS.len();

/// The index of the entry called `name`, resolved at compile time where used in consts.
#[allow(clippy::indexing_slicing, clippy::panic)] // const evaluation: bounds and misses fail the build
pub const fn index(name: &str) -> usize {
    let mut i = 0;
    while i < DEFS.len() {
        if str_eq(DEFS[i].cname, name) {
            return i;
        }
        i += 1;
    }
    // A misspelt name fails the build (this runs in const context).
    panic!("unknown sysctl")
}

#[allow(clippy::indexing_slicing)] // i < b.len() < a.len()
const fn str_eq(cname: &str, name: &str) -> bool {
    let (a, b) = (cname.as_bytes(), name.as_bytes());
    if a.len() != b.len() + 1 {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// Indices used by the datapath.
pub mod idx {
    use super::index;
    pub const CONNTRACK: usize = index("conntrack");
    pub const SNAT_REROUTE: usize = index("snat_reroute");
    pub const NAT_ICMP_SEND: usize = index("nat_icmp_send");
    pub const SCHEDULE_ICMP: usize = index("schedule_icmp");
    pub const IGNORE_TUNNELED: usize = index("ignore_tunneled");
    pub const EXPIRE_NODEST_CONN: usize = index("expire_nodest_conn");
    pub const EXPIRE_QUIESCENT_TEMPLATE: usize = index("expire_quiescent_template");
    pub const SLOPPY_TCP: usize = index("sloppy_tcp");
    pub const SECURE_TCP: usize = index("secure_tcp");
    pub const AMEMTHRESH: usize = index("amemthresh");
    pub const AM_DROPRATE: usize = index("am_droprate");
    pub const DROP_ENTRY: usize = index("drop_entry");
    pub const DROP_PACKET: usize = index("drop_packet");
    pub const PMTU_DISC: usize = index("pmtu_disc");
    pub const CONN_REUSE_MODE: usize = index("conn_reuse_mode");
    pub const RUN_ESTIMATION: usize = index("run_estimation");
    pub const CACHE_BYPASS: usize = index("cache_bypass");
    pub const LBLC_EXPIRATION: usize = index("lblc_expiration");
    pub const LBLCR_EXPIRATION: usize = index("lblcr_expiration");
    pub const SYNC_VERSION: usize = index("sync_version");
    pub const SYNC_PORTS: usize = index("sync_ports");
    pub const SYNC_PERSIST_MODE: usize = index("sync_persist_mode");
    pub const SYNC_QLEN_MAX: usize = index("sync_qlen_max");
    pub const SYNC_SOCK_SIZE: usize = index("sync_sock_size");
    pub const SYNC_THRESHOLD: usize = index("sync_threshold");
    pub const SYNC_REFRESH_PERIOD: usize = index("sync_refresh_period");
    pub const SYNC_RETRIES: usize = index("sync_retries");
    pub const BACKUP_ONLY: usize = index("backup_only");
}

/// The text of a CPU list covering CPUs `0..n`, as the kernel prints cpumasks ("0", "0-3").
pub fn cpu_list_all(n: usize, out: &mut impl core::fmt::Write) -> core::fmt::Result {
    match n {
        0 | 1 => out.write_str("0"),
        n => write!(out, "0-{}", n - 1),
    }
}
