// SPDX-License-Identifier: GPL-2.0
//! The control plane of one network namespace: its state ([`ControlPlane`]) and the IPVS
//! generic netlink commands run on it (`ip_vs_genl_set_cmd()`, `ip_vs_genl_get_cmd()`, the
//! daemon commands and the dumps). The kernel glue moves bytes between skbs and these
//! functions. The checks of the request and their errnos are made here and in the files this
//! one calls (`super::decode`, `super::store`), in the order upstream makes
//! them; the [`Store`] adds those of the glue (what this module cannot serve yet, a dest that
//! is not unicast, allocation failures, the hooks' registration), as its methods say.

use super::addr;
use super::env::Env;
use super::errno::{Errno, Result};
use super::nlattr::{Full, Writer};
use super::daemon::{self, DaemonRequest};
use super::policy::{CmdAttrs, CMD_POLICY};
use super::encode::{put_dest, put_service, FillFn};
use super::decode::{af_supported, parse_dest, parse_service, DestSpec, ServiceSpec};
use super::service::ServiceUser;
use super::store::{self, Store};
use super::timeouts::{TimeoutUpdate, Timeouts};
use super::uapi::{self, cmd, cmd_attr, info_attr};

/// The control state of one network namespace.
pub struct ControlPlane<S: Store> {
    pub timeouts: Timeouts,
    pub store: S,
    /// Orders services as upstream's hash tables do (see [`ServiceKey::list_slot`]).
    pub hash_salt: u32,
    /// `IP_VS_STATE_*` bits of the running sync daemons (the glue keeps it up to date).
    pub sync_state: u32,
}

impl<S: Store> ControlPlane<S> {
    pub fn new(store: S, hash_salt: u32) -> Self {
        ControlPlane { timeouts: Timeouts::default(), store, hash_salt, sync_state: 0 }
    }

    /// `ip_vs_genl_find_service()`: a parse error, or the service's index if it exists.
    fn lookup(&self, nested: Option<&[u8]>, env: &Env) -> Result<Option<usize>> {
        let spec = parse_service(nested, false, env)?;
        Ok(store::find_service(&self.store, &spec.key, self.hash_salt))
    }

    /// How many dests have a family other than their service's (upstream's
    /// `mixed_address_family_dests`).
    pub fn mixed_family_dests(&self) -> usize {
        let s = &self.store;
        (0..s.service_count())
            .filter_map(|i| s.service(i).map(|c| (i, c.key.af())))
            .map(|(i, af)| {
                (0..s.dest_count(i)).filter(|&d| s.dest(i, d).is_some_and(|x| x.conf.af != af)).count()
            })
            .sum()
    }

    /// The commands whose doit is `ip_vs_genl_set_cmd()`.
    pub fn set_cmd(&mut self, command: u8, attrs: &CmdAttrs<'_>, env: &Env) -> Result<()> {
        match command {
            cmd::FLUSH => {
                store::flush(&mut self.store);
                Ok(())
            }
            cmd::SET_CONFIG => self.set_config(attrs, env),
            cmd::ZERO if !attrs.has(cmd_attr::SERVICE) => {
                store::zero_all(&mut self.store);
                Ok(())
            }
            cmd::NEW_SERVICE | cmd::SET_SERVICE | cmd::DEL_SERVICE | cmd::ZERO => {
                self.service_cmd(command, attrs, env)
            }
            cmd::NEW_DEST | cmd::SET_DEST | cmd::DEL_DEST => self.dest_cmd(command, attrs, env),
            // Not one of the family's set commands: upstream still looks the service up first.
            _ => match self.lookup(attrs.get(cmd_attr::SERVICE), env)? {
                Some(_) => Err(Errno::EINVAL),
                None => Err(Errno::ESRCH),
            },
        }
    }

    /// SET_CONFIG: the protocol timeouts.
    fn set_config(&mut self, attrs: &CmdAttrs<'_>, env: &Env) -> Result<()> {
        let update = TimeoutUpdate {
            tcp: attrs.u32(cmd_attr::TIMEOUT_TCP),
            tcp_fin: attrs.u32(cmd_attr::TIMEOUT_TCP_FIN),
            udp: attrs.u32(cmd_attr::TIMEOUT_UDP),
        };
        self.timeouts.apply(update, env.hz)
    }

    /// NEW_SERVICE, SET_SERVICE, DEL_SERVICE, and ZERO of one service.
    fn service_cmd(&mut self, command: u8, attrs: &CmdAttrs<'_>, env: &Env) -> Result<()> {
        let full = matches!(command, cmd::NEW_SERVICE | cmd::SET_SERVICE);
        let spec = parse_service(attrs.get(cmd_attr::SERVICE), full, env)?;
        let found = store::find_service(&self.store, &spec.key, self.hash_salt);
        let store = &mut self.store;
        match (command, found) {
            (cmd::NEW_SERVICE, None) => {
                let u = service_user(store, &spec, None)?;
                store::add_service(store, &u, env.hz, self.hash_salt).map(|_| ())
            }
            (cmd::NEW_SERVICE, Some(_)) => Err(Errno::EEXIST),
            (_, None) => Err(Errno::ESRCH),
            (cmd::SET_SERVICE, Some(svc)) => {
                let u = service_user(store, &spec, Some(svc))?;
                store::edit_service(store, svc, &u, env.hz)
            }
            (cmd::DEL_SERVICE, Some(svc)) => {
                store::del_service(store, svc);
                Ok(())
            }
            (cmd::ZERO, Some(svc)) => {
                store.zero_stats(svc);
                Ok(())
            }
            _ => Err(Errno::EINVAL),
        }
    }

    /// NEW_DEST, SET_DEST and DEL_DEST: the service first, then the dest.
    fn dest_cmd(&mut self, command: u8, attrs: &CmdAttrs<'_>, env: &Env) -> Result<()> {
        let spec = parse_service(attrs.get(cmd_attr::SERVICE), false, env)?;
        let svc = store::find_service(&self.store, &spec.key, self.hash_salt).ok_or(Errno::ESRCH)?;
        let svc_af = spec.key.af();
        let d = parse_dest(attrs.get(cmd_attr::DEST), command != cmd::DEL_DEST)?;
        // Old clients do not send the family: the service's then.
        let af = if d.af == 0 { svc_af } else { d.af };
        if !af_supported(af, env) {
            return Err(Errno::EAFNOSUPPORT);
        }
        if af != svc_af && command != cmd::DEL_DEST {
            // Sync messages cannot carry mixed families, and only tunnels forward them.
            let fwd_method = d.settings.map_or(0, |s| s.fwd_method);
            if self.sync_state != 0 || fwd_method != uapi::fwd::TUNNEL {
                return Err(Errno::EINVAL);
            }
        }
        let d = DestSpec { af, addr: addr::normalize_addr(af, d.addr), ..d };
        let store = &mut self.store;
        match command {
            cmd::NEW_DEST => store::add_dest(store, svc, &d),
            cmd::SET_DEST => store::edit_dest(store, svc, &d),
            _ => store::del_dest(store, svc, &d),
        }
    }

    /// NEW_DAEMON and DEL_DAEMON (`ip_vs_genl_set_daemon()`): the checked request, which the
    /// glue carries out on the netns's [`super::daemon::Daemons`]. A daemon cannot start while
    /// a dest has another family than its service: sync messages cannot carry such dests.
    pub fn daemon_cmd(&self, command: u8, attrs: &CmdAttrs<'_>) -> Result<DaemonRequest> {
        let request = daemon::parse_request(command, attrs)?;
        if matches!(request, DaemonRequest::Start { .. }) && self.mixed_family_dests() > 0 {
            return Err(Errno::EINVAL);
        }
        Ok(request)
    }

    /// The commands whose doit is `ip_vs_genl_get_cmd()`: writes the reply's attributes and
    /// returns the reply's command.
    pub fn get_cmd(&self, command: u8, attrs: &CmdAttrs<'_>, env: &Env, w: &mut Writer<'_>) -> Result<u8> {
        let full = |_: Full| Errno::EMSGSIZE;
        match command {
            cmd::GET_SERVICE => match self.lookup(attrs.get(cmd_attr::SERVICE), env)? {
                Some(svc) => {
                    self.fill_service(svc, env, w).map_err(full)?;
                    Ok(cmd::NEW_SERVICE)
                }
                None => Err(Errno::ESRCH),
            },
            cmd::GET_CONFIG => {
                let t = &self.timeouts;
                w.put_u32(cmd_attr::TIMEOUT_TCP, t.tcp).map_err(full)?;
                w.put_u32(cmd_attr::TIMEOUT_TCP_FIN, t.tcp_fin).map_err(full)?;
                w.put_u32(cmd_attr::TIMEOUT_UDP, t.udp).map_err(full)?;
                Ok(cmd::SET_CONFIG)
            }
            cmd::GET_INFO => {
                w.put_u32(info_attr::VERSION, uapi::VERSION_CODE).map_err(full)?;
                w.put_u32(info_attr::CONN_TAB_SIZE, env.conn_tab_size).map_err(full)?;
                Ok(cmd::SET_INFO)
            }
            _ => Err(Errno::EINVAL),
        }
    }

    /// The SERVICE attribute of service `svc`.
    pub fn fill_service(&self, svc: usize, env: &Env, w: &mut Writer<'_>) -> core::result::Result<(), Full> {
        // A missing index cannot happen under the control lock; write nothing then.
        let Some(conf) = self.store.service(svc) else { return Ok(()) };
        put_service(w, &conf, &self.store.service_stats(svc), env.hz)
    }

    /// The DEST attribute of dest `dest` of service `svc`.
    pub fn fill_dest(&self, svc: usize, dest: usize, w: &mut Writer<'_>) -> core::result::Result<(), Full> {
        let Some(info) = self.store.dest(svc, dest) else { return Ok(()) };
        put_dest(w, &info, &self.store.dest_stats(svc, dest))
    }

    /// GET_SERVICE dump (`ip_vs_genl_dump_services()`): one NEW_SERVICE message per service
    /// from index `start` on, each through `entry(cmd, fill)`, which returns `Err(Full)` when
    /// the skb is full. Returns the index to resume at. The request's attributes are ignored,
    /// so the empty nested SERVICE that moby/ipvs sends is fine.
    pub fn dump_services<F>(&self, start: usize, env: &Env, mut entry: F) -> usize
    where
        F: FnMut(u8, &mut FillFn<'_>) -> core::result::Result<(), Full>,
    {
        let count = self.store.service_count();
        let mut idx = start;
        while idx < count {
            let mut fill = |w: &mut Writer<'_>| self.fill_service(idx, env, w);
            if entry(cmd::NEW_SERVICE, &mut fill).is_err() {
                break;
            }
            idx += 1;
        }
        idx
    }

    /// GET_DEST dump (`ip_vs_genl_dump_dests()`): one NEW_DEST message per dest of the
    /// requested service, from index `start` on. `request` is the genl payload after the genl
    /// header. A bad request or an unknown service gives an empty dump, not an error, and
    /// leaves the cursor as it was, exactly as upstream.
    pub fn dump_dests<F>(&self, request: &[u8], start: usize, env: &Env, mut entry: F) -> usize
    where
        F: FnMut(u8, &mut FillFn<'_>) -> core::result::Result<(), Full>,
    {
        let Ok(attrs) = CmdAttrs::parse(request, &CMD_POLICY) else {
            return start;
        };
        let Ok(Some(svc)) = self.lookup(attrs.get(cmd_attr::SERVICE), env) else {
            return start;
        };
        let count = self.store.dest_count(svc);
        let mut idx = start;
        while idx < count {
            let mut fill = |w: &mut Writer<'_>| self.fill_dest(svc, idx, w);
            if entry(cmd::NEW_DEST, &mut fill).is_err() {
                break;
            }
            idx += 1;
        }
        idx
    }
}

/// A NEW_SERVICE or SET_SERVICE request's settings, with the flags outside the request's mask
/// kept from the existing service `found`.
fn service_user<'a, S: Store>(store: &S, spec: &ServiceSpec<'a>, found: Option<usize>) -> Result<ServiceUser<'a>> {
    let s = spec.settings.ok_or(Errno::EINVAL)?;
    let old = found.and_then(|i| store.service(i)).map_or(0, |c| c.flags);
    Ok(ServiceUser {
        key: spec.key,
        sched_name: s.sched_name,
        pe_name: s.pe_name,
        flags: (old & !s.flags_mask) | (s.flags & s.flags_mask),
        timeout: s.timeout,
        netmask: s.netmask,
    })
}
