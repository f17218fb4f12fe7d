//! Every action the audit log records, one variant each. The stored text is [`Action::as_str`];
//! chains written by earlier builds used exactly these strings, so nothing stored changes.

use std::fmt;

/// What an audit entry records. New actions are added here, never as literals at call sites, so
/// the list of things an auditor can meet in an export is this enum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    WorkspaceCreated,
    WorkspaceDeleted,
    IntegrationConnected,
    IntegrationBindingRejected,
    IntegrationTested,
    IntegrationUpdated,
    IntegrationSuspended,
    IntegrationResumed,
    IntegrationDisconnected,
    CredentialRotated,
    CredentialRotationFailed,
    CredentialRolledBack,
    PullCompleted,
    TokenCreated,
    TokenRevoked,
    AuditExported,
    AuditPruned,
    VaultMasterKeyRotated,
    SlaTemplateChanged,
    SlaPolicyChanged,
    CalendarChanged,
    AssignmentChanged,
    ReportGenerated,
    StoreMigrated,
}

impl Action {
    pub const ALL: [Action; 24] = [
        Action::WorkspaceCreated,
        Action::WorkspaceDeleted,
        Action::IntegrationConnected,
        Action::IntegrationBindingRejected,
        Action::IntegrationTested,
        Action::IntegrationUpdated,
        Action::IntegrationSuspended,
        Action::IntegrationResumed,
        Action::IntegrationDisconnected,
        Action::CredentialRotated,
        Action::CredentialRotationFailed,
        Action::CredentialRolledBack,
        Action::PullCompleted,
        Action::TokenCreated,
        Action::TokenRevoked,
        Action::AuditExported,
        Action::AuditPruned,
        Action::VaultMasterKeyRotated,
        Action::SlaTemplateChanged,
        Action::SlaPolicyChanged,
        Action::CalendarChanged,
        Action::AssignmentChanged,
        Action::ReportGenerated,
        Action::StoreMigrated,
    ];

    /// The stored and exported name (`noun.past_participle`).
    pub fn as_str(self) -> &'static str {
        match self {
            Action::WorkspaceCreated => "workspace.created",
            Action::WorkspaceDeleted => "workspace.deleted",
            Action::IntegrationConnected => "integration.connected",
            Action::IntegrationBindingRejected => "integration.binding_rejected",
            Action::IntegrationTested => "integration.tested",
            Action::IntegrationUpdated => "integration.updated",
            Action::IntegrationSuspended => "integration.suspended",
            Action::IntegrationResumed => "integration.resumed",
            Action::IntegrationDisconnected => "integration.disconnected",
            Action::CredentialRotated => "credential.rotated",
            Action::CredentialRotationFailed => "credential.rotation_failed",
            Action::CredentialRolledBack => "credential.rolled_back",
            Action::PullCompleted => "pull.completed",
            Action::TokenCreated => "token.created",
            Action::TokenRevoked => "token.revoked",
            Action::AuditExported => "audit.exported",
            Action::AuditPruned => "audit.pruned",
            Action::VaultMasterKeyRotated => "vault.master_key_rotated",
            Action::SlaTemplateChanged => "sla.template_changed",
            Action::SlaPolicyChanged => "sla.policy_changed",
            Action::CalendarChanged => "calendar.changed",
            Action::AssignmentChanged => "assignment.changed",
            Action::ReportGenerated => "report.generated",
            Action::StoreMigrated => "store.migrated",
        }
    }

    /// The action a stored name denotes, if this build knows it.
    pub fn parse(s: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_distinct_and_round_trip() {
        let mut seen = std::collections::HashSet::new();
        for a in Action::ALL {
            assert!(seen.insert(a.as_str()), "{a} twice");
            assert_eq!(Action::parse(a.as_str()), Some(a));
            let (noun, verb) = a.as_str().split_once('.').expect("noun.verb");
            assert!(!noun.is_empty() && !verb.is_empty());
        }
        assert_eq!(Action::parse("workspace.renamed"), None);
    }
}
