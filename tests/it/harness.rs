//! Tests of the integration-test harness itself (tests/it/support).

use std::net::TcpStream;

use crate::support::command::fnctl;
use crate::support::moto::{iam_client, Moto, MOTO_ACCOUNT};

const TRUST: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::458175278816:root"},"Action":"sts:AssumeRole"}]}"#;

#[test]
fn moto_starts_and_its_api_answers() {
    let moto = Moto::start();
    assert!(moto.endpoint().starts_with("http://127.0.0.1:"));
    let resp = moto.get("/moto-api/");
    assert_eq!(resp.status, 200, "{}", resp.body);
}

#[test]
fn moto_is_gone_after_drop() {
    let moto = Moto::start();
    let port = moto.port();
    drop(moto);
    assert!(
        TcpStream::connect(("127.0.0.1", port)).is_err(),
        "moto still listens on {port} after drop"
    );
}

#[tokio::test]
async fn reset_clears_a_role_created_out_of_band() {
    let moto = Moto::start();
    let iam = iam_client(&moto).await;
    iam.create_role()
        .role_name("harness-probe")
        .path("/segment-functions/")
        .assume_role_policy_document(TRUST)
        .send()
        .await
        .expect("create role in moto");
    let role = iam
        .get_role()
        .role_name("harness-probe")
        .send()
        .await
        .expect("get role");
    let arn = role.role().expect("role").arn().to_string();
    assert_eq!(
        arn,
        format!("arn:aws:iam::{MOTO_ACCOUNT}:role/segment-functions/harness-probe")
    );

    moto.reset();

    let roles = iam
        .list_roles()
        .path_prefix("/segment-functions/")
        .send()
        .await
        .expect("list roles");
    assert!(roles.roles().is_empty(), "roles survived reset: {roles:?}");
    assert!(iam
        .get_role()
        .role_name("harness-probe")
        .send()
        .await
        .is_err());
}

#[test]
fn two_motos_at_once_get_different_ports() {
    let a = Moto::start();
    let b = Moto::start();
    assert_ne!(a.port(), b.port());
    assert_ne!(a.endpoint(), b.endpoint());
    assert_eq!(a.get("/moto-api/").status, 200);
    assert_eq!(b.get("/moto-api/").status, 200);
}

/// The contract of `fnctl whoami` against moto: exit 0, and the account
/// the credentials reach is on stdout.
#[test]
fn whoami_against_moto_names_its_account() {
    let moto = Moto::start();
    let out = fnctl(&moto).arg("whoami").run();
    out.assert_exit(0).assert_stdout_contains(MOTO_ACCOUNT);
}
