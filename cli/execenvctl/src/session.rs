//! Whom execenvctl acts as and how it reaches each service (and the gateway, with an API key). The user and groups of
//! `--as-user`/`--as-groups` are resolved to guids when the first service is reached, so a command
//! reports its own bad input before anything is looked up or called.

use execenv_core::{Error, ErrorKind};
use tokio::sync::OnceCell;

use crate::args::{GlobalArgs, OutputFormat};
use crate::connection::{ConfigSync, Connect, Examiner, Identity, Launcher, Registry, Selector};
use crate::gateway::Gateway;
use crate::principals::{self, Named};

/// The global flags of one run, and the identity they resolve to.
pub struct Session {
    given: GlobalArgs,
    acting: OnceCell<GlobalArgs>,
}

impl Session {
    /// A session for the flags `given`; nothing is resolved yet.
    pub fn new(given: GlobalArgs) -> Self {
        Session {
            given,
            acting: OnceCell::new(),
        }
    }

    /// How results are printed.
    pub fn output(&self) -> OutputFormat {
        self.given.output
    }

    /// The flags with `--as-user` and `--as-groups` as guids (resolved once).
    async fn acting(&self) -> Result<&GlobalArgs, Error> {
        self.acting
            .get_or_try_init(|| principals::acting(&self.given))
            .await
    }

    /// The guid of every value of `named`, names looked up in the registry's users and groups.
    pub async fn guids(&self, named: &[Named]) -> Result<Vec<String>, Error> {
        principals::guids(&self.given, named).await
    }

    /// The registry, acting as the resolved identity.
    pub async fn registry(&self) -> Result<Registry, Error> {
        Registry::connect(self.acting().await?).await
    }

    /// The registry's Identity service, acting as the resolved identity.
    pub async fn identity(&self) -> Result<Identity, Error> {
        Identity::connect(self.acting().await?).await
    }

    /// config-sync, acting as the resolved identity.
    pub async fn config_sync(&self) -> Result<ConfigSync, Error> {
        ConfigSync::connect(self.acting().await?).await
    }

    /// The selector, acting as the resolved identity.
    pub async fn selector(&self) -> Result<Selector, Error> {
        Selector::connect(self.acting().await?).await
    }

    /// The launcher, acting as the resolved identity.
    pub async fn launcher(&self) -> Result<Launcher, Error> {
        Launcher::connect(self.acting().await?).await
    }

    /// The image examiner, acting as the resolved identity.
    pub async fn examiner(&self) -> Result<Examiner, Error> {
        Examiner::connect(self.acting().await?).await
    }

    /// The gateway, called with `--api-key` (whose user it acts as; `--as-…` do not apply).
    pub fn gateway(&self) -> Result<Gateway, Error> {
        let g = &self.given;
        if g.as_user.is_some() || !g.as_groups.is_empty() || g.as_role.is_some() {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                "the gateway acts as the user of the API key; drop --as-user, --as-groups and --as-role",
            ));
        }
        let key = g
            .api_key
            .as_deref()
            .filter(|k| !k.is_empty())
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::InvalidArgument,
                    "no API key for the gateway: pass --api-key KEY or set EXECENV_API_KEY \
                 (create one with `execenvctl keys create USER --name NAME`)",
                )
            })?;
        Gateway::new(&g.gateway, key, crate::connection::tls(g)?)
    }
}
