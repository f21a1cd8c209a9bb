//! The flags of `execenvctl users …`, `groups …` and `keys …`. Users and groups are named by
//! guid or by username / group name. Parsing is pure; nothing here does I/O.

use clap::{Args, Subcommand};

use crate::args::RoleArg;

/// `execenvctl users …`
#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Create a user; prints it.
    Create(UserCreateArgs),
    /// List every user, ordered by username.
    List,
    /// Show one user with their groups.
    Get {
        /// Guid or username.
        user: String,
    },
    /// Change a user's role or names; only the flags given change (an empty value clears a
    /// name or the email). Prints the result.
    Update(UserUpdateArgs),
    /// Disable a user: their API keys stop working until they are enabled again.
    Disable {
        /// Guid or username.
        user: String,
    },
    /// Enable a disabled user.
    Enable {
        /// Guid or username.
        user: String,
    },
    /// Delete a user with their API keys and group memberships.
    Delete {
        /// Guid or username.
        user: String,
    },
}

/// `execenvctl users create …`
#[derive(Debug, Clone, Args)]
pub struct UserCreateArgs {
    /// 1-64 letters, digits, '.', '_' or '-', starting with a letter or a digit.
    pub username: String,
    /// What the user may do.
    #[arg(long, value_enum, value_name = "ROLE")]
    pub role: RoleArg,
    /// The user's names and email.
    #[command(flatten)]
    pub names: NameArgs,
}

/// `execenvctl users update …`
#[derive(Debug, Clone, Args)]
pub struct UserUpdateArgs {
    /// Guid or username.
    pub user: String,
    /// The new role.
    #[arg(long, value_enum, value_name = "ROLE")]
    pub role: Option<RoleArg>,
    /// The new names and email ('' clears one).
    #[command(flatten)]
    pub names: NameArgs,
}

/// A user's email and names.
#[derive(Debug, Clone, Default, Args)]
pub struct NameArgs {
    /// Email address.
    #[arg(long, value_name = "ADDRESS")]
    pub email: Option<String>,
    /// Given name.
    #[arg(long, value_name = "NAME")]
    pub first_name: Option<String>,
    /// Family name.
    #[arg(long, value_name = "NAME")]
    pub last_name: Option<String>,
}

/// `execenvctl groups …`
#[derive(Debug, Subcommand)]
pub enum GroupsCommand {
    /// Create an empty group; prints it.
    Create {
        /// The group's name (what environment permissions show).
        name: String,
    },
    /// List every group with its members, ordered by name.
    List,
    /// Delete a group (its members stay).
    Delete {
        /// Guid or name.
        group: String,
    },
    /// Add a user to a group.
    AddMember(MemberArgs),
    /// Remove a user from a group.
    RemoveMember(MemberArgs),
}

/// A group and a user.
#[derive(Debug, Clone, Args)]
pub struct MemberArgs {
    /// The group's guid or name.
    pub group: String,
    /// The user's guid or username.
    pub user: String,
}

/// `execenvctl keys …`
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create an API key for a user and print it (the only time it is shown).
    Create {
        /// Guid or username of the user the key acts as.
        user: String,
        /// What the key is for, e.g. "laptop" or "ci".
        #[arg(long, value_name = "NAME")]
        name: String,
    },
    /// List API keys (never their secrets), oldest first.
    List {
        /// Only this user's keys (guid or username).
        #[arg(long, value_name = "USER")]
        user: Option<String>,
    },
    /// Disable an API key for good.
    Disable {
        /// The key's id (see `keys list`).
        id: String,
    },
    /// Delete an API key.
    Delete {
        /// The key's id (see `keys list`).
        id: String,
    },
}
