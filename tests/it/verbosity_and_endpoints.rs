//! What `-v`/`-vv` add to stderr, and how a mistyped endpoint is reported.

use crate::support::command::{fnctl, fnctl_offline};
use crate::support::env::{workspace, write_file};
use crate::support::moto::Moto;

const MANIFEST: &str = "version: 1\ninstances:\n  - name: verbose\n    kind: destination\n";

#[test]
fn a_refused_endpoint_fails_at_once_naming_the_variable_and_url() {
    let ws = workspace();
    write_file(ws.path(), "manifests/main.yaml", MANIFEST);
    let out = fnctl_offline().current_dir(ws.path()).arg("plan").run();
    out.assert_exit(1)
        .assert_stderr_contains("http://127.0.0.1:9 (AWS_ENDPOINT_URL)")
        .assert_stderr_contains("check the URL");
}

#[test]
fn double_verbose_names_each_iam_call_and_its_role_but_never_a_body() {
    let moto = Moto::start();
    let ws = workspace();
    write_file(ws.path(), "manifests/main.yaml", MANIFEST);
    let once = fnctl(&moto)
        .current_dir(ws.path())
        .args(["-v", "plan"])
        .run();
    once.assert_exit(0);
    assert!(
        !once.stderr.contains("IAM GetAccountAuthorizationDetails"),
        "{}",
        once.stderr
    );
    let twice = fnctl(&moto)
        .current_dir(ws.path())
        .args(["-vv", "apply", "--auto-approve"])
        .run();
    twice
        .assert_exit(0)
        .assert_stderr_contains("IAM GetAccountAuthorizationDetails:")
        .assert_stderr_contains("IAM CreateRole segment-fn-verbose: ok in");
    assert!(
        !twice.stderr.contains("sts:ExternalId"),
        "no document body: {}",
        twice.stderr
    );
}
