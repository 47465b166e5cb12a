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
use crate::ipvs_core::service::ServiceKey;
use crate::ipvs_core::uapi::{fwd, tun_type};
use crate::sys::kvec;
use kernel::prelude::*;
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

/// A NAT dest of a group, with what it was counted as.
struct NatMember {
    dest: Arc<Dest>,
    /// Its service's protocol, or `None` for a firewall-mark service.
    protocol: Option<u16>,
}

/// One address and port of the index, as the control plane keeps it.
struct Group {
    at: Place,
    /// Its NAT dests, in no order (found by pointer when one leaves).
    nat: KVec<NatMember>,
    /// How many of them each address service's protocol has (no zero counts).
    nat_protocols: KVec<(u16, u32)>,
    /// How many of them belong to firewall-mark services.
    nat_fwmark: u32,
    /// Its tunnel dests, oldest first.
    tunnels: KVec<Arc<Dest>>,
}

impl Group {
    fn is_empty(&self) -> bool {
        self.nat.is_empty() && self.tunnels.is_empty()
    }

    /// Counts a NAT dest in; whether the datapath's view changed.
    fn add_nat(&mut self, dest: &Arc<Dest>, protocol: Option<u16>) -> Result<bool> {
        // Room for the member first, so that the counts never go out of step with the list.
        self.nat.reserve(1, GFP_KERNEL)?;
        let changed = match protocol {
            None => {
                self.nat_fwmark += 1;
                self.nat_fwmark == 1
            }
            Some(p) => match self.nat_protocols.iter_mut().find(|c| c.0 == p) {
                Some(c) => {
                    c.1 += 1;
                    false
                }
                None => {
                    self.nat_protocols.push((p, 1), GFP_KERNEL)?;
                    true
                }
            },
        };
        self.nat.push(NatMember { dest: dest.clone(), protocol }, GFP_KERNEL)?;
        Ok(changed)
    }

    /// Takes `dest` out if it is here: `None` if it is not, else whether the view changed.
    fn remove(&mut self, dest: &Arc<Dest>) -> Option<bool> {
        if let Some(at) = self.nat.iter().position(|m| Arc::ptr_eq(&m.dest, dest)) {
            let m = kvec::swap_remove(&mut self.nat, at)?;
            let Some(p) = m.protocol else {
                self.nat_fwmark = self.nat_fwmark.saturating_sub(1);
                return Some(self.nat_fwmark == 0);
            };
            let at = self.nat_protocols.iter().position(|c| c.0 == p)?;
            let c = self.nat_protocols.get_mut(at)?;
            c.1 = c.1.saturating_sub(1);
            if c.1 > 0 {
                return Some(false);
            }
            kvec::swap_remove(&mut self.nat_protocols, at);
            return Some(true);
        }
        let at = self.tunnels.iter().position(|d| Arc::ptr_eq(d, dest))?;
        let newest = at + 1 == self.tunnels.len();
        drop(kvec::remove(&mut self.tunnels, at));
        Some(newest)
    }

    /// The datapath's view of this group.
    fn snapshot(&self) -> Result<RealServer> {
        let mut nat_protocols = KVec::with_capacity(self.nat_protocols.len(), GFP_KERNEL)?;
        for &(p, _) in self.nat_protocols.iter() {
            nat_protocols.push(p, GFP_KERNEL)?;
        }
        Ok(RealServer {
            at: self.at,
            nat_protocols,
            nat_fwmark: self.nat_fwmark > 0,
            tunnel: self.tunnels.last().cloned(),
        })
    }
}

/// The index as the control plane keeps it (under the netns control mutex): groups by bucket.
pub(crate) struct RsIndex {
    buckets: KVec<KVec<Group>>,
}

impl RsIndex {
    pub(crate) fn new() -> Result<Self> {
        let mut buckets = KVec::with_capacity(RS_BUCKETS, GFP_KERNEL)?;
        for _ in 0..RS_BUCKETS {
            buckets.push(KVec::new(), GFP_KERNEL)?;
        }
        Ok(RsIndex { buckets })
    }

    /// Indexes `dest` of the service with `key`, if its forwarding method is indexed: the
    /// bucket whose view changed, if one did.
    pub(crate) fn index(&mut self, dest: &Arc<Dest>, key: &ServiceKey) -> Result<Option<usize>> {
        let Some((port, kind)) = indexed_as(dest) else { return Ok(None) };
        let i = rs_bucket(dest.af, &dest.addr, port);
        let bucket = self.buckets.get_mut(i).ok_or(Errno::EINVAL)?;
        let at = match bucket.iter().position(|g| g.at.is(dest.af, &dest.addr, port)) {
            Some(at) => at,
            None => {
                let group = Group {
                    at: Place { af: dest.af, addr: dest.addr, port },
                    nat: KVec::new(),
                    nat_protocols: KVec::new(),
                    nat_fwmark: 0,
                    tunnels: KVec::new(),
                };
                bucket.push(group, GFP_KERNEL)?;
                bucket.len() - 1
            }
        };
        let group = bucket.get_mut(at).ok_or(Errno::EINVAL)?;
        let changed = match kind {
            Kind::Nat => group.add_nat(dest, (key.fwmark() == 0).then(|| key.protocol())),
            Kind::Tunnel => group.tunnels.push(dest.clone(), GFP_KERNEL).map(|()| true).map_err(Into::into),
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
        Ok(changed.then_some(i))
    }

    /// Takes `dest` out, wherever it was indexed (its settings may have changed since): the
    /// bucket whose view changed, if one did.
    pub(crate) fn unindex(&mut self, dest: &Arc<Dest>) -> Option<usize> {
        for (i, bucket) in self.buckets.iter_mut().enumerate() {
            for at in 0..bucket.len() {
                let Some(changed) = bucket.get_mut(at).and_then(|g| g.remove(dest)) else { continue };
                if bucket.get(at).is_some_and(Group::is_empty) {
                    kvec::swap_remove(bucket, at);
                    return Some(i);
                }
                return changed.then_some(i);
            }
        }
        None
    }

    /// Empties the index: which buckets held something.
    pub(crate) fn clear(&mut self) -> [bool; RS_BUCKETS] {
        let mut held = [false; RS_BUCKETS];
        for (b, held) in self.buckets.iter_mut().zip(held.iter_mut()) {
            *held = !b.is_empty();
            *b = KVec::new();
        }
        held
    }

    /// What the datapath is to see of bucket `i`.
    pub(crate) fn snapshot(&self, i: usize) -> Result<KVec<Arc<RealServer>>> {
        let bucket = self.buckets.get(i).ok_or(Errno::EINVAL)?;
        let mut out = KVec::with_capacity(bucket.len(), GFP_KERNEL)?;
        for g in bucket.iter() {
            out.push(Arc::new(g.snapshot()?, GFP_KERNEL)?, GFP_KERNEL)?;
        }
        Ok(out)
    }
}
