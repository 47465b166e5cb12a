// SPDX-License-Identifier: GPL-2.0
//! The real-server index (upstream's `rs_table`): by which the datapath recognises packets
//! from real servers that have no connection (`nat_icmp_send`) and errors about its own tunnel
//! packets. NAT dests are indexed by their address and port, tunnel dests by their address and
//! tunnel port (0 for IPIP and GRE); other dests are not indexed.
//!
//! Upstream keeps one entry per dest, so a real server shared by many services is as many
//! entries in one chain. Here the index keeps one group per address and port: the control
//! plane's [`RsIndex`] counts the dests of each group, and the datapath sees one immutable
//! [`RealServer`] per group, published again only when what it answers changes (a protocol
//! gets its first or loses its last NAT dest there, the newest tunnel dest changes). Adding
//! the ten-thousandth service of a shared real server then publishes nothing.

use crate::dest::Dest;
use crate::ipvs_core::addr::{addr_equal, fold};
use crate::ipvs_core::errno::{Errno, Result};
use crate::ipvs_core::rs_filing::Filed;
use crate::ipvs_core::service::ServiceKey;
use crate::ipvs_core::uapi::{fwd, tun_type};
use crate::sys::kvec;
use kernel::prelude::*;
use kernel::rbtree::RBTree;
use kernel::sync::Arc;

/// Buckets of the index (upstream's `IP_VS_RTAB_SIZE`).
pub(crate) const RS_BUCKETS: usize = 16;

/// The bucket of a real server on `addr:port` (an IPv6 address folded, as upstream's
/// `ip_vs_rs_hashkey`).
pub(crate) fn rs_bucket(af: u16, addr: &[u8; 16], port: [u8; 2]) -> usize {
    let x = fold(af, addr) ^ u32::from(u16::from_be_bytes(port));
    (x.wrapping_mul(0x9e37_79b1) >> 28) as usize
}

/// What a dest is indexed as (`ip_vs_rs_hash()`'s rules): its group's port and its kind.
fn indexed_as(dest: &Dest) -> Option<([u8; 2], Kind)> {
    match dest.fwd_method() {
        fwd::MASQ => Some((dest.port, Kind::Nat)),
        fwd::TUNNEL => match dest.tun_type() {
            tun_type::GUE => Some((dest.tun_port(), Kind::Tunnel)),
            tun_type::IPIP | tun_type::GRE => Some(([0, 0], Kind::Tunnel)),
            _ => None,
        },
        _ => None,
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Nat,
    Tunnel,
}

/// Where a group of real servers listens: a family, an address and a port.
#[derive(Clone, Copy)]
struct Place {
    af: u16,
    addr: [u8; 16],
    port: [u8; 2],
}

impl Place {
    fn is(&self, af: u16, addr: &[u8; 16], port: [u8; 2]) -> bool {
        self.port == port && self.af == af && addr_equal(af, &self.addr, addr)
    }
}

/// The real servers at one address and port, as the datapath sees them.
pub(crate) struct RealServer {
    at: Place,
    /// The protocols of the address services with a NAT dest here, each once.
    nat_protocols: KVec<u16>,
    /// A firewall-mark service has a NAT dest here (it answers for every protocol).
    nat_fwmark: bool,
    /// The tunnel dest indexed last here.
    tunnel: Option<Arc<Dest>>,
}

impl RealServer {
    /// `ip_vs_has_real_service()` for this group: a NAT dest of a service of `protocol`, or
    /// of a firewall-mark service.
    pub(crate) fn serves_nat(&self, af: u16, protocol: u16, addr: &[u8; 16], port: [u8; 2]) -> bool {
        self.at.is(af, addr, port) && (self.nat_fwmark || self.nat_protocols.contains(&protocol))
    }

    /// `ip_vs_find_tunnel()` for this group: its newest tunnel dest, if still a tunnel to
    /// this port.
    pub(crate) fn tunnel(&self, af: u16, addr: &[u8; 16], tun_port: [u8; 2]) -> Option<&Dest> {
        let d = self.tunnel.as_deref().filter(|_| self.at.is(af, addr, tun_port))?;
        (d.fwd_method() == fwd::TUNNEL && d.tun_port() == tun_port).then_some(d)
    }
}

/// One address and port of the index, as the control plane keeps it.
struct Group {
    at: Place,
    /// How many NAT dests each address service's protocol has here (no zero counts).
    nat_protocols: KVec<(u16, u32)>,
    /// How many NAT dests of firewall-mark services are here.
    nat_fwmark: u32,
    /// Its tunnel dests by the order they were filed in: the last is the newest.
    tunnels: RBTree<u64, Arc<Dest>>,
}

impl Group {
    fn new(at: Place) -> Self {
        Group { at, nat_protocols: KVec::new(), nat_fwmark: 0, tunnels: RBTree::new() }
    }

    fn is_empty(&self) -> bool {
        self.nat_protocols.is_empty() && self.nat_fwmark == 0 && self.tunnels.iter().next().is_none()
    }

    /// Counts a NAT dest of a service of `protocol` (`None`: a firewall-mark service) in;
    /// whether the datapath's view changed.
    fn add_nat(&mut self, protocol: Option<u16>) -> Result<bool> {
        let Some(p) = protocol else {
            self.nat_fwmark += 1;
            return Ok(self.nat_fwmark == 1);
        };
        if let Some(c) = self.nat_protocols.iter_mut().find(|c| c.0 == p) {
            c.1 += 1;
            return Ok(false);
        }
        self.nat_protocols.push((p, 1), GFP_KERNEL)?;
        Ok(true)
    }

    /// Counts a NAT dest out; whether the datapath's view changed.
    fn remove_nat(&mut self, protocol: Option<u16>) -> bool {
        let Some(p) = protocol else {
            self.nat_fwmark = self.nat_fwmark.saturating_sub(1);
            return self.nat_fwmark == 0;
        };
        let Some(at) = self.nat_protocols.iter().position(|c| c.0 == p) else { return false };
        let Some(c) = self.nat_protocols.get_mut(at) else { return false };
        c.1 = c.1.saturating_sub(1);
        if c.1 > 0 {
            return false;
        }
        kvec::swap_remove(&mut self.nat_protocols, at);
        true
    }

    /// Takes out the tunnel dest filed as the `seq`th; whether it was the newest (the view
    /// changed).
    fn remove_tunnel(&mut self, seq: u64) -> bool {
        let newest = self.newest_tunnel_seq() == Some(seq);
        drop(self.tunnels.remove(&seq));
        newest
    }

    fn newest_tunnel_seq(&mut self) -> Option<u64> {
        self.tunnels.cursor_back().map(|c| *c.current().0)
    }

    /// The datapath's view of this group.
    fn snapshot(&mut self) -> Result<RealServer> {
        let mut nat_protocols = KVec::with_capacity(self.nat_protocols.len(), GFP_KERNEL)?;
        for &(p, _) in self.nat_protocols.iter() {
            nat_protocols.push(p, GFP_KERNEL)?;
        }
        Ok(RealServer {
            at: self.at,
            nat_protocols,
            nat_fwmark: self.nat_fwmark > 0,
            tunnel: self.tunnels.cursor_back().map(|c| c.current().1.clone()),
        })
    }
}

/// The index as the control plane keeps it (under the netns control mutex): groups by bucket.
/// Each dest in it records where it was filed (`Dest::rs_filing`), so that taking it out goes
/// straight to its group: a real server shared by ten thousand services costs no more to
/// leave than one of its own.
pub(crate) struct RsIndex {
    buckets: KVec<KVec<Group>>,
    /// The order number of the next tunnel dest filed.
    next_seq: u64,
}

impl RsIndex {
    pub(crate) fn new() -> Result<Self> {
        let mut buckets = KVec::with_capacity(RS_BUCKETS, GFP_KERNEL)?;
        for _ in 0..RS_BUCKETS {
            buckets.push(KVec::new(), GFP_KERNEL)?;
        }
        Ok(RsIndex { buckets, next_seq: 0 })
    }

    /// Indexes `dest` of the service with `key`, if its forwarding method is indexed: the
    /// bucket whose view changed, if one did. `dest` is not in the index (a filing it has
    /// left from an index since cleared is overwritten).
    pub(crate) fn index(&mut self, dest: &Arc<Dest>, key: &ServiceKey) -> Result<Option<usize>> {
        dest.rs_filing.set(None);
        let Some((port, kind)) = indexed_as(dest) else { return Ok(None) };
        let filed = match kind {
            Kind::Nat => Filed::Nat { port, protocol: (key.fwmark() == 0).then(|| key.protocol()) },
            Kind::Tunnel => Filed::Tunnel { port, seq: self.next_seq },
        };
        let i = rs_bucket(dest.af, &dest.addr, port);
        let bucket = self.buckets.get_mut(i).ok_or(Errno::EINVAL)?;
        let at = match bucket.iter().position(|g| g.at.is(dest.af, &dest.addr, port)) {
            Some(at) => at,
            None => {
                bucket.push(Group::new(Place { af: dest.af, addr: dest.addr, port }), GFP_KERNEL)?;
                bucket.len() - 1
            }
        };
        let group = bucket.get_mut(at).ok_or(Errno::EINVAL)?;
        let changed = match filed {
            Filed::Nat { protocol, .. } => group.add_nat(protocol),
            Filed::Tunnel { seq, .. } => {
                group.tunnels.try_create_and_insert(seq, dest.clone(), GFP_KERNEL).map(|_| true).map_err(Into::into)
            }
        };
        let changed = match changed {
            Ok(changed) => changed,
            Err(e) => {
                // A group made for this dest alone goes again.
                if group.is_empty() {
                    kvec::swap_remove(bucket, at);
                }
                return Err(e);
            }
        };
        if kind == Kind::Tunnel {
            self.next_seq += 1;
        }
        dest.rs_filing.set(Some(filed));
        Ok(changed.then_some(i))
    }

    /// Takes `dest` out, from where it was filed (its settings may have changed since): the
    /// bucket whose view changed, if one did.
    pub(crate) fn unindex(&mut self, dest: &Arc<Dest>) -> Option<usize> {
        let filed = dest.rs_filing.take()?;
        let i = rs_bucket(dest.af, &dest.addr, filed.port());
        let bucket = self.buckets.get_mut(i)?;
        let at = bucket.iter().position(|g| g.at.is(dest.af, &dest.addr, filed.port()))?;
        let group = bucket.get_mut(at)?;
        let changed = match filed {
            Filed::Nat { protocol, .. } => group.remove_nat(protocol),
            Filed::Tunnel { seq, .. } => group.remove_tunnel(seq),
        };
        if group.is_empty() {
            kvec::swap_remove(bucket, at);
            return Some(i);
        }
        changed.then_some(i)
    }

    /// Empties the index: which buckets held something. The dests keep their filings, stale
    /// now: they are no longer in a service (a flush) or are indexed again (a rebuild), which
    /// overwrites them.
    pub(crate) fn clear(&mut self) -> [bool; RS_BUCKETS] {
        let mut held = [false; RS_BUCKETS];
        for (b, held) in self.buckets.iter_mut().zip(held.iter_mut()) {
            *held = !b.is_empty();
            *b = KVec::new();
        }
        held
    }

    /// What the datapath is to see of bucket `i`.
    pub(crate) fn snapshot(&mut self, i: usize) -> Result<KVec<Arc<RealServer>>> {
        let bucket = self.buckets.get_mut(i).ok_or(Errno::EINVAL)?;
        let mut out = KVec::with_capacity(bucket.len(), GFP_KERNEL)?;
        for g in bucket.iter_mut() {
            out.push(Arc::new(g.snapshot()?, GFP_KERNEL)?, GFP_KERNEL)?;
        }
        Ok(out)
    }
}
