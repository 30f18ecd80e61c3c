//! A saved plan edited with care (its checksum recomputed, which anyone can
//! do: it has no key) still cannot make fnctl write a trust policy that
//! admits anything but the Segment account of the instance's kind.

use fnctl::plan::saved::SavedPlan;

use crate::support::env::{Env, BUNDLES};
use crate::support::standard::*;

#[tokio::test(flavor = "multi_thread")]
async fn a_resigned_plan_naming_another_principal_is_refused_before_any_write() {
    let env = Env::start().await;
    env.write_manifest(&standard_manifest());
    env.plan(&["--out", "plan.json"]).assert_exit(2);
    let path = env.path().join("plan.json");
    let mut saved: SavedPlan =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let mut edited = 0;
    for account in &mut saved.accounts {
        for change in &mut account.plan.changes {
            for step in &mut change.steps {
                if let fnctl::model::operation::Operation::CreateRole { trust_policy, .. } =
                    &mut step.operation
                {
                    trust_policy.segment_account = "111122223333".into();
                    edited += 1;
                }
            }
        }
    }
    assert!(edited > 0);
    let resigned = SavedPlan::new(saved.created_at.clone(), saved.accounts.clone());
    resigned.write(&path).unwrap();
    let out = env.fnctl(&[
        "apply",
        "--plan",
        "plan.json",
        "--auto-approve",
        "--bundle-dir",
        BUNDLES,
    ]);
    out.assert_exit(1);
    assert!(
        out.stderr.contains("111122223333") && out.stderr.contains("refusing"),
        "{}",
        out.stderr
    );
    assert!(env.role_names().await.is_empty(), "nothing may be created");
}
