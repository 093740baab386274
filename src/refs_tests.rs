//! Unit tests of `refs.rs`.

use super::*;

#[test]
fn references_print_and_parse_in_flux_forms() {
    let id: NamespacedName = "shop/app-pre-deploy".parse().unwrap();
    assert_eq!(id, NamespacedName::new("shop", "app-pre-deploy"));
    assert_eq!(id.to_string(), "shop/app-pre-deploy");
    assert!("app".parse::<NamespacedName>().is_err());
    assert!("a/b/c".parse::<NamespacedName>().is_err());
    let r: ObjectRef = "Job/shop/db-migration".parse().unwrap();
    assert_eq!(r, ObjectRef::new("Job", "shop", "db-migration"));
    assert_eq!(r.to_string(), "Job/shop/db-migration");
    assert_eq!(r.short("shop"), "Job/db-migration");
    assert_eq!(r.short("other"), "Job/shop/db-migration");
    assert_eq!("Job/x".parse::<ObjectRef>().unwrap_err().to_string(), "\"Job/x\" is not Kind/NAMESPACE/NAME");
    assert_eq!(serde_json::to_string(&r).unwrap(), "\"Job/shop/db-migration\"");
    assert!(r == "Job/shop/db-migration" && r != "Job/shop" && id == "shop/app-pre-deploy" && id != "shop/app/x");
}

#[test]
fn stage_ids_name_their_kind_unless_kustomization() {
    let ks: StageId = "shop/app".parse().unwrap();
    assert_eq!(ks, StageId::kustomization("shop", "app"));
    let rset: StageId = "rset/shop/app".parse().unwrap();
    assert_eq!(rset, StageId::resource_set("shop", "app"));
    assert_eq!(rset.to_string(), "ResourceSet/shop/app");
    assert_ne!(ks, rset);
    assert_eq!("ResourceSet/shop/app".parse::<StageId>().unwrap(), rset);
    assert!("Job/shop/app".parse::<StageId>().is_err() && "shop/".parse::<StageId>().is_err());
    assert_eq!(ObjectRef::stage(&rset).as_stage(), Some(rset.clone()));
    assert_eq!(ObjectRef::new("Job", "shop", "app").as_stage(), None);
    assert!(rset == "ResourceSet/shop/app" && ks == "shop/app");
    assert_eq!("kustomization.kustomize.toolkit.fluxcd.io/shop/app".parse::<StageId>().unwrap(), ks);
    assert_eq!("resourcesets.fluxcd.controlplane.io/shop/app".parse::<StageId>().unwrap(), rset);
}

#[test]
fn stage_ids_carry_a_context_after_the_last_at_free_part() {
    let arn = "arn:aws:eks:eu-west-1:123456789012:cluster/prod@eu";
    let id = StageId::resource_set("shop", "app").in_context(arn.into());
    assert_eq!(id.to_string(), format!("ResourceSet/shop/app@{arn}"));
    assert_eq!(id.to_string().parse::<StageId>().unwrap(), id);
    let ks = StageId::kustomization("shop", "app").in_context("kind-dev".into());
    assert_eq!(ks.to_string(), "shop/app@kind-dev");
    assert_eq!("shop/app@kind-dev".parse::<StageId>().unwrap(), ks);
    assert_ne!(ks, StageId::kustomization("shop", "app"));
    assert!("shop/app@".parse::<StageId>().is_err());
    // Ordered as printed: the context after the name.
    let mut ids = [ks.clone(), StageId::kustomization("shop", "app")];
    ids.sort();
    assert_eq!(ids[0].context, None);
}

#[test]
fn stage_ids_order_as_their_text() {
    // '-' sorts before '/': "a-b/x" < "a/x" as text, although "a" < "a-b".
    let mut ids = [NamespacedName::new("a", "x"), NamespacedName::new("a-b", "x")];
    ids.sort();
    assert_eq!(ids.iter().map(|i| i.to_string()).collect::<Vec<_>>(), ["a-b/x", "a/x"]);
}
