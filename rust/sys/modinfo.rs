// SPDX-License-Identifier: GPL-2.0
//! `.modinfo` entries the 6.12 `module!` macro has no key for (it knows type, name, author,
//! description, license, alias and firmware): `version`, which `modinfo` and dkms show.

/// Emits `$field=$value` into the module's `.modinfo` section, as C's `MODULE_INFO()` does for a
/// loadable module (`MODULE_VERSION("0.1.0")` is `modinfo!("version", "0.1.0")`).
macro_rules! modinfo {
    ($field:literal, $value:literal) => {
        const _: () = {
            #[link_section = ".modinfo"]
            #[used(compiler)]
            static ENTRY: [u8; concat!($field, "=", $value, "\0").len()] =
                *konst_bytes(concat!($field, "=", $value, "\0"));
            const fn konst_bytes<const N: usize>(s: &'static str) -> &'static [u8; N] {
                match s.as_bytes().first_chunk::<N>() {
                    Some(b) => b,
                    None => panic!("length mismatch"),
                }
            }
        };
    };
}
pub(crate) use modinfo;
