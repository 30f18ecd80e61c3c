//! The aws-sdk-iam backend (`fnctl::live::aws::iam::AwsIam`) against a real moto
//! server, and against a tiny scripted HTTP server for the answers moto never
//! gives (documents echoed in errors, HTML error pages).

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use fnctl::live::aws::iam::AwsIam;
use fnctl::live::{IamBackend, IamError, IamReads};
use fnctl::model::operation::{Operation, SecretDocument, WireOperation};
use fnctl::model::{LiveDocument, LiveRole};
use serde_json::{json, Value};

use crate::support::moto::{iam_client, Moto, MOTO_ACCOUNT};
use crate::support::spec::PATH;

fn trust(external_id: &str) -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "SegmentFunctionAssumeRole",
            "Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::458175278816:root"},
            "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"sts:ExternalId": external_id}}
        }]
    })
}

fn permissions(bucket: &str) -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "Bucket",
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:PutObject"],
            "Resource": format!("arn:aws:s3:::{bucket}/100% sure/*")
        }]
    })
}

async fn config_for(endpoint: &str, key: &str, secret: &str) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .credentials_provider(aws_sdk_iam::config::Credentials::new(
            key, secret, None, None, "test",
        ))
        .region(aws_config::Region::new("us-east-1"))
        .load()
        .await
}

async fn backend(endpoint: &str) -> AwsIam {
    AwsIam::new(&config_for(endpoint, "testing", "testing").await, 4)
}

fn paths() -> Vec<String> {
    vec![PATH.to_string()]
}

async fn read(iam: &AwsIam) -> BTreeMap<String, LiveRole> {
    let account = iam.read_roles(&paths()).await.expect("read roles");
    account
        .roles
        .into_iter()
        .map(|role| (role.name.clone(), role))
        .collect()
}

async fn read_one(iam: &AwsIam, name: &str) -> Option<LiveRole> {
    read(iam).await.remove(name)
}

/// Two roles under the role path (one fully dressed), one under `/`.
async fn seed_roles(moto: &Moto) -> String {
    let sdk = iam_client(moto).await;
    let boundary = sdk
        .create_policy()
        .policy_name("boundary")
        .policy_document(permissions("boundary").to_string())
        .send()
        .await
        .expect("create boundary policy")
        .policy
        .and_then(|p| p.arn)
        .expect("policy arn");
    sdk.create_role()
        .role_name("fn-orders")
        .path(PATH)
        .description("Orders destination")
        .max_session_duration(7200)
        .assume_role_policy_document(trust("orders-external-id-0123456789").to_string())
        .permissions_boundary(&boundary)
        .tags(tag("fnctl:managed-by", "fnctl"))
        .tags(tag("team", "data"))
        .send()
        .await
        .expect("create fn-orders");
    sdk.put_role_policy()
        .role_name("fn-orders")
        .policy_name("fnctl-permissions")
        .policy_document(permissions("orders").to_string())
        .send()
        .await
        .expect("put inline policy");
    sdk.attach_role_policy()
        .role_name("fn-orders")
        .policy_arn(&boundary)
        .send()
        .await
        .expect("attach policy");
    sdk.create_role()
        .role_name("fn-users")
        .path(PATH)
        .max_session_duration(7200)
        .assume_role_policy_document(trust("users-external-id-0123456789").to_string())
        .send()
        .await
        .expect("create fn-users");
    sdk.create_role()
        .role_name("outside")
        .path("/")
        .assume_role_policy_document(trust("x1").to_string())
        .send()
        .await
        .expect("create outside");
    boundary
}

fn tag(key: &str, value: &str) -> aws_sdk_iam::types::Tag {
    aws_sdk_iam::types::Tag::builder()
        .key(key)
        .value(value)
        .build()
        .expect("tag")
}

fn check_seeded(roles: &BTreeMap<String, LiveRole>, boundary: &str) {
    let names: Vec<&str> = roles.keys().map(String::as_str).collect();
    assert_eq!(names, ["fn-orders", "fn-users", "outside"]);

    let orders = &roles["fn-orders"];
    assert_eq!(orders.path, PATH);
    assert_eq!(
        orders.arn,
        format!("arn:aws:iam::{MOTO_ACCOUNT}:role/segment-functions/fn-orders")
    );
    assert!(orders.role_id.starts_with("AROA"), "{}", orders.role_id);
    assert!(orders.create_date.is_some());
    assert_eq!(orders.description.as_deref(), Some("Orders destination"));
    assert_eq!(orders.max_session_duration, Some(7200));
    assert_eq!(
        orders.trust_policy,
        LiveDocument::Valid(trust("orders-external-id-0123456789"))
    );
    assert_eq!(
        orders.inline_policies,
        BTreeMap::from([(
            "fnctl-permissions".to_string(),
            LiveDocument::Valid(permissions("orders"))
        )])
    );
    assert_eq!(
        orders.attached_policies,
        BTreeSet::from([boundary.to_string()])
    );
    assert_eq!(orders.permissions_boundary.as_deref(), Some(boundary));
    assert_eq!(
        orders.tags,
        BTreeMap::from([
            ("fnctl:managed-by".to_string(), "fnctl".to_string()),
            ("team".to_string(), "data".to_string()),
        ])
    );

    let users = &roles["fn-users"];
    assert_eq!(users.description, None);
    assert_eq!(users.max_session_duration, Some(7200));
    assert_eq!(
        users.trust_policy,
        LiveDocument::Valid(trust("users-external-id-0123456789"))
    );
    assert!(users.inline_policies.is_empty());
    assert!(users.tags.is_empty());

    let outside = &roles["outside"];
    assert_eq!(outside.path, "/");
    assert_eq!(outside.trust_policy, LiveDocument::Valid(trust("x1")));
}

#[tokio::test(flavor = "multi_thread")]
async fn read_merges_gaad_and_list_roles_in_two_calls() {
    let moto = Moto::start();
    let boundary = seed_roles(&moto).await;
    let iam = backend(&moto.endpoint()).await;

    let account = iam.read_roles(&paths()).await.expect("read roles");
    // moto answers GAAD in one page; one ListRoles page under the path.
    assert_eq!(account.read_calls, 2);
    let roles = account
        .roles
        .into_iter()
        .map(|role| (role.name.clone(), role))
        .collect();
    check_seeded(&roles, &boundary);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_invalid_trust_policy_spoils_only_its_role() {
    let moto = Moto::start();
    seed_roles(&moto).await;
    // moto's CreateRole stores anything; real IAM would refuse it.
    iam_client(&moto)
        .await
        .create_role()
        .role_name("fn-broken")
        .path(PATH)
        .assume_role_policy_document(
            r#"{"Version": "2012-10-17", "Statement": [ broken-secret-0123456789"#,
        )
        .send()
        .await
        .expect("create fn-broken");
    let roles = read(&backend(&moto.endpoint()).await).await;
    match &roles["fn-broken"].trust_policy {
        LiveDocument::Invalid(reason) => {
            assert!(reason.contains("not valid JSON"), "{reason}");
            assert!(!reason.contains("broken-secret-0123456789"), "{reason}");
        }
        valid => panic!("expected an invalid trust policy, got {valid:?}"),
    }
    assert_eq!(
        roles["fn-users"].trust_policy,
        LiveDocument::Valid(trust("users-external-id-0123456789"))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn without_gaad_the_read_falls_back_to_per_role_reads() {
    let moto = Moto::start();
    let boundary = seed_roles(&moto).await;
    let full = read(&backend(&moto.endpoint()).await).await;

    // A reader that may do everything in IAM but GetAccountAuthorizationDetails.
    let sdk = iam_client(&moto).await;
    sdk.create_user()
        .user_name("reader")
        .send()
        .await
        .expect("user");
    sdk.put_user_policy()
        .user_name("reader")
        .policy_name("no-gaad")
        .policy_document(
            json!({
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Action": "iam:*", "Resource": "*"},
                    {"Effect": "Deny", "Action": "iam:GetAccountAuthorizationDetails", "Resource": "*"}
                ]
            })
            .to_string(),
        )
        .send()
        .await
        .expect("user policy");
    let key = sdk
        .create_access_key()
        .user_name("reader")
        .send()
        .await
        .expect("access key")
        .access_key
        .expect("key");
    let config = config_for(&moto.endpoint(), &key.access_key_id, &key.secret_access_key).await;
    let reader = AwsIam::new(&config, 3);
    enforce_iam(&moto);

    let account = reader.read_roles(&paths()).await.expect("fallback read");
    // GAAD (denied) + ListRoles under the path + ListRoles of all roles,
    // then GetRole, ListRolePolicies, ListAttachedRolePolicies per path role
    // and GetRolePolicy per inline policy.
    assert_eq!(account.read_calls, 1 + 1 + 1 + 2 * 3 + 1);
    let roles: BTreeMap<String, LiveRole> = account
        .roles
        .into_iter()
        .map(|role| (role.name.clone(), role))
        .collect();
    assert_eq!(roles["fn-orders"], full["fn-orders"]);
    assert_eq!(roles["fn-users"], full["fn-users"]);
    let outside = &roles["outside"];
    assert_eq!(outside.arn, full["outside"].arn);
    assert_eq!(outside.trust_policy, full["outside"].trust_policy);
    check_seeded(&full, &boundary);
}

/// Turns on moto's IAM enforcement from now on (`POST /moto-api/reset-auth`
/// with body `0`). Sent by hand: moto reads the raw body, which Flask leaves
/// empty for the harness's form-encoded POST.
fn enforce_iam(moto: &Moto) {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", moto.port())).expect("connect");
    let request = format!(
        "POST /moto-api/reset-auth HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Type: text/plain\r\nContent-Length: 1\r\nConnection: close\r\n\r\n0",
        moto.port()
    );
    stream.write_all(request.as_bytes()).expect("send");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("answer");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[tokio::test(flavor = "multi_thread")]
async fn every_operation_round_trips() {
    let moto = Moto::start();
    let sdk = iam_client(&moto).await;
    let managed = sdk
        .create_policy()
        .policy_name("managed")
        .policy_document(permissions("managed").to_string())
        .send()
        .await
        .expect("create policy")
        .policy
        .and_then(|p| p.arn)
        .expect("arn");
    let boundary = sdk
        .create_policy()
        .policy_name("boundary")
        .policy_document(permissions("boundary").to_string())
        .send()
        .await
        .expect("create policy")
        .policy
        .and_then(|p| p.arn)
        .expect("arn");
    let iam = backend(&moto.endpoint()).await;
    let role = "fn-round-trip".to_string();
    let run = |operation: WireOperation| {
        let iam = &iam;
        async move {
            iam.execute(&operation)
                .await
                .unwrap_or_else(|e| panic!("{}: {e}", operation.api_name()))
        }
    };

    run(Operation::CreateRole {
        role: role.clone(),
        path: PATH.into(),
        description: "first".into(),
        max_session_duration: 7200,
        trust_policy: SecretDocument::new(trust("created-0123456789").to_string()),
        permissions_boundary: Some(boundary.clone()),
        tags: BTreeMap::from([("fnctl:scope".into(), "default".into())]),
    })
    .await;
    let live = read_one(&iam, &role).await.expect("created");
    assert_eq!(live.path, PATH);
    assert_eq!(live.description.as_deref(), Some("first"));
    assert_eq!(live.max_session_duration, Some(7200));
    assert_eq!(
        live.trust_policy,
        LiveDocument::Valid(trust("created-0123456789"))
    );
    assert_eq!(
        live.permissions_boundary.as_deref(),
        Some(boundary.as_str())
    );
    assert_eq!(live.tags["fnctl:scope"], "default");

    run(Operation::UpdateTrustPolicy {
        role: role.clone(),
        trust_policy: SecretDocument::new(trust("rotated-0123456789").to_string()),
    })
    .await;
    run(Operation::UpdateRole {
        role: role.clone(),
        description: "second".into(),
        max_session_duration: 3600,
    })
    .await;
    run(Operation::PutInlinePolicy {
        role: role.clone(),
        policy_name: "fnctl-permissions".into(),
        document: permissions("orders"),
    })
    .await;
    run(Operation::PutInlinePolicy {
        role: role.clone(),
        policy_name: "extra".into(),
        document: permissions("extra"),
    })
    .await;
    run(Operation::AttachManagedPolicy {
        role: role.clone(),
        policy_arn: managed.clone(),
    })
    .await;
    run(Operation::DeletePermissionsBoundary { role: role.clone() }).await;
    run(Operation::TagRole {
        role: role.clone(),
        tags: BTreeMap::from([("team".into(), "data".into()), ("tmp".into(), "1".into())]),
    })
    .await;
    let live = read_one(&iam, &role).await.expect("role");
    assert_eq!(
        live.trust_policy,
        LiveDocument::Valid(trust("rotated-0123456789"))
    );
    assert_eq!(live.description.as_deref(), Some("second"));
    assert_eq!(live.max_session_duration, Some(3600));
    assert_eq!(
        live.inline_policies,
        BTreeMap::from([
            (
                "extra".to_string(),
                LiveDocument::Valid(permissions("extra"))
            ),
            (
                "fnctl-permissions".to_string(),
                LiveDocument::Valid(permissions("orders"))
            ),
        ])
    );
    assert_eq!(live.attached_policies, BTreeSet::from([managed.clone()]));
    assert_eq!(live.permissions_boundary, None);
    assert_eq!(live.tags.len(), 3);

    run(Operation::DeleteInlinePolicy {
        role: role.clone(),
        policy_name: "extra".into(),
    })
    .await;
    run(Operation::DetachManagedPolicy {
        role: role.clone(),
        policy_arn: managed.clone(),
    })
    .await;
    run(Operation::PutPermissionsBoundary {
        role: role.clone(),
        policy_arn: boundary.clone(),
    })
    .await;
    run(Operation::UntagRole {
        role: role.clone(),
        keys: vec!["tmp".into(), "fnctl:scope".into()],
    })
    .await;
    let live = read_one(&iam, &role).await.expect("role");
    assert_eq!(
        live.inline_policies.keys().collect::<Vec<_>>(),
        ["fnctl-permissions"]
    );
    assert!(live.attached_policies.is_empty());
    assert_eq!(
        live.permissions_boundary.as_deref(),
        Some(boundary.as_str())
    );
    assert_eq!(
        live.tags,
        BTreeMap::from([("team".to_string(), "data".to_string())])
    );

    run(Operation::DeleteInlinePolicy {
        role: role.clone(),
        policy_name: "fnctl-permissions".into(),
    })
    .await;
    run(Operation::DeletePermissionsBoundary { role: role.clone() }).await;
    run(Operation::DeleteRole { role: role.clone() }).await;
    assert_eq!(read_one(&iam, &role).await, None);
}

#[tokio::test(flavor = "multi_thread")]
async fn errors_are_mapped_by_code() {
    let moto = Moto::start();
    let iam = backend(&moto.endpoint()).await;
    let create = Operation::CreateRole {
        role: "fn-dup".into(),
        path: PATH.into(),
        description: String::new(),
        max_session_duration: 3600,
        trust_policy: SecretDocument::new(trust("dup-0123456789").to_string()),
        permissions_boundary: None,
        tags: BTreeMap::new(),
    };
    iam.execute(&create).await.expect("first create");
    let again = iam.execute(&create).await.expect_err("second create");
    assert!(
        matches!(
            again,
            IamError::AlreadyExists {
                api: "CreateRole",
                ..
            }
        ),
        "{again:?}"
    );

    let missing = iam
        .execute(&Operation::DeleteRole {
            role: "fn-missing".into(),
        })
        .await
        .expect_err("delete a missing role");
    assert!(
        matches!(
            missing,
            IamError::NoSuchEntity {
                api: "DeleteRole",
                ..
            }
        ),
        "{missing:?}"
    );

    let secret = "malformed-secret-0123456789";
    let malformed = iam
        .execute(&Operation::UpdateTrustPolicy {
            role: "fn-dup".into(),
            trust_policy: SecretDocument::new(format!(r#"{{"sts:ExternalId": "{secret}""#)),
        })
        .await
        .expect_err("invalid JSON");
    match &malformed {
        IamError::Service { code, .. } => assert_eq!(code, "MalformedPolicyDocument"),
        other => panic!("expected a service error, got {other:?}"),
    }
    assert!(!format!("{malformed} {malformed:?}").contains(secret));
}

/// A scripted IAM stand-in: answers the n-th request with `responses[n]`
/// (the last one once they run out) and counts the requests.
struct Scripted {
    endpoint: String,
    requests: Arc<AtomicUsize>,
}

fn scripted(responses: Vec<(u16, &'static str, String)>) -> Scripted {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let endpoint = format!("http://{}", listener.local_addr().expect("addr"));
    let requests = Arc::new(AtomicUsize::new(0));
    let counter = requests.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut raw = Vec::new();
            let mut buf = [0u8; 4096];
            // Read the headers, then the body per Content-Length.
            let body_start = loop {
                let Ok(n) = stream.read(&mut buf) else {
                    break None;
                };
                if n == 0 {
                    break None;
                }
                raw.extend_from_slice(&buf[..n]);
                if let Some(at) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
                    break Some(at + 4);
                }
            };
            let Some(body_start) = body_start else {
                continue;
            };
            let head = String::from_utf8_lossy(&raw[..body_start]).to_ascii_lowercase();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            while raw.len() < body_start + length {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => raw.extend_from_slice(&buf[..n]),
                }
            }
            let n = counter.fetch_add(1, Ordering::SeqCst);
            let (status, content_type, body) = &responses[n.min(responses.len() - 1)];
            let answer = format!(
                "HTTP/1.1 {status} Scripted\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(answer.as_bytes());
        }
    });
    Scripted { endpoint, requests }
}

fn iam_error_xml(code: &str, message: &str) -> String {
    format!(
        r#"<ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>r</RequestId></ErrorResponse>"#
    )
}

const MOTO_500: &str =
    "<!doctype html><html><title>500 Internal Server Error</title><p>dictionary changed size during iteration</p></html>";

fn create_role_operation() -> WireOperation {
    Operation::CreateRole {
        role: "fn-a".into(),
        path: PATH.into(),
        description: "d".into(),
        max_session_duration: 3600,
        trust_policy: SecretDocument::new(trust("a-0123456789").to_string()),
        permissions_boundary: None,
        tags: BTreeMap::new(),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn documents_echoed_in_error_messages_are_redacted() {
    let secret = "echoed-external-id-0123456789";
    let document = trust(secret).to_string();
    let server = scripted(vec![(
        400,
        "text/xml",
        iam_error_xml(
            "MalformedPolicyDocument",
            &format!("Invalid principal in policy: {document}"),
        ),
    )]);
    let iam = backend(&server.endpoint).await;
    let error = iam
        .execute(&create_role_operation())
        .await
        .expect_err("scripted failure");
    let text = format!("{error} {error:?}");
    assert!(!text.contains(secret), "{text}");
    assert!(text.contains("(policy document redacted)"), "{text}");
    match error {
        IamError::Service { code, message, .. } => {
            assert_eq!(code, "MalformedPolicyDocument");
            assert_eq!(
                message,
                "Invalid principal in policy: (policy document redacted)"
            );
        }
        other => panic!("expected a service error, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_html_500_is_retried_by_the_sdk() {
    let created = r#"<CreateRoleResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><CreateRoleResult><Role><Path>/segment-functions/</Path><RoleName>fn-a</RoleName><RoleId>AROAEXAMPLE</RoleId><Arn>arn:aws:iam::123456789012:role/segment-functions/fn-a</Arn><CreateDate>2026-11-24T23:08:38Z</CreateDate><MaxSessionDuration>3600</MaxSessionDuration></Role></CreateRoleResult><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></CreateRoleResponse>"#;
    let server = scripted(vec![
        (500, "text/html", MOTO_500.to_string()),
        (200, "text/xml", created.to_string()),
    ]);
    let iam = backend(&server.endpoint).await;
    iam.execute(&create_role_operation())
        .await
        .expect("the retry succeeds");
    assert_eq!(server.requests.load(Ordering::SeqCst), 2);

    // When every attempt fails, the error says so without the HTML.
    let server = scripted(vec![(500, "text/html", MOTO_500.to_string())]);
    let iam = backend(&server.endpoint).await;
    let error = iam
        .execute(&create_role_operation())
        .await
        .expect_err("all attempts fail");
    assert!(server.requests.load(Ordering::SeqCst) > 1, "not retried");
    let text = error.to_string();
    assert!(!text.contains("<html"), "{text}");
    assert!(text.contains("500"), "{text}");
}
