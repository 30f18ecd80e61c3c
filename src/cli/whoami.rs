//! `fnctl whoami`: the account, ARN and endpoint the credentials reach.

use crate::cli::args::{Format, GlobalOptions, WhoamiArgs};
use crate::live::aws::Connection;

/// Asks STS GetCallerIdentity and prints who the credentials are.
pub(crate) async fn run(global: &GlobalOptions, args: &WhoamiArgs) -> anyhow::Result<i32> {
    let connection = Connection::load(&super::settings::aws(global)).await;
    let endpoint = connection.endpoint();
    let identity = connection.caller_identity().await?;
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
