//! `fnctl whoami`: the account, ARN and endpoint the credentials reach.

use crate::cli::{Format, GlobalOptions, WhoamiArgs};

/// Asks STS GetCallerIdentity and prints who the credentials are.
pub async fn run(global: &GlobalOptions, args: &WhoamiArgs) -> anyhow::Result<i32> {
    let config = crate::aws::load_config(global).await;
    let endpoint = crate::aws::describe_endpoint(&config);
    let identity = crate::aws::caller_identity(&config).await?;
    match args.format {
        Format::Json => {
            let value = serde_json::json!({
                "format_version": "1",
                "account": identity.account,
                "arn": identity.arn,
                "user_id": identity.user_id,
                "endpoint": endpoint,
            });
            crate::outln!("{}", serde_json::to_string_pretty(&value)?);
        }
        Format::Text | Format::Markdown => {
            crate::outln!("account:  {}", identity.account);
            crate::outln!("arn:      {}", identity.arn);
            crate::outln!("endpoint: {endpoint}");
        }
    }
    Ok(0)
}
