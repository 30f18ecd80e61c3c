//! AWS naming rules fnctl enforces itself, before anything reaches AWS (moto,
//! the test server, enforces none of them). Each check returns why a value is
//! wrong, in words that fit after "…: ".

use super::regions::{check_region, PARTITIONS};

/// IAM role name: 1–64 characters of `[A-Za-z0-9+=,.@_-]`.
pub(crate) fn check_role_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 64 {
        return Err(format!(
            "role names have 1 to 64 characters, this one has {}",
            name.chars().count()
        ));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "+=,.@_-".contains(*c)))
    {
        return Err(format!(
            "`{bad}` is not allowed in role names (letters, digits and + = , . @ _ -)"
        ));
    }
    Ok(())
}

/// An IAM policy name: 1 to 128 letters, digits and `+=,.@_-`.
pub(crate) fn check_policy_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 128 {
        return Err("policy names have 1 to 128 characters".into());
    }
    match name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "+=,.@_-".contains(*c)))
    {
        Some(bad) => Err(format!(
            "`{bad}` is not allowed in policy names (letters, digits and + = , . @ _ -)"
        )),
        None => Ok(()),
    }
}

/// IAM path: `/` or `/…/`, at most 512 printable ASCII characters.
pub(crate) fn check_role_path(path: &str) -> Result<(), String> {
    if path.len() > 512 {
        return Err("paths have at most 512 characters".into());
    }
    if !path.starts_with('/') || !path.ends_with('/') {
        return Err("a path is `/` or starts and ends with `/`, like `/segment-functions/`".into());
    }
    if let Some(bad) = path.chars().find(|c| !('!'..='~').contains(c)) {
        return Err(format!("`{}` is not printable ASCII", bad.escape_default()));
    }
    if path.contains("//") {
        return Err("a path has no empty segment (`//`)".into());
    }
    Ok(())
}

/// Instance names name bundle files and tag values: 1–64 of `[A-Za-z0-9._-]`,
/// not starting with `.` or `-`.
pub(crate) fn check_instance_name(name: &str) -> Result<(), String> {
    check_label(name, "instance names")
}

/// Scopes are tag values that group roles: same alphabet as instance names.
pub(crate) fn check_scope(scope: &str) -> Result<(), String> {
    check_label(scope, "scopes")
}

fn check_label(value: &str, what: &str) -> Result<(), String> {
    if value.is_empty() || value.len() > 64 {
        return Err(format!("{what} have 1 to 64 characters"));
    }
    if value.starts_with(['.', '-']) {
        return Err(format!("{what} start with a letter, digit or `_`"));
    }
    if let Some(bad) = value
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "._-".contains(*c)))
    {
        return Err(format!(
            "`{bad}` is not allowed in {what} (letters, digits, `.`, `_`, `-`)"
        ));
    }
    Ok(())
}

/// AWS account id: exactly 12 digits.
pub(crate) fn check_account_id(account: &str) -> Result<(), String> {
    if account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(format!(
            "`{account}` is not an AWS account id (exactly 12 digits)"
        ))
    }
}

/// The parts of an ARN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arn<'a> {
    /// e.g. `aws`.
    pub partition: &'a str,
    /// e.g. `iam`.
    pub service: &'a str,
    /// Empty for global services.
    pub region: &'a str,
    /// 12 digits, empty (S3) or `aws` (AWS managed policies).
    pub account: &'a str,
    /// Everything after the fifth colon.
    pub resource: &'a str,
}

/// Parses an ARN and checks partition, service and account. Wildcards are
/// allowed in region, account and resource when `allow_wildcards` is set
/// (permission resources), never in partition or service.
pub(crate) fn parse_arn(text: &str, allow_wildcards: bool) -> Result<Arn<'_>, String> {
    let mut parts = text.splitn(6, ':');
    let (Some("arn"), Some(partition), Some(service), Some(region), Some(account), Some(resource)) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return Err(format!(
            "`{text}` is not an ARN (arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE)"
        ));
    };
    if !PARTITIONS.iter().any(|known| known.id == partition) {
        return Err(format!(
            "`{partition}` is not an AWS partition (aws, aws-cn, aws-us-gov, …)"
        ));
    }
    if service.is_empty()
        || !service
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        return Err(format!("`{service}` is not an AWS service name"));
    }
    let wild = |value: &str| allow_wildcards && value.contains(['*', '?']);
    if !(account.is_empty()
        || account == "aws"
        || check_account_id(account).is_ok()
        || wild(account))
    {
        return Err(format!("account `{account}` in the ARN is not 12 digits"));
    }
    if !(region.is_empty() || check_region(region).is_ok() || wild(region)) {
        return Err(format!("region `{region}` in the ARN is not an AWS region"));
    }
    if resource.is_empty() {
        return Err("the ARN names no resource".into());
    }
    Ok(Arn {
        partition,
        service,
        region,
        account,
        resource,
    })
}

/// ARN of an IAM managed policy (customer or AWS managed).
pub(crate) fn check_policy_arn(text: &str) -> Result<(), String> {
    let arn = parse_arn(text, false)?;
    if arn.service != "iam" || !arn.resource.starts_with("policy/") || arn.account.is_empty() {
        return Err(format!(
            "`{text}` is not a managed policy ARN (arn:aws:iam::ACCOUNT:policy/NAME)"
        ));
    }
    Ok(())
}

/// ARN of an IAM role; returns its account.
pub(crate) fn check_role_arn(text: &str) -> Result<String, String> {
    let arn = parse_arn(text, false)?;
    if arn.service != "iam"
        || !arn.resource.starts_with("role/")
        || check_account_id(arn.account).is_err()
    {
        return Err(format!(
            "`{text}` is not a role ARN (arn:aws:iam::ACCOUNT:role/NAME)"
        ));
    }
    Ok(arn.account.to_string())
}

/// S3 bucket name per AWS's general purpose bucket rules.
pub(crate) fn check_bucket_name(name: &str) -> Result<(), String> {
    if name.len() < 3 || name.len() > 63 {
        return Err("bucket names have 3 to 63 characters".into());
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '.' || *c == '-'))
    {
        return Err(format!(
            "`{bad}` is not allowed in bucket names (lowercase letters, digits, `.`, `-`)"
        ));
    }
    let first = name.chars().next().unwrap_or('-');
    let last = name.chars().last().unwrap_or('-');
    if !first.is_ascii_alphanumeric() || !last.is_ascii_alphanumeric() {
        return Err("bucket names start and end with a letter or digit".into());
    }
    if name.contains("..") || name.contains(".-") || name.contains("-.") {
        return Err("bucket names have no `..`, `.-` or `-.`".into());
    }
    if name.split('.').count() == 4 && name.split('.').all(|part| part.parse::<u8>().is_ok()) {
        return Err("bucket names are not formatted like an IP address".into());
    }
    for prefix in ["xn--", "sthree-", "amzn-s3-demo-"] {
        if name.starts_with(prefix) {
            return Err(format!("bucket names do not start with `{prefix}`"));
        }
    }
    for suffix in ["-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"] {
        if name.ends_with(suffix) {
            return Err(format!("bucket names do not end with `{suffix}`"));
        }
    }
    Ok(())
}

/// An IAM tag key: 1–128 characters of letters, digits, spaces and `_.:/=+-@`.
pub(crate) fn check_tag_key(key: &str) -> Result<(), String> {
    if key.is_empty() || key.chars().count() > 128 {
        return Err("tag keys have 1 to 128 characters".into());
    }
    check_tag_characters(key)
}

/// An IAM tag value: at most 256 characters of the same alphabet.
pub(crate) fn check_tag_value(value: &str) -> Result<(), String> {
    if value.chars().count() > 256 {
        return Err("tag values have at most 256 characters".into());
    }
    check_tag_characters(value)
}

fn check_tag_characters(text: &str) -> Result<(), String> {
    match text
        .chars()
        .find(|c| !(c.is_alphanumeric() || c.is_whitespace() || "_.:/=+-@".contains(*c)))
    {
        Some(bad) => Err(format!(
            "`{bad}` is not allowed in tags (letters, digits, spaces and _ . : / = + - @)"
        )),
        None => Ok(()),
    }
}

/// Role description: at most 1,000 characters IAM accepts.
pub(crate) fn check_description(text: &str) -> Result<(), String> {
    if text.chars().count() > 1000 {
        return Err("descriptions have at most 1000 characters".into());
    }
    let allowed = |c: char| matches!(c, '\t' | '\n' | '\r' | ' '..='~' | '\u{A1}'..='\u{FF}');
    match text.chars().find(|c| !allowed(*c)) {
        Some(bad) => Err(format!(
            "`{}` is not allowed in role descriptions",
            bad.escape_default()
        )),
        None => Ok(()),
    }
}

/// An IAM action `service:Action`, where the action may hold `*` and `?`.
pub(crate) fn check_action(action: &str) -> Result<(), String> {
    if action == "*" {
        return Ok(());
    }
    let Some((service, name)) = action.split_once(':') else {
        return Err(format!(
            "`{action}` is not an IAM action (service:Action, like s3:PutObject)"
        ));
    };
    let service_ok = !service.is_empty()
        && service
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-');
    let name_ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '*' || c == '?');
    if service_ok && name_ok {
        Ok(())
    } else {
        Err(format!(
            "`{action}` is not an IAM action (service:Action, like s3:PutObject)"
        ))
    }
}

/// A Segment destination or source id: Segment's ids are short runs of
/// letters and digits (`fP7qoQw2HTWt9WdMr718gn`); anything else cannot name
/// one and would end up in a URL path.
pub(crate) fn check_segment_id(id: &str) -> Result<(), String> {
    if !(6..=64).contains(&id.len()) {
        return Err(format!(
            "`{id}` is not a Segment id: 6 to 64 letters and digits expected"
        ));
    }
    match id
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '-'))
    {
        Some(bad) => Err(format!(
            "`{bad}` cannot appear in a Segment id (letters, digits, `_` and `-`)"
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_names() {
        assert!(check_role_name("segment-fn-a_b.c@d=e,f+g").is_ok());
        assert!(check_role_name(&"a".repeat(64)).is_ok());
        assert!(check_role_name(&"a".repeat(65)).is_err());
        assert!(check_role_name("").is_err());
        assert!(check_role_name("has space").is_err());
        assert!(check_role_name("slash/no").is_err());
    }

    #[test]
    fn role_paths() {
        assert!(check_role_path("/").is_ok());
        assert!(check_role_path("/segment-functions/").is_ok());
        assert!(check_role_path("/a/b/").is_ok());
        assert!(check_role_path("segment/").is_err());
        assert!(check_role_path("/segment").is_err());
        assert!(check_role_path("/a b/").is_err());
        assert!(check_role_path("/a//b/").is_err());
        assert!(check_role_path(&format!("/{}/", "a".repeat(511))).is_err());
    }

    #[test]
    fn account_ids() {
        assert!(check_account_id("012345678901").is_ok());
        assert!(check_account_id("12345678901").is_err());
        assert!(check_account_id("12345678901a").is_err());
    }

    #[test]
    fn arns() {
        assert!(check_policy_arn("arn:aws:iam::123456789012:policy/boundary").is_ok());
        assert!(check_policy_arn("arn:aws:iam::aws:policy/ReadOnlyAccess").is_ok());
        assert!(check_policy_arn("arn:aws:s3:::bucket").is_err());
        assert!(check_policy_arn("arn:aws:iam::12345:policy/x").is_err());
        assert!(check_policy_arn("arn:foo:iam::123456789012:policy/x").is_err());
        assert!(parse_arn("arn:aws:sqs:us-west-2:123456789012:events", false).is_ok());
        assert!(parse_arn("arn:aws:sqs:*:123456789012:events", true).is_ok());
        assert!(parse_arn("arn:aws:sqs:*:123456789012:events", false).is_err());
        assert!(parse_arn("arn:aws:s3:::bucket/prefix/*", false).is_ok());
        assert!(parse_arn("not-an-arn", true).is_err());
        assert!(parse_arn("arn:aws:S3:::bucket", true).is_err());
        assert_eq!(
            check_role_arn("arn:aws:iam::111122223333:role/deployer").unwrap(),
            "111122223333"
        );
        assert!(check_role_arn("arn:aws:iam::111122223333:user/deployer").is_err());
    }

    #[test]
    fn bucket_names() {
        for good in ["acme-events-prod", "a.b.c", "abc", "my-bucket-1"] {
            assert!(check_bucket_name(good).is_ok(), "{good}");
        }
        for bad in [
            "ab",
            "Upper",
            "a..b",
            "-ab",
            "ab-",
            "192.168.5.4",
            "xn--abc",
            "abc-s3alias",
            "a_b",
            &"a".repeat(64),
        ] {
            assert!(check_bucket_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn tags_and_actions() {
        assert!(check_tag_key("cost-center").is_ok());
        assert!(check_tag_key("").is_err());
        assert!(check_tag_value("a!").is_err());
        assert!(check_tag_value("").is_ok());
        assert!(check_action("s3:PutObject").is_ok());
        assert!(check_action("s3:Put*").is_ok());
        assert!(check_action("s3").is_err());
        assert!(check_action("s3:Put Object").is_err());
    }
}
