//! Where the JWT secret comes from: inline for local runs, Secrets Manager or SSM in AWS.

use aws_config::SdkConfig;

use crate::config::{ConfigError, optional};

/// Where the JWT secret (the HS256 key of [`crate::auth::JwtVerifier`]) comes from. Deployed
/// stacks set only `STARLING_JWT_SECRET_ID`, so the secret itself never sits in a function's
/// environment or in the template; the inline form is for the devstack and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// `STARLING_JWT_SECRET`: the secret itself (devstack, tests).
    Inline(String),
    /// `STARLING_JWT_SECRET_ID` naming a Secrets Manager secret (name or ARN).
    SecretsManager(String),
    /// `STARLING_JWT_SECRET_ID` naming an SSM SecureString parameter (`/path` or an `arn:aws:ssm:` ARN).
    Ssm(String),
}

/// Why the secret could not be loaded. The authorizer loads it once at init and does not start
/// without it.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// `GetSecretValue` failed: no such secret, no permission to read it or its KMS key, or the
    /// service was unreachable.
    #[error("reading secret {id} from Secrets Manager failed")]
    SecretsManager {
        /// The secret's name or ARN, as configured.
        id: String,
        /// What the SDK reported.
        #[source]
        source: Box<aws_sdk_secretsmanager::Error>,
    },
    /// `GetParameter` with decryption failed: no such parameter, no permission to read or decrypt
    /// it, or the service was unreachable.
    #[error("reading parameter {id} from SSM failed")]
    Ssm {
        /// The parameter's name or ARN, as configured.
        id: String,
        /// What the SDK reported.
        #[source]
        source: Box<aws_sdk_ssm::Error>,
    },
    /// The secret or parameter named exists but has no string value, or an empty one (e.g. a
    /// binary secret). Refused because an empty HMAC key would let anyone sign tokens.
    #[error("secret {0} has no string value")]
    Empty(String),
}

impl SecretSource {
    /// The source named by `STARLING_JWT_SECRET` and `STARLING_JWT_SECRET_ID` (an empty variable
    /// counts as unset), as [`Self::from_values`] chooses it.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_values(optional("STARLING_JWT_SECRET"), optional("STARLING_JWT_SECRET_ID"))
    }

    /// Chooses the source: an inline secret wins over an id, so a local run never reaches AWS.
    /// An id starting with `/` or `arn:aws:ssm:` names an SSM parameter; any other id is a Secrets
    /// Manager secret name or ARN. Neither given is [`ConfigError::Missing`].
    pub fn from_values(inline: Option<String>, id: Option<String>) -> Result<Self, ConfigError> {
        match (inline, id) {
            (Some(secret), _) => Ok(Self::Inline(secret)),
            (None, Some(id)) if id.starts_with('/') || id.starts_with("arn:aws:ssm:") => Ok(Self::Ssm(id)),
            (None, Some(id)) => Ok(Self::SecretsManager(id)),
            (None, None) => Err(ConfigError::Missing("STARLING_JWT_SECRET or STARLING_JWT_SECRET_ID")),
        }
    }

    /// Fetches the secret, building only the client the source needs.
    pub async fn load(&self, config: &SdkConfig) -> Result<String, SecretError> {
        match self {
            Self::Inline(s) => Ok(s.clone()),
            Self::SecretsManager(id) => from_secrets_manager(&aws_sdk_secretsmanager::Client::new(config), id).await,
            Self::Ssm(id) => from_ssm(&aws_sdk_ssm::Client::new(config), id).await,
        }
    }
}

/// The whole `SecretString` of a Secrets Manager secret (name or ARN), used as the key as is (not
/// parsed as JSON). [`SecretError::Empty`] if it has none or an empty one.
pub async fn from_secrets_manager(client: &aws_sdk_secretsmanager::Client, id: &str) -> Result<String, SecretError> {
    let out = client
        .get_secret_value()
        .secret_id(id)
        .send()
        .await
        .map_err(|e| SecretError::SecretsManager { id: id.to_owned(), source: Box::new(e.into()) })?;
    out.secret_string.filter(|s| !s.is_empty()).ok_or_else(|| SecretError::Empty(id.to_owned()))
}

/// The decrypted value of an SSM parameter (name or ARN). Deployments point at a SecureString;
/// a plain `String` parameter reads too. [`SecretError::Empty`] if it has none or an empty one.
pub async fn from_ssm(client: &aws_sdk_ssm::Client, id: &str) -> Result<String, SecretError> {
    let out = client
        .get_parameter()
        .name(id)
        .with_decryption(true)
        .send()
        .await
        .map_err(|e| SecretError::Ssm { id: id.to_owned(), source: Box::new(e.into()) })?;
    out.parameter.and_then(|p| p.value).filter(|s| !s.is_empty()).ok_or_else(|| SecretError::Empty(id.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_secret_wins_then_ssm_paths_then_secrets_manager() {
        assert_eq!(
            SecretSource::from_values(Some("s".into()), Some("/x".into())).unwrap(),
            SecretSource::Inline("s".into())
        );
        assert_eq!(
            SecretSource::from_values(None, Some("/starling/jwt".into())).unwrap(),
            SecretSource::Ssm("/starling/jwt".into())
        );
        let ssm_arn = "arn:aws:ssm:us-east-1:123456789012:parameter/starling/jwt";
        assert_eq!(SecretSource::from_values(None, Some(ssm_arn.into())).unwrap(), SecretSource::Ssm(ssm_arn.into()));
        assert_eq!(
            SecretSource::from_values(None, Some("starling/jwt".into())).unwrap(),
            SecretSource::SecretsManager("starling/jwt".into())
        );
        assert!(SecretSource::from_values(None, None).is_err());
    }
}
