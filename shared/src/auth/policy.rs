//! The household role policy: the one place that says who may do what.

use serde::{Deserialize, Serialize};

use crate::platform::error::{ApiError, ErrorCode};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Owner,
    Admin,
    Member,
    /// Sees and completes only their own chores (enforced by the task routes).
    Child,
}

impl Role {
    pub const ALL: &'static [Role] = &[Role::Owner, Role::Admin, Role::Member, Role::Child];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Member => "member",
            Role::Child => "child",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.iter().copied().find(|r| r.as_str() == s)
    }

    fn is_manager(self) -> bool {
        matches!(self, Role::Owner | Role::Admin)
    }
}

/// Household actions a route performs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    ViewHousehold,
    UpdateHousehold,
    DeleteHousehold,
    ListMembers,
    ManageInvites,
    /// See the household's chores (children: only their own, see [`sees_only_own_chores`]).
    ViewTasks,
    CreateTask,
    /// Edit or archive any chore, complete or skip "as" another member, approve.
    ManageTasks,
    /// Create, change, remove webhooks and read their delivery logs.
    ManageWebhooks,
    /// Read the household's audit log.
    ViewAudit,
    /// Create, list and revoke household API keys.
    ManageApiKeys,
}

pub fn allows(role: Role, action: Action) -> bool {
    match action {
        Action::ViewHousehold | Action::ListMembers => true,
        Action::UpdateHousehold | Action::ManageInvites => role.is_manager(),
        Action::DeleteHousehold => role == Role::Owner,
        Action::ViewTasks => true,
        Action::CreateTask => role != Role::Child,
        Action::ManageTasks | Action::ManageWebhooks | Action::ViewAudit | Action::ManageApiKeys => role.is_manager(),
    }
}

/// Members set their own availability and away dates; owners and admins set anyone's.
pub fn may_set_availability(role: Role, is_self: bool) -> bool {
    is_self || role.is_manager()
}

/// Children see and complete only the chores assigned to them.
pub fn sees_only_own_chores(role: Role) -> bool {
    role == Role::Child
}

/// Members edit the chores they created; owners and admins edit every chore.
pub fn may_edit_task(role: Role, is_creator: bool) -> bool {
    allows(role, Action::ManageTasks) || (role == Role::Member && is_creator)
}

pub fn require(role: Role, action: Action) -> Result<(), ApiError> {
    if allows(role, action) { Ok(()) } else { Err(ApiError::new(ErrorCode::Forbidden)) }
}

/// What changing `target`'s role to `new_role` means, if `actor` may do it.
#[derive(Debug, PartialEq, Eq)]
pub enum RoleChange {
    /// A plain role change.
    Set,
    /// The owner hands ownership to `target`; the old owner becomes an admin.
    TransferOwnership,
}

pub fn role_change(actor: Role, actor_is_target: bool, target: Role, new_role: Role) -> Result<RoleChange, ApiError> {
    let forbidden = || Err(ApiError::new(ErrorCode::Forbidden));
    if !actor.is_manager() {
        return forbidden();
    }
    if target == Role::Owner {
        // The owner's role changes only as a side effect of a transfer.
        return Err(ApiError::new(ErrorCode::OwnerRoleChange));
    }
    if new_role == Role::Owner {
        return if actor == Role::Owner && !actor_is_target {
            Ok(RoleChange::TransferOwnership)
        } else if actor == Role::Owner {
            Err(ApiError::new(ErrorCode::OwnerRoleChange))
        } else {
            forbidden()
        };
    }
    // Admins manage members and children; only the owner manages admins.
    if actor == Role::Admin && target == Role::Admin && !actor_is_target {
        return forbidden();
    }
    Ok(RoleChange::Set)
}

/// Whether `actor` may remove `target` (or leave, when they are the same member).
pub fn removal(actor: Role, actor_is_target: bool, target: Role) -> Result<(), ApiError> {
    if target == Role::Owner {
        return Err(ApiError::new(ErrorCode::OwnerMustTransfer));
    }
    if actor_is_target {
        return Ok(());
    }
    let allowed = match actor {
        Role::Owner => true,
        Role::Admin => matches!(target, Role::Member | Role::Child),
        Role::Member | Role::Child => false,
    };
    if allowed { Ok(()) } else { Err(ApiError::new(ErrorCode::Forbidden)) }
}

/// Roles an invite may grant: never ownership.
pub fn invitable(role: Role) -> bool {
    role != Role::Owner
}

#[cfg(test)]
mod tests {
    use super::*;
    use Role::*;

    #[test]
    fn action_table() {
        let table = [
            (Action::ViewHousehold, [true, true, true, true]),
            (Action::ListMembers, [true, true, true, true]),
            (Action::UpdateHousehold, [true, true, false, false]),
            (Action::ManageInvites, [true, true, false, false]),
            (Action::DeleteHousehold, [true, false, false, false]),
            (Action::ViewTasks, [true, true, true, true]),
            (Action::CreateTask, [true, true, true, false]),
            (Action::ManageTasks, [true, true, false, false]),
            (Action::ManageWebhooks, [true, true, false, false]),
            (Action::ViewAudit, [true, true, false, false]),
            (Action::ManageApiKeys, [true, true, false, false]),
        ];
        for (action, expected) in table {
            for (role, allowed) in [Owner, Admin, Member, Child].into_iter().zip(expected) {
                assert_eq!(allows(role, action), allowed, "{role:?} {action:?}");
            }
        }
    }

    #[test]
    fn children_and_members_cannot_change_roles() {
        for actor in [Member, Child] {
            for target in [Admin, Member, Child] {
                let e = role_change(actor, false, target, Member).unwrap_err();
                assert_eq!(e.code, ErrorCode::Forbidden);
            }
        }
    }

    #[test]
    fn only_the_owner_transfers_ownership() {
        assert_eq!(role_change(Owner, false, Admin, Owner).unwrap(), RoleChange::TransferOwnership);
        assert_eq!(role_change(Owner, false, Child, Owner).unwrap(), RoleChange::TransferOwnership);
        assert_eq!(role_change(Admin, false, Member, Owner).unwrap_err().code, ErrorCode::Forbidden);
        assert_eq!(role_change(Owner, true, Owner, Admin).unwrap_err().code, ErrorCode::OwnerRoleChange);
        assert_eq!(role_change(Admin, false, Owner, Member).unwrap_err().code, ErrorCode::OwnerRoleChange);
    }

    #[test]
    fn admins_manage_members_but_not_other_admins() {
        assert_eq!(role_change(Admin, false, Member, Admin).unwrap(), RoleChange::Set);
        assert_eq!(role_change(Admin, false, Child, Member).unwrap(), RoleChange::Set);
        assert_eq!(role_change(Admin, false, Admin, Member).unwrap_err().code, ErrorCode::Forbidden);
        assert_eq!(role_change(Admin, true, Admin, Member).unwrap(), RoleChange::Set);
        assert_eq!(role_change(Owner, false, Admin, Child).unwrap(), RoleChange::Set);
    }

    #[test]
    fn removal_rules() {
        assert_eq!(removal(Owner, true, Owner).unwrap_err().code, ErrorCode::OwnerMustTransfer);
        assert_eq!(removal(Admin, false, Owner).unwrap_err().code, ErrorCode::OwnerMustTransfer);
        assert!(removal(Child, true, Child).is_ok());
        assert!(removal(Owner, false, Admin).is_ok());
        assert!(removal(Admin, false, Child).is_ok());
        assert_eq!(removal(Admin, false, Admin).unwrap_err().code, ErrorCode::Forbidden);
        assert_eq!(removal(Member, false, Child).unwrap_err().code, ErrorCode::Forbidden);
    }

    #[test]
    fn chore_editing_and_visibility() {
        assert!(may_edit_task(Admin, false) && may_edit_task(Owner, false));
        assert!(may_edit_task(Member, true) && !may_edit_task(Member, false));
        assert!(!may_edit_task(Child, true));
        assert!(sees_only_own_chores(Child) && !sees_only_own_chores(Member));
        assert!(may_set_availability(Child, true) && may_set_availability(Admin, false));
        assert!(!may_set_availability(Member, false));
    }

    #[test]
    fn invites_never_grant_ownership() {
        assert!(!invitable(Owner));
        assert!(invitable(Admin) && invitable(Member) && invitable(Child));
    }
}
