// SPDX-License-Identifier: GPL-2.0
//! The generic netlink family "IPVS" v1: which commands exist and how each is routed to the
//! pure control plane of the caller's netns.

use crate::netns::{env, IpvsNet};
use crate::ipvs_core::errno::Errno;
use crate::ipvs_core::policy::{CmdAttrs, CMD_POLICY, CMD_SLOTS};
use crate::ipvs_core::nlattr::{Rule, Writer};
use crate::ipvs_core::uapi::{self, cmd};
use crate::sys::genl::{Dump, Family, Op};
use crate::sys::{pernet, NetRef};

/// The IPVS family.
pub(crate) struct IpvsFamily;

const fn op(cmd: u8, doit: bool, dumpit: bool) -> Op {
    Op { cmd, doit, dumpit }
}

/// The 16 upstream operations, all admin-only (SET_INFO exists only as a reply).
const OPS: [Op; 16] = [
    op(cmd::NEW_SERVICE, true, false),
    op(cmd::SET_SERVICE, true, false),
    op(cmd::DEL_SERVICE, true, false),
    op(cmd::GET_SERVICE, true, true),
    op(cmd::NEW_DEST, true, false),
    op(cmd::SET_DEST, true, false),
    op(cmd::DEL_DEST, true, false),
    op(cmd::GET_DEST, false, true),
    op(cmd::NEW_DAEMON, true, false),
    op(cmd::DEL_DAEMON, true, false),
    op(cmd::GET_DAEMON, false, true),
    op(cmd::SET_CONFIG, true, false),
    op(cmd::GET_CONFIG, true, false),
    op(cmd::GET_INFO, true, false),
    op(cmd::ZERO, true, false),
    op(cmd::FLUSH, true, false),
];

fn with_net<R>(net: NetRef<'_>, f: impl FnOnce(&IpvsNet) -> Result<R, Errno>) -> Result<R, Errno> {
    // The state exists for every netns once the module is loaded; a request can only race
    // with module load before the pernet registration, which ENODEV covers.
    let ipvs = pernet::state::<IpvsNet>(net).ok_or(Errno::ENODEV)?;
    f(ipvs)
}

fn cmd_attrs<'a>(attrs: &[Option<&'a [u8]>]) -> CmdAttrs<'a> {
    let mut slots = [None; CMD_SLOTS];
    for (dst, src) in slots.iter_mut().zip(attrs) {
        *dst = *src;
    }
    CmdAttrs::from_slots(slots)
}

impl Family for IpvsFamily {
    const NAME: &'static str = uapi::GENL_NAME;
    const VERSION: u8 = uapi::GENL_VERSION;
    const POLICY: &'static [Rule] = &CMD_POLICY;
    const OPS: &'static [Op] = &OPS;
    const RESV_START_OP: u8 = cmd::RESV_START_OP;
    const SLOTS: usize = CMD_SLOTS;

    fn reply_cmd(command: u8) -> Option<u8> {
        match command {
            cmd::GET_SERVICE => Some(cmd::NEW_SERVICE),
            cmd::GET_INFO => Some(cmd::SET_INFO),
            cmd::GET_CONFIG => Some(cmd::SET_CONFIG),
            _ => None,
        }
    }

    fn set(net: NetRef<'_>, command: u8, attrs: &[Option<&[u8]>]) -> Result<(), Errno> {
        let attrs = cmd_attrs(attrs);
        with_net(net, |ipvs| {
            if let cmd::NEW_DAEMON | cmd::DEL_DAEMON = command {
                // Checked under the control lock, carried out without it (the daemons' sockets
                // take RTNL, under which the control lock is taken).
                let request = ipvs.control.lock().daemon_cmd(command, &attrs)?;
                return ipvs.daemon_request(net, request);
            }
            let mut control = ipvs.control.lock();
            let result = control.set_cmd(command, &attrs, &env());
            ipvs.sync_datapath(&mut control);
            let dests_removed = control.store.take_dests_removed();
            drop(control);
            if dests_removed {
                ipvs.dests_removed();
            }
            result
        })
    }

    fn get(net: NetRef<'_>, command: u8, attrs: &[Option<&[u8]>], w: &mut Writer<'_>) -> Result<(), Errno> {
        let attrs = cmd_attrs(attrs);
        with_net(net, |ipvs| ipvs.control.lock().get_cmd(command, &attrs, &env(), w).map(|_| ()))
    }

    fn dump(net: NetRef<'_>, dump: &mut Dump<'_>) {
        let env = env();
        // Without netns state (module load racing the request) the dump is empty.
        let _ = with_net(net, |ipvs| {
            let control = ipvs.control.lock();
            let command = dump.cmd();
            let start = usize::try_from(dump.cursor()[0]).unwrap_or(0);
            let next = match command {
                cmd::GET_SERVICE => control.dump_services(start, &env, |c, fill| dump.entry(c, fill)),
                cmd::GET_DEST => {
                    let request = dump.request_copy();
                    control.dump_dests(&request, start, &env, |c, fill| dump.entry(c, fill))
                }
                cmd::GET_DAEMON => {
                    drop(control);
                    ipvs.dump_daemons(start, |fill| dump.entry(cmd::NEW_DAEMON, fill))
                }
                _ => start,
            };
            dump.cursor()[0] = next as _;
            Ok(())
        });
    }
}
