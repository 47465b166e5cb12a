// SPDX-License-Identifier: GPL-2.0
//! A reference on this module held by something that runs on after the request that made it
//! (a sync daemon): while one is held, `rmmod` answers "in use", as upstream's
//! `ip_vs_use_count_inc()` makes it.

use super::bindings;

/// One reference on this module, given back on drop.
///
/// # Invariants
///
/// Made only by a successful `try_module_get` on this module.
pub(crate) struct ModuleUse(());

impl ModuleUse {
    /// A reference, unless the module is being removed.
    pub(crate) fn take() -> Option<Self> {
        // SAFETY: `THIS_MODULE` names this module, which is alive while its code runs.
        let got = unsafe { bindings::try_module_get(crate::THIS_MODULE.as_ptr().cast()) };
        // INVARIANT: the reference was taken.
        got.then_some(ModuleUse(()))
    }
}

impl Drop for ModuleUse {
    fn drop(&mut self) {
        // SAFETY: by the type invariant this gives back a reference we took. The caller is
        // this module's code in a request or work item that the module's exit waits for
        // (genl unregistration, the netns exit), so its text stays until it returns.
        unsafe { bindings::module_put(crate::THIS_MODULE.as_ptr().cast()) };
    }
}
