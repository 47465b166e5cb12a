//! A dest's filing in the real-server index (`ipvs_core::rs_filing`) reads back as it was set,
//! whatever the port, protocol or sequence number.
use ipvs_core_host::ipvs_core::rs_filing::{Filed, RsFiling};
use proptest::prelude::*;

fn filed() -> impl Strategy<Value = Option<Filed>> {
    prop_oneof![
        Just(None),
        (any::<[u8; 2]>(), any::<Option<u16>>()).prop_map(|(port, protocol)| Some(Filed::Nat { port, protocol })),
        (any::<[u8; 2]>(), any::<u64>()).prop_map(|(port, seq)| Some(Filed::Tunnel { port, seq })),
    ]
}

proptest! {
    #[test]
    fn reads_back_what_was_set(first in filed(), second in filed()) {
        let f = RsFiling::new();
        prop_assert_eq!(f.get(), None);
        f.set(first);
        prop_assert_eq!(f.get(), first);
        f.set(second);
        prop_assert_eq!(f.take(), second);
        prop_assert_eq!(f.get(), None);
    }
}
