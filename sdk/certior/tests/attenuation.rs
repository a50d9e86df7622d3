//! Property: attenuation never widens a child beyond its parent (spec §11.4, §13.2).

use certior::capability::{attenuate, covered, Grant};
use proptest::prelude::*;

fn capability() -> impl Strategy<Value = String> {
    let segment = prop::sample::select(vec!["db", "read", "write", "fs", "net", "x", "patient_data"]);
    (
        prop::collection::vec(segment, 1..4),
        prop::bool::weighted(0.2),
        prop::bool::weighted(0.05),
    )
        .prop_map(|(segments, wildcard, star)| {
            if star {
                "*".to_owned()
            } else if wildcard {
                format!("{}*", segments.join(":"))
            } else {
                segments.join(":")
            }
        })
}

fn grant() -> impl Strategy<Value = Grant> {
    (prop::collection::vec(capability(), 0..6), 0i64..1000).prop_map(|(permissions, budget_cents)| Grant {
        permissions,
        budget_cents,
    })
}

proptest! {
    #[test]
    fn an_accepted_child_is_within_its_parent(parent in grant(), child in grant(), probe in capability()) {
        if let Ok(granted) = attenuate(&parent, &child, "child", "agent") {
            prop_assert!(granted.budget_cents <= parent.budget_cents);
            for p in &granted.permissions {
                prop_assert!(covered(p, &parent.permissions), "{p} escapes {:?}", parent.permissions);
            }
            // Whatever the child could use, the parent could use too.
            if covered(&probe, &granted.permissions) {
                prop_assert!(covered(&probe, &parent.permissions));
            }
        }
    }

    #[test]
    fn chains_of_attenuation_stay_within_the_root(root in grant(), a in grant(), b in grant(), probe in capability()) {
        if let Ok(mid) = attenuate(&root, &a, "a", "agent-a") {
            if let Ok(leaf) = attenuate(&mid, &b, "b", "agent-b") {
                prop_assert!(leaf.budget_cents <= root.budget_cents);
                if covered(&probe, &leaf.permissions) {
                    prop_assert!(covered(&probe, &root.permissions));
                }
            }
        }
    }

    #[test]
    fn a_child_of_its_own_parent_subset_is_accepted(parent in grant(), pick in prop::collection::vec(any::<prop::sample::Index>(), 0..4), budget in 0i64..1000) {
        let permissions: Vec<String> = if parent.permissions.is_empty() { vec![] } else { pick.iter().map(|i| i.get(&parent.permissions).clone()).collect() };
        let child = Grant { permissions, budget_cents: budget.min(parent.budget_cents) };
        prop_assert_eq!(attenuate(&parent, &child, "c", "a"), Ok(child.clone()));
    }
}
