//! The households service: households, members and roles, invites, and the purge worker.

pub mod api_keys;
mod audit;
pub mod exports;
mod households;
mod invites;
mod members;
pub mod photos;
pub mod purge;

pub use api_keys::{create_api_key, list_api_keys, revoke_api_key};
pub use audit::*;
pub use exports::{create_export, create_my_export, get_export, get_my_export};
pub use households::*;
pub use invites::*;
pub use members::*;
pub use photos::{create_photo, get_photo};

use shared::auth::Action;
use shared::domain::api_key::Scope;
use shared::lambda::{Authorizer, Route, Worker};
use shared::platform::version::Deprecation;
use shared::store::households::Membership;
use shared::{ApiError, ApiRequest, App, handler};

pub const ROUTES: &[Route] = &[
    Route {
        method: "POST",
        path: "/v1/households",
        function: "CreateHouseholdFunction",
        authenticated: true,
        handler: handler!(create_household),
        deprecated: None,
        scope: None,
    },
    Route {
        method: "GET",
        path: "/v1/households",
        function: "ListHouseholdsFunction",
        authenticated: true,
        handler: handler!(list_households),
        deprecated: None,
        scope: None,
    },
    Route {
        method: "GET",
        path: "/v1/households/{householdId}",
        function: "GetHouseholdFunction",
        authenticated: true,
        handler: handler!(get_household),
        deprecated: None,
        scope: None,
    },
    Route {
        method: "PATCH",
        path: "/v1/households/{householdId}",
        function: "UpdateHouseholdFunction",
        authenticated: true,
        handler: handler!(update_household),
        deprecated: None,
        scope: None,
    },
    Route {
        method: "DELETE",
        path: "/v1/households/{householdId}",
        function: "DeleteHouseholdFunction",
        authenticated: true,
        handler: handler!(delete_household),
        deprecated: None,
        scope: None,
    },
    Route {
        method: "GET",
        path: "/v1/households/{householdId}/audit",
        function: "ListAuditFunction",
        authenticated: true,
        handler: handler!(list_audit),
        deprecated: None,
        scope: None,
    },
    Route {
        method: "POST",
        path: "/v1/me/exports",
        function: "CreateMyExportFunction",
        authenticated: true,
        handler: handler!(create_my_export),
        deprecated: None,
        scope: None,
    },
    // The first path of the personal export, singular unlike every other collection.
    Route {
        method: "POST",
        path: "/v1/me/export",
        function: "CreateMyExportOldPathFunction",
        authenticated: true,
        handler: handler!(create_my_export),
        deprecated: Some(Deprecation {
            since: "2026-12-01",
            sunset: "2027-06-01",
            successor: "/v1/me/exports",
            note: "2026-12-01-personal-exports.md",
        }),
        scope: None,
    },
    Route {
        method: "GET",
        path: "/v1/me/exports/{exportId}",
        function: "GetMyExportFunction",
        authenticated: true,
        handler: handler!(get_my_export),
        deprecated: None,
        scope: None,
    },
    Route {
        method: "POST",
        path: "/v1/households/{householdId}/api-keys",
        function: "CreateApiKeyFunction",
        authenticated: true,
        handler: handler!(create_api_key),
        deprecated: None,
        scope: None,
    },
    Route {
        method: "GET",
        path: "/v1/households/{householdId}/api-keys",
        function: "ListApiKeysFunction",
        authenticated: true,
        handler: handler!(list_api_keys),
        deprecated: None,
        scope: None,
    },
    Route {
        method: "DELETE",
        path: "/v1/households/{householdId}/api-keys/{keyId}",
        function: "RevokeApiKeyFunction",
        authenticated: true,
        handler: handler!(revoke_api_key),
        deprecated: None,
        scope: None,
    },
    Route {
        method: "POST",
        path: "/v1/households/{householdId}/photos",
        function: "CreatePhotoFunction",
        authenticated: true,
        handler: handler!(create_photo),
        deprecated: None,
        scope: None,
    },
    Route {
        method: "GET",
        path: "/v1/households/{householdId}/photos/{photoId}",
        function: "GetPhotoFunction",
        authenticated: true,
        handler: handler!(get_photo),
        deprecated: None,
        scope: None,
    },
    Route {
        method: "POST",
        path: "/v1/households/{householdId}/exports",
        function: "CreateExportFunction",
        authenticated: true,
        handler: handler!(create_export),
        deprecated: None,
        scope: None,
    },
    Route {
        method: "GET",
        path: "/v1/households/{householdId}/exports/{exportId}",
        function: "GetExportFunction",
        authenticated: true,
        handler: handler!(get_export),
        deprecated: None,
        scope: None,
    },
    Route {
        method: "GET",
        path: "/v1/households/{householdId}/members",
        function: "ListMembersFunction",
        authenticated: true,
        handler: handler!(list_members),
        deprecated: None,
        scope: Some(Scope::MembersRead),
    },
    Route {
        method: "PATCH",
        path: "/v1/households/{householdId}/members/{userId}",
        function: "UpdateMemberFunction",
        authenticated: true,
        handler: handler!(update_member),
        deprecated: None,
        scope: None,
    },
    Route {
        method: "DELETE",
        path: "/v1/households/{householdId}/members/{userId}",
        function: "RemoveMemberFunction",
        authenticated: true,
        handler: handler!(remove_member),
        deprecated: None,
        scope: None,
    },
    Route {
        method: "POST",
        path: "/v1/households/{householdId}/invites",
        function: "CreateInviteFunction",
        authenticated: true,
        handler: handler!(create_invite),
        deprecated: None,
        scope: None,
    },
    Route {
        method: "GET",
        path: "/v1/households/{householdId}/invites",
        function: "ListInvitesFunction",
        authenticated: true,
        handler: handler!(list_invites),
        deprecated: None,
        scope: None,
    },
    Route {
        method: "DELETE",
        path: "/v1/households/{householdId}/invites/{code}",
        function: "RevokeInviteFunction",
        authenticated: true,
        handler: handler!(revoke_invite),
        deprecated: None,
        scope: None,
    },
    Route {
        method: "POST",
        path: "/v1/invites/{code}/accept",
        function: "AcceptInviteFunction",
        authenticated: true,
        handler: handler!(accept_invite),
        deprecated: None,
        scope: None,
    },
];

pub const WORKERS: &[Worker] = &[
    Worker {
        function: "PurgeHouseholdFunction",
        queue: "HouseholdPurgeQueue",
        handler: |app, event| Box::pin(purge::handle_batch(app, event)),
    },
    Worker {
        function: "PhotoWorkerFunction",
        queue: "PhotoQueue",
        handler: |app, event| Box::pin(photos::handle_batch(app, event)),
    },
    Worker {
        function: "ExportWorkerFunction",
        queue: "ExportQueue",
        handler: |app, event| Box::pin(exports::handle_batch(app, event)),
    },
];

pub const AUTHORIZERS: &[Authorizer] = &[Authorizer {
    function: "ApiKeyAuthorizerFunction",
    handler: |app, event| Box::pin(api_keys::authorize_api_key(app, event)),
}];

/// The caller's membership of the household in the path, checked against `action`.
pub(crate) async fn authorize(app: &App, req: &ApiRequest, action: Action) -> Result<Membership, ApiError> {
    app.membership(req, action).await
}
