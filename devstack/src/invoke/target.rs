//! Which functions the gateway and the mapping invoke in Lambda Invoke mode, and where: the
//! `--lambda-endpoint URL` and `--function ROLE=NAME[@URL]` flags, parsed into types.

use std::fmt;
use std::num::NonZeroUsize;
use std::str::FromStr;

/// One of Starling's five functions, as the gateway and the mapping call them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// The `$connect` REQUEST authorizer.
    Authorizer,
    /// `$connect`.
    Connect,
    /// `$disconnect`.
    Disconnect,
    /// The message routes (`$default`).
    Send,
    /// The SQS event source mapping's target.
    Fanout,
}

impl Role {
    /// Every role, in the order the handshake, the routes and the mapping use them.
    pub const ALL: [Role; 5] = [Role::Authorizer, Role::Connect, Role::Disconnect, Role::Send, Role::Fanout];

    /// How `--function` spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Authorizer => "authorizer",
            Role::Connect => "connect",
            Role::Disconnect => "disconnect",
            Role::Send => "send",
            Role::Fanout => "fanout",
        }
    }

    /// The function's name in the SAM and CDK stacks (`starling-connect`, ...).
    pub fn default_name(self) -> String {
        format!("starling-{}", self.as_str())
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a `--function` or `--lambda-endpoint` value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    /// The role is not one of the five.
    #[error("unknown function role {0:?}: use authorizer, connect, disconnect, send or fanout")]
    Role(String),
    /// `--function` needs `ROLE=NAME[@URL]`.
    #[error("{0:?} is not ROLE=NAME[@URL] (e.g. connect=starling-connect or connect=function@http://127.0.0.1:9102)")]
    Shape(String),
    /// The endpoint is not an http(s) URL with a host.
    #[error("{0:?} is not an http:// or https:// URL with a host")]
    Url(String),
    /// A role has no endpoint of its own and there is no `--lambda-endpoint`.
    #[error("the {0} function has no endpoint: give --lambda-endpoint URL or --function {0}=NAME@URL")]
    NoEndpoint(Role),
    /// One role was given twice.
    #[error("--function {0}=... is given more than once")]
    Duplicate(Role),
}

impl FromStr for Role {
    type Err = TargetError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL.into_iter().find(|r| r.as_str() == s).ok_or_else(|| TargetError::Role(s.to_owned()))
    }
}

/// An Invoke API endpoint: an `http://` or `https://` URL with a host.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Endpoint(String);

impl Endpoint {
    /// The URL as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Endpoint {
    type Err = TargetError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let uri: http::Uri = s.parse().map_err(|_| TargetError::Url(s.to_owned()))?;
        let scheme_ok = matches!(uri.scheme_str(), Some("http" | "https"));
        if !scheme_ok || uri.host().is_none_or(str::is_empty) {
            return Err(TargetError::Url(s.to_owned()));
        }
        Ok(Self(s.to_owned()))
    }
}

/// One `--function ROLE=NAME[@URL]`: the function name a role is invoked by, and optionally
/// its own endpoint (AWS's Runtime Interface Emulator serves one function, named `function`,
/// per port).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionFlag {
    /// Which function.
    pub role: Role,
    /// Its name (or ARN) in the Invoke API.
    pub name: String,
    /// Its own endpoint; the `--lambda-endpoint` otherwise.
    pub endpoint: Option<Endpoint>,
}

impl FromStr for FunctionFlag {
    type Err = TargetError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (role, rest) = s.split_once('=').ok_or_else(|| TargetError::Shape(s.to_owned()))?;
        let role: Role = role.trim().parse()?;
        // Function names and ARNs never contain '@', so the first one starts the URL.
        let (name, endpoint) = match rest.split_once('@') {
            Some((name, url)) => (name, Some(url.parse()?)),
            None => (rest, None),
        };
        if name.is_empty() {
            return Err(TargetError::Shape(s.to_owned()));
        }
        Ok(Self { role, name: name.to_owned(), endpoint })
    }
}

/// Where one function is invoked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionTarget {
    /// The function name (or ARN) in the Invoke API.
    pub name: String,
    /// The Invoke API endpoint.
    pub endpoint: Endpoint,
}

/// Every role's function, in Lambda Invoke mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LambdaFunctions {
    targets: Box<[FunctionTarget; 5]>,
    concurrency: Option<NonZeroUsize>,
}

impl LambdaFunctions {
    /// The default names (`starling-authorizer`, ...) at one endpoint, as LocalStack or
    /// `cargo lambda watch` serve them.
    pub fn at(endpoint: Endpoint) -> Self {
        let targets = Role::ALL.map(|role| FunctionTarget { name: role.default_name(), endpoint: endpoint.clone() });
        Self { targets: Box::new(targets), concurrency: None }
    }

    /// What `--lambda-endpoint` and the `--function` flags say: each role's flag, else its
    /// default name; its own URL, else `endpoint`.
    pub fn from_flags(endpoint: Option<Endpoint>, flags: &[FunctionFlag]) -> Result<Self, TargetError> {
        let resolve = |role: Role| {
            let mut given = flags.iter().filter(|f| f.role == role);
            let flag = given.next();
            if given.next().is_some() {
                return Err(TargetError::Duplicate(role));
            }
            let name = flag.map_or_else(|| role.default_name(), |f| f.name.clone());
            let endpoint = flag
                .and_then(|f| f.endpoint.clone())
                .or_else(|| endpoint.clone())
                .ok_or(TargetError::NoEndpoint(role))?;
            Ok(FunctionTarget { name, endpoint })
        };
        let [a, c, d, s, f] = Role::ALL;
        let targets = Box::new([resolve(a)?, resolve(c)?, resolve(d)?, resolve(s)?, resolve(f)?]);
        Ok(Self { targets, concurrency: None })
    }

    /// At most `n` invocations of each function in flight at once; the others wait their turn
    /// (`--function-concurrency`). An emulator that runs one bootstrap, as AWS's Runtime Interface
    /// Emulator does, serves one invocation at a time: a second one at once makes it crash
    /// (`ReserveFailed: AlreadyReserved`, then a nil pointer panic), so it needs 1. `None`, the
    /// default, sends every invocation at once, as to Lambda, LocalStack or `cargo lambda watch`.
    #[must_use]
    pub fn with_concurrency(mut self, n: Option<NonZeroUsize>) -> Self {
        self.concurrency = n;
        self
    }

    /// The invocations of one function allowed in flight at once; `None` is no limit.
    pub fn concurrency(&self) -> Option<NonZeroUsize> {
        self.concurrency
    }

    /// The function a role is invoked as.
    pub fn target(&self, role: Role) -> &FunctionTarget {
        // `targets` is in `Role::ALL` order, which is declaration order.
        &self.targets[role as usize]
    }
}

/// How the gateway and the mapping run the functions.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Functions {
    /// The handlers of `starling_shared`, called in the devstack's own process (the default).
    #[default]
    InProcess,
    /// Through the Lambda Invoke API (`--lambda-endpoint`): the real bootstraps under an
    /// emulator, LocalStack, or AWS.
    Lambda(LambdaFunctions),
}

impl Functions {
    /// Whether the functions run elsewhere, behind the Invoke API.
    pub fn is_lambda(&self) -> bool {
        matches!(self, Functions::Lambda(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint(s: &str) -> Endpoint {
        s.parse().unwrap()
    }

    #[test]
    fn function_flags_parse_name_and_optional_url() {
        let f: FunctionFlag = "connect=function@http://127.0.0.1:9102".parse().unwrap();
        assert_eq!(f.role, Role::Connect);
        assert_eq!(f.name, "function");
        assert_eq!(f.endpoint, Some(endpoint("http://127.0.0.1:9102")));
        let f: FunctionFlag = "fanout=arn:aws:lambda:us-east-1:000000000000:function:my-fanout".parse().unwrap();
        assert_eq!((f.role, f.endpoint), (Role::Fanout, None));
        assert_eq!(f.name, "arn:aws:lambda:us-east-1:000000000000:function:my-fanout");
    }

    #[test]
    fn malformed_flags_say_what_is_wrong() {
        assert_eq!("conect=x".parse::<FunctionFlag>(), Err(TargetError::Role("conect".into())));
        assert_eq!("connect".parse::<FunctionFlag>(), Err(TargetError::Shape("connect".into())));
        assert_eq!("connect=".parse::<FunctionFlag>(), Err(TargetError::Shape("connect=".into())));
        assert_eq!("send=f@127.0.0.1:9000".parse::<FunctionFlag>(), Err(TargetError::Url("127.0.0.1:9000".into())));
        assert_eq!("ftp://h".parse::<Endpoint>(), Err(TargetError::Url("ftp://h".into())));
    }

    #[test]
    fn defaults_and_overrides_resolve_per_role() {
        let flags = ["connect=function@http://127.0.0.1:9102".parse().unwrap(), "send=my-send".parse().unwrap()];
        let f = LambdaFunctions::from_flags(Some(endpoint("http://127.0.0.1:9000")), &flags).unwrap();
        assert_eq!(
            f.target(Role::Connect),
            &FunctionTarget { name: "function".into(), endpoint: endpoint("http://127.0.0.1:9102") }
        );
        assert_eq!(f.target(Role::Send).name, "my-send");
        assert_eq!(f.target(Role::Authorizer).name, "starling-authorizer");
        assert_eq!(f.target(Role::Fanout).endpoint, endpoint("http://127.0.0.1:9000"));
        assert_eq!(f, LambdaFunctions::from_flags(Some(endpoint("http://127.0.0.1:9000")), &flags).unwrap());
    }

    #[test]
    fn a_role_without_any_endpoint_or_given_twice_is_refused() {
        let flags = ["connect=function@http://127.0.0.1:9102".parse().unwrap()];
        assert_eq!(LambdaFunctions::from_flags(None, &flags), Err(TargetError::NoEndpoint(Role::Authorizer)));
        let twice = ["send=a".parse().unwrap(), "send=b".parse().unwrap()];
        assert_eq!(
            LambdaFunctions::from_flags(Some(endpoint("http://h:1")), &twice),
            Err(TargetError::Duplicate(Role::Send))
        );
    }
}
