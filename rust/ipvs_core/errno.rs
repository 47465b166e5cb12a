// SPDX-License-Identifier: GPL-2.0
//! Errno values the control plane returns, as positive numbers (the glue negates them).

/// A Linux errno, always positive here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Errno(pub i32);

impl Errno {
    pub const ENOENT: Errno = Errno(2);
    pub const ESRCH: Errno = Errno(3);
    pub const EAGAIN: Errno = Errno(11);
    pub const ENOMEM: Errno = Errno(12);
    pub const EEXIST: Errno = Errno(17);
    pub const ENODEV: Errno = Errno(19);
    pub const EINVAL: Errno = Errno(22);
    pub const ENOSPC: Errno = Errno(28);
    pub const ERANGE: Errno = Errno(34);
    pub const EOVERFLOW: Errno = Errno(75);
    pub const EMSGSIZE: Errno = Errno(90);
    pub const ENOPROTOOPT: Errno = Errno(92);
    pub const EOPNOTSUPP: Errno = Errno(95);
    pub const EPROTONOSUPPORT: Errno = Errno(93);
    pub const EAFNOSUPPORT: Errno = Errno(97);
}

pub type Result<T> = core::result::Result<T, Errno>;
